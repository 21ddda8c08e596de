"""Argument checks shared by every public object: every check of the package lives here.

One place for the messages, so that the collator, the losses and the metrics say the same
thing about the same mistake. Messages follow ``<argument> must be <expected>, got <value>``.
Public entry points call these once; internal helpers trust what the package produced.

Value checks on tensors (``lam`` in ``[0, 1]``, labels in range) need the values on the host.
They run eagerly for CPU tensors only: on an accelerator they would force a host
synchronisation every batch, so there the checks that need values are skipped.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

__all__: list = []  # private module


def describe(value: Any) -> str:
    """A short description of an argument for error messages (long reprs are cut)."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """Return ``alpha`` as a float after checking it is a finite number > 0."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a finite number > 0, got {describe(alpha)}")
    alpha = float(alpha)
    if not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {alpha!r}")
    return alpha


def check_prob(prob: Any, name: str = "prob") -> float:
    """Return ``prob`` as a float after checking it is a number in ``[0, 1]``."""
    if isinstance(prob, bool) or not isinstance(prob, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {describe(prob)}")
    prob = float(prob)
    if not 0.0 <= prob <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a number in [0, 1], got {prob!r}")
    return prob


def check_choice(value: Any, choices: Iterable[str], name: str) -> str:
    """Return ``value`` after checking it is one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` after checking it is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_lam(lam: Any, batch_size: Optional[int] = None, name: str = "lam") -> Union[float, Tensor]:
    """Check a mixing weight: a number or 0-d tensor, or a tensor of shape ``(B,)``.

    Args:
        lam: A Python number, a 0-d tensor, or a per-sample tensor of shape ``(B,)``.
        batch_size: When given, a per-sample ``lam`` must have this many entries.
        name: The argument name used in error messages.

    Returns:
        A Python float for a number, otherwise the tensor unchanged.
    """
    if isinstance(lam, Tensor):
        if lam.dim() > 1:
            raise ValueError(f"{name} must be a number, a 0-d tensor or a tensor of shape (B,), "
                             f"got shape {tuple(lam.shape)}")
        if lam.dim() == 1 and batch_size is not None and lam.shape[0] != batch_size:
            raise ValueError(f"{name} must have shape ({batch_size},) to match the batch, "
                             f"got shape {tuple(lam.shape)}")
        if not lam.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {lam.dtype}")
        bad = lam.reshape(-1)[~((lam >= 0) & (lam <= 1)).reshape(-1)] if lam.device.type == "cpu" else lam[:0]
        if bad.numel():  # NaN is bad too
            raise ValueError(f"{name} must be in [0, 1], got {bad[0].item()!r}")
        return lam
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        raise TypeError(f"{name} must be a number or a tensor, got {describe(lam)}")
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {lam!r}")
    return lam


def split_target(target: Any, name: str = "target") -> Tuple[Any, Any, Any, bool]:
    """Split a target into ``(y_a, y_b, lam, is_mixed)``.

    A tensor is a plain target: ``(target, target, 1.0, False)``. A tuple or list of
    length 3 (a :class:`~cutmix_collate.MixedTarget` is one) is a mixed target.
    Anything else is a ``TypeError``; a sequence of another length a ``ValueError``.
    """
    if isinstance(target, Tensor):
        return target, target, 1.0, False
    if isinstance(target, (tuple, list)):
        if len(target) != 3:
            raise ValueError(f"{name} must be a tensor or a mixed target (y_a, y_b, lam) of length 3, "
                             f"got a {type(target).__name__} of length {len(target)}")
        y_a, y_b, lam = target
        for part, part_name in ((y_a, "y_a"), (y_b, "y_b")):
            if not isinstance(part, Tensor):
                raise TypeError(f"{name}.{part_name} must be a tensor, got {describe(part)}")
        if y_a.shape != y_b.shape:
            raise ValueError(f"{name}.y_a and {name}.y_b must have the same shape, "
                             f"got {tuple(y_a.shape)} and {tuple(y_b.shape)}")
        if y_a.dtype != y_b.dtype:
            raise ValueError(
                f"{name}.y_a and {name}.y_b must have the same dtype, got {y_a.dtype} and {y_b.dtype}"
            )
        return y_a, y_b, lam, True
    raise TypeError(f"{name} must be a tensor or a mixed target (y_a, y_b, lam), got {describe(target)}")


def check_generator(generator: Any) -> Optional[torch.Generator]:
    """Return ``generator`` after checking it is ``None`` or a :class:`torch.Generator`."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    return generator


def check_box(height: int, width: int, box: Any) -> None:
    """Check a box ``(y0, y1, x0, x1)`` (ints, or ``(B,)`` tensors) lies inside an ``H x W`` image."""
    y0, y1, x0, x1 = box
    ok = (0 <= y0) & (y0 <= y1) & (y1 <= height) & (0 <= x0) & (x0 <= x1) & (x1 <= width)
    if not (bool(ok.all()) or ok.device.type != "cpu" if isinstance(ok, Tensor) else ok):
        raise ValueError(f"box must satisfy 0 <= y0 <= y1 <= {height} and 0 <= x0 <= x1 <= {width} (a box inside "
                         "the image, as rand_box returns), " + ("for every sample" if isinstance(ok, Tensor) else f"got {tuple(box)}"))


def check_batch(images: Any, labels: Any, alpha: Any, prob: Any, mode: Any
                ) -> Tuple[float, float, str, Tuple[int, int, int]]:
    """Check the arguments of ``cutmix_batch``/``mixup_batch``; return them and ``(B, H, W)``."""
    alpha, prob, mode = check_alpha(alpha), check_prob(prob), check_choice(mode, ("batch", "elem"), "mode")
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a tensor of shape (B, C, H, W) or (B, H, W), got {describe(images)}")
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a tensor of shape (B,) or (B, K), got {describe(labels)}")
    if images.dim() not in (3, 4):
        raise ValueError(f"images must have shape (B, C, H, W) or (B, H, W), got shape {tuple(images.shape)}")
    batch_size, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    if batch_size == 0:
        raise ValueError("images must hold at least one image, got an empty batch")
    if labels.dim() not in (1, 2) or labels.shape[0] != batch_size:
        raise ValueError(f"labels must have shape ({batch_size},) or ({batch_size}, K) to match images, "
                         f"got shape {tuple(labels.shape)}")
    if height == 0 or width == 0:
        raise ValueError(f"images must have H >= 1 and W >= 1, got shape {tuple(images.shape)}")
    return alpha, prob, mode, (batch_size, height, width)


def check_mixup_dtype(dtype: torch.dtype, out_dtype: Any, name: str = "images") -> torch.dtype:
    """The dtype MixUp writes: ``out_dtype`` if given, else ``dtype``, which must be floating."""
    if out_dtype is not None:
        if not isinstance(out_dtype, torch.dtype) or not out_dtype.is_floating_point:
            raise TypeError(f"out_dtype must be a floating torch.dtype, got {describe(out_dtype)}")
        return out_dtype
    if not dtype.is_floating_point:
        raise TypeError(f"MixUp blends pixel values, so {name} must be floating point, got {dtype}; "
                        "pass out_dtype=torch.float32 to convert (values are kept, not rescaled)")
    return dtype


def check_keys(image_key: Any, label_key: Any, mask_key: Any, blending: Optional[str]) -> None:
    """A collator's keys: str (label_key or mask_key may be None, not both; no masks when ``blending``)."""
    for value, name in ((image_key, "image_key"), (label_key, "label_key"), (mask_key, "mask_key")):
        if (value is not None or name == "image_key") and not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {describe(value)}")
    if label_key is None and mask_key is None:
        raise ValueError("label_key may be None only for segmentation samples (give mask_key)")
    if mask_key is not None and blending:
        raise ValueError(f"mask_key is not supported by {blending}: masks cannot be blended")


# --------------------------------------------------------------------------- collator samples


def check_samples(batch: Any) -> bool:
    """Check a DataLoader batch is a non-empty list of samples; return whether they are mappings."""
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)):
        raise TypeError(f"batch must be a list of samples, got {describe(batch)}")
    if len(batch) == 0:
        raise ValueError("batch must hold at least one sample, got an empty batch")
    return isinstance(batch[0], Mapping)


