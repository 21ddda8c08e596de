"""The demo's command line and its course: parse, load the data, train and score both runs, report."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset

from .. import __version__
from .corruptions import CORRUPTION_SEED, OCCLUSION_AREA, OCCLUSION_SEED, SEVERITIES, corrupt_all, occlude
from .data import (SPLIT_SEED, TEST_FRACTION, DemoData, dataset_size, hold_out_classes, load_digits_data,
                   load_folder_data)
from .ood import far_ood_sets
from .plots import plot_corruptions, plot_curves, plot_occlusions, plot_robustness, save_mixed_batch
from .report import HEADER, RUNS, format_summary, machine_info, summarise
from .train import ECE_BINS, base_loss, robustness_scores, silent, train_run

__all__ = ["main", "build_parser"]


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
            "compare them on a held-out split, clean, corrupted (noise, blur, contrast, occlusion) and "
            "against out-of-distribution images, and draw a mixed batch. "
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
    data.add_argument("--ood-classes", nargs="+", default=None, metavar="CLASS",
                      help="hold these classes (by name: e.g. 8 9 for the digits) out of training; their "
                           "test images become the near out-of-distribution set")
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
    if args.ood_classes:
        data = hold_out_classes(data, args.ood_classes, parser)
    train_set: Dataset = data.train
    if args.limit is not None and args.limit < dataset_size(train_set):
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


class _Run(NamedTuple):
    """What every step of one demo run reads: the arguments, the data and where and how it runs."""

    args: argparse.Namespace
    data: DemoData
    train_set: Dataset
    device: torch.device
    world: int
    log: Callable[..., None]


def _run(args: argparse.Namespace, data: DemoData, train_set: Dataset, device: torch.device, world: int,
         wall_start: float) -> int:
    """Train and score both runs for every seed; rank 0 prints and writes the files."""
    rank = dist.get_rank() if world > 1 else 0
    log: Callable[..., None] = (lambda text="": print(text, flush=True)) if rank == 0 else silent
    log(f"cutmix_collate {__version__} demo: {data.source}, {len(data.classes)} classes, "
        f"{data.channels}x{data.size}x{data.size} images, {dataset_size(train_set)} train / "
        f"{len(data.test_labels)} test"
        + (f"; classes {' '.join(data.held_out)} held out of training (near OOD: {len(data.near_ood)} test images)"
           if data.near_ood is not None else ""))
    log(f"CutMix: alpha={args.alpha} prob={args.prob} mode={args.mode}; loss={args.loss}; "
        f"{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, {args.workers} workers, "
        f"{args.threads} threads, device {args.device}, seeds {' '.join(map(str, args.seeds))}"
        + (f"; {world} processes (DistributedDataParallel, batch {args.batch_size} each)" if world > 1 else ""))
    run = _Run(args, data, train_set, device, world, log)
    picture: Dict[str, Any] = {}
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        picture = save_mixed_batch(data, train_set, args, args.seeds[0], os.path.join(args.out, "mixed_batch.png"))
    corrupted = corrupt_all(data.test_images, data.test_labels, value_range=data.value_range, fill=data.fill)
    ood = far_ood_sets(data.test_images, value_range=data.value_range)
    if data.near_ood is not None:
        ood["held_out"] = data.near_ood
    results, models = _train_all(run, corrupted, ood)
    summary = summarise(results, len(data.test_labels), {name: len(images) for name, images in ood.items()})
    log()
    log(format_summary(summary, args.epochs))
    if rank == 0:
        shown = _plot_all(run, results, summary, models, corrupted, ood)
        _write_report(run, results, summary, ood, {"mixed_batch": picture, "occlusions": shown}, wall_start)
    return 0


def _train_all(run: _Run, corrupted: Dict[str, List[Tensor]], ood: Dict[str, Tensor],
               ) -> Tuple[Dict[str, List[Dict[str, Any]]], Dict[str, nn.Module]]:
    """Both runs for every seed: per-epoch rows and final scores, and the first seed's models."""
    results: Dict[str, List[Dict[str, Any]]] = {name: [] for name in RUNS}
    first_models: Dict[str, nn.Module] = {}
    run.log()
    run.log(HEADER)
    for seed in run.args.seeds:
        for name in RUNS:
            start = time.perf_counter()
            model, rows = train_run(name, run.data, run.train_set, run.args, seed, run.device, run.world, run.log)
            final = dict(rows[-1])
            final.update(robustness_scores(model, run.data, corrupted, ood, base_loss(run.args.loss), run.device,
                                           run.world))
            final["run_seconds"] = time.perf_counter() - start
            results[name].append({"seed": seed, "epochs": rows, "final": final})
            first_models.setdefault(name, model)
    return results, first_models


def _plot_all(run: _Run, results: Dict[str, List[Dict[str, Any]]], summary: Dict[str, Any],
              models: Dict[str, nn.Module], corrupted: Dict[str, List[Tensor]], ood: Dict[str, Tensor],
              ) -> Dict[str, Any]:
    """Rank 0: the pictures (the mixed batch is drawn before training); returns what occlusions.png shows."""
    data, out = run.data, run.args.out
    plot_curves(results, os.path.join(out, "curves.png"))
    plot_robustness(summary, os.path.join(out, "robustness.png"))
    plot_corruptions(data, corrupted, ood, os.path.join(out, "corruptions.png"))
    occluded, pasted, boxes, partners = occlude(data.test_images, data.test_labels, fill=data.fill)
    return plot_occlusions(data, {"occluded": occluded, "pasted": pasted}, boxes, partners,
                           models, run.device, os.path.join(out, "occlusions.png"))


def _write_report(run: _Run, results: Dict[str, List[Dict[str, Any]]], summary: Dict[str, Any],
                  ood: Dict[str, Tensor], pictures: Dict[str, Any], wall_start: float) -> None:
    """Rank 0: metrics.json (``pictures``: what mixed_batch.png and occlusions.png show)."""
    args, data, train_set = run.args, run.data, run.train_set
    wall = time.perf_counter() - wall_start
    report = {
        "config": vars(args), "world_size": run.world,
        "data": {"source": data.source, "classes": data.classes,
                 "image_shape": [data.channels, data.size, data.size],
                 "train_images": dataset_size(train_set), "test_images": len(data.test_labels),
                 "split_seed": SPLIT_SEED, "test_fraction": TEST_FRACTION, "value_range": list(data.value_range),
                 "held_out_classes": list(data.held_out)},
        "occlusion": {"area": OCCLUSION_AREA, "seed": OCCLUSION_SEED, "fill": data.fill.tolist(),
                      "ece_bins": ECE_BINS, "shown": pictures["occlusions"]},
        "corruptions": {"severities": SEVERITIES, "seed": CORRUPTION_SEED, "blur_sigma_scale": data.size / 32},
        "ood": {"images": {name: len(images) for name, images in ood.items()}, "score": "max softmax probability",
                "positives": "held-out test images"},
        "runs": results, "summary": summary, "mixed_batch": pictures["mixed_batch"],
        "machine": machine_info(run.world), "wall_time_s": wall,
    }
    with open(os.path.join(args.out, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    run.log(f"\nWrote mixed_batch.png, curves.png, robustness.png, occlusions.png, corruptions.png and "
            f"metrics.json to {os.path.abspath(args.out)} ({wall:.0f} s in all)")
