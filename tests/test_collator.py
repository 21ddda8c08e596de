"""Tests for cutmix_collate.collator.CutMixCollator.

References: ``default_collate``, explicit numpy/PIL conversions, and the pixels themselves: the
image of sample i encodes i + 1 (and each element's position where the dtype allows), so every
output pixel says where it came from (``_datasets.check_provenance``).
"""

from __future__ import annotations

import pickle
from collections import UserDict
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import scipy.stats as stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, TensorDataset, default_collate

from _datasets import (
    EncodedDataset,
    SharedProbe,
    can_encode,
    check_provenance,
    make_image,
    same_seed_worker_init,
)
from _helpers import pasted_by_hand
from cutmix_collate import CutMixCollator, MixBoxes, MixedTarget, MixUpCollator

MODES = ["batch", "elem"]


# --------------------------------------------------------------------------------- inputs


def _as_form(image: torch.Tensor, form: str):
    """The same image values as another kind of source."""
    if form == "tensor":
        return image
    if form == "transposed":
        return image.transpose(-1, -2).contiguous().transpose(-1, -2)
    if form == "channels_last":
        if image.dim() == 3:
            return image.permute(1, 2, 0).contiguous().permute(2, 0, 1)
        return image.transpose(-1, -2).contiguous().transpose(-1, -2)
    if form == "strided":
        big = torch.zeros(image.shape[:-2] + (image.shape[-2] * 2 + 1, image.shape[-1] * 2), dtype=image.dtype)
        view = big[..., 1::2, ::2]
        view.copy_(image)
        return view
    if form == "numpy":
        return image.numpy().copy()
    if form == "numpy_readonly":
        array = image.numpy().copy()
        array.setflags(write=False)
        return array
    if form == "numpy_fortran":
        return np.asfortranarray(image.numpy())
    if form == "numpy_view":
        array = np.ascontiguousarray(np.swapaxes(image.numpy(), -1, -2))
        return np.swapaxes(array, -1, -2)
    raise AssertionError(form)


FORMS = ["tensor", "transposed", "channels_last", "strided", "numpy", "numpy_readonly", "numpy_fortran", "numpy_view"]


def _samples(n, shape, dtype, forms=("tensor",), label_fn=lambda i: i * 2 + 1):
    encode = can_encode(dtype, shape, n)
    samples = []
    for i in range(n):
        image = make_image(i, shape, dtype, encode)
        samples.append((_as_form(image, forms[i % len(forms)]), label_fn(i)))
    return samples, encode


def _to_numpy(image):
    return image.numpy() if isinstance(image, torch.Tensor) else np.array(image)


def _snapshot(samples):
    return [
        (torch.as_tensor(np.array(s[0])).clone() if not isinstance(s[0], torch.Tensor) else s[0].clone(), s[1])
        for s in samples
    ]


def _assert_unchanged(samples, snapshot):
    for (image, _), (before, _) in zip(samples, snapshot):
        now = image if isinstance(image, torch.Tensor) else torch.as_tensor(np.array(image))
        assert torch.equal(now, before), "a dataset image was modified"


def _collate_seeded(collator, batch, seed):
    torch.manual_seed(seed)
    return collator(batch)


def _assert_same_batch(a, b):
    assert torch.equal(a[0], b[0]) and a[0].dtype == b[0].dtype
    ta, tb = a[1], b[1]
    assert torch.equal(ta.y_a, tb.y_a) and torch.equal(ta.y_b, tb.y_b)
    if isinstance(ta.lam, torch.Tensor):
        assert torch.equal(ta.lam, tb.lam)
    else:
        assert ta.lam == tb.lam
    if len(a) > 2:
        assert torch.equal(a[2].boxes, b[2].boxes) and torch.equal(a[2].index, b[2].index)


def _check_pair_batch(result, samples, mode, encode, n_out=3):
    assert isinstance(result, tuple) and len(result) == n_out
    images, target = result[0], result[1]
    assert isinstance(target, MixedTarget)
    first = samples[0][0]
    first = first if isinstance(first, torch.Tensor) else torch.as_tensor(np.array(first))
    assert images.shape == (len(samples),) + tuple(first.shape) and images.dtype == first.dtype
    ref_labels = default_collate([s[1] for s in samples])  # (mixed image kinds: default_collate can't stack them)
    assert torch.equal(target.y_a, ref_labels) and target.y_a.dtype == ref_labels.dtype
    boxes = result[2] if n_out == 3 else None
    if boxes is not None:
        assert isinstance(boxes, MixBoxes)
    return check_provenance(images, target, list(range(len(samples))), mode=mode, encode=encode, boxes=boxes)


# --------------------------------------------------------------------------------- provenance


