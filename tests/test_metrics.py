"""Tests of cutmix_collate.metrics against scikit-learn, hand-checked tiny cases, and bad input.

scikit-learn is the reference everywhere: no expected value is produced by the code under test.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, top_k_accuracy_score

from cutmix_collate import metrics
from cutmix_collate.functional import MixedTarget
from cutmix_collate.metrics import MixedMetrics, mixed_accuracy, mixed_f1
from _helpers import requires_cuda

AVERAGES = ("macro", "micro", "weighted")
LAM_MODES = ("plain", "scalar", "tensor0d", "per_sample")
APPROX = dict(rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- data and references


def make_batch(seed, batch_size, num_classes, mode, *, label_classes=None, lam_values=None):
    """Random logits (B, K), labels and a target of the given lam mode (local generator)."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch_size, num_classes, generator=gen, dtype=torch.float64)
    high = num_classes if label_classes is None else label_classes
    y_a = torch.randint(0, high, (batch_size,), generator=gen)
    y_b = torch.randint(0, high, (batch_size,), generator=gen)
    if mode == "plain":
        return logits, y_a
    if mode == "per_sample":
        lam = torch.rand(batch_size, generator=gen, dtype=torch.float32)
        if lam_values is not None:
            lam = torch.tensor(lam_values, dtype=torch.float32)
        return logits, MixedTarget(y_a, y_b, lam)
    lam = float(torch.rand((), generator=gen)) if lam_values is None else float(lam_values)
    if mode == "tensor0d":
        return logits, (y_a, y_b, torch.tensor(lam, dtype=torch.float32))
    return logits, MixedTarget(y_a, y_b, lam)


def as_numpy_target(target):
    """``(y_a, y_b, lam, mixed, per_sample)`` in numpy (``lam`` a float or float64 array)."""
    if isinstance(target, torch.Tensor):
        y = target.numpy()
        return y, y, 1.0, False, False
    y_a, y_b, lam = target
    if isinstance(lam, torch.Tensor):
        lam_np = lam.double().numpy()
        if lam.dim() == 0:
            return y_a.numpy(), y_b.numpy(), float(lam_np), True, False
        return y_a.numpy(), y_b.numpy(), lam_np, True, True
    return y_a.numpy(), y_b.numpy(), float(lam), True, False


def stacked(y_a, y_b, pred, lam, batch_size):
    """scikit-learn's view of a mixed batch: [y_a, y_b] vs [pred, pred], weights [lam, 1-lam]."""
    lam_vec = np.broadcast_to(np.asarray(lam, dtype=np.float64), (batch_size,))
    return (
        np.concatenate([y_a, y_b]),
        np.concatenate([pred, pred]),
        np.concatenate([lam_vec, 1.0 - lam_vec]),
    )


def ref_f1(logits_or_pred, target, num_classes, average):
    pred = np.asarray(logits_or_pred)
    if pred.ndim == 2:
        pred = pred.argmax(1)
    y_a, y_b, lam, mixed, per_sample = as_numpy_target(target)
    kwargs = dict(average=average, zero_division=0)
    if average is None:
        kwargs["labels"] = np.arange(num_classes)
    if not mixed:
        return f1_score(y_a, pred, **kwargs)
    if per_sample:
        y_true, y_pred, w = stacked(y_a, y_b, pred, lam, len(pred))
        return f1_score(y_true, y_pred, sample_weight=w, **kwargs)
    return lam * f1_score(y_a, pred, **kwargs) + (1 - lam) * f1_score(y_b, pred, **kwargs)


def ref_accuracy(logits_or_pred, target):
    pred = np.asarray(logits_or_pred)
    if pred.ndim == 2:
        pred = pred.argmax(1)
    y_a, y_b, lam, mixed, _ = as_numpy_target(target)
    if not mixed:
        return accuracy_score(y_a, pred)
    y_true, y_pred, w = stacked(y_a, y_b, pred, lam, len(pred))
    return accuracy_score(y_true, y_pred, sample_weight=w)


def ref_epoch(batches, num_classes, average):
    """scikit-learn on the whole epoch: all [y_a, y_b] vs [pred, pred] with [lam, 1 - lam]."""
    ys, preds, ws = [], [], []
    for logits, target in batches:
        pred = logits.argmax(1).numpy() if logits.dim() == 2 else logits.numpy()
        y_a, y_b, lam, mixed, _ = as_numpy_target(target)
        y_true, y_pred, w = stacked(y_a, y_b, pred, lam if mixed else 1.0, len(pred))
        ys.append(y_true)
        preds.append(y_pred)
        ws.append(w)
    y_true, y_pred, w = np.concatenate(ys), np.concatenate(preds), np.concatenate(ws)
    return {
        "accuracy": accuracy_score(y_true, y_pred, sample_weight=w),
        "f1": f1_score(y_true, y_pred, sample_weight=w, average=average, zero_division=0),
        "per_class": f1_score(
            y_true, y_pred, sample_weight=w, average=None, zero_division=0,
            labels=np.arange(num_classes),
        ),
        "f1_batch_mean": float(np.mean([ref_f1(lg, tg, num_classes, average) for lg, tg in batches])),
    }


