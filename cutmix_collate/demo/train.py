"""The demo's model, its training loop (one process or DistributedDataParallel) and its evaluation."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, default_collate
from torch.utils.data.distributed import DistributedSampler

from .. import CutMixCollator, CutMixCriterion, FocalLoss, MixedMetrics
from .data import EVAL_BATCH, DemoData
from .ood import max_softmax, msp_auroc
from .report import format_row

__all__ = ["SmallCNN", "base_loss", "evaluate", "robustness_scores", "train_run", "silent", "ECE_BINS"]

ECE_BINS = 15
#: The keys of ``MixedMetrics.compute()`` the demo records: ``f1`` is the F1 of the whole epoch,
#: ``f1_batch_mean`` the per-batch F1 averaged over the epoch's batches.
METRIC_KEYS = ("loss", "accuracy", "f1", "f1_batch_mean")


def epoch_metrics(tracker: MixedMetrics) -> Dict[str, float]:
    """``tracker.compute()`` (summed over ranks under torchrun), the keys the demo records."""
    computed = tracker.compute()
    return {key: computed[key] for key in METRIC_KEYS}


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """Three conv stages (``width``, ``2 width``, ``4 width`` channels), global pooling, a linear head.

    Args:
        in_channels: Channels of the input images.
        num_classes: Number of classes.
        width: Channels of the first stage.

    Shapes: ``(B, in_channels, H, W)`` -> logits ``(B, num_classes)``.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(in_channels, width), nn.MaxPool2d(2),
            _block(width, 2 * width), nn.MaxPool2d(2),
            _block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def base_loss(name: str) -> nn.Module:
    return FocalLoss(gamma=2.0) if name == "focal" else nn.CrossEntropyLoss()


def evaluate(model: nn.Module, images: Tensor, labels: Tensor, loss_fn: nn.Module,
             device: torch.device, world: int) -> Dict[str, float]:
    """Loss, accuracy, F1, calibration error and mean confidence of ``model`` on a test set.

    Under torchrun each rank scores every ``world``-th image and the sums are reduced over the
    ranks (by ``MixedMetrics`` and one ``all_reduce``), so every rank returns the figures of the
    whole set. ``ece`` is the expected calibration error with 15 equal-width bins of the top
    softmax probability, right-closed as in scikit-learn's ``calibration_curve``: the
    image-weighted mean over bins of ``|accuracy - mean confidence|``.
    """
    rank = dist.get_rank() if world > 1 else 0
    images, labels = images[rank::world], labels[rank::world]
    metrics = MixedMetrics(cast(nn.Linear, model.head).out_features)
    bins = torch.zeros(3, ECE_BINS, dtype=torch.float64, device=device)  # count, confidence, correct
    edges = torch.linspace(0, 1, ECE_BINS + 1, dtype=torch.float64, device=device)[1:-1]
    model.eval()
    with torch.no_grad():
        for start in range(0, len(labels), EVAL_BATCH):
            x = images[start:start + EVAL_BATCH].to(device)
            y = labels[start:start + EVAL_BATCH].to(device)
            logits = model(x)
            metrics.update(logits, y, loss=loss_fn(logits, y))  # plain labels: the plain loss
            confidence, pred = logits.double().softmax(1).max(1)
            which = torch.bucketize(confidence, edges)
            for row, values in enumerate((torch.ones_like(confidence), confidence, (pred == y).double())):
                bins[row].index_add_(0, which, values)
    result = epoch_metrics(metrics)
    if world > 1:
        dist.all_reduce(bins)
    count, confidence, correct = bins.cpu()
    result["ece"] = float((correct - confidence).abs().sum() / count.sum())
    result["confidence"] = float(confidence.sum() / count.sum())
    return {key: result[key] for key in ("loss", "accuracy", "f1", "ece", "confidence")}


