"""Tests for the shared on/off switch (``enabled``, ``prob``, ``set_epoch``) and for
``CutMixOrMixUpCollator`` (issue 8).

The switch must reach DataLoader workers, persistent ones included, under fork and spawn: the
loader tests change it in the main process between epochs and check every batch the workers
send. A batch is "off" when it is exactly ``default_collate``'s with ``y_b == y_a`` and
``lam == 1``; a mixed batch is checked pixel by pixel against the formulas written out in
``_mix_datasets`` (CutMix: exact copies inside the reported box from the partner named by
``y_b``; MixUp: ``lam * x[i] + (1 - lam) * x[j]``).
"""

from __future__ import annotations

import copy
import gc
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.stats as stats
import torch
from torch.utils.data import DataLoader, TensorDataset, default_collate

from _mix_datasets import (
    ConstDicts,
    ConstPairs,
    SharedProbe,
    Dispatch,
    alternate_schedule,
    bad_schedule,
    check_cutmix,
    check_mask_follows_image,
    check_mixup,
    cutmix_expected,
    encoded,
    lams_of,
    partners_from_labels,
)
from cutmix_collate import CutMixCollator, CutMixOrMixUpCollator, MixUpCollator

MODES = ["batch", "elem"]
KINDS = ["cutmix", "mixup", "switch"]


def _make(kind: str, **kw):
    if kind == "cutmix":
        return CutMixCollator(**kw)
    if kind == "cutmix_mask":
        return CutMixCollator(mask_key="mask", **kw)
    if kind == "mixup":
        kw.pop("return_boxes", None)
        return MixUpCollator(**kw)
    return CutMixOrMixUpCollator(**kw)


def _pairs(n=4, shape=(2, 6, 6), dtype=torch.float64):
    return [(encoded(k, shape, torch.float64).to(dtype), k) for k in range(n)]


def _is_off(out, target, originals, mode, boxes=None) -> bool:
    """Whether a batch is exactly the unmixed one (asserting nothing)."""
    y_a, y_b, lam = target
    lams = lams_of(lam, out.shape[0], mode)
    ok = torch.equal(y_b, y_a) and lams == [1.0] * out.shape[0] and torch.equal(out, originals)
    if boxes is not None:
        ok = ok and not bool(boxes.boxes.any()) and boxes.index.tolist() == list(range(out.shape[0]))
    return ok


def _classify(out, target, originals, mode, boxes=None, allowed=("cutmix", "mixup"), tol=1e-12) -> str:
    """Which formula the batch satisfies: 'cutmix', 'mixup', or 'either' (degenerate draws,
    e.g. the identity permutation without boxes); fails when it satisfies none of ``allowed``."""
    partners = partners_from_labels(target.y_a, target.y_b)

    def cutmix():
        check_cutmix(out, originals, partners, target.lam, mode, boxes=boxes)

    def mixup():
        check_mixup(out, originals, target, mode, rtol=tol, atol=tol)
        if boxes is not None:
            assert not bool(boxes.boxes.any()), "a MixUp batch must report empty boxes"
            assert boxes.index.tolist() == partners

    passed, errors = [], {}
    for name, check in (("cutmix", cutmix), ("mixup", mixup)):
        if name in allowed:
            try:
                check()
                passed.append(name)
            except AssertionError as error:
                errors[name] = str(error)  # not the exception: its traceback would keep frames alive
    assert passed, f"the batch is not a valid {' or '.join(allowed)} batch: {errors}"
    return passed[0] if len(passed) == 1 else "either"


# ============================================================================ the switch, in process


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_disabled_batches_are_default_collate_and_reenabling_mixes(kind, mode):
    torch.manual_seed(0)
    collate = _make(kind, mode=mode)
    batch = _pairs(6)
    ref_images, ref_labels = default_collate(batch)
    assert collate.enabled is True
    collate.enabled = False
    assert collate.enabled is False
    for _ in range(5):
        out, target = collate(batch)
        assert _is_off(out, target, ref_images, mode)
        assert torch.equal(target.y_a, ref_labels)
    collate.enabled = True
    mixed = 0
    for _ in range(5):
        out, target = collate(batch)
        _classify(out, target, ref_images, mode)
        mixed += not _is_off(out, target, ref_images, mode)
    assert mixed >= 4


