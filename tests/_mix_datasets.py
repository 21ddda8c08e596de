"""Module-level datasets and callables for the MixUp / switch / mask tests.

They live in a module of their own so that DataLoader workers started with ``spawn`` can
import them (a test module's local classes cannot be unpickled there). Nothing here uses the
package under test.

Sample ``k`` is filled with a value that names it:

* ``const`` images: every element is ``k + 1`` (float64 by default), so a CutMix output
  element is exactly one of ``1 .. n`` and a MixUp output element is
  ``lam * (i + 1) + (1 - lam) * (j + 1)``.
* ``encoded`` tensors: element ``p`` (flat position) of sample ``k`` is ``(k + 1) * S + p``,
  ``S`` a power of two >= the number of elements, so an output element also tells where it
  was in its sample.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from _helpers import SharedProbe, scale_for  # noqa: F401 (re-exported: one definition, tests/_helpers.py)




def encoded(k: int, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    shape = tuple(shape)
    values = (k + 1) * scale_for(shape) + torch.arange(math.prod(shape), dtype=torch.int64)
    return values.reshape(shape).to(dtype)


def const(k: int, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    return torch.full(tuple(shape), k + 1, dtype=torch.int64).to(dtype)


def _worker_id() -> int:
    info = get_worker_info()
    return -1 if info is None else info.id


class ConstPairs(Dataset):
    """``n`` pairs ``(const image of k, k)``."""

    def __init__(self, n: int, shape: Sequence[int] = (2, 4, 4), dtype: torch.dtype = torch.float64):
        self.n, self.shape, self.dtype = n, tuple(shape), dtype

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> Any:
        return const(k, self.shape, self.dtype), k


class ConstDicts(Dataset):
    """``n`` dicts: image of k (``fill`` const or encoded), label k, and the loading process."""

    def __init__(self, n: int, shape: Sequence[int] = (2, 4, 4), dtype: torch.dtype = torch.float64,
                 fill: str = "const", mask_shape: Any = None):
        self.n, self.shape, self.dtype, self.fill = n, tuple(shape), dtype, fill
        self.mask_shape = None if mask_shape is None else tuple(mask_shape)

    def mask(self, k: int) -> torch.Tensor:
        return encoded(k, self.mask_shape, torch.int64)

    def __len__(self) -> int:
        return self.n

    def image(self, k: int) -> torch.Tensor:
        return (const if self.fill == "const" else encoded)(k, self.shape, self.dtype)

    def __getitem__(self, k: int) -> Any:
        return {
            "image": self.image(k),
            "label": k,
            "pid": os.getpid(),
            "worker": _worker_id(),
            **({} if self.mask_shape is None else {"mask": self.mask(k)}),
        }


class SegDicts(Dataset):
    """``n`` segmentation dicts: encoded float64 image, a mask naming its sample, label k.

    ``mask_kind``: ``"const_u8"`` ((H, W) or (C, H, W) uint8 filled with k + 1),
    ``"enc_i64"`` (encoded int64), ``"numpy"`` (encoded int64 numpy array), ``"pil"`` (single
    band ``L`` PIL image of uint8 k + 1).
    """

    def __init__(self, n: int, image_shape: Sequence[int], mask_shape: Sequence[int],
                 mask_kind: str = "enc_i64", with_label: bool = True):
        self.n = n
        self.image_shape, self.mask_shape = tuple(image_shape), tuple(mask_shape)
        self.mask_kind, self.with_label = mask_kind, with_label

    def __len__(self) -> int:
        return self.n

    def mask(self, k: int) -> Any:
        if self.mask_kind == "const_u8":
            return const(k, self.mask_shape, torch.uint8)
        if self.mask_kind == "enc_i64":
            return encoded(k, self.mask_shape, torch.int64)
        if self.mask_kind == "numpy":
            return encoded(k, self.mask_shape, torch.int64).numpy()
        if self.mask_kind == "pil":
            from PIL import Image

            return Image.fromarray(np.full(self.mask_shape, k + 1, dtype=np.uint8), mode="L")
        raise ValueError(self.mask_kind)

    def __getitem__(self, k: int) -> Any:
        sample = {"image": encoded(k, self.image_shape, torch.float64), "mask": self.mask(k), "idx": k}
        if self.with_label:
            sample["label"] = k
        return sample


def alternate_schedule(epoch: int) -> float:
    """prob 1 on even epochs, 0 on odd ones."""
    return 1.0 if epoch % 2 == 0 else 0.0


def bad_schedule(epoch: int) -> float:
    return 2.0


# --------------------------------------------------------------------------------- checks
#
# Reference formulas, written out here and not taken from the package:
#   MixUp:  out[i] = lam_i * x[i] + (1 - lam_i) * x[j]          (j = partner of i)
#   CutMix: out[i] = x[i] outside the box, x[j] inside it;  lam_i = 1 - box_area / (H * W)


def partners_from_labels(y_a: torch.Tensor, y_b: torch.Tensor) -> list:
    """Position of each image's partner, read from the labels (labels distinct per sample)."""
    assert y_a.shape == y_b.shape and y_a.dtype == y_b.dtype
    partners = []
    for i in range(y_a.shape[0]):
        matches = [k for k in range(y_a.shape[0]) if torch.equal(y_b[i], y_a[k])]
        assert len(matches) == 1, f"y_b[{i}] matches samples {matches}"
        partners.append(matches[0])
    assert sorted(partners) == list(range(y_a.shape[0])), f"partners are not a permutation: {partners}"
    return partners


