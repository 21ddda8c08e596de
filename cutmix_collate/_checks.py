"""Argument checks shared by more than one module of the package.

One place for the messages, so that the collator, the losses and the metrics say the same
thing about the same mistake. Messages follow ``<argument> must be <expected>, got <value>``.
Public entry points call these once; internal helpers trust what the package produced. A
check that only one module uses lives in that module as ``_check_*``.

Value checks on tensors (``lam`` in ``[0, 1]``, labels in range) need the values on the host.
They run eagerly for CPU tensors only: on an accelerator they would force a host
synchronisation every batch, so there the checks that need values are skipped.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Optional, Tuple, Union

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
    kind = type(value)  # numpy's np.True_ is a numpy.bool, not a bool
    return f"{text} ({kind.__name__ if kind.__module__ == 'builtins' else kind.__module__.split('.')[0] + '.' + kind.__qualname__})"


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
            raise ValueError(f"{name}.y_a and {name}.y_b must have the same dtype, got {y_a.dtype} and {y_b.dtype}")
        return y_a, y_b, lam, True
    raise TypeError(f"{name} must be a tensor or a mixed target (y_a, y_b, lam), got {describe(target)}")


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
