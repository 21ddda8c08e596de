"""Test helpers for the CutMix tests: images that say where each pixel came from, datasets that
spawn-started DataLoader workers can import, and the provenance check.

An image of identity ``ident`` is filled with ``(ident + 1) * S + p`` where ``p`` is the flat
position of the element inside the image and ``S`` a power of two >= the image's number of
elements ("encoded" images), so every output element tells which sample it came from *and* from
which position. Dtypes that cannot hold that (uint8, int16, ...) get the constant ``ident + 1``.
Nothing here uses the package under test except to read its outputs.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from _helpers import SharedProbe, scale_for  # noqa: F401 (re-exported: one definition, tests/_helpers.py)

# --------------------------------------------------------------------------------- encoding




def can_encode(dtype: torch.dtype, shape: Sequence[int], n_idents: int) -> bool:
    top = (n_idents + 1) * scale_for(shape) + scale_for(shape)
    if dtype in (torch.float64, torch.int64):
        return top < 2**52
    if dtype == torch.int32:
        return top < 2**31
    if dtype == torch.float32:
        return top <= 2**24
    return False


def make_image(ident: int, shape: Sequence[int], dtype: torch.dtype, encode: bool) -> torch.Tensor:
    """The image of sample ``ident`` (contiguous)."""
    shape = tuple(shape)
    if encode:
        values = (ident + 1) * scale_for(shape) + torch.arange(math.prod(shape), dtype=torch.int64)
        return values.reshape(shape).to(dtype)
    assert ident + 1 <= 127, "constant fill needs small identities"
    return torch.full(shape, ident + 1, dtype=torch.int64).to(dtype)


def decode(images: torch.Tensor, encode: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(identities, positions) of every element of a batch ``(B, *shape)``; positions None if not encoded."""
    values = images.detach().cpu()
    if values.is_floating_point():
        as_float = values.to(torch.float64)
        assert torch.equal(as_float, as_float.round()), "non-integer value: pixels were blended"
        values = as_float.to(torch.int64)
    values = values.to(torch.int64).numpy()
    if not encode:
        return values - 1, None
    scale = scale_for(images.shape[1:])
    return values // scale - 1, values % scale


# --------------------------------------------------------------------------------- provenance


def _labels_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu()))


