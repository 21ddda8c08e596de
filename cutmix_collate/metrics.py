"""Accuracy, F1 and loss on mixed batches, per batch and per epoch.

Every helper takes either a mixed target ``(y_a, y_b, lam)`` (a
:class:`~cutmix_collate.MixedTarget`, or any tuple or list of length 3) or a plain tensor of
class indices, for which it is the ordinary metric. ``lam`` is the share of each sample that
belongs to ``y_a``: a Python float (one box for the batch) or a tensor of shape ``(B,)`` (one
box per sample).

Everything is computed in torch on the device of the inputs, from the diagonal and the margins
of a (lam-weighted) confusion matrix, in float64 (float32 on MPS, which has no float64). The
per-batch helpers and :meth:`MixedMetrics.update` make no host synchronisation on an
accelerator, so a GPU training loop is not stalled every batch; :meth:`MixedMetrics.compute`
synchronises once per epoch.

Input checks that need tensor values (labels in ``[0, num_classes)``, ``lam`` in ``[0, 1]``)
follow the policy of :mod:`cutmix_collate._checks`: on CPU they run eagerly and raise a
``ValueError``; on an accelerator they would need a synchronisation, so instead the helpers
return NaN for a batch with such values and :meth:`MixedMetrics.compute` raises the
``ValueError`` at the end of the epoch.

scikit-learn is the reference of the tests, not a dependency: ``mixed_f1`` equals
``sklearn.metrics.f1_score(..., zero_division=0)`` as described in its docstring.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from torch import Tensor

from ._checks import _describe, check_choice, check_lam, check_positive_int, split_target

__all__ = ["mixed_accuracy", "mixed_f1", "MixedMetrics"]

Target = Union[Tensor, Sequence[Any]]
"""A plain tensor of class indices ``(B,)`` or a mixed target ``(y_a, y_b, lam)``."""

_AVERAGES = ("macro", "micro", "weighted")

# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


class _Batch(NamedTuple):
    """A checked batch: predictions, labels and mixing weights on one device."""

    pred: Tensor  # (B,) int64 top-1 predictions
    logits: Optional[Tensor]  # (B, K) scores, None when class predictions were given
    y_a: Tensor  # (B,) int64
    y_b: Tensor  # (B,) int64 (y_a itself for a plain target)
    lam: Union[float, Tensor]  # float, 0-d tensor or (B,) tensor of the accumulation dtype
    mixed: bool  # a mixed target (y_a, y_b, lam), not a plain label tensor
    per_sample: bool  # lam is a (B,) tensor
    invalid: Optional[Tensor]  # 0-d count of unchecked bad values (accelerators only)


def _acc_dtype(device: torch.device) -> torch.dtype:
    # MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _eager_checks(device: torch.device) -> bool:
    """Whether value checks run eagerly (they need the values on the host)."""
    return device.type == "cpu"


def _check_average(average: Any, allow_none: bool) -> Optional[str]:
    # check_choice only knows strings; mixed_f1 also takes None (per-class scores).
    if not allow_none:
        return check_choice(average, _AVERAGES, "average")
    if average is None:
        return None
    if not isinstance(average, str) or average not in _AVERAGES:
        raise ValueError(
            f"average must be one of 'macro', 'micro', 'weighted' or None, got {average!r}"
        )
    return average


def _check_logits(logits: Any, num_classes: Optional[int], top_k: int) -> None:
    if not isinstance(logits, Tensor):
        raise TypeError(
            "logits must be a tensor of scores (B, K) or of class predictions (B,), "
            f"got {_describe(logits)}"
        )
    if logits.dim() == 2:
        if logits.dtype == torch.bool or logits.is_complex():
            raise TypeError(
                f"logits of shape (B, K) must be a real tensor, got dtype {logits.dtype}"
            )
        n_cols = logits.shape[1]
        if num_classes is not None and n_cols != num_classes:
            raise ValueError(
                f"logits must have shape (B, num_classes={num_classes}), "
                f"got shape {tuple(logits.shape)}"
            )
        if n_cols == 0:
            raise ValueError(
                f"logits must have at least one class column, got shape {tuple(logits.shape)}"
            )
        if top_k > n_cols:
            raise ValueError(
                f"top_k must be <= the number of classes in logits ({n_cols}), got {top_k}"
            )
    elif logits.dim() == 1:
        if logits.is_floating_point() or logits.is_complex() or logits.dtype == torch.bool:
            raise TypeError(
                "logits of shape (B,) must be integer class predictions, "
                f"got dtype {logits.dtype}"
            )
        if top_k != 1:
            raise ValueError(
                "top_k must be 1 when logits are class predictions of shape (B,) "
                f"(top-k needs scores of shape (B, K)), got {top_k}"
            )
    else:
        raise ValueError(
            "logits must be scores of shape (B, K) or class predictions of shape (B,), "
            f"got shape {tuple(logits.shape)}"
        )
    if logits.shape[0] == 0:
        raise ValueError(f"logits must hold at least one sample, got shape {tuple(logits.shape)}")


def _check_labels(y: Tensor, name: str, batch_size: int, device: torch.device) -> None:
    expected = f"class indices: an integer tensor of shape ({batch_size},)"
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise TypeError(f"{name} must be {expected}, got {_describe(y)}")
    if tuple(y.shape) != (batch_size,):
        hint = " (label vectors (B, K) are not supported)" if y.dim() == 2 else ""
        raise ValueError(
            f"{name} must be {expected} to match logits{hint}, got shape {tuple(y.shape)}"
        )
    if y.device != device:
        raise ValueError(
            f"{name} must be on the same device as logits ({device}), got {y.device}"
        )


def _check_label_range(y: Tensor, name: str, num_classes: Optional[int]) -> None:
    """Eager (CPU) check that ``y`` holds values in ``[0, num_classes)`` (or ``>= 0``)."""
    lo, hi = torch.aminmax(y)
    if int(lo) >= 0 and (num_classes is None or int(hi) < num_classes):
        return
    bad = y < 0 if num_classes is None else (y < 0) | (y >= num_classes)
    first = int(y[bad][0])
    expected = ">= 0" if num_classes is None else f"in [0, {num_classes})"
    raise ValueError(f"{name} must hold class indices {expected}, got {first}")


def _count_out_of_range(y: Tensor, num_classes: Optional[int]) -> Tensor:
    bad = y < 0 if num_classes is None else (y < 0) | (y >= num_classes)
    return bad.sum()


def _prepare(
    logits: Any, target: Any, num_classes: Optional[int], top_k: int, check_pred: bool
) -> _Batch:
    """Check a batch and bring it into the form used by every metric.

    Labels are checked against ``num_classes`` when given, otherwise against the number of
    columns of ``logits`` when it has them, otherwise only for being ``>= 0``. Class
    predictions are range-checked when ``check_pred`` is true (F1 indexes with them).
    """
    _check_logits(logits, num_classes, top_k)
    y_a, y_b, lam, is_mixed = split_target(target, name="target")
    batch_size = logits.shape[0]
    device = logits.device
    if is_mixed:
        _check_labels(y_a, "target.y_a", batch_size, device)
        _check_labels(y_b, "target.y_b", batch_size, device)
    else:
        _check_labels(y_a, "target", batch_size, device)
    lam = check_lam(lam, batch_size=batch_size, name="target.lam")
    dtype = _acc_dtype(device)
    per_sample = False
    if isinstance(lam, Tensor):
        if lam.dim() == 1:
            if lam.device != device:
                raise ValueError(
                    f"target.lam must be on the same device as logits ({device}), "
                    f"got {lam.device}"
                )
            per_sample = True
            lam = lam.to(dtype)
        elif lam.device.type == "cpu":
            lam = float(lam)  # a host value: reading it is no device synchronisation
        else:
            lam = lam.to(dtype)

    pred = logits.argmax(1) if logits.dim() == 2 else logits.long()
    y_a = y_a.long()
    y_b = y_b.long() if is_mixed else y_a
    label_limit = num_classes if num_classes is not None else (
        logits.shape[1] if logits.dim() == 2 else None
    )
    check_pred = check_pred and logits.dim() == 1

    invalid: Optional[Tensor] = None
    if _eager_checks(device):
        if is_mixed:
            _check_label_range(y_a, "target.y_a", label_limit)
            _check_label_range(y_b, "target.y_b", label_limit)
        else:
            _check_label_range(y_a, "target", label_limit)
        if check_pred:
            _check_label_range(pred, "logits", label_limit)
    else:
        # No host synchronisation: count the bad values on the device, clamp the indices so
        # that nothing indexes out of bounds, and let the caller turn the count into NaN (the
        # helpers) or an error at compute() (MixedMetrics).
        invalid = _count_out_of_range(y_a, label_limit)
        if is_mixed:
            invalid = invalid + _count_out_of_range(y_b, label_limit)
        if check_pred:
            invalid = invalid + _count_out_of_range(pred, label_limit)
        if isinstance(lam, Tensor):
            invalid = invalid + (~((lam >= 0) & (lam <= 1))).sum()
        if label_limit is not None:
            y_a = y_a.clamp(0, label_limit - 1)
            y_b = y_b.clamp(0, label_limit - 1) if is_mixed else y_a
            if check_pred:
                pred = pred.clamp(0, label_limit - 1)
    return _Batch(
        pred=pred,
        logits=logits if logits.dim() == 2 else None,
        y_a=y_a,
        y_b=y_b,
        lam=lam,
        mixed=is_mixed,
        per_sample=per_sample,
        invalid=invalid,
    )


def _nan_if_invalid(value: Tensor, invalid: Optional[Tensor]) -> Tensor:
    if invalid is None:
        return value
    return torch.where(invalid > 0, torch.full_like(value, math.nan), value)


# --------------------------------------------------------------------------------------------
# Statistics of the confusion matrix
# --------------------------------------------------------------------------------------------


class _Stats(NamedTuple):
    """The diagonal and margins of a batch's confusion matrices, shape ``(..., K)`` each."""

    tp: Optional[Tensor]  # (R, K) unweighted true positives vs y_a (and y_b); None per-sample
    true: Optional[Tensor]  # (R, K) unweighted supports of y_a (and y_b); R = 1 plain, 2 mixed
    pred: Tensor  # (K,) prediction counts
    weighted: Tensor  # (2, K) lam-weighted [tp, support] of [y_a, y_b] vs [pred, pred]
    present: Tensor  # (K,) > 0 where the class occurs in y_a, y_b or pred


