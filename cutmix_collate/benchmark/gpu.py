"""The ``gpu`` section: CutMix on a CUDA batch, timed with CUDA events."""

from __future__ import annotations

import statistics
from typing import Any, Callable, Dict, List

import torch

from .. import cutmix_batch
from .data import NUM_CLASSES

__all__ = ["run_gpu_benchmark"]


def run_gpu_benchmark(repeat: int = 50) -> List[Dict[str, Any]]:
    """Time CutMix on a 256x3x224x224 CUDA batch with CUDA events (float32 and bfloat16)."""
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
