"""The loss side of CutMix: mix any criterion over ``(y_a, y_b, lam)``, focal loss, soft targets.

A CutMix batch carries two labels per image and the share ``lam`` of the image that is still its
own. :class:`CutMixCriterion` wraps any loss ``L(pred, target)`` and returns
``lam * L(pred, y_a) + (1 - lam) * L(pred, y_b)``; with a per-sample ``lam`` of shape ``(B,)`` it
mixes the per-sample losses and reduces them the way the wrapped loss would. A plain target (a
tensor) goes straight to the wrapped loss, so one criterion serves training and evaluation.

:class:`FocalLoss` / :func:`focal_loss` are a multi-class focal loss (Lin et al., "Focal Loss for
Dense Object Detection", ICCV 2017) that can be wrapped like any other loss, and
:func:`soft_targets` turns plain or mixed targets into dense distributions for losses and tools
that want those (torchvision's ``v2.CutMix``, timm's ``SoftTargetCrossEntropy``).
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any, Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import (
    check_choice,
    check_class_indices,
    check_lam,
    check_multi_hot,
    check_positive_int,
    check_prob,
    describe,
    split_target,
)

__all__ = ["CutMixCriterion", "FocalLoss", "focal_loss", "soft_targets"]

_REDUCTIONS = ("mean", "sum", "none")
#: What a (B, K) integer tensor holding other values than 0 and 1 could be instead.
_MULTI_HOT_HINT = ("; class indices have shape (B,) (or (B, d1, d2, ...) for masks), and a label distribution "
                   "must be floating point")


# --------------------------------------------------------------------------------------------
# Focal loss
# --------------------------------------------------------------------------------------------


def _check_gamma(gamma: Any) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise TypeError(f"gamma must be a finite number >= 0, got {describe(gamma)}")
    if not math.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be a finite number >= 0, got {float(gamma)!r}")
    return float(gamma)


def _check_ignore_index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"ignore_index must be an int, got {describe(value)}")
    return int(value)


def _check_alpha_weights(alpha: Any) -> Optional[Tensor]:
    """``None`` or per-class weights ``(K,)`` >= 0 (a sequence of numbers becomes float32)."""
    if alpha is None:
        return None
    if isinstance(alpha, (list, tuple)):
        if not all(isinstance(w, numbers.Real) and not isinstance(w, bool) for w in alpha):
            raise TypeError(
                f"alpha must be None or a 1-D tensor of per-class weights, got a "
                f"{type(alpha).__name__} that holds non-numbers"
            )
        alpha = torch.tensor([float(w) for w in alpha], dtype=torch.float32)
    if not isinstance(alpha, Tensor):
        raise TypeError(f"alpha must be None or a 1-D tensor of per-class weights, got {describe(alpha)}")
    if not alpha.is_floating_point():
        raise TypeError(f"alpha must be a floating-point tensor, got dtype {alpha.dtype}")
    if alpha.dim() != 1:
        raise ValueError(f"alpha must be a 1-D tensor of shape (K,), got shape {tuple(alpha.shape)}")
    if alpha.device.type == "cpu" and not bool(((alpha >= 0) & torch.isfinite(alpha)).all()):
        first = alpha[~((alpha >= 0) & torch.isfinite(alpha))][0].item()
        raise ValueError(f"alpha must hold finite weights >= 0, got {first!r}")
    return alpha


def _check_focal_inputs(input: Any, target: Any, alpha: Optional[Tensor], ignore_index: int) -> None:
    """Logits ``(B, K, ...)``, integer class indices ``(B, ...)`` in range, ``alpha`` ``(K,)``."""
    if not isinstance(input, Tensor) or not input.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor of logits, got {describe(input)}")
    if input.dim() < 2:
        raise ValueError(f"input must have shape (B, K) or (B, K, d1, ...), got shape {tuple(input.shape)}")
    if not isinstance(target, Tensor):
        raise TypeError(f"target must be a tensor of class indices, got {describe(target)}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(
            f"target must be a tensor of class indices with an integer dtype, got dtype {target.dtype}"
        )
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must have shape {expected} to match input of shape {tuple(input.shape)}, "
            f"got shape {tuple(target.shape)}"
        )
    num_classes = input.shape[1]
    if alpha is not None and alpha.shape[0] != num_classes:
        raise ValueError(
            f"alpha must have shape ({num_classes},) to match the {num_classes} classes of the "
            f"input, got shape {tuple(alpha.shape)}"
        )
    check_class_indices(target, num_classes, "target", ignore_index)


def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: Optional[Union[Tensor, Sequence[float]]] = None,
    reduction: str = "mean",
    ignore_index: int = -100,
) -> Tensor:
    """Multi-class focal loss ``-alpha[y] * (1 - p_y) ** gamma * log p_y``.

    ``log p_y`` comes from ``log_softmax`` over the class dimension, so the loss stays finite for
    large logits. With ``gamma=0`` and no ``alpha`` it equals
    :func:`torch.nn.functional.cross_entropy` with the same ``reduction`` and ``ignore_index``.
    Like cross-entropy, it is computed in float32 under ``torch.autocast`` (and in the input's
    dtype otherwise).

    Args:
        input: Logits of shape ``(B, K)`` or ``(B, K, d1, ...)`` (the layout of
            :func:`~torch.nn.functional.cross_entropy`).
        target: Class indices of shape ``(B,)`` or ``(B, d1, ...)``, any integer dtype (uint8
            segmentation masks as the collator returns them work as they are).
        gamma: Focusing parameter, a finite number ``>= 0``; larger values down-weight
            well-classified samples.
        alpha: Optional per-class weights of shape ``(K,)`` (for class imbalance), ``>= 0``.
            A sequence of numbers is accepted too.
        reduction: ``"mean"`` (the plain mean over the non-ignored samples: unlike a weighted
            cross-entropy, it is *not* divided by the sum of the ``alpha`` weights), ``"sum"``
            or ``"none"`` (per-sample losses of shape ``(B,)`` or ``(B, d1, ...)``, zero where
            ``target == ignore_index``).
        ignore_index: Targets with this value contribute nothing, not even to the mean's count.

    Returns:
        A 0-d tensor, or the per-sample losses for ``reduction="none"``.

    Raises:
        TypeError: ``input``, ``target``, ``gamma``, ``alpha`` or ``ignore_index`` of the wrong
            type.
        ValueError: ``gamma < 0``, an unknown ``reduction``, ``alpha`` of the wrong shape or
            with negative entries, mismatched shapes, class indices out of range (the value
            checks on ``alpha`` and ``target`` run for CPU tensors only).
    """
    gamma = _check_gamma(gamma)
    reduction = check_choice(reduction, _REDUCTIONS, "reduction")
    ignore_index = _check_ignore_index(ignore_index)
    alpha = _check_alpha_weights(alpha)
    _check_focal_inputs(input, target, alpha, ignore_index)
    return _focal_loss(input, target, gamma, alpha, reduction, ignore_index)


def _focal_loss(
    input: Tensor, target: Tensor, gamma: float, alpha: Optional[Tensor], reduction: str, ignore_index: int
) -> Tensor:
    if input.dtype in (torch.float16, torch.bfloat16) and _autocast_on(input.device.type):
        input = input.float()  # like cross_entropy, which autocast runs in float32
    log_p = F.log_softmax(input, dim=1)
    target = target.long()  # gather needs int64; uint8 masks come as they are
    keep = target != ignore_index
    safe_target = torch.where(keep, target, torch.zeros_like(target))
    log_p_y = log_p.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    if gamma == 0.0:
        loss = -log_p_y
    else:
        # 1 - p_y without cancellation; the clamp keeps the gradient of the power finite for
        # 0 < gamma < 1 when p_y rounds to exactly 1 (the loss there is 0 either way).
        one_minus_p = (-torch.expm1(log_p_y)).clamp(min=torch.finfo(log_p_y.dtype).tiny)
        loss = -one_minus_p.pow(gamma) * log_p_y
    if alpha is not None:
        loss = loss * alpha.to(device=loss.device, dtype=loss.dtype)[safe_target]
    loss = torch.where(keep, loss, torch.zeros_like(loss))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum().to(loss.dtype)


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except (TypeError, RuntimeError):  # a device type autocast does not know
        return False


class FocalLoss(nn.Module):
    """Multi-class focal loss as a module; see :func:`focal_loss` for the formula and shapes.

    The arguments are checked once, here; :meth:`forward` checks only its inputs. ``alpha`` is
    registered as a buffer, so ``.to(device)`` moves it and it is saved in the ``state_dict``.
    The ``reduction`` attribute lets :class:`CutMixCriterion` ask for per-sample losses.

    Args:
        gamma: Focusing parameter, a finite number ``>= 0``.
        alpha: Optional per-class weights of shape ``(K,)``, ``>= 0``.
        reduction: ``"mean"`` (plain mean over non-ignored samples), ``"sum"`` or ``"none"``.
        ignore_index: Targets with this value contribute nothing.

    Example:
        >>> criterion = FocalLoss(gamma=2.0, alpha=torch.tensor([0.25, 1.0, 1.0]))
        >>> loss = criterion(torch.randn(8, 3), torch.randint(0, 3, (8,)))
    """

    alpha: Optional[Tensor]

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: Optional[Union[Tensor, Sequence[float]]] = None,
        reduction: str = "mean",
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        self.gamma = _check_gamma(gamma)
        self.reduction = check_choice(reduction, _REDUCTIONS, "reduction")
        self.ignore_index = _check_ignore_index(ignore_index)
        self.register_buffer("alpha", _check_alpha_weights(alpha))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """Compute the focal loss of logits ``(B, K, ...)`` against class indices ``(B, ...)``."""
        _check_focal_inputs(input, target, self.alpha, self.ignore_index)
        return _focal_loss(input, target, self.gamma, self.alpha, self.reduction, self.ignore_index)

    def extra_repr(self) -> str:
        alpha = None if self.alpha is None else tuple(self.alpha.shape)
        return (
            f"gamma={self.gamma}, alpha_shape={alpha}, reduction={self.reduction!r}, "
            f"ignore_index={self.ignore_index}"
        )


# --------------------------------------------------------------------------------------------
# CutMixCriterion
# --------------------------------------------------------------------------------------------

#: Losses that take class indices and whose mean is weighted by ``weight[y]`` (1 for FocalLoss),
#: over the targets that are not ``ignore_index``. Only their labels are range-checked.
_INDEX_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, FocalLoss)
#: Losses whose ``"mean"`` is the plain mean of their ``reduction="none"`` output.
_PLAIN_MEAN_LOSSES = (
    nn.BCEWithLogitsLoss, nn.BCELoss, nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss,
    nn.KLDivLoss, nn.SoftMarginLoss, nn.MultiLabelSoftMarginLoss,
)
#: Losses that take multi-hot label vectors as floats: integer and bool labels are cast for them.
_MULTI_HOT_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss, nn.MultiLabelSoftMarginLoss)


class CutMixCriterion(nn.Module):
    """Wrap a loss ``L(pred, target)`` so it takes CutMix targets ``(y_a, y_b, lam)``.

    * Scalar ``lam`` (a Python float or a 0-d tensor): returns exactly
      ``lam * L(pred, y_a) + (1 - lam) * L(pred, y_b)``, the wrapped loss called as it is (a
      weighted cross-entropy keeps its own weighted mean). Any loss works, also one whose labels
      are not class indices in ``[0, C)`` (an ordinal loss with ``K`` ranks and ``K - 1`` logits).
    * Per-sample ``lam`` of shape ``(B,)``: asks the wrapped module for per-sample losses (a
      shallow copy with ``reduction="none"``, made on each call, so the module you hold is never
      changed and later changes to it are always followed), mixes them per sample and reduces
      them as the wrapped loss would:

      - ``"none"``: the mixed per-sample losses, shaped like the wrapped loss's ``"none"`` output.
      - ``"sum"``: their sum.
      - ``"mean"``: for ``CrossEntropyLoss`` / ``NLLLoss`` with class-index targets and
        :class:`FocalLoss`, whose mean is a weighted mean, each sample counts with the mixed
        weight ``lam * w[y_a] + (1 - lam) * w[y_b]`` in the denominator, where ``w`` is the
        module's ``weight`` (1 when ``None``; always 1 for :class:`FocalLoss`) and 0 for targets
        equal to ``ignore_index``::

            sum(lam * l_a + (1 - lam) * l_b) / sum(lam * w[y_a] + (1 - lam) * w[y_b])

        For a constant ``lam`` this equals the scalar formula whenever
        ``sum(w[y_a]) == sum(w[y_b])``, which holds for every CutMix batch (``y_b`` is a
        permutation of ``y_a``). For the torch losses whose mean is a plain mean
        (``BCEWithLogitsLoss``, ``BCELoss``, ``MSELoss``, ``L1Loss``, ``SmoothL1Loss``,
        ``HuberLoss``, ``KLDivLoss``, ``SoftMarginLoss``, ``MultiLabelSoftMarginLoss``) it is the
        mean over all elements (``B * K`` for ``BCEWithLogitsLoss``).
      - ``"batchmean"`` (``KLDivLoss``): their sum divided by ``B``.

      Any other module (your own loss, a subclass) can have a ``"mean"`` the wrapper cannot know,
      so a per-sample ``lam`` with it is a ``TypeError`` unless its ``reduction`` is ``"sum"`` or
      ``"none"``. A plain function has no ``reduction`` at all: use one ``lam`` per batch.
    * Plain target (a tensor): returns ``L(pred, target)`` unchanged, for validation and eval.

    Integer labels are range-checked against ``pred.shape[1]`` (naming ``target.y_a`` or
    ``target.y_b``) only for the losses known to take class indices: ``CrossEntropyLoss``,
    ``NLLLoss`` and :class:`FocalLoss` (their ``ignore_index`` is allowed); CPU tensors only.

    Multi-hot label vectors ``(B, K)`` of any integer or bool dtype (as a collator stacks
    them) are cast to ``pred``'s dtype for the losses that want them as floats,
    ``BCEWithLogitsLoss`` (``pos_weight`` included), ``BCELoss`` and
    ``MultiLabelSoftMarginLoss``, in the mixed and in the plain path; on the CPU they must hold
    only 0 and 1 (another value means the tensor is something else: class indices or counts).

    The output keeps the dtype of the wrapped loss (e.g. float32 for cross-entropy under
    ``torch.autocast``); the mixing itself is done in at least float32. A per-sample ``lam`` is
    moved to the device of the losses. The wrapped module is a registered submodule, so
    ``.to(device)`` on the wrapper moves its buffers (e.g. class weights).

    Args:
        criterion: The loss to wrap: a module (``nn.CrossEntropyLoss(weight=...,
            label_smoothing=...)``, ``nn.BCEWithLogitsLoss()``, :class:`FocalLoss`, ...) or a
            function ``L(pred, target)``. Defaults to ``nn.CrossEntropyLoss()``.

    Raises:
        TypeError: ``criterion`` is not callable, or is a class rather than an instance.

    Example:
        >>> criterion = CutMixCriterion(nn.CrossEntropyLoss(label_smoothing=0.1))
        >>> pred = torch.randn(4, 10)
        >>> y_a = torch.tensor([0, 1, 2, 3])
        >>> loss = criterion(pred, (y_a, y_a.flip(0), 0.7))   # training batch
        >>> loss = criterion(pred, y_a)                        # eval batch: plain CE
    """

    def __init__(self, criterion: Optional[Callable[..., Any]] = None) -> None:
        super().__init__()
        if criterion is None:
            criterion = nn.CrossEntropyLoss()
        if isinstance(criterion, type):
            raise TypeError(
                f"criterion must be a loss instance or function, got the class "
                f"{criterion.__name__}; did you mean {criterion.__name__}()?"
            )
        if not callable(criterion):
            raise TypeError(
                f"criterion must be a callable loss L(pred, target), such as "
                f"nn.CrossEntropyLoss(), got {describe(criterion)}"
            )
        # A module becomes a registered submodule (moved by .to(), saved in state_dict).
        self.criterion: Any = criterion

    def forward(self, pred: Any, target: Any) -> Any:
        """Compute the (mixed) loss.

        Args:
            pred: Model output, usually logits of shape ``(B, K)`` or ``(B, K, d1, ...)``.
            target: A plain target (a tensor, passed to the wrapped loss unchanged) or a mixed
                target ``(y_a, y_b, lam)`` (a :class:`~cutmix_collate.MixedTarget` or any
                tuple/list of length 3): ``y_a`` and ``y_b`` of the same shape with batch size
                ``B``, ``lam`` in ``[0, 1]``, a number, a 0-d tensor or a tensor of shape ``(B,)``.

        Returns:
            The loss; its shape is that of the wrapped loss's output (0-d for ``"mean"`` /
            ``"sum"``).

        Raises:
            TypeError: A target that is neither a tensor nor a mixed target, non-tensor
                ``y_a`` / ``y_b``, a non-numeric ``lam``, or a per-sample ``lam`` with a
                criterion whose per-sample reduction is unknown (see the class).
            ValueError: A target sequence not of length 3, ``y_a`` / ``y_b`` shapes that differ
                from each other or whose batch size differs from ``pred``'s, class indices out
                of range or integer multi-hot labels other than 0 and 1 for a BCE-style loss,
                ``lam`` outside ``[0, 1]`` (CPU tensors only) or of the wrong shape.
        """
        y_a, y_b, lam, is_mixed = split_target(target)
        if not is_mixed:
            return self.criterion(pred, self._float_labels(pred, target, "target"))
        y_a, y_b = self._float_labels(pred, y_a, "target.y_a"), self._float_labels(pred, y_b, "target.y_b")
        batch_size = _check_target_batch(pred, y_a)
        lam = check_lam(lam, batch_size=batch_size, name="target.lam")
        if (
            type(self.criterion) in _INDEX_LOSSES and isinstance(pred, Tensor) and pred.dim() >= 2
            and not y_a.is_floating_point()
            and tuple(y_a.shape) == (pred.shape[0],) + tuple(pred.shape[2:])
        ):
            ignore_index = self.criterion.ignore_index
            check_class_indices(y_a, pred.shape[1], "target.y_a", ignore_index)
            check_class_indices(y_b, pred.shape[1], "target.y_b", ignore_index)
        if isinstance(lam, Tensor) and lam.dim() == 1:
            return self._per_sample(pred, y_a, y_b, lam)
        return _mix_losses(lam, self.criterion(pred, y_a), self.criterion(pred, y_b))

    def _float_labels(self, pred: Any, y: Tensor, name: str) -> Tensor:
        """Integer or bool multi-hot labels as ``pred``'s dtype, for the BCE-style losses."""
        if (
            not isinstance(self.criterion, _MULTI_HOT_LOSSES) or not isinstance(pred, Tensor)
            or not pred.is_floating_point() or y.is_floating_point() or y.is_complex() or y.shape != pred.shape
        ):
            return y
        check_multi_hot(y, name, _MULTI_HOT_HINT)
        return y.to(pred.dtype)

    def _per_sample(self, pred: Any, y_a: Tensor, y_b: Tensor, lam: Tensor) -> Tensor:
        criterion = self.criterion
        reduction = _check_per_sample_reduction(criterion)
        per_sample = copy.copy(criterion)  # shallow: shares parameters and buffers, no copies
        per_sample.reduction = "none"
        loss_a, loss_b = per_sample(pred, y_a), per_sample(pred, y_b)
        for loss in (loss_a, loss_b):
            if not isinstance(loss, Tensor) or loss.dim() == 0 or loss.shape[0] != lam.shape[0]:
                raise ValueError(
                    f"criterion with reduction='none' must return per-sample losses of shape "
                    f"({lam.shape[0]}, ...) for a per-sample lam, got {describe(loss)}"
                )
        out_dtype = loss_a.dtype
        compute = _compute_dtype(out_dtype)
        lam_b = _broadcast_lam(lam.to(device=loss_a.device, dtype=compute), loss_a.dim())
        mixed = lam_b * loss_a.to(compute) + (1.0 - lam_b) * loss_b.to(compute)
        if reduction == "none":
            return mixed.to(out_dtype)
        if reduction == "sum":
            return mixed.sum().to(out_dtype)
        if reduction == "batchmean":
            return (mixed.sum() / lam.shape[0]).to(out_dtype)
        if type(criterion) not in _INDEX_LOSSES or y_a.is_floating_point():
            return mixed.mean().to(out_dtype)
        weight_a = _mean_weights(criterion, y_a, compute, loss_a.device)
        weight_b = _mean_weights(criterion, y_b, compute, loss_a.device)
        lam_w = _broadcast_lam(lam_b.reshape(-1), weight_a.dim())
        return (mixed.sum() / (lam_w * weight_a + (1.0 - lam_w) * weight_b).sum()).to(out_dtype)

    def extra_repr(self) -> str:
        if isinstance(self.criterion, nn.Module):
            return ""  # shown as the submodule
        return f"criterion={_criterion_name(self.criterion)}"