def _class_stats(batch: _Batch, num_classes: int) -> _Stats:
    """Per-class counts of a batch from one ``index_add_`` on the batch's device.

    Each row of ``index`` holds the classes a row of ``value`` is added to; row ``r`` is
    shifted by ``r * K`` so that one ``index_add_`` fills every row of ``counts``.
    ``index_add_`` rather than ``torch.bincount``: on CUDA ``bincount`` reads its maximum
    back to the host to size its output, and ``index_add_`` stays deterministic under
    ``torch.use_deterministic_algorithms``.
    """
    k = num_classes
    pred, y_a, y_b = batch.pred, batch.y_a, batch.y_b
    device = pred.device
    dtype = _acc_dtype(device)
    hit_a = pred == y_a
    if not batch.mixed:
        # rows: tp, support, pred
        index = [y_a, y_a, pred]
        ones = torch.ones_like(hit_a)
        value = torch.stack([hit_a, ones, ones]).to(dtype)
    elif not batch.per_sample:
        # rows: tp_a, tp_b, support_a, support_b, pred (all unweighted)
        index = [y_a, y_b, y_a, y_b, pred]
        ones = torch.ones_like(hit_a)
        value = torch.stack([hit_a, pred == y_b, ones, ones, ones]).to(dtype)
    else:
        # rows: occurrences in y_a, y_b, pred (unweighted, for the labels scikit-learn averages
        # over), then lam-weighted tp of y_a, of y_b, support of y_a, of y_b
        lam = batch.lam
        lam_b = 1.0 - lam
        index = [y_a, y_b, pred, y_a, y_b, y_a, y_b]
        ones = torch.ones_like(lam)
        value = torch.stack([ones, ones, ones, lam * hit_a, lam_b * (pred == y_b), lam, lam_b])
    rows = len(index)
    index = torch.stack(index)
    index += torch.arange(0, rows * k, k, device=device).unsqueeze(1)
    counts = torch.zeros(rows * k, dtype=dtype, device=device)
    counts.index_add_(0, index.view(-1), value.view(-1))
    counts = counts.view(rows, k)
    if not batch.mixed:
        tp, true, pred_counts = counts[0:1], counts[1:2], counts[2]
        return _Stats(tp, true, pred_counts, counts[:2], counts[1] + pred_counts)
    if not batch.per_sample:
        tp, true, pred_counts = counts[0:2], counts[2:4], counts[4]
        weighted = torch.lerp(counts[1::2][:2], counts[0::2][:2], batch.lam)
        return _Stats(tp, true, pred_counts, weighted, counts[2:].sum(0))
    weighted = counts[3:].view(2, 2, k).sum(1)  # [tp_a + tp_b, support_a + support_b]
    return _Stats(None, None, counts[2], weighted, counts[:3].sum(0))