def train_run(
    run: str, data: DemoData, train_set: Dataset, args: argparse.Namespace, seed: int, device: torch.device,
    world: int, log: Callable[..., None],
) -> Tuple[nn.Module, List[Dict[str, float]]]:
    """Train one run for one seed; return the trained model and its per-epoch rows."""
    from tqdm import tqdm

    torch.manual_seed(seed)  # same initial weights and the same shuffling for both runs
    model = SmallCNN(data.channels, len(data.classes), args.width).to(device)
    net = model if world == 1 else DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    collator = CutMixCollator(alpha=args.alpha, prob=args.prob, mode=args.mode) if run == "cutmix" else None
    criterion = CutMixCriterion(base_loss(args.loss)) if collator else base_loss(args.loss)
    # Under torchrun each rank trains on its share of every epoch.
    sampler: Optional[DistributedSampler] = DistributedSampler(train_set, seed=seed) if world > 1 else None
    train_loader = DataLoader(
        train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler,
        collate_fn=collator or default_collate, num_workers=args.workers,
        persistent_workers=args.workers > 0, pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(seed),
    )
    steps = args.epochs * len(train_loader)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps,
                                                   pct_start=0.15)
    train_metrics = MixedMetrics(len(data.classes))
    rows: List[Dict[str, float]] = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        if sampler is not None:
            sampler.set_epoch(epoch - 1)
        if collator is not None:
            collator.set_epoch(epoch - 1)
        net.train()
        train_metrics.reset()
        bar = tqdm(train_loader, desc=f"{run:>8} seed {seed} epoch {epoch}/{args.epochs}", unit="batch",
                   leave=False, disable=args.quiet or log is silent, file=sys.stderr, dynamic_ncols=True)
        for step, (images, target) in enumerate(bar):
            images = images.to(device, non_blocking=True)
            target = target.to(device, non_blocking=True)  # a MixedTarget or a label tensor
            logits = net(images)
            loss = criterion(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            train_metrics.update(logits.detach(), target, loss=loss.detach())
            if step % 5 == 0 and not args.quiet:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        bar.close()
        train = epoch_metrics(train_metrics)
        if world > 1:  # BatchNorm's running statistics are each rank's own: score with rank 0's (saved)
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        # The plain module: DDP's forward would wait for the other ranks, which score other images.
        test = evaluate(model, data.test_images, data.test_labels, criterion, device, world)
        row = {"epoch": epoch, **{f"train_{k}": v for k, v in train.items()},
               **{f"test_{k}": v for k, v in test.items()}, "seconds": time.perf_counter() - start}
        rows.append(row)
        log(format_row(run, seed, row))
    return model, rows


def silent(*_: Any) -> None:
    """The log of ranks other than 0 (under torchrun only rank 0 prints)."""



def robustness_scores(model: nn.Module, data: DemoData, corrupted: Dict[str, List[Tensor]],
                      ood: Dict[str, Tensor], loss_fn: nn.Module, device: torch.device, world: int) -> Dict[str, float]:
    """The CutMix paper's other two claims, for one trained model: corruptions and OOD detection.

    Returns ``{name}_{severity}_accuracy`` for every corrupted copy of the test split, their mean
    per corruption (``{name}_accuracy``) and over all of them (``corruption_accuracy``), and
    ``ood_auroc_{name}`` for every OOD set: :func:`~cutmix_collate.demo.ood.msp_auroc` of the test
    images against it. Accuracies are summed over the ranks as in :func:`evaluate`; AUROC needs
    every score at once, so each rank scores the whole test and OOD sets itself (a few thousand
    small images), which gives every rank the figures of one process.
    """
    scores: Dict[str, float] = {}
    for name, copies in corrupted.items():
        accuracies = [evaluate(model, images, data.test_labels, loss_fn, device, world)["accuracy"]
                      for images in copies]
        scores.update({f"{name}_{severity}_accuracy": value for severity, value in enumerate(accuracies, 1)})
        scores[f"{name}_accuracy"] = sum(accuracies) / len(accuracies)
    if corrupted:
        every = [scores[f"{name}_{s}_accuracy"] for name, copies in corrupted.items()
                 for s in range(1, len(copies) + 1)]
        scores["corruption_accuracy"] = sum(every) / len(every)
    in_scores = max_softmax(model, data.test_images, device, EVAL_BATCH)
    for name, images in ood.items():
        scores[f"ood_auroc_{name}"] = msp_auroc(in_scores, max_softmax(model, images, device, EVAL_BATCH))
    return scores