def lams_of(lam: Any, batch: int, mode: str) -> list:
    if mode == "batch":
        assert type(lam) is float, f"batch-mode lam must be a Python float, got {type(lam)}"
        return [lam] * batch
    assert isinstance(lam, torch.Tensor) and lam.dtype == torch.float32 and tuple(lam.shape) == (batch,), lam
    return [float(v) for v in lam]


def check_mixup(out: torch.Tensor, originals: torch.Tensor, target: Any, mode: str,
                rtol: float = 1e-12, atol: float = 1e-9) -> tuple:
    """``out`` is the MixUp of ``originals`` (batch order) with the partners and lam of ``target``."""
    y_a, y_b, lam = target
    batch = out.shape[0]
    assert out.shape == originals.shape
    partners = partners_from_labels(y_a, y_b)
    lams = lams_of(lam, batch, mode)
    x = originals.to(torch.float64)
    for i, (j, lam_i) in enumerate(zip(partners, lams)):
        assert 0.0 <= lam_i <= 1.0
        expected = lam_i * x[i] + (1.0 - lam_i) * x[j]
        # (not torch.testing.assert_close: its failures build reference cycles that keep the
        # caller's frames, and so a persistent DataLoader, alive until the next gc)
        error = float((out[i].to(torch.float64) - expected).abs().sub(rtol * expected.abs()).max())
        assert error <= atol, f"image {i} is not lam * x[{i}] + (1 - lam) * x[{j}] (off by {error:.3g})"
    return partners, lams


def cutmix_expected(originals: torch.Tensor, partners: list, rects: list) -> torch.Tensor:
    expected = originals.clone()
    for i, (j, rect) in enumerate(zip(partners, rects)):
        if rect is not None:
            y0, y1, x0, x1 = rect
            expected[i, ..., y0:y1, x0:x1] = originals[j, ..., y0:y1, x0:x1]
    return expected


def foreign_rect(own: np.ndarray) -> Any:
    """The rectangle of False entries of a (H, W) boolean map, None if all True; asserts it is one."""
    foreign = ~own
    if not foreign.any():
        return None
    rows = np.flatnonzero(foreign.any(axis=1))
    cols = np.flatnonzero(foreign.any(axis=0))
    rect = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    assert foreign[rect[0]:rect[1], rect[2]:rect[3]].all(), "foreign pixels are not a rectangle"
    assert int(foreign.sum()) == (rect[1] - rect[0]) * (rect[3] - rect[2])
    return rect


