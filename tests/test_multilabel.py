"""Multi-label targets end to end (issue 18): metrics against scikit-learn on indicator
matrices, multi-hot labels of any dtype through CutMixCriterion and soft_targets, bad input.

scikit-learn is the reference: predictions are thresholded with scipy's ``expit`` in numpy,
and every expected figure comes from ``f1_score``, ``accuracy_score`` or ``hamming_loss``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.metrics import accuracy_score, f1_score, hamming_loss
from torch import nn

from cutmix_collate import (
    CutMixCollator,
    CutMixCriterion,
    MixedMetrics,
    MixedTarget,
    metrics,
    mixed_accuracy,
    mixed_f1,
)
from cutmix_collate.losses import soft_targets
from _helpers import requires_cuda

AVERAGES = ("macro", "micro", "weighted", "samples")
LAM_MODES = ("plain", "scalar", "tensor0d", "per_sample")
APPROX = dict(rel=1e-9, abs=1e-12)
ML = dict(task="multilabel")


# --------------------------------------------------------------------------- data and references


def make_batch(seed, batch_size, num_labels, mode, *, density=0.4, dtype=torch.int64, lam_values=None):
    """Logits (B, K) and multi-hot labels of ``dtype`` in a target of the given lam mode."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch_size, num_labels, generator=gen, dtype=torch.float64) - 0.3
    y_a = (torch.rand(batch_size, num_labels, generator=gen) < density).to(dtype)
    y_b = (torch.rand(batch_size, num_labels, generator=gen) < density).to(dtype)
    if mode == "plain":
        return logits, y_a
    if mode == "per_sample":
        lam = torch.rand(batch_size, generator=gen) if lam_values is None else torch.tensor(lam_values)
        return logits, MixedTarget(y_a, y_b, lam)
    lam = float(torch.rand((), generator=gen)) if lam_values is None else float(lam_values)
    if mode == "tensor0d":
        return logits, (y_a, y_b, torch.tensor(lam, dtype=torch.float32))
    return logits, MixedTarget(y_a, y_b, lam)


def predict(logits, threshold=0.5):
    """The 0/1 predictions scikit-learn is given: expit(logit) > threshold, in numpy."""
    scores = np.asarray(logits)
    if scores.dtype.kind in "biu":
        return scores.astype(np.int64)
    return (expit(scores) > threshold).astype(np.int64)


def as_numpy(target):
    """``(y_a, y_b, lam, mixed, per_sample)``: int64 indicator matrices and lam in numpy."""
    if isinstance(target, torch.Tensor):
        y = target.long().numpy()
        return y, y, 1.0, False, False
    y_a, y_b, lam = target
    y_a, y_b = y_a.long().numpy(), y_b.long().numpy()
    if isinstance(lam, torch.Tensor):
        if lam.dim() == 1:
            return y_a, y_b, lam.double().numpy(), True, True
        lam = float(lam)
    return y_a, y_b, float(lam), True, False


def stacked(y_a, y_b, pred, lam):
    """scikit-learn's view of a mixed batch: rows [y_a, y_b] vs [pred, pred], weights [lam, 1-lam]."""
    lam_vec = np.broadcast_to(np.asarray(lam, dtype=np.float64), (len(pred),))
    return np.concatenate([y_a, y_b]), np.concatenate([pred, pred]), np.concatenate([lam_vec, 1.0 - lam_vec])


def sk_f1(y_true, y_pred, average, sample_weight=None):
    """``f1_score`` of indicator matrices with ``zero_division=0``.

    scikit-learn reads a single column as binary classes 0 and 1 (and averages over both);
    one label stays one label here, so there the reference is that label's F1 (``labels=[1]``),
    and for ``"samples"`` the rule written out: a one-label sample has F1 1 for a true
    positive, else 0.
    """
    if y_true.shape[1] > 1:
        return f1_score(y_true, y_pred, average=average, sample_weight=sample_weight, zero_division=0)
    if average == "samples":
        return np.average(y_true[:, 0] & y_pred[:, 0], weights=sample_weight)
    return f1_score(y_true[:, 0], y_pred[:, 0], labels=[1], average=average, sample_weight=sample_weight,
                    zero_division=0)


