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
``ValueError``; on an accelerator they would need a synchronisation, so there the helpers
return NaN for a batch with such values and :meth:`MixedMetrics.compute` raises the
``ValueError`` at the end of the epoch. Indices are clamped first, so a bad label never
indexes out of bounds on the device.

scikit-learn is the reference of the tests, not a dependency: :func:`mixed_f1` equals
``sklearn.metrics.f1_score(..., zero_division=0)`` as described in its docstring.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from torch import Tensor

from ._checks import describe, check_choice, check_lam, check_positive_int, split_target

__all__ = ["mixed_accuracy", "mixed_f1", "MixedMetrics"]

Target = Union[Tensor, Sequence[Any]]
"""A plain tensor of class indices ``(B,)`` or a mixed target ``(y_a, y_b, lam)``."""

_AVERAGES = ("macro", "micro", "weighted")

# Rows of the per-class counts of a batch (see ``_class_counts``), K entries each. The first
# ``_STATE_ROWS`` are also the per-class state of MixedMetrics, so an update adds them at once.
_TP_W = 0  # lam-weighted true positives of [y_a, y_b] vs [pred, pred] (indexed by pred)
_TRUE_WA = 1  # lam-weighted support of y_a (sum of lam)
_TRUE_WB = 2  # lam-weighted support of y_b (sum of 1 - lam)
_PRED = 3  # prediction counts
_OCC_A = 4  # occurrences in y_a, unweighted (= support of y_a)
_OCC_B = 5  # occurrences in y_b, unweighted (= support of y_b)
_STATE_ROWS = 6
_TP_A = 6  # unweighted true positives vs y_a (scalar lam only)
_TP_B = 7  # unweighted true positives vs y_b (scalar lam only)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


class _Batch(NamedTuple):
    """A checked batch: predictions, labels and mixing weights on one device."""

    pred: Tensor  # (B,) int64 top-1 predictions
    logits: Optional[Tensor]  # (B, K) scores, None when class predictions were given
    y_a: Tensor  # (B,) int64
    y_b: Tensor  # (B,) int64 (y_a itself for a plain target)
    lam: Union[float, Tensor]  # float, 0-d or (B,) tensor of the accumulation dtype
    mixed: bool  # a mixed target (y_a, y_b, lam), not a plain label tensor
    per_sample: bool  # lam is a (B,) tensor
    invalid: Optional[Tensor]  # 0-d count of lam values outside [0, 1] (accelerators only)


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
            f"got {describe(logits)}"
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
        raise TypeError(f"{name} must be {expected}, got {describe(y)}")
    if tuple(y.shape) != (batch_size,):
        hint = " (label vectors (B, K) are not supported)" if y.dim() == 2 else ""
        raise ValueError(
            f"{name} must be {expected} to match logits{hint}, got shape {tuple(y.shape)}"
        )
    if y.device != device:
        raise ValueError(
            f"{name} must be on the same device as logits ({device}), got {y.device}"
        )


def _prepare(logits: Any, target: Any, num_classes: Optional[int], top_k: int) -> _Batch:
    """Check types, shapes, devices and ``lam`` of a batch; labels are range-checked later."""
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
    per_sample = False
    invalid: Optional[Tensor] = None
    if isinstance(lam, Tensor):
        if lam.dim() == 0 and lam.device.type == "cpu":
            lam = float(lam)  # a host value: reading it is no device synchronisation
        else:
            if lam.device != device:
                raise ValueError(
                    f"target.lam must be on the same device as logits ({device}), "
                    f"got {lam.device}"
                )
            per_sample = lam.dim() == 1
            lam = lam.to(_acc_dtype(device))
            if not _eager_checks(device):  # check_lam skipped the values
                invalid = (~((lam >= 0) & (lam <= 1))).sum()
    pred = logits.argmax(1) if logits.dim() == 2 else logits.long()
    y_a = y_a.long()
    return _Batch(
        pred=pred,
        logits=logits if logits.dim() == 2 else None,
        y_a=y_a,
        y_b=y_b.long() if is_mixed else y_a,
        lam=lam,
        mixed=is_mixed,
        per_sample=per_sample,
        invalid=invalid,
    )