# --------------------------------------------------------------------------- mixed_f1 vs sklearn


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("mode", LAM_MODES)
@pytest.mark.parametrize(
    "seed, batch_size, num_classes, label_classes",
    [
        (0, 64, 10, None),  # most classes present
        (1, 8, 20, None),  # most classes absent from the batch
        (2, 32, 12, 5),  # labels use only 5 classes, predictions all 12
        (3, 1, 3, None),  # a single sample
        (4, 50, 1, None),  # one class
        (5, 256, 100, None),
    ],
)
def test_mixed_f1_matches_sklearn(seed, batch_size, num_classes, label_classes, mode, average):
    logits, target = make_batch(seed, batch_size, num_classes, mode, label_classes=label_classes)
    got = mixed_f1(logits, target, num_classes, average=average)
    assert got.dtype == torch.float64 and got.shape == ()
    assert float(got) == pytest.approx(ref_f1(logits, target, num_classes, average), **APPROX)


@pytest.mark.parametrize("mode", LAM_MODES)
def test_mixed_f1_per_class_matches_sklearn(mode):
    num_classes = 15
    logits, target = make_batch(7, 24, num_classes, mode)
    got = mixed_f1(logits, target, num_classes, average=None)
    assert got.shape == (num_classes,)
    want = ref_f1(logits, target, num_classes, None)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("mode", LAM_MODES)
def test_mixed_f1_accepts_class_predictions(mode, average):
    num_classes = 7
    logits, target = make_batch(11, 30, num_classes, mode)
    pred = torch.randint(0, num_classes, (30,), generator=torch.Generator().manual_seed(3))
    got = mixed_f1(pred, target, num_classes, average=average)
    assert float(got) == pytest.approx(ref_f1(pred.numpy(), target, num_classes, average), **APPROX)


@pytest.mark.parametrize("lam", [0.0, 1.0])
@pytest.mark.parametrize("average", AVERAGES)
def test_mixed_f1_extreme_scalar_lam_is_plain_f1(lam, average):
    logits, (y_a, y_b, _) = make_batch(12, 40, 9, "scalar")
    y = y_a if lam == 1.0 else y_b
    want = f1_score(y.numpy(), logits.argmax(1).numpy(), average=average, zero_division=0)
    assert float(mixed_f1(logits, (y_a, y_b, lam), 9, average)) == pytest.approx(want, **APPROX)


@pytest.mark.parametrize("average", AVERAGES)
def test_mixed_f1_per_sample_lam_with_zero_and_one_weights(average):
    # Weight-0 samples still make their class "present" for scikit-learn's macro average.
    lam = [1.0, 0.0, 1.0, 0.5, 0.0, 1.0]
    logits, target = make_batch(13, 6, 8, "per_sample", lam_values=lam)
    got = mixed_f1(logits, target, 8, average)
    assert float(got) == pytest.approx(ref_f1(logits, target, 8, average), **APPROX)


@pytest.mark.parametrize("lam_kind", ["random", "zero", "one"])
@pytest.mark.parametrize("mode", LAM_MODES)
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    batch_size=st.integers(1, 40),
    num_classes=st.integers(1, 12),
    average=st.sampled_from(AVERAGES),
)
def test_mixed_f1_and_accuracy_property(mode, lam_kind, seed, batch_size, num_classes, average):
    lam_values = None
    if lam_kind != "random" and mode != "plain":
        fill = 0.0 if lam_kind == "zero" else 1.0
        lam_values = [fill] * batch_size if mode == "per_sample" else fill
    logits, target = make_batch(seed, batch_size, num_classes, mode, lam_values=lam_values)
    assert float(mixed_f1(logits, target, num_classes, average)) == pytest.approx(
        ref_f1(logits, target, num_classes, average), **APPROX
    )
    assert float(mixed_accuracy(logits, target)) == pytest.approx(
        ref_accuracy(logits, target), **APPROX
    )


def test_class_present_only_with_weight_zero_counts_in_macro():
    # y_b's class 1 has weight 0 everywhere, yet scikit-learn averages over it (F1 0):
    # class 0: tp = 2, true = 2, pred = 2 -> F1 1; class 1: F1 0 -> macro 1/2.
    target = (torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([1.0, 1.0]))
    pred = torch.tensor([0, 0])
    want = f1_score([0, 0, 1, 1], [0, 0, 0, 0], sample_weight=[1, 1, 0, 0], average="macro",
                    zero_division=0)
    assert want == pytest.approx(0.5)
    assert float(mixed_f1(pred, target, 3)) == pytest.approx(0.5, **APPROX)
    tracker = MixedMetrics(3)
    tracker.update(pred, target)
    tracker.update(pred, torch.tensor([0, 0]))
    assert tracker.compute()["f1"] == pytest.approx(0.5, **APPROX)
    assert tracker.compute()["f1_batch_mean"] == pytest.approx(0.75, **APPROX)  # mean of 1/2 and 1


