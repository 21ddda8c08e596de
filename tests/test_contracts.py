"""Contracts of the core that users hit: ranks, gradients, read-only settings, copies, schedules,
checkpoints, sample kinds and parameter checks (issue 11).

References: plain PyTorch indexing (boxes pasted by hand from the reported boxes), autograd on
that hand-built batch, ``default_collate``, ``torch.load(weights_only=True)``, scipy's Beta.
"""

from __future__ import annotations

import copy
import pickle
import sys
import types
from collections import UserDict
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, TensorDataset, default_collate

from cutmix_collate import (
    CutMixCollator,
    CutMixOrMixUpCollator,
    MixParams,
    MixUpCollator,
    cutmix_batch,
    draw_params,
    mixup_batch,
    sample_lambda,
)

MODES = ["batch", "elem"]


def _pasted_by_hand(x, boxes):
    ref = x.clone()
    for i, ((y0, y1, x0, x1), j) in enumerate(zip(boxes.boxes.tolist(), boxes.index.tolist())):
        ref[i, ..., y0:y1, x0:x1] = x[j, ..., y0:y1, x0:x1]
    return ref


# --------------------------------------------------------------------------- ranks


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


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_batch_is_differentiable(mode):
    torch.manual_seed(3)
    x = torch.randn(6, 2, 9, 7, requires_grad=True)
    weight = torch.randn(6, 2, 9, 7)
    out, target, boxes = cutmix_batch(x, torch.arange(6), mode=mode, return_boxes=True)
    (out * weight).sum().backward()
    x_ref = x.detach().clone().requires_grad_(True)
    ref = _pasted_by_hand(x_ref, boxes)
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


# --------------------------------------------------------------------------- settings, copies


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


# --------------------------------------------------------------------------- samples


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
    assert torch.equal(out, _pasted_by_hand(torch.from_numpy(np.stack(arrays)), boxes))


def test_return_boxes_does_not_overwrite_a_sample_key():
    samples = [{"image": torch.rand(1, 4, 4), "label": i, "mix_boxes": 0} for i in range(2)]
    with pytest.raises(ValueError, match="return_boxes=True adds the key 'mix_boxes', but the samples already have one"):
        CutMixCollator(return_boxes=True)(samples)


# --------------------------------------------------------------------------- parameters


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
