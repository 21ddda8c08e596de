"""CutMix end to end on bundled data: ``python -m cutmix_collate.demo`` (or ``cutmix-demo``).

Trains the same small CNN twice with the same seed, on the same data, with the same optimiser:

* ``baseline``: ``default_collate`` and the plain loss (cross-entropy by default);
* ``cutmix``: :class:`~cutmix_collate.CutMixCollator` as the DataLoader's ``collate_fn`` (in
  ``--workers`` worker processes) and the loss wrapped in :class:`~cutmix_collate.CutMixCriterion`.

Both are evaluated after every epoch on a held-out split with
:class:`~cutmix_collate.metrics.MixedMetrics` (plain labels there: the eval-script pattern). The
demo prints a per-epoch table and a side-by-side summary and writes, into ``--out``:

* ``mixed_batch.png``: a batch as the collator mixes it: sources, partners (the region cut out
  outlined) and mixed images (the pasted region outlined, ``lam`` written above);
* ``curves.png``: loss, accuracy and F1 per epoch for both runs;
* ``metrics.json``: the configuration, per-epoch rows, the summary, machine info and wall time.

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
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from . import __version__
from .collator import CutMixCollator
from .losses import CutMixCriterion, FocalLoss
from .metrics import MixedMetrics

__all__ = ["main", "build_parser", "SmallCNN"]

#: The train/test split does not change with ``--seed``: every run is scored on the same images.
SPLIT_SEED = 0
TEST_FRACTION = 0.3
RUNS = ("baseline", "cutmix")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


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
            "compare them on a held-out split and draw a mixed batch."
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
                       help="torch threads of the training process; None: the CPU cores left after "
                            "--workers, at least 1 (oversubscribed cores slow training down a lot)")
    train.add_argument("--seed", type=int, default=0, help="seed of both runs (same seed, same results)")
    cutmix = parser.add_argument_group("CutMix")
    cutmix.add_argument("--alpha", type=_float_in(0, math.inf, low_open=True, high_open=True), default=1.0,
                        help="lam ~ Beta(alpha, alpha)")
    cutmix.add_argument("--prob", type=_float_in(0, 1, low_open=False, high_open=False), default=1.0,
                        help="probability that a batch is mixed")
    cutmix.add_argument("--mode", choices=("batch", "elem"), default="batch",
                        help="one box per batch or one per image")
    output = parser.add_argument_group("output")
    output.add_argument("--out", default="./cutmix-demo-out", metavar="DIR",
                        help="folder for mixed_batch.png, curves.png and metrics.json")
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
    def __init__(self, train: Dataset, test: Dataset, classes: List[str], channels: int,
                 size: int, source: str, in_memory: bool) -> None:
        self.train, self.test, self.classes = train, test, classes
        self.channels, self.size, self.source, self.in_memory = channels, size, source, in_memory


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
    images = ((images - mean) / std).contiguous()
    return _Data(
        _TensorImages(images[train_idx], labels[train_idx]),
        _TensorImages(images[test_idx], labels[test_idx]),
        [str(c) for c in range(10)], 1, image_size, "sklearn.datasets.load_digits", True,
    )


def load_folder_data(path: str, image_size: int, parser: argparse.ArgumentParser) -> _Data:
    """An ImageFolder tree resized to ``image_size``, split 70/30 with a fixed seed.

    Problems with the folder end the program with ``parser.error`` (exit code 2).
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
    return _Data(
        Subset(folder, order[n_test:]), Subset(folder, order[:n_test]),
        list(folder.classes), 3, image_size, f"ImageFolder({path!r})", False,
    )


# --------------------------------------------------------------------------------------------
# Model and training
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


def _loader(dataset: Dataset, args: argparse.Namespace, *, shuffle: bool, collate_fn: Any,
            workers: int, seed: int) -> DataLoader:
    return DataLoader(
        dataset, batch_size=args.batch_size, shuffle=shuffle, collate_fn=collate_fn,
        num_workers=workers, persistent_workers=workers > 0,
        pin_memory=args.device == "cuda",
        generator=torch.Generator().manual_seed(seed),
    )


