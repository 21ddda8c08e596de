"""Inputs that deserve a clear answer (issue 19 point 4): a RANK that is not an integer,
big-endian arrays, (H, W, C) tensors, numpy bools in checkpoints, and what a live collator holds.

References: numpy's own byte-order conversion (``astype`` to the native order) and
``default_collate`` on the native arrays; the file descriptors the process has open
(``/proc/self/fd``).
"""

from __future__ import annotations

import gc
import os
import pickle
import re

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from cutmix_collate import CutMixCollator, CutMixOrMixUpCollator, MixUpCollator, cutmix_batch, mixup_batch

# --------------------------------------------------------------------------- RANK


@pytest.mark.parametrize("name, value", [("RANK", "abc"), ("RANK", "1.0"), ("RANK", "-1"), ("WORLD_SIZE", "two")])
def test_a_rank_that_is_not_an_integer_is_named_with_its_value(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    msg = rf"the environment variable {name} must be an integer >= 0 \(torchrun sets it\), got '{re.escape(value)}'"
    x, y = torch.rand(4, 1, 6, 6), torch.arange(4)
    for call in (lambda: cutmix_batch(x, y), lambda: mixup_batch(x, y),
                 lambda: CutMixCollator()([(x[i], i) for i in range(4)]), lambda: pickle.dumps(CutMixCollator())):
        with pytest.raises(ValueError, match=msg):
            call()


def test_rank_and_world_size_with_spaces_are_read(monkeypatch):
    monkeypatch.setenv("RANK", " 1 ")
    monkeypatch.setenv("WORLD_SIZE", "2\n")
    x, y = torch.rand(8, 1, 6, 6), torch.arange(8)
    torch.manual_seed(0)
    a = cutmix_batch(x, y, mode="elem", return_boxes=True)[2]
    monkeypatch.setenv("RANK", "0")
    torch.manual_seed(0)
    b = cutmix_batch(x, y, mode="elem", return_boxes=True)[2]
    assert not torch.equal(a.boxes, b.boxes) or not torch.equal(a.index, b.index)


# --------------------------------------------------------------------------- byte order


def _encoded(k, shape):
    return (np.arange(np.prod(shape)).reshape(shape) + 1000 * (k + 1)).astype(np.float32)


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">u2", ">i4", ">i8"])
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_big_endian_images_are_mixed_as_their_native_copies(dtype, mode):
    big = [_encoded(k, (2, 5, 6)).astype(dtype) for k in range(4)]
    native = [a.astype(a.dtype.newbyteorder("=")) for a in big]
    collate = CutMixCollator(mode=mode, return_boxes=True)
    torch.manual_seed(3)
    got = collate([(a, k) for k, a in enumerate(big)])
    torch.manual_seed(3)
    want = collate([(a, k) for k, a in enumerate(native)])
    assert got[0].dtype == want[0].dtype and torch.equal(got[0], want[0])
    assert torch.equal(got[2].boxes, want[2].boxes)
    unmixed = CutMixCollator(prob=0.0)([(a, k) for k, a in enumerate(big)])[0]
    assert torch.equal(unmixed, default_collate([torch.from_numpy(a) for a in native]))


def test_big_endian_pil_image_and_mask():
    Image = pytest.importorskip("PIL.Image")
    data = (np.arange(30, dtype=">u2").reshape(5, 6) * 997).astype(">u2")
    images = [Image.frombytes("I;16B", (6, 5), (data + k).astype(">u2").tobytes()) for k in range(3)]
    arrays = [np.asarray(im) for im in images]
    assert arrays[0].dtype == np.dtype(">u2")  # what PIL hands over
    batch = [{"image": im, "mask": a.astype(">i8"), "label": k} for k, (im, a) in enumerate(zip(images, arrays))]
    out = CutMixCollator(prob=0.0, mask_key="mask")(batch)
    expected = torch.stack([torch.from_numpy(a.astype("=u2"))[None] for a in arrays])
    assert out["image"].dtype == torch.uint16 and torch.equal(out["image"], expected)
    assert torch.equal(out["mask"], expected[:, 0].to(torch.int64))


