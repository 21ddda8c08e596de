"""Corrupted copies of the test split, for evaluation only (no run trains on them).

In the spirit of CIFAR-10-C (Hendrycks and Dietterich, ICLR 2019): a few common corruptions, each
at three severities, applied to the held-out images with fixed seeds, so every run and every seed
is scored on the same corrupted images. :func:`corrupt_all` makes them all:

* **noise**: :func:`gaussian_noise`, standard deviation 4%, 6% and 8% of the pixel range (the
  first three severities of CIFAR-10-C), clipped to the range;
* **blur**: :func:`gaussian_blur`, a Gaussian of standard deviation 1, 2 and 3 pixels at 32x32
  (scaled with the image side);
* **contrast**: :func:`reduce_contrast`, each image's deviation from its own mean kept at 80%,
  70% and 60%;
* **occluded** and **pasted**: :func:`occlude`, a box of 1/16, 1/4 and 9/16 of each image (a
  quarter, a half and three quarters of each side), set to the data set's mean or filled with the
  same region of a test image of another class.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import describe

__all__ = ["CORRUPTIONS", "CORRUPTION_SEED", "SEVERITIES", "SEVERITY_WORDS", "OCCLUSION_AREA", "OCCLUSION_SEED",
           "check_float_images", "check_value_range", "corrupt_all", "gaussian_blur", "gaussian_noise", "occlude",
           "reduce_contrast"]

#: The corrupted copies of the test split are the same for every run and every seed.
OCCLUSION_SEED = 0
CORRUPTION_SEED = 0
#: The occlusion of the first demo (severity 2): a box of a quarter of each image.
OCCLUSION_AREA = 0.25
#: Each corruption's parameter at severities 1, 2 and 3.
SEVERITIES: Dict[str, Tuple[float, float, float]] = {
    "noise": (0.04, 0.06, 0.08),  # standard deviation, share of the pixel range
    "blur": (1.0, 2.0, 3.0),  # standard deviation in pixels at 32x32
    "contrast": (0.8, 0.7, 0.6),  # share of the deviation from the image's mean that is kept
    "occluded": (1 / 16, OCCLUSION_AREA, 9 / 16),  # share of the image the box covers
    "pasted": (1 / 16, OCCLUSION_AREA, 9 / 16),
}
CORRUPTIONS = tuple(SEVERITIES)
#: The severities in words, for the pictures and the summary.
SEVERITY_WORDS = {
    "noise": "Gaussian noise, std 4/6/8% of the range",
    "blur": "Gaussian blur, 1/2/3 px at 32x32",
    "contrast": "lower contrast, 80/70/60% kept",
    "occluded": "occluded, a box of 6/25/56% set to the mean",
    "pasted": "pasted, a box of 6/25/56% from another class",
}


def check_float_images(images: Any) -> None:
    """A ``TypeError`` naming ``images`` unless it is a floating-point tensor ``(N, C, H, W)``."""
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.dim() != 4:
        raise TypeError(f"images must be a floating-point tensor (N, C, H, W), got {describe(images)}")


def _check_level(value: Any, name: str, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= high:
        interval = "a finite number > 0" if math.isinf(high) else f"a number in (0, {high:g}]"
        raise ValueError(f"{name} must be {interval}, got {describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_value_range(value_range: Any) -> Tuple[float, float]:
    """``value_range`` as ``(low, high)`` floats with ``low < high``, or a ``ValueError`` naming it."""
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be two numbers (low, high), got {describe(value_range)}") from None
    if not low < high:
        raise ValueError(f"value_range must have low < high, got ({low}, {high})")
    return low, high


def gaussian_noise(images: Tensor, std: float, *, value_range: Sequence[float], seed: int = CORRUPTION_SEED) -> Tensor:
    """Add Gaussian noise of standard deviation ``std * (high - low)``, then clip to ``value_range``.

    Args:
        images: Floating-point images of shape ``(N, C, H, W)`` with values in ``value_range``; not modified.
        std: Standard deviation of the noise as a share of the pixel range, > 0.
        value_range: ``(low, high)``, the values a pixel can take (for standardised images, where
            0 and 1 went).
        seed: Seed of the noise: the same arguments give the same images.

    Returns:
        A new tensor like ``images``, every value in ``[low, high]``.
    """
    check_float_images(images)
    std = _check_level(std, "std")
    low, high = check_value_range(value_range)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype).to(images.device)
    return (images + noise * (std * (high - low))).clamp(low, high)


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Blur each channel with a Gaussian of standard deviation ``sigma`` pixels.

    The kernel is separable, ``2 * ceil(3 * sigma) + 1`` taps, normalised to sum 1, and the border
    is extended with its own values (replicate padding), so every output pixel is a weighted mean
    of input pixels of the same image and channel: a constant image stays constant and no value
    leaves the image's range.

    Args:
        images: Floating-point images of shape ``(N, C, H, W)``; not modified.
        sigma: Standard deviation of the Gaussian in pixels, > 0.

    Returns:
        A new tensor like ``images``.
    """
    check_float_images(images)
    sigma = _check_level(sigma, "sigma")
    radius = math.ceil(3 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(images.dtype).to(images.device)
    n, channels, height, width = images.shape
    flat = images.reshape(n * channels, 1, height, width)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(F.conv2d(flat, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    return flat.reshape(n, channels, height, width)


def reduce_contrast(images: Tensor, factor: float) -> Tensor:
    """Keep ``factor`` of each image's deviation from its own mean (per channel): ``mean + factor * (x - mean)``.

    Each channel's mean is unchanged and its standard deviation is multiplied by ``factor``; with
    ``factor`` in ``(0, 1]`` every value stays between the channel's minimum and maximum.

    Args:
        images: Floating-point images of shape ``(N, C, H, W)``; not modified.
        factor: The share of the contrast that is kept, in ``(0, 1]``.

    Returns:
        A new tensor like ``images``.
    """
    check_float_images(images)
    factor = _check_level(factor, "factor", high=1.0)
    mean = images.mean((-2, -1), keepdim=True)
    return mean + factor * (images - mean)


def corrupt_all(images: Tensor, labels: Tensor, *, value_range: Sequence[float],
                fill: Union[float, Tensor] = 0.0) -> Dict[str, List[Tensor]]:
    """Every corruption of :data:`SEVERITIES` at its three severities (fixed seeds).

    Args:
        images: Floating-point test images of shape ``(N, C, H, W)``; not modified.
        labels: Their integer class labels, shape ``(N,)``, at least two classes (the pasted boxes
            come from another class).
        value_range: ``(low, high)``, the values a pixel can take (the noise is clipped to it).
        fill: The value of the occluded boxes: a number or a tensor of shape ``(C,)``.

    Returns:
        ``{"noise": [severity 1, 2, 3], "blur": [...], "contrast": [...], "occluded": [...],
        "pasted": [...]}``, each a new ``(N, C, H, W)`` tensor; blur sigmas scale with ``H / 32``.
    """
    scale = images.shape[-2] / 32
    sets: Dict[str, List[Tensor]] = {
        "noise": [gaussian_noise(images, s, value_range=value_range) for s in SEVERITIES["noise"]],
        "blur": [gaussian_blur(images, s * scale) for s in SEVERITIES["blur"]],
        "contrast": [reduce_contrast(images, s) for s in SEVERITIES["contrast"]],
        "occluded": [],
        "pasted": [],
    }
    for area in SEVERITIES["occluded"]:
        occluded, pasted, _, _ = occlude(images, labels, area=area, fill=fill)
        sets["occluded"].append(occluded)
        sets["pasted"].append(pasted)
    return sets


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
    check_float_images(images)
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

