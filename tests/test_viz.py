"""Tests for cutmix_collate.viz: the outlines sit exactly where the pixels changed.

The reference for "where the pixels changed" is a direct comparison of the mixed batch with the
batch before mixing; the reference for "where the outline is" is a search of the grid for the
outline colour, which grey images cannot contain.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from cutmix_collate import CutMixCollator, MixBoxes, MixedTarget, cutmix_batch
from cutmix_collate.viz import mixed_grid, save_mixed_grid

MAGENTA = (255, 0, 255)
B, H, W = 6, 12, 10
SCALE = 4


def _grey_batch(seed: int = 0, b: int = B, h: int = H, w: int = W) -> torch.Tensor:
    """Distinct float images (every pixel differs between any two of them)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(b, 1, h, w, generator=g)
    return base + torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1) * 2.0


def _box_mask(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    rows, cols = torch.arange(h), torch.arange(w)
    y0, y1, x0, x1 = boxes.unbind(1)
    in_rows = (rows >= y0[:, None]) & (rows < y1[:, None])
    in_cols = (cols >= x0[:, None]) & (cols < x1[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


def _magenta(tile: torch.Tensor) -> torch.Tensor:
    """(h, w) mask of the pixels of a (3, h, w) uint8 tile that are the outline colour."""
    colour = torch.tensor(MAGENTA, dtype=torch.uint8).view(3, 1, 1)
    return (tile == colour).all(0)


def _tiles(grid: torch.Tensor, rows: int, cols: int, padding: int = 0):
    """Split a make_grid output into its tiles, row-major."""
    tile_h = (grid.shape[1] - padding) // rows - padding
    tile_w = (grid.shape[2] - padding) // cols - padding
    out = []
    for r in range(rows):
        for c in range(cols):
            top = padding + r * (tile_h + padding)
            left = padding + c * (tile_w + padding)
            out.append(grid[:, top:top + tile_h, left:left + tile_w])
    return out


# --------------------------------------------------------------------------------------------
# The boxes are exact: where the pixels changed, and where the outline is drawn
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["batch", "elem"])
@pytest.mark.parametrize("seed", range(4))
def test_boxes_are_where_pixels_changed(mode, seed):
    images = _grey_batch(seed)
    labels = torch.arange(B)
    mixed, target, boxes = cutmix_batch(images, labels, mode=mode, return_boxes=True,
                                        generator=torch.Generator().manual_seed(seed))
    changed = (mixed != images).any(1)  # (B, H, W)
    expected = _box_mask(boxes.boxes, H, W) & (boxes.index != torch.arange(B)).view(B, 1, 1)
    assert torch.equal(changed, expected)
    assert torch.equal(mixed, torch.where(_box_mask(boxes.boxes, H, W)[:, None], images[boxes.index], images))


def test_collator_boxes_are_where_pixels_changed():
    images = _grey_batch(1)
    samples = [(images[i], i) for i in range(B)]
    torch.manual_seed(5)
    mixed, target, boxes = CutMixCollator(mode="elem", return_boxes=True)(samples)
    changed = (mixed != images).any(1)
    expected = _box_mask(boxes.boxes, H, W) & (boxes.index != torch.arange(B)).view(B, 1, 1)
    assert torch.equal(changed, expected)
    assert torch.equal(target.y_b, boxes.index)


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_outline_is_on_the_border_of_the_pasted_region(mode):
    images = _grey_batch(2)
    mixed, target, boxes = cutmix_batch(images, torch.arange(B), mode=mode, return_boxes=True,
                                        generator=torch.Generator().manual_seed(3))
    grid = mixed_grid(mixed, target, boxes, nrow=B, scale=SCALE, padding=0, box_color=MAGENTA, box_width=1)
    assert grid.dtype == torch.uint8 and grid.shape[0] == 3
    tiles = _tiles(grid, rows=1, cols=B)
    for i, tile in enumerate(tiles):
        caption = tile.shape[1] - H * SCALE
        assert caption > 0 and tile.shape[2] == W * SCALE
        y0, y1, x0, x1 = boxes.boxes[i].tolist()
        outline = _magenta(tile)
        if y1 == y0 or x1 == x0:
            assert not outline.any()
            continue
        expected = torch.zeros_like(outline)
        top, bottom = caption + y0 * SCALE, caption + y1 * SCALE - 1
        left, right = x0 * SCALE, x1 * SCALE - 1
        expected[top, left:right + 1] = True
        expected[bottom, left:right + 1] = True
        expected[top:bottom + 1, left] = True
        expected[top:bottom + 1, right] = True
        assert torch.equal(outline, expected), f"image {i}"


def test_three_row_layout_sources_partners_mixed():
    images = _grey_batch(3)
    mixed, target, boxes = cutmix_batch(images, torch.arange(B), mode="elem", return_boxes=True,
                                        generator=torch.Generator().manual_seed(4))
    grid = mixed_grid(mixed, target, boxes, sources=images, nrow=B, scale=SCALE, padding=0,
                      box_color=MAGENTA, box_width=1)
    tiles = _tiles(grid, rows=3, cols=B + 1)  # a title tile leads each row
    titles = tiles[0], tiles[B + 1], tiles[2 * (B + 1)]
    src_tiles, partner_tiles, mixed_tiles = tiles[1:B + 1], tiles[B + 2:2 * B + 2], tiles[2 * B + 3:]
    for title in titles:
        assert (title[:, src_tiles[0].shape[1] - H * SCALE:] == 255).all()  # blank below the title
    assert len({t.numpy().tobytes() for t in titles}) == 3  # three different titles
    caption = src_tiles[0].shape[1] - H * SCALE
    for i in range(B):
        assert not _magenta(src_tiles[i]).any()
        # Partner tile i shows the partner with the same outline as the mixed tile.
        assert torch.equal(_magenta(partner_tiles[i]), _magenta(mixed_tiles[i]))
        j = int(boxes.index[i])
        # Outside the outlines, pixels match: source row = source i, partner row = source j.
        body = ~_magenta(partner_tiles[i])[caption:]
        assert torch.equal(partner_tiles[i][:, caption:][:, body], src_tiles[j][:, caption:][:, body])
        # The mixed tile equals the partner tile inside the box, the source tile outside it.
        inside = _box_mask(boxes.boxes[i:i + 1], H, W)[0]
        inside = inside.repeat_interleave(SCALE, 0).repeat_interleave(SCALE, 1)
        body_mixed = mixed_tiles[i][:, caption:]
        keep = ~_magenta(mixed_tiles[i])[caption:]
        assert torch.equal(body_mixed[:, inside & keep], partner_tiles[i][:, caption:][:, inside & keep])
        assert torch.equal(body_mixed[:, ~inside], src_tiles[i][:, caption:][:, ~inside])


def test_incomplete_last_group_is_padded_with_blank_tiles():
    images = _grey_batch(0, b=5)
    mixed, target, boxes = cutmix_batch(images, torch.arange(5), return_boxes=True,
                                        generator=torch.Generator().manual_seed(0))
    grid = mixed_grid(mixed, target, boxes, sources=images, nrow=3, scale=2, padding=0, pad_value=17)
    tiles = _tiles(grid, rows=6, cols=4)  # a title tile, then 3 images per row
    for row in (3, 4, 5):  # second group: a title, two images and one blank tile per row
        assert (tiles[row * 4 + 3] == 17).all()
        assert not (tiles[row * 4 + 1] == 17).all()


# --------------------------------------------------------------------------------------------
# Display conversions
# --------------------------------------------------------------------------------------------


def test_uint8_rgb_pixels_shown_as_they_are():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=g)
    boxes = MixBoxes(torch.tensor([[0, 0, 0, 0]] * 4), torch.arange(4))
    grid = mixed_grid(images, None, boxes, nrow=4, scale=1, padding=0)
    tiles = _tiles(grid, rows=1, cols=4)
    for i, tile in enumerate(tiles):
        assert torch.equal(tile[:, -8:], images[i])


def test_float_images_min_max_over_the_batch_and_value_range():
    images = torch.linspace(-3.0, 5.0, 2 * 8 * 8).view(2, 8, 8)  # (B, H, W) accepted
    boxes = MixBoxes(torch.zeros(2, 4, dtype=torch.long), torch.arange(2))
    grid = mixed_grid(images, None, boxes, nrow=2, scale=1, padding=0)
    tiles = _tiles(grid, rows=1, cols=2)
    assert int(tiles[0][:, -8:].min()) == 0 and int(tiles[1][:, -8:].max()) == 255
    assert torch.equal(tiles[0][0, -8:], tiles[0][2, -8:])  # grey: three equal channels
    clipped = mixed_grid(images, None, boxes, nrow=2, scale=1, padding=0, value_range=(0.0, 1.0))
    body = _tiles(clipped, rows=1, cols=2)[0][0, -8:]
    expected = ((images[0].clamp(0, 1)) * 255).round().to(torch.uint8)
    assert torch.equal(body, expected)


def test_default_scale_makes_small_images_legible_and_caption_drawn():
    images = _grey_batch(0, b=2, h=32, w=32)
    mixed, target, boxes = cutmix_batch(images, torch.tensor([3, 7]), return_boxes=True,
                                        generator=torch.Generator().manual_seed(1))
    grid = mixed_grid(mixed, target, boxes, padding=0)
    tile = _tiles(grid, rows=1, cols=2)[0]
    assert tile.shape[2] == 128  # 32 px upscaled 4x
    caption = tile[:, : tile.shape[1] - 128]
    assert int(caption.min()) == 32  # the dark band
    assert (caption.min(0).values > 200).sum() > 20  # white caption text on it


def test_max_images_and_lam_from_target_or_boxes():
    images = _grey_batch(0, b=10)
    mixed, target, boxes = cutmix_batch(images, torch.arange(10), mode="elem", return_boxes=True,
                                        generator=torch.Generator().manual_seed(2))
    grid = mixed_grid(mixed, target, boxes, max_images=4, nrow=8, scale=2, padding=0)
    assert grid.shape[2] == 4 * W * 2
    # Without a target, lam is the share of each image outside its box.
    from cutmix_collate.viz import _check_caption_target

    y0, y1, x0, x1 = boxes.boxes.unbind(1)
    want = 1 - ((y1 - y0) * (x1 - x0)).double() / (H * W)
    _, _, lam = _check_caption_target(None, boxes.boxes, (H, W))
    torch.testing.assert_close(lam.double(), want)
    # A float and a 0-d tensor lam are one lam per image; label vectors are not written.
    for lam in (0.5, torch.tensor(0.5)):
        y_a, y_b, got = _check_caption_target(MixedTarget(torch.eye(10), torch.eye(10), lam), boxes.boxes, (H, W))
        assert y_a is None and y_b is None and got.tolist() == [0.5] * 10


def test_soft_labels_and_class_names_are_accepted():
    images = _grey_batch(0, b=3)
    soft = torch.eye(3)
    mixed, target, boxes = cutmix_batch(images, soft, return_boxes=True,
                                        generator=torch.Generator().manual_seed(0))
    assert mixed_grid(mixed, target, boxes, scale=1).dtype == torch.uint8
    mixed, target, boxes = cutmix_batch(images, torch.arange(3), return_boxes=True,
                                        generator=torch.Generator().manual_seed(0))
    named = mixed_grid(mixed, target, boxes, sources=images, class_names=["cat", "dog", "emu"], scale=2)
    plain = mixed_grid(mixed, target, boxes, sources=images, scale=2)
    assert named.shape == plain.shape and not torch.equal(named, plain)


def test_save_mixed_grid_writes_png(tmp_path):
    images = _grey_batch(0)
    mixed, target, boxes = cutmix_batch(images, torch.arange(B), return_boxes=True,
                                        generator=torch.Generator().manual_seed(0))
    path = tmp_path / "sub" / "grid.png"
    grid = save_mixed_grid(mixed, target, boxes, path, sources=images)
    with Image.open(path) as png:
        assert png.format == "PNG" and png.mode == "RGB"
        assert png.size == (grid.shape[2], grid.shape[1])
        assert torch.equal(torch.tensor(np.array(png)).permute(2, 0, 1), grid)
    with pytest.raises(TypeError, match="path must be a str or a path-like object"):
        save_mixed_grid(mixed, target, boxes, 3)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _ok():
    images = _grey_batch(0)
    mixed, target, boxes = cutmix_batch(images, torch.arange(B), return_boxes=True,
                                        generator=torch.Generator().manual_seed(0))
    return images, mixed, target, boxes


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(images=[[0.0]]), TypeError, r"images must be a real tensor of shape \(B, H, W\) or \(B, C, H, W\)"),
        (dict(images=torch.zeros(B, 1, H, W, dtype=torch.complex64)), TypeError, r"images must be .* got dtype torch.complex64"),
        (dict(images=torch.zeros(H, W)), ValueError, r"images must be .* got shape \(12, 10\)"),
        (dict(images=torch.zeros(B, 2, 1, H, W)), ValueError, r"images must be .* 4 columns: dims=2.* got shape \(6, 2, 1, 12, 10\)"),
        (dict(images=torch.zeros(B, 1, 0, W)), ValueError, r"images must be .* at least one non-empty image, got shape \(6, 1, 0, 10\)"),
        (dict(boxes=torch.zeros(B, 4)), TypeError, r"boxes must be a MixBoxes"),
        (dict(boxes=MixBoxes(torch.zeros(B, 4), torch.arange(B))), TypeError, r"boxes.boxes and boxes.index must be integer"),
        (dict(boxes=MixBoxes(torch.zeros(B - 1, 4, dtype=torch.long), torch.arange(B))), ValueError, r"boxes.boxes and boxes.index must have shapes \(6, 4\) and \(6,\) to match images, got \(5, 4\) and \(6,\)"),
        (dict(boxes=MixBoxes(torch.zeros(B, 4, dtype=torch.long), torch.arange(B - 1))), ValueError, r"must have shapes \(6, 4\) and \(6,\) to match images, got \(6, 4\) and \(5,\)"),
        (dict(boxes=MixBoxes(torch.zeros(B, 5, dtype=torch.long), torch.arange(B))), ValueError, r"boxes.boxes must have shape \(B, 2 \* dims\), .* dims 1, 2 or 3, got shape \(6, 5\)"),
        (dict(boxes=MixBoxes(torch.zeros(B, dtype=torch.long), torch.arange(B))), ValueError, r"boxes.boxes must have shape \(B, 2 \* dims\)"),
        (dict(boxes=MixBoxes(torch.tensor([[0, 13, 0, 1]] * B), torch.arange(B))), ValueError, r"boxes.boxes rows must be \(start, end\) per spanned axis with 0 <= start <= end <= size, sizes \(12, 10\), got \(0, 13, 0, 1\) at image 0"),
        (dict(boxes=MixBoxes(torch.tensor([[2, 1, 0, 1]] * B), torch.arange(B))), ValueError, r"boxes.boxes rows must be"),
        (dict(boxes=MixBoxes(torch.zeros(B, 4, dtype=torch.long), torch.arange(B) + 1)), ValueError, r"boxes.index must hold indices in \[0, 6\)"),
        (dict(target=torch.zeros(B)), TypeError, r"target must be a MixedTarget"),
        (dict(target=MixedTarget(torch.arange(B), torch.arange(B), "0.5")), TypeError, r"target.lam must be a number or a tensor, got '0.5' \(str\)"),
        (dict(target=MixedTarget(torch.arange(B), torch.arange(B), torch.ones(B + 1))), ValueError, r"target.lam must have shape \(6,\) to match the batch, got shape \(7,\)"),
        (dict(target=(torch.arange(B), torch.arange(B))), ValueError, r"target must be a tensor or a mixed target \(y_a, y_b, lam\) of length 3"),
        (dict(target=MixedTarget(torch.arange(B), torch.arange(B), 1.5)), ValueError, r"target.lam must be in \[0, 1\]"),
        (dict(sources=torch.zeros(B, 1, H, W + 1)), ValueError, r"sources must have the shape of images"),
        (dict(sources=torch.zeros(B, 1, H, W, dtype=torch.uint8)), ValueError, r"sources and images must both be uint8 or both of other dtypes, got torch.uint8 and torch.float32"),
        (dict(sources="x"), TypeError, r"sources must be a real tensor"),
        (dict(nrow=0), ValueError, r"nrow must be an int >= 1, got 0"),
        (dict(nrow=2.0), TypeError, r"nrow must be an int >= 1"),
        (dict(max_images=0), ValueError, r"max_images must be an int >= 1"),
        (dict(scale=0), ValueError, r"scale must be an int >= 1"),
        (dict(box_width=0), ValueError, r"box_width must be an int >= 1"),
        (dict(padding=-1), ValueError, r"padding must be an int >= 0"),
        (dict(pad_value=300), ValueError, r"pad_value must be an int in \[0, 255\]"),
        (dict(value_range=(1.0, 0.0)), ValueError, r"value_range must be \(low, high\) with low < high"),
        (dict(class_names="0123456789"), TypeError, r"class_names must be a sequence of names"),
    ],
)
def test_bad_input_names_the_argument(change, error, message):
    images, mixed, target, boxes = _ok()
    kwargs = dict(images=mixed, target=target, boxes=boxes)
    kwargs.update(change)
    positional = [kwargs.pop("images"), kwargs.pop("target"), kwargs.pop("boxes")]
    with pytest.raises(error, match=message):
        mixed_grid(*positional, **kwargs)