def check_provenance(
    out: torch.Tensor,
    target: Any,
    ids: Sequence[int],
    *,
    mode: str,
    encode: bool,
    boxes: Any = None,
    dims: int = 2,
) -> Tuple[List[int], List[Optional[Tuple[int, ...]]]]:
    """Check a mixed batch against the pixels it is made of.

    ``out``: the mixed batch ``(B, *lead, *S)`` where ``S`` are the last ``dims`` axes (the ones
    the box spans, ``(H, W)`` for ``dims=2``); ``target``: its ``(y_a, y_b, lam)``; ``ids``: the
    identity each batch position was filled with (labels must be distinct per sample). Returns
    each image's partner position (read from ``y_b``) and the box of foreign elements,
    ``(start, end)`` per spanned axis (``(y0, y1, x0, x1)`` for ``dims=2``; None when the image
    is all its own).
    """
    y_a, y_b, lam = target
    batch = out.shape[0]
    spanned = tuple(out.shape[out.dim() - dims:])
    volume = math.prod(spanned)
    ids = [int(v) for v in ids]
    assert len(ids) == batch and len(set(ids)) == batch
    position_of = {ident: pos for pos, ident in enumerate(ids)}
    assert y_a.shape[0] == batch and y_b.shape == y_a.shape and y_b.dtype == y_a.dtype

    if mode == "batch":
        assert type(lam) is float, f"batch mode lam must be a Python float, got {type(lam)}"
        lams = [lam] * batch
    else:
        assert isinstance(lam, torch.Tensor) and lam.dtype == torch.float32
        assert tuple(lam.shape) == (batch,)
        assert lam.device == out.device
        lams = [float(v) for v in lam.cpu()]
    for value in lams:
        assert 0.0 <= value <= 1.0 and math.isfinite(value)

    idents, positions = decode(out, encode)
    if positions is not None:
        expected_pos = np.arange(math.prod(out.shape[1:])).reshape(out.shape[1:])
        assert (positions == expected_pos[None]).all(), "a pixel moved (wrong position or channel)"

    partners: List[int] = []
    rects: List[Optional[Tuple[int, ...]]] = []
    for i in range(batch):
        # partner from the labels (labels are distinct per sample)
        matches = [k for k in range(batch) if _labels_equal(y_b[i], y_a[k])]
        assert len(matches) == 1, f"y_b[{i}] is not exactly one sample's label: {matches}"
        k = matches[0]
        partners.append(k)

        src = idents[i].reshape((-1,) + spanned)
        assert (src == src[:1]).all(), f"image {i}: channels (the axes not spanned) come from different samples"
        src = src[0]
        assert set(np.unique(src).tolist()) <= set(ids), f"image {i}: pixels from outside the batch"
        foreign = src != ids[i]
        sources = set(np.unique(src[foreign]).tolist())
        assert len(sources) <= 1, f"image {i}: pixels from several other samples {sources}"
        if sources:
            (source,) = sources
            assert position_of[source] == k, (
                f"image {i}: pasted pixels come from sample {position_of[source]}, y_b says {k}"
            )
            rect: Tuple[int, ...] = ()
            for axis in range(dims):  # the extent of the foreign elements along each spanned axis
                along = np.flatnonzero(foreign.any(axis=tuple(a for a in range(dims) if a != axis)))
                rect += (int(along[0]), int(along[-1]) + 1)
            region = tuple(slice(rect[2 * a], rect[2 * a + 1]) for a in range(dims))
            assert foreign[region].all(), f"image {i}: pasted region is not a box"
            assert int(foreign.sum()) == math.prod(rect[2 * a + 1] - rect[2 * a] for a in range(dims))
            own_share = 1.0 - foreign.sum() / volume
            tol = 1e-12 if mode == "batch" else 1e-6
            assert abs(lams[i] - own_share) <= tol, f"image {i}: lam {lams[i]} != own share {own_share}"
            rects.append(rect)
        else:
            rects.append(None)
            if k != i:  # a real partner but nothing pasted: the box was empty
                assert lams[i] == 1.0, f"image {i}: nothing pasted from its partner but lam = {lams[i]}"

    if mode == "batch":
        assert sorted(partners) == list(range(batch)), f"partners are not a permutation: {partners}"
        found = {r for r in rects if r is not None}
        assert len(found) <= 1, f"batch mode: several boxes {found}"
        if found:
            for i in range(batch):
                if partners[i] != i:
                    assert rects[i] is not None, f"image {i} has a real partner but no box"

    if boxes is not None:
        box_t, index = boxes
        assert box_t.dtype == torch.int64 and tuple(box_t.shape) == (batch, 2 * dims)
        assert index.dtype == torch.int64 and tuple(index.shape) == (batch,)
        assert index.tolist() == partners
        rows = [tuple(int(v) for v in row) for row in box_t.cpu()]
        for i, row in enumerate(rows):
            extents = [row[2 * a + 1] - row[2 * a] for a in range(dims)]
            assert all(0 <= row[2 * a] <= row[2 * a + 1] <= spanned[a] for a in range(dims)), row
            empty = 0 in extents
            if rects[i] is not None:
                assert row == rects[i], f"image {i}: reported box {row}, pixels say {rects[i]}"
            elif partners[i] != i:
                assert empty, f"image {i}: reported box {row} but nothing was pasted"
            assert abs(lams[i] - (1.0 - math.prod(extents) / volume)) <= 1e-6
        if mode == "batch":
            assert len(set(rows)) == 1, "batch mode: reported boxes differ"
    return partners, rects


# --------------------------------------------------------------------------------- datasets


class EncodedDataset(Dataset):
    """``n`` items: (encoded image, index) pairs, or dicts with extra keys."""

    def __init__(self, n: int, shape: Sequence[int], dtype: torch.dtype = torch.float32, as_dict: bool = False):
        self.encode = can_encode(dtype, shape, n)
        self.images = [make_image(k, shape, dtype, self.encode) for k in range(n)]
        self.as_dict = as_dict

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, k: int) -> Any:
        if self.as_dict:
            return {"idx": k, "image": self.images[k], "label": k, "name": f"item{k}"}
        return self.images[k], k




def same_seed_worker_init(worker_id: int) -> None:
    """A deliberately broken worker_init_fn (every worker gets the same seed): negative control."""
    torch.manual_seed(1234)