def check_mapping_samples(batch: Sequence[Any], keys: Iterable[Tuple[Optional[str], str]]) -> None:
    """Every sample is a mapping with sample 0's keys, and sample 0 holds the configured keys."""
    first, names = batch[0], {key: name for key, name in keys if key is not None}
    for i, sample in enumerate(batch):
        if not isinstance(sample, Mapping):
            raise TypeError(f"every sample must be a dict like sample 0, got {describe(sample)} at sample {i}")
        if i and sample.keys() == first.keys():
            continue
        for key in [k for k in names if k not in sample] + [k for k in first if k not in sample]:
            why = names.get(key, "sample 0 has it")
            hint = f"; pass {why}= to name another key" if key in names else ""
            raise ValueError(f"sample {i} has no key {key!r} ({why}); its keys are {sorted(map(str, sample))}{hint}")
        extra = [k for k in sample if k not in first]
        if extra:
            raise ValueError(f"sample {i} has a key {extra[0]!r} that sample 0 has not; "
                             f"sample 0's keys are {sorted(map(str, first))}")


def check_pairs(batch: Sequence[Any]) -> None:
    """Samples that are not mappings must be ``(image, label)`` pairs."""
    for i, sample in enumerate(batch):
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            what = (f"a {type(sample).__name__} of length {len(sample)}"
                    if isinstance(sample, (tuple, list)) else describe(sample))
            raise TypeError(f"each sample must be an (image, label) pair or a dict, got {what} at sample {i}")


def check_numpy_layout(array: Any, i: int, what: str) -> None:
    """A 3-D numpy image must be channels-first: ``(H, W, C)`` (cv2, ``np.asarray(pil)``) is refused."""
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4) and min(array.shape[:2]) > 4:
        raise ValueError(f"{what} of sample {i} is a numpy array of shape {array.shape}, which looks like (H, W, C); "
                         "the box is cut from the last two dimensions, so pass (C, H, W) arrays "
                         "(np.transpose(a, (2, 0, 1))) or PIL images, which are converted")