def ref_f1(logits, target, average, threshold=0.5):
    pred = predict(logits, threshold)
    y_a, y_b, lam, mixed, per_sample = as_numpy(target)
    if not mixed:
        return sk_f1(y_a, pred, average)
    if per_sample:
        y_true, y_pred, w = stacked(y_a, y_b, pred, lam)
        return sk_f1(y_true, y_pred, average, w)
    return lam * sk_f1(y_a, pred, average) + (1 - lam) * sk_f1(y_b, pred, average)


def ref_accuracy(logits, target, threshold=0.5):
    """Lam-weighted 1 - Hamming loss."""
    pred = predict(logits, threshold)
    y_a, y_b, lam, _, _ = as_numpy(target)
    y_true, y_pred, w = stacked(y_a, y_b, pred, lam)
    return 1.0 - hamming_loss(y_true, y_pred, sample_weight=w)


def ref_epoch(batches, average, threshold=0.5):
    """scikit-learn on the whole epoch: all rows [y_a, y_b] vs [pred, pred] with [lam, 1 - lam]."""
    rows = [stacked(*as_numpy(tg)[:2], predict(lg, threshold), as_numpy(tg)[2]) for lg, tg in batches]
    y_true, y_pred, w = (np.concatenate(part) for part in zip(*rows))
    return {
        "accuracy": 1.0 - hamming_loss(y_true, y_pred, sample_weight=w),
        "exact_match": accuracy_score(y_true, y_pred, sample_weight=w),
        "f1": f1_score(y_true, y_pred, sample_weight=w, average=average, zero_division=0),
        "per_class": f1_score(y_true, y_pred, sample_weight=w, average=None, zero_division=0),
        "f1_batch_mean": float(np.mean([ref_f1(lg, tg, average, threshold) for lg, tg in batches])),
    }


# --------------------------------------------------------------------------- per-batch helpers


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("mode", LAM_MODES)
@pytest.mark.parametrize(
    "seed, batch_size, num_labels, density",
    [
        (0, 64, 10, 0.4),
        (1, 8, 20, 0.1),  # sparse: most labels absent from the batch
        (2, 1, 3, 0.5),  # a single sample
        (3, 50, 1, 0.5),  # one label
        (4, 32, 6, 0.0),  # no true label at all
        (5, 16, 5, 1.0),  # every label true
    ],
)
def test_mixed_f1_matches_sklearn(seed, batch_size, num_labels, density, mode, average):
    logits, target = make_batch(seed, batch_size, num_labels, mode, density=density)
    got = mixed_f1(logits, target, num_labels, average, **ML)
    assert got.dtype == torch.float64 and got.shape == ()
    assert float(got) == pytest.approx(ref_f1(logits, target, average), **APPROX)


@pytest.mark.parametrize("mode", LAM_MODES)
def test_mixed_f1_per_label_matches_sklearn(mode):
    logits, target = make_batch(7, 24, 9, mode, density=0.2)
    got = mixed_f1(logits, target, 9, None, **ML)
    assert got.shape == (9,)
    np.testing.assert_allclose(got.numpy(), ref_f1(logits, target, None), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", LAM_MODES)
@pytest.mark.parametrize("seed, batch_size, num_labels", [(10, 64, 10), (11, 5, 30), (12, 1, 2)])
def test_mixed_accuracy_is_one_minus_hamming_loss(seed, batch_size, num_labels, mode):
    logits, target = make_batch(seed, batch_size, num_labels, mode)
    got = mixed_accuracy(logits, target, **ML)
    assert got.dtype == torch.float64 and got.shape == ()
    assert float(got) == pytest.approx(ref_accuracy(logits, target), **APPROX)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.7, 1.0])
def test_threshold_is_on_probabilities(threshold):
    logits, target = make_batch(13, 40, 7, "per_sample")
    assert float(mixed_f1(logits, target, 7, "micro", task="multilabel", threshold=threshold)) == pytest.approx(
        ref_f1(logits, target, "micro", threshold), **APPROX)
    assert float(mixed_accuracy(logits, target, task="multilabel", threshold=threshold)) == pytest.approx(
        ref_accuracy(logits, target, threshold), **APPROX)