# Small shapes and the dtypes are covered by the hypothesis test below; this grid adds large images.
SHAPES = [(3, 80, 80), (130, 130)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8, torch.int64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_provenance_every_source_kind(shape, dtype, mode):
    # Every sample is a different kind of source (contiguous, views, numpy incl. read-only).
    samples, encode = _samples(5, shape, dtype, forms=FORMS)
    snapshot = _snapshot(samples)
    collator = CutMixCollator(alpha=1.0, mode=mode, return_boxes=True)
    pasted = 0
    for seed in range(3):
        natural = _collate_seeded(collator, samples, seed)
        _, rects = _check_pair_batch(natural, samples, mode, encode)
        pasted += sum(r is not None for r in rects)
    assert pasted > 0
    _assert_unchanged(samples, snapshot)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("form", FORMS + ["expanded"])
def test_provenance_each_source_form(form, mode):
    # uint8: constant fill. Content check: replay the same draws on random content and rebuild
    # the expected batch with numpy from the rectangles the pixels showed.
    shape = (3, 11, 13)
    if form == "expanded":
        samples = [(torch.tensor(i + 1, dtype=torch.uint8).expand(shape), i) for i in range(6)]
        encode = False
    else:
        samples, encode = _samples(6, shape, torch.uint8, forms=(form,), label_fn=lambda i: i)
    snapshot = _snapshot(samples)
    collator = CutMixCollator(mode=mode)
    for seed in range(3):
        result = _collate_seeded(collator, samples, seed)
        partners, rects = _check_pair_batch(result, samples, mode, encode, n_out=2)
        content = torch.randint(0, 256, (6,) + shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
        if form == "expanded":
            content_samples = [(content[i, :1, :1, :1].expand(shape), i) for i in range(6)]
        else:
            content_samples = [(_as_form(content[i], form), i) for i in range(6)]
        mixed = _collate_seeded(collator, content_samples, seed)[0]
        expected = np.stack([_to_numpy(s[0]) for s in content_samples])
        ref = expected.copy()
        for i, (k, rect) in enumerate(zip(partners, rects)):
            if rect is not None:
                y0, y1, x0, x1 = rect
                expected[i, ..., y0:y1, x0:x1] = ref[k, ..., y0:y1, x0:x1]
        np.testing.assert_array_equal(mixed.numpy(), expected)
    _assert_unchanged(samples, snapshot)


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(1, 9),
    lead=st.sampled_from([(), (1,), (3,), (2, 2)]),
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    dtype=st.sampled_from([torch.float32, torch.uint8, torch.float64, torch.int16, torch.int64]),
    alpha=st.sampled_from([0.1, 1.0, 5.0]),
    mode=st.sampled_from(MODES),
    forms=st.lists(st.sampled_from(FORMS), min_size=1, max_size=3),
    seed=st.integers(0, 2**31 - 1),
)
def test_provenance_property(b, lead, height, width, dtype, alpha, mode, forms, seed):
    samples, encode = _samples(b, lead + (height, width), dtype, forms=forms)
    snapshot = _snapshot(samples)
    result = _collate_seeded(CutMixCollator(alpha, mode=mode, return_boxes=True), samples, seed)
    _check_pair_batch(result, samples, mode, encode)
    _assert_unchanged(samples, snapshot)


@pytest.mark.parametrize("b", [1, 2, 5])
@pytest.mark.parametrize("mode", MODES)
def test_batch_sizes(b, mode):
    samples, encode = _samples(b, (3, 8, 8), torch.uint8)
    for seed in range(4):
        result = _collate_seeded(CutMixCollator(mode=mode, return_boxes=True), samples, seed)
        partners, rects = _check_pair_batch(result, samples, mode, encode)
        assert result[0].dtype == torch.uint8
        if b == 1:
            assert partners == [0] and rects == [None]
            assert torch.equal(result[0], default_collate(samples)[0])


def _bitwise_case(special, mode):
    """Float32 images full of ``special`` values; the output must be the sources' bits, moved."""
    g = torch.Generator().manual_seed(0)
    n, shape = 5, (3, 9, 10)
    images = torch.randn((n,) + shape, generator=g)
    picks = torch.randint(0, len(special), (n,) + shape, generator=g)
    sprinkle = torch.rand((n,) + shape, generator=g) < 0.5
    images = torch.where(sprinkle, torch.tensor(special, dtype=torch.float32)[picks], images)
    samples = [(images[i].clone(), i) for i in range(n)]
    for seed in range(3):
        out, _, boxes = _collate_seeded(CutMixCollator(mode=mode, return_boxes=True), samples, seed)
        expected = images.clone()
        for i, (j, (y0, y1, x0, x1)) in enumerate(zip(boxes.index.tolist(), boxes.boxes.tolist())):
            expected[i, :, y0:y1, x0:x1] = images[j, :, y0:y1, x0:x1]
        assert torch.equal(out.view(torch.int32), expected.view(torch.int32)), "output bits differ from the sources'"


@pytest.mark.parametrize("mode", MODES)
def test_non_finite_pixels_are_moved_bit_for_bit(mode):
    _bitwise_case([float("nan"), float("inf"), -float("inf"), 3e38, -3e38, 1e-45], mode)


@pytest.mark.parametrize("mode", MODES)
def test_negative_zero_pixels_are_kept(mode):
    _bitwise_case([-0.0], mode)


# --------------------------------------------------------------------------------- PIL


def _pil_samples(n, mode, size=(9, 7), rng_seed=None):
    width, height = size
    samples = []
    for i in range(n):
        channels = 3 if mode == "RGB" else 1
        if rng_seed is None:
            array = np.full((height, width, channels), i + 1, dtype=np.uint8)
        else:
            array = np.random.default_rng(rng_seed + i).integers(0, 256, (height, width, channels), dtype=np.uint8)
        image = Image.fromarray(array[..., 0] if mode == "L" else array, mode=None)
        assert image.mode == mode
        samples.append((image, i))
    return samples


def _pil_reference(image):
    array = np.array(image)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


@pytest.mark.parametrize("pil_mode", ["L", "RGB"])
@pytest.mark.parametrize("mode", MODES)
def test_pil_images(pil_mode, mode):
    n, channels = 5, (3 if pil_mode == "RGB" else 1)
    # unmixed: exactly the explicit conversion to (C, H, W) uint8
    content = _pil_samples(n, pil_mode, rng_seed=10)
    out, target = _collate_seeded(CutMixCollator(prob=0.0, mode=mode), content, 0)
    expected = torch.stack([_pil_reference(img) for img, _ in content])
    assert out.shape == (n, channels, 7, 9) and out.dtype == torch.uint8
    assert torch.equal(out, expected)
    assert torch.equal(target.y_a, torch.arange(n))
    # mixed: provenance on constant images, then the same draws on the random content
    collator = CutMixCollator(mode=mode)
    for seed in range(3):
        constant = _pil_samples(n, pil_mode)
        result = _collate_seeded(collator, constant, seed)
        assert result[0].shape == (n, channels, 7, 9) and result[0].dtype == torch.uint8
        partners, rects = check_provenance(result[0], result[1], list(range(n)), mode=mode, encode=False)
        mixed = _collate_seeded(collator, content, seed)[0]
        want = expected.clone()
        for i, (k, rect) in enumerate(zip(partners, rects)):
            if rect is not None:
                y0, y1, x0, x1 = rect
                want[i, :, y0:y1, x0:x1] = expected[k, :, y0:y1, x0:x1]
        assert torch.equal(mixed, want)


# --------------------------------------------------------------------------------- labels


LABEL_KINDS = {
    "int": lambda i: i,
    "tensor0d": lambda i: torch.tensor(i * 3),
    "tensor0d_float": lambda i: torch.tensor(i + 0.5),
    "onehot": lambda i: torch.nn.functional.one_hot(torch.tensor(i), 7).float(),
    "multihot": lambda i: torch.tensor([(i + 1) >> k & 1 for k in range(4)], dtype=torch.int64),
    "soft": lambda i: torch.tensor([0.1 * i, 1.0 - 0.1 * i, 0.5], dtype=torch.float64),
    "numpy_scalar": lambda i: np.int64(i),
    "numpy_vector": lambda i: np.array([i, 1.5, -i], dtype=np.float32),
    "bool_vector": lambda i: torch.tensor([(i + 1) >> k & 1 for k in range(4)], dtype=torch.bool),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(LABEL_KINDS))
def test_labels_like_default_collate(kind, mode):
    samples, encode = _samples(6, (2, 5, 6), torch.float32, label_fn=LABEL_KINDS[kind])
    labels_before = [s[1].clone() if isinstance(s[1], torch.Tensor) else s[1] for s in samples]
    for seed in range(3):
        result = _collate_seeded(CutMixCollator(mode=mode, return_boxes=True), samples, seed)
        partners, _ = _check_pair_batch(result, samples, mode, encode)  # y_a == default_collate's, dtype too
        target = result[1]
        ref = default_collate([s[1] for s in samples])
        assert target.y_b.dtype == ref.dtype and target.y_b.shape == ref.shape
        assert torch.equal(target.y_b, ref[partners])
        target.y_a.zero_() if target.y_a.dtype != torch.bool else target.y_a.fill_(False)
    for s, before in zip(samples, labels_before):
        if isinstance(before, torch.Tensor):
            assert torch.equal(s[1], before), "a dataset label was modified through y_a"


def test_list_labels_are_label_vectors():
    samples, encode = _samples(4, (6, 6), torch.float32, label_fn=lambda i: [float(i), 1.0, 2.0 * i])
    result = _collate_seeded(CutMixCollator(mode="elem"), samples, 0)
    expected = torch.tensor([s[1] for s in samples])
    assert torch.equal(result[1].y_a, expected)
    check_provenance(result[0], result[1], range(4), mode="elem", encode=encode)


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_float_labels_like_default_collate(prob):
    samples, _ = _samples(4, (3, 4, 4), torch.float32, label_fn=lambda i: 0.25 * i + 0.1)
    _, target = CutMixCollator(prob=prob)(samples)
    ref = default_collate(samples)[1]
    assert target.y_a.dtype == ref.dtype == torch.float64
    assert torch.equal(target.y_a, ref)


# --------------------------------------------------------------------------------- prob = 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "shape, dtype, form",
    [
        ((3, 8, 8), torch.float32, "tensor"),
        ((3, 80, 80), torch.uint8, "channels_last"),
        ((8, 8), torch.int64, "transposed"),
        ((3, 9, 7), torch.float64, "numpy_readonly"),
        ((130, 130), torch.uint8, "numpy"),
        ((3, 6, 5), torch.int32, "strided"),
    ],
    ids=str,
)
def test_prob_zero_is_default_collate(shape, dtype, form, mode):
    samples, _ = _samples(5, shape, dtype, forms=(form,), label_fn=lambda i: torch.tensor(10 - i))
    for seed in range(3):
        images, target = _collate_seeded(CutMixCollator(prob=0.0, mode=mode), samples, seed)
        ref_images, ref_labels = default_collate(samples)
        assert torch.equal(images, ref_images) and images.dtype == ref_images.dtype
        assert images.shape == ref_images.shape
        assert torch.equal(target.y_a, ref_labels) and target.y_a.dtype == ref_labels.dtype
        assert torch.equal(target.y_b, ref_labels) and target.y_b.dtype == ref_labels.dtype
        if mode == "batch":
            assert type(target.lam) is float and target.lam == 1.0
        else:
            assert target.lam.dtype == torch.float32 and torch.equal(target.lam, torch.ones(5))


