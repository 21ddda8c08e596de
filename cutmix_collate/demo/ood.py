"""Out-of-distribution detection: how well the maximum softmax probability tells test images from others.

The score is the baseline detector of Hendrycks and Gimpel (ICLR 2017): an image the model has
learnt to classify should get a higher maximum softmax probability (MSP) than one from elsewhere.
:func:`msp_auroc` is the area under the ROC curve of that score (scikit-learn's ``roc_auc_score``)
with the held-out test images as positives and an out-of-distribution set as negatives: 1.0 when
every test image scores above every other image, 0.5 when the score cannot tell them apart, below
0.5 when the other images look *more* familiar to the model. The far-OOD sets are made from the
test images themselves, one image per test image (:func:`far_ood_sets`):

* **inverted**: every pixel mirrored in the pixel range (``low + high - x``): the same strokes,
  dark on light instead of light on dark;
* **noise**: Gaussian noise with each channel's mean and standard deviation over the test images,
  clipped to the pixel range: the data's brightness and contrast, none of its shapes.

Near OOD (classes held out of training with ``--ood-classes``) is scored the same way, against the
test images of those classes.
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import Tensor, nn

from .corruptions import CORRUPTION_SEED, check_float_images, check_value_range

__all__ = ["far_ood_sets", "invert", "max_softmax", "msp_auroc", "noise_images"]


def invert(images: Tensor, *, value_range: Sequence[float]) -> Tensor:
    """Mirror every pixel in the pixel range: ``low + high - images`` (``(N, C, H, W)``, not modified)."""
    check_float_images(images)
    low, high = check_value_range(value_range)
    return (low + high) - images


def noise_images(images: Tensor, *, value_range: Sequence[float], seed: int = CORRUPTION_SEED) -> Tensor:
    """One Gaussian-noise image per image, with each channel's mean and standard deviation over ``images``.

    Args:
        images: Floating-point images of shape ``(N, C, H, W)``; only their statistics are used.
        value_range: ``(low, high)``, the values a pixel can take; the noise is clipped to it.
        seed: Seed of the noise: the same arguments give the same images.

    Returns:
        A new ``(N, C, H, W)`` tensor with values in ``[low, high]``.
    """
    check_float_images(images)
    low, high = check_value_range(value_range)
    mean = images.mean((0, 2, 3), keepdim=True)
    std = images.std((0, 2, 3), keepdim=True)
    generator = torch.Generator().manual_seed(seed + 1)  # not the same draws as gaussian_noise
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype).to(images.device)
    return (mean + std * noise).clamp(low, high)


def far_ood_sets(images: Tensor, *, value_range: Sequence[float]) -> Dict[str, Tensor]:
    """``{"inverted": invert(images), "noise": noise_images(images)}``: the demo's far-OOD sets (fixed seed)."""
    return {"inverted": invert(images, value_range=value_range),
            "noise": noise_images(images, value_range=value_range)}


def max_softmax(model: nn.Module, images: Tensor, device: torch.device, batch_size: int = 256) -> Tensor:
    """The maximum softmax probability of ``model`` (in eval mode) for each image, float64 of shape ``(N,)``."""
    model.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(images[start:start + batch_size].to(device))
            scores.append(logits.double().softmax(1).max(1).values.cpu())
    return torch.cat(scores)


def msp_auroc(in_scores: Tensor, out_scores: Tensor) -> float:
    """AUROC of telling in-distribution from out-of-distribution images by their score.

    Args:
        in_scores: Scores of the in-distribution (held-out test) images, shape ``(N,)``: the positives.
        out_scores: Scores of the out-of-distribution images, shape ``(M,)``: the negatives.

    Returns:
        scikit-learn's ``roc_auc_score``: the probability that a random in-distribution image
        scores higher than a random out-of-distribution one (ties count one half).
    """
    from sklearn.metrics import roc_auc_score

    if in_scores.dim() != 1 or out_scores.dim() != 1 or not len(in_scores) or not len(out_scores):
        raise ValueError(f"in_scores and out_scores must be non-empty 1-d tensors, got shapes "
                         f"{tuple(in_scores.shape)} and {tuple(out_scores.shape)}")
    truth = torch.cat([torch.ones(len(in_scores)), torch.zeros(len(out_scores))])
    return float(roc_auc_score(truth.numpy(), torch.cat([in_scores, out_scores]).double().numpy()))