def _label_names(batch: _Batch) -> List[Tuple[Tensor, str]]:
    if batch.mixed:
        return [(batch.y_a, "target.y_a"), (batch.y_b, "target.y_b")]
    return [(batch.y_a, "target")]


def _raise_out_of_range(named: List[Tuple[Tensor, str]], limit: Optional[int]) -> None:
    """Raise the ValueError for the first tensor of ``named`` with a value out of range."""
    for y, name in named:
        bad = y < 0 if limit is None else (y < 0) | (y >= limit)
        if bool(bad.any()):
            expected = ">= 0" if limit is None else f"in [0, {limit})"
            raise ValueError(f"{name} must hold class indices {expected}, got {int(y[bad][0])}")


def _add_invalid(a: Optional[Tensor], b: Optional[Tensor]) -> Optional[Tensor]:
    if a is None:
        return b
    return a if b is None else a + b


def _nan_if_invalid(value: Tensor, invalid: Optional[Tensor]) -> Tensor:
    if invalid is None:
        return value
    return torch.where(invalid > 0, torch.full_like(value, math.nan), value)


# --------------------------------------------------------------------------------------------
# Statistics of the confusion matrix
# --------------------------------------------------------------------------------------------


def _class_counts(batch: _Batch, num_classes: int) -> Tuple[Tensor, Optional[Tensor]]:
    """Per-class counts of a batch (rows ``_TP_W ...``) from one ``scatter_add_``.

    These are the diagonal and the margins of the batch's confusion matrices, all F1 needs.
    Row ``r`` of ``value`` is added at the classes in row ``r`` of ``index``. ``scatter_add_``
    rather than ``torch.bincount``: on CUDA ``bincount`` reads its maximum back to the host to
    size its output, and ``scatter_add_`` stays deterministic under
    ``torch.use_deterministic_algorithms``. True positives are indexed by the prediction,
    which equals the label wherever there is a hit.

    The labels (and class predictions) are range-checked here, on the stacked index: eagerly
    on CPU, and on an accelerator by counting the bad values and clamping the index.

    Returns:
        ``(counts, invalid)``: ``counts`` of shape ``(8, K)`` for a scalar ``lam`` (rows
        ``_TP_A``, ``_TP_B`` added) and ``(6, K)`` otherwise; ``invalid`` a 0-d count of
        values out of range (and of ``lam`` outside ``[0, 1]``), or ``None`` on CPU.
    """
    k = num_classes
    pred, y_a, y_b = batch.pred, batch.y_a, batch.y_b
    device = pred.device
    dtype = _acc_dtype(device)
    hit_a = pred == y_a
    if not batch.mixed:
        index = torch.stack([pred, y_a, y_a, pred, y_a, y_a])
        ones = torch.ones_like(hit_a)
        zeros = torch.zeros_like(hit_a)
        value = torch.stack([hit_a, ones, zeros, ones, ones, zeros]).to(dtype)
    elif batch.per_sample:
        lam = batch.lam
        lam_b = 1.0 - lam
        index = torch.stack([pred, y_a, y_b, pred, y_a, y_b])
        tp_w = lam * hit_a + lam_b * (pred == y_b)
        ones = torch.ones_like(lam)
        value = torch.stack([tp_w, lam, lam_b, ones, ones, ones])
    else:
        lam = batch.lam
        hit_a = hit_a.to(dtype)
        hit_b = (pred == y_b).to(dtype)
        if isinstance(lam, Tensor):  # 0-d, on an accelerator
            lam_a, lam_b = lam.expand_as(hit_a), (1.0 - lam).expand_as(hit_a)
        else:
            lam_a, lam_b = torch.full_like(hit_a, lam), torch.full_like(hit_a, 1.0 - lam)
        index = torch.stack([pred, y_a, y_b, pred, y_a, y_b, pred, pred])
        tp_w = torch.lerp(hit_b, hit_a, lam)  # lam * hit_a + (1 - lam) * hit_b
        ones = torch.ones_like(hit_a)
        value = torch.stack([tp_w, lam_a, lam_b, ones, ones, ones, hit_a, hit_b])

    invalid = batch.invalid
    if _eager_checks(device):
        lo, hi = torch.aminmax(index)
        if int(lo) < 0 or int(hi) >= k:
            named = _label_names(batch)
            if batch.logits is None:
                named.append((pred, "logits"))
            _raise_out_of_range(named, k)
    else:
        # The first rows hold pred and each label tensor once: count each bad value once.
        checked = index[:2] if not batch.mixed else index[:3]
        invalid = _add_invalid(invalid, ((checked < 0) | (checked >= k)).sum())
        index = index.clamp(0, k - 1)

    counts = torch.zeros(index.shape[0], k, dtype=dtype, device=device)
    return counts.scatter_add_(1, index, value), invalid