def test_prob_zero_dict_is_default_collate():
    ds = EncodedDataset(5, (3, 6, 6), torch.uint8, as_dict=True)
    samples = [ds[k] for k in range(5)]
    out = CutMixCollator(prob=0.0, return_boxes=True)(samples)
    ref = default_collate(samples)
    assert list(out) == ["idx", "image", "label", "name", "mix_boxes"]
    assert torch.equal(out["image"], ref["image"]) and out["image"].dtype == torch.uint8
    assert torch.equal(out["idx"], ref["idx"]) and out["name"] == ref["name"]
    assert torch.equal(out["label"].y_a, ref["label"]) and torch.equal(out["label"].y_b, ref["label"])
    assert out["label"].lam == 1.0
    assert out["mix_boxes"].index.tolist() == list(range(5))


@pytest.mark.parametrize("mode", MODES)
def test_prob_half_mixes_about_half(mode):
    samples, encode = _samples(6, (4, 4), torch.float32)
    collator = CutMixCollator(prob=0.5, mode=mode)
    torch.manual_seed(0)
    mixed = lam_not_one = 0
    for _ in range(200):
        images, target = collator(samples)
        if torch.equal(target.y_a, target.y_b):  # unmixed (or identity permutation, p = 1/720)
            assert torch.equal(images, default_collate(samples)[0])
            # lam is 1 when unmixed; a mixed batch whose partners are all themselves keeps its lam < 1
            lam_not_one += not (target.lam == 1.0 if mode == "batch" else torch.equal(target.lam, torch.ones(6)))
        else:
            mixed += 1
    assert lam_not_one <= 2
    assert stats.binomtest(mixed, 200, 0.5 * (1 - 1 / 720)).pvalue > 1e-3