def _criterion_name(criterion: Any) -> str:
    if isinstance(criterion, nn.Module):
        return type(criterion).__name__
    name = getattr(criterion, "__qualname__", None) or getattr(criterion, "__name__", None)
    return f"a {type(criterion).__name__} object" if name is None else f"the plain function {name}"


def _check_per_sample_reduction(criterion: Any) -> str:
    """The wrapped loss's ``reduction``, after checking a per-sample ``lam`` can follow it."""
    reduction = getattr(criterion, "reduction", None)
    if not isinstance(criterion, nn.Module) or reduction is None:
        module = " (a module without a reduction attribute)" if isinstance(criterion, nn.Module) else ""
        raise TypeError(
            "a per-sample lam of shape (B,) needs per-sample losses: criterion must be an "
            "nn.Module with a reduction attribute (e.g. nn.CrossEntropyLoss()), got "
            f"{_criterion_name(criterion)}{module}; use one lam per batch or wrap the loss in a "
            "module that supports reduction='none'"
        )
    known = type(criterion) in _INDEX_LOSSES + _PLAIN_MEAN_LOSSES
    if reduction in ("mean", "batchmean") and not known:
        raise TypeError(
            f"a per-sample lam of shape (B,) cannot be mixed into the reduction={reduction!r} "
            f"of {_criterion_name(criterion)}: how it weights its mean is unknown here; set its "
            "reduction to 'sum' or 'none' (and reduce the result yourself) or use one lam per batch"
        )
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(
            "criterion.reduction must be one of 'mean', 'sum', 'none', 'batchmean' for a "
            f"per-sample lam, got {reduction!r}"
        )
    return reduction