def test_scalar_lam_is_not_a_constant_per_sample_lam():
    # Documented difference: mixture of two F1 scores vs F1 of one weighted confusion matrix.
    logits, (y_a, y_b, _) = make_batch(14, 32, 6, "scalar")
    scalar = mixed_f1(logits, (y_a, y_b, 0.3), 6)
    per_sample = mixed_f1(logits, (y_a, y_b, torch.full((32,), 0.3)), 6)
    assert float(scalar) == pytest.approx(ref_f1(logits, (y_a, y_b, 0.3), 6, "macro"), **APPROX)
    assert float(per_sample) == pytest.approx(
        ref_f1(logits, (y_a, y_b, torch.full((32,), 0.3)), 6, "macro"), **APPROX
    )
    assert abs(float(scalar) - float(per_sample)) > 1e-6


def test_tensor0d_lam_and_lam_one_match_sklearn():
    logits, (y_a, y_b, _) = make_batch(15, 20, 5, "scalar")
    lam = 0.375  # exact in float32
    want = ref_f1(logits, (y_a, y_b, lam), 5, "macro")
    assert float(mixed_f1(logits, [y_a, y_b, torch.tensor(lam)], 5)) == pytest.approx(want, **APPROX)
    plain = f1_score(y_a.numpy(), logits.argmax(1).numpy(), average="macro", zero_division=0)
    assert float(mixed_f1(logits, (y_a, y_b, 1.0), 5)) == pytest.approx(plain, **APPROX)
    assert float(mixed_f1(logits, y_a, 5)) == pytest.approx(plain, **APPROX)


# --------------------------------------------------------------------------- hand checks


def test_f1_hand_checked_plain():
    # class 0: tp=1, fp=0, fn=1 -> F1 = 2/3; class 1: tp=2, fp=1, fn=0 -> F1 = 4/5
    y = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    assert float(mixed_f1(pred, y, 2, "macro")) == pytest.approx((2 / 3 + 4 / 5) / 2, **APPROX)
    assert float(mixed_f1(pred, y, 2, "micro")) == pytest.approx(3 / 4, **APPROX)
    assert float(mixed_f1(pred, y, 2, "weighted")) == pytest.approx(
        (2 * 2 / 3 + 2 * 4 / 5) / 4, **APPROX
    )
    # Absent class 2 is not averaged over, but is listed (as 0) with average=None.
    assert float(mixed_f1(pred, y, 3, "macro")) == pytest.approx((2 / 3 + 4 / 5) / 2, **APPROX)
    np.testing.assert_allclose(mixed_f1(pred, y, 3, None).numpy(), [2 / 3, 4 / 5, 0.0])


def test_f1_and_accuracy_hand_checked_scalar_lam():
    # F1(y_a) = 1; F1(y_b): class 0 has F1 0, class 1 tp=1, true=2, pred=1 -> 2/3; macro 1/3.
    target = (torch.tensor([0, 1]), torch.tensor([1, 1]), 0.25)
    pred = torch.tensor([0, 1])
    assert float(mixed_f1(pred, target, 2)) == pytest.approx(0.25 * 1 + 0.75 / 3, **APPROX)
    assert float(mixed_accuracy(pred, target)) == pytest.approx(0.25 * 1 + 0.75 * 0.5, **APPROX)


def test_f1_and_accuracy_hand_checked_per_sample_lam():
    # Weighted entries (true, pred, w): (0,0,1), (1,0,.5), (1,0,0), (0,0,.5).
    # class 0: tp=1.5, true=1.5, pred=2 -> F1 = 3/3.5; class 1: F1 0 but present -> macro /2.
    target = (torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([1.0, 0.5]))
    pred = torch.tensor([0, 0])
    assert float(mixed_f1(pred, target, 2)) == pytest.approx((3 / 3.5) / 2, **APPROX)
    assert float(mixed_f1(pred, target, 2, "micro")) == pytest.approx(1.5 / 2, **APPROX)
    assert float(mixed_accuracy(pred, target)) == pytest.approx((1.0 + 0.5) / 2, **APPROX)


def test_accuracy_hand_checked_top_k():
    logits = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    y = torch.tensor([2, 1])  # both second best
    assert float(mixed_accuracy(logits, y)) == 0.0
    assert float(mixed_accuracy(logits, y, top_k=2)) == 1.0
    assert float(mixed_accuracy(logits, (y, torch.tensor([1, 2]), 0.5), top_k=1)) == 0.25


# --------------------------------------------------------------------------- mixed_accuracy


@pytest.mark.parametrize("mode", LAM_MODES)
@pytest.mark.parametrize("seed, batch_size, num_classes", [(20, 64, 10), (21, 5, 30), (22, 1, 2)])
def test_mixed_accuracy_matches_sklearn(seed, batch_size, num_classes, mode):
    logits, target = make_batch(seed, batch_size, num_classes, mode)
    got = mixed_accuracy(logits, target)
    assert got.dtype == torch.float64 and got.shape == ()
    assert float(got) == pytest.approx(ref_accuracy(logits, target), **APPROX)
    pred = logits.argmax(1)
    assert float(mixed_accuracy(pred, target)) == pytest.approx(
        ref_accuracy(pred.numpy(), target), **APPROX
    )