def _f1_from_stats(
    tp: Tensor, true: Tensor, pred: Tensor, present: Optional[Tensor], average: Optional[str]
) -> Tensor:
    """F1 as scikit-learn computes it with ``zero_division=0``, batched over leading dims.

    Args:
        tp: True positives per class, shape ``(..., K)``.
        true: Support (row sums of the confusion matrix) per class, shape ``(..., K)``.
        pred: Prediction counts (column sums) per class, shape ``(..., K)``.
        present: ``(..., K)``, > 0 where the class occurs in the true or the predicted labels,
            the labels scikit-learn averages over (with sample weights a class can occur
            with weight 0); ``None`` when ``true`` and ``pred`` are unweighted counts.
        average: ``"macro"``, ``"micro"``, ``"weighted"`` or ``None`` (per class).

    Returns:
        Shape ``(...)``, or ``(..., K)`` for ``average=None``.

    A class absent from both labels has ``tp = true + pred = 0``. The denominators are
    clamped to the smallest normal number (about 2.2e-308 in float64), which turns such a
    0 / 0 into 0 and changes nothing else, as long as no weight is that small (a float32
    ``lam`` never is). Each denominator of an average is > 0 for a non-empty batch.
    """
    tiny = torch.finfo(tp.dtype).tiny
    denom = true + pred
    per_class = (2 * tp) / denom.clamp_min(tiny)
    if average is None:
        return per_class
    if average == "macro":
        # Absent classes have F1 0, so summing over all K classes is fine.
        n_present = ((denom if present is None else present) > 0).sum(-1)
        return per_class.sum(-1) / n_present.clamp_min(1)
    if average == "micro":
        return (2 * tp.sum(-1)) / denom.sum(-1).clamp_min(tiny)
    # "weighted": the mean weighted by the support
    return (per_class * true).sum(-1) / true.sum(-1).clamp_min(tiny)


def _batch_f1(counts: Tensor, batch: _Batch, average: Optional[str]) -> Tensor:
    """Per-batch mixed F1 (see :func:`mixed_f1`) from the rows of ``_class_counts``."""
    if not batch.mixed:
        return _f1_from_stats(counts[_TP_W], counts[_OCC_A], counts[_PRED], None, average)
    if batch.per_sample:
        true = counts[_TRUE_WA] + counts[_TRUE_WB]
        present = counts[_PRED:_OCC_B + 1].sum(0) if average == "macro" else None
        return _f1_from_stats(counts[_TP_W], true, counts[_PRED], present, average)
    tp = counts[_TP_A:_TP_B + 1]  # (2, K): vs y_a, vs y_b
    true = counts[_OCC_A:_OCC_B + 1]
    f1 = _f1_from_stats(tp, true, counts[_PRED].expand_as(tp), None, average)
    return torch.lerp(f1[1], f1[0], batch.lam)  # lam * F1(y_a) + (1 - lam) * F1(y_b)


def _epoch_f1(state: Tensor, average: Optional[str]) -> Tensor:
    """F1 of the accumulated rows ``_TP_W ... _OCC_B`` (shape ``(6, K)``)."""
    true = state[_TRUE_WA] + state[_TRUE_WB]
    present = state[_PRED:_OCC_B + 1].sum(0)
    return _f1_from_stats(state[_TP_W], true, state[_PRED], present, average)


# --------------------------------------------------------------------------------------------
# Per-batch helpers
# --------------------------------------------------------------------------------------------


