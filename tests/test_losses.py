"""Tests for cutmix_collate.losses.

References are torch.nn.functional (cross_entropy, binary_cross_entropy_with_logits) and the
focal formula written out below in float64 from softmax probabilities; no expected numbers are
computed with the code under test.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cutmix_collate.functional import MixedTarget
from cutmix_collate.losses import CutMixCriterion, FocalLoss, focal_loss, soft_targets
from _helpers import requires_cuda

B, K = 6, 5
SCALAR_AND_PER_SAMPLE = [0.3, torch.tensor(0.3), "per_sample"]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(seed: int = 0, b: int = B, k: int = K, spatial: tuple = ()):
    """Logits (b, k, *spatial), labels y_a and their partner labels y_b = y_a[perm]."""
    g = _gen(seed)
    pred = torch.randn((b, k) + spatial, generator=g) * 3
    y_a = torch.randint(0, k, (b,) + spatial, generator=g)
    perm = torch.randperm(b, generator=g)
    return pred, y_a, y_a[perm]


def _weights(k: int = K, seed: int = 1) -> torch.Tensor:
    return torch.rand(k, generator=_gen(seed)) * 2 + 0.1


def _focal_ref(pred, y, gamma, alpha=None, ignore_index=-100):
    """-alpha[y] * (1 - p_y) ** gamma * log p_y per sample, written out from softmax (float64)."""
    p = torch.softmax(pred.double(), dim=1)
    keep = y != ignore_index
    safe = torch.where(keep, y, torch.zeros_like(y))
    p_y = p.gather(1, safe.unsqueeze(1)).squeeze(1)
    loss = -((1 - p_y) ** gamma) * torch.log(p_y)
    if alpha is not None:
        loss = loss * alpha.double()[safe]
    return torch.where(keep, loss, torch.zeros_like(loss)), keep


# --------------------------------------------------------------------------------------------
# CutMixCriterion, scalar lam
# --------------------------------------------------------------------------------------------

CE_KWARGS = [
    {},
    {"weight": _weights()},
    {"label_smoothing": 0.1},
    {"weight": _weights(), "label_smoothing": 0.2, "ignore_index": 2},
    {"reduction": "sum"},
    {"reduction": "none"},
]


@pytest.mark.parametrize("kwargs", CE_KWARGS, ids=lambda kw: ",".join(kw) or "plain")
@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, torch.tensor(0.7)])
def test_scalar_lam_matches_functional_cross_entropy(kwargs, lam):
    pred, y_a, y_b = _batch(1)
    criterion = CutMixCriterion(nn.CrossEntropyLoss(**kwargs))
    out = criterion(pred, MixedTarget(y_a, y_b, lam))
    expected = lam * F.cross_entropy(pred, y_a, **kwargs) + (1 - lam) * F.cross_entropy(
        pred, y_b, **kwargs
    )
    torch.testing.assert_close(out, expected)


def test_default_criterion_is_cross_entropy():
    pred, y_a, y_b = _batch(2)
    out = CutMixCriterion()(pred, (y_a, y_b, 0.25))
    expected = 0.25 * F.cross_entropy(pred, y_a) + 0.75 * F.cross_entropy(pred, y_b)
    torch.testing.assert_close(out, expected)
    assert isinstance(CutMixCriterion().criterion, nn.CrossEntropyLoss)


@pytest.mark.parametrize("container", [MixedTarget, tuple, list])
def test_mixed_target_containers_are_accepted(container):
    pred, y_a, y_b = _batch(3)
    parts = (y_a, y_b, 0.4)
    target = container(parts) if container is not MixedTarget else MixedTarget(*parts)
    out = CutMixCriterion()(pred, target)
    expected = 0.4 * F.cross_entropy(pred, y_a) + 0.6 * F.cross_entropy(pred, y_b)
    torch.testing.assert_close(out, expected)


def test_plain_function_criterion_scalar_lam():
    pred, y_a, y_b = _batch(4)
    criterion = CutMixCriterion(F.cross_entropy)
    out = criterion(pred, (y_a, y_b, 0.6))
    expected = 0.6 * F.cross_entropy(pred, y_a) + 0.4 * F.cross_entropy(pred, y_b)
    torch.testing.assert_close(out, expected)
    assert "cross_entropy" in repr(criterion)


def test_bce_multilabel_scalar_lam():
    g = _gen(5)
    pred = torch.randn(B, K, generator=g)
    y_a = (torch.rand(B, K, generator=g) > 0.5).float()
    y_b = y_a.flip(0)
    out = CutMixCriterion(nn.BCEWithLogitsLoss())(pred, (y_a, y_b, 0.35))
    expected = 0.35 * F.binary_cross_entropy_with_logits(pred, y_a) + 0.65 * (
        F.binary_cross_entropy_with_logits(pred, y_b)
    )
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_scalar_lam_with_focal_loss(gamma):
    pred, y_a, y_b = _batch(6)
    alpha = _weights()
    out = CutMixCriterion(FocalLoss(gamma=gamma, alpha=alpha))(pred, (y_a, y_b, 0.8))
    ref_a, _ = _focal_ref(pred, y_a, gamma, alpha)
    ref_b, _ = _focal_ref(pred, y_b, gamma, alpha)
    expected = 0.8 * ref_a.mean() + 0.2 * ref_b.mean()
    torch.testing.assert_close(out, expected.float())


# --------------------------------------------------------------------------------------------
# Plain targets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", CE_KWARGS[:4], ids=lambda kw: ",".join(kw) or "plain")
def test_plain_target_passthrough_cross_entropy(kwargs):
    pred, y, _ = _batch(7)
    out = CutMixCriterion(nn.CrossEntropyLoss(**kwargs))(pred, y)
    torch.testing.assert_close(out, F.cross_entropy(pred, y, **kwargs), rtol=0, atol=0)


def test_plain_target_passthrough_dense_and_bce():
    g = _gen(8)
    pred = torch.randn(B, K, generator=g)
    dense = torch.softmax(torch.randn(B, K, generator=g), dim=1)  # e.g. torchvision v2.CutMix
    torch.testing.assert_close(CutMixCriterion()(pred, dense), F.cross_entropy(pred, dense))
    multi = (torch.rand(B, K, generator=g) > 0.5).float()
    out = CutMixCriterion(nn.BCEWithLogitsLoss())(pred, multi)
    torch.testing.assert_close(out, F.binary_cross_entropy_with_logits(pred, multi))


# --------------------------------------------------------------------------------------------
# CutMixCriterion, per-sample lam
# --------------------------------------------------------------------------------------------

PER_SAMPLE_CRITERIA = {
    "ce": lambda r: nn.CrossEntropyLoss(reduction=r),
    "ce_weight": lambda r: nn.CrossEntropyLoss(weight=_weights(), reduction=r),
    "ce_smooth": lambda r: nn.CrossEntropyLoss(label_smoothing=0.15, reduction=r),
    "ce_all": lambda r: nn.CrossEntropyLoss(
        weight=_weights(), label_smoothing=0.1, ignore_index=3, reduction=r
    ),
    "nll_weight": lambda r: nn.NLLLoss(weight=_weights(), ignore_index=0, reduction=r),
    "focal": lambda r: FocalLoss(gamma=1.5, alpha=_weights(), ignore_index=1, reduction=r),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(PER_SAMPLE_CRITERIA))
@pytest.mark.parametrize("spatial", [(), (3, 2)])
def test_constant_per_sample_lam_equals_the_mixed_wrapped_loss(name, reduction, spatial):
    pred, y_a, y_b = _batch(9, spatial=spatial)
    module = PER_SAMPLE_CRITERIA[name](reduction)
    expected = 0.3 * module(pred, y_a) + 0.7 * module(pred, y_b)  # the loss as torch gives it
    per_sample = CutMixCriterion(module)(pred, (y_a, y_b, torch.full((B,), 0.3)))
    torch.testing.assert_close(per_sample, expected)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_constant_per_sample_lam_equals_the_mixed_bce_multilabel(reduction):
    g = _gen(10)
    pred = torch.randn(B, K, generator=g)
    y_a = (torch.rand(B, K, generator=g) > 0.5).float()
    y_b = y_a[torch.randperm(B, generator=g)]
    module = nn.BCEWithLogitsLoss(pos_weight=torch.rand(K, generator=g) + 0.5, reduction=reduction)
    expected = 0.65 * module(pred, y_a) + 0.35 * module(pred, y_b)
    per_sample = CutMixCriterion(module)(pred, (y_a, y_b, torch.full((B,), 0.65)))
    torch.testing.assert_close(per_sample, expected)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_per_sample_lam_cross_entropy_reference(reduction):
    pred, y_a, y_b = _batch(11)
    lam = torch.rand(B, generator=_gen(12))
    out = CutMixCriterion(nn.CrossEntropyLoss(label_smoothing=0.1, reduction=reduction))(
        pred, (y_a, y_b, lam)
    )
    mixed = lam * F.cross_entropy(pred, y_a, label_smoothing=0.1, reduction="none") + (
        1 - lam
    ) * F.cross_entropy(pred, y_b, label_smoothing=0.1, reduction="none")
    expected = {"mean": mixed.mean(), "sum": mixed.sum(), "none": mixed}[reduction]
    torch.testing.assert_close(out, expected)


def test_per_sample_lam_bce_multilabel_mean_over_all_elements():
    g = _gen(13)
    pred = torch.randn(B, K, generator=g)
    y_a = (torch.rand(B, K, generator=g) > 0.5).float()
    y_b = (torch.rand(B, K, generator=g) > 0.5).float()
    lam = torch.rand(B, generator=g)
    out = CutMixCriterion(nn.BCEWithLogitsLoss())(pred, (y_a, y_b, lam))
    l_a = F.binary_cross_entropy_with_logits(pred, y_a, reduction="none")
    l_b = F.binary_cross_entropy_with_logits(pred, y_b, reduction="none")
    expected = (lam[:, None] * l_a + (1 - lam[:, None]) * l_b).sum() / (B * K)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("permuted", [True, False])
def test_per_sample_lam_weighted_ce_uses_mixed_weights_in_denominator(permuted):
    pred, y_a, y_b = _batch(14)
    if not permuted:
        y_b = torch.randint(0, K, (B,), generator=_gen(15))
    weight = _weights()
    lam = torch.rand(B, generator=_gen(16))
    ignore = int(y_a[0])
    kwargs = {"weight": weight, "ignore_index": ignore, "label_smoothing": 0.05}
    out = CutMixCriterion(nn.CrossEntropyLoss(**kwargs))(pred, (y_a, y_b, lam))

    def w_of(y):
        return torch.where(y == ignore, torch.zeros(()), weight[y.clamp(min=0)])

    l_a = F.cross_entropy(pred, y_a, reduction="none", **kwargs)
    l_b = F.cross_entropy(pred, y_b, reduction="none", **kwargs)
    expected = (lam * l_a + (1 - lam) * l_b).sum() / (lam * w_of(y_a) + (1 - lam) * w_of(y_b)).sum()
    torch.testing.assert_close(out, expected)


def test_per_sample_lam_is_moved_and_cast():
    pred, y_a, y_b = _batch(17)
    lam64 = torch.full((B,), 0.4, dtype=torch.float64)
    out = CutMixCriterion()(pred, (y_a, y_b, lam64))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, 0.4 * F.cross_entropy(pred, y_a) + 0.6 * F.cross_entropy(pred, y_b))


def test_wrapped_module_is_not_modified_and_later_changes_are_followed():
    pred, y_a, y_b = _batch(18)
    lam = torch.rand(B, generator=_gen(19))
    module = nn.CrossEntropyLoss(weight=_weights(seed=3))
    criterion = CutMixCriterion(module)
    criterion(pred, (y_a, y_b, lam))
    assert module.reduction == "mean"
    assert criterion.criterion is module

    # Changes after the first call: weight removed, smoothing set, reduction changed.
    module.weight = None
    module.label_smoothing = 0.3
    l_a = F.cross_entropy(pred, y_a, reduction="none", label_smoothing=0.3)
    l_b = F.cross_entropy(pred, y_b, reduction="none", label_smoothing=0.3)
    mixed = lam * l_a + (1 - lam) * l_b
    torch.testing.assert_close(criterion(pred, (y_a, y_b, lam)), mixed.mean())
    module.reduction = "sum"
    torch.testing.assert_close(criterion(pred, (y_a, y_b, lam)), mixed.sum())
    assert module.reduction == "sum" and module.label_smoothing == 0.3


def test_wrapped_module_is_registered_and_moved_by_to():
    criterion = CutMixCriterion(nn.CrossEntropyLoss(weight=_weights()))
    assert "criterion.weight" in criterion.state_dict()
    criterion.to(torch.float64)
    assert criterion.criterion.weight.dtype == torch.float64
    pred, y_a, y_b = _batch(20)
    pred = pred.double()
    lam = torch.rand(B, generator=_gen(21))
    out = criterion(pred, (y_a, y_b, lam))
    assert out.dtype == torch.float64


def test_focal_loss_alpha_buffer_moves_with_wrapper():
    criterion = CutMixCriterion(FocalLoss(alpha=_weights()))
    assert "criterion.alpha" in criterion.state_dict()
    criterion.to(torch.float64)
    assert criterion.criterion.alpha.dtype == torch.float64


def test_kl_div_batchmean_per_sample():
    g = _gen(22)
    log_q = torch.log_softmax(torch.randn(B, K, generator=g), dim=1)
    t_a = torch.softmax(torch.randn(B, K, generator=g), dim=1)
    t_b = t_a.flip(0)
    criterion = CutMixCriterion(nn.KLDivLoss(reduction="batchmean"))
    scalar = criterion(log_q, (t_a, t_b, 0.45))
    expected = 0.45 * F.kl_div(log_q, t_a, reduction="batchmean") + 0.55 * F.kl_div(
        log_q, t_b, reduction="batchmean"
    )
    torch.testing.assert_close(scalar, expected)
    torch.testing.assert_close(criterion(log_q, (t_a, t_b, torch.full((B,), 0.45))), expected)


# --------------------------------------------------------------------------------------------
# Gradients, large logits, autocast, dtype
# --------------------------------------------------------------------------------------------


def _ce_written_out(pred, y):
    return -torch.log_softmax(pred, dim=1).gather(1, y[:, None]).squeeze(1)


@pytest.mark.parametrize("lam", [0.3, "per_sample"])
def test_gradients_match_autograd_of_written_out_formula(lam):
    pred, y_a, y_b = _batch(23)
    lam = torch.rand(B, generator=_gen(24)) if lam == "per_sample" else lam
    x = pred.clone().requires_grad_(True)
    CutMixCriterion()(x, (y_a, y_b, lam)).backward()
    x_ref = pred.clone().requires_grad_(True)
    (lam * _ce_written_out(x_ref, y_a) + (1 - lam) * _ce_written_out(x_ref, y_b)).mean().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, x_ref.grad)


@pytest.mark.parametrize(
    "criterion",
    [nn.CrossEntropyLoss(), FocalLoss(gamma=0.5), FocalLoss(gamma=2.0), nn.BCEWithLogitsLoss()],
    ids=["ce", "focal0.5", "focal2", "bce"],
)
@pytest.mark.parametrize("lam", [0.5, "per_sample"])
def test_large_logits_stay_finite(criterion, lam):
    pred, y_a, y_b = _batch(25)
    if isinstance(criterion, nn.BCEWithLogitsLoss):
        y_a = F.one_hot(y_a, K).float()
        y_b = F.one_hot(y_b, K).float()
    lam = torch.rand(B, generator=_gen(26)) if lam == "per_sample" else lam
    x = (pred.sign() * 1e4).requires_grad_(True)
    loss = CutMixCriterion(criterion)(x, (y_a, y_b, lam))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("lam", SCALAR_AND_PER_SAMPLE, ids=["float", "0d", "per_sample"])
@pytest.mark.parametrize(
    "make", [nn.CrossEntropyLoss, lambda: nn.CrossEntropyLoss(weight=_weights()), FocalLoss],
    ids=["ce", "ce_weight", "focal"],
)
def test_autocast_keeps_wrapped_loss_dtype(lam, make):
    pred, y_a, y_b = _batch(27)
    lam = torch.full((B,), 0.3) if isinstance(lam, str) else lam
    module = make()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = pred.bfloat16()
        wrapped = module(x, y_a)
        out = CutMixCriterion(module)(x, (y_a, y_b, lam))
    assert out.dtype == wrapped.dtype


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_focal_under_autocast_is_float32_like_cross_entropy(dtype):
    pred, y, _ = _batch(27)
    with torch.autocast("cpu", dtype=dtype):
        x = pred.to(dtype)
        out = focal_loss(x, y, gamma=0.0)
        expected = F.cross_entropy(x, y)
    assert out.dtype == expected.dtype
    torch.testing.assert_close(out, expected)
    assert focal_loss(x, y).dtype == F.cross_entropy(x, y).dtype == dtype  # no autocast


@pytest.mark.parametrize("lam", SCALAR_AND_PER_SAMPLE, ids=["float", "0d", "per_sample"])
def test_half_precision_loss_is_not_promoted(lam):
    pred, y_a, y_b = _batch(28)
    lam = torch.full((B,), 0.3) if isinstance(lam, str) else lam
    x = pred.bfloat16()
    wrapped = F.cross_entropy(x, y_a)
    out = CutMixCriterion()(x, (y_a, y_b, lam))
    assert wrapped.dtype == torch.bfloat16
    assert out.dtype == wrapped.dtype
    expected = 0.3 * F.cross_entropy(pred, y_a) + 0.7 * F.cross_entropy(pred, y_b)
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=2e-2)


@requires_cuda
@pytest.mark.parametrize("lam", [0.3, "per_sample"])
def test_cuda_matches_cpu(lam):
    pred, y_a, y_b = _batch(29)
    lam = torch.rand(B, generator=_gen(30)) if lam == "per_sample" else lam
    criterion = CutMixCriterion(nn.CrossEntropyLoss(weight=_weights(), label_smoothing=0.1))
    cpu = criterion(pred, (y_a, y_b, lam))
    criterion.cuda()
    x = pred.cuda().requires_grad_(True)
    out = criterion(x, MixedTarget(y_a, y_b, lam).to("cuda"))
    out.backward()
    assert out.device.type == "cuda" and torch.isfinite(x.grad).all()
    torch.testing.assert_close(out.cpu(), cpu)
    if isinstance(lam, torch.Tensor):  # lam left on the CPU is moved too
        torch.testing.assert_close(criterion(x, (y_a.cuda(), y_b.cuda(), lam)).cpu(), cpu)


@requires_cuda
def test_cuda_focal_and_soft_targets():
    pred, y_a, y_b = _batch(31)
    alpha = _weights()
    cpu = focal_loss(pred, y_a, alpha=alpha)
    torch.testing.assert_close(focal_loss(pred.cuda(), y_a.cuda(), alpha=alpha.cuda()).cpu(), cpu)
    lam = torch.rand(B, generator=_gen(32))
    soft = soft_targets((y_a.cuda(), y_b.cuda(), lam.cuda()), K)
    assert soft.device.type == "cuda"
    torch.testing.assert_close(soft.cpu(), soft_targets((y_a, y_b, lam), K))


# --------------------------------------------------------------------------------------------
# CutMixCriterion errors
# --------------------------------------------------------------------------------------------


def test_criterion_not_callable():
    with pytest.raises(TypeError, match=r"criterion must be a callable loss L\(pred, target\), "
                       r"such as nn.CrossEntropyLoss\(\), got 3 \(int\)"):
        CutMixCriterion(3)


def test_criterion_class_instead_of_instance():
    with pytest.raises(TypeError, match=r"got the class CrossEntropyLoss; did you mean "
                       r"CrossEntropyLoss\(\)\?"):
        CutMixCriterion(nn.CrossEntropyLoss)


def _bad_targets():
    pred, y_a, y_b = _batch(33)
    return [
        ((y_a, y_b), ValueError,
         r"target must be a tensor or a mixed target \(y_a, y_b, lam\) of length 3, "
         r"got a tuple of length 2"),
        ([y_a, y_b, 0.5, 0.5], ValueError, r"got a list of length 4"),
        ({"y": y_a}, TypeError, r"target must be a tensor or a mixed target"),
        ((y_a, [0] * B, 0.5), TypeError, r"target.y_b must be a tensor, got \[0"),
        ((y_a, y_b, 1.5), ValueError, r"target.lam must be in \[0, 1\], got 1.5"),
        ((y_a, y_b, -0.1), ValueError, r"target.lam must be in \[0, 1\], got -0.1"),
        ((y_a, y_b, math.nan), ValueError, r"target.lam must be in \[0, 1\], got nan"),
        ((y_a, y_b, torch.tensor(2.0)), ValueError, r"target.lam must be in \[0, 1\], got 2.0"),
        ((y_a, y_b, torch.full((B,), 0.5).index_fill(0, torch.tensor([2]), 1.25)), ValueError,
         r"target.lam must be in \[0, 1\], got 1.25"),
        ((y_a, y_b, torch.rand(B - 1)), ValueError,
         rf"target.lam must have shape \({B},\) to match the batch, got shape \({B - 1},\)"),
        ((y_a, y_b, torch.rand(B, 1)), ValueError,
         rf"target.lam must be a number, a 0-d tensor or a tensor of shape \(B,\), "
         rf"got shape \({B}, 1\)"),
        ((y_a, y_b, "0.5"), TypeError,
         r"target.lam must be a number or a tensor, got '0.5' \(str\)"),
        ((y_a[:-1], y_b[:-1], 0.5), ValueError,
         rf"target.y_a and target.y_b must have batch size {B} to match pred of shape "
         rf"\({B}, {K}\), got shape \({B - 1},\)"),
        ((y_a, y_b[:-1], 0.5), ValueError,
         rf"target.y_a and target.y_b must have the same shape, got \({B},\) and \({B - 1},\)"),
        ((y_a[0], y_b[0], 0.5), ValueError,
         r"target.y_a and target.y_b must have a batch dimension, got shape \(\)"),
    ]


@pytest.mark.parametrize("index", range(len(_bad_targets())))
def test_bad_targets_are_rejected(index):
    pred, _, _ = _batch(33)
    target, error, message = _bad_targets()[index]
    with pytest.raises(error, match=message):
        CutMixCriterion()(pred, target)


def test_pred_without_batch_dimension():
    _, y_a, y_b = _batch(34)
    with pytest.raises(ValueError, match=r"pred must have a batch dimension, got shape \(\)"):
        CutMixCriterion()(torch.tensor(1.0), (y_a, y_b, 0.5))


def test_per_sample_lam_with_plain_function():
    pred, y_a, y_b = _batch(35)
    with pytest.raises(TypeError, match=r"a per-sample lam of shape \(B,\) needs per-sample "
                       r"losses: criterion must be an nn.Module with a reduction attribute .*"
                       r"got the plain function cross_entropy"):
        CutMixCriterion(F.cross_entropy)(pred, (y_a, y_b, torch.rand(B)))


def test_per_sample_lam_with_module_without_reduction():
    class Loss(nn.Module):
        def forward(self, pred, target):
            return F.cross_entropy(pred, target)

    pred, y_a, y_b = _batch(36)
    with pytest.raises(TypeError, match=r"got Loss \(a module without a reduction attribute\)"):
        CutMixCriterion(Loss())(pred, (y_a, y_b, torch.rand(B)))


def test_per_sample_lam_with_module_that_ignores_reduction():
    class Loss(nn.Module):
        reduction = "sum"

        def forward(self, pred, target):
            return F.cross_entropy(pred, target)

    pred, y_a, y_b = _batch(37)
    with pytest.raises(ValueError, match=rf"criterion with reduction='none' must return "
                       rf"per-sample losses of shape \({B}, ...\) for a per-sample lam, got a "
                       r"tensor of shape \(\)"):
        CutMixCriterion(Loss())(pred, (y_a, y_b, torch.rand(B)))


def test_per_sample_lam_with_unknown_reduction():
    module = nn.CrossEntropyLoss()
    module.reduction = "average"
    pred, y_a, y_b = _batch(38)
    with pytest.raises(ValueError, match=r"criterion.reduction must be one of 'mean', 'sum', "
                       r"'none', 'batchmean' for a per-sample lam, got 'average'"):
        CutMixCriterion(module)(pred, (y_a, y_b, torch.rand(B)))


# --------------------------------------------------------------------------------------------
# FocalLoss
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("spatial", [(), (4, 3)])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_focal_gamma_zero_is_cross_entropy(reduction, spatial, ignore_index):
    pred, y, _ = _batch(39, spatial=spatial)
    out = focal_loss(pred, y, gamma=0.0, reduction=reduction, ignore_index=ignore_index)
    expected = F.cross_entropy(pred, y, reduction=reduction, ignore_index=ignore_index)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_focal_matches_written_out_formula(gamma, reduction, with_alpha):
    pred, y, _ = _batch(40, spatial=(2,))
    y[0, 0] = 4  # an ignored target
    alpha = _weights() if with_alpha else None
    module = FocalLoss(gamma=gamma, alpha=alpha, reduction=reduction, ignore_index=4)
    ref, keep = _focal_ref(pred, y, gamma, alpha, ignore_index=4)
    expected = {"mean": ref.sum() / keep.sum(), "sum": ref.sum(), "none": ref}[reduction]
    out = module(pred, y)
    torch.testing.assert_close(out, expected.float())
    fn = focal_loss(pred, y, gamma=gamma, alpha=alpha, reduction=reduction, ignore_index=4)
    torch.testing.assert_close(fn, out, rtol=0, atol=0)


def test_focal_mean_is_not_divided_by_alpha():
    pred, y, _ = _batch(41)
    alpha = _weights()
    total = focal_loss(pred, y, gamma=0.0, alpha=alpha, reduction="sum")
    torch.testing.assert_close(total, F.cross_entropy(pred, y, weight=alpha, reduction="sum"))
    mean = focal_loss(pred, y, gamma=0.0, alpha=alpha)
    per_sample_ce = F.cross_entropy(pred, y, weight=alpha, reduction="none")
    torch.testing.assert_close(mean, per_sample_ce.mean())


def test_focal_accepts_alpha_sequence():
    pred, y, _ = _batch(42)
    alpha = [0.5, 1.0, 2.0, 1.0, 0.25]
    ref, _ = _focal_ref(pred, y, 2.0, torch.tensor(alpha))
    torch.testing.assert_close(FocalLoss(alpha=alpha)(pred, y), ref.mean().float())


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_gradients_match_written_out_formula(gamma):
    pred, y, _ = _batch(43)
    alpha = _weights()
    x = pred.double().requires_grad_(True)
    focal_loss(x, y, gamma=gamma, alpha=alpha.double()).backward()
    x_ref = pred.double().requires_grad_(True)
    p_y = torch.softmax(x_ref, dim=1).gather(1, y[:, None]).squeeze(1)
    (-(alpha.double()[y]) * (1 - p_y) ** gamma * torch.log(p_y)).mean().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, x_ref.grad)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_large_logits_finite(gamma):
    pred, y, _ = _batch(44)
    x = (pred.sign() * 1e4)
    x[0] = -1e4
    x[0, y[0]] = 1e4  # p_y rounds to exactly 1
    x = x.requires_grad_(True)
    loss = focal_loss(x, y, gamma=gamma, reduction="sum")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # gamma=0 is cross-entropy, also at extreme logits
    if gamma == 0.0:
        torch.testing.assert_close(loss, F.cross_entropy(x, y, reduction="sum"))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"gamma": -1}, ValueError, r"gamma must be a finite number >= 0, got -1.0"),
        ({"gamma": math.inf}, ValueError, r"gamma must be a finite number >= 0, got inf"),
        ({"gamma": "2"}, TypeError, r"gamma must be a finite number >= 0, got '2' \(str\)"),
        ({"reduction": "avg"}, ValueError,
         r"reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
        ({"alpha": torch.tensor([1.0, -0.5, 1.0, 1.0, 1.0])}, ValueError,
         r"alpha must hold finite weights >= 0, got -0.5"),
        ({"alpha": torch.ones(K, 1)}, ValueError,
         rf"alpha must be a 1-D tensor of shape \(K,\), got shape \({K}, 1\)"),
        ({"alpha": 0.25}, TypeError,
         r"alpha must be None or a 1-D tensor of per-class weights, got 0.25 \(float\)"),
        ({"alpha": torch.ones(K, dtype=torch.long)}, TypeError,
         r"alpha must be a floating-point tensor, got dtype torch.int64"),
        ({"alpha": [1.0, "a"]}, TypeError, r"alpha must be None or a 1-D tensor of per-class "
         r"weights, got a list that holds non-numbers"),
        ({"ignore_index": 1.5}, TypeError, r"ignore_index must be an int, got 1.5 \(float\)"),
    ],
)
def test_focal_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        FocalLoss(**kwargs)
    pred, y, _ = _batch(45)
    with pytest.raises(error, match=message):
        focal_loss(pred, y, **kwargs)


def test_focal_alpha_wrong_length():
    pred, y, _ = _batch(46)
    message = (
        rf"alpha must have shape \({K},\) to match the {K} classes of the input, "
        r"got shape \(3,\)"
    )
    with pytest.raises(ValueError, match=message):
        FocalLoss(alpha=torch.ones(3))(pred, y)
    with pytest.raises(ValueError, match=message):
        focal_loss(pred, y, alpha=torch.ones(3))


@pytest.mark.parametrize(
    "pred, target, error, message",
    [
        (torch.zeros(B, K), torch.zeros(B), TypeError,
         r"target must be a tensor of class indices with an integer dtype, "
         r"got dtype torch.float32"),
        (torch.zeros(B, K), torch.zeros(B - 1, dtype=torch.long), ValueError,
         rf"target must have shape \({B},\) to match input of shape \({B}, {K}\), "
         rf"got shape \({B - 1},\)"),
        (torch.zeros(B, K), torch.full((B,), K), ValueError,
         rf"target must hold class indices in \[0, {K}\) or ignore_index=-100, got {K}"),
        (torch.zeros(K), torch.tensor(1), ValueError,
         rf"input must have shape \(B, K\) or \(B, K, d1, ...\), got shape \({K},\)"),
        (torch.zeros(B, K, dtype=torch.long), torch.zeros(B, dtype=torch.long), TypeError,
         r"input must be a floating-point tensor of logits, got a tensor of shape"),
        (torch.zeros(B, K), [0] * B, TypeError,
         r"target must be a tensor of class indices, got \["),
    ],
)
def test_focal_bad_inputs(pred, target, error, message):
    with pytest.raises(error, match=message):
        FocalLoss()(pred, target)


def test_focal_module_repr_and_buffer():
    module = FocalLoss(gamma=1.0, alpha=torch.ones(K))
    assert "gamma=1.0" in repr(module) and f"alpha_shape=({K},)" in repr(module)
    assert "alpha" in module.state_dict()
    assert "alpha" not in FocalLoss().state_dict()


# --------------------------------------------------------------------------------------------
# soft_targets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize(
    "lam", [0.3, torch.tensor(0.6), "per_sample", None], ids=["float", "0d", "per_sample", "plain"]
)
@pytest.mark.parametrize("spatial", [(), (3, 2)])
def test_soft_targets_cross_entropy_equals_criterion(smoothing, lam, spatial):
    pred, y_a, y_b = _batch(47, spatial=spatial)
    if lam is None:
        target = y_a
    else:
        lam = torch.rand(B, generator=_gen(48)) if lam == "per_sample" else lam
        target = MixedTarget(y_a, y_b, lam)
    soft = soft_targets(target, K, label_smoothing=smoothing)
    assert soft.shape == pred.shape and soft.dtype == torch.float32
    torch.testing.assert_close(soft.sum(dim=1), torch.ones_like(soft.sum(dim=1)))
    criterion = CutMixCriterion(nn.CrossEntropyLoss(label_smoothing=smoothing))
    torch.testing.assert_close(F.cross_entropy(pred, soft), criterion(pred, target))
    # Smoothing inside soft_targets or inside the loss: the same.
    unsmoothed = soft_targets(target, K)
    torch.testing.assert_close(
        F.cross_entropy(pred, unsmoothed, label_smoothing=smoothing), criterion(pred, target)
    )


def test_soft_targets_plain_is_one_hot():
    _, y, _ = _batch(49)
    torch.testing.assert_close(soft_targets(y, K), F.one_hot(y, K).float(), rtol=0, atol=0)


@pytest.mark.parametrize("lam", [0.7, "per_sample"])
def test_soft_targets_dense_multilabel_bce_equals_criterion(lam):
    g = _gen(50)
    pred = torch.randn(B, K, generator=g)
    y_a = (torch.rand(B, K, generator=g) > 0.5).float()
    y_b = (torch.rand(B, K, generator=g) > 0.5).float()
    lam = torch.rand(B, generator=g) if lam == "per_sample" else lam
    soft = soft_targets((y_a, y_b, lam), K, dtype=torch.float64)
    assert soft.dtype == torch.float64
    # BCE is linear in the target, so BCE on the mixed targets equals the mixed BCE.
    out = CutMixCriterion(nn.BCEWithLogitsLoss())(pred, (y_a, y_b, lam))
    expected = F.binary_cross_entropy_with_logits(pred.double(), soft)
    torch.testing.assert_close(expected, out.double())


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((torch.tensor([0, K]), K), {}, ValueError,
         rf"target must hold class indices in \[0, {K}\), got {K}"),
        (((torch.tensor([0, 1]), torch.tensor([1, -1]), 0.5), K), {}, ValueError,
         rf"target.y_b must hold class indices in \[0, {K}\), got -1"),
        ((torch.tensor([0, 1]), 0), {}, ValueError, r"num_classes must be an int >= 1, got 0"),
        ((torch.tensor([0, 1]), K), {"label_smoothing": 1.5}, ValueError,
         r"label_smoothing must be a number in \[0, 1\], got 1.5"),
        ((torch.tensor([0, 1]), K), {"dtype": torch.long}, TypeError,
         r"dtype must be a floating-point torch.dtype, got torch.int64"),
        ((torch.zeros(2, K + 1), K), {}, ValueError,
         rf"target of shape \(B, K\) holds label vectors and must be real with K = "
         rf"num_classes = {K}, got a tensor of shape \(2, {K + 1}\)"),
        ((torch.zeros(2, K - 1, dtype=torch.long), K), {}, ValueError,
         rf"target of shape \(B, K\) holds label vectors .* got a tensor of shape \(2, {K - 1}\) "
         r"and dtype torch.int64"),
        ((torch.zeros(2), K), {}, TypeError,
         rf"target must hold class indices \(integer dtype\) of shape \(B,\) or \(B, d1, d2, "
         rf"...\), or label vectors of shape \(B, {K}\), got a tensor of shape \(2,\) and dtype "
         r"torch.float32"),
        (((torch.tensor([0, 1]), torch.tensor([1, 0]), torch.rand(3)), K), {}, ValueError,
         r"target.lam must have shape \(2,\) to match the batch, got shape \(3,\)"),
        (((torch.tensor([0, 1]), torch.tensor([1, 0])), K), {}, ValueError,
         r"target must be a tensor or a mixed target \(y_a, y_b, lam\) of length 3"),
        ((torch.tensor(1), K), {}, ValueError,
         r"target must have a batch dimension, got shape \(\)"),
        ((torch.tensor([True, False]), K), {}, TypeError,
         r"target must hold class indices \(integer dtype\) .* dtype torch.bool"),
    ],
)
def test_soft_targets_bad_input(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        soft_targets(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# Property: random shapes, weights and lam
# --------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    b=st.integers(1, 5),
    k=st.integers(1, 4),
    # No spatial dims or two (a mask): a 2-D integer target is a (B, K) label vector.
    spatial=st.just(()) | st.tuples(st.integers(1, 3), st.integers(1, 3)),
    lam=st.floats(0.0, 1.0),
    smoothing=st.sampled_from([0.0, 0.2]),
    weighted=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_per_sample_constant_equals_scalar_and_soft(
    b, k, spatial, lam, smoothing, weighted, seed
):
    pred, y_a, y_b = _batch(seed, b=b, k=k, spatial=spatial)
    weight = _weights(k, seed) if weighted else None
    criterion = CutMixCriterion(nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing))
    scalar = criterion(pred, (y_a, y_b, lam))
    expected = lam * F.cross_entropy(pred, y_a, weight=weight, label_smoothing=smoothing) + (
        1 - lam
    ) * F.cross_entropy(pred, y_b, weight=weight, label_smoothing=smoothing)
    torch.testing.assert_close(scalar, expected)
    torch.testing.assert_close(criterion(pred, (y_a, y_b, torch.full((b,), lam))), scalar)
    if not weighted:
        soft = soft_targets((y_a, y_b, lam), k, label_smoothing=smoothing)
        torch.testing.assert_close(F.cross_entropy(pred, soft), scalar)


@pytest.mark.parametrize("part", ["y_a", "y_b"])
def test_mixed_target_label_out_of_range_names_the_argument(part):
    logits = torch.randn(4, 3)
    good = torch.tensor([0, 1, 2, 0])
    bad = torch.tensor([0, 5, 2, 0])
    target = (bad, good, 0.5) if part == "y_a" else (good, bad, 0.5)
    with pytest.raises(ValueError, match=rf"target\.{part} must hold class indices in \[0, 3\) or ignore_index=-100, got 5"):
        CutMixCriterion()(logits, target)


# --------------------------------------------------------------------------------------------
# Integer label vectors, losses that do not take class indices, any integer dtype
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [lambda y: y, lambda y: F.one_hot(y, K), lambda y: F.one_hot(y, K).to(torch.uint8),
     lambda y: F.one_hot(y, K).float(), lambda y: F.one_hot(y, K).bool()],
    ids=["indices", "one_hot_int64", "one_hot_uint8", "one_hot_float", "one_hot_bool"],
)
def test_soft_targets_equal_torchvision_v2_cutmix_labels(encode):
    v2 = pytest.importorskip("torchvision.transforms.v2")
    b = 8
    # Image i is filled with i + 1: each mixed pixel says which image it came from.
    images = torch.arange(1, b + 1, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 3, 16, 16).clone()
    y = torch.randint(0, K, (b,), generator=_gen(60))
    torch.manual_seed(60)
    mixed, want = v2.CutMix(num_classes=K)(images, y)
    lam = (mixed == images).float().mean(dim=(1, 2, 3))  # the share of its own pixels
    pasted = torch.where(mixed != images, mixed, 0).amax(dim=(1, 2, 3))  # 0: nothing pasted
    partner = torch.where(pasted > 0, pasted, images[:, 0, 0, 0]).long() - 1
    labels = encode(y)
    got = soft_targets((labels, labels[partner], lam), K)
    torch.testing.assert_close(got, want)


def test_integer_multi_hot_vectors_equal_float_ones():
    g = _gen(61)
    y_a = (torch.rand(B, K, generator=g) > 0.5).to(torch.uint8)  # as a uint8 collate keeps them
    y_b = y_a.flip(0)
    lam = torch.rand(B, generator=g)
    got = soft_targets((y_a, y_b, lam), K)
    assert got.shape == (B, K) and got.dtype == torch.float32
    torch.testing.assert_close(got, soft_targets((y_a.float(), y_b.float(), lam), K))
    torch.testing.assert_close(got, lam[:, None] * y_a + (1 - lam[:, None]) * y_b)


class _OrdinalLoss(nn.Module):
    """K ranks from K - 1 logits (CORAL-style): labels in [0, K) do not index the logits."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, pred, target):
        levels = (target[:, None] > torch.arange(pred.shape[1])).float()
        loss = F.binary_cross_entropy_with_logits(pred, levels, reduction="none").sum(1)
        return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[self.reduction]