@pytest.mark.parametrize("pred_dtype", [torch.int64, torch.uint8, torch.bool])
def test_integer_and_bool_predictions(pred_dtype):
    logits, target = make_batch(14, 30, 6, "scalar")
    pred = (torch.sigmoid(logits) > 0.5).to(pred_dtype)
    for average in AVERAGES:
        assert float(mixed_f1(pred, target, 6, average, **ML)) == pytest.approx(
            ref_f1(pred.long().numpy(), target, average), **APPROX)
    want = ref_accuracy(pred.long().numpy(), target)
    assert float(mixed_accuracy(pred, target, **ML)) == pytest.approx(want, **APPROX)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool, torch.float32, torch.float16])
def test_label_dtypes_give_the_same_figures(dtype):
    logits, target = make_batch(15, 20, 5, "per_sample", dtype=dtype)
    want = ref_f1(logits, target, "macro")
    assert float(mixed_f1(logits, target, 5, **ML)) == pytest.approx(want, **APPROX)
    assert float(mixed_f1(logits.float(), target, 5, **ML)) == pytest.approx(want, **APPROX)


def test_hand_checked_scalar_lam():
    # pred [[1, 0], [1, 1]]; y_a = pred (all right), y_b = [[0, 0], [1, 0]]:
    # accuracy(y_b) = 2/4, micro F1(y_b): tp 1, true 1, pred 3 -> 2/4; samples F1(y_b) = (0 + 2/3) / 2.
    pred = torch.tensor([[1, 0], [1, 1]])
    target = (pred.clone(), torch.tensor([[0, 0], [1, 0]]), 0.25)
    assert float(mixed_accuracy(pred, target, **ML)) == pytest.approx(0.25 + 0.75 * 0.5, **APPROX)
    assert float(mixed_f1(pred, target, 2, "micro", **ML)) == pytest.approx(0.25 + 0.75 * 0.5, **APPROX)
    assert float(mixed_f1(pred, target, 2, "samples", **ML)) == pytest.approx(0.25 + 0.75 / 3, **APPROX)
    # Macro over all K labels, also an absent one: label 0 F1 2/3, label 1 F1 0 against y_b.
    assert float(mixed_f1(pred, target, 2, "macro", **ML)) == pytest.approx(0.25 + 0.75 / 3, **APPROX)


@pytest.mark.parametrize("mode", LAM_MODES)
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    batch_size=st.integers(1, 30),
    num_labels=st.integers(1, 8),
    density=st.sampled_from([0.0, 0.2, 0.6, 1.0]),
    average=st.sampled_from(AVERAGES),
    lam_kind=st.sampled_from(["random", "zero", "one"]),
)
def test_property_against_sklearn(mode, seed, batch_size, num_labels, density, average, lam_kind):
    lam_values = None
    if lam_kind != "random" and mode != "plain":
        fill = 0.0 if lam_kind == "zero" else 1.0
        lam_values = [fill] * batch_size if mode == "per_sample" else fill
    logits, target = make_batch(seed, batch_size, num_labels, mode, density=density, lam_values=lam_values)
    assert float(mixed_f1(logits, target, num_labels, average, **ML)) == pytest.approx(
        ref_f1(logits, target, average), **APPROX)
    assert float(mixed_accuracy(logits, target, **ML)) == pytest.approx(ref_accuracy(logits, target), **APPROX)


# --------------------------------------------------------------------------- MixedMetrics


def epoch_batches(seed=30, num_labels=8, dtype=torch.int64):
    sizes_modes = [(16, "plain"), (7, "scalar"), (32, "per_sample"), (1, "per_sample"), (20, "tensor0d"),
                   (5, "scalar")]
    return [make_batch(seed + i, b, num_labels, m, density=0.1 + 0.1 * i, dtype=dtype)
            for i, (b, m) in enumerate(sizes_modes)]


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("threshold", [0.5, 0.35])
def test_mixed_metrics_matches_sklearn(average, threshold):
    batches = epoch_batches()
    tracker = MixedMetrics(8, average, task="multilabel", threshold=threshold)
    for i, (logits, target) in enumerate(batches):
        tracker.update(logits, target, loss=float(i))
    got = tracker.compute()
    want = ref_epoch(batches, average, threshold)
    assert list(got) == ["accuracy", "exact_match", "f1", "f1_batch_mean", "loss"]
    for key in ("accuracy", "exact_match", "f1", "f1_batch_mean"):
        assert got[key] == pytest.approx(want[key], **APPROX), key
    np.testing.assert_allclose(tracker.per_class_f1().numpy(), want["per_class"], rtol=1e-9, atol=1e-12)
    want_repr = f"MixedMetrics(num_classes=8, average={average!r}, task='multilabel', threshold={threshold})"
    assert repr(tracker) == want_repr