def _train_run(run: str, data: _Data, train_set: Dataset, args: argparse.Namespace,
               log: Any) -> List[Dict[str, float]]:
    """Train one run; return its per-epoch rows."""
    from tqdm import tqdm

    device = torch.device(args.device)
    torch.manual_seed(args.seed)  # same initial weights and the same shuffling for both runs
    model = SmallCNN(data.channels, len(data.classes), args.width).to(device)
    if run == "cutmix":
        collate = CutMixCollator(alpha=args.alpha, prob=args.prob, mode=args.mode)
        criterion: nn.Module = CutMixCriterion(_base_loss(args.loss))
    else:
        collate = default_collate
        criterion = _base_loss(args.loss)
    train_loader = _loader(train_set, args, shuffle=True, collate_fn=collate, workers=args.workers,
                           seed=args.seed)
    test_loader = _loader(data.test, args, shuffle=False, collate_fn=default_collate,
                          workers=0 if data.in_memory else args.workers, seed=args.seed)
    steps = args.epochs * len(train_loader)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps,
                                                   pct_start=0.15)
    train_metrics = MixedMetrics(len(data.classes))
    test_metrics = MixedMetrics(len(data.classes))
    rows: List[Dict[str, float]] = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        train_metrics.reset()
        bar = tqdm(train_loader, desc=f"{run:>8} epoch {epoch}/{args.epochs}", unit="batch",
                   leave=False, disable=args.quiet, file=sys.stderr, dynamic_ncols=True)
        for step, (images, target) in enumerate(bar):
            images = images.to(device, non_blocking=True)
            target = target.to(device, non_blocking=True)  # a MixedTarget or a label tensor
            logits = model(images)
            loss = criterion(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            train_metrics.update(logits.detach(), target, loss=loss.detach())
            if step % 5 == 0 and not args.quiet:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        bar.close()
        train = train_metrics.compute()
        model.eval()
        test_metrics.reset()
        with torch.no_grad():
            for images, labels in test_loader:  # plain labels: the eval-script pattern
                images, labels = images.to(device), labels.to(device)
                logits = model(images)
                test_metrics.update(logits, labels, loss=criterion(logits, labels))  # plain labels: plain loss
        test = test_metrics.compute()
        row = {
            "epoch": epoch,
            "train_loss": train["loss"], "train_accuracy": train["accuracy"], "train_f1": train["f1"],
            "train_f1_epoch": train["f1_epoch"],
            "test_loss": test["loss"], "test_accuracy": test["accuracy"], "test_f1": test["f1_epoch"],
            "seconds": time.perf_counter() - start,
        }
        rows.append(row)
        log(_format_row(run, row))
    return rows


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------

_HEADER = (f"{'run':>8} {'epoch':>5} {'train loss':>10} {'train acc':>9} {'train F1':>8} "
           f"{'test loss':>9} {'test acc':>8} {'test F1':>7} {'time':>6}")


def _format_row(run: str, row: Dict[str, float]) -> str:
    return (f"{run:>8} {row['epoch']:>5d} {row['train_loss']:>10.4f} {row['train_accuracy']:>9.4f} "
            f"{row['train_f1']:>8.4f} {row['test_loss']:>9.4f} {row['test_accuracy']:>8.4f} "
            f"{row['test_f1']:>7.4f} {row['seconds']:>5.1f}s")


def _summary(results: Dict[str, List[Dict[str, float]]], n_test: int) -> Dict[str, Any]:
    final = {run: dict(results[run][-1]) for run in RUNS}
    best = {run: max(results[run], key=lambda r: (r["test_accuracy"], -r["epoch"])) for run in RUNS}
    delta = final["cutmix"]["test_accuracy"] - final["baseline"]["test_accuracy"]
    images = round(delta * n_test)
    epochs = final["baseline"]["epoch"]
    if images == 0:
        better = "tie"
        verdict = (f"Tie: after {epochs} epochs both runs classify the same number of the {n_test} "
                   f"test images correctly.")
    else:
        better = "cutmix" if delta > 0 else "baseline"
        verdict = (f"{'CutMix' if delta > 0 else 'The baseline'} did better after {epochs} epochs: "
                   f"{abs(delta) * 100:.2f} points of test accuracy ({abs(images)} of {n_test} test "
                   f"images).")
    if abs(images) <= max(3, round(0.01 * n_test)):
        verdict += (" A gap of a few test images is too small to call from one run (compare other "
                    "--seed values). CutMix is a regulariser: its gains usually need longer "
                    "training, harder data, or less of it.")
    elif delta < 0:
        verdict += (" CutMix is a regulariser: its training task is harder, so it usually needs "
                    "more epochs to catch up (try --epochs 40).")
    return {
        "final": final,
        "best": {run: {"epoch": best[run]["epoch"], "test_accuracy": best[run]["test_accuracy"]} for run in RUNS},
        "test_images": n_test,
        "test_accuracy_delta": delta,
        "better": better,
        "verdict": verdict,
    }


def _format_summary(summary: Dict[str, Any], seconds: Dict[str, float]) -> str:
    final, best = summary["final"], summary["best"]
    lines = [
        f"Final summary (held-out split: {summary['test_images']} images, last epoch)",
        f"{'':<26} {'baseline':>10} {'cutmix':>10}",
    ]
    for key, name in (("test_accuracy", "test accuracy"), ("test_f1", "test F1 (macro)"),
                      ("test_loss", "test loss"), ("train_accuracy", "train accuracy (weighted)"),
                      ("train_f1", "train F1 (per batch)"), ("train_loss", "train loss")):
        lines.append(f"{name:<26} {final['baseline'][key]:>10.4f} {final['cutmix'][key]:>10.4f}")
    lines.append(f"{'best test accuracy':<26} " + " ".join(
        f"{best[run]['test_accuracy']:>6.4f}@{best[run]['epoch']:<3d}" for run in RUNS))
    lines.append(f"{'training time (s)':<26} {seconds['baseline']:>10.1f} {seconds['cutmix']:>10.1f}")
    lines.append(summary["verdict"])
    return "\n".join(lines)


def _plot_curves(results: Dict[str, List[Dict[str, float]]], path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(13, 3.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    colours = {"baseline": "tab:blue", "cutmix": "tab:orange"}
    for ax, (metric, title) in zip(axes, (("loss", "loss"), ("accuracy", "accuracy"), ("f1", "F1 (macro)"))):
        for run in RUNS:
            epochs = [r["epoch"] for r in results[run]]
            ax.plot(epochs, [r[f"train_{metric}"] for r in results[run]], "--", color=colours[run],
                    label=f"{run} train" + (" (mixed)" if run == "cutmix" else ""))
            ax.plot(epochs, [r[f"test_{metric}"] for r in results[run]], "-o", markersize=3,
                    color=colours[run], label=f"{run} test")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    figure.suptitle("baseline vs CutMix: train (dashed, on the batches trained on) and held-out test (solid)",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path)


def _save_mixed_batch(data: _Data, train_set: Dataset, args: argparse.Namespace, path: str) -> Dict[str, Any]:
    """Mix 8 training images with the collator (``return_boxes=True``) and draw them.

    The sources and partners come from the dataset itself (``index`` gives the partners), so the
    picture shows exactly what the collator produced. ``prob`` is 1 here so that the picture
    always shows a mixed batch.
    """
    from .viz import save_mixed_grid

    n = min(8, len(train_set))
    chosen = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(args.seed))[:n].tolist()
    samples = [train_set[i] for i in chosen]
    collate = CutMixCollator(alpha=args.alpha, prob=1.0, mode=args.mode, return_boxes=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        images, target, boxes = collate(samples)
    sources = default_collate(samples)[0]
    save_mixed_grid(images, target, boxes, path, sources=sources, nrow=8, class_names=data.classes)
    lam = target.lam.tolist() if isinstance(target.lam, Tensor) else [target.lam] * n
    return {"train_indices": chosen, "boxes_y0_y1_x0_x1": boxes.boxes.tolist(),
            "partners": boxes.index.tolist(), "lam": lam}


def _machine() -> Dict[str, Any]:
    info: Dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "cutmix_collate": __version__,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
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

    Bad arguments and an unusable ``--data-dir`` exit with code 2 (``SystemExit``).
    """
    wall_start = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    for module, extra in (("matplotlib", "demo"), ("tqdm", "demo"), ("torchvision", "demo")):
        try:
            __import__(module)
        except ImportError:
            parser.error(f'the demo needs {module}: pip install "cutmix_collate[{extra}]"')

    threads = args.threads or max(1, (os.cpu_count() or 1) - args.workers)
    torch.set_num_threads(threads)
    args.threads = threads

    def log(text: str = "") -> None:
        print(text, flush=True)

    if args.data_dir is not None:
        data = load_folder_data(args.data_dir, args.image_size or 64, parser)
    else:
        data = load_digits_data(args.image_size or 32)
    train_set: Dataset = data.train
    if args.limit is not None and args.limit < len(train_set):
        train_set = Subset(train_set, list(range(args.limit)))
    os.makedirs(args.out, exist_ok=True)

    log(f"cutmix_collate {__version__} demo: {data.source}, {len(data.classes)} classes, "
        f"{data.channels}x{data.size}x{data.size} images, {len(train_set)} train / {len(data.test)} test")
    log(f"CutMix: alpha={args.alpha} prob={args.prob} mode={args.mode}; loss={args.loss}; "
        f"{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, {args.workers} workers, "
        f"{threads} threads, device {args.device}, seed {args.seed}")

    picture = _save_mixed_batch(data, train_set, args, os.path.join(args.out, "mixed_batch.png"))

    results: Dict[str, List[Dict[str, float]]] = {}
    seconds: Dict[str, float] = {}
    log()
    log(_HEADER)
    for run in RUNS:
        start = time.perf_counter()
        results[run] = _train_run(run, data, train_set, args, log)
        seconds[run] = time.perf_counter() - start
    summary = _summary(results, len(data.test))
    log()
    log(_format_summary(summary, seconds))

    _plot_curves(results, os.path.join(args.out, "curves.png"))
    wall = time.perf_counter() - wall_start
    report = {
        "config": {key: value for key, value in vars(args).items()},
        "data": {"source": data.source, "classes": data.classes, "image_shape": [data.channels, data.size, data.size],
                 "train_images": len(train_set), "test_images": len(data.test), "split_seed": SPLIT_SEED,
                 "test_fraction": TEST_FRACTION},
        "runs": {run: {"epochs": results[run], "seconds": seconds[run]} for run in RUNS},
        "summary": summary,
        "mixed_batch": picture,
        "machine": _machine(),
        "wall_time_s": wall,
    }
    with open(os.path.join(args.out, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    log(f"\nWrote mixed_batch.png, curves.png and metrics.json to {os.path.abspath(args.out)} "
        f"({wall:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