def test_mixed_accuracy_scalar_formula():
    logits, (y_a, y_b, _) = make_batch(23, 50, 4, "scalar")
    pred = logits.argmax(1).numpy()
    want = 0.7 * accuracy_score(y_a.numpy(), pred) + 0.3 * accuracy_score(y_b.numpy(), pred)
    assert float(mixed_accuracy(logits, (y_a, y_b, 0.7))) == pytest.approx(want, **APPROX)


@pytest.mark.parametrize("top_k", [1, 2, 5])
@pytest.mark.parametrize("mode", LAM_MODES)
def test_mixed_accuracy_top_k_matches_sklearn(mode, top_k):
    num_classes, batch_size = 8, 40
    logits, target = make_batch(24, batch_size, num_classes, mode)
    y_a, y_b, lam, mixed, _ = as_numpy_target(target)
    scores = logits.numpy()
    labels = np.arange(num_classes)
    if mixed:
        lam_vec = np.broadcast_to(np.asarray(lam, dtype=np.float64), (batch_size,))
        want = top_k_accuracy_score(
            np.concatenate([y_a, y_b]), np.concatenate([scores, scores]), k=top_k,
            labels=labels, sample_weight=np.concatenate([lam_vec, 1 - lam_vec]),
        )
    else:
        want = top_k_accuracy_score(y_a, scores, k=top_k, labels=labels)
    got = mixed_accuracy(logits, target, top_k=top_k)
    assert float(got) == pytest.approx(want, **APPROX)


def test_mixed_accuracy_label_dtypes():
    logits, (y_a, y_b, _) = make_batch(25, 16, 6, "scalar")
    want = ref_accuracy(logits, (y_a, y_b, 0.5))
    for dtype in (torch.int32, torch.int16, torch.uint8):
        got = mixed_accuracy(logits, (y_a.to(dtype), y_b.to(dtype), 0.5))
        assert float(got) == pytest.approx(want, **APPROX)
    assert float(mixed_f1(logits.float(), (y_a.int(), y_b.int(), 0.5), 6)) == pytest.approx(
        ref_f1(logits, (y_a, y_b, 0.5), 6, "macro"), **APPROX
    )


def test_helpers_do_not_track_gradients():
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    y = torch.tensor([0, 1, 2, 0])
    assert not mixed_accuracy(logits, y).requires_grad
    assert not mixed_f1(logits, y, 3).requires_grad


# --------------------------------------------------------------------------- MixedMetrics


def epoch_batches(seed=30, num_classes=9):
    sizes_modes = [(16, "plain"), (7, "scalar"), (32, "per_sample"), (1, "per_sample"),
                   (20, "tensor0d"), (5, "scalar")]
    return [make_batch(seed + i, b, num_classes, m) for i, (b, m) in enumerate(sizes_modes)]


@pytest.mark.parametrize("average", AVERAGES)
def test_mixed_metrics_matches_sklearn(average):
    num_classes = 9
    batches = epoch_batches(num_classes=num_classes)
    losses = [0.5, torch.tensor(2.0), torch.tensor([1.5]), 3.0, torch.tensor(0.25), 1.0]
    tracker = MixedMetrics(num_classes, average=average)
    for (logits, target), loss in zip(batches, losses):
        tracker.update(logits, target, loss=loss)
    got = tracker.compute()
    want = ref_epoch(batches, num_classes, average)
    sizes = np.array([len(lg) for lg, _ in batches], dtype=np.float64)
    loss_values = np.array([float(loss) for loss in losses])
    assert set(got) == {"accuracy", "f1_batch_mean", "f1", "loss"}
    assert all(type(v) is float for v in got.values())
    assert got["accuracy"] == pytest.approx(want["accuracy"], **APPROX)
    assert got["f1"] == pytest.approx(want["f1"], **APPROX)
    assert got["f1_batch_mean"] == pytest.approx(want["f1_batch_mean"], **APPROX)
    assert got["loss"] == pytest.approx(float((loss_values * sizes).sum() / sizes.sum()), **APPROX)
    np.testing.assert_allclose(tracker.per_class_f1().numpy(), want["per_class"], rtol=1e-9, atol=1e-12)


def test_eval_script_f1_is_sklearn_f1_of_all_predictions():
    # The eval-script pattern: plain labels in batches of unequal size. "f1" is what
    # f1_score gives for all of the predictions at once; the batch mean is something else.
    gen = torch.Generator().manual_seed(42)
    tracker = MixedMetrics(10)
    ys, preds = [], []
    for size in (64, 64, 64, 7):
        logits = torch.randn(size, 10, generator=gen)
        y = torch.randint(0, 10, (size,), generator=gen)
        tracker.update(logits, y)
        ys.append(y.numpy())
        preds.append(logits.argmax(1).numpy())
    got = tracker.compute()
    y_true, y_pred = np.concatenate(ys), np.concatenate(preds)
    assert got["f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"), **APPROX)
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), **APPROX)
    assert abs(got["f1_batch_mean"] - got["f1"]) > 1e-3
    assert "f1_epoch" not in got