def test_eval_loop_with_plain_labels_is_sklearn_of_all_predictions():
    gen = torch.Generator().manual_seed(42)
    tracker = MixedMetrics(6, "micro", task="multilabel")
    ys, preds = [], []
    for size in (64, 64, 7):
        logits = torch.randn(size, 6, generator=gen)
        y = (torch.rand(size, 6, generator=gen) < 0.3).to(torch.uint8)
        tracker.update(logits, y)
        ys.append(y.long().numpy())
        preds.append(predict(logits.double().numpy()))
    got = tracker.compute()
    y_true, y_pred = np.concatenate(ys), np.concatenate(preds)
    assert got["f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"), **APPROX)
    assert got["accuracy"] == pytest.approx(1 - hamming_loss(y_true, y_pred), **APPROX)
    assert got["exact_match"] == pytest.approx(accuracy_score(y_true, y_pred), **APPROX)
    assert "exact_match" not in _multiclass_keys()


def _multiclass_keys():
    tracker = MixedMetrics(3)
    tracker.update(torch.randn(2, 3), torch.tensor([0, 2]))
    return tracker.compute()


@pytest.fixture
def lazy_checks(monkeypatch):
    """Run the accelerator code path on CPU: no eager value checks anywhere."""
    monkeypatch.setattr(metrics, "_eager_checks", lambda device: False)


def test_lazy_path_matches_sklearn_and_reports_bad_labels(lazy_checks):
    from test_metrics import (
        host_reads_forbidden,  # tests/ is on sys.path, as for _datasets
    )

    batches = epoch_batches()[1:3]
    tracker = MixedMetrics(8, "weighted", task="multilabel")
    with host_reads_forbidden():
        f1 = mixed_f1(*batches[1], 8, "samples", **ML)
        for logits, target in batches:
            tracker.update(logits, target)
    assert float(f1) == pytest.approx(ref_f1(*batches[1], "samples"), **APPROX)
    assert tracker.compute()["f1"] == pytest.approx(ref_epoch(batches, "weighted")["f1"], **APPROX)
    logits, (y_a, y_b, lam) = batches[1]
    bad = y_a.clone()
    bad[0, 0] = 2
    assert math.isnan(float(mixed_f1(logits, (bad, y_b, lam), 8, **ML)))
    assert math.isnan(float(mixed_accuracy(logits, bad, **ML)))
    tracker.update(logits, (y_a, bad, lam))
    with pytest.raises(ValueError, match=r"received 1 invalid value\(s\) .* labels or predictions other than 0 and 1"):
        tracker.compute()


@requires_cuda
@pytest.mark.parametrize("mode", LAM_MODES)
def test_cuda_matches_cpu_without_sync(mode):
    batches = [make_batch(60 + i, 32, 7, mode, dtype=torch.uint8) for i in range(3)]
    cpu, gpu = MixedMetrics(7, "samples", task="multilabel"), MixedMetrics(7, "samples", task="multilabel")
    for logits, target in batches:
        cpu.update(logits, target, loss=1.0)
    dev = torch.device("cuda")
    moved = [(logits.to(dev), target.to(dev) if isinstance(target, torch.Tensor)
              else tuple(t.to(dev) if isinstance(t, torch.Tensor) else t for t in target))
             for logits, target in batches]
    loss = torch.tensor(1.0, device=dev)  # created before: a copy from the host syncs
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for logits, target in moved:
            gpu.update(logits, target, loss=loss)
            f1 = mixed_f1(logits, target, 7, "macro", **ML)
            acc = mixed_accuracy(logits, target, **ML)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    got, want = gpu.compute(), cpu.compute()
    for key in want:
        assert got[key] == pytest.approx(want[key], **APPROX), key
    assert float(f1) == pytest.approx(ref_f1(*batches[-1], "macro"), **APPROX)
    assert float(acc) == pytest.approx(ref_accuracy(*batches[-1]), **APPROX)