def check_images(images: List[Tensor], what: str = "image") -> None:
    """Images (or masks) of a batch: at least ``(H, W)``, H and W >= 1, one shape, dtype, device."""
    first = images[0]
    if len({(t.shape, t.dtype, t.device) for t in images}) == 1 and first.dim() >= 2 and first[..., :1, :1].numel():
        return  # the common case; below finds and names the first bad sample
    for i, image in enumerate(images):
        if image.dim() < 2:
            raise ValueError(f"{what} of sample {i} must have at least 2 dimensions (H, W), got shape {tuple(image.shape)}")
        if i == 0 and not (first.shape[-1] and first.shape[-2]):
            raise ValueError(f"{what}s must have H >= 1 and W >= 1, got shape {tuple(first.shape)} at sample 0")
        for attr in ("shape", "dtype", "device"):
            got, want = getattr(image, attr), getattr(first, attr)
            if got != want:
                got, want = (tuple(got), tuple(want)) if attr == "shape" else (got, want)
                raise ValueError(f"all {what}s in a batch must have the same {attr}; sample {i} has {got}, sample 0 has {want}")


def label_error(labels: Sequence[Any]) -> Exception:
    """The error for labels that ``default_collate`` cannot turn into ``(B,)`` or ``(B, K)``."""
    first = None
    for i, label in enumerate(labels):
        numeric = type(label) in (bool, int, float) or isinstance(label, (Tensor, list, tuple)) or (
            getattr(getattr(label, "dtype", None), "kind", "?") in "biuf")
        try:
            tensor = torch.as_tensor(label) if numeric else None
        except (TypeError, ValueError, RuntimeError):
            tensor = None
        if tensor is None:
            return TypeError(f"label of sample {i} must be a number or a tensor, got {describe(label)}")
        if tensor.dim() > 1:
            return ValueError(f"label of sample {i} must be a number, a 0-d tensor or a vector of shape (K,), "
                              f"got shape {tuple(tensor.shape)}")
        first = tensor if first is None else first
        if tensor.shape != first.shape or (isinstance(label, Tensor) and tensor.dtype != first.dtype):
            return ValueError(f"all labels in a batch must have the same shape and dtype; sample {i} has "
                              f"{tuple(tensor.shape)} {tensor.dtype}, sample 0 has {tuple(first.shape)} {first.dtype}")
    return TypeError(f"labels must be numbers or tensors that default_collate can stack, got {describe(labels)}")


# --------------------------------------------------------------------------------------------
# Label ranges (losses, soft_targets, mixed_accuracy, mixed_f1, MixedMetrics)
# --------------------------------------------------------------------------------------------


def check_class_indices(y: Tensor, num_classes: Optional[int], name: str, ignore_index: Optional[int] = None,
                        eager: Optional[bool] = None) -> Optional[Tensor]:
    """Check that ``y`` holds class indices in ``[0, num_classes)`` (``>= 0`` when ``None``).

    Values equal to ``ignore_index`` are allowed. Eagerly (by default: on the CPU) a bad value is
    a ``ValueError`` naming ``name`` and the first bad value, and ``None`` is returned; otherwise
    reading the values would synchronise the device, so the 0-d count of bad values is returned.
    """
    bad = y < 0 if num_classes is None else (y < 0) | (y >= num_classes)
    if ignore_index is not None:
        bad &= y != ignore_index
    if not (y.device.type == "cpu" if eager is None else eager):
        return bad.sum()
    if bool(bad.any()):
        allowed = (">= 0" if num_classes is None else f"in [0, {num_classes})") + (
            "" if ignore_index is None else f" or ignore_index={ignore_index}")
        raise ValueError(f"{name} must hold class indices {allowed}, got {y[bad][0].item()!r}")
    return None


# --------------------------------------------------------------------------------------------
# Multi-hot label vectors (losses: CutMixCriterion, soft_targets; metrics: task="multilabel")
# --------------------------------------------------------------------------------------------


def check_multi_hot(y: Tensor, name: str, hint: str = "", eager: Optional[bool] = None) -> Optional[Tensor]:
    """Check that label vectors ``y`` ``(B, K)`` hold only 0 and 1 (multi-hot), any dtype.

    Eagerly (by default: on the CPU) a bad value is a ``ValueError`` naming ``name``, the first
    bad value and ``hint`` (the other reading of such a tensor), and ``None`` is returned;
    otherwise the 0-d count of bad values is returned (reading values would synchronise).
    """
    bad = (y != 0) & (y != 1)  # NaN is bad too
    if not (y.device.type == "cpu" if eager is None else eager):
        return bad.sum()
    if bool(bad.any()):
        raise ValueError(f"{name} of shape {tuple(y.shape)} is read as multi-hot label vectors (B, K), "
                         f"which hold only 0 and 1, got {y[bad][0].item()!r}{hint}")
    return None
