"""Tests for segmentation masks in ``CutMixCollator(mask_key=...)`` (issue 8).

Each sample's image and mask name their sample in every element (``_mix_datasets``): images
are encoded float64 (sample and position), masks encoded int64, constant uint8 or single-band
PIL. The check: for every pixel the mask comes from the same sample as the image pixel, the
image is a valid CutMix of the inputs (exact copies inside the box, from the partner named by
``y_b`` or the reported boxes), and the mask is exactly that same CutMix of the input masks.
Spawn workers with masks are covered by ``test_switch.py::test_switch_reaches_persistent_spawn_workers``
(one spawn DataLoader for all collators, to keep the suite fast).
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, default_collate

from _mix_datasets import (
    SegDicts,
    SharedProbe,
    check_cutmix,
    check_mask_follows_image,
    cutmix_expected,
    encoded,
    lams_of,
    partners_from_labels,
)
from cutmix_collate import CutMixCollator, CutMixCriterion

MODES = ["batch", "elem"]

# (image shape, mask shape, mask kind)
CASES = [
    ((3, 8, 8), (8, 8), "enc_i64"),
    ((3, 8, 8), (8, 8), "const_u8"),
    ((2, 8, 8), (4, 8, 8), "enc_i64"),  # (C, H, W) mask with more channels than the image
    ((3, 6, 9), (2, 6, 9), "const_u8"),
    ((8, 8), (8, 8), "numpy"),  # 2-D image, numpy mask
    ((3, 7, 5), (7, 5), "pil"),  # single-band PIL mask stays (H, W)
]


def _mask_originals(ds: SegDicts, ids) -> torch.Tensor:
    masks = [ds.mask(int(k)) for k in ids]
    if ds.mask_kind == "numpy":
        masks = [torch.from_numpy(m) for m in masks]
    elif ds.mask_kind == "pil":
        masks = [torch.from_numpy(np.asarray(m).copy()) for m in masks]
    return torch.stack(masks)


def _mask_dtype(kind: str) -> torch.dtype:
    return {"enc_i64": torch.int64, "numpy": torch.int64, "const_u8": torch.uint8, "pil": torch.uint8}[kind]


def _ident_kind(kind: str) -> str:
    return "encoded" if kind in ("enc_i64", "numpy") else "const"


def _check_batch(out, ds: SegDicts, mode: str, with_label: bool, with_boxes: bool):
    """Check one collated segmentation batch; returns whether it was visibly mixed."""
    ids = out["idx"].tolist()
    assert sorted(ids) == sorted(set(ids))
    originals = torch.stack([ds[k]["image"] for k in ids])
    mask_originals = _mask_originals(ds, ids)
    image, mask = out["image"], out["mask"]
    assert image.dtype == torch.float64 and image.shape == originals.shape
    assert mask.dtype == _mask_dtype(ds.mask_kind) and mask.shape == mask_originals.shape
    boxes = out.get("mix_boxes")
    assert (boxes is not None) == with_boxes
    if with_label:
        target = out["label"]
        assert target.y_a.tolist() == ids
        partners = partners_from_labels(target.y_a, target.y_b)
        rects = check_cutmix(image, originals, partners, target.lam, mode, boxes=boxes)
    else:
        assert "label" not in out
        if boxes is not None:
            partners = boxes.index.tolist()
            y0, y1, x0, x1 = boxes.boxes.T
            area = ((y1 - y0) * (x1 - x0)).double()
            lam = 1.0 - area / (image.shape[-2] * image.shape[-1])
            lam = float(lam[0]) if mode == "batch" else lam.float()
            rects = check_cutmix(image, originals, partners, lam, mode, boxes=boxes)
        else:
            rects = None
    check_mask_follows_image(image, mask, ids, _ident_kind(ds.mask_kind))
    if rects is not None:
        assert torch.equal(mask, cutmix_expected(mask_originals, partners, rects)), (
            "the mask did not get the image's box from the image's partner")
    return not torch.equal(image, originals)


# ============================================================================ provenance


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("image_shape,mask_shape,kind", CASES)
def test_mask_gets_the_same_box_from_the_same_partner(mode, image_shape, mask_shape, kind):
    ds = SegDicts(6, image_shape, mask_shape, kind)
    batch = [ds[k] for k in range(6)]
    torch.manual_seed(10 * MODES.index(mode))
    mixed = 0
    for return_boxes in (True, False):
        collate = CutMixCollator(mask_key="mask", mode=mode, return_boxes=return_boxes)
        for _ in range(6):
            out = collate(batch)
            assert list(out) == ["image", "mask", "idx", "label"] + (["mix_boxes"] if return_boxes else [])
            mixed += _check_batch(out, ds, mode, with_label=True, with_boxes=return_boxes)
    assert mixed >= 8


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("return_boxes", [True, False])
def test_masks_without_image_labels(monkeypatch, mode, return_boxes):
    ds = SegDicts(5, (3, 8, 8), (8, 8), "enc_i64", with_label=False)
    batch = [ds[k] for k in range(5)]
    torch.manual_seed(11)
    collate = CutMixCollator(label_key=None, mask_key="mask", mode=mode, return_boxes=return_boxes)
    mixed = sum(_check_batch(collate(batch), ds, mode, with_label=False, with_boxes=return_boxes)
                for _ in range(8))
    assert mixed >= 4


def test_label_key_none_collates_a_present_label_plainly():
    ds = SegDicts(4, (1, 4, 4), (4, 4), "enc_i64")
    batch = [ds[k] for k in range(4)]
    out = CutMixCollator(label_key=None, mask_key="mask")(batch)
    assert torch.equal(out["label"], default_collate([s["label"] for s in batch]))


def test_pil_image_and_pil_mask():
    """The usual segmentation pipeline: an RGB PIL image and an ``L`` PIL mask."""
    torch.manual_seed(12)
    batch = [{"image": Image.fromarray(np.full((6, 5, 3), 10 + k, np.uint8)),
              "mask": Image.fromarray(np.full((6, 5), 100 + k, np.uint8), mode="L"), "label": k}
             for k in range(4)]
    collate = CutMixCollator(mask_key="mask", mode="elem", return_boxes=True)
    for _ in range(5):
        out = collate(batch)
        image, mask = out["image"], out["mask"]
        assert image.shape == (4, 3, 6, 5) and image.dtype == torch.uint8
        assert mask.shape == (4, 6, 5) and mask.dtype == torch.uint8
        assert torch.equal(image[:, 0].to(torch.int64) - 10, mask.to(torch.int64) - 100), (
            "image and mask pixels come from different samples")
        partners = out["mix_boxes"].index.tolist()
        for i, (j, (y0, y1, x0, x1)) in enumerate(zip(partners, out["mix_boxes"].boxes.tolist())):
            expected = torch.full((6, 5), 100 + i, dtype=torch.uint8)
            expected[y0:y1, x0:x1] = 100 + j
            assert torch.equal(mask[i], expected)


@pytest.mark.parametrize("mode", MODES)
def test_bool_and_float_masks(mode):
    """Any mask dtype is kept: a boolean mask and a float (soft) mask follow the image too."""
    torch.manual_seed(13)
    images = [encoded(k, (2, 5, 6), torch.float64) for k in range(4)]
    for mask_of in (lambda k: torch.full((5, 6), k % 2 == 1), lambda k: torch.full((1, 5, 6), k / 8.0)):
        batch = [{"image": images[k], "mask": mask_of(k), "label": k} for k in range(4)]
        collate = CutMixCollator(mask_key="mask", mode=mode, return_boxes=True)
        for _ in range(5):
            out = collate(batch)
            partners = out["mix_boxes"].index.tolist()
            rects = check_cutmix(out["image"], torch.stack(images), partners, out["label"].lam, mode,
                                 boxes=out["mix_boxes"])
            originals = torch.stack([mask_of(k) for k in range(4)])
            assert out["mask"].dtype == originals.dtype
            assert torch.equal(out["mask"], cutmix_expected(originals, partners, rects))


MASK_MAKERS = {
    "numpy_uint16": lambda k: np.full((6, 5), 1000 * k + 7, np.uint16),
    "pil_I;16": lambda k: Image.fromarray(np.full((6, 5), 1000 * k + 7, np.uint16)),
    "pil_I": lambda k: Image.fromarray(np.full((6, 5), 70000 * k + 7, np.int32)),
    "pil_F": lambda k: Image.fromarray(np.full((6, 5), k + 0.5, np.float32)),
    "pil_P": lambda k: Image.fromarray(np.full((6, 5), k + 7, np.uint8)).convert("P"),
    "pil_1": lambda k: Image.fromarray(np.full((6, 5), k % 2 == 1)).convert("1"),
    "torch_uint32": lambda k: torch.full((6, 5), 70000 * k + 7, dtype=torch.uint32),
    "torch_int8": lambda k: torch.full((6, 5), -k - 1, dtype=torch.int8),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(MASK_MAKERS))
def test_label_map_formats(mode, name):
    """Masks as segmentation datasets store them: the pixel value keeps naming the sample."""
    make = MASK_MAKERS[name]
    torch.manual_seed(16)
    masks = [make(k) for k in range(4)]
    as_tensors = [m if isinstance(m, torch.Tensor) else torch.from_numpy(np.array(m)) for m in masks]
    batch = [{"image": encoded(k, (3, 6, 5), torch.float64), "mask": masks[k], "label": k} for k in range(4)]
    collate = CutMixCollator(mask_key="mask", mode=mode, return_boxes=True)
    for _ in range(4):
        out = collate(batch)
        partners = out["mix_boxes"].index.tolist()
        rects = check_cutmix(out["image"], torch.stack([s["image"] for s in batch]), partners,
                             out["label"].lam, mode, boxes=out["mix_boxes"])
        originals = torch.stack(as_tensors)
        assert out["mask"].dtype == originals.dtype and out["mask"].shape == (4, 6, 5)
        assert torch.equal(out["mask"], cutmix_expected(originals, partners, rects))


@pytest.mark.parametrize("mode", MODES)
def test_masks_of_a_disabled_collator_are_default_collate(mode):
    ds = SegDicts(4, (3, 8, 8), (2, 8, 8), "const_u8")
    batch = [ds[k] for k in range(4)]
    ref = default_collate(batch)
    collate = CutMixCollator(mask_key="mask", mode=mode, return_boxes=True)
    collate.enabled = False
    out = collate(batch)
    assert torch.equal(out["mask"], ref["mask"]) and out["mask"].dtype == torch.uint8
    assert torch.equal(out["image"], ref["image"])
    assert torch.equal(out["label"].y_b, ref["label"]) and lams_of(out["label"].lam, 4, mode) == [1.0] * 4
    assert not bool(out["mix_boxes"].boxes.any())


def test_criterion_on_segmentation_logits():
    """Per-pixel cross-entropy: the mixed mask is the per-pixel target, as in a real training step."""
    torch.manual_seed(14)
    batch = [{"image": torch.full((3, 6, 6), float(k)), "mask": torch.full((6, 6), k, dtype=torch.int64)}
             for k in range(4)]
    out = CutMixCollator(label_key=None, mask_key="mask", return_boxes=True)(batch)
    logits = torch.randn(4, 4, 6, 6)
    loss = torch.nn.CrossEntropyLoss()(logits, out["mask"])
    # the image channel value is the sample index, so the mask is exactly the image's class map
    assert torch.equal(out["image"][:, 0].to(torch.int64), out["mask"])
    assert torch.isfinite(loss)
    assert CutMixCriterion()(logits, out["mask"]) == loss  # plain targets pass through unchanged


# ============================================================================ errors


@pytest.mark.parametrize(
    "image,mask,msg",
    [
        (torch.zeros(3, 8, 8), torch.zeros(5, 8, dtype=torch.int64),
         r"mask and image sizes must match; sample 0 has a mask of \(5, 8\) and an image of \(3, 8, 8\)"),
        (torch.zeros(3, 8, 8), torch.zeros(8, 7, dtype=torch.int64),
         r"mask and image sizes must match; sample 0 has a mask of \(8, 7\) and an image of \(3, 8, 8\)"),
        (torch.zeros(3, 8, 8), torch.zeros(3, 8, 9, dtype=torch.uint8),
         r"mask and image sizes must match; sample 0 has a mask of \(3, 8, 9\) and an image of \(3, 8, 8\)"),
        (torch.zeros(8, 8), torch.zeros(8, 8, 1, dtype=torch.uint8),  # channels-last mask
         r"mask of sample 0 is a tensor of shape \(8, 8, 1\), which looks like \(H, W, C\)"),
        (torch.zeros(3, 8, 8), torch.zeros(8, dtype=torch.int64),
         r"mask of sample 0 must have at least 2 dimensions \(H, W\), got shape \(8,\)"),
        (torch.zeros(3, 8, 8), torch.zeros(8, 0, dtype=torch.int64),
         r"masks must have H >= 1 and W >= 1, got shape \(8, 0\) at sample 0"),
        (torch.zeros(3, 8, 8), [[1, 2]], r"mask of sample 0 must be a tensor, a numpy array or a PIL image, got \[\[1, 2\]\] \(list\)"),
    ],
)
def test_bad_masks(image, mask, msg):
    batch = [{"image": image, "mask": mask, "label": 0}, {"image": image.clone(), "mask": mask, "label": 1}]
    with pytest.raises((ValueError, TypeError), match=msg):
        CutMixCollator(mask_key="mask")(batch)


def test_mask_size_error_is_raised_even_when_disabled():
    collate = CutMixCollator(mask_key="mask")
    collate.enabled = False
    with pytest.raises(ValueError, match=r"mask and image sizes must match"):
        collate([{"image": torch.zeros(3, 4, 4), "mask": torch.zeros(4, 5), "label": 0}])


@pytest.mark.parametrize(
    "second,msg",
    [
        ({"mask": torch.zeros(8, 7, dtype=torch.int64)},
         r"all masks in a batch must have the same shape; sample 1 has \(8, 7\), sample 0 has \(8, 8\)"),
        ({"mask": torch.zeros(8, 8, dtype=torch.int32)},
         r"all masks in a batch must have the same dtype; sample 1 has torch\.int32, sample 0 has torch\.int64"),
        ({"mask": None}, r"mask of sample 1 must be a tensor, a numpy array or a PIL image, got None \(NoneType\)"),
        ({"mask": "drop"}, r"sample 1 has no key 'mask' \(mask_key\); its keys are \['image', 'label'\]"),
    ],
)
def test_bad_mask_in_a_later_sample(second, msg):
    first = {"image": torch.zeros(3, 8, 8), "mask": torch.zeros(8, 8, dtype=torch.int64), "label": 0}
    other = {"image": torch.zeros(3, 8, 8), "mask": torch.zeros(8, 8, dtype=torch.int64), "label": 1}
    if isinstance(second["mask"], str):
        del other["mask"]
    else:
        other.update(second)
    with pytest.raises((ValueError, TypeError), match=msg):
        CutMixCollator(mask_key="mask")([first, other])


@pytest.mark.parametrize(
    "kw,exc,msg",
    [
        (dict(label_key=None), ValueError, r"label_key may be None only for segmentation samples \(give mask_key\)"),
        (dict(mask_key=3), TypeError, r"mask_key must be a str, got 3 \(int\)"),
        (dict(label_key=0, mask_key="mask"), TypeError, r"label_key must be a str, got 0 \(int\)"),
    ],
)
def test_bad_mask_arguments(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        CutMixCollator(**kw)


# ============================================================================ DataLoader


@pytest.mark.parametrize("mode", MODES)
def test_masks_in_fork_workers(mode):
    torch.manual_seed(15)
    ds = SegDicts(12, (3, 8, 8), (8, 8), "enc_i64")
    collate = CutMixCollator(mask_key="mask", mode=mode, return_boxes=True)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=SharedProbe(collate),
                        multiprocessing_context="fork", persistent_workers=True)
    mixed = 0
    for _ in range(2):
        for out, flags in loader:
            # built in shared memory inside the worker, mask included
            assert flags["in_worker"] and flags["images"] and flags["mask"] and flags["y_b"]
            mixed += _check_batch(out, ds, mode, with_label=True, with_boxes=True)
    collate.enabled = False
    for out, _ in loader:
        ids = out["idx"].tolist()
        assert torch.equal(out["mask"], _mask_originals(ds, ids))
        assert torch.equal(out["image"], torch.stack([ds[k]["image"] for k in ids]))
    assert mixed >= 4


def test_mask_key_needs_dict_samples():
    with pytest.raises(TypeError, match=r"mask_key='mask' needs dict samples, got a tuple at sample 0"):
        CutMixCollator(mask_key="mask")([(torch.zeros(3, 4, 4), 0), (torch.zeros(3, 4, 4), 1)])