# --------------------------------------------------------------------------- losses


def test_int64_multi_hot_labels_from_the_collator_through_bce():
    # The new user: 5 binary labels, int64 multi-hot vectors, BCEWithLogitsLoss.
    gen = torch.Generator().manual_seed(0)
    samples = [(torch.rand(3, 8, 8, generator=gen), (torch.rand(5, generator=gen) < 0.5).long()) for _ in range(6)]
    _, (y_a, y_b, lam) = CutMixCollator(alpha=1.0, mode="elem")(samples)
    assert y_a.dtype == torch.int64 and y_a.shape == (6, 5)
    pred = torch.randn(6, 5, generator=gen)
    got = CutMixCriterion(nn.BCEWithLogitsLoss())(pred, (y_a, y_b, lam))
    want = (lam[:, None] * F.binary_cross_entropy_with_logits(pred, y_a.float(), reduction="none")
            + (1 - lam[:, None]) * F.binary_cross_entropy_with_logits(pred, y_b.float(), reduction="none")).mean()
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool, torch.float32])
@pytest.mark.parametrize("lam", [0.3, "per_sample"])
@pytest.mark.parametrize(
    "make", [lambda: nn.BCEWithLogitsLoss(pos_weight=torch.linspace(0.5, 2.0, 5)), lambda: nn.BCEWithLogitsLoss(),
             lambda: nn.MultiLabelSoftMarginLoss(), lambda: nn.BCELoss()],
    ids=["bce_pos_weight", "bce", "multilabel_soft_margin", "bce_probs"])
def test_multi_hot_labels_of_any_dtype_through_criterion(make, lam, dtype):
    gen = torch.Generator().manual_seed(1)
    pred = torch.randn(6, 5, generator=gen)
    if isinstance(make(), nn.BCELoss):
        pred = pred.sigmoid()
    y_a = (torch.rand(6, 5, generator=gen) < 0.5)
    y_b = y_a.flip(0)
    lam = torch.rand(6, generator=gen) if lam == "per_sample" else lam
    loss = make()
    float_ref = make()
    float_ref.reduction = "none"
    w = lam[:, None] if isinstance(lam, torch.Tensor) else lam
    per_elem_a, per_elem_b = float_ref(pred, y_a.float()), float_ref(pred, y_b.float())
    if per_elem_a.dim() == 2:
        want = (w * per_elem_a + (1 - w) * per_elem_b).mean()
    else:  # MultiLabelSoftMarginLoss: one loss per sample
        w = lam if isinstance(lam, torch.Tensor) else lam
        want = (w * per_elem_a + (1 - w) * per_elem_b).mean()
    got = CutMixCriterion(loss)(pred, (y_a.to(dtype), y_b.to(dtype), lam))
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(CutMixCriterion(loss)(pred, y_a.to(dtype)), make()(pred, y_a.float()))


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_soft_targets_of_integer_and_bool_multi_hot(dtype):
    gen = torch.Generator().manual_seed(2)
    y_a = torch.rand(6, 5, generator=gen) < 0.5
    y_b = y_a.roll(1, 0)
    lam = torch.rand(6, generator=gen)
    got = soft_targets((y_a.to(dtype), y_b.to(dtype), lam), 5)
    torch.testing.assert_close(got, lam[:, None] * y_a.float() + (1 - lam[:, None]) * y_b.float())


# --------------------------------------------------------------------------- bad input