def _f1_from_stats(
    tp: Tensor, true: Tensor, pred: Tensor, present: Optional[Tensor], average: Optional[str]
) -> Tensor:
    """F1 as scikit-learn computes it with ``zero_division=0``; batched over leading dims.

    Args:
        tp: True positives per class, shape ``(..., K)``.
        true: Support (row sums of the confusion matrix) per class, shape ``(..., K)``.
        pred: Prediction counts (column sums) per class, shape ``(..., K)``.
        present: ``(..., K)``, > 0 where the class occurs in the true or the predicted labels
            (the labels scikit-learn averages over; with sample weights a class can occur with
            weight 0). ``None`` when ``true + pred`` are unweighted counts.
        average: ``"macro"``, ``"micro"``, ``"weighted"`` or ``None`` (per class).

    Returns:
        Shape ``(...)``, or ``(..., K)`` for ``average=None``.

    A class absent from both has ``tp = true + pred = 0``; the denominators are clamped to
    the smallest normal number, which only changes a 0 / 0 into 0 (sums of float32 weights are
    never that small), so no ``where`` is needed. Every denominator of an average is > 0 for a
    non-empty batch.
    """
    tiny = torch.finfo(tp.dtype).tiny
    denom = true + pred
    per_class = (2 * tp) / denom.clamp_min(tiny)
    if average is None:
        return per_class
    if average == "macro":
        # Classes that do not occur have F1 0, so summing over all K of them is fine.
        n_present = ((denom if present is None else present) > 0).sum(-1)
        return per_class.sum(-1) / n_present.clamp_min(1)
    if average == "micro":
        return (2 * tp.sum(-1)) / denom.sum(-1).clamp_min(tiny)
    # "weighted": average weighted by the support
    return (per_class * true).sum(-1) / true.sum(-1).clamp_min(tiny)


