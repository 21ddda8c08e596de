"""Accuracy, F1 and loss on mixed batches, per batch and per epoch.

Every helper takes either a mixed target ``(y_a, y_b, lam)`` (a
:class:`~cutmix_collate.MixedTarget`, or any tuple or list of length 3) or a plain tensor of
labels, for which it is the ordinary metric. ``lam`` is the share of each sample that
belongs to ``y_a``: a Python float (one box for the batch) or a tensor of shape ``(B,)`` (one
box per sample). "Weighted" accuracy here always means *lam-weighted*: each sample counts for
``y_a`` with weight ``lam`` and for ``y_b`` with weight ``1 - lam`` (not scikit-learn's
``average="weighted"``, which weights classes by their support).

Two tasks, named as torchmetrics names them: ``task="multiclass"`` (the default: class indices
``(B,)``, one label per sample) and ``task="multilabel"`` (multi-hot label vectors ``(B, K)``
of 0 and 1, any integer, bool or float dtype; ``num_classes`` is the number of labels ``K``).
For multi-label, float scores ``(B, K)`` are logits, as ``BCEWithLogitsLoss`` takes them: a
label is predicted where ``sigmoid(logit) > threshold``; integer or bool ``(B, K)`` are 0/1
predictions. The definitions follow scikit-learn on indicator matrices (see
``docs/multilabel.md``).

Everything is computed in torch on the device of the inputs, from the diagonal and the margins
of a (lam-weighted) confusion matrix, in float64 (float32 on MPS, which has no float64). The
per-batch helpers and :meth:`MixedMetrics.update` make no host synchronisation on an
accelerator, so a GPU training loop is not stalled every batch; :meth:`MixedMetrics.compute`
synchronises once per epoch.

Input checks that need tensor values (labels in ``[0, num_classes)``, ``lam`` in ``[0, 1]``)
run eagerly on the CPU and raise a ``ValueError``; on an accelerator they would need a
synchronisation, so there the helpers return NaN for a batch with such values and
:meth:`MixedMetrics.compute` raises the ``ValueError`` at the end of the epoch. Indices are
clamped first, so a bad label never indexes out of bounds on the device.

scikit-learn is the reference of the tests, not a dependency: :func:`mixed_f1` and the
``"f1"`` of :meth:`MixedMetrics.compute` equal ``sklearn.metrics.f1_score(..., zero_division=0)``
as described in their docstrings.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Literal, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from torch import Tensor

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

__all__ = ["mixed_accuracy", "mixed_f1", "MixedMetrics"]

Target = Union[Tensor, Sequence[Any]]
"""A plain tensor of labels (``(B,)`` or ``(B, K)``) or a mixed target ``(y_a, y_b, lam)``."""

Task = Literal["multiclass", "multilabel"]
_AVERAGES = ("macro", "micro", "weighted", "samples")  # "samples": multi-label only
_MULTI_HOT_HINT = "; class indices of shape (B,) need task='multiclass'"


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


class _Batch(NamedTuple):
    """A checked batch on one device; a plain target is ``y_b = y_a``, ``lam = 1.0``.

    Multi-class: ``pred``, ``y_a``, ``y_b`` are int64 ``(B,)``. Multi-label: they are 0/1
    label vectors ``(B, K)`` in the accumulation dtype (``pred.dim() == 2`` tells the task).
    """

    pred: Tensor  # top-1 class predictions (B,) or 0/1 label predictions (B, K)
    y_a: Tensor
    y_b: Tensor
    lam: Union[float, Tensor]  # a float, or a 0-d or (B,) tensor of the accumulation dtype
    invalid: Optional[Tensor]  # 0-d count of bad labels and lam values (accelerators only)


def _acc_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def _eager_checks(device: torch.device) -> bool:
    """Whether value checks run eagerly (they need the values on the host)."""
    return device.type == "cpu"


def _check_task(task: Any, threshold: Any) -> Tuple[str, float]:
    task = check_choice(task, ("multiclass", "multilabel"), "task")
    threshold = check_prob(threshold, "threshold")
    if task == "multiclass" and threshold != 0.5:
        raise ValueError(f"threshold applies to task='multilabel' only, got threshold={threshold!r} "
                         "with task='multiclass' (which takes the top-scoring class)")
    return task, threshold


def _check_average(average: Any, task: str, none_ok: bool) -> Optional[str]:
    """The one check of ``average``: ``"samples"`` is multi-label only, ``None`` per class."""
    allowed = _AVERAGES if task == "multilabel" else _AVERAGES[:3]
    if (average is None and none_ok) or (isinstance(average, str) and average in allowed):
        return average
    names = ", ".join(repr(a) for a in allowed + ((None,) if none_ok else ()))
    raise ValueError(f"average must be one of {names} for task={task!r}, got {average!r}")


def _check_logits(logits: Any, num_classes: Optional[int], top_k: int, multilabel: bool) -> None:
    if not isinstance(logits, Tensor):
        raise TypeError(
            "logits must be a tensor of scores (B, K) or of class predictions (B,), "
            f"got {describe(logits)}"
        )
    if multilabel and (logits.dim() != 2 or top_k != 1):
        what = f"top_k must be 1, got {top_k}" if logits.dim() == 2 else (
            f"logits must be scores or 0/1 predictions of shape (B, K), got shape {tuple(logits.shape)}")
        raise ValueError(f"with task='multilabel' {what}")
    if logits.dim() == 2:
        if logits.is_complex() or (logits.dtype == torch.bool and not multilabel):
            raise TypeError(f"logits of shape (B, K) must be a real tensor, got dtype {logits.dtype}")
        n_cols = logits.shape[1]
        if num_classes is not None and n_cols != num_classes:
            raise ValueError(
                f"logits must have shape (B, num_classes={num_classes}), got shape {tuple(logits.shape)}"
            )
        if n_cols == 0:
            raise ValueError(f"logits must have at least one class column, got shape {tuple(logits.shape)}")
        if top_k > n_cols:
            raise ValueError(f"top_k must be <= the number of classes in logits ({n_cols}), got {top_k}")
    elif logits.dim() == 1:
        if logits.is_floating_point() or logits.is_complex() or logits.dtype == torch.bool:
            raise TypeError(f"logits of shape (B,) must be integer class predictions, got dtype {logits.dtype}")
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


def _check_metric_labels(y: Tensor, name: str, shape: Tuple[int, ...], device: torch.device) -> None:
    """Class indices when ``shape`` is ``(B,)``, else label vectors ``(B, K)`` of any real dtype."""
    multilabel = len(shape) == 2
    expected = (f"multi-hot label vectors: a tensor of shape {shape}" if multilabel
                else f"class indices: an integer tensor of shape {shape}")
    if y.is_complex() or (not multilabel and (y.dtype == torch.bool or y.is_floating_point())):
        raise TypeError(f"{name} must be {expected}, got {describe(y)}")
    if tuple(y.shape) != shape:
        hint = " (label vectors (B, K) need task='multilabel')" if y.dim() == 2 and not multilabel else ""
        raise ValueError(f"{name} must be {expected} to match logits{hint}, got shape {tuple(y.shape)}")
    if y.device != device:
        raise ValueError(f"{name} must be on the same device as logits ({device}), got {y.device}")


def _lam_on_device(lam: Any, batch_size: int, device: torch.device) -> Tuple[Union[float, Tensor], Optional[Tensor]]:
    """``lam`` as a float or a tensor of the accumulation dtype, and its count of bad values."""
    lam = check_lam(lam, batch_size=batch_size, name="target.lam")
    if not isinstance(lam, Tensor):
        return lam, None
    if lam.dim() == 0 and lam.device.type == "cpu":
        return float(lam), None  # a host value: reading it is no device synchronisation
    if lam.device != device:
        raise ValueError(f"target.lam must be on the same device as logits ({device}), got {lam.device}")
    lam = lam.to(_acc_dtype(device))
    if _eager_checks(device):  # check_lam has checked the values
        return lam, None
    return lam, (~((lam >= 0) & (lam <= 1))).sum()


def _prepare(logits: Any, target: Any, num_classes: Optional[int], top_k: int, task: str = "multiclass",
             threshold: float = 0.5) -> _Batch:
    """Check a batch: types, shapes, devices, ``lam``, and the values of labels and predictions.

    Multi-class labels are checked against ``num_classes``, or else against the number of score
    columns (``>= 0`` for class predictions); class predictions against ``num_classes`` when
    given. Multi-label labels and 0/1 predictions must hold only 0 and 1.
    """
    multilabel = task == "multilabel"
    _check_logits(logits, num_classes, top_k, multilabel)
    y_a, y_b, lam, is_mixed = split_target(target, name="target")
    batch_size, device = logits.shape[0], logits.device
    names = ("target.y_a", "target.y_b") if is_mixed else ("target", "target")
    shape = tuple(logits.shape) if multilabel else (batch_size,)
    _check_metric_labels(y_a, names[0], shape, device)
    _check_metric_labels(y_b, names[1], shape, device)
    lam, invalid = _lam_on_device(lam, batch_size, device)
    checked = [(y_a, names[0]), (y_b, names[1])][: 2 if is_mixed else 1]
    eager = _eager_checks(device)
    if multilabel:
        checked += [(logits, "logits")] if not logits.is_floating_point() else []
        bads = [check_multi_hot(y, name, _MULTI_HOT_HINT, eager=eager) for y, name in checked]
        dtype = _acc_dtype(device)
        pred = logits.to(dtype).sigmoid() > threshold if logits.is_floating_point() else logits
        pred, y_a, y_b = pred.to(dtype), y_a.to(dtype), y_b.to(dtype)
    else:
        limit = num_classes if num_classes is not None or logits.dim() == 1 else logits.shape[1]
        checked += [(logits, "logits")] if logits.dim() == 1 and num_classes is not None else []
        bads = [check_class_indices(y, limit, name, eager=eager) for y, name in checked]
        pred, y_a, y_b = logits.argmax(1) if logits.dim() == 2 else logits.long(), y_a.long(), y_b.long()
    for bad in bads:
        invalid = bad if invalid is None else invalid if bad is None else invalid + bad
    return _Batch(pred, y_a, y_b, lam, invalid)


def _nan_if_invalid(value: Tensor, invalid: Optional[Tensor]) -> Tensor:
    if invalid is None:
        return value
    return torch.where(invalid > 0, torch.full_like(value, math.nan), value)


def _lam_weights(batch: _Batch) -> Tuple[Tensor, Tensor]:
    """The weights of ``y_a`` and ``y_b``, ``(lam, 1 - lam)``, each of shape ``(B,)``."""
    size, device = batch.pred.shape[:1], batch.pred.device
    if isinstance(batch.lam, Tensor):
        w_a = batch.lam.expand(size)
    else:
        w_a = torch.full(size, batch.lam, dtype=_acc_dtype(device), device=device)
    return w_a, 1.0 - w_a


# --------------------------------------------------------------------------------------------
# Statistics of the confusion matrix
# --------------------------------------------------------------------------------------------


def _class_counts(batch: _Batch, num_classes: int) -> Tensor:
    """Per-class (per-label) counts of a batch, shape ``(9, K)``.

    These are the diagonal and the margins of the batch's confusion matrices, all F1 needs.
    Rows: predictions; occurrences of ``y_a`` and of ``y_b``; hits against ``y_a`` and ``y_b``;
    then the same lam-weighted (weights ``lam`` for ``y_a``, ``1 - lam`` for ``y_b``): support
    of ``y_a`` and ``y_b``, true positives against ``y_a`` and ``y_b``. Label vectors give
    them as sums over the batch. Class indices give them from one ``scatter_add_``, true
    positives indexed by the prediction, which equals the label wherever there is a hit.
    ``scatter_add_`` rather than ``torch.bincount``: on CUDA ``bincount`` reads its maximum
    back to the host to size its output, and ``scatter_add_`` stays deterministic. On the lazy
    (accelerator) path the index is clamped, so a bad label (counted in ``batch.invalid``)
    stays in bounds.
    """
    pred, y_a, y_b = batch.pred, batch.y_a, batch.y_b
    w_a, w_b = _lam_weights(batch)
    if pred.dim() == 2:  # label vectors (B, K)
        w_a, w_b = w_a[:, None], w_b[:, None]
        hit_a, hit_b = y_a * pred, y_b * pred
        return torch.stack([pred, y_a, y_b, hit_a, hit_b, w_a * y_a, w_b * y_b, w_a * hit_a, w_b * hit_b]).sum(1)
    hit_a, hit_b = (pred == y_a).to(w_a.dtype), (pred == y_b).to(w_a.dtype)
    ones = torch.ones_like(w_a)
    index = torch.stack([pred, y_a, y_b, pred, pred, y_a, y_b, pred, pred])
    value = torch.stack([ones, ones, ones, hit_a, hit_b, w_a, w_b, w_a * hit_a, w_b * hit_b])
    if batch.invalid is not None:
        index = index.clamp(0, num_classes - 1)
    counts = torch.zeros(index.shape[0], num_classes, dtype=value.dtype, device=pred.device)
    return counts.scatter_add_(1, index, value)


def _sample_scores(batch: _Batch) -> Tensor:
    """Per sample, mixed over ``y_a`` and ``y_b`` with ``lam``: accuracy, exact match, F1, ``(3, B)``.

    For class indices all three are the hit ``[pred == y]``. For label vectors: the share of
    labels right (1 - Hamming loss), whether all are right (subset accuracy), and the F1 of
    the sample's labels (scikit-learn's ``average="samples"``: 0 for a sample with no true and
    no predicted label, as with ``zero_division=0``).
    """
    w_a, w_b = _lam_weights(batch)
    y, pred = torch.stack([batch.y_a, batch.y_b]), batch.pred
    match = (y == pred).to(w_a.dtype)  # (2, B) or (2, B, K)
    if pred.dim() == 1:
        scores = match[:, None].expand(2, 3, -1)
    else:
        f1 = 2 * (y * pred).sum(-1) / (y.sum(-1) + pred.sum(-1)).clamp_min(torch.finfo(w_a.dtype).tiny)
        scores = torch.stack([match.mean(-1), match.amin(-1), f1], 1)
    return w_a * scores[0] + w_b * scores[1]


def _f1(tp: Tensor, true: Tensor, pred: Tensor, present: Optional[Tensor], average: Optional[str]) -> Tensor:
    """F1 as scikit-learn computes it with ``zero_division=0``, batched over leading dims.

    Args:
        tp: True positives per class, shape ``(..., K)``.
        true: Support (row sums of the confusion matrix) per class, shape ``(..., K)``.
        pred: Prediction counts (column sums) per class, shape ``(..., K)``.
        present: ``(..., K)``, > 0 where the class occurs in the true or the predicted labels,
            the labels scikit-learn averages over (with sample weights a class can occur with
            weight 0); ``None`` for label vectors, where scikit-learn averages over all ``K``.
        average: ``"macro"``, ``"micro"``, ``"weighted"`` or ``None`` (per class).

    A class absent from both labels has ``tp = true + pred = 0``. The denominators are clamped
    to the smallest normal number, which turns such a 0 / 0 into 0 and changes nothing else, as
    long as no weight is that small (a float32 ``lam`` never is).
    """
    tiny = torch.finfo(tp.dtype).tiny
    denom = true + pred
    per_class = (2 * tp) / denom.clamp_min(tiny)
    if average is None:
        return per_class
    if average == "macro":  # absent classes have F1 0, so summing over all K classes is fine
        return per_class.sum(-1) / (per_class.shape[-1] if present is None else (present > 0).sum(-1).clamp_min(1))
    if average == "micro":
        return (2 * tp.sum(-1)) / denom.sum(-1).clamp_min(tiny)
    return (per_class * true).sum(-1) / true.sum(-1).clamp_min(tiny)  # "weighted" by support


def _batch_f1(counts: Tensor, batch: _Batch, average: Optional[str]) -> Tensor:
    """Per-batch mixed F1 (see :func:`mixed_f1`) from the rows of :func:`_class_counts`."""
    if average == "samples":
        return _sample_scores(batch)[2].mean()
    n_pred, occ_a, occ_b, tp_a, tp_b, sup_a, sup_b, tpw_a, tpw_b = counts
    multilabel = batch.pred.dim() == 2
    if isinstance(batch.lam, Tensor) and batch.lam.dim() == 1:
        present = None if multilabel else occ_a + occ_b + n_pred
        return _f1(tpw_a + tpw_b, sup_a + sup_b, n_pred, present, average)
    true = torch.stack([occ_a, occ_b])
    f1 = _f1(torch.stack([tp_a, tp_b]), true, n_pred.expand_as(true), None if multilabel else true + n_pred, average)
    return torch.lerp(f1[1], f1[0], batch.lam)  # lam * F1(y_a) + (1 - lam) * F1(y_b)


# --------------------------------------------------------------------------------------------
# Per-batch helpers
# --------------------------------------------------------------------------------------------


def mixed_accuracy(
    logits: Tensor, target: Target, top_k: int = 1, *, task: Task = "multiclass", threshold: float = 0.5
) -> Tensor:
    """Lam-weighted accuracy of a (mixed) batch: the accuracy against ``y_a`` and ``y_b``.

    With a scalar ``lam`` this is ``lam * acc(pred, y_a) + (1 - lam) * acc(pred, y_b)``; with a
    per-sample ``lam`` of shape ``(B,)`` it is the mean over samples of
    ``lam_i * [pred_i == y_a_i] + (1 - lam_i) * [pred_i == y_b_i]``. Both equal
    scikit-learn's ``accuracy_score([y_a, y_b], [pred, pred], sample_weight=[lam, 1 - lam])``.
    With a plain target it is the ordinary accuracy. With ``task="multilabel"`` a sample's
    accuracy is the share of its labels predicted right: the result is the lam-weighted
    ``1 - hamming_loss([y_a, y_b], [pred, pred], sample_weight=[lam, 1 - lam])``. No host
    synchronisation: the result stays a tensor on the device.

    Args:
        logits: Scores of shape ``(B, K)`` (``pred = logits.argmax(1)``) or integer class
            predictions of shape ``(B,)``. Multi-label: logits ``(B, K)`` (a label is predicted
            where ``sigmoid(logit) > threshold``) or 0/1 predictions ``(B, K)``, integer or bool.
        target: Integer class indices of shape ``(B,)``, or a mixed target
            ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a number
            or a tensor of shape ``()`` or ``(B,)``, all on the device of ``logits``.
            Multi-label: label vectors ``(B, K)`` of 0 and 1 (any integer, bool or float dtype)
            in their place.
        top_k: A sample counts as correct for a label when the label is among its ``top_k``
            highest scores. ``top_k > 1`` needs scores of shape ``(B, K)`` with ``K >= top_k``
            (multi-class only).
        task: ``"multiclass"`` or ``"multilabel"``.
        threshold: Multi-label only: the probability above which a label is predicted.

    Returns:
        A 0-d float64 tensor (float32 on MPS) in ``[0, 1]`` on the device of ``logits``. On an
        accelerator a batch with labels outside ``[0, K)`` (``< 0`` with class predictions;
        other than 0 and 1 for multi-label) or ``lam`` outside ``[0, 1]`` gives NaN instead
        of an error.

    Raises:
        TypeError: ``logits``, a label tensor, ``lam`` or ``top_k`` has the wrong type or
            dtype.
        ValueError: Shapes or devices that do not match, an empty batch, a bad ``top_k``,
            ``task`` or ``threshold``, or (on CPU) labels out of range or ``lam`` outside
            ``[0, 1]``.
    """
    top_k = check_positive_int(top_k, "top_k")
    batch = _prepare(logits, target, None, top_k, *_check_task(task, threshold))
    if top_k == 1:
        return _nan_if_invalid(_sample_scores(batch)[0].mean(), batch.invalid)
    top = logits.topk(top_k, dim=1).indices  # scores (B, K): _prepare has checked
    hit_a, hit_b = (top == batch.y_a[:, None]).any(1), (top == batch.y_b[:, None]).any(1)
    w_a, w_b = _lam_weights(batch)
    return _nan_if_invalid((w_a * hit_a + w_b * hit_b).mean(), batch.invalid)


def mixed_f1(
    logits: Tensor,
    target: Target,
    num_classes: int,
    average: Optional[str] = "macro",
    *,
    task: Task = "multiclass",
    threshold: float = 0.5,
) -> Tensor:
    """F1 score of a (mixed) batch, equal to scikit-learn's ``f1_score(..., zero_division=0)``.

    With ``pred = logits.argmax(1)`` (multi-label: ``sigmoid(logits) > threshold``):

    * plain target ``y``: ``f1_score(y, pred, average=average)``;
    * scalar ``lam`` (a number or a 0-d tensor): ``lam * f1_score(y_a, pred) +
      (1 - lam) * f1_score(y_b, pred)``;
    * per-sample ``lam`` of shape ``(B,)``: the F1 of the lam-weighted samples,
      ``f1_score([y_a, y_b], [pred, pred], sample_weight=[lam, 1 - lam])``.

    A per-sample ``lam`` whose entries are all equal is *not* the same as that scalar
    ``lam``: one is the F1 of a weighted confusion matrix, the other a mixture of two F1
    scores. Like scikit-learn, multi-class ``"macro"`` averages over the classes that occur in
    the true or the predicted labels (a class that occurs only with weight 0 counts, with F1
    0), so classes absent from the batch are left out, and ``"micro"`` equals the accuracy;
    multi-label ``"macro"`` averages over all ``K`` labels. A batch F1 depends on the batch:
    for the F1 of a whole evaluation, use :class:`MixedMetrics` (its ``"f1"``).

    Args:
        logits: Scores of shape ``(B, num_classes)`` or integer class predictions ``(B,)``;
            multi-label: logits or 0/1 predictions ``(B, num_classes)``.
        target: Integer class indices of shape ``(B,)``, or a mixed target
            ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a number
            or a tensor of shape ``()`` or ``(B,)``, all on the device of ``logits``.
            Multi-label: label vectors ``(B, K)`` of 0 and 1 in their place.
        num_classes: The number of classes ``K`` (of labels, for multi-label); class
            indices must lie in ``[0, K)``.
        average: ``"macro"``, ``"micro"``, ``"weighted"`` (classes weighted by their support,
            as in scikit-learn), ``"samples"`` (multi-label only: the mean of the per-sample
            F1 scores), or ``None`` for the per-class scores of all ``K`` classes, absent
            classes 0 (``f1_score(..., labels=range(K), average=None)``, mixed as above).
        task: ``"multiclass"`` or ``"multilabel"``.
        threshold: Multi-label only: the probability above which a label is predicted.

    Returns:
        A 0-d float64 tensor (float32 on MPS), of shape ``(K,)`` for ``average=None``, on the
        device of ``logits``, computed without host synchronisation. On an accelerator a batch
        with labels or predictions out of range or ``lam`` outside ``[0, 1]`` gives NaN
        instead of an error.

    Raises:
        TypeError: ``logits``, a label tensor or ``lam`` has the wrong type or dtype, or
            ``num_classes`` is not an int.
        ValueError: ``num_classes < 1``, an unknown ``average``, ``task`` or ``threshold``,
            shapes or devices that do not match, an empty batch, or (on CPU) labels or
            predictions out of range or ``lam`` outside ``[0, 1]``.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    task_name, threshold = _check_task(task, threshold)
    average = _check_average(average, task_name, none_ok=True)
    batch = _prepare(logits, target, num_classes, 1, task_name, threshold)
    f1 = _batch_f1(_class_counts(batch, num_classes), batch, average)
    return _nan_if_invalid(f1, batch.invalid)