# --------------------------------------------------------------------------------- dict samples


@pytest.mark.parametrize("mode", MODES)
def test_dict_samples(mode):
    ds = EncodedDataset(7, (3, 10, 12), torch.float32, as_dict=True)
    samples = [ds[k] for k in (3, 0, 6, 1, 5)]
    for seed in range(3):
        out = _collate_seeded(CutMixCollator(mode=mode, return_boxes=True), samples, seed)
        ref = default_collate(samples)
        assert list(out) == ["idx", "image", "label", "name", "mix_boxes"]
        assert torch.equal(out["idx"], ref["idx"]) and out["idx"].dtype == ref["idx"].dtype
        assert out["name"] == ref["name"]
        assert isinstance(out["label"], MixedTarget)
        assert torch.equal(out["label"].y_a, ref["label"])
        check_provenance(out["image"], out["label"], [3, 0, 6, 1, 5], mode=mode, encode=ds.encode, boxes=out["mix_boxes"])


def test_dict_samples_custom_keys():
    samples = [{"img": make_image(i, (2, 5, 5), torch.float32, True), "y": i * 10, "w": 0.5 * i} for i in range(4)]
    out = _collate_seeded(CutMixCollator(image_key="img", label_key="y", mode="elem"), samples, 1)
    assert list(out) == ["img", "y", "w"]
    assert torch.equal(out["w"], default_collate([s["w"] for s in samples]))
    check_provenance(out["img"], out["y"], range(4), mode="elem", encode=True)


# --------------------------------------------------------------------------------- randomness, pickling


def _no_generator(obj, depth=0):
    assert not isinstance(obj, torch.Generator)
    if depth < 3 and hasattr(obj, "__dict__"):
        for value in vars(obj).values():
            _no_generator(value, depth + 1)


@pytest.mark.parametrize("mode", MODES)
def test_draws_come_from_the_global_generator(mode):
    samples, _ = _samples(6, (3, 16, 16), torch.float32)
    torch.manual_seed(5)
    first = CutMixCollator(mode=mode, return_boxes=True)
    a = _collate_seeded(first, samples, 21)
    state = torch.get_rng_state()
    b = first(samples)
    assert not torch.equal(state, torch.get_rng_state()), "no draw from the global generator"
    second = CutMixCollator(mode=mode, return_boxes=True)  # created at another RNG state
    c = _collate_seeded(second, samples, 21)
    _assert_same_batch(a, c)
    assert not (torch.equal(a[2].boxes, b[2].boxes) and torch.equal(a[2].index, b[2].index))


