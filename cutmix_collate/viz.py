"""Pictures of mixed batches: each pasted box outlined, ``lam`` written on each image.

:func:`mixed_grid` turns a mixed batch and the :class:`~cutmix_collate.MixBoxes` that made it
(``CutMixCollator(return_boxes=True)`` or ``cutmix_batch(..., return_boxes=True)``) into one
``(3, H', W')`` uint8 image, the kind of grid one logs to TensorBoard
(``writer.add_image("cutmix", grid)``). The outlines come from the boxes the mixing used, so
they are exact: each outline is drawn on the border pixels of the pasted region itself.
Boxes over one axis (signals, spectrograms) and three axes (volumes) are drawn too, see
:func:`mixed_grid`. :func:`save_mixed_grid` writes the grid as a PNG.

The grid is built with :func:`torchvision.utils.make_grid` and
:func:`torchvision.utils.draw_bounding_boxes`; torchvision is imported when a function is
called, so ``import cutmix_collate`` does not need it. Install it with
``pip install "cutmix_collate[vision]"`` (from a clone: ``pip install -e ".[vision]"``).

Example::

    collate = CutMixCollator(alpha=1.0, return_boxes=True)
    samples = [dataset[i] for i in range(8)]
    images, target, boxes = collate(samples)
    sources = torch.stack([image for image, _ in samples])
    save_mixed_grid(images, target, boxes, "mixed.png", sources=sources)
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ._checks import check_lam, check_positive_int, describe, split_target
from .functional import MixBoxes, lambda_of_box

__all__ = ["mixed_grid", "save_mixed_grid"]

Color = Union[str, Tuple[int, int, int]]
Box = Optional[Tuple[int, int, int, int]]

#: Images are upscaled (nearest neighbour) until their shorter side reaches this many pixels,
#: so that the captions (torchvision's default font is about 10 px high) and outlines are legible.
_DISPLAY_SIDE = 128
_CAPTION_BACKGROUND = (32, 32, 32)
_CAPTION_TEXT = (255, 255, 255)
_ROW_TITLES = ("sources", "partners: cut box", "mixed")
#: A signal ``(B, C, T)`` is plotted as one trace per channel, each in a band this many pixels
#: high, at most ``_MAX_COLUMNS`` pixels wide (longer signals: a min-max envelope per column).
_BAND = 64
_MAX_COLUMNS = 512
_SHAPES = {1: "(B, T), (B, C, T) or (B, C, F, T)", 2: "(B, H, W) or (B, C, H, W)", 3: "(B, D, H, W) or (B, C, D, H, W)"}


def _require_torchvision() -> Any:
    try:
        import torchvision.utils as tv_utils
    except ImportError as error:  # pragma: no cover - exercised with a patched import
        raise ImportError("cutmix_collate.viz needs torchvision to draw the grid; install it with pip install "
                          '"cutmix_collate[vision]" or, from a clone, pip install -e ".[vision]"') from error
    return tv_utils


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_mix_boxes(boxes: Any) -> Tuple[Tensor, Tensor, int]:
    """The CPU rows ``(B, 2 * dims)`` and partners ``(B,)`` of a :class:`MixBoxes`, and ``dims``."""
    rows, index = boxes if isinstance(boxes, (tuple, list)) and len(boxes) == 2 else (None, None)
    if not isinstance(rows, Tensor) or not isinstance(index, Tensor):
        raise TypeError("boxes must be a MixBoxes(boxes, index) as returned with return_boxes=True, "
                        f"got {describe(boxes)}")
    if rows.is_floating_point() or index.is_floating_point() or rows.dtype == torch.bool:
        raise TypeError(f"boxes.boxes and boxes.index must be integer tensors, got {rows.dtype} and {index.dtype}")
    if rows.dim() != 2 or rows.shape[1] not in (2, 4, 6):
        raise ValueError("boxes.boxes must have shape (B, 2 * dims), (start, end) per axis the boxes span, "
                         f"dims 1, 2 or 3, got shape {tuple(rows.shape)}")
    return rows.cpu().long(), index.cpu().long(), rows.shape[1] // 2


def _check_drawn_batch(images: Any, name: str, dims: int) -> Tensor:
    """The batch with a channel axis: ``(B, C, *spanned)``, or ``(B, C, F, T)`` for ``dims=1``."""
    expected = f"a real tensor of shape {_SHAPES[dims]} (boxes.boxes of {2 * dims} columns: dims={dims})"
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be {expected}, got {describe(images)}")
    if images.is_complex():
        raise TypeError(f"{name} must be {expected}, got dtype {images.dtype}")
    if images.dim() == dims + 1:
        images = images.unsqueeze(1)
    if not dims + 2 <= images.dim() <= max(4, dims + 2) or 0 in images.shape:
        raise ValueError(f"{name} must be {expected}, at least one non-empty image, got shape {tuple(images.shape)}")
    return images.detach()


def _check_sources(sources: Any, images: Tensor, dims: int) -> Tensor:
    sources = _check_drawn_batch(sources, "sources", dims)
    if sources.shape != images.shape:
        raise ValueError(f"sources must have the shape of images {tuple(images.shape)}, got {tuple(sources.shape)}")
    if (sources.dtype == torch.uint8) != (images.dtype == torch.uint8):
        raise ValueError(f"sources and images must both be uint8 or both of other dtypes, got {sources.dtype} "
                         f"and {images.dtype}")
    return sources


def _check_box_ranges(rows: Tensor, index: Tensor, batch: int, sizes: Tuple[int, ...]) -> None:
    """One box per image, inside it (``sizes`` of the spanned axes); every partner in the batch."""
    if rows.shape[0] != batch or tuple(index.shape) != (batch,):
        raise ValueError(f"boxes.boxes and boxes.index must have shapes ({batch}, {rows.shape[1]}) and ({batch},) "
                         f"to match images, got {tuple(rows.shape)} and {tuple(index.shape)}")
    valid = ((0 <= rows[:, 0::2]) & (rows[:, 0::2] <= rows[:, 1::2]) & (rows[:, 1::2] <= torch.tensor(sizes))).all(1)
    if not bool(valid.all()):
        i = int((~valid).nonzero()[0])
        raise ValueError(f"boxes.boxes rows must be (start, end) per spanned axis with 0 <= start <= end <= size, "
                         f"sizes {sizes}, got {tuple(rows[i].tolist())} at image {i}")
    if bool(((index < 0) | (index >= batch)).any()):
        raise ValueError(f"boxes.index must hold indices in [0, {batch}), got {index.tolist()}")


def _check_caption_target(
    target: Any, rows: Tensor, sizes: Tuple[int, ...]
) -> Tuple[Optional[Tensor], Optional[Tensor], Tensor]:
    """``(y_a, y_b, lam)``: labels only when they are class indices ``(B,)``; ``lam`` ``(B,)``.

    Without a target, ``lam`` is the share of each image outside its box.
    """
    batch = rows.shape[0]
    if target is None:
        return None, None, torch.as_tensor(lambda_of_box(sizes, tuple(rows.unbind(1))), dtype=torch.float64)
    if isinstance(target, Tensor):
        raise TypeError(f"target must be a MixedTarget (y_a, y_b, lam) or None, got {describe(target)}")
    y_a, y_b, lam, _ = split_target(target)
    lam = lam.detach().cpu() if isinstance(lam, Tensor) else lam
    lam = torch.as_tensor(check_lam(lam, batch_size=batch, name="target.lam"), dtype=torch.float64)
    # Class indices are written on the images; label vectors (multi-label, soft) are not.
    if y_a.dim() != 1 or y_a.is_floating_point():
        return None, None, lam.expand(batch)
    return y_a.detach().cpu().long(), y_b.detach().cpu().long(), lam.expand(batch)


def _check_display(
    pad_value: Any, value_range: Any, class_names: Any
) -> Optional[Tuple[float, float]]:
    """Check the display options; return ``value_range`` as floats."""
    if isinstance(pad_value, bool) or not isinstance(pad_value, numbers.Integral) or not 0 <= int(pad_value) <= 255:
        raise ValueError(f"pad_value must be an int in [0, 255], got {pad_value!r}")
    if class_names is not None and (isinstance(class_names, str) or not isinstance(class_names, Sequence)):
        raise TypeError(f"class_names must be a sequence of names, got {describe(class_names)}")
    if value_range is None:
        return None
    pair = isinstance(value_range, (tuple, list)) and len(value_range) == 2
    if not (pair and all(isinstance(v, numbers.Real) for v in value_range) and value_range[0] < value_range[1]):
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    return float(value_range[0]), float(value_range[1])


# --------------------------------------------------------------------------------------------
# Pictures: every image as a 2-D picture, every box as a rectangle in it
# --------------------------------------------------------------------------------------------


def _display_range(batches: List[Tensor], value_range: Optional[Tuple[float, float]]) -> Tuple[float, float]:
    """uint8: ``(0, 255)``; otherwise ``value_range`` or one min-max over all ``batches``."""
    if batches[0].dtype == torch.uint8:
        return 0.0, 255.0
    if value_range is not None:
        return value_range
    data = [torch.nan_to_num(b[:, :3].double()) for b in batches]
    return min(float(d.min()) for d in data), max(float(d.max()) for d in data)


def _depth(rows: Tensor, depth: int) -> Tensor:
    """``dims=3``: the slice through each box's centre; the volume's centre for an empty box."""
    return torch.where(rows[:, 1] > rows[:, 0], (rows[:, 0] + rows[:, 1]) // 2, depth // 2)


def _per_column(length: int) -> int:
    """Samples per column of a signal's traces: at most ``_MAX_COLUMNS`` columns."""
    return -(-length // _MAX_COLUMNS)


def _traces(signals: Tensor) -> Tensor:
    """Signals ``(B, C, T)`` in ``[0, 1]`` as traces ``(B, 1, C * _BAND, columns)`` (0 or 1)."""
    batch, channels, length = signals.shape
    per_column = _per_column(length)
    columns = -(-length // per_column)
    padded = torch.cat([signals, signals[..., -1:].expand(-1, -1, columns * per_column - length)], -1)
    chunks = padded.view(batch, channels, columns, per_column)
    before = torch.cat([chunks[..., :1, 0], chunks[..., :-1, -1]], -1)  # joins each column to the last
    top, bottom = torch.maximum(chunks.amax(-1), before), torch.minimum(chunks.amin(-1), before)
    y = torch.arange(_BAND, dtype=torch.float64).view(_BAND, 1)  # row 0: the highest value
    first, last = (((1 - v) * (_BAND - 1)).round().unsqueeze(-2) for v in (top, bottom))
    lit = (y >= first) & (y <= last)
    return lit.reshape(batch, 1, channels * _BAND, columns).double()


def _pictures(batch: Tensor, rows: Tensor, low: float, high: float) -> Tensor:
    """Each image as a uint8 picture ``(B, 1 or 3, H', W')`` of at most its first three channels.

    ``dims=3``: the slice through the box's centre; ``dims=1``: a signal's traces (a spectrogram
    ``(B, C, F, T)`` is a picture as it is). Values are mapped from ``(low, high)`` to 0-255.
    """
    unit = (torch.nan_to_num(batch[:, :3].double()).clamp(low, high) - low) / max(high - low, 1e-12)
    if rows.shape[1] == 6:
        unit = unit[torch.arange(len(unit)), :, _depth(rows, batch.shape[2])]
    elif unit.dim() == 3:
        unit = _traces(unit)
    if unit.shape[1] == 2:  # two channels: red and green
        unit = torch.cat([unit, torch.zeros_like(unit[:, :1])], 1)
    return (unit * 255.0).round().to(torch.uint8)


def _flat_boxes(rows: Tensor, shape: Tuple[int, ...]) -> List[Box]:
    """Each box ``(y0, y1, x0, x1)`` in its picture's pixels (see :func:`_pictures`); ``None`` if empty."""
    empty = (rows[:, 0::2] == rows[:, 1::2]).any(1).tolist()
    if rows.shape[1] == 6:
        rows = rows[:, 2:]
    elif rows.shape[1] == 2:  # a time segment over every band or frequency bin
        signal = len(shape) == 3
        per_column = _per_column(shape[-1]) if signal else 1
        height = min(shape[1], 3) * _BAND if signal else shape[2]
        zero = torch.zeros_like(rows[:, 0])
        rows = torch.stack([zero, zero + height, rows[:, 0] // per_column, -(-rows[:, 1] // per_column)], 1)
    return [None if e else (y0, y1, x0, x1) for e, (y0, y1, x0, x1) in zip(empty, rows.tolist())]


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


class _Style(NamedTuple):
    """How every tile is drawn."""

    scale: int
    caption_height: int
    box_color: Color
    box_width: int
    font: Optional[str]
    font_size: Optional[int]


def _style(
    height: int, width: int, scale: Optional[int], box_color: Color, box_width: Optional[int],
    font: Optional[str], font_size: Optional[int],
) -> _Style:
    if scale is None:
        scale = max(1, math.ceil(_DISPLAY_SIDE / min(height, width)))
    scale = check_positive_int(scale, "scale")
    box_width = max(1, scale // 2) if box_width is None else check_positive_int(box_width, "box_width")
    from PIL import ImageFont

    font_obj = ImageFont.load_default() if font is None else ImageFont.truetype(font=font, size=font_size or 10)
    text_bottom = int(font_obj.getbbox("Ag|#=0.9")[3])
    # The label sits 2 px (outline width 1 + margin 1) below the band's top, with 2 px below it.
    return _Style(scale, text_bottom + 6, box_color, box_width, font, font_size)


def _tile(tv_utils: Any, image: Tensor, box: Box, caption: str, style: _Style) -> Tensor:
    """One annotated tile: a caption band above the upscaled image, the box outlined."""
    scale, band_height = style.scale, style.caption_height
    big = image.expand(3, -1, -1).repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    band = torch.tensor(_CAPTION_BACKGROUND, dtype=torch.uint8).view(3, 1, 1)
    tile = torch.cat([band.expand(3, band_height, big.shape[-1]), big], dim=1).contiguous()
    if box is not None:
        y0, y1, x0, x1 = box
        # The outline covers the border pixels of the pasted region itself (PIL rectangles
        # include both corners and grow inwards), shifted below the caption band.
        corners = torch.tensor([[x0 * scale, y0 * scale + band_height, x1 * scale - 1, y1 * scale - 1 + band_height]])
        tile = tv_utils.draw_bounding_boxes(tile, corners, colors=style.box_color, width=style.box_width)
    # The caption is the label of a "box" covering the band, outlined in the band's colour.
    band_box = torch.tensor([[0, 0, tile.shape[-1] - 1, band_height - 1]])
    return tv_utils.draw_bounding_boxes(
        tile, band_box, labels=[caption], colors=_CAPTION_BACKGROUND, label_colors=_CAPTION_TEXT,
        width=1, font=style.font, font_size=style.font_size,
    )


class _Captions(NamedTuple):
    sources: List[str]
    partners: List[str]
    mixed: List[str]


def _captions(
    y_a: Optional[Tensor], y_b: Optional[Tensor], lam: Tensor, index: Tensor,
    boxes: List[Box], class_names: Optional[Sequence[str]],
) -> _Captions:
    """The caption of every image in each row; an image that is its own partner says so."""

    names = () if class_names is None else class_names

    def name(labels: Optional[Tensor], i: int) -> Optional[str]:
        if labels is None:
            return None
        value = int(labels[i])
        return str(names[value]) if 0 <= value < len(names) else str(value)

    sources = [f"#{i}" if name(y_a, i) is None else f"#{i} y={name(y_a, i)}" for i in range(len(index))]
    partners, mixed = [], []
    for i, j in enumerate(index.tolist()):
        partners.append(sources[j] + (" (self)" if j == i else ""))
        partner = "self" if j == i else name(y_b, i)
        parts = [p for p in (name(y_a, i), None if boxes[i] is None else partner) if p is not None]
        mixed.append(" ".join(filter(None, ["+".join(parts), f"lam={float(lam[i]):.2f}"])))
    return _Captions(sources, partners, mixed)


def _three_rows(
    tv_utils: Any, pictures: List[Tensor], boxes: List[Box],
    captions: _Captions, nrow: int, style: _Style, pad_value: int,
) -> Tuple[List[Tensor], int]:
    """Tiles of the three-row layout, a title tile first in each row; and tiles per row.

    ``pictures`` are the mixed images, their sources and their partners, aligned by image.
    """
    mixed, sources, partners = pictures
    shown = len(mixed)
    per_row = min(nrow, shown)
    blank_image = torch.full(mixed.shape[1:], pad_value, dtype=torch.uint8)
    titles = [_tile(tv_utils, blank_image, None, title, style) for title in _ROW_TITLES]
    blank = torch.full_like(titles[0], pad_value)
    tiles: List[Tensor] = []
    for start in range(0, shown, per_row):
        chunk = range(start, min(start + per_row, shown))
        rows = (
            [_tile(tv_utils, sources[i], None, captions.sources[i], style) for i in chunk],
            [_tile(tv_utils, partners[i], boxes[i], captions.partners[i], style) for i in chunk],
            [_tile(tv_utils, mixed[i], boxes[i], captions.mixed[i], style) for i in chunk],
        )
        for title, row in zip(titles, rows):
            tiles += [title] + row + [blank] * (per_row - len(chunk))
    return tiles, per_row + 1


def mixed_grid(
    images: Tensor,
    target: Optional[Sequence[Any]],
    boxes: MixBoxes,
    *,
    sources: Optional[Tensor] = None,
    nrow: int = 8,
    max_images: Optional[int] = 16,
    scale: Optional[int] = None,
    value_range: Optional[Tuple[float, float]] = None,
    class_names: Optional[Sequence[str]] = None,
    box_color: Color = "red",
    box_width: Optional[int] = None,
    padding: int = 2,
    pad_value: int = 255,
    font: Optional[str] = None,
    font_size: Optional[int] = None,
) -> Tensor:
    """Draw a mixed batch as one image, each pasted box outlined and ``lam`` written above it.

    Without ``sources`` the grid shows the mixed images, ``nrow`` per row. With ``sources``
    (the batch before mixing) each group of ``nrow`` images takes three rows, each led by a
    title tile: ``"sources"``; ``"partners: cut box"`` (``sources[boxes.index]``, with the
    region that was cut out outlined); ``"mixed"`` (with the pasted region outlined). The
    outline is drawn on the border pixels of the pasted region, after upscaling, so it is exact
    to the pixel. An image with an empty box was not mixed and gets no outline.

    The number of axes the boxes span, ``dims``, is read from ``boxes.boxes``, of shape
    ``(B, 2 * dims)``:

    - ``dims=2``: images ``(B, C, H, W)`` or ``(B, H, W)``, boxes ``(y0, y1, x0, x1)``.
    - ``dims=1``: boxes ``(t0, t1)`` on the last axis. A spectrogram ``(B, C, F, T)`` is drawn
      as an image (frequency bin 0 at the top), the pasted time segment outlined over every bin.
      A signal ``(B, C, T)`` or ``(B, T)`` is drawn as a plot: one white trace per channel (the
      first three) on black, each channel in a band 64 pixels high (the highest value at the top), the pasted
      segment outlined. A signal longer than 512 samples is drawn at ``k = ceil(T / 512)``
      samples per column (each column spans their minimum to maximum), its outline then
      widened to whole columns.
    - ``dims=3``: volumes ``(B, C, D, H, W)`` or ``(B, D, H, W)``, boxes
      ``(z0, z1, y0, y1, x0, x1)`` (``z`` on the ``D`` axis): each column shows the slice
      ``z = (z0 + z1) // 2`` through its box's centre (the volume's centre slice ``D // 2`` for
      an empty box), the same slice of its source and its partner, and ``z=<slice>`` in the
      mixed caption.

    Captions: sources ``"#i y=<label>"``; partners ``"#j y=<label>"`` with ``j`` the partner's
    position in the batch, plus ``" (self)"`` for an image that is its own partner (a fixed
    point of the permutation: its pixels do not change); mixed images
    ``"<own>+<partner> lam=0.62"``, with ``self`` as the partner for their own partner. Labels
    are written when ``target`` holds class indices; otherwise only ``lam`` (and ``self``).

    Display: uint8 images are shown as they are. Images of any other real dtype (float,
    uint16, int, bool) are mapped to ``[0, 255]`` with one min-max over everything shown (the
    mixed images, sources and partners, whole volumes for ``dims=3``: normalised inputs display
    as they are, up to contrast), or with ``value_range=(low, high)`` when given (values are clipped to it).
    One-channel images are shown in grey, two channels as red and green, and of more than
    three channels (RGBA, multispectral) the first three as RGB. Images are upscaled by
    ``scale`` (nearest neighbour) so the text and outlines are legible on small images.

    Args:
        images: The mixed batch, any real dtype, any device (it is copied to the CPU); shapes
            as listed above.
        target: The batch's :class:`~cutmix_collate.MixedTarget` ``(y_a, y_b, lam)``, for the
            captions: ``lam`` a float or a ``(B,)`` tensor; labels are written when ``y_a`` and
            ``y_b`` are ``(B,)`` class indices. ``None``: ``lam`` is computed from the boxes.
        boxes: The :class:`~cutmix_collate.MixBoxes` used to mix the batch: ``boxes`` int
            ``(B, 2 * dims)`` rows, ``(start, end)`` per spanned axis; ``index`` int ``(B,)``
            partners.
        sources: The batch before mixing, the same shape as ``images`` and both uint8 or both
            not; adds the source and partner rows.
        nrow: Images per row (not counting the title tile), an int >= 1.
        max_images: Draw only the first ``max_images`` images of the batch (partners may be any
            image of the batch); ``None`` draws all.
        scale: Integer upscaling factor; by default the smallest that makes the shorter side at
            least 128 pixels.
        value_range: ``(low, high)`` of non-uint8 images for display; ``None`` uses min-max.
        class_names: Names for class indices in the captions.
        box_color: Outline colour, a PIL colour name, ``"#rrggbb"`` or an RGB tuple.
        box_width: Outline width in display pixels; by default ``max(1, scale // 2)``.
        padding: Pixels between tiles (``make_grid``'s ``padding``).
        pad_value: Grey level of the padding (and of blank tiles), 0 to 255.
        font: A TrueType font file for the captions; torchvision's default font when ``None``.
        font_size: Size of ``font`` in points (used only with ``font``).

    Returns:
        A uint8 tensor of shape ``(3, H', W')``: ready for ``SummaryWriter.add_image`` or
        :func:`save_mixed_grid`.

    Raises:
        TypeError: ``images``, ``sources``, ``target`` or ``boxes`` is of the wrong type.
        ValueError: shapes that do not match, boxes outside the images, or a bad option.
        ImportError: torchvision is not installed.
    """
    tv_utils = _require_torchvision()
    rows, index, dims = _check_mix_boxes(boxes)
    images = _check_drawn_batch(images, "images", dims)
    sources = None if sources is None else _check_sources(sources, images, dims)
    sizes = tuple(images.shape[-dims:])
    _check_box_ranges(rows, index, images.shape[0], sizes)
    y_a, y_b, lam = _check_caption_target(target, rows, sizes)
    nrow = check_positive_int(nrow, "nrow")
    shown = len(index) if max_images is None else min(len(index), check_positive_int(max_images, "max_images"))
    padding = check_positive_int(padding, "padding", minimum=0)
    value_range = _check_display(pad_value, value_range, class_names)
    drawn = [images[:shown]] if sources is None else [images[:shown], sources[:shown], sources[index[:shown]]]
    batches = [batch.cpu() for batch in drawn]  # only the images drawn leave their device
    low, high = _display_range(batches, value_range)
    pictures = [_pictures(batch, rows[:shown], low, high) for batch in batches]
    style = _style(pictures[0].shape[-2], pictures[0].shape[-1], scale, box_color, box_width, font, font_size)
    box_list = _flat_boxes(rows, tuple(images.shape))
    captions = _captions(y_a, y_b, lam, index, box_list, class_names)
    if dims == 3:
        slices = _depth(rows, sizes[0]).tolist()
        captions = captions._replace(mixed=[f"{c} z={z}" for c, z in zip(captions.mixed, slices)])
    if sources is None:
        tiles = [_tile(tv_utils, pictures[0][i], box_list[i], captions.mixed[i], style) for i in range(shown)]
        per_row = min(nrow, shown)
    else:
        tiles, per_row = _three_rows(tv_utils, pictures, box_list, captions, nrow, style, pad_value)
    return tv_utils.make_grid(torch.stack(tiles), nrow=per_row, padding=padding, pad_value=pad_value)


def save_mixed_grid(
    images: Tensor,
    target: Optional[Sequence[Any]],
    boxes: MixBoxes,
    path: Union[str, "os.PathLike[str]"],
    **kwargs: Any,
) -> Tensor:
    """Draw a mixed batch with :func:`mixed_grid` and write it to ``path`` as a PNG.

    Args:
        images: The mixed batch, ``(B, C, H, W)`` or ``(B, H, W)`` (see :func:`mixed_grid`).
        target: The batch's :class:`~cutmix_collate.MixedTarget`, or ``None``.
        boxes: The :class:`~cutmix_collate.MixBoxes` used to mix the batch.
        path: Where to write the PNG (``str`` or path-like); missing parent folders are created.
        **kwargs: Keyword options of :func:`mixed_grid` (``sources``, ``nrow``, ...).

    Returns:
        The ``(3, H', W')`` uint8 grid that was written.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path-like object, got {describe(path)}")
    grid = mixed_grid(images, target, boxes, **kwargs)
    from PIL import Image

    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy()).save(os.fspath(path), format="PNG")
    return grid