def test_loss_without_class_indices_is_not_range_checked():
    g = _gen(62)
    pred = torch.randn(B, K - 1, generator=g)
    y_a = torch.tensor([0, 1, 2, 3, 4, 4])  # 4 == pred.shape[1]: a rank, not an index
    y_b = y_a.flip(0)
    loss = _OrdinalLoss()
    out = CutMixCriterion(loss)(pred, (y_a, y_b, 0.3))
    torch.testing.assert_close(out, 0.3 * loss(pred, y_a) + 0.7 * loss(pred, y_b))
    torch.testing.assert_close(CutMixCriterion(loss)(pred, y_a), loss(pred, y_a))


def test_per_sample_lam_with_a_mean_the_wrapper_cannot_know():
    g = _gen(63)
    pred = torch.randn(B, K - 1, generator=g)
    y_a = torch.randint(0, K, (B,), generator=g)
    lam = torch.rand(B, generator=g)
    with pytest.raises(TypeError, match=r"a per-sample lam of shape \(B,\) cannot be mixed into "
                       r"the reduction='mean' of _OrdinalLoss: how it weights its mean is unknown"):
        CutMixCriterion(_OrdinalLoss())(pred, (y_a, y_a.flip(0), lam))
    # With reduction="sum" there is nothing to know.
    ref = _OrdinalLoss("none")
    want = (lam * ref(pred, y_a) + (1 - lam) * ref(pred, y_a.flip(0))).sum()
    torch.testing.assert_close(CutMixCriterion(_OrdinalLoss("sum"))(pred, (y_a, y_a.flip(0), lam)), want)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64])
def test_focal_accepts_any_integer_dtype(dtype):
    pred, y, _ = _batch(64, spatial=(4, 3))  # a (B, 4, 3) segmentation mask
    y[0, 0, 0] = 4
    for ignore_index in (-100, 4):
        want = F.cross_entropy(pred, y, ignore_index=ignore_index)
        got = FocalLoss(gamma=0.0, ignore_index=ignore_index)(pred, y.to(dtype))
        torch.testing.assert_close(got, want)
    _, y_b, _ = _batch(65, spatial=(4, 3))
    mixed = CutMixCriterion(FocalLoss(gamma=0.0))(pred, (y.to(dtype), y_b.to(dtype), torch.rand(B)))
    assert torch.isfinite(mixed)


def test_focal_forward_does_not_recheck_constructor_arguments(monkeypatch):
    from cutmix_collate import losses

    module = FocalLoss(gamma=1.0, alpha=[1.0] * K)
    pred, y, _ = _batch(66)
    want = module(pred, y)

    def fail(*args):
        raise AssertionError("checked again")

    for name in ("_check_gamma", "_check_alpha_weights", "_check_ignore_index", "check_choice"):
        monkeypatch.setattr(losses, name, fail)
    torch.testing.assert_close(module(pred, y), want)