@pytest.mark.parametrize("mode", MODES)
def test_pickle_round_trip(mode):
    collator = CutMixCollator(0.4, prob=0.8, mode=mode, image_key="x", label_key="t", return_boxes=True)
    _no_generator(collator)
    clone = pickle.loads(pickle.dumps(collator))
    _no_generator(clone)
    assert type(clone) is CutMixCollator
    assert (clone.alpha, clone.prob, clone.mode, clone.image_key, clone.label_key, clone.return_boxes) == (
        0.4, 0.8, mode, "x", "t", True)
    samples = [{"x": make_image(i, (4, 5), torch.float32, True), "t": i} for i in range(5)]
    for seed in range(3):
        a = _collate_seeded(collator, samples, seed)
        b = _collate_seeded(clone, samples, seed)
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["mix_boxes"].boxes, b["mix_boxes"].boxes)


# --------------------------------------------------------------------------------- dataset untouched


@pytest.mark.parametrize("mode", MODES)
def test_outputs_do_not_alias_the_dataset(mode):
    samples, _ = _samples(4, (3, 9, 9), torch.float32, forms=FORMS,
                          label_fn=lambda i: torch.tensor([float(i), 1.0]))
    snapshot = _snapshot(samples)
    labels = [s[1].clone() for s in samples]
    for prob in (0.0, 1.0):
        images, target = _collate_seeded(CutMixCollator(prob=prob, mode=mode), samples, 3)
        images.fill_(-1)
        target.y_a.fill_(-1)
        target.y_b.fill_(-1)
        _assert_unchanged(samples, snapshot)
        assert all(torch.equal(s[1], l) for s, l in zip(samples, labels))


@pytest.mark.parametrize("mode", MODES)
def test_main_process_dataloader(mode):
    ds = EncodedDataset(13, (3, 90, 90) if mode == "batch" else (3, 7, 9), torch.float32)
    before = [img.clone() for img in ds.images]
    probe = SharedProbe(CutMixCollator(mode=mode, return_boxes=True))
    loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=0, collate_fn=probe)
    batches = 0
    for _ in range(2):
        for (images, target, boxes), flags in loader:
            assert flags["in_worker"] is False
            check_provenance(images, target, target.y_a.tolist(), mode=mode, encode=ds.encode, boxes=boxes)
            batches += 1
    assert batches == 8
    assert all(torch.equal(a, b) for a, b in zip(ds.images, before))


# --------------------------------------------------------------------------------- DataLoader workers


def _signature(images, target, boxes):
    lam = tuple(target.lam.tolist()) if isinstance(target.lam, torch.Tensor) else target.lam
    return lam, tuple(map(tuple, boxes.boxes.tolist())), tuple(boxes.index.tolist())


def _run_loader(ds, ctx, mode, seed, epochs, persistent=False, worker_init_fn=None):
    loader = DataLoader(
        ds, batch_size=6, shuffle=True, num_workers=2, multiprocessing_context=ctx,
        collate_fn=SharedProbe(CutMixCollator(mode=mode, return_boxes=True)),
        generator=torch.Generator().manual_seed(seed), persistent_workers=persistent,
        worker_init_fn=worker_init_fn,
    )
    epochs_out = []
    for _ in range(epochs):
        epochs_out.append([batch for batch in loader])
    return epochs_out


def _check_worker_epochs(ds, epochs, mode):
    signatures = []
    for epoch in epochs:
        assert sorted(len(b[0][1].y_a) for b in epoch) == [5, 6, 6, 6, 6]  # 29 items, batch 6
        seen = []
        for (images, target, boxes), flags in epoch:
            assert flags["in_worker"] and flags["images"] and flags["y_a"] and flags["y_b"], flags
            assert images.dtype == ds.images[0].dtype
            check_provenance(images, target, target.y_a.tolist(), mode=mode, encode=ds.encode, boxes=boxes)
            seen += target.y_a.tolist()
            signatures.append(_signature(images, target, boxes))
        assert sorted(seen) == list(range(len(ds)))
    return signatures


def _assert_same_epochs(a, b):
    assert len(a) == len(b)
    for ea, eb in zip(a, b):
        assert len(ea) == len(eb)
        for (ra, _), (rb, _) in zip(ea, eb):
            _assert_same_batch(ra, rb)


@pytest.mark.parametrize("mode", MODES)
def test_dataloader_fork_workers(mode):
    shape, dtype = ((3, 80, 80), torch.float32) if mode == "batch" else ((3, 8, 8), torch.uint8)
    ds = EncodedDataset(29, shape, dtype)
    before = [img.clone() for img in ds.images]
    first = _run_loader(ds, "fork", mode, seed=3, epochs=3)
    signatures = _check_worker_epochs(ds, first, mode)
    assert len(set(signatures)) == len(signatures), "a draw repeated across workers or epochs"
    if mode == "elem":
        lams = [s[0] for s in signatures]
        assert len(set(lams)) == len(lams)
    _assert_same_epochs(first, _run_loader(ds, "fork", mode, seed=3, epochs=3))
    other = _run_loader(ds, "fork", mode, seed=4, epochs=1)
    assert _signature(*other[0][0][0]) != signatures[0]
    assert all(torch.equal(a, b) for a, b in zip(ds.images, before))