def mixed_accuracy(logits: Tensor, target: Target, top_k: int = 1) -> Tensor:
    """Accuracy of a (mixed) batch: the ``lam``-weighted accuracy against ``y_a`` and ``y_b``.

    With a scalar ``lam`` this is ``lam * acc(pred, y_a) + (1 - lam) * acc(pred, y_b)``; with a
    per-sample ``lam`` of shape ``(B,)`` it is the mean over samples of
    ``lam_i * [pred_i == y_a_i] + (1 - lam_i) * [pred_i == y_b_i]``. Both equal
    scikit-learn's ``accuracy_score([y_a, y_b], [pred, pred], sample_weight=[lam, 1 - lam])``.
    With a plain target it is the ordinary accuracy. No host synchronisation: the result
    stays a tensor on the device.

    Args:
        logits: Scores of shape ``(B, K)`` (``pred = logits.argmax(1)``) or integer class
            predictions of shape ``(B,)``.
        target: Integer class indices of shape ``(B,)``, or a mixed target
            ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a number
            or a tensor of shape ``()`` or ``(B,)``, all on the device of ``logits``.
        top_k: A sample counts as correct for a label when the label is among its ``top_k``
            highest scores. ``top_k > 1`` needs scores of shape ``(B, K)`` with ``K >= top_k``.

    Returns:
        A 0-d float64 tensor (float32 on MPS) in ``[0, 1]`` on the device of ``logits``. On an
        accelerator a batch with labels outside ``[0, K)`` (``< 0`` with class predictions)
        or ``lam`` outside ``[0, 1]`` gives NaN instead of an error.

    Raises:
        TypeError: ``logits``, a label tensor, ``lam`` or ``top_k`` has the wrong type or
            dtype.
        ValueError: Shapes or devices that do not match, an empty batch, a bad ``top_k``, or
            (on CPU) labels out of range or ``lam`` outside ``[0, 1]``.
    """
    top_k = check_positive_int(top_k, "top_k")
    batch = _prepare(logits, target, num_classes=None, top_k=top_k)
    limit = None if batch.logits is None else batch.logits.shape[1]
    invalid = batch.invalid
    for y, name in _label_names(batch):
        bad = y < 0 if limit is None else (y < 0) | (y >= limit)
        if _eager_checks(y.device):
            if bool(bad.any()):
                _raise_out_of_range([(y, name)], limit)
        else:
            invalid = _add_invalid(invalid, bad.sum())
    dtype = _acc_dtype(batch.pred.device)
    if top_k == 1:
        hit_a = batch.pred == batch.y_a
        hit_b = batch.pred == batch.y_b if batch.mixed else hit_a
    else:
        top = batch.logits.topk(top_k, dim=1).indices
        hit_a = (top == batch.y_a.unsqueeze(1)).any(1)
        hit_b = (top == batch.y_b.unsqueeze(1)).any(1) if batch.mixed else hit_a
    if not batch.mixed:
        acc = hit_a.to(dtype).mean()
    elif batch.per_sample:
        lam = batch.lam
        acc = (lam * hit_a + (1.0 - lam) * hit_b).mean()
    else:
        acc = torch.lerp(hit_b.to(dtype).mean(), hit_a.to(dtype).mean(), batch.lam)
    return _nan_if_invalid(acc, invalid)


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

    A per-sample ``lam`` whose entries are all equal is *not* the same as that scalar
    ``lam``: one is the F1 of a weighted confusion matrix, the other a mixture of two F1
    scores. Like scikit-learn, ``"macro"`` averages over the classes that occur in the true or
    the predicted labels (a class that occurs only with weight 0 counts, with F1 0), so classes
    absent from the batch are left out; ``"micro"`` equals the accuracy.

    Computed in torch from the diagonal and the margins of the batch's confusion matrix, on
    the device of ``logits``, without host synchronisation.

    Args:
        logits: Scores of shape ``(B, num_classes)`` or integer class predictions ``(B,)``.
        target: Integer class indices of shape ``(B,)``, or a mixed target
            ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a number
            or a tensor of shape ``()`` or ``(B,)``, all on the device of ``logits``.
        num_classes: The number of classes ``K``; labels must lie in ``[0, K)``.
        average: ``"macro"``, ``"micro"``, ``"weighted"``, or ``None`` for the per-class
            scores of all ``K`` classes, absent classes 0 (scikit-learn's
            ``f1_score(..., labels=range(K), average=None, zero_division=0)``, mixed as
            above).

    Returns:
        A 0-d float64 tensor (float32 on MPS), of shape ``(K,)`` for ``average=None``, on the
        device of ``logits``. On an accelerator a batch with labels or predictions outside
        ``[0, K)`` or ``lam`` outside ``[0, 1]`` gives NaN instead of an error.

    Raises:
        TypeError: ``logits``, a label tensor or ``lam`` has the wrong type or dtype, or
            ``num_classes`` is not an int.
        ValueError: ``num_classes < 1``, an unknown ``average``, shapes or devices that do not
            match, an empty batch, or (on CPU) labels or predictions out of range or ``lam``
            outside ``[0, 1]``.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    average = _check_average(average, allow_none=True)
    batch = _prepare(logits, target, num_classes, top_k=1)
    counts, invalid = _class_counts(batch, num_classes)
    return _nan_if_invalid(_batch_f1(counts, batch, average), invalid)


