"""Benchmark: CutMix in a DataLoader against ``default_collate`` and the alternatives.

Run ``python -m cutmix_collate.benchmark`` (``--help`` for options). Four sections:

* ``collate``: DataLoader throughput end to end (iterate a fixed number of batches, touch each
  one), ``num_workers`` 0 and 2 with persistent workers, for 256x3x32x32 float32,
  64x3x224x224 float32 and 64x3x224x224 uint8, on three datasets: ``memory`` (stored tensors: the
  collate cost fully visible), ``augmented`` (random crop and flip of a uint8 array) and
  ``realistic`` (the ImageNet recipe: JPEG bytes decoded per sample, ``RandomResizedCrop``, flip,
  float32 normalise; needs torchvision). Variants run interleaved in each repetition; the ratio to
  ``default_collate`` is taken within a repetition and reported as the median with its min-max.
* ``calltime``: the collate call itself, timed inside one DataLoader worker (the worker times the
  call and returns the time with the batch; one worker on 2 cores leaves the main process idle, so
  the figures are far steadier than throughput): ms per batch, median and min-max, and the extra
  ms over ``default_collate``, for every collator in each configuration and dataset.
* ``metrics``: ``MixedMetrics.update`` against scikit-learn's ``f1_score`` on one batch.
* ``gpu`` (``--device cuda``): :func:`cutmix_batch` against a ``clone()`` of the batch (the copy
  floor), torchvision's ``v2.CutMix`` and timm's ``Mixup``, timed with CUDA events.

Results are printed as tables and written to ``<out>/benchmark.json`` (and ``benchmark.png``
with ``--plot``). torchvision and timm rows are skipped, with a note, when not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from .collator import CutMixCollator

__all__ = ["main", "run_calltime_benchmark", "run_collate_benchmark", "run_metrics_benchmark",
           "run_gpu_benchmark"]

CONFIGS = {
    "256x3x32x32-float32": (256, (3, 32, 32), torch.float32),
    "64x3x224x224-float32": (64, (3, 224, 224), torch.float32),
    "64x3x224x224-uint8": (64, (3, 224, 224), torch.uint8),
}
NUM_CLASSES = 100


# --------------------------------------------------------------------------- datasets


class InMemoryDataset(Dataset):
    """``(image, label)`` from a stored tensor: the collate cost is fully visible."""

    def __init__(self, shape: Tuple[int, ...], dtype: torch.dtype, length: int, distinct: int = 256) -> None:
        gen = torch.Generator().manual_seed(0)
        data = torch.randint(0, 256, (min(distinct, length),) + shape, generator=gen, dtype=torch.uint8)
        self.images = data if dtype == torch.uint8 else data.to(dtype) / 255
        self.labels = torch.randint(0, NUM_CLASSES, (length,), generator=gen).tolist()
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        return self.images[i % len(self.images)], self.labels[i]


class AugmentedDataset(Dataset):
    """``(image, label)`` with per-sample work: random crop (e.g. 256 -> 224) and flip of uint8."""

    def __init__(self, shape: Tuple[int, ...], dtype: torch.dtype, length: int, distinct: int = 256) -> None:
        channels, size = shape[0], shape[-1]
        self.size = size
        self.big = (size * 256) // 224
        rng = np.random.default_rng(0)
        self.arrays = rng.integers(0, 256, (min(distinct, length), channels, self.big, self.big), dtype=np.uint8)
        self.labels = rng.integers(0, NUM_CLASSES, length).tolist()
        self.dtype = dtype
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        array = self.arrays[i % len(self.arrays)]
        top, left, flip = torch.randint(0, self.big - self.size + 1, (3,)).tolist()
        crop = array[:, top:top + self.size, left:left + self.size]
        if flip % 2:
            crop = crop[:, :, ::-1]
        image = torch.from_numpy(np.ascontiguousarray(crop))
        if self.dtype != torch.uint8:
            image = image.to(self.dtype).div_(255)
        return image, self.labels[i]


class RealisticDataset(Dataset):
    """The ImageNet recipe: JPEG bytes in memory, decoded per sample, ``RandomResizedCrop``, flip,
    then float32 normalised (kept uint8 for a uint8 configuration)."""

    def __init__(self, shape: Tuple[int, ...], dtype: torch.dtype, length: int, distinct: int = 64) -> None:
        from torchvision.io import encode_jpeg
        from torchvision.transforms import v2

        channels, size = shape[0], shape[-1]
        gen = torch.Generator().manual_seed(0)
        side = (size * 8) // 7  # e.g. 256 for 224: a source a little larger than the crop
        # Smooth images with some noise compress and decode like photos (pure noise would not).
        low = torch.rand((min(distinct, length), channels, 8, 8), generator=gen)
        smooth = torch.nn.functional.interpolate(low, size=(side, side + side // 4), mode="bilinear")
        noisy = (smooth * 200 + torch.rand(smooth.shape, generator=gen) * 55).to(torch.uint8)
        self.jpegs = [encode_jpeg(image, quality=90) for image in noisy]
        self.labels = torch.randint(0, NUM_CLASSES, (length,), generator=gen).tolist()
        steps: List[Any] = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
        if dtype != torch.uint8:
            steps += [v2.ToDtype(dtype, scale=True), v2.Normalize([0.485, 0.456, 0.406][:channels],
                                                                   [0.229, 0.224, 0.225][:channels])]
        self.transform = v2.Compose(steps)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        from torchvision.io import decode_jpeg

        return self.transform(decode_jpeg(self.jpegs[i % len(self.jpegs)])), self.labels[i]


DATASETS = {"memory": InMemoryDataset, "augmented": AugmentedDataset, "realistic": RealisticDataset}


# --------------------------------------------------------------------------- variants


class _CollateThen:
    """``default_collate`` followed by a batch transform, inside the collate_fn (picklable)."""

    def __init__(self, transform: Callable) -> None:
        self.transform = transform

    def __call__(self, batch: List[Any]) -> Any:
        images, labels = default_collate(batch)
        return self.transform(images, labels)


def variants(dtype: torch.dtype) -> Tuple[Dict[str, Dict[str, Any]], List[str]]:
    """The loaders to compare: name -> {collate_fn, after} (a transform after the loader)."""
    notes: List[str] = []
    found: Dict[str, Dict[str, Any]] = {
        "default_collate": {"collate_fn": default_collate},
        "CutMixCollator(batch)": {"collate_fn": CutMixCollator()},
        "CutMixCollator(elem)": {"collate_fn": CutMixCollator(mode="elem")},
    }
    try:
        from .collator import MixUpCollator  # type: ignore[attr-defined]
    except ImportError:
        MixUpCollator = None  # noqa: N806
    if MixUpCollator is not None and dtype.is_floating_point:
        found["MixUpCollator(batch)"] = {"collate_fn": MixUpCollator()}
    try:
        from torchvision.transforms import v2
    except ImportError:
        notes.append("torchvision not installed: v2.CutMix rows skipped")
    else:
        cutmix = v2.CutMix(alpha=1.0, num_classes=NUM_CLASSES)
        found["v2.CutMix in collate_fn"] = {"collate_fn": _CollateThen(cutmix)}
        found["v2.CutMix after loader"] = {"collate_fn": default_collate, "after": cutmix}
    try:
        from timm.data import FastCollateMixup, Mixup
    except ImportError:
        notes.append("timm not installed: timm rows skipped (pip install timm)")
    else:
        if dtype == torch.uint8:
            found["timm FastCollateMixup(cutmix)"] = {
                "collate_fn": FastCollateMixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=NUM_CLASSES)
            }
        else:
            mix = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=NUM_CLASSES)
            found["timm Mixup(cutmix) after loader"] = {"collate_fn": default_collate, "after": mix}
    return found, notes


# --------------------------------------------------------------------------- collate section


def _touch(batch: Any) -> None:
    """Read one element of every tensor in the batch, as a training step would."""
    if isinstance(batch, torch.Tensor):
        batch.reshape(-1)[:1].tolist()
    elif isinstance(batch, (tuple, list)):
        for item in batch:
            _touch(item)
    elif isinstance(batch, dict):
        for item in batch.values():
            _touch(item)


def _epoch_throughput(loader: DataLoader, after: Optional[Callable], batch_size: int) -> float:
    """Images per second over one epoch, timed from the first batch received to the last."""
    start = None
    count = 0
    for batch in loader:
        if after is not None:
            batch = after(*batch)
        _touch(batch)
        if start is None:
            start = time.perf_counter()
            continue
        count += 1
    assert start is not None and count > 0  # internal: loaders always hold >= 2 batches
    return count * batch_size / (time.perf_counter() - start)


def run_collate_benchmark(
    configs: List[str], datasets: List[str], workers: List[int], reps: int, images_per_epoch: Optional[int],
    log: Callable[[str], None] = print, only: Optional[List[str]] = None,
) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Measure every variant interleaved; return rows of results and notes."""
    rows: List[Dict[str, Any]] = []
    all_notes: List[str] = []
    for config in configs:
        batch_size, shape, dtype = CONFIGS[config]
        if images_per_epoch:
            batches = max(8, images_per_epoch // batch_size) + 1
        else:  # long enough to time (~0.5 s or more an epoch on 2 cores)
            batches = (100 if batch_size * int(np.prod(shape)) < 2**22 else 40) + 1
        for dataset_name in datasets:
            dataset = DATASETS[dataset_name](shape, dtype, batches * batch_size)
            for num_workers in workers:
                found, notes = variants(dtype)
                if only:
                    found = {k: v for k, v in found.items()
                             if k == "default_collate" or any(o.lower() in k.lower() for o in only)}
                all_notes.extend(n for n in notes if n not in all_notes)
                loaders = {
                    name: DataLoader(
                        dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                        num_workers=num_workers, persistent_workers=num_workers > 0,
                        collate_fn=spec["collate_fn"],
                    )
                    for name, spec in found.items()
                }
                names = list(found)
                speeds: Dict[str, List[float]] = {name: [] for name in names}
                ratios: Dict[str, List[float]] = {name: [] for name in names}
                for name in names:  # warm-up: start the workers, fault in the dataset
                    _epoch_throughput(loaders[name], found[name].get("after"), batch_size)
                for rep in range(reps):
                    order = names[rep % len(names):] + names[:rep % len(names)]
                    this_rep = {}
                    for name in order:
                        this_rep[name] = _epoch_throughput(loaders[name], found[name].get("after"), batch_size)
                        speeds[name].append(this_rep[name])
                    for name in names:
                        ratios[name].append(this_rep[name] / this_rep["default_collate"])
                for name in names:
                    row = {
                        "config": config, "dataset": dataset_name, "num_workers": num_workers,
                        "variant": name,
                        "images_per_s": statistics.median(speeds[name]),
                        "ratio": statistics.median(ratios[name]),
                        "ratio_min": min(ratios[name]), "ratio_max": max(ratios[name]),
                    }
                    rows.append(row)
                    log(
                        f"{config:22s} {dataset_name:9s} w={num_workers} {name:32s} "
                        f"{row['images_per_s']:10.0f} img/s  {row['ratio']:.3f}x "
                        f"[{row['ratio_min']:.3f}-{row['ratio_max']:.3f}]"
                    )
                del loaders
    return rows, all_notes


# --------------------------------------------------------------------------- calltime section


class _Timed:
    """A collate_fn that times another one and returns ``(batch, ms)`` (picklable)."""

    def __init__(self, collate_fn: Callable) -> None:
        self.collate_fn = collate_fn

    def __call__(self, batch: List[Any]) -> Tuple[Any, float]:
        start = time.perf_counter()
        out = self.collate_fn(batch)
        return out, (time.perf_counter() - start) * 1e3


def run_calltime_benchmark(
    configs: List[str], datasets: List[str], reps: int, batches: int = 30,
    log: Callable[[str], None] = print, only: Optional[List[str]] = None,
    extra: Optional[Dict[str, Callable]] = None,
) -> List[Dict[str, Any]]:
    """Time each collate_fn inside one persistent worker, interleaved; ms per batch.

    ``extra`` adds named collate_fns (e.g. another version of the package, for a before/after run).
    """
    rows: List[Dict[str, Any]] = []
    for config in configs:
        batch_size, shape, dtype = CONFIGS[config]
        for dataset_name in datasets:
            dataset = DATASETS[dataset_name](shape, dtype, batches * batch_size)
            found = {name: spec["collate_fn"] for name, spec in variants(dtype)[0].items()
                     if "after" not in spec}
            found.update(extra or {})
            if only:
                found = {k: v for k, v in found.items()
                         if k == "default_collate" or any(o.lower() in k.lower() for o in only)}
            loaders = {name: DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                        num_workers=1, persistent_workers=True, collate_fn=_Timed(fn))
                       for name, fn in found.items()}
            times: Dict[str, List[float]] = {name: [] for name in found}
            for rep in range(reps + 1):  # the first round warms the workers up and is dropped
                for name, loader in loaders.items():
                    ms = [t for _, t in loader]
                    if rep:
                        times[name].extend(ms)
            base = statistics.median(times["default_collate"])
            for name, ms in times.items():
                row = {"config": config, "dataset": dataset_name, "variant": name,
                       "ms": statistics.median(ms), "ms_min": min(ms), "ms_max": max(ms),
                       "ms_p25": float(np.percentile(ms, 25)), "ms_p75": float(np.percentile(ms, 75)),
                       "extra_ms": statistics.median(ms) - base, "batches": len(ms)}
                rows.append(row)
                log(f"{config:22s} {dataset_name:9s} {name:32s} {row['ms']:8.2f} ms "
                    f"[p25-p75 {row['ms_p25']:.2f}-{row['ms_p75']:.2f}]  extra {row['extra_ms']:+.2f} ms")
            del loaders
    return rows