def test_dataloader_repeat_check_can_fail():
    # Negative control: workers all seeded alike must be caught by the signature check above.
    ds = EncodedDataset(29, (3, 8, 8), torch.uint8)
    epochs = _run_loader(ds, "fork", "elem", seed=3, epochs=2, worker_init_fn=same_seed_worker_init)
    signatures = _check_worker_epochs(ds, epochs, "elem")
    assert len(set(signatures)) < len(signatures)


@pytest.mark.slow  # spawn-started workers
def test_dataloader_spawn_workers():
    ds = EncodedDataset(29, (3, 8, 8), torch.float32)
    first = _run_loader(ds, "spawn", "elem", seed=5, epochs=3, persistent=True)
    signatures = _check_worker_epochs(ds, first, "elem")
    assert len(set(signatures)) == len(signatures), "a draw repeated across workers or epochs"
    assert len({s[0] for s in signatures}) == len(signatures)
    _assert_same_epochs(first, _run_loader(ds, "spawn", "elem", seed=5, epochs=3, persistent=True))


# --------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        (dict(alpha=0), ValueError, r"alpha must be a finite number > 0, got 0\.0"),
        (dict(alpha=-2), ValueError, r"alpha must be a finite number > 0, got -2\.0"),
        (dict(alpha=float("nan")), ValueError, r"alpha must be a finite number > 0, got nan"),
        (dict(alpha=float("inf")), ValueError, r"alpha must be a finite number > 0, got inf"),
        (dict(alpha=True), TypeError, r"alpha must be a finite number > 0, got True \(bool\)"),
        (dict(alpha="1.0"), TypeError, r"alpha must be a finite number > 0, got '1\.0' \(str\)"),
        (dict(prob=1.01), ValueError, r"prob must be a number in \[0, 1\], got 1\.01"),
        (dict(prob=-1), ValueError, r"prob must be a number in \[0, 1\], got -1\.0"),
        (dict(prob=float("nan")), ValueError, r"prob must be a number in \[0, 1\], got nan"),
        (dict(prob="0.5"), TypeError, r"prob must be a number in \[0, 1\], got '0\.5' \(str\)"),
        (dict(mode="sample"), ValueError, r"mode must be one of 'batch', 'elem', got 'sample'"),
    ],
)
def test_constructor_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        CutMixCollator(**kwargs)


IMG = torch.zeros(3, 4, 4)


class _Opaque:
    def __repr__(self):
        return "<opaque>"


@pytest.mark.parametrize(
    "batch, exc, msg",
    [
        ([], ValueError, r"batch must hold at least one sample, got an empty batch"),
        ("ab", TypeError, r"batch must be a list of samples, got 'ab' \(str\)"),
        ([(IMG, 0), (torch.zeros(3, 5, 5), 1)], ValueError,
         r"all images in a batch must have the same shape; sample 1 has \(3, 5, 5\), sample 0 has \(3, 4, 4\)"),
        ([(IMG, 0), (IMG, 1), (torch.zeros(4, 4), 2)], ValueError,
         r"all images in a batch must have the same shape; sample 2 has \(4, 4\), sample 0 has \(3, 4, 4\)"),
        ([(IMG, 0), (IMG.double(), 1)], ValueError,
         r"all images in a batch must have the same dtype; sample 1 has torch\.float64, sample 0 has torch\.float32"),
        ([(IMG, 0), (IMG, 1, 2)], TypeError,
         r"each sample must be an \(image, label\) pair or a dict, got a tuple of length 3 at sample 1"),
        ([[IMG]], TypeError, r"each sample must be an \(image, label\) pair or a dict, got a list of length 1 at sample 0"),
        ([IMG], TypeError,
         r"each sample must be an \(image, label\) pair or a dict, got a tensor of shape \(3, 4, 4\) and dtype torch\.float32 at sample 0"),
        ([(IMG, 0), 7], TypeError, r"each sample must be an \(image, label\) pair or a dict, got 7 \(int\) at sample 1"),
        ([{"image": IMG, "label": 0}, (IMG, 1)], TypeError, r"every sample must be a dict like sample 0, got a tuple of 2 items at sample 1"),
        ([{"img": IMG, "label": 0}], ValueError, r"sample 0 has no key 'image' \(image_key\); its keys are \['img', 'label'\]"),
        ([{"image": IMG, "label": 0}, {"image": IMG}], ValueError, r"sample 1 has no key 'label' \(label_key\); its keys are \['image'\]"),
        ([(np.zeros((3, 4, 4)), 0), (np.zeros(4), 1)], ValueError,
         r"image of sample 1 must have at least 2 dimensions \(H, W\), got shape \(4,\)"),
        ([(torch.tensor(1.0), 0)], ValueError, r"image of sample 0 must have at least 2 dimensions \(H, W\), got shape \(\)"),
        ([(np.zeros(5), 0)], ValueError, r"image of sample 0 must have at least 2 dimensions \(H, W\), got shape \(5,\)"),
        ([([[0.0]], 0)], TypeError, r"image of sample 0 must be a tensor, a numpy array or a PIL image, got \[\[0\.0\]\] \(list\)"),
        ([(_Opaque(), 0)], TypeError, r"image of sample 0 must be a tensor, a numpy array or a PIL image, got <opaque> \(test_collator\._Opaque\)"),
        ([(IMG, 0), (IMG, "cat")], TypeError, r"label of sample 1 must be a number or a tensor, got 'cat' \(str\)"),
        ([(IMG, None)], TypeError, r"label of sample 0 must be a number or a tensor, got None \(NoneType\)"),
        ([(IMG, np.array(["a", "b"]))], TypeError, r"label of sample 0 must be a number or a tensor, got array\(\['a', 'b'\]"),
        ([(IMG, ["a"])], TypeError, r"label of sample 0 must be a number or a tensor, got \['a'\] \(list\)"),
        ([(IMG, torch.zeros(3)), (IMG, torch.zeros(4))], ValueError,
         r"all labels in a batch must have the same shape and dtype; sample 1 has \(4,\) torch\.float32, sample 0 has \(3,\) torch\.float32"),
        ([(IMG, torch.zeros(2, 2)), (IMG, torch.zeros(2, 2))], ValueError,
         r"label of sample 0 must be a number, a 0-d tensor or a vector of shape \(K,\), got shape \(2, 2\)"),
        ([(torch.zeros(3, 0, 4), 0)], ValueError, r"images must have H >= 1 and W >= 1, got shape \(3, 0, 4\) at sample 0"),
    ],
)
def test_call_errors(batch, exc, msg):
    with pytest.raises(exc, match=msg):
        CutMixCollator()(batch)