# --------------------------------------------------------------------------------------------
# Epoch tracker
# --------------------------------------------------------------------------------------------


class MixedMetrics:
    """Accuracy, loss and F1 of a training or evaluation epoch, on mixed or plain batches.

    Call :meth:`update` every batch, :meth:`compute` at the end of the epoch and
    :meth:`reset` before the next one (torchmetrics-style). :meth:`update` makes no host
    synchronisation; :meth:`compute` synchronises once.

    :meth:`compute` returns a dict of Python floats:

    * ``"accuracy"``: the lam-weighted top-1 accuracy of the epoch, i.e. the mean over all
      samples of ``lam_i * [pred_i == y_a_i] + (1 - lam_i) * [pred_i == y_b_i]``:
      scikit-learn's ``accuracy_score`` on the epoch's ``[y_a, y_b]`` vs ``[pred, pred]`` with
      ``sample_weight=[lam, 1 - lam]`` (the ordinary accuracy for plain labels). Multi-label:
      ``1 - hamming_loss`` of the same rows and weights (the share of labels right).
    * ``"exact_match"`` (multi-label only): the lam-weighted share of samples whose labels are
      all right, ``accuracy_score`` of the same rows and weights (subset accuracy).
    * ``"f1"``: **the F1 of the epoch**, from the accumulated lam-weighted confusion matrix:
      scikit-learn's ``f1_score`` on all of the epoch's ``[y_a, y_b]`` vs ``[pred, pred]`` with
      ``sample_weight=[lam, 1 - lam]`` and ``zero_division=0`` (a plain target counts as
      ``y_b = y_a``, ``lam = 1``: the ordinary F1 of all the epoch's predictions). The one to
      report for validation, test and model selection.
    * ``"f1_batch_mean"``: the per-batch :func:`mixed_f1` averaged over the epoch's batches
      (what a per-batch training log shows). It depends on the batch size and on how the classes
      fall into batches, so it differs from ``"f1"``; compare it only between runs with the same
      batch size.
    * ``"loss"``: the sample-weighted mean of the batch losses given to :meth:`update`,
      ``sum(loss * B) / sum(B)`` over the batches that came with a loss. **The key is
      absent** when no batch since the last :meth:`reset` came with a loss (on any rank).

    State, declared up front in ``_PER_CLASS`` and ``_SUMS`` (the one list that the zeroing,
    the device of the first batch and the one ``all_reduce`` all read): named tensors on the
    device of the first batch after a reset, in float64 (float32 on MPS): per class ``tp``
    (lam-weighted true positives), ``support`` (lam-weighted), ``predicted`` and ``seen``
    (occurrences in labels or predictions, for the classes macro-F1 averages over),
    ``O(num_classes)`` memory, and sums.

    Distributed: when ``torch.distributed`` is initialised (and ``sync_on_compute`` is true),
    every :meth:`compute` and :meth:`per_class_f1` sums the state of all ranks with one
    ``all_reduce`` (of the named tensors concatenated), so every rank returns the metrics of
    the whole epoch: ``"f1_batch_mean"`` is then the mean over all batches of all ranks. Each
    is a collective call: every rank must make it, also a rank that saw no batch (or no new
    batch since its last call; nothing is cached). With the NCCL backend a CPU state is moved
    to the current CUDA device for the reduction.

    Args:
        num_classes: The number of classes ``K`` (the number of labels for multi-label).
        average: ``"macro"``, ``"micro"``, ``"weighted"`` (scikit-learn's averages over
            classes) or, for multi-label, ``"samples"``, for ``"f1"`` and ``"f1_batch_mean"``.
        task: ``"multiclass"`` (class indices ``(B,)``) or ``"multilabel"`` (label vectors
            ``(B, K)``), as in :func:`mixed_f1`.
        threshold: Multi-label only: the probability above which a label is predicted.
        sync_on_compute: Reduce across ranks in :meth:`compute` when ``torch.distributed`` is
            initialised. Set it to ``False`` for metrics computed on one rank only (say, an
            evaluation on rank 0), which would otherwise wait for the other ranks forever.
        process_group: The process group to reduce over (default: the whole world).

    Raises:
        TypeError: ``num_classes`` is not an int or ``sync_on_compute`` not a bool.
        ValueError: ``num_classes < 1``, an unknown ``average`` or ``task``, or a bad
            ``threshold``.

    Example:
        >>> metrics = MixedMetrics(num_classes=10)
        >>> for images, target in loader:  # doctest: +SKIP
        ...     logits = model(images)
        ...     loss = criterion(logits, target)
        ...     metrics.update(logits, target, loss=loss)
        >>> metrics.compute()  # doctest: +SKIP
        {'accuracy': 0.41, 'f1': 0.4, 'f1_batch_mean': 0.37, 'loss': 1.93}
    """

    _PER_CLASS = ("tp", "support", "predicted", "seen")
    _SUMS = ("correct", "exact", "f1_samples", "f1_batch_sum", "loss_sum", "loss_samples", "invalid",
             "batches", "samples")

    def __init__(
        self,
        num_classes: int,
        average: str = "macro",
        *,
        task: Task = "multiclass",
        threshold: float = 0.5,
        sync_on_compute: bool = True,
        process_group: Optional[Any] = None,
    ) -> None:
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.task, self.threshold = _check_task(task, threshold)
        self.average = _check_average(average, self.task, none_ok=False)
        if not isinstance(sync_on_compute, bool):
            raise TypeError(f"sync_on_compute must be a bool, got {describe(sync_on_compute)}")
        self.sync_on_compute = sync_on_compute
        self.process_group = process_group
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far (the next :meth:`update` may use another device)."""
        self._state: Optional[Dict[str, Tensor]] = None

    def _zero_state(self, device: torch.device) -> Dict[str, Tensor]:
        dtype = _acc_dtype(device)
        state = {name: torch.zeros(self.num_classes, dtype=dtype, device=device) for name in self._PER_CLASS}
        state.update({name: torch.zeros((), dtype=dtype, device=device) for name in self._SUMS})
        return state

    @property
    def device(self) -> Optional[torch.device]:
        """The device of the state; ``None`` before the first update after a reset."""
        return None if self._state is None else self._state["tp"].device

    def update(self, logits: Tensor, target: Target, loss: Union[Tensor, float, None] = None) -> None:
        """Add a batch to the epoch. No host synchronisation.

        Args:
            logits: Scores of shape ``(B, num_classes)`` or integer class predictions ``(B,)``;
                multi-label: logits or 0/1 predictions ``(B, num_classes)``.
            target: Integer class indices of shape ``(B,)``, or a mixed target
                ``(y_a, y_b, lam)`` with ``y_a``, ``y_b`` of shape ``(B,)`` and ``lam`` a
                number or a tensor of shape ``()`` or ``(B,)``, on the device of ``logits``.
                Multi-label: label vectors ``(B, num_classes)`` of 0 and 1 in their place.
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
        batch = _prepare(logits, target, self.num_classes, 1, self.task, self.threshold)
        loss = _check_loss(loss)
        device, batch_size = batch.pred.device, batch.pred.shape[0]
        if self._state is not None and self.device != device:
            raise ValueError(
                f"logits must be on the device of the previous batches ({self.device}) "
                f"until reset(), got {device}"
            )
        counts = _class_counts(batch, self.num_classes)
        n_pred, occ_a, occ_b, _, _, sup_a, sup_b, tpw_a, tpw_b = counts
        # Class indices: a sample's accuracy, exact match and F1 are all its (mixed) hit.
        scores = _sample_scores(batch).sum(1) if batch.pred.dim() == 2 else (tpw_a + tpw_b).sum().expand(3)
        add: Dict[str, Any] = {
            "tp": tpw_a + tpw_b, "support": sup_a + sup_b, "predicted": n_pred, "seen": occ_a + occ_b + n_pred,
            "correct": scores[0], "exact": scores[1], "f1_samples": scores[2],
            "f1_batch_sum": _batch_f1(counts, batch, self.average), "batches": 1, "samples": batch_size,
        }
        if loss is not None:
            if isinstance(loss, Tensor):  # non-blocking only to an accelerator
                loss = loss.to(device=device, dtype=counts.dtype, non_blocking=device.type != "cpu")
            add.update(loss_sum=loss * batch_size, loss_samples=batch_size)
        if batch.invalid is not None:
            add["invalid"] = batch.invalid
        # Every check has passed: from here on the state changes.
        if self._state is None:
            self._state = self._zero_state(device)
        for name, value in add.items():
            self._state[name] += value

    def _reduce(self) -> Dict[str, Tensor]:
        """The named state of the epoch, summed over ranks, as float64 CPU tensors.

        Nothing is cached: when distributed, every call enters the ``all_reduce`` on every rank,
        so the ranks' reductions always pair up (issue 19).
        """
        distributed = self.sync_on_compute and dist.is_available() and dist.is_initialized()
        if self._state is None and not distributed:
            raise RuntimeError(
                "MixedMetrics.compute() was called before any update() since the last "
                "reset(): there is no batch to compute metrics of"
            )
        # A rank that saw no batch still takes part in the collective, with zeros.
        state = self._state if self._state is not None else self._zero_state(torch.device("cpu"))
        flat = torch.cat([tensor.reshape(-1) for tensor in state.values()])  # one all_reduce
        if distributed:
            if dist.get_backend(self.process_group) == "nccl" and flat.device.type != "cuda":
                flat = flat.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=self.process_group)
        flat = flat.to(device="cpu", dtype=torch.float64)  # the one synchronisation
        parts = flat.split([tensor.numel() for tensor in state.values()])
        return {name: part.reshape(state[name].shape) for name, part in zip(state, parts)}

    def _checked_state(self) -> Dict[str, Tensor]:
        state = self._reduce()
        if float(state["batches"]) == 0:
            raise RuntimeError(
                "MixedMetrics.compute() was called before any update() since the last "
                "reset() on any rank: there is no batch to compute metrics of"
            )
        if float(state["invalid"]) > 0:
            what = ("labels or predictions other than 0 and 1" if self.task == "multilabel"
                    else f"labels or class predictions outside [0, {self.num_classes})")
            raise ValueError(
                f"MixedMetrics.update() received {int(state['invalid'])} invalid value(s) since "
                f"the last reset(): {what} or lam outside [0, 1] (on an accelerator update() does "
                "not check values; compute() reports them)"
            )
        return state

    def _epoch_f1(self, s: Dict[str, Tensor], average: Optional[str]) -> Tensor:
        if average == "samples":
            return s["f1_samples"] / s["samples"]
        present = None if self.task == "multilabel" else s["seen"]
        return _f1(s["tp"], s["support"], s["predicted"], present, average)

    def compute(self) -> Dict[str, float]:
        """The metrics of the epoch so far, of all ranks when distributed (see the class).

        Synchronises with the device once and, when ``torch.distributed`` is initialised and
        ``sync_on_compute`` is true, makes one ``all_reduce``: a collective call, on every call
        (nothing is cached), that every rank must make.

        Returns:
            ``"accuracy"``, ``"exact_match"`` (multi-label only), ``"f1"`` (of the epoch),
            ``"f1_batch_mean"`` and, when some batch came with a loss, ``"loss"``; all Python
            floats.

        Raises:
            RuntimeError: No :meth:`update` since the last :meth:`reset` (on any rank).
            ValueError: A batch on an accelerator had labels out of range or ``lam`` outside
                ``[0, 1]`` (values that :meth:`update` does not check there).
        """
        s = self._checked_state()
        out = {"accuracy": float(s["correct"] / s["samples"])}
        if self.task == "multilabel":
            out["exact_match"] = float(s["exact"] / s["samples"])
        out["f1"] = float(self._epoch_f1(s, self.average))
        out["f1_batch_mean"] = float(s["f1_batch_sum"] / s["batches"])
        if float(s["loss_samples"]) > 0:
            out["loss"] = float(s["loss_sum"] / s["loss_samples"])
        return out

    def per_class_f1(self) -> Tensor:
        """The per-class F1 of the epoch from the accumulated lam-weighted confusion matrix.

        scikit-learn's ``f1_score`` of the epoch (as for ``"f1"``) with
        ``labels=range(num_classes), average=None, zero_division=0``: classes absent from the
        epoch score 0 (multi-label: the F1 of each label). Like :meth:`compute` it reduces
        across ranks when distributed: every rank must call it.

        Returns:
            A float64 CPU tensor of shape ``(num_classes,)``.

        Raises:
            RuntimeError: No :meth:`update` since the last :meth:`reset` (on any rank).
            ValueError: As for :meth:`compute`.
        """
        return self._epoch_f1(self._checked_state(), None)

    def __repr__(self) -> str:
        task = "" if self.task == "multiclass" else f", task={self.task!r}, threshold={self.threshold}"
        return f"{type(self).__name__}(num_classes={self.num_classes}, average={self.average!r}{task})"


def _check_loss(loss: Any) -> Union[Tensor, float, None]:
    if loss is None:
        return None
    if isinstance(loss, Tensor):
        if not loss.is_floating_point():
            raise TypeError(
                f"loss must be the batch's mean loss, a floating tensor or a number, got dtype {loss.dtype}"
            )
        if loss.numel() != 1:
            raise ValueError(
                f"loss must be the batch's mean loss, a 0-d tensor or a number, got shape {tuple(loss.shape)}"
            )
        return loss.detach().reshape(())
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise TypeError(f"loss must be the batch's mean loss, a 0-d tensor or a number, got {describe(loss)}")
    return float(loss)
