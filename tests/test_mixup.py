"""Tests for MixUp: ``mixup_batch`` and ``MixUpCollator`` (issue 8).

Reference: the MixUp formula written out (``lam * x[i] + (1 - lam) * x[j]``, computed in
float64 from the inputs, see ``_mix_datasets.check_mixup``), ``default_collate`` for unmixed
batches, ``torch.nn.functional.cross_entropy`` for the loss, scipy for distributions. The
partner ``j`` of each image is read from ``y_b`` (labels are distinct per sample).
The persistent-worker tests of the shared switch are in ``test_switch.py``.
"""

from __future__ import annotations


import numpy as np
import pytest
import scipy.stats as stats
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, default_collate

from _mix_datasets import ConstDicts, SharedProbe, check_mixup, encoded, lams_of, partners_from_labels
from cutmix_collate import CutMixCriterion, MixedTarget, MixUpCollator, mixup_batch
from cutmix_collate.metrics import mixed_accuracy

MODES = ["batch", "elem"]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rand_images(shape, dtype=torch.float64, seed=0):
    return torch.randn(shape, generator=_gen(seed), dtype=torch.float64).to(dtype)


def _ks_beta(values, alpha: float) -> float:
    return float(stats.kstest(np.asarray(values, dtype=np.float64), stats.beta(alpha, alpha).cdf).pvalue)