LOGITS = torch.zeros(4, 3)
Y = torch.tensor([[0, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 1]])
BOTH_READINGS = r"is read as multi-hot label vectors \(B, K\), which hold only 0 and 1, got 2; class indices"


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: mixed_f1(LOGITS, Y * 2, 3, **ML), ValueError, r"target of shape \(4, 3\) " + BOTH_READINGS),
        (lambda: mixed_f1(LOGITS, (Y, Y * 2, 0.5), 3, **ML), ValueError,
         r"target\.y_b of shape \(4, 3\) " + BOTH_READINGS
         + r" of shape \(B,\) need task='multiclass'"),
        (lambda: mixed_accuracy(LOGITS, Y * 0.5, **ML), ValueError, r"target .* only 0 and 1, got 0\.5"),
        (lambda: mixed_f1(Y * 2, Y, 3, **ML), ValueError, r"logits of shape \(4, 3\) " + BOTH_READINGS),
        (lambda: soft_targets(Y * 2, 3), ValueError, r"target of shape \(4, 3\) " + BOTH_READINGS
         + r" have shape \(B,\) \(or \(B, d1, d2, \.\.\.\) for masks\), "
         r"and a label distribution must be floating point"),
        (lambda: CutMixCriterion(nn.BCEWithLogitsLoss())(LOGITS, (Y, Y * 2, 0.5)), ValueError,
         r"target\.y_b of shape \(4, 3\) " + BOTH_READINGS),
        (lambda: CutMixCriterion(nn.BCEWithLogitsLoss())(LOGITS, Y * 2), ValueError,
         r"target of shape \(4, 3\) " + BOTH_READINGS),
        (lambda: mixed_f1(LOGITS, Y, 3, task="multi-label"), ValueError,
         r"task must be one of 'multiclass', 'multilabel', got 'multi-label'"),
        (lambda: MixedMetrics(3, task="multilabel", threshold=1.5), ValueError,
         r"threshold must be a number in \[0, 1\], got 1\.5"),
        (lambda: MixedMetrics(3, task="multilabel", threshold="0.5"), TypeError,
         r"threshold must be a number in \[0, 1\], got '0\.5' \(str\)"),
        (lambda: MixedMetrics(3, threshold=0.3), ValueError,
         r"threshold applies to task='multilabel' only, got threshold=0\.3 with task='multiclass'"),
        (lambda: MixedMetrics(3, "samples"), ValueError,
         r"average must be one of 'macro', 'micro', 'weighted' for task='multiclass', got 'samples'"),
        (lambda: MixedMetrics(3, None, task="multilabel"), ValueError,
         r"average must be one of 'macro', 'micro', 'weighted', 'samples' for task='multilabel', got None"),
        (lambda: mixed_f1(LOGITS, Y, 3, "binary", **ML), ValueError,
         r"average must be one of 'macro', 'micro', 'weighted', 'samples', None for task='multilabel', got 'binary'"),
        (lambda: mixed_accuracy(LOGITS, Y, top_k=2, **ML), ValueError,
         r"with task='multilabel' top_k must be 1, got 2"),
        (lambda: mixed_accuracy(torch.zeros(4), Y, **ML), ValueError,
         r"with task='multilabel' logits must be scores or 0/1 predictions of shape \(B, K\), got shape \(4,\)"),
        (lambda: mixed_f1(LOGITS, Y[:, :2], 3, **ML), ValueError,
         r"target must be multi-hot label vectors: a tensor of shape \(4, 3\) to match logits, got shape \(4, 2\)"),
        (lambda: mixed_f1(LOGITS, Y.to(torch.complex64), 3, **ML), TypeError,
         r"target must be multi-hot label vectors: a tensor of shape \(4, 3\), got .* dtype torch\.complex64"),
        (lambda: mixed_f1(LOGITS, Y[:, 0], 3, **ML), ValueError,
         r"target must be multi-hot label vectors: a tensor of shape \(4, 3\) to match logits, got shape \(4,\)"),
        (lambda: MixedMetrics(4, task="multilabel").update(LOGITS, Y), ValueError,
         r"logits must have shape \(B, num_classes=4\), got shape \(4, 3\)"),
        (lambda: mixed_f1(LOGITS, Y, 3), ValueError, r"label vectors \(B, K\) need task='multilabel'"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_user_tensors_are_not_modified():
    logits, (y_a, y_b, lam) = make_batch(50, 8, 4, "per_sample", dtype=torch.uint8)
    copies = [t.clone() for t in (logits, y_a, y_b, lam)]
    tracker = MixedMetrics(4, task="multilabel")
    tracker.update(logits, (y_a, y_b, lam))
    mixed_f1(logits, (y_a, y_b, lam), 4, **ML)
    CutMixCriterion(nn.BCEWithLogitsLoss())(logits, (y_a, y_b, lam))
    for before, after in zip(copies, (logits, y_a, y_b, lam)):
        assert torch.equal(before, after) and before.dtype == after.dtype