def test_call_error_one_dimensional_tensor_image_after_sample_0():
    with pytest.raises(ValueError, match=r"image of sample 1 must have at least 2 dimensions \(H, W\), got shape \(4,\)"):
        CutMixCollator()([(IMG, 0), (torch.zeros(4), 1)])


def test_error_for_empty_batch_comes_before_any_draw():
    state = torch.get_rng_state()
    with pytest.raises(ValueError, match="empty batch"):
        CutMixCollator()([])
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.uint8, torch.bool, torch.int64])
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_every_dtype_gets_its_partners_box_on_top_of_default_collate(dtype, mode):
    # bfloat16 has no numpy dtype, so the elem-mode paste stays in torch for it; every other dtype goes
    # through numpy views. Reference: default_collate, then each box copied by hand from the rule.
    torch.manual_seed(0)
    samples = [((torch.rand(2, 9, 7) * 200).to(dtype), i % 3) for i in range(6)]
    images, target, boxes = CutMixCollator(mode=mode, return_boxes=True)(samples)
    expected, labels = default_collate(samples)
    plain = expected.clone()
    for i, (j, (y0, y1, x0, x1)) in enumerate(zip(boxes.index.tolist(), boxes.boxes.tolist())):
        expected[i, :, y0:y1, x0:x1] = plain[j, :, y0:y1, x0:x1]
    assert images.dtype == dtype and torch.equal(images, expected)
    assert torch.equal(target.y_a, labels) and torch.equal(target.y_b, labels[boxes.index])

# --------------------------------------------------------------------------- contracts: ranks, gradients, read-only settings, sample kinds (from test_contracts.py)