# ============================================================================ mixup_batch


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(6, 3, 5, 7), (5, 4, 4), (1, 2, 3, 3)])
@pytest.mark.parametrize("dtype,rtol,atol", [(torch.float64, 1e-12, 1e-12), (torch.float32, 1e-6, 1e-6)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixup_batch_is_the_lam_blend_of_sample_and_partner(mode, shape, dtype, rtol, atol, seed):
    images = _rand_images(shape, dtype, seed)
    labels = torch.arange(shape[0]) * 3 + 1
    before = images.clone()
    out, target = mixup_batch(images, labels, alpha=0.7, mode=mode, generator=_gen(seed))
    assert isinstance(target, MixedTarget)
    assert out.shape == images.shape and out.dtype == dtype and out.data_ptr() != images.data_ptr()
    assert torch.equal(images, before), "inplace=False modified the input"
    assert target.y_a is labels or torch.equal(target.y_a, labels)
    check_mixup(out, images, target, mode, rtol=rtol, atol=atol)


def test_mixup_batch_pixels_stay_in_place():
    """Position-encoded images: a blend of the right samples at the wrong position is caught."""
    images = torch.stack([encoded(k, (2, 4, 5), torch.float64) for k in range(4)])
    out, target = mixup_batch(images, torch.arange(4), alpha=1.0, generator=_gen(3))
    partners, (lam, *_) = check_mixup(out, images, target, "batch")
    # the same formula per element: lam * ((i+1) S + p) + (1 - lam) * ((j+1) S + p)
    p = torch.arange(40, dtype=torch.float64).reshape(2, 4, 5)
    for i, j in enumerate(partners):
        expected = lam * ((i + 1) * 64 + p) + (1 - lam) * ((j + 1) * 64 + p)
        torch.testing.assert_close(out[i], expected, rtol=1e-12, atol=1e-9)


def test_mixup_batch_one_hot_labels_follow_the_partner():
    images = _rand_images((5, 1, 3, 3))
    labels = torch.eye(5)[[4, 2, 0, 1, 3]]
    out, (y_a, y_b, lam) = mixup_batch(images, labels, generator=_gen(1))
    assert y_a.shape == y_b.shape == (5, 5)
    partners = partners_from_labels(y_a, y_b)
    assert torch.equal(y_b, labels[partners])
    check_mixup(out, images, (y_a, y_b, lam), "batch")


def test_mixup_batch_mixes_something():
    images = _rand_images((8, 1, 2, 2))
    moved = 0
    for seed in range(10):
        out, (y_a, y_b, lam) = mixup_batch(images, torch.arange(8), generator=_gen(seed))
        assert 0.0 < lam < 1.0
        moved += int((y_b != y_a).sum())
        assert not torch.equal(out, images)
    assert moved > 0


@pytest.mark.parametrize("mode", MODES)
def test_mixup_batch_elem_mode_has_a_lam_per_sample(mode):
    images = _rand_images((64, 1, 2, 2))
    out, (y_a, y_b, lam) = mixup_batch(images, torch.arange(64), mode=mode, generator=_gen(5))
    if mode == "elem":
        assert isinstance(lam, torch.Tensor) and lam.dtype == torch.float32 and lam.shape == (64,)
        assert len(set(lam.tolist())) == 64, "elem mode: lam should differ per sample"
    else:
        assert type(lam) is float


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_mixup_batch_lam_follows_beta_alpha(alpha):
    gen = _gen(11)
    images = _rand_images((2, 1, 1, 1))
    lams = [mixup_batch(images, torch.arange(2), alpha=alpha, generator=gen)[1].lam for _ in range(600)]
    assert _ks_beta(lams, alpha) > 1e-3
    elem = mixup_batch(_rand_images((3000, 1, 1, 1)), torch.arange(3000), alpha=alpha, mode="elem",
                       generator=gen)[1].lam
    assert _ks_beta(elem.numpy(), alpha) > 1e-3
    # negative control: the KS test tells a wrong alpha apart at this sample size
    other = 1.0 if alpha != 1.0 else 0.2
    assert _ks_beta(elem.numpy(), other) < 1e-6


def test_mixup_batch_partners_are_uniform_permutations():
    gen = _gen(2)
    images = _rand_images((3, 1, 1, 1))
    counts = {}
    for _ in range(600):
        _, (y_a, y_b, _) = mixup_batch(images, torch.arange(3), generator=gen)
        key = tuple(y_b.tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
def test_mixup_batch_inplace_matches_out_of_place(mode, dtype):
    images = _rand_images((6, 3, 4, 4), dtype, seed=4)
    labels = torch.arange(6)
    ref, ref_target = mixup_batch(images.clone(), labels, mode=mode, generator=_gen(9))
    work = images.clone()
    out, target = mixup_batch(work, labels, mode=mode, generator=_gen(9), inplace=True)
    assert out.data_ptr() == work.data_ptr()
    assert torch.equal(out, ref) and torch.equal(work, ref)
    assert torch.equal(target.y_b, ref_target.y_b)
    if mode == "elem":
        assert torch.equal(target.lam, ref_target.lam)
    else:
        assert target.lam == ref_target.lam


def test_mixup_batch_inplace_on_a_non_contiguous_view():
    base = _rand_images((4, 4, 6, 6), seed=8)
    view = base[:, 1:3, :, ::2]
    ref, ref_t = mixup_batch(view.clone(), torch.arange(4), generator=_gen(1))
    untouched = base.clone()
    out, _ = mixup_batch(view, torch.arange(4), generator=_gen(1), inplace=True)
    assert torch.equal(view, ref)
    untouched[:, 1:3, :, ::2] = ref
    assert torch.equal(base, untouched), "inplace wrote outside the view"


@pytest.mark.parametrize("mode", MODES)
def test_mixup_batch_generator_reproducible_and_default_generator(mode):
    images = _rand_images((5, 2, 3, 3))
    a = mixup_batch(images, torch.arange(5), mode=mode, generator=_gen(7))
    state = torch.get_rng_state()
    b = mixup_batch(images, torch.arange(5), mode=mode, generator=_gen(7))
    assert torch.equal(torch.get_rng_state(), state), "a given generator must not touch the global one"
    assert torch.equal(a[0], b[0])
    torch.manual_seed(123)
    c = mixup_batch(images, torch.arange(5), mode=mode)
    torch.manual_seed(123)
    d = mixup_batch(images, torch.arange(5), mode=mode)
    assert torch.equal(c[0], d[0]) and torch.equal(c[1].y_b, d[1].y_b)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("inplace", [False, True])
def test_mixup_batch_prob_zero_is_identity(mode, inplace):
    images = _rand_images((5, 2, 3, 3))
    labels = torch.arange(5)
    work = images.clone()
    out, (y_a, y_b, lam) = mixup_batch(work, labels, prob=0.0, mode=mode, inplace=inplace)
    assert torch.equal(out, images)
    assert (out.data_ptr() == work.data_ptr()) == inplace
    assert torch.equal(y_b, y_a) and torch.equal(y_a, labels)
    if mode == "batch":
        assert type(lam) is float and lam == 1.0
    else:
        assert lam.dtype == torch.float32 and torch.equal(lam, torch.ones(5))


def test_mixup_batch_prob_is_the_mixing_frequency():
    gen = _gen(3)
    images = _rand_images((2, 1, 1, 1))
    mixed = sum(
        mixup_batch(images, torch.arange(2), prob=0.3, generator=gen)[1].lam != 1.0 for _ in range(500)
    )
    assert stats.binomtest(mixed, 500, 0.3).pvalue > 1e-3


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_mixup_batch_uint8_with_out_dtype_keeps_values(mode, out_dtype):
    images = torch.randint(0, 256, (6, 3, 4, 4), generator=_gen(1), dtype=torch.uint8)
    images[0] = 255
    before = images.clone()
    out, target = mixup_batch(images, torch.arange(6), out_dtype=out_dtype, mode=mode, generator=_gen(2))
    assert out.dtype == out_dtype
    assert torch.equal(images, before)
    # values are kept, not rescaled to [0, 1]; bfloat16 keeps 8 bits (255 -> 256)
    rtol, atol = (1e-2, 2.0) if out_dtype == torch.bfloat16 else (1e-6, 1e-5)
    check_mixup(out, images.to(torch.float64), target, mode, rtol=rtol, atol=atol)
    unmixed, _ = mixup_batch(images, torch.arange(6), out_dtype=out_dtype, prob=0.0)
    assert unmixed.dtype == out_dtype and torch.equal(unmixed, images.to(out_dtype))


def test_mixup_batch_out_dtype_upcasts_float():
    images = _rand_images((4, 2, 3, 3), torch.float32)
    out, target = mixup_batch(images, torch.arange(4), out_dtype=torch.float64, generator=_gen(0))
    assert out.dtype == torch.float64
    check_mixup(out, images.to(torch.float64), target, "batch", rtol=1e-12, atol=1e-12)


def test_mixup_batch_same_out_dtype_inplace_is_allowed():
    images = _rand_images((4, 2, 3, 3), torch.float32)
    ref, _ = mixup_batch(images.clone(), torch.arange(4), generator=_gen(0))
    out, _ = mixup_batch(images, torch.arange(4), generator=_gen(0), out_dtype=torch.float32, inplace=True)
    assert out.data_ptr() == images.data_ptr() and torch.equal(out, ref)


UINT8_MSG = (
    r"MixUp blends pixel values, so images must be floating point, got torch\.uint8; "
    r"pass out_dtype=torch\.float32 to convert \(values are kept, not rescaled\)"
)


@pytest.mark.parametrize(
    "kw,exc,msg",
    [
        (dict(images=torch.zeros(2, 1, 3, 3, dtype=torch.uint8)), TypeError, UINT8_MSG),
        (dict(images=torch.zeros(2, 1, 3, 3, dtype=torch.int64)), TypeError,
         r"images must be floating point, got torch\.int64"),
        (dict(images=torch.zeros(2, 3, 3, dtype=torch.bool)), TypeError, r"floating point, got torch\.bool"),
        (dict(out_dtype=torch.int32), TypeError, r"out_dtype must be a floating torch\.dtype, got torch\.int32"),
        (dict(out_dtype="float32"), TypeError, r"out_dtype must be a floating torch\.dtype, got 'float32' \(str\)"),
        (dict(images=torch.zeros(2, 1, 3, 3, dtype=torch.uint8), out_dtype=torch.float32, inplace=True),
         ValueError, r"inplace=True cannot convert torch\.uint8 images to out_dtype=torch\.float32"),
        (dict(inplace=True, out_dtype=torch.float64), ValueError,
         r"inplace=True cannot convert torch\.float32 images to out_dtype=torch\.float64"),
        (dict(alpha=0.0), ValueError, r"alpha must be a finite number > 0, got 0\.0"),
        (dict(alpha=float("inf")), ValueError, r"alpha must be a finite number > 0, got inf"),
        (dict(alpha="1"), TypeError, r"alpha must be a finite number > 0, got '1' \(str\)"),
        (dict(prob=1.5), ValueError, r"prob must be a number in \[0, 1\], got 1\.5"),
        (dict(prob=float("nan")), ValueError, r"prob must be a number in \[0, 1\], got nan"),
        (dict(mode="pixel"), ValueError, r"mode must be one of 'batch', 'elem', got 'pixel'"),
        (dict(images=np.zeros((2, 1, 3, 3), np.float32)), TypeError,
         r"images must be a tensor of shape \(B, \.\.\., H, W\), got"),
        (dict(labels=[0, 1]), TypeError, r"labels must be a tensor of shape \(B,\) or \(B, K\), got \[0, 1\] \(list\)"),
        (dict(images=torch.zeros(2, 3)), ValueError,
         r"images must have shape \(B, \.\.\., H, W\), at least 3 dimensions for dims=2, got shape \(2, 3\)"),
        (dict(images=torch.zeros(0, 1, 3, 3), labels=torch.zeros(0, dtype=torch.long)), ValueError,
         r"images must hold at least one image, got an empty batch"),
        (dict(labels=torch.arange(3)), ValueError,
         r"labels must have shape \(2,\) or \(2, K\) to match images, got shape \(3,\)"),
        (dict(images=torch.zeros(2, 1, 0, 3)), ValueError, r"images must have H >= 1 and W >= 1"),
    ],
)
def test_mixup_batch_errors(kw, exc, msg):
    args = dict(images=torch.zeros(2, 1, 3, 3), labels=torch.arange(2))
    args.update(kw)
    images, labels = args.pop("images"), args.pop("labels")
    with pytest.raises(exc, match=msg):
        mixup_batch(images, labels, **args)


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_criterion_on_mixup_output(mode):
    images = _rand_images((8, 3, 4, 4))
    labels = torch.tensor([3, 0, 4, 1, 2, 0, 3, 1])
    _, (y_a, y_b, lam) = mixup_batch(images, labels, mode=mode, generator=_gen(2))
    pred = torch.randn(8, 5, generator=_gen(3), dtype=torch.float64)
    loss = CutMixCriterion()(pred, (y_a, y_b, lam))
    if mode == "batch":
        expected = lam * F.cross_entropy(pred, y_a) + (1 - lam) * F.cross_entropy(pred, y_b)
    else:
        lam64 = lam.to(torch.float64)
        expected = (lam64 * F.cross_entropy(pred, y_a, reduction="none")
                    + (1 - lam64) * F.cross_entropy(pred, y_b, reduction="none")).mean()
    torch.testing.assert_close(loss.to(torch.float64), expected, rtol=1e-6, atol=1e-7)
    acc = mixed_accuracy(pred, (y_a, y_b, lam))
    hit_a = (pred.argmax(1) == y_a).double()
    hit_b = (pred.argmax(1) == y_b).double()
    lam_t = lam if mode == "batch" else lam.double()
    torch.testing.assert_close(acc.double(), (lam_t * hit_a + (1 - lam_t) * hit_b).mean(), rtol=1e-6, atol=1e-7)


def test_cutmix_criterion_on_mixup_soft_labels_with_bce():
    images = _rand_images((6, 2, 3, 3))
    labels = torch.rand(6, 4, generator=_gen(1))
    _, (y_a, y_b, lam) = mixup_batch(images, labels, generator=_gen(2))
    pred = torch.randn(6, 4, generator=_gen(3))
    loss = CutMixCriterion(torch.nn.BCEWithLogitsLoss())(pred, (y_a, y_b, lam))
    expected = (lam * F.binary_cross_entropy_with_logits(pred, y_a)
                + (1 - lam) * F.binary_cross_entropy_with_logits(pred, y_b))
    torch.testing.assert_close(loss, expected)


# ============================================================================ MixUpCollator


def _pairs(n=6, shape=(3, 4, 5), dtype=torch.float64):
    return [(encoded(k, shape, torch.float64).to(dtype), k) for k in range(n)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(3, 4, 5), (6, 7), (2, 2, 3, 3)])
@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_mixup_collator_is_the_lam_blend(mode, shape, dtype, rtol):
    torch.manual_seed(0)
    collate = MixUpCollator(alpha=0.8, mode=mode)
    batch = _pairs(6, shape, dtype)
    originals = torch.stack([image for image, _ in batch])
    for _ in range(3):
        out, target = collate(batch)
        assert out.dtype == dtype and out.shape == originals.shape
        assert torch.equal(target.y_a, torch.arange(6))
        check_mixup(out, originals, target, mode, rtol=rtol, atol=rtol)
    assert torch.equal(torch.stack([image for image, _ in batch]), originals), "samples were modified"


def test_mixup_collator_default_threshold_and_real_large_images():
    """Images above 16384 elements."""
    torch.manual_seed(1)
    batch = [(_rand_images((1, 130, 130), torch.float32, seed=k)[0], k) for k in range(3)]
    originals = torch.stack([image for image, _ in batch])
    out, target = MixUpCollator(mode="elem")(batch)
    check_mixup(out, originals, target, "elem", rtol=1e-6, atol=1e-6)


def test_mixup_collator_dict_samples_and_other_keys():
    torch.manual_seed(3)
    batch = [{"img": encoded(k, (2, 3, 3), torch.float32), "y": k, "name": f"s{k}", "w": 0.5 * k}
             for k in range(4)]
    out = MixUpCollator(image_key="img", label_key="y")(batch)
    assert list(out) == ["img", "y", "name", "w"]
    assert out["name"] == [f"s{k}" for k in range(4)]
    assert torch.equal(out["w"], default_collate([s["w"] for s in batch]))
    check_mixup(out["img"], torch.stack([s["img"] for s in batch]), out["y"], "batch", rtol=1e-6, atol=1e-6)


def test_mixup_collator_numpy_and_pil_inputs():
    torch.manual_seed(4)
    arrays = [(encoded(k, (2, 3, 4), torch.float32).numpy(), k) for k in range(4)]
    out, target = MixUpCollator()(arrays)
    check_mixup(out, torch.stack([torch.from_numpy(a) for a, _ in arrays]), target, "batch",
                rtol=1e-6, atol=1e-6)
    pils = [(Image.fromarray(np.full((3, 4, 3), 10 * k, np.uint8)), k) for k in range(4)]
    with pytest.raises(TypeError, match=UINT8_MSG):
        MixUpCollator()(pils)
    out, target = MixUpCollator(out_dtype=torch.float32)(pils)
    assert out.shape == (4, 3, 3, 4) and out.dtype == torch.float32
    expected_src = torch.stack([torch.full((3, 3, 4), 10.0 * k) for k in range(4)])
    check_mixup(out, expected_src, target, "batch", rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_mixup_collator_uint8_needs_out_dtype_and_keeps_values(mode):
    batch = [(torch.full((2, 3, 3), 40 * k + 15, dtype=torch.uint8), k) for k in range(5)]
    with pytest.raises(TypeError, match=UINT8_MSG):
        MixUpCollator(mode=mode)(batch)
    torch.manual_seed(0)
    out, target = MixUpCollator(mode=mode, out_dtype=torch.float32)(batch)
    assert out.dtype == torch.float32
    assert float(out.max()) > 1.5, "uint8 values must be kept, not rescaled"
    check_mixup(out, torch.stack([b[0] for b in batch]).double(), target, mode, rtol=1e-6, atol=1e-4)
    # unmixed conversion: exactly the converted default_collate batch
    collate = MixUpCollator(mode=mode, out_dtype=torch.float64, prob=0.0)
    out, (y_a, y_b, lam) = collate(batch)
    ref_images, ref_labels = default_collate(batch)
    assert out.dtype == torch.float64 and torch.equal(out, ref_images.double())
    assert torch.equal(y_a, ref_labels) and torch.equal(y_b, ref_labels)


@pytest.mark.parametrize("mode", MODES)
def test_mixup_collator_unmixed_is_default_collate(mode):
    batch = _pairs(4, (2, 3, 3), torch.float32)
    ref_images, ref_labels = default_collate(batch)
    disabled = MixUpCollator(mode=mode)
    disabled.enabled = False
    for collate in (MixUpCollator(prob=0.0, mode=mode), disabled):
        out, (y_a, y_b, lam) = collate(batch)
        assert out.dtype == ref_images.dtype and torch.equal(out, ref_images)
        assert torch.equal(y_a, ref_labels) and torch.equal(y_b, ref_labels)
        assert lams_of(lam, 4, mode) == [1.0] * 4


def test_mixup_collator_alpha_reaches_the_draw():
    torch.manual_seed(5)
    batch = _pairs(2, (1, 1, 1))
    collate = MixUpCollator(alpha=0.3)
    lams = [collate(batch)[1].lam for _ in range(800)]
    assert _ks_beta(lams, 0.3) > 1e-3
    assert _ks_beta(lams, 1.0) < 1e-6  # negative control
    elem = MixUpCollator(alpha=3.0, mode="elem")([(torch.zeros(1, 1, 1), k) for k in range(2000)])[1].lam
    assert _ks_beta(elem.numpy(), 3.0) > 1e-3


def test_mixup_collator_prob_frequency_and_seeding():
    batch = _pairs(3, (1, 2, 2))
    collate = MixUpCollator(prob=0.25)
    torch.manual_seed(6)
    first = [collate(batch)[1].lam for _ in range(400)]
    mixed = sum(lam != 1.0 for lam in first)
    assert stats.binomtest(mixed, 400, 0.25).pvalue > 1e-3
    torch.manual_seed(6)
    assert [collate(batch)[1].lam for _ in range(400)] == first, "not reproducible from torch.manual_seed"


@pytest.mark.parametrize("out_dtype", [None, torch.float64])
def test_mixup_collator_in_a_worker_builds_the_batch_in_shared_memory(out_dtype):
    """As default_collate does, so the batch is not copied again on its way to the main process."""
    torch.manual_seed(7)
    dataset = ConstDicts(8, (2, 3, 3), dtype=torch.float32 if out_dtype is None else torch.uint8)
    loader = DataLoader(dataset, batch_size=4, num_workers=1, multiprocessing_context="fork",
                        collate_fn=SharedProbe(MixUpCollator(mode="elem", out_dtype=out_dtype)))
    seen = 0
    for out, flags in loader:
        assert flags == {"in_worker": True, "images": True, "y_a": True, "y_b": True, "lam": True}
        y_a = out["label"].y_a
        assert (out["worker"] == 0).all()
        assert out["image"].dtype == (out_dtype or torch.float32)
        originals = torch.stack([torch.full((2, 3, 3), float(k + 1), dtype=torch.float64) for k in y_a])
        check_mixup(out["image"], originals, out["label"], "elem", rtol=1e-6, atol=1e-6)
        seen += 1
    assert seen == 2


@pytest.mark.parametrize(
    "kw,exc,msg",
    [
        (dict(alpha=-1.0), ValueError, r"alpha must be a finite number > 0, got -1\.0"),
        (dict(alpha=True), TypeError, r"alpha must be a finite number > 0, got True \(bool\)"),
        (dict(prob=-0.1), ValueError, r"prob must be a number in \[0, 1\], got -0\.1"),
        (dict(mode="elements"), ValueError, r"mode must be one of 'batch', 'elem', got 'elements'"),
        (dict(out_dtype=torch.uint8), TypeError, r"out_dtype must be a floating torch\.dtype, got torch\.uint8"),
        (dict(out_dtype=float), TypeError, r"out_dtype must be a floating torch\.dtype, got <class 'float'>"),
        (dict(label_key=None), ValueError,
         r"label_key may be None only for segmentation samples \(give mask_key\)"),
        (dict(image_key=1), TypeError, r"image_key must be a str, got 1 \(int\)"),
        (dict(mask_key="mask"), TypeError, r"unexpected keyword argument 'mask_key'"),
        (dict(return_boxes=True), TypeError, r"unexpected keyword argument 'return_boxes'"),
        (dict(off_epoch=-1), ValueError, r"off_epoch must be an int >= 0, got -1"),
        (dict(prob_schedule=0.5), TypeError, r"prob_schedule must be a callable epoch -> prob, got 0\.5 \(float\)"),
    ],
)
def test_mixup_collator_bad_arguments(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        MixUpCollator(**kw)


@pytest.mark.parametrize(
    "batch,exc,msg",
    [
        ([], ValueError, r"batch must hold at least one sample, got an empty batch"),
        ([(torch.zeros(1, 2, 2), 0), (torch.zeros(1, 2, 3), 1)], ValueError,
         r"all images in a batch must have the same shape; sample 1 has \(1, 2, 3\), sample 0 has \(1, 2, 2\)"),
        ([(torch.zeros(1, 2, 2), 0), (torch.zeros(1, 2, 2, dtype=torch.float64), 1)], ValueError,
         r"all images in a batch must have the same dtype; sample 1 has torch\.float64, sample 0 has torch\.float32"),
        ([(torch.zeros(1, 2, 2, dtype=torch.float64), 0), (torch.zeros(1, 2, 2), 1)], ValueError,
         r"same dtype; sample 1 has torch\.float32, sample 0 has torch\.float64"),
        ([(torch.zeros(3), 0)], ValueError, r"image of sample 0 must have at least 2 dimensions \(H, W\), got shape \(3,\)"),
        ([("img", 0)], TypeError, r"image of sample 0 must be a tensor, a numpy array or a PIL image, got 'img' \(str\)"),
        ([(torch.zeros(1, 2, 2), "cat")], TypeError, r"label of sample 0 must be a number or a tensor, got 'cat' \(str\)"),
        ([(torch.zeros(1, 2, 2),)], TypeError,
         r"each sample must be an \(image, label\) pair or a dict, got a tuple of length 1 at sample 0"),
        ([{"image": torch.zeros(1, 2, 2)}], ValueError,
         r"sample 0 has no key 'label' \(label_key\); its keys are \['image'\]"),
    ],
)
def test_mixup_collator_bad_batches(batch, exc, msg):
    with pytest.raises(exc, match=msg):
        MixUpCollator()(batch)


def test_mixup_collator_uint8_error_even_when_disabled():
    """The dtype check does not depend on the draw: a disabled collator still says it."""
    collate = MixUpCollator()
    collate.enabled = False
    with pytest.raises(TypeError, match=UINT8_MSG):
        collate([(torch.zeros(1, 2, 2, dtype=torch.uint8), 0)])


def test_mixup_collator_repr_and_pickle():
    import pickle

    collate = MixUpCollator(alpha=0.4, prob=0.5, mode="elem")
    assert repr(collate) == "MixUpCollator(alpha=0.4, prob=0.5, mode='elem', enabled=True)"
    clone = pickle.loads(pickle.dumps(collate))
    assert repr(clone) == repr(collate) and clone.out_dtype is None
    torch.manual_seed(0)
    a = collate(_pairs(4, (1, 2, 2)))
    torch.manual_seed(0)
    b = clone(_pairs(4, (1, 2, 2)))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1].lam, b[1].lam)
