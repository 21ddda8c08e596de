"""Helpers shared by several test modules: one definition each.

* ``requires_cuda``: skip marker for tests that need a CUDA GPU (they skip cleanly without one).
* ``scale_for``: the power of two used to encode "which sample, which position" into a pixel.
* ``SharedProbe``: wraps a collate_fn and reports, as seen inside the worker, which outputs were
  allocated in shared memory.

Module-level, so DataLoader workers started with ``spawn`` can unpickle what they reference.
Nothing here uses the package under test except to read its outputs.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import pytest
import torch
from torch.utils.data import get_worker_info

__all__ = ["SharedProbe", "pasted_by_hand", "requires_cuda", "scale_for"]

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def scale_for(shape: Sequence[int]) -> int:
    """The smallest power of two >= the number of elements of ``shape`` (at least 1)."""
    numel = max(1, math.prod(shape))
    return 1 << (numel - 1).bit_length()


class SharedProbe:
    """Wraps a collate_fn; returns ``(batch, flags)`` where ``flags`` says, as computed inside the
    worker, whether it ran in a worker and which outputs are in shared memory (a worker's batch
    should be, as default_collate's is, so it is not copied again on its way to the main process).

    Tuple batches ``(images, target, ...)`` and dict batches (keys ``"image"``, ``"label"``,
    ``"mask"``) are both understood; ``"lam"`` is reported only when it is a tensor.
    """

    def __init__(self, collate: Any):
        self.collate = collate

    def __call__(self, batch: Any) -> Any:
        out = self.collate(batch)
        if isinstance(out, dict):
            images, target, mask = out["image"], out.get("label"), out.get("mask")
        else:
            images, target, mask = out[0], out[1], None
        flags = {"in_worker": get_worker_info() is not None, "images": images.is_shared()}
        if target is not None:
            flags["y_a"], flags["y_b"] = target.y_a.is_shared(), target.y_b.is_shared()
            if isinstance(target.lam, torch.Tensor):
                flags["lam"] = target.lam.is_shared()
        if mask is not None:
            flags["mask"] = mask.is_shared()
        return out, flags


def pasted_by_hand(x, boxes):
    """``x`` with each image's 2-D box copied from its partner, by plain indexing (a reference)."""
    ref = x.clone()
    for i, ((y0, y1, x0, x1), j) in enumerate(zip(boxes.boxes.tolist(), boxes.index.tolist())):
        ref[i, ..., y0:y1, x0:x1] = x[j, ..., y0:y1, x0:x1]
    return ref