def test_mixed_metrics_class_predictions_and_absent_classes():
    num_classes = 30  # most classes never occur
    gen = torch.Generator().manual_seed(40)
    batches = []
    for i in range(4):
        pred = torch.randint(0, 6, (12,), generator=gen)
        y = torch.randint(0, 6, (12,), generator=gen)
        y2 = torch.randint(0, 6, (12,), generator=gen)
        target = y if i == 0 else (y, y2, torch.rand(12, generator=gen))
        batches.append((pred, target))
    tracker = MixedMetrics(num_classes)
    for pred, target in batches:
        tracker.update(pred, target)
    got = tracker.compute()
    want = ref_epoch(batches, num_classes, "macro")
    assert got["f1"] == pytest.approx(want["f1"], **APPROX)
    assert got["f1_batch_mean"] == pytest.approx(want["f1_batch_mean"], **APPROX)
    assert got["accuracy"] == pytest.approx(want["accuracy"], **APPROX)


def test_mixed_metrics_single_batch_equals_helpers_reference():
    logits, target = make_batch(41, 50, 7, "per_sample")
    tracker = MixedMetrics(7)
    tracker.update(logits, target)
    got = tracker.compute()
    # One per-sample batch: per-batch F1 and epoch F1 are both sklearn's weighted F1.
    assert got["f1_batch_mean"] == pytest.approx(ref_f1(logits, target, 7, "macro"), **APPROX)
    assert got["f1"] == pytest.approx(ref_f1(logits, target, 7, "macro"), **APPROX)
    assert got["accuracy"] == pytest.approx(ref_accuracy(logits, target), **APPROX)


def test_mixed_metrics_loss_absent_or_partial():
    batches = epoch_batches()[:3]
    tracker = MixedMetrics(9)
    for logits, target in batches:
        tracker.update(logits, target)
    assert "loss" not in tracker.compute()
    tracker.reset()
    tracker.update(*batches[0], loss=2.0)  # 16 samples
    tracker.update(*batches[1])  # no loss: left out
    tracker.update(*batches[2], loss=torch.tensor(0.5, requires_grad=True) * 2)  # 32 samples
    assert tracker.compute()["loss"] == pytest.approx((2.0 * 16 + 1.0 * 32) / 48, **APPROX)
    assert not any(t.requires_grad for t in tracker._state.values())


def test_mixed_metrics_reset_and_compute_cache():
    batches = epoch_batches()
    tracker = MixedMetrics(9)
    tracker.update(*batches[0])
    first = tracker.compute()
    assert tracker.compute() == first  # compute() is repeatable
    tracker.update(*batches[1])  # update after compute() is taken into account
    want = ref_epoch(batches[:2], 9, "macro")
    assert tracker.compute()["f1"] == pytest.approx(want["f1"], **APPROX)
    tracker.reset()
    assert tracker.device is None
    with pytest.raises(RuntimeError, match=r"compute\(\) was called before any update\(\)"):
        tracker.compute()
    for logits, target in batches[2:]:
        tracker.update(logits, target)
    want = ref_epoch(batches[2:], 9, "macro")
    assert tracker.compute()["f1"] == pytest.approx(want["f1"], **APPROX)
    assert tracker.compute()["accuracy"] == pytest.approx(want["accuracy"], **APPROX)


def test_mixed_metrics_failed_update_leaves_state_unchanged():
    batches = epoch_batches()
    tracker = MixedMetrics(9)
    tracker.update(*batches[0])
    logits, (y_a, y_b, lam) = batches[2]
    bad = y_b.clone()
    bad[3] = 9
    with pytest.raises(ValueError, match=r"target\.y_b must hold class indices in \[0, 9\), got 9"):
        tracker.update(logits, (y_a, bad, lam), loss=1.0)
    with pytest.raises(TypeError, match="loss must be"):
        tracker.update(logits, (y_a, y_b, lam), loss="1.0")
    got = tracker.compute()
    want = ref_epoch(batches[:1], 9, "macro")
    assert got["f1"] == pytest.approx(want["f1"], **APPROX)
    assert got["accuracy"] == pytest.approx(want["accuracy"], **APPROX)
    assert "loss" not in got
    assert repr(tracker) == "MixedMetrics(num_classes=9, average='macro')"


def test_mixed_metrics_rejects_another_device():
    tracker = MixedMetrics(3)
    tracker.update(torch.randn(2, 3), torch.tensor([0, 1]))
    logits = torch.empty(2, 3, device="meta")
    y = torch.empty(2, dtype=torch.long, device="meta")
    with pytest.raises(ValueError, match=r"logits must be on the device of the previous batches \(cpu\) until reset\(\), got meta"):
        tracker.update(logits, y)


# --------------------------------------------------------------------------- accelerator policy


@pytest.fixture
def lazy_checks(monkeypatch):
    """Run the accelerator code path on CPU: no eager value checks anywhere."""
    monkeypatch.setattr(metrics, "_eager_checks", lambda device: False)

    def no_value_check(lam, batch_size=None, name="lam"):
        return lam if isinstance(lam, torch.Tensor) else float(lam)

    monkeypatch.setattr(metrics, "check_lam", no_value_check)