@pytest.mark.parametrize("label", [lambda k: np.array([k, 1 - k, 0.5], dtype=">f4"),
                                   lambda k: np.array(k, dtype=">i8"), lambda k: np.array([k, 2], dtype=">i2")])
def test_big_endian_labels_are_collated_as_native(label):
    samples = [(torch.zeros(1, 4, 4), label(k)) for k in range(3)]
    got = CutMixCollator(prob=0.0)(samples)[1].y_a
    want = default_collate([torch.from_numpy(label(k).astype(label(k).dtype.newbyteorder("="))) for k in range(3)])
    assert got.dtype == want.dtype and torch.equal(got, want)


# --------------------------------------------------------------------------- (H, W, C) tensors


@pytest.mark.parametrize("collator", [CutMixCollator, MixUpCollator, CutMixOrMixUpCollator])
def test_a_channels_last_tensor_gets_the_numpy_check(collator):
    hwc = torch.from_numpy(np.zeros((32, 32, 3), dtype=np.float32))  # torch.from_numpy(np.asarray(pil))
    with pytest.raises(ValueError, match=r"image of sample 0 is a tensor of shape \(32, 32, 3\), which looks like "
                                         r"\(H, W, C\); .*\(t\.permute\(2, 0, 1\)\)"):
        collator()([(hwc, 0), (hwc.clone(), 1)])
    with pytest.raises(ValueError, match=r"image of sample 0 is a numpy array of shape \(32, 32, 3\)"):
        collator()([(hwc.numpy(), 0), (hwc.numpy(), 1)])
    chw = hwc.permute(2, 0, 1)  # the fix the message names
    assert collator()([(chw, 0), (chw.clone(), 1)])[0].shape == (2, 3, 32, 32)


def test_the_layout_check_is_for_2d_boxes_only():
    # (C, F, T) = (32, 32, 3) is a spectrogram with 3 frames for dims=1, not a picture.
    samples = [(torch.zeros(32, 32, 3), 0), (torch.ones(32, 32, 3), 1)]
    assert CutMixCollator(dims=1)(samples)[0].shape == (2, 32, 32, 3)


# --------------------------------------------------------------------------- checkpoints


def test_load_state_dict_accepts_what_the_setter_accepts():
    collate = CutMixCollator()
    collate.enabled = np.False_  # the setter takes numpy bools
    state = collate.state_dict()
    state["enabled"] = np.True_
    collate.load_state_dict(state)
    assert collate.enabled is True
    state["enabled"] = np.False_
    collate.load_state_dict(state)
    assert collate.enabled is False


@pytest.mark.parametrize("value, shown", [(np.float64(1.0), r"np\.float64\(1\.0\) \(numpy\.float64\)"),
                                          ("yes", r"'yes' \(str\)"), (1, r"1 \(int\)")])
def test_enabled_that_is_not_a_bool_is_named_with_its_type(value, shown):
    collate = CutMixCollator()
    with pytest.raises(TypeError, match=r"state_dict\['enabled'\] must be a bool, got " + shown + "$"):
        collate.load_state_dict({"enabled": value, "prob": 1.0, "epoch": 0})
    with pytest.raises(TypeError, match=r"enabled must be a bool, got " + shown + "$"):
        collate.enabled = value


# --------------------------------------------------------------------------- file descriptors


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_each_live_collator_holds_one_descriptor_as_documented():
    import cutmix_collate.collator as module

    assert "one open file\ndescriptor" in module.__doc__ and "ulimit -n" in module.__doc__
    gc.collect()
    before = _open_fds()
    collators = [CutMixCollator() for _ in range(20)]
    copies = [pickle.loads(pickle.dumps(c)) for c in collators[:5]]  # a copy has its own state
    during = _open_fds()
    del collators, copies
    gc.collect()
    after = _open_fds()
    if torch.multiprocessing.get_sharing_strategy() == "file_descriptor":
        assert during - before == 25, (before, during)
    assert after <= before + 1, (before, during, after)  # released with the collators
