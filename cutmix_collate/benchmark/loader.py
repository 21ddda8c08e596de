"""The sections timed through a DataLoader: ``collate`` (throughput) and ``calltime`` (the call in a worker)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from .data import CONFIGS, DATASETS, variants

__all__ = ["run_collate_benchmark", "run_calltime_benchmark"]


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