@contextlib.contextmanager
def host_reads_forbidden():
    """Make every way of reading a tensor value on the host raise (a sync on an accelerator)."""
    names = ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__")
    own = {name: torch.Tensor.__dict__[name] for name in names if name in torch.Tensor.__dict__}

    def boom(*args, **kwargs):
        raise AssertionError("host read of a tensor value")

    for name in names:
        setattr(torch.Tensor, name, boom)
    try:
        yield
    finally:
        for name in names:
            if name in own:
                setattr(torch.Tensor, name, own[name])
            else:
                delattr(torch.Tensor, name)


def test_host_reads_forbidden_works():
    with host_reads_forbidden():
        with pytest.raises(AssertionError, match="host read"):
            bool(torch.tensor(1.0) > 0)
        with pytest.raises(AssertionError, match="host read"):
            torch.tensor(1.0).item()
    assert bool(torch.tensor(1.0) > 0)


@pytest.mark.parametrize("mode", ["plain", "scalar", "per_sample"])  # no 0-d CPU lam: float() reads it
def test_lazy_path_reads_nothing_and_matches_sklearn(lazy_checks, mode):
    num_classes = 6
    batches = [make_batch(50 + i, 24, num_classes, mode) for i in range(3)]
    tracker = MixedMetrics(num_classes, average="weighted")
    with host_reads_forbidden():
        f1 = mixed_f1(*batches[0], num_classes, "weighted")
        acc = mixed_accuracy(*batches[0], top_k=2)
        acc1 = mixed_accuracy(batches[0][0].argmax(1), batches[0][1])
        for logits, target in batches:
            tracker.update(logits, target, loss=torch.tensor(1.0))
    logits, target = batches[0]
    assert float(f1) == pytest.approx(ref_f1(logits, target, num_classes, "weighted"), **APPROX)
    assert float(acc1) == pytest.approx(ref_accuracy(logits, target), **APPROX)
    assert 0.0 <= float(acc) <= 1.0
    got = tracker.compute()
    want = ref_epoch(batches, num_classes, "weighted")
    for key in ("accuracy", "f1_batch_mean", "f1"):
        assert got[key] == pytest.approx(want[key], **APPROX)


def test_lazy_path_values(lazy_checks):
    logits, target = make_batch(51, 24, 6, "per_sample")
    assert float(mixed_f1(logits, target, 6, "weighted")) == pytest.approx(
        ref_f1(logits, target, 6, "weighted"), **APPROX
    )
    y_a, y_b, lam = target
    bad_y = y_a.clone()
    bad_y[0] = -1
    assert math.isnan(float(mixed_f1(logits, (bad_y, y_b, lam), 6)))
    assert math.isnan(float(mixed_accuracy(logits, (bad_y, y_b, lam))))
    assert math.isnan(float(mixed_accuracy(logits, bad_y)))
    bad_lam = lam.clone()
    bad_lam[2] = 1.5
    assert math.isnan(float(mixed_f1(logits, (y_a, y_b, bad_lam), 6)))
    assert math.isnan(float(mixed_accuracy(logits, (y_a, y_b, bad_lam))))
    pred = torch.full((24,), 6)
    assert math.isnan(float(mixed_f1(pred, (y_a, y_b, lam), 6)))

    tracker = MixedMetrics(6)
    tracker.update(logits, target)
    tracker.update(logits, (bad_y, y_b, lam))  # no error here: only compute() can tell
    with pytest.raises(ValueError, match=r"received 1 invalid value\(s\) .* outside \[0, 6\) or lam outside \[0, 1\]"):
        tracker.compute()
    tracker.reset()
    tracker.update(logits, (y_a, y_b, bad_lam))
    with pytest.raises(ValueError, match=r"received 1 invalid value"):
        tracker.compute()


@requires_cuda
@pytest.mark.parametrize("mode", LAM_MODES)
def test_cuda_matches_cpu_without_sync(mode):
    num_classes = 10
    batches = [make_batch(60 + i, 32, num_classes, mode) for i in range(3)]
    cpu = MixedMetrics(num_classes)
    gpu = MixedMetrics(num_classes)
    for logits, target in batches:
        cpu.update(logits, target, loss=1.0)
    dev = torch.device("cuda")
    moved = []
    for logits, target in batches:
        if isinstance(target, torch.Tensor):
            target = target.to(dev)
        else:
            target = tuple(t.to(dev) if isinstance(t, torch.Tensor) else t for t in target)
        moved.append((logits.to(dev), target))
    loss = torch.tensor(1.0, device=dev)  # created before: a copy from the host syncs
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for logits, target in moved:
            gpu.update(logits, target, loss=loss)
            f1 = mixed_f1(logits, target, num_classes)
            acc = mixed_accuracy(logits, target, top_k=3)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert f1.device.type == "cuda" and acc.device.type == "cuda"
    got, want = gpu.compute(), cpu.compute()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12)
    logits, target = batches[-1]
    assert float(f1) == pytest.approx(ref_f1(logits, target, num_classes, "macro"), **APPROX)