# --------------------------------------------------------------------------------------------
# Epoch tracker
# --------------------------------------------------------------------------------------------


class MixedMetrics:
    """Accuracy, loss and F1 of a training or evaluation epoch, on mixed or plain batches.

    Call :meth:`update` every batch, :meth:`compute` at the end of the epoch and
    :meth:`reset` before the next one (torchmetrics-style). The state lives on the device of
    the first batch after a reset, in float64 (float32 on MPS): per-class lam-weighted true
    positives, supports and prediction counts (the diagonal and the margins of the epoch's
    confusion matrix, ``O(num_classes)`` memory) and a few sums. :meth:`update` makes no host
    synchronisation; :meth:`compute` synchronises once.

    :meth:`compute` returns a dict of Python floats:

    * ``"accuracy"``: the sample-weighted top-1 accuracy of the epoch (the mean over all
      samples of ``lam_i * [pred_i == y_a_i] + (1 - lam_i) * [pred_i == y_b_i]``).
    * ``"f1"``: the mean over batches of the per-batch :func:`mixed_f1`. It depends on the
      batch size and on how the classes fall into batches.
    * ``"f1_epoch"``: the F1 of the whole epoch from the accumulated lam-weighted confusion
      matrix: scikit-learn's ``f1_score`` on all of the epoch's ``[y_a, y_b]`` vs
      ``[pred, pred]`` with ``sample_weight=[lam, 1 - lam]`` and ``zero_division=0`` (a
      plain target counts as ``y_b = y_a``, ``lam = 1``: the ordinary F1).
    * ``"loss"``: the sample-weighted mean of the batch losses given to :meth:`update`,
      ``sum(loss * B) / sum(B)`` over the batches that came with a loss. **The key is
      absent** when no batch since the last :meth:`reset` came with a loss (on any rank).

    Distributed: when ``torch.distributed`` is initialised (and ``sync_on_compute`` is true),
    :meth:`compute` sums the state of all ranks with one ``all_reduce``, so every rank returns
    the metrics of the whole epoch. ``"accuracy"``, ``"loss"`` and ``"f1_epoch"`` are those of
    all samples of all ranks; ``"f1"`` is the sum over ranks of the per-batch F1 sums divided
    by the sum over ranks of the numbers of batches, i.e. the mean over all batches of all
    ranks. It is a collective call: every rank must call it, also a rank that saw no batch.
    With the NCCL backend a CPU state is moved to the current CUDA device for the reduction.

    Args:
        num_classes: The number of classes ``K``.
        average: ``"macro"``, ``"micro"`` or ``"weighted"``, for ``"f1"`` and ``"f1_epoch"``.
        sync_on_compute: Reduce across ranks in :meth:`compute` when ``torch.distributed`` is
            initialised. Set it to ``False`` for metrics computed on one rank only (say, an
            evaluation on rank 0), which would otherwise wait for the other ranks forever.
        process_group: The process group to reduce over (default: the whole world).

    Raises:
        TypeError: ``num_classes`` is not an int or ``sync_on_compute`` not a bool.
        ValueError: ``num_classes < 1`` or an unknown ``average``.

    Example:
        >>> metrics = MixedMetrics(num_classes=10)
        >>> for images, target in loader:  # doctest: +SKIP
        ...     logits = model(images)
        ...     loss = criterion(logits, target)
        ...     metrics.update(logits, target, loss=loss)
        >>> metrics.compute()  # doctest: +SKIP
        {'accuracy': 0.41, 'f1': 0.37, 'f1_epoch': 0.4, 'loss': 1.93}
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
            raise TypeError(f"sync_on_compute must be a bool, got {describe(sync_on_compute)}")
        self.sync_on_compute = sync_on_compute
        self.process_group = process_group
        k = self.num_classes
        # State: _STATE_ROWS rows of K, then the sums below; the counters live on the host.
        self._i_f1 = _STATE_ROWS * k
        self._i_loss = self._i_f1 + 1
        self._i_invalid = self._i_f1 + 2
        self._state_size = self._i_f1 + 3
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far (the next :meth:`update` may use another device)."""
        self._state: Optional[Tensor] = None
        self._n_batches = 0
        self._n_samples = 0
        self._n_loss_samples = 0
        self._reduced: Optional[Tensor] = None

    @property
    def device(self) -> Optional[torch.device]:
        """The device of the state; ``None`` before the first update after a reset."""
        return None if self._state is None else self._state.device

    def update(
        self, logits: Tensor, target: Target, loss: Union[Tensor, float, None] = None
    ) -> None:
        """Add a batch to the epoch. No host synchronisation.

        Args:
            logits: Scores of shape ``(B, num_classes)`` or integer class predictions ``(B,)``.
            target: Integer class indices of shape ``(B,)``, or a mixed target
                ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a
                number or a tensor of shape ``()`` or ``(B,)``, on the device of ``logits``.
            loss: The batch's mean loss, a 0-d (or one-element) tensor or a number; it is
                detached, copied to the device of the state if needed, and weighted by ``B``.
                ``None`` leaves this batch out of ``"loss"``.

        Raises:
            TypeError: Wrong types or dtypes (as for :func:`mixed_f1`) or a bad ``loss``.
            ValueError: Shapes that do not match, an empty batch, logits with another number
                of columns than ``num_classes``, a batch on another device than the previous
                ones since :meth:`reset`, or (on CPU) labels out of range or ``lam`` outside
                ``[0, 1]``; on an accelerator :meth:`compute` reports those last two.
        """
        batch = _prepare(logits, target, self.num_classes, top_k=1)
        loss_value = _check_loss(loss)
        device = batch.pred.device
        if self._state is not None and self._state.device != device:
            raise ValueError(
                f"logits must be on the device of the previous batches ({self._state.device}) "
                f"until reset(), got {device}"
            )
        counts, invalid = _class_counts(batch, self.num_classes)
        f1 = _batch_f1(counts, batch, self.average)
        # Every check has passed: from here on the state changes.
        if self._state is None:
            self._state = torch.zeros(self._state_size, dtype=_acc_dtype(device), device=device)
        state = self._state
        state[: self._i_f1].view(_STATE_ROWS, -1).add_(counts[:_STATE_ROWS])
        state[self._i_f1].add_(f1)
        batch_size = batch.pred.shape[0]
        if loss_value is not None:
            if isinstance(loss_value, Tensor):
                # Non-blocking only to an accelerator: a copy to the host must complete first.
                loss_value = loss_value.to(
                    device=device, dtype=state.dtype, non_blocking=device.type != "cpu"
                )
            state[self._i_loss].add_(loss_value * batch_size)
            self._n_loss_samples += batch_size
        if invalid is not None:
            state[self._i_invalid].add_(invalid)
        self._n_batches += 1
        self._n_samples += batch_size
        self._reduced = None

    def _reduce(self) -> Tensor:
        """The state of the epoch, summed over ranks, as a float64 CPU tensor (cached)."""
        if self._reduced is not None:
            return self._reduced
        distributed = self.sync_on_compute and dist.is_available() and dist.is_initialized()
        if self._state is None and not distributed:
            raise RuntimeError(
                "MixedMetrics.compute() was called before any update() since the last "
                "reset(): there is no batch to compute metrics of"
            )
        if self._state is None:
            # This rank saw no batch but must still take part in the collective.
            state = torch.zeros(self._state_size, dtype=torch.float64)
        else:
            state = self._state
        flat = torch.cat([state, state.new_zeros(3)])
        counters = (self._n_batches, self._n_samples, self._n_loss_samples)
        for offset, count in enumerate(counters):
            flat[self._state_size + offset].fill_(count)  # a scalar argument: no copy
        if distributed:
            if dist.get_backend(self.process_group) == "nccl" and flat.device.type != "cuda":
                flat = flat.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=self.process_group)
        self._reduced = flat.to(device="cpu", dtype=torch.float64)  # the one synchronisation
        return self._reduced

    def _checked_state(self) -> Tuple[Tensor, Dict[str, float]]:
        flat = self._reduce()
        n_batches, n_samples, n_loss = flat[self._state_size:].tolist()
        if n_batches == 0:
            raise RuntimeError(
                "MixedMetrics.compute() was called before any update() since the last "
                "reset() on any rank: there is no batch to compute metrics of"
            )
        invalid = float(flat[self._i_invalid])
        if invalid > 0:
            raise ValueError(
                f"MixedMetrics.update() received {int(invalid)} invalid value(s) since the "
                f"last reset(): labels or class predictions outside [0, {self.num_classes}) "
                "or lam outside [0, 1] (on an accelerator update() does not check values; "
                "compute() reports them)"
            )
        sums = {
            "f1_sum": float(flat[self._i_f1]),
            "loss_sum": float(flat[self._i_loss]),
            "n_batches": n_batches,
            "n_samples": n_samples,
            "n_loss": n_loss,
        }
        return flat[: self._i_f1].view(_STATE_ROWS, self.num_classes), sums

    def compute(self) -> Dict[str, float]:
        """The metrics of the epoch so far, of all ranks when distributed (see the class).

        Synchronises with the device once and, when ``torch.distributed`` is initialised and
        ``sync_on_compute`` is true, makes one ``all_reduce`` (a collective call). The reduced
        state is kept until the next :meth:`update` or :meth:`reset`, so a following
        :meth:`per_class_f1` makes no second reduction.

        Returns:
            ``"accuracy"``, ``"f1"``, ``"f1_epoch"`` and, when some batch came with a loss,
            ``"loss"``; all Python floats.

        Raises:
            RuntimeError: No :meth:`update` since the last :meth:`reset` (on any rank).
            ValueError: A batch on an accelerator had labels out of range or ``lam`` outside
                ``[0, 1]`` (values that :meth:`update` does not check there).
        """
        state, sums = self._checked_state()
        out = {
            "accuracy": float(state[_TP_W].sum()) / sums["n_samples"],
            "f1": sums["f1_sum"] / sums["n_batches"],
            "f1_epoch": float(_epoch_f1(state, self.average)),
        }
        if sums["n_loss"] > 0:
            out["loss"] = sums["loss_sum"] / sums["n_loss"]
        return out

    def per_class_f1(self) -> Tensor:
        """The per-class F1 of the epoch from the accumulated lam-weighted confusion matrix.

        scikit-learn's ``f1_score`` of the epoch (as for ``"f1_epoch"``) with
        ``labels=range(num_classes), average=None, zero_division=0``: classes absent from the
        epoch score 0. Reuses the reduction of a preceding :meth:`compute`; otherwise it
        reduces itself (then, when distributed, every rank must call it).

        Returns:
            A float64 CPU tensor of shape ``(num_classes,)``.

        Raises:
            RuntimeError: No :meth:`update` since the last :meth:`reset` (on any rank).
            ValueError: As for :meth:`compute`.
        """
        state, _ = self._checked_state()
        return _epoch_f1(state, None)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, average={self.average!r}, "
            f"batches={self._n_batches}, samples={self._n_samples})"
        )


def _check_loss(loss: Any) -> Union[Tensor, float, None]:
    if loss is None:
        return None
    if isinstance(loss, Tensor):
        if not loss.is_floating_point():
            raise TypeError(
                "loss must be the batch's mean loss, a floating tensor or a number, "
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
            f"loss must be the batch's mean loss, a 0-d tensor or a number, got {describe(loss)}"
        )
    return float(loss)