def _calltime_table(rows: List[Dict[str, Any]]) -> str:
    lines = ["| config | dataset | variant | ms per batch (p25-p75) | extra ms over default_collate |",
             "|---|---|---|---|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['dataset']} | {r['variant']} | {r['ms']:.2f} "
                     f"({r['ms_p25']:.2f}-{r['ms_p75']:.2f}) | {r['extra_ms']:+.2f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- metrics section


def run_metrics_benchmark(batch_size: int = 256, num_classes: int = 100, repeat: int = 400) -> Dict[str, Any]:
    """Time ``MixedMetrics.update`` and ``mixed_f1`` against ``sklearn.metrics.f1_score`` per batch."""
    try:
        from .metrics import MixedMetrics, mixed_f1
    except ImportError:
        return {"skipped": "cutmix_collate.metrics is not available"}
    from sklearn.metrics import f1_score

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(batch_size, num_classes, generator=gen)
    y_a = torch.randint(0, num_classes, (batch_size,), generator=gen)
    y_b = torch.randint(0, num_classes, (batch_size,), generator=gen)
    target = (y_a, y_b, 0.7)
    tracker = MixedMetrics(num_classes)
    pred = logits.argmax(1).numpy()
    ya, yb = y_a.numpy(), y_b.numpy()

    lam_elem = torch.rand(batch_size, generator=gen)
    cases: Dict[str, Callable[[], Any]] = {
        "MixedMetrics.update": lambda: tracker.update(logits, target),
        "MixedMetrics.update (per-sample lam)": lambda: tracker.update(logits, (y_a, y_b, lam_elem)),
        "mixed_f1": lambda: mixed_f1(logits, target, num_classes),
        "sklearn f1_score (one call)": lambda: f1_score(ya, pred, average="macro", zero_division=0),
        # The same quantity from scikit-learn: two f1_score calls mixed by lam.
        "sklearn mixed F1 (two calls)": lambda: 0.7 * f1_score(ya, pred, average="macro", zero_division=0)
        + 0.3 * f1_score(yb, pred, average="macro", zero_division=0),
    }
    for fn in cases.values():
        for _ in range(10):
            fn()
    # Interleaved blocks: every repetition times a block of ``block`` calls of each case, so
    # drift hits all cases alike while each call runs warm, as it would in a training loop.
    block = 20
    times: Dict[str, List[float]] = {name: [] for name in cases}
    for _ in range(max(1, repeat // block)):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(block):
                fn()
            times[name].append((time.perf_counter() - start) / block)
    ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    reference = times["sklearn f1_score (one call)"]
    speedup = {
        name: statistics.median(r / u for r, u in zip(reference, times[name]))
        for name in ("MixedMetrics.update", "MixedMetrics.update (per-sample lam)")
    }
    return {"batch_size": batch_size, "num_classes": num_classes, "ms": ms,
            "speedup_vs_one_f1_score": speedup}


# --------------------------------------------------------------------------- gpu section


def run_gpu_benchmark(repeat: int = 50) -> List[Dict[str, Any]]:
    """Time CutMix on a 256x3x224x224 CUDA batch with CUDA events (float32 and bfloat16)."""
    from .functional import cutmix_batch

    rows = []
    device = torch.device("cuda")
    for dtype in (torch.float32, torch.bfloat16):
        images = torch.rand(256, 3, 224, 224, device=device).to(dtype)
        labels = torch.randint(0, NUM_CLASSES, (256,), device=device)
        cases: Dict[str, Callable[[], Any]] = {
            "clone (copy floor)": lambda: images.clone(),
            "cutmix_batch(batch)": lambda: cutmix_batch(images, labels),
            "cutmix_batch(elem)": lambda: cutmix_batch(images, labels, mode="elem"),
        }
        try:
            from torchvision.transforms import v2
            cutmix = v2.CutMix(alpha=1.0, num_classes=NUM_CLASSES)
            cases["torchvision v2.CutMix"] = lambda: cutmix(images, labels)
        except ImportError:
            pass
        try:
            from timm.data import Mixup
            for mode in ("batch", "elem"):
                mix = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, mode=mode, num_classes=NUM_CLASSES)
                cases[f"timm Mixup(cutmix, {mode})"] = (lambda m: lambda: m(images.clone(), labels))(mix)
        except ImportError:
            pass
        results = {}
        for name, fn in cases.items():
            for _ in range(5):
                fn()
            torch.cuda.synchronize()
            times = []
            for _ in range(repeat):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            results[name] = statistics.median(times)
        for name, ms in results.items():
            rows.append({"dtype": str(dtype).replace("torch.", ""), "variant": name, "ms": ms,
                         "x_clone": ms / results["clone (copy floor)"]})
    return rows


# --------------------------------------------------------------------------- reporting


def _machine() -> Dict[str, Any]:
    return {
        "python": platform.python_version(), "torch": torch.__version__,
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _markdown_table(rows: List[Dict[str, Any]]) -> str:
    lines = [
        "| config | dataset | workers | variant | images/s | x default_collate (min-max) |",
        "|---|---|---|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['dataset']} | {r['num_workers']} | {r['variant']} | "
            f"{r['images_per_s']:.0f} | {r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |"
        )
    return "\n".join(lines)


def _plot(rows: List[Dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["config"], r["dataset"], r["num_workers"]) for r in rows})
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.2 * len(groups)), squeeze=False)
    for ax, group in zip(axes[:, 0], groups):
        sel = [r for r in rows if (r["config"], r["dataset"], r["num_workers"]) == group]
        ax.barh([r["variant"] for r in sel], [r["ratio"] for r in sel],
                xerr=[[r["ratio"] - r["ratio_min"] for r in sel], [r["ratio_max"] - r["ratio"] for r in sel]])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_title(f"{group[0]}, {group[1]}, num_workers={group[2]}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("throughput relative to default_collate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parse_args(argv: Optional[List[str]]) -> Tuple[argparse.Namespace, List[str]]:
    """The command line, checked; returns the arguments and the sections to run."""
    parser = argparse.ArgumentParser(prog="python -m cutmix_collate.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--sections", nargs="+", choices=["collate", "calltime", "metrics", "gpu"],
                        default=["calltime", "collate", "metrics"],
                        help="what to measure (default: calltime collate metrics; gpu needs CUDA)")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                        help="batch configurations (default: all three)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=["realistic", "memory", "augmented"],
                        help="realistic (JPEG decode + RandomResizedCrop + flip + normalise), in-memory "
                             "tensors, per-sample crop+flip (default: all three)")
    parser.add_argument("--batches", type=int, default=30,
                        help="batches per variant and repetition in the calltime section (default 30)")
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 2],
                        help="num_workers values, persistent workers when > 0 (default: 0 2)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    parser.add_argument("--images", type=int, default=None,
                        help="images per timed epoch (default: 100 batches at 32x32, 40 at 224x224)")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="only variants whose name contains one of these (default_collate always runs)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="cuda adds the gpu section")
    parser.add_argument("--out", default="benchmark-out", help="folder for benchmark.json (and .png)")
    parser.add_argument("--plot", action="store_true", help="also write a bar chart (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.batches < 2:
        parser.error(f"--batches must be >= 2, got {args.batches}")
    if args.reps < 1:
        parser.error(f"--reps must be >= 1, got {args.reps}")
    if any(w < 0 for w in args.workers):
        parser.error(f"--workers must be >= 0, got {args.workers}")
    sections = list(args.sections)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA GPU is available")
        if "gpu" not in sections:
            sections.append("gpu")
    elif "gpu" in sections and not torch.cuda.is_available():
        parser.error("--sections gpu: no CUDA GPU is available")
    return args, sections


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m cutmix_collate.benchmark``: run the sections, print tables, write benchmark.json."""
    args, sections = _parse_args(argv)

    report: Dict[str, Any] = {"machine": _machine(), "command": " ".join(["python -m cutmix_collate.benchmark"] + (argv if argv is not None else sys.argv[1:]))}
    print(f"# {report['command']}\n# {report['machine']}")
    if "calltime" in sections:
        report["calltime"] = run_calltime_benchmark(args.configs, args.datasets, args.reps, args.batches,
                                                    only=args.variants)
        print("\n" + _calltime_table(report["calltime"]))
    if "collate" in sections:
        rows, notes = run_collate_benchmark(
            args.configs, args.datasets, args.workers, args.reps, args.images, only=args.variants
        )
        report["collate"] = rows
        report["notes"] = notes
        print("\n" + _markdown_table(rows))
        for note in notes:
            print(f"note: {note}")
    if "metrics" in sections:
        report["metrics"] = run_metrics_benchmark()
        print("\nmetrics:", json.dumps(report["metrics"], indent=1))
    if "gpu" in sections:
        report["gpu"] = run_gpu_benchmark()
        print("\n| dtype | variant | ms | x clone |\n|---|---|---:|---:|")
        for r in report["gpu"]:
            print(f"| {r['dtype']} | {r['variant']} | {r['ms']:.3f} | {r['x_clone']:.2f} |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "benchmark.json"), "w") as handle:
        json.dump(report, handle, indent=1)
    if args.plot and "collate" in report:
        _plot(report["collate"], os.path.join(args.out, "benchmark.png"))
    print(f"\nwrote {os.path.join(args.out, 'benchmark.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