def _check_target_batch(pred: Any, y_a: Tensor) -> Optional[int]:
    """Return the batch size ``B`` after checking ``y_a`` (and ``pred`` when a tensor) agree."""
    if y_a.dim() == 0:
        raise ValueError("target.y_a and target.y_b must have a batch dimension, got shape ()")
    if not isinstance(pred, Tensor):
        return y_a.shape[0]
    if pred.dim() == 0:
        raise ValueError("pred must have a batch dimension, got shape ()")
    if y_a.shape[0] != pred.shape[0]:
        raise ValueError(
            f"target.y_a and target.y_b must have batch size {pred.shape[0]} to match pred of "
            f"shape {tuple(pred.shape)}, got shape {tuple(y_a.shape)}"
        )
    return pred.shape[0]


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32) if dtype.is_floating_point else torch.float32


def _broadcast_lam(lam: Tensor, dim: int) -> Tensor:
    """View ``lam`` ``(B,)`` as ``(B, 1, ..., 1)`` with ``dim`` dimensions."""
    return lam.reshape(lam.shape + (1,) * (dim - 1))


def _mix_losses(lam: Union[float, Tensor], loss_a: Any, loss_b: Any) -> Any:
    """``lam * loss_a + (1 - lam) * loss_b`` in the dtype of ``loss_a``."""
    if not isinstance(lam, Tensor) or not isinstance(loss_a, Tensor) or not loss_a.is_floating_point():
        return lam * loss_a + (1 - lam) * loss_b
    # A 0-d float32 lam would promote a 0-d half-precision loss to float32: mix in at least
    # float32 and give the result the wrapped loss's dtype.
    compute = _compute_dtype(loss_a.dtype)
    lam = lam.to(device=loss_a.device, dtype=compute)
    return (lam * loss_a.to(compute) + (1.0 - lam) * loss_b.to(compute)).to(loss_a.dtype)