def check_cutmix(out: torch.Tensor, originals: torch.Tensor, partners: list, lam: Any, mode: str,
                 boxes: Any = None) -> list:
    """``out`` is the CutMix of ``originals`` (distinct pixel values per sample and position).

    Each image's foreign pixels must form one rectangle filled from its partner, exactly, and
    lam must be the own share. With ``boxes`` (a MixBoxes) the rectangles must be the boxes.
    Returns the rectangles (None for an image that is all its own).
    """
    batch, height, width = out.shape[0], out.shape[-2], out.shape[-1]
    assert out.shape == originals.shape and out.dtype == originals.dtype
    lams = lams_of(lam, batch, mode)
    tol = 1e-12 if mode == "batch" else 1e-6
    rects = []
    for i in range(batch):
        own = (out[i] == originals[i]).reshape(-1, height, width).all(0).numpy()
        rects.append(foreign_rect(own))
    if boxes is not None:
        box_t, index = boxes
        assert box_t.dtype == torch.int64 and tuple(box_t.shape) == (batch, 4)
        assert index.tolist() == partners, (index.tolist(), partners)
        reported = [tuple(int(v) for v in row) for row in box_t]
        for i, (rect, box) in enumerate(zip(rects, reported)):
            assert 0 <= box[0] <= box[1] <= height and 0 <= box[2] <= box[3] <= width, box
            nonempty = box[0] < box[1] and box[2] < box[3]
            if partners[i] != i and nonempty:
                assert rect == box, f"image {i}: pixels say {rect}, boxes say {box}"
            else:
                assert rect is None, f"image {i}: foreign pixels {rect} but box {box}, partner {partners[i]}"
            area = (box[1] - box[0]) * (box[3] - box[2])
            assert abs(lams[i] - (1.0 - area / (height * width))) <= tol, (i, lams[i], box)
        if mode == "batch":
            assert len(set(reported)) == 1, f"batch mode with several boxes: {set(reported)}"
    else:
        for i, rect in enumerate(rects):
            if partners[i] != i:  # a self-partnered image shows nothing of its box
                area = 0 if rect is None else (rect[1] - rect[0]) * (rect[3] - rect[2])
                assert abs(lams[i] - (1.0 - area / (height * width))) <= tol, (i, lams[i], rect)
        if mode == "batch":
            found = {r for r in rects if r is not None}
            assert len(found) <= 1, f"batch mode with several boxes: {found}"
    assert torch.equal(out, cutmix_expected(originals, partners, rects)), "pixels not from sample/partner"
    return rects


class Dispatch:
    """A collate_fn that hands each batch to one of several collators (by its first label) and
    tags the result with which one: several collators tested in one DataLoader's workers."""

    def __init__(self, collators: Sequence[Any], batch_size: int):
        self.collators, self.batch_size = list(collators), batch_size

    def __call__(self, batch: Any) -> Any:
        which = (int(batch[0]["label"]) // self.batch_size) % len(self.collators)
        out = self.collators[which](batch)
        out["collator"] = which
        return out


def identities(values: torch.Tensor, kind: str) -> np.ndarray:
    """The sample each element names: ``kind`` "encoded" or "const" (see the module docstring)."""
    values = values.to(torch.int64).numpy()
    if kind == "const":
        return values - 1
    return values // scale_for(values.shape[1:]) - 1


def check_mask_follows_image(image: torch.Tensor, mask: torch.Tensor, ids: Sequence[int], mask_kind: str,
                             dims: int = 2) -> None:
    """For every element of the last ``dims`` axes of every image, the mask element comes from the
    same sample as the image element (all channels of each agree), and encoded elements did not move."""
    batch, spanned = image.shape[0], tuple(image.shape[image.dim() - dims:])
    assert mask.shape[0] == batch and tuple(mask.shape[mask.dim() - dims:]) == spanned
    img_values = image.to(torch.int64)
    assert torch.equal(img_values.to(image.dtype), image), "image pixels were blended"
    img_ids = identities(img_values, "encoded").reshape((batch, -1) + spanned)
    img_pos = (img_values.numpy() % scale_for(image.shape[1:])).reshape(batch, -1)
    assert (img_pos == np.arange(img_pos.shape[1])[None]).all(), "an image pixel moved"
    mask_ids = identities(mask, mask_kind).reshape((batch, -1) + spanned)
    if mask_kind == "encoded":
        mask_pos = (mask.to(torch.int64).numpy() % scale_for(mask.shape[1:])).reshape(batch, -1)
        assert (mask_pos == np.arange(mask_pos.shape[1])[None]).all(), "a mask pixel moved"
    assert (img_ids == img_ids[:, :1]).all() and (mask_ids == mask_ids[:, :1]).all()
    assert set(np.unique(img_ids).tolist()) <= set(ids)
    mismatch = img_ids[:, 0] != mask_ids[:, 0]
    assert not mismatch.any(), (
        f"{int(mismatch.sum())} pixels have image and mask from different samples, "
        f"first at {np.argwhere(mismatch)[0].tolist()}")