@requires_cuda
def test_cuda_bad_labels_give_nan_and_compute_error():
    dev = torch.device("cuda")
    logits = torch.randn(4, 3, device=dev)
    y = torch.tensor([0, 1, 3, 2], device=dev)
    assert math.isnan(float(mixed_f1(logits, y, 3)))
    tracker = MixedMetrics(3)
    tracker.update(logits, y)
    with pytest.raises(ValueError, match="invalid value"):
        tracker.compute()


# --------------------------------------------------------------------------- bad input


LOGITS = torch.zeros(4, 3)
Y = torch.tensor([0, 1, 2, 0])


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: mixed_f1(LOGITS, Y, 0), ValueError, r"num_classes must be an int >= 1, got 0"),
        (lambda: mixed_f1(LOGITS, Y, 3.0), TypeError, r"num_classes must be an int >= 1, got 3\.0 \(float\)"),
        (lambda: mixed_f1(LOGITS, Y, 3, "samples"), ValueError,
         r"average must be one of 'macro', 'micro', 'weighted', None for task='multiclass', got 'samples'"),
        (lambda: mixed_f1(LOGITS, Y, 4), ValueError,
         r"logits must have shape \(B, num_classes=4\), got shape \(4, 3\)"),
        (lambda: mixed_f1([[0.0]], Y, 3), TypeError, r"logits must be a tensor of scores .* got \[\[0\.0\]\] \(list\)"),
        (lambda: mixed_f1(torch.zeros(4, 3, 2), Y, 3), ValueError,
         r"logits must be scores of shape \(B, K\) or class predictions of shape \(B,\), got shape \(4, 3, 2\)"),
        (lambda: mixed_f1(torch.zeros(4, 3, dtype=torch.bool), Y, 3), TypeError,
         r"logits of shape \(B, K\) must be a real tensor, got dtype torch\.bool"),
        (lambda: mixed_f1(torch.zeros(4), Y, 3), TypeError,
         r"logits of shape \(B,\) must be integer class predictions, got dtype torch\.float32"),
        (lambda: mixed_f1(torch.zeros(0, 3), Y[:0], 3), ValueError,
         r"logits must hold at least one sample, got shape \(0, 3\)"),
        (lambda: mixed_f1(torch.tensor([0, 1, 3, 0]), Y, 3), ValueError,
         r"logits must hold class indices in \[0, 3\), got 3"),
        (lambda: mixed_f1(LOGITS, Y.float(), 3), TypeError,
         r"target must be class indices: an integer tensor of shape \(4,\), got a tensor of shape \(4,\) and dtype torch\.float32"),
        (lambda: mixed_f1(LOGITS, torch.zeros(4, 3, dtype=torch.long), 3), ValueError,
         r"target must be class indices: .* \(label vectors \(B, K\) need task='multilabel'\), got shape \(4, 3\)"),
        (lambda: mixed_f1(LOGITS, Y[:3], 3), ValueError,
         r"target must be class indices: an integer tensor of shape \(4,\) to match logits, got shape \(3,\)"),
        (lambda: mixed_f1(LOGITS, (Y[:3], Y[:3], 0.5), 3), ValueError,
         r"target\.y_a must be class indices: an integer tensor of shape \(4,\) to match logits, got shape \(3,\)"),
        (lambda: mixed_f1(LOGITS, (Y, Y[:3], 0.5), 3), ValueError,
         r"target\.y_a and target\.y_b must have the same shape, got \(4,\) and \(3,\)"),
        (lambda: mixed_f1(LOGITS, torch.tensor([0, 3, 1, 0]), 3), ValueError,
         r"target must hold class indices in \[0, 3\), got 3"),
        (lambda: mixed_f1(LOGITS, (torch.tensor([0, -1, 1, 0]), Y, 0.5), 3), ValueError,
         r"target\.y_a must hold class indices in \[0, 3\), got -1"),
        (lambda: mixed_f1(LOGITS, (Y, torch.tensor([0, 1, 1, 5]), 0.5), 3), ValueError,
         r"target\.y_b must hold class indices in \[0, 3\), got 5"),
        (lambda: mixed_f1(LOGITS, (Y, Y, 1.5), 3), ValueError, r"target\.lam must be in \[0, 1\], got 1\.5"),
        (lambda: mixed_f1(LOGITS, (Y, Y, torch.tensor([0.5, -0.1, 0.2, 0.3])), 3), ValueError,
         r"target\.lam must be in \[0, 1\], got -0\.1"),
        (lambda: mixed_f1(LOGITS, (Y, Y, torch.tensor([0.5, math.nan, 0.2, 0.3])), 3), ValueError,
         r"target\.lam must be in \[0, 1\], got nan"),
        (lambda: mixed_f1(LOGITS, (Y, Y, torch.full((3,), 0.5)), 3), ValueError,
         r"target\.lam must have shape \(4,\) to match the batch, got shape \(3,\)"),
        (lambda: mixed_f1(LOGITS, (Y, Y, "0.5"), 3), TypeError, r"target\.lam must be a number or a tensor, got '0\.5' \(str\)"),
        (lambda: mixed_f1(LOGITS, (Y, Y), 3), ValueError,
         r"target must be a tensor or a mixed target \(y_a, y_b, lam\) of length 3, got a tuple of length 2"),
        (lambda: mixed_f1(LOGITS, [0, 1, 2, 0], 3), ValueError, r"target must be a tensor or a mixed target"),
        (lambda: mixed_f1(LOGITS, (Y, [0, 1, 2, 0], 0.5), 3), TypeError, r"target\.y_b must be a tensor, got \[0, 1, 2, 0\] \(list\)"),
        (lambda: mixed_accuracy(LOGITS, Y, top_k=0), ValueError, r"top_k must be an int >= 1, got 0"),
        (lambda: mixed_accuracy(LOGITS, Y, top_k=2.0), TypeError, r"top_k must be an int >= 1, got 2\.0 \(float\)"),
        (lambda: mixed_accuracy(LOGITS, Y, top_k=4), ValueError,
         r"top_k must be <= the number of classes in logits \(3\), got 4"),
        (lambda: mixed_accuracy(Y, Y, top_k=2), ValueError,
         r"top_k must be 1 when logits are class predictions of shape \(B,\) .*, got 2"),
        (lambda: mixed_accuracy(LOGITS, torch.tensor([0, 1, 3, 0])), ValueError,
         r"target must hold class indices in \[0, 3\), got 3"),
        (lambda: mixed_accuracy(Y, torch.tensor([0, -2, 1, 0])), ValueError,
         r"target must hold class indices >= 0, got -2"),
        (lambda: mixed_accuracy(LOGITS, Y[:2]), ValueError, r"target must be class indices: .* to match logits, got shape \(2,\)"),
        (lambda: mixed_accuracy(LOGITS, Y.bool()), TypeError, r"target must be class indices: .* dtype torch\.bool"),
        (lambda: MixedMetrics(0), ValueError, r"num_classes must be an int >= 1, got 0"),
        (lambda: MixedMetrics(True), TypeError, r"num_classes must be an int >= 1, got True \(bool\)"),
        (lambda: MixedMetrics(3, average="binary"), ValueError,
         r"average must be one of 'macro', 'micro', 'weighted' for task='multiclass', got 'binary'"),
        (lambda: MixedMetrics(3, average=None), ValueError,
         r"average must be one of 'macro', 'micro', 'weighted' for task='multiclass', got None"),
        (lambda: MixedMetrics(3, sync_on_compute=1), TypeError, r"sync_on_compute must be a bool, got 1 \(int\)"),
        (lambda: MixedMetrics(3).update(LOGITS, Y, loss=torch.ones(2)), ValueError,
         r"loss must be the batch's mean loss, a 0-d tensor or a number, got shape \(2,\)"),
        (lambda: MixedMetrics(3).update(LOGITS, Y, loss=torch.tensor(1)), TypeError,
         r"loss must be the batch's mean loss, a floating tensor or a number, got dtype torch\.int64"),
        (lambda: MixedMetrics(3).update(LOGITS, Y, loss=True), TypeError,
         r"loss must be the batch's mean loss, a 0-d tensor or a number, got True \(bool\)"),
        (lambda: MixedMetrics(4).update(LOGITS, Y), ValueError,
         r"logits must have shape \(B, num_classes=4\), got shape \(4, 3\)"),
        (lambda: MixedMetrics(3).update(LOGITS, torch.tensor([0, 1, 2, 3])), ValueError,
         r"target must hold class indices in \[0, 3\), got 3"),
        (lambda: MixedMetrics(3).update(LOGITS, (Y, Y, -0.5)), ValueError, r"target\.lam must be in \[0, 1\], got -0\.5"),
        (lambda: MixedMetrics(3).update(LOGITS[:2], Y), ValueError,
         r"target must be class indices: an integer tensor of shape \(2,\) to match logits, got shape \(4,\)"),
        (lambda: MixedMetrics(3).compute(), RuntimeError,
         r"MixedMetrics\.compute\(\) was called before any update\(\) since the last reset\(\)"),
        (lambda: MixedMetrics(3).per_class_f1(), RuntimeError, r"before any update\(\)"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_input_device_mismatch():
    logits = torch.empty(4, 3, device="meta")
    with pytest.raises(ValueError, match=r"target must be on the same device as logits \(meta\), got cpu"):
        mixed_accuracy(logits, Y)
    y_meta = torch.empty(4, dtype=torch.long, device="meta")
    with pytest.raises(ValueError, match=r"target\.lam must be on the same device as logits \(meta\), got cpu"):
        mixed_f1(logits, (y_meta, y_meta, torch.full((4,), 0.5)), 3)


def test_public_api():
    assert metrics.__all__ == ["mixed_accuracy", "mixed_f1", "MixedMetrics"]
    for name in metrics.__all__:
        obj = getattr(metrics, name)
        assert obj.__doc__ and "Args:" in obj.__doc__