def _batch_f1(stats: _Stats, batch: _Batch, average: Optional[str]) -> Tensor:
    """Per-batch mixed F1 (see :func:`mixed_f1`)."""
    if batch.per_sample:
        tp, true = stats.weighted
        return _f1_from_stats(tp, true, stats.pred, stats.present, average)
    f1 = _f1_from_stats(stats.tp, stats.true, stats.pred.expand_as(stats.tp), None, average)
    if not batch.mixed:
        return f1[0]
    return torch.lerp(f1[1], f1[0], batch.lam)  # lam * F1(y_a) + (1 - lam) * F1(y_b)


# --------------------------------------------------------------------------------------------
# Per-batch helpers
# --------------------------------------------------------------------------------------------


def mixed_accuracy(logits: Tensor, target: Target, top_k: int = 1) -> Tensor:
    """Accuracy of a (mixed) batch: the ``lam``-weighted accuracy against ``y_a`` and ``y_b``.

    With a scalar ``lam`` this is ``lam * acc(pred, y_a) + (1 - lam) * acc(pred, y_b)``; with a
    per-sample ``lam`` of shape ``(B,)`` it is the mean over samples of
    ``lam_i * [pred_i == y_a_i] + (1 - lam_i) * [pred_i == y_b_i]`` (both are scikit-learn's
    ``accuracy_score([y_a, y_b], [pred, pred], sample_weight=[lam, 1 - lam])``). With a plain
    target it is the ordinary accuracy. No host synchronisation: the result stays a tensor.

    Args:
        logits: Scores of shape ``(B, K)`` (``pred = logits.argmax(1)``) or integer class
            predictions of shape ``(B,)``.
        target: Integer class indices of shape ``(B,)``, or a mixed target
            ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a number
            or a tensor of shape ``()`` or ``(B,)``, all on the device of ``logits``.
        top_k: A sample counts as correct for a label when the label is among the ``top_k``
            highest scores. ``top_k > 1`` needs scores of shape ``(B, K)`` with ``K >= top_k``.

    Returns:
        A 0-d float64 tensor (float32 on MPS) in ``[0, 1]`` on the device of ``logits``. On an
        accelerator, a batch with labels outside ``[0, K)`` (or ``< 0`` for class predictions)
        or ``lam`` outside ``[0, 1]`` gives NaN instead of an error.

    Raises:
        TypeError: ``logits``, a label tensor or ``lam`` has the wrong type or dtype.
        ValueError: Shapes or devices that do not match, labels out of range or ``lam``
            outside ``[0, 1]`` (on CPU), an empty batch, or a bad ``top_k``.
    """
    top_k = check_positive_int(top_k, "top_k")
    batch = _prepare(logits, target, num_classes=None, top_k=top_k, check_pred=False)
    dtype = _acc_dtype(batch.pred.device)
    if top_k == 1:
        hit_a = batch.pred == batch.y_a
        hit_b = batch.pred == batch.y_b if batch.mixed else hit_a
    else:
        top = batch.logits.topk(top_k, dim=1).indices
        hit_a = (top == batch.y_a.unsqueeze(1)).any(1)
        hit_b = (top == batch.y_b.unsqueeze(1)).any(1) if batch.mixed else hit_a
    hit_a = hit_a.to(dtype)
    if not batch.mixed:
        acc = hit_a.mean()
    elif batch.per_sample:
        lam = batch.lam
        acc = (lam * hit_a + (1.0 - lam) * hit_b.to(dtype)).mean()
    else:
        acc = torch.lerp(hit_b.to(dtype).mean(), hit_a.mean(), batch.lam)
    return _nan_if_invalid(acc, batch.invalid)


