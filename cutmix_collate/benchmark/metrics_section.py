"""The ``metrics`` section: ``MixedMetrics.update`` and ``mixed_f1`` against scikit-learn's ``f1_score``."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, List

import torch

from .. import MixedMetrics, mixed_f1

__all__ = ["run_metrics_benchmark"]


def run_metrics_benchmark(batch_size: int = 256, num_classes: int = 100, repeat: int = 400) -> Dict[str, Any]:
    """Time ``MixedMetrics.update`` and ``mixed_f1`` against ``sklearn.metrics.f1_score`` per batch."""
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