def test_missing_torchvision_says_how_to_install(monkeypatch):
    images, mixed, target, boxes = _ok()
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.utils", None)
    with pytest.raises(ImportError, match=r'pip install "cutmix_collate\[vision\]"'):
        mixed_grid(mixed, target, boxes)


def test_captions_mark_an_image_that_is_its_own_partner():
    from cutmix_collate.viz import _captions

    y_a = torch.tensor([3, 4, 5, 6])
    index = torch.tensor([0, 2, 1, 3])  # 0 and 3 are their own partners; 3 was not mixed
    boxes = [(0, 2, 0, 2), (1, 3, 1, 3), (0, 1, 0, 1), None]
    lam = torch.tensor([0.5, 0.25, 0.875, 1.0], dtype=torch.float64)
    got = _captions(y_a, y_a[index], lam, index, boxes, ["a", "b", "c", "d", "e", "f", "g"])
    assert got.sources == ["#0 y=d", "#1 y=e", "#2 y=f", "#3 y=g"]
    assert got.partners == ["#0 y=d (self)", "#2 y=f", "#1 y=e", "#3 y=g (self)"]
    assert got.mixed == ["d+self lam=0.50", "e+f lam=0.25", "f+e lam=0.88", "g lam=1.00"]
    unlabelled = _captions(None, None, lam, index, boxes, None)
    assert unlabelled.partners[0] == "#0 (self)"
    assert unlabelled.mixed == ["self lam=0.50", "lam=0.25", "lam=0.88", "lam=1.00"]


