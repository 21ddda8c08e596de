"""Corrupted copies of the test split, for evaluation only (no run trains on them)."""

from __future__ import annotations

import math
from typing import Tuple, Union

import torch
from torch import Tensor

from .._checks import describe

__all__ = ["occlude", "OCCLUSION_AREA", "OCCLUSION_SEED"]

#: The occluded and pasted copies of the test split are the same for every run and every seed.
OCCLUSION_SEED = 0
OCCLUSION_AREA = 0.25


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