def _rank_main(rank, world_size, init_file, out_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        dataset = TensorDataset(torch.arange(64 * 8 * 8, dtype=torch.float32).view(64, 1, 8, 8), torch.arange(64))
        runs = []
        for _ in range(2):  # the same seed twice: a seeded loader is reproducible on its rank
            torch.manual_seed(0)  # as many scripts do, on every rank
            loader = DataLoader(dataset, batch_size=8, num_workers=2,
                                collate_fn=CutMixCollator(mode="elem", return_boxes=True))
            runs.append([(b.boxes, b.index, t.lam) for _, t, b in loader])
        torch.save(runs, out_file)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned rank processes, each with two workers
def test_ranks_seeded_alike_draw_differently(tmp_path):
    files = [str(tmp_path / f"rank{r}.pt") for r in range(2)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_rank_main, args=(r, 2, str(tmp_path / "init"), files[r])) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0, "a rank process failed"
    rank0, rank1 = (torch.load(f, weights_only=False) for f in files)
    for run in (rank0, rank1):  # reproducible on each rank
        for (b1, i1, l1), (b2, i2, l2) in zip(run[0], run[1]):
            assert torch.equal(b1, b2) and torch.equal(i1, i2) and torch.equal(l1, l2)
    assert len(rank0[0]) == 8
    for (b0, _, l0), (b1, _, l1) in zip(rank0[0], rank1[0]):  # every batch differs across ranks
        assert not torch.equal(b0, b1) and not torch.equal(l0, l1)
    # Workers and batches differ too (two workers take alternate batches).
    assert len({tuple(b.flatten().tolist()) for b, _, _ in rank0[0]}) == 8


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls", [CutMixCollator, MixUpCollator])
def test_collators_on_images_that_require_grad(cls, mode):
    torch.manual_seed(5)
    leaves = [torch.randn(2, 6, 6, requires_grad=True) for _ in range(4)]
    out, target = cls(mode=mode)([(leaf, i) for i, leaf in enumerate(leaves)])[:2]
    assert out.requires_grad
    out.sum().backward()
    assert all(leaf.grad is not None for leaf in leaves)
    if cls is CutMixCollator:  # every pixel is copied exactly once: the gradients sum to the pixel count
        assert sum(float(leaf.grad.sum()) for leaf in leaves) == out.numel()


@pytest.mark.parametrize("name,value", [("mode", "Batch"), ("alpha", 2.0), ("image_key", "img"),
                                        ("label_key", "y"), ("return_boxes", True), ("off_epoch", 3)])
def test_settings_are_read_only(name, value):
    collate = CutMixCollator(mode="batch")
    before = getattr(collate, name)
    with pytest.raises(AttributeError, match=f"{name} of CutMixCollator is read-only after construction"):
        setattr(collate, name, value)
    assert getattr(collate, name) == before
    collate.enabled, collate.prob = False, 0.25  # the switch stays settable
    assert (collate.enabled, collate.prob) == (False, 0.25)


def test_any_mapping_works_like_a_dict():
    torch.manual_seed(0)
    samples = [UserDict(image=torch.full((1, 4, 4), float(i)), label=i, name=f"s{i}") for i in range(4)]
    out = CutMixCollator(prob=0.0)(samples)
    assert isinstance(out, UserDict)
    expected = default_collate([dict(s) for s in samples])
    assert torch.equal(out["image"], expected["image"]) and out["name"] == expected["name"]


def test_missing_key_in_a_later_sample_names_the_key_and_the_sample():
    samples = [{"image": torch.rand(1, 4, 4), "label": 0, "weight": 1.0}, {"image": torch.rand(1, 4, 4), "label": 1}]
    with pytest.raises(ValueError, match=r"sample 1 has no key 'weight' \(sample 0 has it\)"):
        CutMixCollator()(samples)
    samples[1]["weight"], samples[1]["extra"] = 2.0, 0
    with pytest.raises(ValueError, match="sample 1 has a key 'extra' that sample 0 has not"):
        CutMixCollator()(samples)


@pytest.mark.parametrize("bad", [Fraction(1, 2), Decimal("0.5")], ids=["Fraction", "Decimal"])
@pytest.mark.parametrize("where", [0, 2])
def test_labels_torch_cannot_convert_name_the_sample(bad, where):
    labels = [0, 1, 2]
    labels[where] = bad
    with pytest.raises(TypeError, match=f"label of sample {where} must be a number or a tensor, got"):
        CutMixCollator()([(torch.rand(1, 4, 4), label) for label in labels])


def test_numpy_images_with_negative_strides():
    torch.manual_seed(1)
    arrays = [np.flip(np.arange(48, dtype=np.float32).reshape(1, 6, 8) + 100 * i, axis=-1) for i in range(3)]
    out, target = CutMixCollator(prob=0.0)([(a, i) for i, a in enumerate(arrays)])
    assert torch.equal(out, default_collate([torch.from_numpy(a.copy()) for a in arrays]))
    out, target, boxes = CutMixCollator(return_boxes=True)([(a, i) for i, a in enumerate(arrays)])
    assert torch.equal(out, pasted_by_hand(torch.from_numpy(np.stack(arrays)), boxes))


def test_return_boxes_does_not_overwrite_a_sample_key():
    samples = [{"image": torch.rand(1, 4, 4), "label": i, "mix_boxes": 0} for i in range(2)]
    with pytest.raises(ValueError, match="return_boxes=True adds the key 'mix_boxes', but the samples already have one"):
        CutMixCollator(return_boxes=True)(samples)


def test_channels_last_numpy_images_are_refused_not_mixed_across_channels():
    arrays = [np.zeros((32, 32, 3), dtype=np.uint8) for _ in range(2)]  # what cv2 and np.asarray(pil) give
    with pytest.raises(ValueError, match=r"image of sample 0 is a numpy array of shape \(32, 32, 3\), which looks "
                                         r"like \(H, W, C\).*np.transpose\(a, \(2, 0, 1\)\)"):
        CutMixCollator()([(a, 0) for a in arrays])
    chw = [np.ascontiguousarray(a.transpose(2, 0, 1)) for a in arrays]  # the fix the message names
    assert CutMixCollator()([(a, 0) for a in chw])[0].shape == (2, 3, 32, 32)


def test_an_unknown_setting_is_named_as_such():
    with pytest.raises(AttributeError, match="CutMixCollator has no setting 'probability'; the ones that reach "
                                             r"the workers are enabled and prob \(and set_epoch\)"):
        CutMixCollator().probability = 0.5


def test_a_missing_configured_key_says_which_option_names_it():
    with pytest.raises(ValueError, match=r"sample 0 has no key 'image' \(image_key\); its keys are \['img', "
                                         r"'label'\]; pass image_key= to name another key"):
        CutMixCollator()([{"img": torch.rand(1, 4, 4), "label": 0}])
