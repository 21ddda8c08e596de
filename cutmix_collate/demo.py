"""CutMix end to end on bundled data: ``python -m cutmix_collate.demo`` (or ``cutmix-demo``).

Trains the same small CNN twice with the same seed, on the same data, with the same optimiser:

* ``baseline``: ``default_collate`` and the plain loss (cross-entropy by default);
* ``cutmix``: :class:`~cutmix_collate.CutMixCollator` as the DataLoader's ``collate_fn`` (in
  ``--workers`` worker processes) and the loss wrapped in :class:`~cutmix_collate.CutMixCriterion`.

Both are evaluated after every epoch on a held-out split with
:class:`~cutmix_collate.metrics.MixedMetrics` (plain labels there: the eval-script pattern). After
training, both are also scored on two occluded copies of the held-out split (:func:`occlude`, the
same boxes for both runs): **occluded**, a box of 25% of each image set to the data set's mean, and
**pasted**, the same kind of box filled with the same region of a test image of another class. The
expected calibration error (15 bins) on the clean split is reported too. ``--seeds 0 1 2`` repeats
everything for several seeds and reports the mean and spread. The demo prints a per-epoch table
and a side-by-side summary and writes, into ``--out``:

* ``mixed_batch.png``: a batch as the collator mixes it: sources, partners (the region cut out
  outlined) and mixed images (the pasted region outlined, ``lam`` written above);
* ``curves.png``: loss, accuracy and F1 per epoch for both runs (mean over the seeds);
* ``robustness.png``: clean, occluded and pasted test accuracy and the calibration error, side by side;
* ``occlusions.png``: a few test images, clean, occluded and pasted, with both runs' predictions;
* ``metrics.json``: the configuration, per-epoch rows, the final scores of every seed, the summary,
  machine info and wall time.

Under ``torchrun --standalone --nproc-per-node 2 -m cutmix_collate.demo`` each process trains with
``DistributedDataParallel`` (gloo on CPU, nccl with ``--device cuda``) and a ``DistributedSampler``;
the collator runs in each rank's DataLoader workers, and the metrics are summed over the ranks, so
they are those of the whole epoch and the whole test split. Only rank 0 prints and writes files.

Data: scikit-learn's bundled digits (1,797 real 8x8 images, no download), upsampled to
``--image-size`` (32) so that boxes are meaningful, split 70/30 with a fixed seed (the split does
not depend on ``--seed``). ``--data-dir`` trains on your own ``torchvision.datasets.ImageFolder``
tree instead (one folder per class), resized to ``--image-size`` (64 by default).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset, default_collate
from torch.utils.data.distributed import DistributedSampler

from . import __version__
from ._checks import describe
from .collator import CutMixCollator
from .losses import CutMixCriterion, FocalLoss
from .metrics import MixedMetrics

__all__ = ["main", "build_parser", "SmallCNN", "occlude"]

#: The train/test split does not change with ``--seed``: every run is scored on the same images.
SPLIT_SEED = 0
TEST_FRACTION = 0.3
#: The occluded and pasted copies of the test split are the same for every run and every seed.
OCCLUSION_SEED = 0
OCCLUSION_AREA = 0.25
ECE_BINS = 15
EVAL_BATCH = 256
RUNS = ("baseline", "cutmix")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

#: The keys of ``MixedMetrics.compute()`` the demo records: ``f1`` is the F1 of the whole epoch,
#: ``f1_batch_mean`` the per-batch F1 averaged over the epoch's batches.
_METRIC_KEYS = ("loss", "accuracy", "f1", "f1_batch_mean")


def _metrics(tracker: MixedMetrics) -> Dict[str, float]:
    """``tracker.compute()`` (summed over ranks under torchrun), the keys the demo records."""
    computed = tracker.compute()
    return {key: computed[key] for key in _METRIC_KEYS}


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}, got {value}")
        return value

    return parse


def _float_in(low: float, high: float, *, low_open: bool, high_open: bool):
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number in {interval}, got {text!r}") from None
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not ok or math.isnan(value):
            raise argparse.ArgumentTypeError(f"must be a number in {interval}, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The demo's command-line parser (``cutmix-demo --help``)."""
    parser = argparse.ArgumentParser(
        prog="cutmix-demo",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Train a small CNN with and without CutMix on bundled digits (or your ImageFolder), "
            "compare them on a held-out split, clean and occluded, and draw a mixed batch. "
            "Under torchrun it trains with DistributedDataParallel."
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data-dir", default=None, metavar="PATH",
                      help="an ImageFolder tree (one sub-folder of images per class) to use "
                           "instead of the bundled digits; split 70/30 with a fixed seed")
    data.add_argument("--image-size", type=_int_at_least(8), default=None, metavar="N",
                      # "%(default).0s" prints nothing; it stops the formatter adding "(default: None)"
                      help="images are resized to N x N (default: 32 for digits, 64 for --data-dir)"
                           "%(default).0s")
    data.add_argument("--limit", type=_int_at_least(1), default=None, metavar="N",
                      help="train on the first N training images only (quick runs)")
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=_int_at_least(1), default=20, metavar="N",
                       help="epochs of each run")
    train.add_argument("--batch-size", type=_int_at_least(1), default=64, metavar="N",
                       help="images per batch")
    train.add_argument("--lr", type=_float_in(0, math.inf, low_open=True, high_open=True), default=3e-3,
                       help="peak learning rate of AdamW (one-cycle schedule)")
    train.add_argument("--width", type=_int_at_least(1), default=32, metavar="N",
                       help="channels of the CNN's first stage (then 2x and 4x)")
    train.add_argument("--loss", choices=("ce", "focal"), default="ce",
                       help="loss of both runs; the CutMix run wraps it in CutMixCriterion")
    train.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train")
    train.add_argument("--workers", type=_int_at_least(0), default=2, metavar="N",
                       help="DataLoader worker processes (persistent); 0 collates in the main process")
    train.add_argument("--threads", type=_int_at_least(1), default=None, metavar="N",
                       help="torch threads of each training process; None: its share of the CPU cores "
                            "left after --workers, at least 1 (oversubscribed cores slow training "
                            "down a lot)")
    seeds = train.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="seed of both runs (same seed, same results)")
    seeds.add_argument("--seeds", type=int, nargs="+", default=None, metavar="N",
                       help="several seeds: both runs for each, then the mean and spread of the scores")
    cutmix = parser.add_argument_group("CutMix")
    cutmix.add_argument("--alpha", type=_float_in(0, math.inf, low_open=True, high_open=True), default=1.0,
                        help="lam ~ Beta(alpha, alpha)")
    cutmix.add_argument("--prob", type=_float_in(0, 1, low_open=False, high_open=False), default=1.0,
                        help="probability that a batch is mixed")
    cutmix.add_argument("--mode", choices=("batch", "elem"), default="batch",
                        help="one box per batch or one per image")
    output = parser.add_argument_group("output")
    output.add_argument("--out", default="./cutmix-demo-out", metavar="DIR",
                        help="folder for the pictures and metrics.json")
    output.add_argument("--quiet", action="store_true", help="no progress bars (for logs)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


class _TensorImages(Dataset):
    """In-memory ``(image, label)`` pairs: ``(C, H, W)`` float32 images, int labels."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images = images
        self.labels = labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Tuple[Tensor, int]:
        return self.images[i], self.labels[i]


class _Data:
    """The training set, the test split as tensors, and what the reports say about them."""

    def __init__(self, train: Dataset, test_images: Tensor, test_labels: Tensor, classes: List[str],
                 source: str, fill: Tensor) -> None:
        self.train, self.test_images, self.test_labels = train, test_images, test_labels
        self.classes, self.source, self.fill = classes, source, fill  # fill: (C,), the mean
        self.channels, self.size = test_images.shape[1], test_images.shape[-1]


def load_digits_data(image_size: int = 32) -> _Data:
    """scikit-learn's digits, upsampled (bilinear) to ``image_size``, standardised, split 70/30."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    labels = torch.tensor(digits.target, dtype=torch.long)
    train_idx, test_idx = train_test_split(
        list(range(len(labels))), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=digits.target
    )
    mean, std = images[train_idx].mean(), images[train_idx].std()
    images = ((images - mean) / std).contiguous()  # the training images' mean is now 0
    return _Data(
        _TensorImages(images[train_idx], labels[train_idx]), images[test_idx], labels[test_idx],
        [str(c) for c in range(10)], "sklearn.datasets.load_digits", torch.zeros(1),
    )


def load_folder_data(path: str, image_size: int, parser: argparse.ArgumentParser) -> _Data:
    """An ImageFolder tree resized to ``image_size``, split 70/30 with a fixed seed.

    The test split is loaded into memory (it is scored three times, clean and occluded), and its
    per-channel mean fills the occluded boxes. Problems with the folder end the program with
    ``parser.error`` (exit code 2).
    """
    if not os.path.isdir(path):
        parser.error(f"--data-dir {path!r} does not exist or is not a directory")
    try:
        from torchvision import transforms
        from torchvision.datasets import ImageFolder
    except ImportError:
        parser.error('--data-dir needs torchvision: pip install "cutmix_collate[demo]"')
    transform = transforms.Compose([
        transforms.Resize((image_size, image_size)),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    try:
        folder = ImageFolder(path, transform=transform)
    except (FileNotFoundError, RuntimeError) as error:
        parser.error(
            f"--data-dir {path!r} holds no images in class folders "
            f"(expected PATH/<class>/<image>{'|'.join(_IMAGE_EXTENSIONS[:3])}...): {error}"
        )
    if len(folder.classes) < 2:
        parser.error(f"--data-dir {path!r} needs at least 2 class folders, found {folder.classes}")
    if len(folder) < 2:
        parser.error(f"--data-dir {path!r} needs at least 2 images, found {len(folder)}")
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    n_test = min(len(folder) - 1, max(1, round(TEST_FRACTION * len(folder))))
    images, labels = zip(*DataLoader(Subset(folder, order[:n_test]), batch_size=EVAL_BATCH))
    images, labels = torch.cat(images), torch.cat(labels)
    if labels.unique().numel() < 2:  # pasted boxes come from a test image of another class
        parser.error(f"--data-dir {path!r}: the held-out split ({n_test} of {len(folder)} images) holds one "
                     "class only; it needs at least 2 (add images)")
    return _Data(Subset(folder, order[n_test:]), images, labels, list(folder.classes),
                 f"ImageFolder({path!r})", images.mean((0, 2, 3)))


def occlude(
    images: Tensor, labels: Tensor, *, area: float = OCCLUSION_AREA, fill: Union[float, Tensor] = 0.0,
    seed: int = OCCLUSION_SEED,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Two occluded copies of a set of test images, to score robustness to occlusion.

    Each image gets one box covering ``area`` of it (sides ``round(sqrt(area) * H)`` and
    ``round(sqrt(area) * W)``) at a random position inside the image, drawn from ``seed``, so the
    same arguments give the same copies:

    * **occluded**: the box is set to ``fill`` (the data set's mean: 0 for standardised images);
    * **pasted**: the box holds the same region of another image of a different class (a random
      one), as CutMix would paste it. The label stays that of the image.

    Args:
        images: Floating-point images of shape ``(N, C, H, W)``; not modified.
        labels: Integer class labels of shape ``(N,)``, at least two different ones.
        area: The share of each image the box covers, in ``(0, 1]``.
        fill: The value of the occluded box: a number or a tensor of shape ``(C,)``.
        seed: Seed of the boxes' positions and of the partners.

    Returns:
        ``(occluded, pasted, boxes, partners)``: two new ``(N, C, H, W)`` tensors; the boxes, an
        int64 tensor ``(N, 4)`` of ``(y0, y1, x0, x1)`` rows (rows ``y0 <= y < y1``); and
        ``partners``, int64 ``(N,)``: the image each pasted box was cut from.

    Raises:
        TypeError: ``images`` is not a floating tensor, ``labels`` not an integer tensor.
        ValueError: Wrong shapes, ``area`` outside ``(0, 1]``, a ``fill`` of another length than
            ``C``, or fewer than two classes in ``labels``.
    """
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.dim() != 4:
        raise TypeError(f"images must be a floating-point tensor (N, C, H, W), got {describe(images)}")
    n, channels, height, width = images.shape
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.shape != (n,):
        raise TypeError(f"labels must be an integer tensor of shape ({n},), got {describe(labels)}")
    if isinstance(area, bool) or not isinstance(area, (int, float)) or not 0 < area <= 1:
        raise ValueError(f"area must be a number in (0, 1], got {describe(area)}")
    fill = torch.as_tensor(fill, dtype=images.dtype).reshape(-1)
    if fill.numel() not in (1, channels):
        raise ValueError(f"fill must be a number or a tensor of shape ({channels},), got {describe(fill)}")
    if labels.unique().numel() < 2:
        raise ValueError("labels must hold at least two classes (pasted boxes come from another "
                         f"class), got only {labels[:1].tolist()}")
    generator = torch.Generator().manual_seed(seed)
    box_h = max(1, round(math.sqrt(area) * height))
    box_w = max(1, round(math.sqrt(area) * width))
    y0 = torch.randint(0, height - box_h + 1, (n,), generator=generator)
    x0 = torch.randint(0, width - box_w + 1, (n,), generator=generator)
    partners = torch.empty(n, dtype=torch.long)
    for i in range(n):
        others = (labels != labels[i]).nonzero()[:, 0]
        partners[i] = others[torch.randint(len(others), (), generator=generator)]
    rows, cols = torch.arange(height), torch.arange(width)
    inside = (((rows >= y0[:, None]) & (rows < y0[:, None] + box_h))[:, :, None]
              & ((cols >= x0[:, None]) & (cols < x0[:, None] + box_w))[:, None, :])[:, None]  # (N, 1, H, W)
    occluded = torch.where(inside, fill.view(-1, 1, 1), images)
    pasted = torch.where(inside, images[partners], images)
    boxes = torch.stack([y0, y0 + box_h, x0, x0 + box_w], 1)
    return occluded, pasted, boxes, partners


# --------------------------------------------------------------------------------------------
# Model, training and evaluation
# --------------------------------------------------------------------------------------------


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


def _base_loss(name: str) -> nn.Module:
    return FocalLoss(gamma=2.0) if name == "focal" else nn.CrossEntropyLoss()


def _evaluate(model: nn.Module, images: Tensor, labels: Tensor, loss_fn: nn.Module,
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
    metrics = MixedMetrics(len(model.head.bias))
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
    result = _metrics(metrics)
    if world > 1:
        dist.all_reduce(bins)
    count, confidence, correct = bins.cpu()
    result["ece"] = float((correct - confidence).abs().sum() / count.sum())
    result["confidence"] = float(confidence.sum() / count.sum())
    return {key: result[key] for key in ("loss", "accuracy", "f1", "ece", "confidence")}


def _train_run(
    run: str, data: _Data, train_set: Dataset, args: argparse.Namespace, seed: int, device: torch.device,
    world: int, log: Callable[..., None],
) -> Tuple[nn.Module, List[Dict[str, float]]]:
    """Train one run for one seed; return the trained model and its per-epoch rows."""
    from tqdm import tqdm

    torch.manual_seed(seed)  # same initial weights and the same shuffling for both runs
    model = SmallCNN(data.channels, len(data.classes), args.width).to(device)
    net = model if world == 1 else DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    collator = CutMixCollator(alpha=args.alpha, prob=args.prob, mode=args.mode) if run == "cutmix" else None
    criterion = CutMixCriterion(_base_loss(args.loss)) if collator else _base_loss(args.loss)
    sampler = DistributedSampler(train_set, seed=seed) if world > 1 else None  # this rank's share
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
                   leave=False, disable=args.quiet or log is _silent, file=sys.stderr, dynamic_ncols=True)
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
        train = _metrics(train_metrics)
        if world > 1:  # BatchNorm's running statistics are each rank's own: score with rank 0's (saved)
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        # The plain module: DDP's forward would wait for the other ranks, which score other images.
        test = _evaluate(model, data.test_images, data.test_labels, criterion, device, world)
        row = {"epoch": epoch, **{f"train_{k}": v for k, v in train.items()},
               **{f"test_{k}": v for k, v in test.items()}, "seconds": time.perf_counter() - start}
        rows.append(row)
        log(_format_row(run, seed, row))
    return model, rows


def _silent(*_: Any) -> None:
    """The log of ranks other than 0 (under torchrun only rank 0 prints)."""


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------

_HEADER = (f"{'run':>8} {'seed':>4} {'epoch':>5} {'train loss':>10} {'train acc':>9} {'train F1':>8} "
           f"{'test loss':>9} {'test acc':>8} {'test F1':>7} {'ECE':>6} {'time':>6}")

#: The summary's rows: key of the final scores, label. The first three are the accuracies the
#: closing sentence compares.
_TABLE = (
    ("test_accuracy", "test accuracy, clean"),
    ("occluded_accuracy", "test accuracy, occluded"),
    ("pasted_accuracy", "test accuracy, pasted"),
    ("test_ece", "calibration error (ECE)"),
    ("test_confidence", "mean confidence, clean"),
    ("test_f1", "test F1 (macro), clean"),
    ("test_loss", "test loss, clean"),
    ("train_accuracy", "train accuracy (weighted)"),
    ("train_loss", "train loss"),
    ("run_seconds", "time per run (s)"),
)
_ACCURACIES = (("test_accuracy", "clean"), ("occluded_accuracy", "occluded"), ("pasted_accuracy", "pasted"))


def _format_row(run: str, seed: int, row: Dict[str, float]) -> str:
    return (f"{run:>8} {seed:>4d} {row['epoch']:>5d} {row['train_loss']:>10.4f} {row['train_accuracy']:>9.4f} "
            f"{row['train_f1']:>8.4f} {row['test_loss']:>9.4f} {row['test_accuracy']:>8.4f} "
            f"{row['test_f1']:>7.4f} {row['test_ece']:>6.4f} {row['seconds']:>5.1f}s")


def _stats(values: List[float]) -> Dict[str, Any]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "values": values}


def _summary(results: Dict[str, List[Dict[str, Any]]], n_test: int) -> Dict[str, Any]:
    """Mean and spread over the seeds of every final score, and a verdict that says where each run is ahead."""
    n_seeds = len(results["baseline"])
    scores = {key: {run: _stats([seed["final"][key] for seed in results[run]]) for run in RUNS}
              for key, _ in _TABLE}
    ahead, clauses = {}, []
    for key, name in _ACCURACIES:
        base, cut = scores[key]["baseline"], scores[key]["cutmix"]
        delta = cut["mean"] - base["mean"]
        images = abs(delta) * n_test
        if round(images, 1 if n_seeds > 1 else 0) == 0:
            ahead[key] = "tie"
            clauses.append(f"on {name} images the two runs tie")
            continue
        ahead[key] = "cutmix" if delta > 0 else "baseline"
        clause = (f"on {name} images {'CutMix' if delta > 0 else 'the baseline'} is ahead by "
                  f"{abs(delta) * 100:.2f} points ({images:.{1 if n_seeds > 1 else 0}f} of {n_test} test images")
        if n_seeds > 1 and abs(delta) <= max(base["std"], cut["std"]):
            clause += ", within the spread across seeds"
        elif n_seeds == 1 and images <= max(3, round(0.01 * n_test)):
            clause += ", too few to call from one run: try --seeds 0 1 2"
        clauses.append(clause + ")")
    of_seeds = f" (mean of {n_seeds} seeds)" if n_seeds > 1 else ""
    verdict = f"After {results['baseline'][0]['final']['epoch']} epochs{of_seeds}: " + "; ".join(clauses) + "."
    ece = {run: scores["test_ece"][run]["mean"] for run in RUNS}
    parts = []
    for run in RUNS:
        confidence, accuracy = scores["test_confidence"][run]["mean"], scores["test_accuracy"][run]["mean"]
        parts.append(f"{run} {ece[run]:.3f} ({'under' if confidence < accuracy else 'over'}-confident: mean "
                     f"confidence {confidence:.3f} at accuracy {accuracy:.3f})")
    closer = "the two runs are equally calibrated (to 3 decimals)"
    if round(ece["baseline"], 3) != round(ece["cutmix"], 3):
        closer = f"the {min(RUNS, key=ece.get)} run's confidence matches its accuracy more closely"
    verdict += (" Calibration error on clean images (ECE, 15 bins; lower is better): " + ", ".join(parts)
                + f"; {closer}.")
    return {"test_images": n_test, "seeds": [seed["seed"] for seed in results["baseline"]],
            "scores": scores, "ahead": ahead, "verdict": verdict}


def _format_summary(summary: Dict[str, Any], epochs: int) -> str:
    seeds = summary["seeds"]
    spread = len(seeds) > 1
    width = 17 if spread else 10
    lines = [
        f"Final summary (held-out split: {summary['test_images']} images, last of {epochs} epochs; "
        + (f"seeds {' '.join(map(str, seeds))}: mean ± std)" if spread else f"seed {seeds[0]})"),
        f"{'':<26} {'baseline':>{width}} {'cutmix':>{width}}",
    ]
    for key, name in _TABLE:
        cells = []
        for run in RUNS:
            stats = summary["scores"][key][run]
            digits = 1 if key == "run_seconds" else 4
            cells.append(f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}" if spread
                         else f"{stats['mean']:.{digits}f}")
        lines.append(f"{name:<26} " + " ".join(f"{cell:>{width}}" for cell in cells))
    lines.append(f"occluded: a box of {OCCLUSION_AREA:.0%} of each image set to the mean; pasted: the same box "
                 "from a test image of another class")
    lines.append(summary["verdict"])
    return "\n".join(lines)


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


_COLOURS = {"baseline": "tab:blue", "cutmix": "tab:orange"}


def _plot_curves(results: Dict[str, List[Dict[str, Any]]], path: str) -> None:
    from matplotlib.ticker import MaxNLocator

    figure = _figure(13, 3.8)
    axes = figure.subplots(1, 3)
    for ax, (metric, title) in zip(axes, (("loss", "loss"), ("accuracy", "accuracy"), ("f1", "F1 (macro)"))):
        for run in RUNS:
            seeds = [seed["epochs"] for seed in results[run]]
            epochs = [row["epoch"] for row in seeds[0]]
            for split, style in (("train", "--"), ("test", "-o")):
                key = f"{split}_{metric}"
                mean = [sum(rows[i][key] for rows in seeds) / len(seeds) for i in range(len(epochs))]
                ax.plot(epochs, mean, style, markersize=3, color=_COLOURS[run],
                        label=f"{run} {split}" + (" (mixed)" if split == "train" and run == "cutmix" else ""))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    of_seeds = f", mean of {len(results['baseline'])} seeds" if len(results["baseline"]) > 1 else ""
    figure.suptitle("baseline vs CutMix: train (dashed, on the batches trained on) and held-out test "
                    f"(solid){of_seeds}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)


def _plot_robustness(summary: Dict[str, Any], path: str) -> None:
    """Bars: clean, occluded and pasted test accuracy, and the calibration error, of both runs."""
    figure = _figure(11, 4)
    acc_ax, ece_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    groups = (("test_accuracy", "clean"),
              ("occluded_accuracy", f"occluded\n({OCCLUSION_AREA:.0%} box set to the mean)"),
              ("pasted_accuracy", f"pasted\n({OCCLUSION_AREA:.0%} box from another class)"))
    for ax, keys in ((acc_ax, groups), (ece_ax, (("test_ece", "clean"),))):
        for i, run in enumerate(RUNS):
            stats = [summary["scores"][key][run] for key, _ in keys]
            means = [s["mean"] for s in stats]
            spread = [[max(0.0, m - s["min"]) for m, s in zip(means, stats)],  # >= 0 also when rounding
                      [max(0.0, s["max"] - m) for m, s in zip(means, stats)]]
            bars = ax.bar([g + (i - 0.5) * 0.38 for g in range(len(keys))], means, 0.38, color=_COLOURS[run],
                          label=run, yerr=spread if len(summary["seeds"]) > 1 else None, capsize=3)
            ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
        ax.set_xticks(range(len(keys)), [label for _, label in keys], fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    acc_ax.set_ylim(0, 1.2)
    acc_ax.set_ylabel("test accuracy")
    acc_ax.legend(fontsize=8, loc="upper right", ncol=2)
    ece_ax.set_ylabel("expected calibration error (15 bins)")
    ece_ax.set_ylim(0, max(0.05, 1.3 * max(summary["scores"]["test_ece"][run]["max"] for run in RUNS)))
    seeds = " ".join(map(str, summary["seeds"]))
    which = f"mean of seeds {seeds}, whiskers: min-max" if len(summary["seeds"]) > 1 else f"seed {seeds}"
    figure.suptitle(f"Held-out split ({summary['test_images']} images): accuracy, higher is better; calibration "
                    f"error, lower is better ({which})", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)


def _plot_occlusions(data: _Data, copies: Dict[str, Tensor], boxes: Tensor, partners: Tensor,
                     models: Dict[str, nn.Module], device: torch.device, path: str, n: int = 8) -> Dict[str, Any]:
    """The first ``n`` test images, clean, occluded and pasted, with the label and both runs' predictions."""
    from matplotlib.patches import Rectangle

    n = min(n, len(data.test_labels))
    shown = {"clean": data.test_images[:n], **{name: images[:n] for name, images in copies.items()}}
    low, high = float(shown["clean"].min()), float(shown["clean"].max())
    predictions = {}
    with torch.no_grad():
        for name, images in shown.items():
            predictions[name] = {run: model.eval()(images.to(device)).argmax(1).tolist()
                                 for run, model in models.items()}
    figure = _figure(1.45 * n, 6)
    axes = figure.subplots(3, n, squeeze=False)
    for row, (name, images) in enumerate(shown.items()):
        axes[row][0].set_ylabel(name, fontsize=11)
        for i in range(n):
            ax = axes[row][i]
            pixels = ((images[i] - low) / (high - low)).clamp(0, 1).permute(1, 2, 0).squeeze(-1)
            ax.imshow(pixels.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if name != "clean":
                y0, y1, x0, x1 = boxes[i].tolist()
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="red"))
            title = f"label {data.classes[int(data.test_labels[i])]}"
            if name == "pasted":
                title += f"\nbox from a {data.classes[int(data.test_labels[partners[i]])]}"
            ax.set_title(title, fontsize=8)
            ax.set_xlabel("  ".join(f"{run[0].upper()}:{data.classes[predictions[name][run][i]]}" for run in RUNS),
                          fontsize=8)
    figure.suptitle("Test images as scored: clean, occluded (red box set to the mean) and pasted (red box from an "
                    "image of another class). Below each: the prediction of B = baseline, C = CutMix", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    return {"test_indices": list(range(n)), "boxes_y0_y1_x0_x1": boxes[:n].tolist(),
            "partners": partners[:n].tolist(), "predictions": predictions}


def _save_mixed_batch(data: _Data, train_set: Dataset, args: argparse.Namespace, seed: int,
                      path: str) -> Dict[str, Any]:
    """Mix 8 training images with the collator (``return_boxes=True``) and draw them.

    The sources and partners come from the dataset itself (``index`` gives the partners), so the
    picture shows exactly what the collator produced. ``prob`` is 1 here so that the picture
    always shows a mixed batch.
    """
    from .viz import save_mixed_grid

    n = min(8, len(train_set))
    chosen = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    samples = [train_set[i] for i in chosen]
    collate = CutMixCollator(alpha=args.alpha, prob=1.0, mode=args.mode, return_boxes=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        images, target, boxes = collate(samples)
    sources = default_collate(samples)[0]
    save_mixed_grid(images, target, boxes, path, sources=sources, nrow=8, class_names=data.classes)
    lam = target.lam.tolist() if isinstance(target.lam, Tensor) else [target.lam] * n
    return {"train_indices": chosen, "boxes_y0_y1_x0_x1": boxes.boxes.tolist(),
            "partners": boxes.index.tolist(), "lam": lam}


def _machine(world: int) -> Dict[str, Any]:
    info: Dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "cutmix_collate": __version__,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "processes": world,
    }
    try:
        import torchvision
        info["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover
        info["torchvision"] = None
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; ``argv`` defaults to ``sys.argv[1:]``. Returns the exit code (0).

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every process runs this; they train
    with ``DistributedDataParallel`` and only rank 0 prints and writes files. Bad arguments and an
    unusable ``--data-dir`` exit with code 2 (``SystemExit``).
    """
    wall_start = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.seeds = args.seeds or [args.seed]
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    for module in ("matplotlib", "tqdm", "torchvision"):
        try:
            __import__(module)
        except ImportError:
            parser.error(f'the demo needs {module}: pip install "cutmix_collate[demo]"')
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if args.device == "cuda" else torch.device("cpu")
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // world - args.workers)
    torch.set_num_threads(args.threads)

    if args.data_dir is not None:
        data = load_folder_data(args.data_dir, args.image_size or 64, parser)
    else:
        data = load_digits_data(args.image_size or 32)
    train_set: Dataset = data.train
    if args.limit is not None and args.limit < len(train_set):
        train_set = Subset(train_set, list(range(args.limit)))
    if world == 1:
        return _run(args, data, train_set, device, 1, wall_start)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _run(args, data, train_set, device, world, wall_start)
    finally:
        dist.destroy_process_group()


def _run(args: argparse.Namespace, data: _Data, train_set: Dataset, device: torch.device, world: int,
         wall_start: float) -> int:
    """Train and score both runs for every seed; rank 0 prints and writes the files."""
    rank = dist.get_rank() if world > 1 else 0
    log: Callable[..., None] = (lambda text="": print(text, flush=True)) if rank == 0 else _silent
    n_test = len(data.test_labels)
    log(f"cutmix_collate {__version__} demo: {data.source}, {len(data.classes)} classes, "
        f"{data.channels}x{data.size}x{data.size} images, {len(train_set)} train / {n_test} test")
    log(f"CutMix: alpha={args.alpha} prob={args.prob} mode={args.mode}; loss={args.loss}; "
        f"{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, {args.workers} workers, "
        f"{args.threads} threads, device {args.device}, seeds {' '.join(map(str, args.seeds))}"
        + (f"; {world} processes (DistributedDataParallel, batch {args.batch_size} each)" if world > 1 else ""))
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        picture = _save_mixed_batch(data, train_set, args, args.seeds[0],
                                    os.path.join(args.out, "mixed_batch.png"))
    occluded, pasted, boxes, partners = occlude(data.test_images, data.test_labels, fill=data.fill)
    copies = {"occluded": occluded, "pasted": pasted}

    results: Dict[str, List[Dict[str, Any]]] = {run: [] for run in RUNS}
    first_models: Dict[str, nn.Module] = {}
    log()
    log(_HEADER)
    for seed in args.seeds:
        for run in RUNS:
            start = time.perf_counter()
            model, rows = _train_run(run, data, train_set, args, seed, device, world, log)
            final = dict(rows[-1])
            for name, images in copies.items():
                final[f"{name}_accuracy"] = _evaluate(model, images, data.test_labels, _base_loss(args.loss),
                                                      device, world)["accuracy"]
            final["run_seconds"] = time.perf_counter() - start
            results[run].append({"seed": seed, "epochs": rows, "final": final})
            first_models.setdefault(run, model)
    summary = _summary(results, n_test)
    log()
    log(_format_summary(summary, args.epochs))
    if rank != 0:
        return 0

    _plot_curves(results, os.path.join(args.out, "curves.png"))
    _plot_robustness(summary, os.path.join(args.out, "robustness.png"))
    shown = _plot_occlusions(data, copies, boxes, partners, first_models, device,
                             os.path.join(args.out, "occlusions.png"))
    wall = time.perf_counter() - wall_start
    report = {
        "config": vars(args), "world_size": world,
        "data": {"source": data.source, "classes": data.classes,
                 "image_shape": [data.channels, data.size, data.size],
                 "train_images": len(train_set), "test_images": n_test, "split_seed": SPLIT_SEED,
                 "test_fraction": TEST_FRACTION},
        "occlusion": {"area": OCCLUSION_AREA, "seed": OCCLUSION_SEED, "fill": data.fill.tolist(),
                      "ece_bins": ECE_BINS, "shown": shown},
        "runs": results, "summary": summary, "mixed_batch": picture,
        "machine": _machine(world), "wall_time_s": wall,
    }
    with open(os.path.join(args.out, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    log(f"\nWrote mixed_batch.png, curves.png, robustness.png, occlusions.png and metrics.json to "
        f"{os.path.abspath(args.out)} ({wall:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