def test_missing_torchvision_names_the_install_from_a_clone(monkeypatch):
    images, mixed, target, boxes = _ok()
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.utils", None)
    with pytest.raises(ImportError, match=r'from a clone, pip install -e "\.\[vision\]"'):
        mixed_grid(mixed, target, boxes)


# --------------------------------------------------------------------------------------------
# Any real dtype, any number of channels
# --------------------------------------------------------------------------------------------


def _bodies(grid: torch.Tensor, n: int, height: int):
    """The image part (below the caption band) of the n tiles of a one-row, padding-0 grid."""
    return [tile[:, -height:] for tile in _tiles(grid, rows=1, cols=n)]


def _no_boxes(b: int, dims: int = 2) -> MixBoxes:
    return MixBoxes(torch.zeros(b, 2 * dims, dtype=torch.long), torch.arange(b))


def test_more_than_three_channels_show_the_first_three():
    g = torch.Generator().manual_seed(0)
    rgba = torch.randint(0, 256, (3, 4, 8, 8), dtype=torch.uint8, generator=g)
    for body, image in zip(_bodies(mixed_grid(rgba, None, _no_boxes(3), scale=1, padding=0), 3, 8), rgba):
        assert torch.equal(body, image[:3])


def test_two_channels_show_as_red_and_green():
    images = torch.stack([torch.zeros(8, 8), torch.ones(8, 8)]).expand(2, 2, 8, 8)  # channel 0 low, 1 high
    for body in _bodies(mixed_grid(images, None, _no_boxes(2), scale=1, padding=0), 2, 8):
        assert (body[0] == 0).all() and (body[1] == 255).all() and (body[2] == 0).all()


