"""Tests for cutmix_collate.functional: sample_lambda, rand_box, box_lambda, cutmix_batch.

References: scipy.stats (Beta CDF, KS/chi-square/binomial tests), numpy, and the pixels
themselves: sample i is filled with values that encode i + 1 (and the element's position), so
every output pixel says where it came from (see ``_datasets.check_provenance``). No expected
value is computed with the code under test.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import scipy.stats as stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _datasets import can_encode, check_provenance, make_image
from _helpers import pasted_by_hand, requires_cuda
from cutmix_collate import (CutMixCollator, MixBoxes, MixedTarget, MixParams, box_lambda, cutmix_batch, draw_params,
                            mixup_batch, rand_box, sample_lambda)

MODES = ["batch", "elem"]


def _gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _ks_pvalue(x: np.ndarray, alpha: float, dtype: type) -> float:
    """KS test of values rounded to ``dtype`` against Beta(alpha, alpha) rounded the same way.

    Outputs are rounded to float32/float64, so for small alpha many draws tie at exactly 0 or 1
    (Beta(0.1, 0.1) has ~9% of its mass within 3e-8 of 1). The CDF of the rounded variable at a
    representable value v is the Beta CDF at the upper edge of v's rounding cell, just below v the
    CDF at its lower edge; tails near 1 are computed as 1 - F(1 - x) to keep precision.
    """
    x = np.asarray(x, dtype=np.float64)
    values, counts = np.unique(x, return_counts=True)
    n = x.size
    ecdf_hi = np.cumsum(counts) / n
    ecdf_lo = ecdf_hi - counts / n
    typed = values.astype(dtype)
    up = np.nextafter(typed, dtype(np.inf)).astype(np.float64) - values
    down = values - np.nextafter(typed, dtype(-np.inf)).astype(np.float64)
    cdf = stats.beta(alpha, alpha).cdf
    low = values <= 0.5
    g_hi = np.where(low, cdf(np.clip(values + up / 2, 0, 1)), 1 - cdf(np.clip((1 - values) - up / 2, 0, 1)))
    g_lo = np.where(low, cdf(np.clip(values - down / 2, 0, 1)), 1 - cdf(np.clip((1 - values) + down / 2, 0, 1)))
    d = max(np.abs(ecdf_hi - g_hi).max(), np.abs(ecdf_lo - g_lo).max())
    return float(stats.kstwo.sf(d, n))


# ============================================================================ sample_lambda


@pytest.mark.parametrize("alpha", [0.1, 0.5, 1.0, 10.0])
def test_sample_lambda_vector_follows_beta(alpha):
    lam = sample_lambda(alpha, _gen(0), size=4000)
    assert isinstance(lam, torch.Tensor) and lam.dtype == torch.float32 and lam.shape == (4000,)
    assert _ks_pvalue(lam.numpy(), alpha, np.float32) > 1e-3


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
def test_sample_lambda_scalar_follows_beta(alpha):
    g = _gen(1)
    draws = [sample_lambda(alpha, g) for _ in range(4000)]
    assert all(type(v) is float for v in draws)
    assert _ks_pvalue(np.array(draws), alpha, np.float64) > 1e-3


def test_ks_helper_rejects_a_wrong_distribution():
    # The test above can fail: Beta(1, 1) draws are not Beta(0.5, 0.5), nor is Beta(0.1, 0.1) Beta(0.3, 0.3).
    assert _ks_pvalue(sample_lambda(1.0, _gen(0), size=4000).numpy(), 0.5, np.float32) < 1e-6
    assert _ks_pvalue(sample_lambda(0.1, _gen(0), size=4000).numpy(), 0.3, np.float32) < 1e-6


def test_sample_lambda_uses_default_generator():
    torch.manual_seed(7)
    a = [sample_lambda(1.0) for _ in range(5)] + sample_lambda(1.0, size=5).tolist()
    torch.manual_seed(7)
    b = [sample_lambda(1.0) for _ in range(5)] + sample_lambda(1.0, size=5).tolist()
    assert a == b
    assert len(set(a[:5])) == 5


def test_sample_lambda_generator_reproducible_and_leaves_global_state():
    before = torch.get_rng_state()
    a = sample_lambda(2.0, _gen(3), size=50)
    b = sample_lambda(2.0, _gen(3), size=50)
    assert torch.equal(a, b)
    assert sample_lambda(2.0, _gen(3)) == sample_lambda(2.0, _gen(3))
    assert torch.equal(torch.get_rng_state(), before)
    assert not torch.equal(a, sample_lambda(2.0, _gen(4), size=50))


def test_sample_lambda_size_zero_and_device():
    empty = sample_lambda(1.0, size=0)
    assert empty.shape == (0,) and empty.dtype == torch.float32
    lam = sample_lambda(1.0, size=3, device="cpu")
    assert lam.device.type == "cpu" and lam.shape == (3,)


@pytest.mark.parametrize("alpha", [1e-3, 1e-2, 1e3])
def test_sample_lambda_extreme_alpha_is_finite_in_unit_interval(alpha):
    vec = sample_lambda(alpha, _gen(0), size=4000)
    g = _gen(1)
    scalars = torch.tensor([sample_lambda(alpha, g) for _ in range(500)], dtype=torch.float64)
    for lam in (vec.double(), scalars):
        assert torch.isfinite(lam).all()
        assert ((lam >= 0) & (lam <= 1)).all()
    if alpha < 1:  # mass at both ends, symmetric
        frac_low = float((vec < 0.5).double().mean())
        frac_high = float((vec > 0.5).double().mean())
        assert abs(frac_low - frac_high) < 0.06 and frac_low > 0.3


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_sample_lambda_small_alpha_follows_beta(alpha):
    assert _ks_pvalue(sample_lambda(alpha, _gen(2), size=4000).numpy(), alpha, np.float32) > 1e-3
    g = _gen(3)
    assert _ks_pvalue(np.array([sample_lambda(alpha, g) for _ in range(4000)]), alpha, np.float64) > 1e-3


@pytest.mark.parametrize("size", [None, 4000])
def test_sample_lambda_tiny_alpha_follows_beta(size):
    alpha = 1e-3
    g = _gen(4)
    if size is None:
        lam = np.array([sample_lambda(alpha, g) for _ in range(4000)])
    else:
        lam = sample_lambda(alpha, g, size=size).double().numpy()
    # Beta(1e-3, 1e-3) puts ~1e-3 of its mass in [0.1, 0.9]: far from rounding issues at 0 and 1.
    mass_mid = stats.beta(alpha, alpha).cdf(0.9) - stats.beta(alpha, alpha).cdf(0.1)
    n_mid = int(((lam > 0.1) & (lam < 0.9)).sum())
    assert stats.binomtest(n_mid, lam.size, mass_mid).pvalue > 1e-3, f"{n_mid} of {lam.size} in (0.1, 0.9)"


@pytest.mark.parametrize(
    "alpha, exc, msg",
    [
        (0, ValueError, r"alpha must be a finite number > 0, got 0\.0"),
        (-1.0, ValueError, r"alpha must be a finite number > 0, got -1\.0"),
        (float("nan"), ValueError, r"alpha must be a finite number > 0, got nan"),
        (float("inf"), ValueError, r"alpha must be a finite number > 0, got inf"),
        (True, TypeError, r"alpha must be a finite number > 0, got True \(bool\)"),
        ("1.0", TypeError, r"alpha must be a finite number > 0, got '1\.0' \(str\)"),
        (None, TypeError, r"alpha must be a finite number > 0, got None \(NoneType\)"),
    ],
)
def test_sample_lambda_bad_alpha(alpha, exc, msg):
    with pytest.raises(exc, match=msg):
        sample_lambda(alpha)


def test_sample_lambda_bad_size():
    with pytest.raises(ValueError, match=r"size must be an int >= 0, got -1"):
        sample_lambda(1.0, size=-1)
    with pytest.raises(TypeError, match=r"size must be an int >= 0, got 2\.0 \(float\)"):
        sample_lambda(1.0, size=2.0)


# ============================================================================ rand_box / box_lambda


def _box_candidates(size: int, cut: int):
    """All boxes along one axis of length ``size`` for a side ``cut`` and any centre (reference)."""
    return {
        (min(max(c - cut // 2, 0), size), min(max(c - cut // 2 + cut, 0), size)): c for c in range(size)
    }


def _check_box_geometry(height, width, lam, box):
    y0, y1, x0, x1 = (int(v) for v in box)
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(np.floor(height * cut)), int(np.floor(width * cut))  # official CutMix: int(W * cut_rat)
    assert 0 <= y0 <= y1 <= height and 0 <= x0 <= x1 <= width
    assert (y0, y1) in _box_candidates(height, cut_h), (height, lam, cut_h, (y0, y1))
    assert (x0, x1) in _box_candidates(width, cut_w), (width, lam, cut_w, (x0, x1))


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    lam=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_rand_box_geometry_scalar(height, width, lam, seed):
    box = rand_box(height, width, lam, _gen(seed))
    assert len(box) == 4 and all(type(v) is int for v in box)
    _check_box_geometry(height, width, lam, box)


@settings(max_examples=30, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    lams=st.lists(st.floats(0.0, 1.0, width=32), min_size=1, max_size=8),
    seed=st.integers(0, 2**31 - 1),
)
def test_rand_box_geometry_tensor(height, width, lams, seed):
    lam = torch.tensor(lams, dtype=torch.float32)
    box = rand_box(height, width, lam, _gen(seed))
    assert len(box) == 4
    for t in box:
        assert isinstance(t, torch.Tensor) and t.dtype == torch.int64 and t.shape == (len(lams),)
    for i, value in enumerate(lams):
        _check_box_geometry(height, width, float(lam[i]), [t[i] for t in box])


def test_rand_box_unclipped_side_lengths():
    # A box away from the border has sides floor(sqrt(1 - lam) * side) exactly.
    g = _gen(5)
    seen = 0
    for lam in np.linspace(0.3, 0.99, 25):
        for _ in range(20):
            y0, y1, x0, x1 = rand_box(50, 70, float(lam), g)
            if 0 < y0 and y1 < 50 and 0 < x0 and x1 < 70:
                assert y1 - y0 == int(np.floor(50 * np.sqrt(1 - lam)))
                assert x1 - x0 == int(np.floor(70 * np.sqrt(1 - lam)))
                seen += 1
    assert seen > 50


@pytest.mark.parametrize("path", ["scalar", "tensor"])
def test_rand_box_centre_is_uniform(path):
    # lam = 0.91 -> sides floor(0.3 * 4) = floor(0.3 * 6) = 1: the box is the centre pixel itself.
    height, width, n = 4, 6, 4800
    g = _gen(11)
    if path == "scalar":
        boxes = [rand_box(height, width, 0.91, g) for _ in range(n)]
    else:
        cols = rand_box(height, width, torch.full((n,), 0.91), g)
        boxes = list(zip(*(c.tolist() for c in cols)))
    counts = Counter()
    for y0, y1, x0, x1 in boxes:
        assert (y1 - y0, x1 - x0) == (1, 1)
        counts[(y0, x0)] += 1
    observed = [counts[(y, x)] for y in range(height) for x in range(width)]
    assert stats.chisquare(observed).pvalue > 1e-3


def test_rand_box_tensor_boxes_are_independent():
    cols = rand_box(32, 32, torch.full((64,), 0.5), _gen(0))
    assert len(set(zip(*(c.tolist() for c in cols)))) > 20


def test_rand_box_extremes():
    g = _gen(0)
    for _ in range(20):
        y0, y1, x0, x1 = rand_box(9, 7, 1.0, g)
        assert y0 == y1 and x0 == x1  # lam = 1: nothing to paste
    # lam = 0: a full-size box centred anywhere, clipped: it reaches from the centre to one border
    for _ in range(20):
        y0, y1, x0, x1 = rand_box(9, 7, 0.0, g)
        assert (y0 == 0 or y1 == 9) and (x0 == 0 or x1 == 7)
        assert y1 - y0 >= 5 and x1 - x0 >= 4


def test_rand_box_default_generator():
    torch.manual_seed(3)
    a = [rand_box(30, 30, 0.5) for _ in range(5)]
    torch.manual_seed(3)
    b = [rand_box(30, 30, 0.5) for _ in range(5)]
    assert a == b and len(set(a)) > 1


@pytest.mark.parametrize(
    "args, exc, msg",
    [
        ((0, 5, 0.5), ValueError, r"height must be an int >= 1, got 0"),
        ((5, 0, 0.5), ValueError, r"width must be an int >= 1, got 0"),
        ((5.0, 5, 0.5), TypeError, r"height must be an int >= 1, got 5\.0 \(float\)"),
        ((5, 5, 1.5), ValueError, r"lam must be in \[0, 1\], got 1\.5"),
        ((5, 5, -0.1), ValueError, r"lam must be in \[0, 1\], got -0\.1"),
        ((5, 5, float("nan")), ValueError, r"lam must be in \[0, 1\], got nan"),
        ((5, 5, "0.5"), TypeError, r"lam must be a number or a tensor, got '0\.5' \(str\)"),
        ((5, 5, torch.tensor(0.5)), ValueError, r"lam must be a float or a tensor of shape \(B,\), got shape \(\)"),
        ((5, 5, torch.full((2, 2), 0.5)), ValueError, r"lam must be a number, a 0-d tensor or a tensor of shape \(B,\), got shape \(2, 2\)"),
        ((5, 5, torch.tensor([0.5, 1.5])), ValueError, r"lam must be in \[0, 1\], got 1\.5"),
        ((5, 5, torch.tensor([1, 0])), TypeError, r"lam must be a floating-point tensor, got dtype torch\.int64"),
    ],
)
def test_rand_box_errors(args, exc, msg):
    with pytest.raises(exc, match=msg):
        rand_box(*args)


def test_box_lambda():
    assert box_lambda(4, 5, (1, 3, 2, 5)) == pytest.approx(1 - 6 / 20, abs=1e-15)
    assert box_lambda(4, 5, (2, 2, 0, 5)) == 1.0
    assert box_lambda(4, 5, (0, 4, 0, 5)) == 0.0
    t = box_lambda(4, 5, tuple(torch.tensor(v) for v in ([1, 0, 2], [3, 4, 2], [2, 0, 0], [5, 5, 5])))
    assert t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), [1 - 6 / 20, 0.0, 1.0], atol=1e-7)


# ============================================================================ the provenance check itself


def _hand_mixed(mode="batch"):
    """A CutMix batch built by hand: partners [1, 0, 3, 2], box rows 1:4, cols 2:5 of 6x6."""
    src = torch.stack([make_image(i, (2, 6, 6), torch.float32, True) for i in range(4)])
    out = src.clone()
    index = [1, 0, 3, 2]
    for i, j in enumerate(index):
        out[i, :, 1:4, 2:5] = src[j, :, 1:4, 2:5]
    y = torch.tensor([10, 11, 12, 13])
    lam = 1 - 9 / 36
    lam = lam if mode == "batch" else torch.full((4,), lam, dtype=torch.float32)
    boxes = MixBoxes(torch.tensor([[1, 4, 2, 5]] * 4), torch.tensor(index))
    return src, out, MixedTarget(y, y[index], lam), boxes


@pytest.mark.parametrize("mode", MODES)
def test_provenance_check_accepts_a_hand_made_batch(mode):
    _, out, target, boxes = _hand_mixed(mode)
    partners, rects = check_provenance(out, target, range(4), mode=mode, encode=True, boxes=boxes)
    assert partners == [1, 0, 3, 2] and rects == [(1, 4, 2, 5)] * 4


def _corrupt(name):
    src, out, target, boxes = _hand_mixed()
    y_a, y_b, lam = target
    if name == "third_sample":
        out[0, :, 2, 3] = src[2, :, 2, 3]
    elif name == "not_rectangle":
        out[0, :, 0, 0] = src[1, :, 0, 0]
    elif name == "lam":
        lam = lam + 1 / 36
    elif name == "y_b":
        y_b = y_b[[1, 0, 2, 3]]
    elif name == "moved_pixel":
        out[0, :, 0, 0], out[0, :, 0, 1] = out[0, :, 0, 1].clone(), out[0, :, 0, 0].clone()
    elif name == "channel_swap":
        out[3] = out[3].flip(0)
    elif name == "blended":
        out[1, :, 2, 3] = (src[1, :, 2, 3] + src[0, :, 2, 3]) / 2 + 0.5
    elif name == "two_boxes":
        out[2] = src[2]
        out[2, :, 0:3, 0:3] = src[3, :, 0:3, 0:3]
    elif name == "reported_box":
        boxes = MixBoxes(torch.tensor([[1, 4, 2, 6]] * 4), boxes.index)
    elif name == "lam_type":
        lam = torch.tensor(lam)
    return out, MixedTarget(y_a, y_b, lam), boxes


@pytest.mark.parametrize(
    "name",
    ["third_sample", "not_rectangle", "lam", "y_b", "moved_pixel", "channel_swap", "blended", "two_boxes",
     "reported_box", "lam_type"],
)
def test_provenance_check_rejects_corruption(name):
    out, target, boxes = _corrupt(name)
    with pytest.raises(AssertionError):
        check_provenance(out, target, range(4), mode="batch", encode=True, boxes=boxes)


# ============================================================================ cutmix_batch

DTYPES = [torch.float32, torch.float64, torch.uint8, torch.int32, torch.int64, torch.int16]


def _batch(b, shape, dtype, labels="int"):
    encode = can_encode(dtype, shape, b)
    images = torch.stack([make_image(i, shape, dtype, encode) for i in range(b)])
    if labels == "int":
        y = torch.arange(b) * 3 + 1
    elif labels == "onehot":
        y = torch.eye(b, dtype=torch.float32)
    elif labels == "soft":
        y = torch.softmax(torch.arange(b * 4, dtype=torch.float32).reshape(b, 4) * 0.37 % 1.3, 1) + torch.arange(b)[:, None]
    else:  # multi-hot bool-ish vectors, distinct: binary code of i + 1
        y = torch.tensor([[(i + 1) >> k & 1 for k in range(5)] for i in range(b)], dtype=torch.int64)
    return images, y, encode


def _layout(images, layout):
    """The same values in another memory layout."""
    if layout == "transposed":
        return images.transpose(-1, -2).contiguous().transpose(-1, -2)
    if layout == "channels_last" and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    if layout == "strided":
        big = torch.zeros(images.shape[:-2] + (images.shape[-2] * 2, images.shape[-1] * 2 + 1), dtype=images.dtype)
        view = big[..., ::2, 1::2]
        view.copy_(images)
        return view
    return images


@settings(max_examples=70, deadline=None)
@given(
    b=st.integers(1, 7),
    lead=st.sampled_from([(), (1,), (3,)]),
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    dtype=st.sampled_from(DTYPES),
    alpha=st.sampled_from([0.2, 1.0, 3.0]),
    mode=st.sampled_from(MODES),
    labels=st.sampled_from(["int", "onehot", "soft", "multihot"]),
    layout=st.sampled_from(["contiguous", "transposed", "channels_last", "strided"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_cutmix_batch_provenance(b, lead, height, width, dtype, alpha, mode, labels, layout, seed):
    images, y, encode = _batch(b, lead + (height, width), dtype, labels)
    images = _layout(images, layout)
    before = images.clone()
    y_before = y.clone()
    out, target, boxes = cutmix_batch(images, y, alpha=alpha, mode=mode, generator=_gen(seed), return_boxes=True)
    assert isinstance(target, MixedTarget) and isinstance(boxes, MixBoxes)
    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device
    assert torch.equal(images, before) and torch.equal(y, y_before), "input modified"
    assert torch.equal(target.y_a, y) and target.y_a.dtype == y.dtype
    check_provenance(out, target, list(range(b)), mode=mode, encode=encode, boxes=boxes)


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_batch_mixes_something(mode):
    # Guard against a check that passes because nothing ever gets pasted.
    images, y, encode = _batch(6, (3, 16, 16), torch.float32)
    pasted = 0
    for seed in range(10):
        out, target = cutmix_batch(images, y, mode=mode, generator=_gen(seed))
        _, rects = check_provenance(out, target, list(range(6)), mode=mode, encode=encode)
        pasted += sum(r is not None for r in rects)
    assert pasted >= 20


def test_cutmix_batch_elem_mode_boxes_differ_per_sample():
    images, y, encode = _batch(16, (32, 32), torch.float32)
    out, target, boxes = cutmix_batch(images, y, mode="elem", generator=_gen(1), return_boxes=True)
    check_provenance(out, target, list(range(16)), mode="elem", encode=encode, boxes=boxes)
    assert len({tuple(r) for r in boxes.boxes.tolist()}) > 8
    assert len(set(target.lam.tolist())) > 8


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_batch_partners_are_uniform_permutations(mode):
    images, y, _ = _batch(3, (4, 4), torch.float32)
    counts = Counter()
    g = _gen(2)
    for _ in range(1200):
        _, target, boxes = cutmix_batch(images, y, mode=mode, generator=g, return_boxes=True)
        counts[tuple(boxes.index.tolist())] += 1
        assert torch.equal(target.y_b, y[boxes.index])
    assert sorted(counts) == sorted([(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_cutmix_batch_inplace_matches_out_of_place(mode, layout, dtype):
    images, y, encode = _batch(5, (3, 9, 11), dtype)
    images = _layout(images, layout)
    for seed in range(4):
        ref, ref_t = cutmix_batch(images, y, mode=mode, generator=_gen(seed))
        work = images.clone()
        ptr = work.data_ptr()
        out, target = cutmix_batch(work, y, mode=mode, generator=_gen(seed), inplace=True)
        assert out.data_ptr() == ptr and torch.equal(work, ref), "in-place result differs"
        assert torch.equal(out, ref)
        assert torch.equal(target.y_b, ref_t.y_b)
        if mode == "batch":
            assert target.lam == ref_t.lam
        else:
            assert torch.equal(target.lam, ref_t.lam)
        check_provenance(work, target, list(range(5)), mode=mode, encode=encode)


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_batch_prob_zero_is_identity(mode):
    images, y, _ = _batch(5, (3, 6, 6), torch.uint8)
    for seed in range(5):
        out, target, boxes = cutmix_batch(images, y, prob=0.0, mode=mode, generator=_gen(seed), return_boxes=True)
        assert torch.equal(out, images) and out.dtype == images.dtype
        assert out.data_ptr() != images.data_ptr()
        assert torch.equal(target.y_a, y) and torch.equal(target.y_b, y)
        if mode == "batch":
            assert type(target.lam) is float and target.lam == 1.0
        else:
            assert target.lam.dtype == torch.float32 and torch.equal(target.lam, torch.ones(5))
        assert boxes.index.tolist() == list(range(5))


@pytest.mark.parametrize("prob", [0.25, 0.5, 0.9])
def test_cutmix_batch_prob_is_the_mixing_frequency(prob):
    images, y, _ = _batch(8, (8, 8), torch.float32)
    g = _gen(9)
    mixed = 0
    n = 400
    for _ in range(n):
        _, target = cutmix_batch(images, y, prob=prob, generator=g)
        if not torch.equal(target.y_b, target.y_a):  # identity permutation of 8: p = 1/40320
            mixed += 1
    assert stats.binomtest(mixed, n, prob).pvalue > 1e-3


def test_cutmix_batch_unmixed_has_lam_one():
    images, y, _ = _batch(8, (8, 8), torch.float32)
    g = _gen(10)
    for _ in range(100):
        out, target = cutmix_batch(images, y, prob=0.5, generator=g)
        if torch.equal(target.y_b, target.y_a):
            assert target.lam == 1.0 and torch.equal(out, images)


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_batch_generator_and_default_generator(mode):
    images, y, _ = _batch(6, (3, 10, 10), torch.float32)
    state = torch.get_rng_state()
    a = cutmix_batch(images, y, mode=mode, generator=_gen(4), return_boxes=True)
    b = cutmix_batch(images, y, mode=mode, generator=_gen(4), return_boxes=True)
    assert torch.equal(torch.get_rng_state(), state), "a given generator must leave the global one alone"
    assert torch.equal(a[0], b[0]) and torch.equal(a[2].boxes, b[2].boxes)
    torch.manual_seed(12)
    c = cutmix_batch(images, y, mode=mode, return_boxes=True)
    d = cutmix_batch(images, y, mode=mode, return_boxes=True)
    torch.manual_seed(12)
    e = cutmix_batch(images, y, mode=mode, return_boxes=True)
    assert torch.equal(c[0], e[0]) and torch.equal(c[2].boxes, e[2].boxes)
    assert not (torch.equal(c[2].boxes, d[2].boxes) and torch.equal(c[2].index, d[2].index))


def test_cutmix_batch_lam_types():
    images, y, _ = _batch(4, (3, 8, 8), torch.float32)
    _, t = cutmix_batch(images, y, mode="batch")
    assert type(t.lam) is float
    _, t = cutmix_batch(images, y, mode="elem")
    assert t.lam.dtype == torch.float32 and t.lam.shape == (4,)


def test_mixed_target_to():
    t = MixedTarget(torch.tensor([1, 2]), torch.tensor([2, 1]), 0.25)
    assert t.to(None) is t
    moved = t.to("cpu")
    assert moved.lam == 0.25 and type(moved.lam) is float and torch.equal(moved.y_b, t.y_b)
    t2 = MixedTarget(torch.tensor([1, 2]), torch.tensor([2, 1]), torch.tensor([0.5, 0.25]))
    assert t2.to(torch.device("cpu")).lam.dtype == torch.float32


def _bad(**kw):
    images = kw.pop("images", torch.zeros(2, 3, 4, 4))
    labels = kw.pop("labels", torch.tensor([0, 1]))
    return cutmix_batch(images, labels, **kw)


@pytest.mark.parametrize(
    "kw, exc, msg",
    [
        (dict(alpha=0.0), ValueError, r"alpha must be a finite number > 0, got 0\.0"),
        (dict(alpha=float("nan")), ValueError, r"alpha must be a finite number > 0, got nan"),
        (dict(alpha=float("inf")), ValueError, r"alpha must be a finite number > 0, got inf"),
        (dict(alpha=False), TypeError, r"alpha must be a finite number > 0, got False \(bool\)"),
        (dict(alpha="1"), TypeError, r"alpha must be a finite number > 0, got '1' \(str\)"),
        (dict(prob=1.5), ValueError, r"prob must be a number in \[0, 1\], got 1\.5"),
        (dict(prob=-0.1), ValueError, r"prob must be a number in \[0, 1\], got -0\.1"),
        (dict(prob=float("nan")), ValueError, r"prob must be a number in \[0, 1\], got nan"),
        (dict(prob=True), TypeError, r"prob must be a number in \[0, 1\], got True \(bool\)"),
        (dict(mode="pixel"), ValueError, r"mode must be one of 'batch', 'elem', got 'pixel'"),
        (dict(mode=None), ValueError, r"mode must be one of 'batch', 'elem', got None"),
        (dict(images=np.zeros((2, 3, 4, 4))), TypeError, r"images must be a tensor of shape \(B, \.\.\., H, W\), got array"),
        (dict(labels=[0, 1]), TypeError, r"labels must be a tensor of shape \(B,\) or \(B, K\), got \[0, 1\] \(list\)"),
        (dict(images=torch.zeros(2, 4)), ValueError, r"images must have shape \(B, \.\.\., H, W\), at least 3 dimensions for dims=2, got shape \(2, 4\)"),
        (dict(images=torch.zeros(2, 4), dims=3), ValueError, r"images must have shape \(B, \.\.\., D, H, W\), at least 4 dimensions for dims=3, got shape \(2, 4\)"),
        (dict(images=torch.zeros(2)), ValueError, r"images must have shape \(B, \.\.\., H, W\), at least 3 dimensions for dims=2, got shape \(2,\)"),
        (dict(images=torch.zeros(2), dims=1), ValueError, r"images must have shape \(B, \.\.\., T\), at least 2 dimensions for dims=1, got shape \(2,\)"),
        (dict(dims=0), ValueError, r"dims must be 1, 2 or 3 \(the number of trailing axes the box spans\), got 0 \(int\)"),
        (dict(dims=4), ValueError, r"dims must be 1, 2 or 3 \(the number of trailing axes the box spans\), got 4 \(int\)"),
        (dict(dims=2.0), TypeError, r"dims must be 1, 2 or 3 \(the number of trailing axes the box spans\), got 2\.0 \(float\)"),
        (dict(dims=True), TypeError, r"dims must be 1, 2 or 3 \(the number of trailing axes the box spans\), got True \(bool\)"),
        (dict(images=torch.zeros(2, 3, 4, 0), dims=3), ValueError, r"images must have D >= 1 and H >= 1 and W >= 1, got shape \(2, 3, 4, 0\)"),
        (dict(images=torch.zeros(0, 3, 4, 4), labels=torch.zeros(0)), ValueError, r"images must hold at least one image, got an empty batch"),
        (dict(labels=torch.tensor([0, 1, 2])), ValueError, r"labels must have shape \(2,\) or \(2, K\) to match images, got shape \(3,\)"),
        (dict(labels=torch.zeros(2, 2, 2)), ValueError, r"labels must have shape \(2,\) or \(2, K\) to match images, got shape \(2, 2, 2\)"),
        (dict(images=torch.zeros(2, 3, 0, 4)), ValueError, r"images must have H >= 1 and W >= 1, got shape \(2, 3, 0, 4\)"),
    ],
)
def test_cutmix_batch_errors(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        _bad(**kw)


# ============================================================================ CUDA


@requires_cuda
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_generator", [False, True])
def test_cutmix_batch_cuda(mode, with_generator):
    images, y, encode = _batch(7, (3, 12, 10), torch.float32, labels="onehot")
    images_gpu, y_gpu = images.cuda(), y.cuda()
    before = images_gpu.clone()
    g = _gen(3, "cuda") if with_generator else None
    out, target, boxes = cutmix_batch(images_gpu, y_gpu, mode=mode, generator=g, return_boxes=True)
    assert out.device.type == "cuda" and target.y_b.device.type == "cuda"
    assert torch.equal(images_gpu, before)
    check_provenance(out, target, list(range(7)), mode=mode, encode=encode, boxes=boxes)
    work = images_gpu.clone()
    g2 = _gen(3, "cuda") if with_generator else None
    if with_generator:
        inplace, _ = cutmix_batch(work, y_gpu, mode=mode, generator=g2, inplace=True)
        assert torch.equal(inplace, out) and inplace.data_ptr() == work.data_ptr()


@requires_cuda
def test_cutmix_batch_cuda_uint8_2d():
    images, y, encode = _batch(5, (9, 13), torch.uint8)
    out, target = cutmix_batch(images.cuda(), y.cuda(), mode="elem")
    check_provenance(out, target, list(range(5)), mode="elem", encode=encode)


@pytest.mark.parametrize("box", [(5, 2, 0, 4), (0, 20, 0, 4), (-1, 3, 0, 4), (0, 3, 5, 9)])
def test_box_lambda_rejects_a_box_outside_the_image(box):
    with pytest.raises(ValueError, match=r"box must satisfy 0 <= y0 <= y1 <= 8 and 0 <= x0 <= x1 <= 8"):
        box_lambda(8, 8, box)
    with pytest.raises(ValueError, match=r"box must satisfy 0 <= y0 <= y1 <= 8 and 0 <= x0 <= x1 <= 8"):
        box_lambda(8, 8, tuple(torch.tensor([v, 0]) for v in box))


def test_cutmix_batch_list_input_error_is_short():
    with pytest.raises(TypeError, match=r"images must be a tensor of shape \(B, \.\.\., H, W\), got a list of 2 items$"):
        cutmix_batch([torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)], torch.tensor([0, 1]))

# --------------------------------------------------------------------------- contracts: ranks, gradients, generators, draw_params (from test_contracts.py)


@pytest.mark.parametrize("mode", MODES)
def test_rank_from_torchrun_environment(monkeypatch, mode):
    x, y = torch.rand(16, 3, 8, 8), torch.arange(16)
    draws = {}
    for rank in ("0", "1", "2"):
        monkeypatch.setenv("RANK", rank)
        torch.manual_seed(0)
        draws[rank] = cutmix_batch(x, y, mode=mode, return_boxes=True)[2]
        torch.manual_seed(0)
        again = cutmix_batch(x, y, mode=mode, return_boxes=True)[2]
        assert torch.equal(draws[rank].boxes, again.boxes) and torch.equal(draws[rank].index, again.index)
    pairs = [("0", "1"), ("0", "2"), ("1", "2")]
    assert all(not torch.equal(draws[a].index, draws[b].index) for a, b in pairs)


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_batch_is_differentiable(mode):
    torch.manual_seed(3)
    x = torch.randn(6, 2, 9, 7, requires_grad=True)
    weight = torch.randn(6, 2, 9, 7)
    out, target, boxes = cutmix_batch(x, torch.arange(6), mode=mode, return_boxes=True)
    (out * weight).sum().backward()
    x_ref = x.detach().clone().requires_grad_(True)
    ref = pasted_by_hand(x_ref, boxes)
    (ref * weight).sum().backward()
    assert torch.equal(out.detach(), ref.detach())
    torch.testing.assert_close(x.grad, x_ref.grad)


@pytest.mark.parametrize("mode", MODES)
def test_mixup_batch_is_differentiable(mode):
    torch.manual_seed(4)
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    out, target = mixup_batch(x, torch.arange(5), mode=mode)
    lam = torch.as_tensor(target.lam, dtype=torch.float64).reshape(-1, 1, 1, 1)
    index = target.y_b  # labels are arange: y_b is the partner index
    torch.testing.assert_close(out, lam * x + (1 - lam) * x[index])
    assert torch.autograd.gradcheck(lambda t: mixup_batch(t, torch.arange(5), mode=mode,
                                                          generator=torch.Generator().manual_seed(0))[0], (x,))


@pytest.mark.parametrize("call", [
    lambda g: cutmix_batch(torch.rand(2, 1, 4, 4), torch.arange(2), generator=g),
    lambda g: mixup_batch(torch.rand(2, 1, 4, 4), torch.arange(2), generator=g),
    lambda g: sample_lambda(1.0, g),
    lambda g: draw_params(2, 4, 4, generator=g),
], ids=["cutmix_batch", "mixup_batch", "sample_lambda", "draw_params"])
def test_generator_must_be_a_torch_generator(call):
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator or None, got 0 \(int\)"):
        call(0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None"):
        call(np.random.default_rng(0))


@pytest.mark.parametrize("alpha", [1e-310, 1e-300, 5e-324])
def test_tiny_alpha_samples_zero_or_one_half_the_time(alpha):
    lam = sample_lambda(alpha, torch.Generator().manual_seed(0), size=4000)
    assert not lam.isnan().any()
    assert bool(((lam == 0) | (lam == 1)).all())
    assert abs(float(lam.mean()) - 0.5) < 0.05  # Beta(a, a) tends to Bernoulli(1/2)
    assert sample_lambda(alpha) in (0.0, 1.0)


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_elem_lam_is_float32_whatever_the_default_dtype(prob):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        x = torch.rand(4, 1, 5, 5)
        for lam in (cutmix_batch(x, torch.arange(4), mode="elem", prob=prob)[1].lam,
                    CutMixCollator(mode="elem", prob=prob)([(x[i], i) for i in range(4)])[1].lam,
                    draw_params(4, 5, 5, mode="elem", prob=prob).lam):
            assert lam.dtype == torch.float32
    finally:
        torch.set_default_dtype(previous)


def test_draw_params_is_public_and_checked():
    params = draw_params(5, 8, 6, alpha=1.0, mode="elem", generator=torch.Generator().manual_seed(0))
    assert isinstance(params, MixParams) and params.kind == "cutmix" and params.mixed
    assert sorted(params.index.tolist()) == list(range(5))
    y0, y1, x0, x1 = params.box
    expected = 1 - ((y1 - y0) * (x1 - x0)).double() / 48
    torch.testing.assert_close(params.lam, expected.float())
    assert params.boxes().boxes.shape == (5, 4)
    with pytest.raises(ValueError, match="kind must be one of 'cutmix', 'mixup', got 'cut'"):
        draw_params(5, 8, 6, kind="cut")
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        draw_params(0, 8, 6)
    mixup = draw_params(5, 8, 6, kind="mixup", prob=0.0)
    assert mixup.box is None and not mixup.mixed and mixup.lam == 1.0