def test_enabled_accepts_numpy_bool():
    collate = CutMixCollator()
    collate.enabled = np.bool_(False)
    assert collate.enabled is False
    collate.enabled = np.bool_(True)
    assert collate.enabled is True


@pytest.mark.parametrize(
    "value,msg",
    [
        (0, r"enabled must be a bool, got 0 \(int\)"),
        (1, r"enabled must be a bool, got 1 \(int\)"),
        (1.0, r"enabled must be a bool, got 1\.0 \(float\)"),
        ("False", r"enabled must be a bool, got 'False' \(str\)"),
        (None, r"enabled must be a bool, got None \(NoneType\)"),
        (torch.tensor(True), r"enabled must be a bool, got a tensor of shape \(\) and dtype torch\.bool"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_enabled_rejects_non_bools_and_keeps_its_value(kind, value, msg):
    collate = _make(kind)
    collate.enabled = False
    with pytest.raises(TypeError, match=msg):
        collate.enabled = value
    assert collate.enabled is False


@pytest.mark.parametrize("kind", KINDS)
def test_prob_setter_validates_and_drives_the_draw(kind):
    collate = _make(kind, prob=0.5)
    assert collate.prob == 0.5
    for bad, exc, msg in [
        (1.5, ValueError, r"prob must be a number in \[0, 1\], got 1\.5"),
        (-0.5, ValueError, r"prob must be a number in \[0, 1\], got -0\.5"),
        (float("nan"), ValueError, r"prob must be a number in \[0, 1\], got nan"),
        (True, TypeError, r"prob must be a number in \[0, 1\], got True \(bool\)"),
        ("0.5", TypeError, r"prob must be a number in \[0, 1\], got '0\.5' \(str\)"),
    ]:
        with pytest.raises(exc, match=msg):
            collate.prob = bad
        assert collate.prob == 0.5
    batch = _pairs(4)
    ref, _ = default_collate(batch)
    collate.prob = 0
    assert collate.prob == 0.0 and type(collate.prob) is float
    torch.manual_seed(1)
    assert all(_is_off(*collate(batch), ref, "batch") for _ in range(10))
    collate.prob = 1
    assert sum(_is_off(*collate(batch), ref, "batch") for _ in range(10)) <= 1
    collate.prob = 0.3
    assert collate.prob == 0.3
    torch.manual_seed(2)
    mixed = sum(not _is_off(*collate(batch), ref, "batch") for _ in range(300))
    # "not off" misses the rare mixed batch with the identity permutation and an empty box
    assert stats.binomtest(mixed, 300, 0.3 * (1 - 1 / 24)).pvalue > 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_set_epoch_off_epoch_and_prob_schedule(kind):
    collate = _make(kind, off_epoch=3, prob_schedule=alternate_schedule)
    assert collate.epoch == 0
    expected = {0: (True, 1.0), 1: (True, 0.0), 2: (True, 1.0), 3: (False, 0.0), 4: (False, 1.0),
                10: (False, 1.0), 2**40: (False, 1.0)}
    for epoch in [0, 1, 2, 3, 4, 2, 10, 1, 2**40, 0]:
        collate.set_epoch(epoch)
        assert collate.epoch == epoch and type(collate.epoch) is int
        assert (collate.enabled, collate.prob) == expected[epoch], epoch
    collate.set_epoch(np.int64(5))
    assert collate.epoch == 5 and collate.enabled is False


def test_set_epoch_without_options_only_stores_the_epoch():
    collate = CutMixCollator(prob=0.7)
    collate.enabled = False
    collate.set_epoch(4)
    assert (collate.epoch, collate.enabled, collate.prob) == (4, False, 0.7)
    collate.enabled = True
    collate.set_epoch(5)
    assert (collate.epoch, collate.enabled, collate.prob) == (5, True, 0.7)


def test_off_epoch_zero_turns_mixing_off_at_the_first_set_epoch():
    collate = CutMixCollator(off_epoch=0)
    collate.set_epoch(0)
    assert collate.enabled is False
    out, target = collate(_pairs(4))
    assert _is_off(out, target, default_collate(_pairs(4))[0], "batch")


def test_off_epoch_then_manual_override():
    collate = MixUpCollator(off_epoch=2)
    collate.set_epoch(2)
    assert collate.enabled is False
    collate.enabled = True  # the user may still turn it on by hand
    assert collate.enabled is True
    collate.set_epoch(3)  # ... until the next set_epoch applies off_epoch again
    assert collate.enabled is False


@pytest.mark.parametrize(
    "epoch,exc,msg",
    [
        (-1, ValueError, r"epoch must be an int >= 0, got -1"),
        (1.0, TypeError, r"epoch must be an int >= 0, got 1\.0 \(float\)"),
        (True, TypeError, r"epoch must be an int >= 0, got True \(bool\)"),
        ("1", TypeError, r"epoch must be an int >= 0, got '1' \(str\)"),
    ],
)
def test_set_epoch_bad_epoch_changes_nothing(epoch, exc, msg):
    collate = CutMixCollator(off_epoch=1, prob_schedule=alternate_schedule)
    collate.set_epoch(1)
    with pytest.raises(exc, match=msg):
        collate.set_epoch(epoch)
    assert (collate.epoch, collate.enabled, collate.prob) == (1, False, 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_prob_schedule_out_of_range_is_an_error(kind):
    # The state starts as set_epoch(0) would leave it, so a bad schedule fails at construction.
    with pytest.raises(ValueError, match=r"prob_schedule\(epoch\) must be a number in \[0, 1\], got 2\.0"):
        _make(kind, prob=0.4, prob_schedule=bad_schedule)
    with pytest.raises(TypeError, match=r"prob_schedule\(epoch\) must be a number in \[0, 1\], got 'high' \(str\)"):
        _make(kind, prob_schedule=lambda epoch: "high")


@pytest.mark.parametrize("kind", KINDS)
def test_schedule_and_off_epoch_apply_from_construction(kind):
    collate = _make(kind, prob=0.4, prob_schedule=lambda epoch: 0.25 + 0.5 * epoch)
    assert collate.prob == 0.25  # prob_schedule(0), before any set_epoch
    assert _make(kind, off_epoch=0).enabled is False
    assert _make(kind, off_epoch=1).enabled is True


def test_failed_set_epoch_leaves_the_state_unchanged():
    collate = CutMixCollator(off_epoch=3, prob_schedule=lambda e: 0.5 if e < 5 else 2.0)
    collate.set_epoch(1)
    with pytest.raises(ValueError, match=r"prob_schedule\(epoch\) must be a number in \[0, 1\], got 2\.0"):
        collate.set_epoch(7)
    # epoch 7 was not applied: prob and enabled are epoch 1's, and so must epoch be
    assert (collate.epoch, collate.prob, collate.enabled) == (1, 0.5, True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "kw,exc,msg",
    [
        (dict(off_epoch=-1), ValueError, r"off_epoch must be an int >= 0, got -1"),
        (dict(off_epoch=2.5), TypeError, r"off_epoch must be an int >= 0, got 2\.5 \(float\)"),
        (dict(off_epoch=True), TypeError, r"off_epoch must be an int >= 0, got True \(bool\)"),
        (dict(prob_schedule=0.5), TypeError, r"prob_schedule must be a callable epoch -> prob, got 0\.5 \(float\)"),
        (dict(prob=2.0), ValueError, r"prob must be a number in \[0, 1\], got 2\.0"),
    ],
)
def test_switch_constructor_errors(kind, kw, exc, msg):
    with pytest.raises(exc, match=msg):
        _make(kind, **kw)


def test_state_is_per_collator():
    a, b = CutMixCollator(), CutMixCollator()
    a.enabled = False
    a.prob = 0.2
    a.set_epoch(3)
    assert (b.enabled, b.prob, b.epoch) == (True, 1.0, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_state_survives_pickle_and_deepcopy(kind):
    collate = _make(kind, prob=0.6, off_epoch=2)
    collate.set_epoch(2)
    for clone in (pickle.loads(pickle.dumps(collate)), copy.deepcopy(collate)):
        assert (clone.enabled, clone.prob, clone.epoch) == (False, 0.6, 2)
        assert repr(clone) == repr(collate)
        assert "enabled=False" in repr(clone)


# ============================================================================ CutMixOrMixUpCollator


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("switch_prob,expected", [(1.0, {"cutmix"}), (0.0, {"mixup"})])
def test_switch_prob_extremes_pick_one_kind(mode, switch_prob, expected):
    torch.manual_seed(3)
    collate = CutMixOrMixUpCollator(cutmix_alpha=1.0, mixup_alpha=1.0, switch_prob=switch_prob,
                                    mode=mode, return_boxes=True)
    batch = _pairs(5, (3, 7, 6))
    originals = default_collate(batch)[0]
    kinds = set()
    for _ in range(25):
        out, target, boxes = collate(batch)
        assert out.dtype == torch.float64
        kinds.add(_classify(out, target, originals, mode, boxes=boxes))
    assert kinds - {"either"} == expected


def test_switch_prob_half_gives_both_in_the_right_proportion_and_is_seeded():
    batch = _pairs(4, (1, 5, 5))
    originals = default_collate(batch)[0]
    collate = CutMixOrMixUpCollator(switch_prob=0.3, return_boxes=True)
    torch.manual_seed(4)
    kinds = []
    for _ in range(300):
        out, target, boxes = collate(batch)
        kinds.append(_classify(out, target, originals, "batch", boxes=boxes))
    n_cut, n_mix = kinds.count("cutmix"), kinds.count("mixup")
    assert n_cut > 0 and n_mix > 0 and n_cut + n_mix >= 290
    assert stats.binomtest(n_cut, n_cut + n_mix, 0.3).pvalue > 1e-4
    torch.manual_seed(4)
    again = []
    for _ in range(300):
        out, target, boxes = collate(batch)
        again.append(_classify(out, target, originals, "batch", boxes=boxes))
    assert again == kinds, "the switch is not reproducible from torch.manual_seed"


def test_switch_uses_each_kinds_alpha():
    """MixUp batches draw lam from Beta(mixup_alpha); CutMix batches from Beta(cutmix_alpha)."""
    torch.manual_seed(5)
    batch = _pairs(2, (1, 16, 16))
    originals = default_collate(batch)[0]
    collate = CutMixOrMixUpCollator(cutmix_alpha=200.0, mixup_alpha=0.1, switch_prob=0.5, return_boxes=True)
    lams = {"cutmix": [], "mixup": []}
    for _ in range(600):
        out, target, boxes = collate(batch)
        # a 16x16 CutMix box of about half the image is never empty: empty boxes mean MixUp
        kind = "cutmix" if bool(boxes.boxes.any()) else "mixup"
        _classify(out, target, originals, "batch", boxes=boxes, allowed=(kind,))
        lams[kind].append(target.lam)
    mix = np.array(lams["mixup"])
    assert len(mix) > 200 and stats.kstest(mix, stats.beta(0.1, 0.1).cdf).pvalue > 1e-3
    # Beta(200, 200) is about 0.5 +- 0.025, so the box covers ~half the image (rounding and
    # clipping only shrink it): lam in [0.4, 1]. With alpha 0.1 most lam would be near 0 or 1.
    cut = np.array(lams["cutmix"])
    assert len(cut) > 200 and cut.min() >= 0.4 and np.median(cut) < 0.8


@pytest.mark.parametrize("mode", MODES)
def test_switch_uint8_needs_out_dtype(mode):
    batch = [(torch.full((2, 4, 4), 30 * k + 7, dtype=torch.uint8)
              + torch.arange(32, dtype=torch.uint8).reshape(2, 4, 4), k) for k in range(4)]
    with pytest.raises(TypeError, match=r"MixUp blends pixel values, so images must be floating point, "
                                         r"got torch\.uint8; pass out_dtype=torch\.float32"):
        CutMixOrMixUpCollator(switch_prob=1.0, mode=mode)(batch)  # checked every batch
    torch.manual_seed(6)
    collate = CutMixOrMixUpCollator(switch_prob=0.5, mode=mode, out_dtype=torch.float32, return_boxes=True)
    originals = default_collate(batch)[0].to(torch.float64)
    kinds = set()
    for _ in range(20):
        out, target, boxes = collate(batch)
        assert out.dtype == torch.float32, "every batch must have the one out_dtype"
        kinds.add(_classify(out.double(), target, originals, mode, boxes=boxes, tol=1e-5))
    assert kinds - {"either"} == {"cutmix", "mixup"}
    collate.enabled = False
    out, target, boxes = collate(batch)
    assert out.dtype == torch.float32 and _is_off(out.double(), target, originals, mode, boxes)


def test_switch_dict_samples_with_boxes():
    torch.manual_seed(7)
    batch = [{"image": encoded(k, (1, 6, 6), torch.float64), "label": k, "id": f"x{k}"} for k in range(5)]
    collate = CutMixOrMixUpCollator(switch_prob=0.5, return_boxes=True, mode="elem")
    originals = torch.stack([s["image"] for s in batch])
    kinds = set()
    for _ in range(12):
        out = collate(batch)
        assert list(out) == ["image", "label", "id", "mix_boxes"]
        assert out["id"] == [f"x{k}" for k in range(5)]
        kinds.add(_classify(out["image"], out["label"], originals, "elem", boxes=out["mix_boxes"]))
    assert kinds - {"either"} == {"cutmix", "mixup"}


def _worker_flags(collate, dtype):
    loader = DataLoader(ConstPairs(8, (3, 4, 4), dtype), batch_size=4, num_workers=1,
                        collate_fn=SharedProbe(collate), multiprocessing_context="fork")
    return [flags for _, flags in loader]


@pytest.mark.parametrize("switch_prob", [0.0, 1.0])
def test_switch_in_a_worker_builds_the_batch_in_shared_memory(switch_prob):
    torch.manual_seed(10)
    flags = _worker_flags(CutMixOrMixUpCollator(switch_prob=switch_prob, mode="elem"), torch.float32)
    assert flags == [{"in_worker": True, "images": True, "y_a": True, "y_b": True, "lam": True}] * 2


def test_switch_with_out_dtype_builds_cutmix_batches_in_shared_memory():
    torch.manual_seed(10)
    flags = _worker_flags(CutMixOrMixUpCollator(switch_prob=1.0, out_dtype=torch.float32), torch.uint8)
    assert all(f["images"] for f in flags), flags


@pytest.mark.parametrize(
    "kw,exc,msg",
    [
        (dict(switch_prob=1.5), ValueError, r"switch_prob must be a number in \[0, 1\], got 1\.5"),
        (dict(switch_prob=-0.1), ValueError, r"switch_prob must be a number in \[0, 1\], got -0\.1"),
        (dict(switch_prob=None), TypeError, r"switch_prob must be a number in \[0, 1\], got None \(NoneType\)"),
        (dict(cutmix_alpha=0), ValueError, r"cutmix_alpha must be a finite number > 0, got 0\.0"),
        (dict(mixup_alpha=-2.0), ValueError, r"mixup_alpha must be a finite number > 0, got -2\.0"),
        (dict(mixup_alpha=float("nan")), ValueError, r"mixup_alpha must be a finite number > 0, got nan"),
        (dict(out_dtype=torch.int64), TypeError, r"out_dtype must be a floating torch\.dtype, got torch\.int64"),
        (dict(out_dtype=torch.complex64), TypeError, r"out_dtype must be a floating torch\.dtype, got torch\.complex64"),
        (dict(mode="sample"), ValueError, r"mode must be one of 'batch', 'elem', got 'sample'"),
        (dict(mask_key="mask"), TypeError, r"unexpected keyword argument 'mask_key'"),
        (dict(label_key=None), ValueError, r"label_key may be None only for segmentation samples \(give mask_key\)"),
    ],
)
def test_switch_collator_bad_arguments(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        CutMixOrMixUpCollator(**kw)


def test_switch_collator_repr():
    collate = CutMixOrMixUpCollator(cutmix_alpha=0.5, mixup_alpha=0.3, switch_prob=0.25, prob=0.9)
    assert repr(collate) == ("CutMixOrMixUpCollator(cutmix_alpha=0.5, mixup_alpha=0.3, switch_prob=0.25, "
                             "prob=0.9, mode='batch', dims=2, enabled=True)")


# ============================================================================ persistent workers

# (action, value, (enabled, prob) afterwards, expect mixed batches). The collator has
# off_epoch=6 and alternate_schedule (prob 1 on even epochs, 0 on odd ones).
STEPS = [
    ("set_epoch", 0, (True, 1.0), True),
    ("set_epoch", 1, (True, 0.0), False),  # prob_schedule -> 0
    ("set_epoch", 2, (True, 1.0), True),
    ("enabled", False, (False, 1.0), False),
    ("enabled", True, (True, 1.0), True),
    ("prob", 0.0, (True, 0.0), False),
    ("prob", 1.0, (True, 1.0), True),
    ("set_epoch", 6, (False, 1.0), False),  # off_epoch
    ("set_epoch", 4, (True, 1.0), True),  # before off_epoch again
]

WORKERS = 2
KIND_MODES = [("cutmix", "batch"), ("mixup", "elem"), ("switch", "batch"), ("cutmix_mask", "elem")]


def _loader_collator(kind, mode):
    return _make(kind, mode=mode, return_boxes=kind != "mixup", off_epoch=6, prob_schedule=alternate_schedule)


def _check_mask(out, dataset, kind, mode):
    """The "mask" key: mixed with the image's boxes by the mask collator, plainly collated by the others."""
    ids = out["label"].y_a.tolist()
    originals = torch.stack([dataset.mask(k) for k in ids])
    if kind != "cutmix_mask":
        assert torch.equal(out["mask"], originals)
        return
    boxes = out["mix_boxes"]
    rects = [tuple(box) if box[0] < box[1] and box[2] < box[3] and j != i else None
             for i, (j, box) in enumerate(zip(boxes.index.tolist(), boxes.boxes.tolist()))]
    assert out["mask"].dtype == torch.int64
    assert torch.equal(out["mask"], cutmix_expected(originals, boxes.index.tolist(), rects)), (
        "the mask did not get the image's box from the image's partner")
    check_mask_follows_image(out["image"], out["mask"], ids, "encoded")


def _check_loader(loader, dataset, collators, kind_modes, n_batches):
    """Run STEPS on ``collators`` (all of them, at once) and check every batch of ``loader``.

    Each batch says which collator made it (key "collator", 0 when absent)."""

    def epoch_batches():
        results = []
        for out in loader:
            which = int(out.get("collator", 0))
            target = out["label"]
            originals = torch.stack([dataset.image(int(k)) for k in target.y_a])
            results.append((which, out, target, originals))
        assert len(results) == n_batches
        return results

    pids = set()
    kinds = [set() for _ in collators]
    visibly_mixed = [0] * len(collators)
    lams = []
    for action, value, state, expect_mixed in STEPS:
        for collate in collators:
            if action == "set_epoch":
                collate.set_epoch(value)
            else:
                setattr(collate, action, value)
            assert (collate.enabled, collate.prob) == state
        for which, out, target, originals in epoch_batches():
            kind, mode = kind_modes[which]
            boxes = out.get("mix_boxes")
            batch_pids = set(out["pid"].tolist())
            assert len(batch_pids) == 1 and os.getpid() not in batch_pids, batch_pids
            pids |= batch_pids
            _check_mask(out, dataset, kind, mode)
            if expect_mixed:
                allowed = {"switch": ("cutmix", "mixup"), "mixup": ("mixup",)}.get(kind, ("cutmix",))
                kinds[which].add(_classify(out["image"], target, originals, mode, boxes=boxes, allowed=allowed))
                visibly_mixed[which] += not _is_off(out["image"], target, originals, mode, boxes)
                if kind == "mixup":  # continuous lam: equal draws would mean equal worker seeds
                    lams.append(tuple(target.lam.tolist()))
            else:
                assert _is_off(out["image"], target, originals, mode, boxes), (
                    f"{kind}, after {action}={value}: a worker still mixed the batch")
                ref = default_collate([dataset[int(k)] for k in target.y_a])
                assert torch.equal(out["image"], ref["image"]) and torch.equal(target.y_a, ref["label"])
    assert len(pids) == WORKERS, f"workers were not persistent: pids {pids}"
    for which, (kind, _) in enumerate(kind_modes):
        assert visibly_mixed[which] >= 3, f"{kind}: too few mixed batches"
        assert kinds[which] - {"either"} == {"switch": {"cutmix", "mixup"}, "mixup": {"mixup"}}.get(kind, {"cutmix"})
    assert len(set(lams)) == len(lams), "two MixUp batches drew the same lams: workers share a seed"

    # A change in the middle of an epoch: batches collated before it (at most
    # prefetch_factor * num_workers = 2 beyond the one received) may keep the old state;
    # every later one must follow it.
    for collate in collators:
        collate.set_epoch(4)
    it = iter(loader)
    next(it)
    for collate in collators:
        collate.enabled = False
    rest = list(it)
    assert len(rest) == n_batches - 1 >= 3
    for out in rest[2:]:
        kind, mode = kind_modes[int(out.get("collator", 0))]
        originals = torch.stack([dataset.image(int(k)) for k in out["label"].y_a])
        assert _is_off(out["image"], out["label"], originals, mode, out.get("mix_boxes")), (
            f"{kind}: a batch requested after enabled = False was mixed")
    for collate in collators:
        collate.enabled = True

    # The workers hold their own copies of the collators, so settings other than the switch
    # are read-only: a plain attribute set could not reach them.
    for collate, (_, mode) in zip(collators, kind_modes):
        with pytest.raises(AttributeError, match="mode of .* is read-only after construction"):
            collate.mode = "elem" if mode == "batch" else "batch"
        assert collate.mode == mode


@pytest.mark.parametrize("kind,mode", KIND_MODES)
def test_switch_reaches_persistent_fork_workers(kind, mode):
    torch.manual_seed(8)
    dataset = ConstDicts(16, (2, 8, 8), fill="encoded", mask_shape=(8, 8))
    collate = _loader_collator(kind, mode)
    loader = DataLoader(dataset, batch_size=4, num_workers=WORKERS, collate_fn=collate,
                        persistent_workers=True, prefetch_factor=1, multiprocessing_context="fork")
    try:
        _check_loader(loader, dataset, [collate], [(kind, mode)], n_batches=4)
    finally:
        del loader
        gc.collect()


@pytest.mark.slow  # spawn-started workers
def test_switch_reaches_persistent_spawn_workers():
    """All collators (CutMix, MixUp, the switching one, CutMix with masks) in one spawn
    DataLoader, as a worker start costs seconds: its collate_fn hands batch b to collator b % 4,
    so every worker runs every collator. The collators travel to the workers inside the
    wrapper, pickled as when passed directly."""
    torch.manual_seed(8)
    dataset = ConstDicts(32, (2, 8, 8), fill="encoded", mask_shape=(8, 8))
    collators = [_loader_collator(kind, mode) for kind, mode in KIND_MODES]
    loader = DataLoader(dataset, batch_size=4, num_workers=WORKERS, collate_fn=Dispatch(collators, 4),
                        persistent_workers=True, prefetch_factor=1, multiprocessing_context="spawn")
    try:
        _check_loader(loader, dataset, collators, KIND_MODES, n_batches=8)
    finally:
        del loader
        gc.collect()


@pytest.mark.slow  # spawn-started workers
def test_switch_reaches_persistent_spawn_workers_when_passed_directly():
    """The usual form, ``collate_fn=collator``: CutMixCollator (with a mask) under spawn."""
    torch.manual_seed(18)
    dataset = ConstDicts(16, (2, 8, 8), fill="encoded", mask_shape=(8, 8))
    collate = _loader_collator("cutmix_mask", "batch")
    loader = DataLoader(dataset, batch_size=4, num_workers=WORKERS, collate_fn=collate,
                        persistent_workers=True, prefetch_factor=1, multiprocessing_context="spawn")
    try:
        _check_loader(loader, dataset, [collate], [("cutmix_mask", "batch")], n_batches=4)
    finally:
        del loader
        gc.collect()


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_switch_of_a_copied_collator_reaches_fork_workers(how):
    torch.manual_seed(19)
    original = CutMixCollator()
    collate = copy.deepcopy(original) if how == "deepcopy" else pickle.loads(pickle.dumps(original))
    dataset = ConstDicts(16, (2, 8, 8), fill="encoded")
    loader = DataLoader(dataset, batch_size=4, num_workers=WORKERS, collate_fn=collate,
                        persistent_workers=True, multiprocessing_context="fork")
    try:
        assert any(out["label"].lam < 1.0 for out in loader)  # workers started, mixing
        collate.enabled = False
        for out in loader:
            originals = torch.stack([dataset.image(int(k)) for k in out["label"].y_a])
            assert _is_off(out["image"], out["label"], originals, "batch"), "still mixed after enabled = False"
    finally:
        del loader
        gc.collect()


def test_fork_runs_are_reproducible():
    def run():
        torch.manual_seed(9)
        loader = DataLoader(ConstDicts(16, (1, 2, 2)), batch_size=4, num_workers=2,
                            collate_fn=CutMixOrMixUpCollator(mode="elem"), multiprocessing_context="fork")
        return [(out["image"], tuple(out["label"].lam.tolist()), tuple(out["label"].y_b.tolist()))
                for out in loader]

    first, second = run(), run()
    assert [a[1:] for a in first] == [b[1:] for b in second]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second))


def test_unpicklable_schedule_is_reported_not_dropped_and_deepcopy_keeps_it():
    # Workers receive a pickled collator but never call the schedule: a lambda must not break
    # them, a copy that lost it says so at set_epoch, and a deep copy keeps the schedule itself.
    import copy
    import pickle

    schedule = lambda epoch: 0.5  # noqa: E731 - the point of the test
    collate = CutMixCollator(prob_schedule=schedule)
    restored = pickle.loads(pickle.dumps(collate))
    assert restored.prob == 0.5 and restored._state.is_shared()
    with pytest.raises(ValueError, match="prob_schedule was lost when this collator was pickled"):
        restored.set_epoch(1)
    assert copy.deepcopy(collate).prob_schedule is schedule
    module_level = pickle.loads(pickle.dumps(CutMixCollator(prob_schedule=alternate_schedule)))
    assert module_level.prob_schedule is alternate_schedule

# --------------------------------------------------------------------------- contracts: read-only switching settings, copies, schedules and checkpoints (from test_contracts.py)


def test_switching_collator_settings_are_read_only():
    collate = CutMixOrMixUpCollator(switch_prob=0.3, mixup_alpha=0.4)
    for name in ("switch_prob", "mixup_alpha", "cutmix_alpha"):
        with pytest.raises(AttributeError):
            setattr(collate, name, 0.9)
    assert (collate.switch_prob, collate.mixup_alpha, collate.cutmix_alpha) == (0.3, 0.4, 1.0)


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_copies_get_their_own_switch(how):
    train = CutMixCollator(prob=0.5)
    other = {"copy": copy.copy, "deepcopy": copy.deepcopy, "pickle": lambda c: pickle.loads(pickle.dumps(c))}[how](train)
    other.enabled = False
    other.prob = 0.1
    other.set_epoch(4)
    assert (train.enabled, train.prob, train.epoch) == (True, 0.5, 0)
    assert (other.enabled, other.prob, other.epoch) == (False, 0.1, 4)
    assert other._state.is_shared()


def _half(epoch):
    return 0.5 if epoch else 1.0


def test_schedule_survives_torch_save_and_state_dict_loads_with_weights_only(tmp_path):
    collate = CutMixCollator(prob_schedule=_half, off_epoch=5)
    collate.set_epoch(2)
    torch.save(collate, tmp_path / "collator.pt")
    restored = torch.load(tmp_path / "collator.pt", weights_only=False)
    restored.set_epoch(0)
    assert restored.prob == 1.0 and collate.prob == 0.5
    torch.save(collate.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state == {"enabled": True, "prob": 0.5, "epoch": 2}
    fresh = CutMixCollator(prob_schedule=_half, off_epoch=5)
    fresh.load_state_dict(state)
    assert (fresh.enabled, fresh.prob, fresh.epoch) == (True, 0.5, 2)
    with pytest.raises(ValueError, match="state_dict must be a dict with the keys 'enabled', 'prob' and 'epoch'"):
        fresh.load_state_dict({"prob": 0.5})
    with pytest.raises(ValueError, match=r"state_dict\['prob'\] must be a number in \[0, 1\], got 2.0"):
        fresh.load_state_dict({"enabled": True, "prob": 2.0, "epoch": 0})


@pytest.mark.slow  # a spawn-started worker
def test_notebook_schedule_never_reaches_spawn_workers():
    # A function defined in a notebook pickles by reference to a module the workers cannot import.
    module = types.ModuleType("notebook_cell_module")
    sys.modules[module.__name__] = module

    def schedule(epoch):
        return 0.0

    schedule.__module__, schedule.__qualname__ = module.__name__, "schedule"
    module.schedule = schedule
    try:
        collate = CutMixCollator(prob_schedule=schedule)
        dataset = TensorDataset(torch.rand(8, 1, 4, 4), torch.arange(8))
        loader = DataLoader(dataset, batch_size=4, num_workers=1, collate_fn=collate,
                            multiprocessing_context="spawn")
        collate.set_epoch(1)
        batches = list(loader)
        assert len(batches) == 2
        for (images, target), (plain, labels) in zip(batches, DataLoader(dataset, batch_size=4)):
            assert torch.equal(images, plain) and torch.equal(target.y_b, labels)  # prob 0 reached them
    finally:
        del sys.modules[module.__name__]