def _mean_weights(criterion: Any, target: Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Per-target weights in the denominator of a class-index loss's mean (see the class)."""
    target = target.to(device)
    keep = target.ne(criterion.ignore_index)
    weight = getattr(criterion, "weight", None)  # FocalLoss: none
    if weight is None:
        return keep.to(dtype)
    safe_target = torch.where(keep, target, torch.zeros_like(target)).long()
    return weight.to(device=device, dtype=dtype)[safe_target] * keep.to(dtype)


# --------------------------------------------------------------------------------------------
# Soft targets
# --------------------------------------------------------------------------------------------


def soft_targets(
    target: Any,
    num_classes: int,
    *,
    label_smoothing: float = 0.0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Turn a plain or mixed target into a dense target distribution.

    A mixed target ``(y_a, y_b, lam)`` becomes ``lam * onehot(y_a) + (1 - lam) * onehot(y_b)``
    (per sample for a ``lam`` of shape ``(B,)``); a plain target becomes ``onehot(target)``.
    Label smoothing then follows :func:`torch.nn.functional.cross_entropy`:
    ``t * (1 - label_smoothing) + label_smoothing / num_classes``. So
    ``F.cross_entropy(pred, soft_targets(t, K))`` equals ``CutMixCriterion()(pred, t)``, and
    with ``label_smoothing`` it equals the wrapped ``nn.CrossEntropyLoss(label_smoothing=...)``
    (class ``weight`` is another matter: PyTorch's weighted mean differs for dense targets).
    For one-hot labels the result equals torchvision's ``v2.CutMix(num_classes=K)`` labels.

    How labels are read, by their number of dimensions:

    * 2-D ``(B, K)``: label vectors (one-hot, multi-hot or soft) of **any** dtype, as the
      collator and :func:`~cutmix_collate.cutmix_batch` pass them on; taken as they are (cast to
      ``dtype``). ``K`` must equal ``num_classes``. Integer label vectors must hold only 0 and
      1 (checked for CPU tensors): a 2-D integer tensor with other values is neither a label
      vector nor class indices of shape ``(B,)``, and is refused rather than read as a
      distribution.
    * 1-D ``(B,)`` or 3-D and more ``(B, d1, d2, ...)`` (segmentation masks): class indices,
      integer dtype, one-hot encoded into ``(B, K)`` or ``(B, K, d1, d2, ...)``.

    Args:
        target: A plain target as above, or a mixed target ``(y_a, y_b, lam)`` of one, with
            ``lam`` a number, a 0-d tensor or a tensor of shape ``(B,)`` in ``[0, 1]``.
        num_classes: The number of classes ``K``, an int >= 1.
        label_smoothing: A number in ``[0, 1]``.
        dtype: Floating dtype of the result.

    Returns:
        A tensor of shape ``(B, K)`` (``(B, K, d1, ...)`` for index maps ``(B, d1, ...)``,
        the layout :func:`~torch.nn.functional.cross_entropy` expects) on the target's device.

    Raises:
        TypeError: A target that is not a tensor or a mixed target, class indices that are not
            integers, a ``dtype`` that is not floating point, non-numeric ``lam`` /
            ``label_smoothing`` / ``num_classes``.
        ValueError: Class indices outside ``[0, num_classes)`` or integer label vectors with
            values other than 0 and 1 (checked for CPU tensors only), label vectors whose width
            is not ``num_classes``, ``lam`` outside ``[0, 1]`` or of
            the wrong shape, a target sequence not of length 3.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    label_smoothing = check_prob(label_smoothing, "label_smoothing")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    y_a, y_b, lam, is_mixed = split_target(target)
    if y_a.dim() == 0:
        name = "target.y_a" if is_mixed else "target"
        raise ValueError(f"{name} must have a batch dimension, got shape ()")
    out = _dense(y_a, num_classes, dtype, "target.y_a" if is_mixed else "target")
    if is_mixed:
        dense_b = _dense(y_b, num_classes, dtype, "target.y_b")
        lam = check_lam(lam, batch_size=y_a.shape[0], name="target.lam")
        if isinstance(lam, Tensor):
            lam = lam.to(device=out.device, dtype=dtype)
            lam = _broadcast_lam(lam, out.dim()) if lam.dim() == 1 else lam
        out = lam * out + (1.0 - lam) * dense_b
    if label_smoothing > 0.0:
        out = out * (1.0 - label_smoothing) + label_smoothing / num_classes
    return out


def _dense(y: Tensor, num_classes: int, dtype: torch.dtype, name: str) -> Tensor:
    """Label vectors ``(B, K)`` as they are; class indices one-hot encoded to ``(B, K, ...)``."""
    if y.dim() == 2:
        if y.shape[1] != num_classes or y.is_complex():
            raise ValueError(
                f"{name} of shape (B, K) holds label vectors and must be real with K = "
                f"num_classes = {num_classes}, got {describe(y)}"
            )
        if not y.is_floating_point():
            check_multi_hot(y, name, _MULTI_HOT_HINT)
        return y.to(dtype)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(
            f"{name} must hold class indices (integer dtype) of shape (B,) or (B, d1, d2, ...), "
            f"or label vectors of shape (B, {num_classes}), got {describe(y)}"
        )
    check_class_indices(y, num_classes, name)
    return F.one_hot(y.long(), num_classes).movedim(-1, 1).to(dtype)