@pytest.mark.parametrize("dtype", [torch.uint16, torch.int16, torch.int32, torch.int64, torch.float16,
                                   torch.bfloat16, torch.float64])
def test_other_dtypes_are_shown_min_max_like_float(dtype):
    values = torch.arange(2 * 3 * 8 * 8).view(2, 3, 8, 8) * 7 + 100
    images = values.to(dtype)
    exact = images.double()  # the values the dtype holds
    want = ((exact - exact.min()) / (exact.max() - exact.min()) * 255).round().to(torch.uint8)
    for body, image in zip(_bodies(mixed_grid(images, None, _no_boxes(2), scale=1, padding=0), 2, 8), want):
        assert torch.equal(body, image)


def test_bool_images_show_black_and_white():
    images = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    images[:, :, :4] = True
    for body in _bodies(mixed_grid(images, None, _no_boxes(2), scale=1, padding=0), 2, 8):
        assert (body[:, :4] == 255).all() and (body[:, 4:] == 0).all()


# --------------------------------------------------------------------------------------------
# Boxes over one axis (signals, spectrograms) and three axes (volumes)
# --------------------------------------------------------------------------------------------


def _paste(images: torch.Tensor, rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """CutMix by the rule: the box (start, end per trailing axis) of image i comes from image index[i]."""
    out = images.clone()
    dims = rows.shape[1] // 2
    for i, row in enumerate(rows.tolist()):
        region = (i, Ellipsis) + tuple(slice(a, b) for a, b in zip(row[0::2], row[1::2]))
        out[region] = images[(int(index[i]),) + region[1:]]
    assert out.shape[-dims:] == images.shape[-dims:]
    return out


def _outline_rect(outline: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """The mask of a 1-pixel rectangle outline with these inclusive corners."""
    expected = torch.zeros_like(outline)
    expected[top, left:right + 1] = expected[bottom, left:right + 1] = True
    expected[top:bottom + 1, left] = expected[top:bottom + 1, right] = True
    return expected


SIG_B, SIG_C, SIG_T = 4, 2, 40
SIG_ROWS = torch.tensor([[5, 20], [0, 0], [30, 40], [0, 12]])
SIG_INDEX = torch.tensor([2, 1, 3, 0])


def _level_row(value: float, low: float = 0.0, high: float = 7.0) -> int:
    """The row of a trace at ``value`` in a 64-pixel band: the highest value at the top."""
    return round((1 - (value - low) / (high - low)) * 63)


class TestSignalPictures:
    """dims=1 on (B, C, T): each channel a trace in a 64-pixel band, the pasted segment outlined."""

    def _batch(self):
        # Sample i, channel c holds the constant i + 4c: its trace is a flat line at a known row.
        images = (torch.arange(SIG_B).view(-1, 1, 1) + 4.0 * torch.arange(SIG_C).view(1, -1, 1)).expand(-1, -1, SIG_T)
        return images, _paste(images, SIG_ROWS, SIG_INDEX)

    def test_the_traces_sit_at_the_level_of_the_sample_each_column_came_from(self):
        images, mixed = self._batch()
        grid = mixed_grid(mixed, None, MixBoxes(SIG_ROWS, SIG_INDEX), nrow=SIG_B, scale=1, padding=0,
                          box_color=MAGENTA, box_width=1)
        for i, body in enumerate(_bodies(grid, SIG_B, SIG_C * 64)):
            assert body.shape[-1] == SIG_T  # one column per sample
            t0, t1 = SIG_ROWS[i].tolist()
            white = (body == 255).all(0)
            for t in range(SIG_T):
                if t0 < t1 and t in (t0, t1 - 1, t1):  # the outline, and the step back to the own trace
                    continue
                source = int(SIG_INDEX[i]) if t0 <= t < t1 else i
                lit = white[:, t].nonzero().flatten().tolist()
                assert lit == [c * 64 + _level_row(source + 4 * c) for c in range(SIG_C)], (i, t)

    def test_outline_spans_every_band_over_the_pasted_samples(self):
        images, mixed = self._batch()
        grid = mixed_grid(mixed, None, MixBoxes(SIG_ROWS, SIG_INDEX), nrow=SIG_B, scale=3, padding=0,
                          box_color=MAGENTA, box_width=1)
        for i, tile in enumerate(_tiles(grid, rows=1, cols=SIG_B)):
            outline = _magenta(tile)
            caption = tile.shape[1] - SIG_C * 64 * 3
            t0, t1 = SIG_ROWS[i].tolist()
            if t0 == t1:
                assert not outline.any()
            else:
                assert torch.equal(outline, _outline_rect(outline, caption, tile.shape[1] - 1, 3 * t0, 3 * t1 - 1))

    def test_three_rows_and_one_dimensional_batches(self):
        images, mixed = self._batch()
        boxes = MixBoxes(SIG_ROWS, SIG_INDEX)
        grid = mixed_grid(mixed, None, boxes, sources=images, nrow=SIG_B, scale=1, padding=0, box_color=MAGENTA)
        tiles = _tiles(grid, rows=3, cols=SIG_B + 1)
        for i in range(SIG_B):  # the partner row shows the partner's trace (under the outline too)
            partner, source = tiles[SIG_B + 2 + i][:, -128:], tiles[1 + int(SIG_INDEX[i])][:, -128:]
            keep = ~_magenta(partner)
            assert torch.equal(partner[:, keep], source[:, keep]) and bool(keep.all()) == (i == 1)
        # (B, T) is (B, 1, T): one band.
        flat = mixed_grid(mixed[:, 0], None, boxes, nrow=SIG_B, scale=1, padding=0)
        assert torch.equal(flat, mixed_grid(mixed[:, :1], None, boxes, nrow=SIG_B, scale=1, padding=0))
        assert flat.shape[1] - 64 == grid.shape[1] // 3 - 128

    def test_the_first_three_channels_are_traced(self):
        images = torch.arange(5.0).view(1, 5, 1).expand(2, 5, 20)  # channel c: the constant c
        grid = mixed_grid(images, None, _no_boxes(2, dims=1), nrow=2, scale=1, padding=0)
        body = _bodies(grid, 2, 3 * 64)[0]
        assert grid.shape[1] - 3 * 64 < 64  # three bands and the caption
        lit = (body == 255).all(0)[:, 5].nonzero().flatten().tolist()
        assert lit == [c * 64 + _level_row(c, 0.0, 2.0) for c in range(3)]

    def test_long_signals_keep_every_spike_and_widen_the_outline_to_whole_columns(self):
        t = 2000  # 4 samples per column, 500 columns
        images = torch.zeros(2, 1, t)
        images[0, 0, 1001] = 1.0  # a one-sample spike: column 250
        rows, index = torch.tensor([[401, 803], [0, 0]]), torch.tensor([1, 0])
        grid = mixed_grid(images, None, MixBoxes(rows, index), nrow=2, scale=1, padding=0,
                          box_color=MAGENTA, box_width=1)
        tiles = _tiles(grid, rows=1, cols=2)
        assert tiles[0].shape[-1] == 500
        body = tiles[0][:, -64:]
        white = (body == 255).all(0)  # row 0: the top of the band, value 1
        assert white[0, 250] and not white[0, :250].any() and not white[0, 251:].any()
        outline = _magenta(tiles[0])
        caption = tiles[0].shape[1] - 64
        assert torch.equal(outline, _outline_rect(outline, caption, tiles[0].shape[1] - 1, 100, 200))


def test_spectrogram_is_drawn_as_an_image_with_the_segment_over_every_bin():
    g = torch.Generator().manual_seed(0)
    spec = torch.rand(4, 1, 16, 30, generator=g)
    rows, index = torch.tensor([[3, 9], [0, 0], [20, 30], [0, 30]]), torch.tensor([1, 0, 3, 2])
    mixed = _paste(spec, rows, index)
    # Reference: the same pictures as images with the box (0, F, t0, t1) over both axes.
    rows_2d = torch.cat([torch.zeros(4, 1, dtype=torch.long), torch.full((4, 1), 16), rows], 1)
    got = mixed_grid(mixed, None, MixBoxes(rows, index), sources=spec, scale=2)
    want = mixed_grid(mixed, None, MixBoxes(rows_2d, index), sources=spec, scale=2)
    assert torch.equal(got, want)
    got = mixed_grid(mixed, None, MixBoxes(rows, index), scale=2, box_color=MAGENTA, box_width=1, padding=0)
    outline = _magenta(_tiles(got, rows=1, cols=4)[0])
    caption = outline.shape[0] - 32
    assert torch.equal(outline, _outline_rect(outline, caption, outline.shape[0] - 1, 6, 17))


def test_volumes_show_the_slice_through_each_box_centre():
    g = torch.Generator().manual_seed(1)
    b, d, h, w = 4, 6, 8, 10
    volumes = torch.rand(b, 1, d, h, w, generator=g) + torch.arange(b).view(b, 1, 1, 1, 1)
    rows = torch.tensor([[1, 4, 2, 6, 3, 9], [0, 0, 0, 0, 0, 0], [5, 6, 0, 8, 0, 10], [0, 6, 1, 2, 1, 2]])
    index = torch.tensor([2, 1, 0, 1])
    mixed = _paste(volumes, rows, index)
    # The rule: slice (d0 + d1) // 2, the centre slice d // 2 for an empty box.
    depth = [(r[0] + r[1]) // 2 if r[1] > r[0] else d // 2 for r in rows.tolist()]
    assert depth == [2, 3, 5, 3]
    ar = torch.arange(b)
    slices = [mixed[ar, :, depth], volumes[ar, :, depth], volumes[index][ar, :, depth]]
    show = dict(scale=2, padding=0, box_color=MAGENTA, box_width=1, value_range=(0.0, b + 1.0))
    got = mixed_grid(mixed, None, MixBoxes(rows, index), sources=volumes, nrow=b, **show)
    # Reference: dims=2 pictures of the slices, partners given as their own sources column by column.
    stacked = torch.cat(slices)  # mixed, sources, partners of each column
    plain = mixed_grid(stacked, None, MixBoxes(torch.cat([rows[:, 2:]] * 3), torch.arange(3 * b)), nrow=3 * b, **show)
    plain_tiles = _tiles(plain, rows=1, cols=3 * b)
    got_tiles = _tiles(got, rows=3, cols=b + 1)
    for i in range(b):
        for row, k in ((2, 0), (0, 1), (1, 2)):  # grid rows: sources, partners, mixed
            body = got_tiles[row * (b + 1) + 1 + i][:, -2 * h:]
            want = plain_tiles[k * b + i][:, -2 * h:]
            if row == 0:  # sources carry no outline
                want = torch.where(_magenta(want), body, want)
            if rows[i, 0] == rows[i, 1]:
                want = torch.where(_magenta(want), body, want)
            assert torch.equal(body, want), (i, row)
    # The slice is named in the caption: the captions differ from dims=2 only by it.
    assert not torch.equal(got_tiles[2 * (b + 1) + 1][:, :-2 * h], plain_tiles[0][:, :-2 * h])


@pytest.mark.parametrize(
    "images, rows, message",
    [
        (torch.zeros(2, 1, 2, 3, 8), torch.zeros(2, 2), r"images must be a real tensor of shape \(B, T\), \(B, C, T\) or \(B, C, F, T\) \(boxes.boxes of 2 columns: dims=1\).* got shape \(2, 1, 2, 3, 8\)"),
        (torch.zeros(2, 8, 8), torch.zeros(2, 6), r"images must be a real tensor of shape \(B, D, H, W\) or \(B, C, D, H, W\) .* got shape \(2, 8, 8\)"),
        (torch.zeros(2, 1, 1, 4, 8, 8), torch.zeros(2, 6), r"got shape \(2, 1, 1, 4, 8, 8\)"),
        (torch.zeros(2, 1, 9), torch.tensor([[0, 10], [0, 0]]), r"boxes.boxes rows must be \(start, end\) .* sizes \(9,\), got \(0, 10\) at image 0"),
        (torch.zeros(2, 3, 4, 5), torch.tensor([[0, 3, 0, 4, 0, 6], [0] * 6]), r"sizes \(3, 4, 5\), got \(0, 3, 0, 4, 0, 6\) at image 0"),
    ],
)
def test_boxes_and_images_must_agree_on_dims(images, rows, message):
    with pytest.raises(ValueError, match=message):
        mixed_grid(images, None, MixBoxes(rows.long(), torch.arange(2)))


@pytest.mark.parametrize("dims, shape", [(1, (5, 2, 30)), (1, (5, 1, 8, 30)), (2, (5, 3, 9, 7)), (3, (5, 1, 4, 6, 8))])
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_cutmix_batch_boxes_in_every_dims_are_drawn(dims, shape, mode):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(dims)) + torch.arange(5.0).view(-1, *[1] * (len(shape) - 1))
    mixed, target, boxes = cutmix_batch(images, torch.arange(5), dims=dims, mode=mode, return_boxes=True,
                                        generator=torch.Generator().manual_seed(7))
    assert boxes.boxes.shape == (5, 2 * dims)
    assert torch.equal(mixed, _paste(images, boxes.boxes, boxes.index))  # the boxes are where the pixels came from
    grid = mixed_grid(mixed, target, boxes, sources=images, scale=1)
    assert grid.dtype == torch.uint8 and grid.shape[0] == 3