def mixed_f1(
    logits: Tensor, target: Target, num_classes: int, average: Optional[str] = "macro"
) -> Tensor:
    """F1 score of a (mixed) batch, equal to scikit-learn's ``f1_score(..., zero_division=0)``.

    With ``pred = logits.argmax(1)``:

    * plain target ``y``: ``f1_score(y, pred, average=average)``;
    * scalar ``lam`` (a number or a 0-d tensor): ``lam * f1_score(y_a, pred) +
      (1 - lam) * f1_score(y_b, pred)``;
    * per-sample ``lam`` of shape ``(B,)``: the F1 of the lam-weighted samples,
      ``f1_score([y_a, y_b], [pred, pred], sample_weight=[lam, 1 - lam])``.

    Note that a per-sample ``lam`` whose entries are all equal is *not* the same as the scalar
    ``lam``: the former is the F1 of one weighted confusion matrix, the latter a mixture of
    two F1 scores. Like scikit-learn, ``"macro"`` averages over the classes that occur in the
    true or the predicted labels (a class given only with weight 0 counts, with F1 0); classes
    absent from the batch are left out. ``"micro"`` equals the accuracy.

    Computed in torch from the diagonal and margins of the batch's confusion matrix, on the
    device of ``logits``, without host synchronisation.

    Args:
        logits: Scores of shape ``(B, num_classes)`` or integer class predictions ``(B,)``.
        target: Integer class indices of shape ``(B,)``, or a mixed target
            ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a number
            or a tensor of shape ``()`` or ``(B,)``, all on the device of ``logits``.
        num_classes: The number of classes ``K``; labels must lie in ``[0, K)``.
        average: ``"macro"``, ``"micro"``, ``"weighted"``, or ``None`` for the per-class
            scores of all ``K`` classes (absent classes score 0, as scikit-learn's
            ``f1_score(..., labels=range(K), average=None, zero_division=0)``).

    Returns:
        A 0-d float64 tensor (float32 on MPS), or shape ``(K,)`` for ``average=None``, on the
        device of ``logits``. On an accelerator a batch with labels or predictions outside
        ``[0, K)`` or ``lam`` outside ``[0, 1]`` gives NaN instead of an error.

    Raises:
        TypeError: ``logits``, a label tensor or ``lam`` has the wrong type or dtype, or
            ``num_classes`` is not an int.
        ValueError: ``num_classes < 1``, an unknown ``average``, shapes or devices that do not
            match, an empty batch, or (on CPU) labels out of range or ``lam`` outside
            ``[0, 1]``.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    average = _check_average(average, allow_none=True)
    batch = _prepare(logits, target, num_classes, top_k=1, check_pred=True)
    stats = _class_stats(batch, num_classes)
    f1 = _batch_f1(stats, batch, average)
    return _nan_if_invalid(f1, batch.invalid)


# --------------------------------------------------------------------------------------------
# Epoch tracker
# --------------------------------------------------------------------------------------------


class MixedMetrics:
    """Accuracy, loss and F1 of a training or evaluation epoch, on mixed or plain batches.

    Call :meth:`update` every batch, :meth:`compute` at the end of the epoch and
    :meth:`reset` before the next one (torchmetrics-style). The state lives on the device of
    the first batch after a reset, in float64 (float32 on MPS): per-class lam-weighted true
    positives, supports and prediction counts (the diagonal and margins of the epoch's
    confusion matrix), plus a few sums. ``update`` makes no host synchronisation;
    ``compute`` synchronises once.

    :meth:`compute` returns a dict of Python floats:

    * ``"accuracy"``: the sample-weighted accuracy of the epoch (``mixed_accuracy`` of all
      samples; top-1).
    * ``"f1"``: the mean over batches of the per-batch :func:`mixed_f1`. Depends on the batch
      size and the batch composition.
    * ``"f1_epoch"``: the F1 of the whole epoch from the accumulated lam-weighted confusion
      matrix, i.e. scikit-learn's ``f1_score`` on all of the epoch's ``[y_a, y_b]`` vs
      ``[pred, pred]`` with ``sample_weight=[lam, 1 - lam]`` (a plain target counts as
      ``y_b = y_a``, ``lam = 1``, i.e. the ordinary F1).
    * ``"loss"``: the sample-weighted mean of the batch losses given to :meth:`update`,
      ``sum(loss * B) / sum(B)`` over the batches that came with a loss. **The key is absent**
      when no batch of the epoch came with a loss.

    Distributed: when ``torch.distributed`` is initialised (and ``sync_on_compute`` is true),
    :meth:`compute` sums the state of all ranks with one ``all_reduce``, so every rank returns
    the metrics of the whole epoch: ``"accuracy"``, ``"loss"`` and ``"f1_epoch"`` are those
    of all samples of all ranks, and ``"f1"`` is the sum of the per-batch F1 of all ranks
    divided by the number of batches of all ranks, i.e. the mean over all batches. It is a
    collective call: every rank must call it, including a rank that saw no batch. With the
    NCCL backend a CPU state is moved to the current CUDA device for the reduction.

    Args:
        num_classes: The number of classes ``K``.
        average: ``"macro"``, ``"micro"`` or ``"weighted"``, for ``"f1"`` and ``"f1_epoch"``.
        sync_on_compute: Reduce across ranks in :meth:`compute` when ``torch.distributed`` is
            initialised. Set it to ``False`` for metrics computed on one rank only (for
            example an evaluation run on rank 0), which would otherwise wait for the others.
        process_group: The process group to reduce over (default: the world).

    Example:
        >>> metrics = MixedMetrics(num_classes=10)
        >>> for images, target in loader:          # doctest: +SKIP
        ...     logits = model(images)
        ...     loss = criterion(logits, target)
        ...     metrics.update(logits, target, loss=loss)
        >>> metrics.compute()                      # doctest: +SKIP
        {'accuracy': 0.41, 'f1': 0.37, 'f1_epoch': 0.40, 'loss': 1.93}
    """

    def __init__(
        self,
        num_classes: int,
        average: str = "macro",
        *,
        sync_on_compute: bool = True,
        process_group: Optional[Any] = None,
    ) -> None:
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.average = _check_average(average, allow_none=False)
        if not isinstance(sync_on_compute, bool):
            raise TypeError(f"sync_on_compute must be a bool, got {_describe(sync_on_compute)}")
        self.sync_on_compute = sync_on_compute
        self.process_group = process_group
        self.reset()

    # State layout: [tp_w (K), true_w (K), pred (K), present (K), f1_sum, loss_sum, invalid]
    def _offsets(self) -> Tuple[int, int, int]:
        k4 = 4 * self.num_classes
        return k4, k4 + 1, k4 + 2

    def reset(self) -> None:
        """Forget every batch seen so far (the next :meth:`update` may use another device)."""
        self._state: Optional[Tensor] = None
        self._n_batches = 0
        self._n_samples = 0
        self._n_loss_samples = 0
        self._reduced: Optional[Tensor] = None

    @property
    def device(self) -> Optional[torch.device]:
        """The device of the state, ``None`` before the first update after a reset."""
        return None if self._state is None else self._state.device

    def update(self, logits: Tensor, target: Target, loss: Union[Tensor, float, None] = None) -> None:
        """Add a batch to the epoch. No host synchronisation.

        Args:
            logits: Scores of shape ``(B, num_classes)`` or integer class predictions ``(B,)``.
            target: Integer class indices of shape ``(B,)``, or a mixed target
                ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a
                number or a tensor of shape ``()`` or ``(B,)``, on the device of ``logits``.
            loss: The batch's mean loss, a 0-d (or one-element) tensor or a number; it is
                detached and weighted by ``B``. ``None`` leaves the loss of this batch out.

        Raises:
            TypeError: Wrong types or dtypes, as for :func:`mixed_f1`, or a bad ``loss``.
            ValueError: Shapes that do not match, an empty batch, logits with a number of
                columns other than ``num_classes``, a batch on another device than the
                previous ones since :meth:`reset`, or (on CPU) labels out of range or ``lam``
                outside ``[0, 1]``. On an accelerator the last two are reported by
                :meth:`compute`.
        """
        batch = _prepare(logits, target, self.num_classes, top_k=1, check_pred=True)
        device = batch.pred.device
        loss_value = _check_loss(loss)
        if self._state is not None and self._state.device != device:
            raise ValueError(
                f"logits must be on the device of the previous batches ({self._state.device}) "
                f"until reset(), got {device}"
            )
        if self._state is None:
            self._state = torch.zeros(
                4 * self.num_classes + 3, dtype=_acc_dtype(device), device=device
            )
        k = self.num_classes
        state = self._state
        i_f1, i_loss, i_invalid = self._offsets()
        batch_size = batch.pred.shape[0]

        stats = _class_stats(batch, k)
        f1 = _batch_f1(stats, batch, self.average)
        state[: 2 * k].view(2, k).add_(stats.weighted)
        state[2 * k: 3 * k].add_(stats.pred)
        state[3 * k: 4 * k].add_(stats.present)
        state[i_f1].add_(f1)
        if loss_value is not None:
            if isinstance(loss_value, Tensor):
                # Non-blocking only host-to-device: a device-to-host copy must complete first.
                loss_value = loss_value.to(
                    device=device, dtype=state.dtype, non_blocking=device.type != "cpu"
                )
            state[i_loss].add_(loss_value * batch_size)
            self._n_loss_samples += batch_size
        if batch.invalid is not None:
            state[i_invalid].add_(batch.invalid)
        self._n_batches += 1
        self._n_samples += batch_size
        self._reduced = None

    def _reduce(self) -> Tensor:
        """The state of the epoch (summed over ranks) on the host: one sync, one all_reduce."""
        if self._reduced is not None:
            return self._reduced
        distributed = (
            self.sync_on_compute and dist.is_available() and dist.is_initialized()
        )
        if self._state is None and not distributed:
            raise RuntimeError(
                "MixedMetrics.compute() was called before any update(): there is no batch "
                "to compute metrics of"
            )
        if self._state is None:
            # This rank saw no batch but must still take part in the collective.
            state = torch.zeros(4 * self.num_classes + 3, dtype=torch.float64)
        else:
            state = self._state
        counts = torch.tensor(
            [self._n_batches, self._n_samples, self._n_loss_samples], dtype=state.dtype
        ).to(state.device)
        flat = torch.cat([state, counts])
        if distributed:
            backend = dist.get_backend(self.process_group)
            if backend == "nccl" and flat.device.type != "cuda":
                flat = flat.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=self.process_group)
        flat = flat.to(device="cpu", dtype=torch.float64)  # the one synchronisation
        self._reduced = flat
        return flat

    def _reduced_state(self) -> Tuple[Tensor, Dict[str, float]]:
        flat = self._reduce()
        k = self.num_classes
        i_f1, i_loss, i_invalid = self._offsets()
        n_batches, n_samples, n_loss = (float(v) for v in flat[i_invalid + 1:])
        if n_batches == 0:
            raise RuntimeError(
                "MixedMetrics.compute() was called before any update() on any rank: there is "
                "no batch to compute metrics of"
            )
        invalid = float(flat[i_invalid])
        if invalid > 0:
            raise ValueError(
                f"MixedMetrics received {int(invalid)} invalid values since reset(): labels "
                f"or class predictions outside [0, {k}) or lam outside [0, 1] (on an "
                "accelerator these are only checked here, in compute())"
            )
        sums = {
            "f1_sum": float(flat[i_f1]),
            "loss_sum": float(flat[i_loss]),
            "n_batches": n_batches,
            "n_samples": n_samples,
            "n_loss": n_loss,
        }
        return flat[: 4 * k].view(4, k), sums

    def compute(self) -> Dict[str, float]:
        """The metrics of the epoch so far (all ranks when distributed; see the class doc).

        Synchronises with the device once and, when ``torch.distributed`` is initialised and
        ``sync_on_compute`` is true, makes one ``all_reduce`` (a collective call). The result
        is kept until the next :meth:`update` or :meth:`reset`, so a following
        :meth:`per_class_f1` costs no second reduction.

        Returns:
            ``{"accuracy", "f1", "f1_epoch"}`` and, when some batch came with a loss,
            ``"loss"``; all Python floats.

        Raises:
            RuntimeError: No :meth:`update` since the last :meth:`reset` (on any rank).
            ValueError: Some batch had labels out of range or ``lam`` outside ``[0, 1]`` on an
                accelerator, where :meth:`update` does not check values.
        """
        per_class, sums = self._reduced_state()
        tp, true, pred, present = per_class
        f1_epoch = _f1_from_stats(tp, true, pred, present, self.average)
        out = {
            "accuracy": float(tp.sum()) / sums["n_samples"],
            "f1": sums["f1_sum"] / sums["n_batches"],
            "f1_epoch": float(f1_epoch),
        }
        if sums["n_loss"] > 0:
            out["loss"] = sums["loss_sum"] / sums["n_loss"]
        return out

    def per_class_f1(self) -> Tensor:
        """Per-class F1 of the epoch from the accumulated lam-weighted confusion matrix.

        Equal to scikit-learn's ``f1_score`` of the epoch (as ``"f1_epoch"``) with
        ``labels=range(num_classes), average=None, zero_division=0``: classes absent from the
        epoch score 0. Reuses the reduction of a preceding :meth:`compute`; otherwise it
        reduces itself (then, when distributed, every rank must call it).

        Returns:
            A float64 CPU tensor of shape ``(num_classes,)``.

        Raises:
            RuntimeError, ValueError: As :meth:`compute`.
        """
        per_class, _ = self._reduced_state()
        tp, true, pred, present = per_class
        return _f1_from_stats(tp, true, pred, present, None)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, average={self.average!r}, "
            f"batches={self._n_batches}, samples={self._n_samples})"
        )


def _check_loss(loss: Any) -> Union[Tensor, float, None]:
    if loss is None:
        return None
    if isinstance(loss, Tensor):
        if loss.dtype == torch.bool or loss.is_complex() or not loss.is_floating_point():
            raise TypeError(
                f"loss must be the batch's mean loss, a real floating tensor or a number, "
                f"got dtype {loss.dtype}"
            )
        if loss.numel() != 1:
            raise ValueError(
                "loss must be the batch's mean loss, a 0-d tensor or a number, "
                f"got shape {tuple(loss.shape)}"
            )
        return loss.detach().reshape(())
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise TypeError(
            f"loss must be the batch's mean loss, a 0-d tensor or a number, got {_describe(loss)}"
        )
    return float(loss)
