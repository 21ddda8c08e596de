"""Pictures of mixed batches: each pasted box outlined, ``lam`` written on each image.

:func:`mixed_grid` turns a mixed batch and the :class:`~cutmix_collate.MixBoxes` that made it
(``CutMixCollator(return_boxes=True)`` or ``cutmix_batch(..., return_boxes=True)``) into one
``(3, H', W')`` uint8 image, the kind of grid one logs to TensorBoard
(``writer.add_image("cutmix", grid)``). The outlines come from the boxes the mixing used, so
they are exact: each outline is drawn on the border pixels of the pasted region itself.
:func:`save_mixed_grid` writes the grid as a PNG.

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
from .functional import MixBoxes, box_lambda

__all__ = ["mixed_grid", "save_mixed_grid"]

Color = Union[str, Tuple[int, int, int]]
Box = Optional[Tuple[int, int, int, int]]

#: Images are upscaled (nearest neighbour) until their shorter side reaches this many pixels,
#: so that the captions (torchvision's default font is about 10 px high) and outlines are legible.
_DISPLAY_SIDE = 128
_CAPTION_BACKGROUND = (32, 32, 32)
_CAPTION_TEXT = (255, 255, 255)
_ROW_TITLES = ("sources", "partners: cut box", "mixed")


def _require_torchvision() -> Any:
    try:
        import torchvision.utils as tv_utils
    except ImportError as error:  # pragma: no cover - exercised with a patched import
        raise ImportError(
            "cutmix_collate.viz needs torchvision to draw the grid; install it with "
            'pip install "cutmix_collate[vision]" or, from a clone, pip install -e ".[vision]"'
        ) from error
    return tv_utils


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_images(images: Any, name: str) -> Tensor:
    """A batch as a CPU ``(B, C, H, W)`` with ``C`` 1 or 3, dtype uint8 or floating point."""
    expected = "a uint8 or floating-point tensor of shape (B, C, H, W) or (B, H, W) with C 1 or 3"
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be {expected}, got {describe(images)}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(f"{name} must be {expected}, got dtype {images.dtype}")
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3) or 0 in images.shape:
        raise ValueError(f"{name} must be {expected}, at least one non-empty image, got shape {tuple(images.shape)}")
    return images.detach().cpu()


def _check_sources(sources: Any, images: Tensor) -> Tensor:
    sources = _check_images(sources, "sources")
    if sources.shape != images.shape:
        raise ValueError(f"sources must have the shape of images {tuple(images.shape)}, got {tuple(sources.shape)}")
    if (sources.dtype == torch.uint8) != (images.dtype == torch.uint8):
        raise ValueError(
            f"sources and images must both be uint8 or both floating point, got {sources.dtype} and {images.dtype}"
        )
    return sources


def _check_boxes(boxes: Any, batch: int, height: int, width: int) -> Tuple[Tensor, Tensor]:
    expected = "a MixBoxes(boxes, index) as returned with return_boxes=True"
    if not isinstance(boxes, (tuple, list)) or len(boxes) != 2:
        raise TypeError(f"boxes must be {expected}, got {describe(boxes)}")
    rows, index = boxes
    if not isinstance(rows, Tensor) or not isinstance(index, Tensor):
        raise TypeError(f"boxes must be {expected}, got parts {describe(rows)} and {describe(index)}")
    if rows.is_floating_point() or index.is_floating_point() or rows.dtype == torch.bool:
        raise TypeError(f"boxes.boxes and boxes.index must be integer tensors, got {rows.dtype} and {index.dtype}")
    if tuple(rows.shape) != (batch, 4):
        raise ValueError(f"boxes.boxes must have shape ({batch}, 4) to match images, got {tuple(rows.shape)}")
    if tuple(index.shape) != (batch,):
        raise ValueError(f"boxes.index must have shape ({batch},) to match images, got {tuple(index.shape)}")
    rows, index = rows.cpu().long(), index.cpu().long()
    y0, y1, x0, x1 = rows.unbind(1)
    valid = (0 <= y0) & (y0 <= y1) & (y1 <= height) & (0 <= x0) & (x0 <= x1) & (x1 <= width)
    if not bool(valid.all()):
        i = int((~valid).nonzero()[0])
        raise ValueError(
            f"boxes.boxes rows must be (y0, y1, x0, x1) with 0 <= y0 <= y1 <= {height} and "
            f"0 <= x0 <= x1 <= {width}, got {tuple(rows[i].tolist())} at image {i}"
        )
    if bool(((index < 0) | (index >= batch)).any()):
        raise ValueError(f"boxes.index must hold indices in [0, {batch}), got {index.tolist()}")
    return rows, index


def _check_target(
    target: Any, rows: Tensor, height: int, width: int
) -> Tuple[Optional[Tensor], Optional[Tensor], Tensor]:
    """``(y_a, y_b, lam)``: labels only when they are class indices ``(B,)``; ``lam`` ``(B,)``.

    Without a target, ``lam`` is the share of each image outside its box (:func:`box_lambda`).
    """
    batch = rows.shape[0]
    if target is None:
        return None, None, box_lambda(height, width, tuple(rows.unbind(1)))
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
    if isinstance(pad_value, bool) or not isinstance(pad_value, numbers.Integral) or not 0 <= pad_value <= 255:
        raise ValueError(f"pad_value must be an int in [0, 255], got {pad_value!r}")
    if class_names is not None and (isinstance(class_names, str) or not isinstance(class_names, Sequence)):
        raise TypeError(f"class_names must be a sequence of names, got {describe(class_names)}")
    if value_range is None:
        return None
    if (
        not isinstance(value_range, (tuple, list)) or len(value_range) != 2
        or not all(isinstance(v, numbers.Real) for v in value_range)
        or not float(value_range[0]) < float(value_range[1])
    ):
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    return float(value_range[0]), float(value_range[1])


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


def _to_uint8(batches: List[Tensor], value_range: Optional[Tuple[float, float]]) -> List[Tensor]:
    """uint8 copies of the batches; float batches share one scale (min-max over all of them)."""
    if batches[0].dtype == torch.uint8:
        return [b.clone() for b in batches]
    data = [torch.nan_to_num(b.double()) for b in batches]
    if value_range is None:
        low, high = min(float(d.min()) for d in data), max(float(d.max()) for d in data)
    else:
        low, high = value_range
    span = max(high - low, 1e-12)
    return [((d.clamp(low, high) - low) / span * 255.0).round().to(torch.uint8) for d in data]


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

    def name(labels: Optional[Tensor], i: int) -> Optional[str]:
        if labels is None:
            return None
        value = int(labels[i])
        ok = class_names is not None and 0 <= value < len(class_names)
        return str(class_names[value]) if ok else str(value)

    sources = [f"#{i}" if name(y_a, i) is None else f"#{i} y={name(y_a, i)}" for i in range(len(index))]
    partners, mixed = [], []
    for i, j in enumerate(index.tolist()):
        partners.append(sources[j] + (" (self)" if j == i else ""))
        partner = "self" if j == i else name(y_b, i)
        parts = [p for p in (name(y_a, i), None if boxes[i] is None else partner) if p is not None]
        mixed.append(" ".join(filter(None, ["+".join(parts), f"lam={float(lam[i]):.2f}"])))
    return _Captions(sources, partners, mixed)


def _three_rows(
    tv_utils: Any, mixed: Tensor, sources: Tensor, index: Tensor, boxes: List[Box],
    captions: _Captions, shown: int, nrow: int, style: _Style, pad_value: int,
) -> Tuple[List[Tensor], int]:
    """Tiles of the three-row layout, a title tile first in each row; and tiles per row."""
    per_row = min(nrow, shown)
    blank_image = torch.full(mixed.shape[1:], pad_value, dtype=torch.uint8)
    titles = [_tile(tv_utils, blank_image, None, title, style) for title in _ROW_TITLES]
    blank = torch.full_like(titles[0], pad_value)
    tiles: List[Tensor] = []
    for start in range(0, shown, per_row):
        chunk = range(start, min(start + per_row, shown))
        rows = (
            [_tile(tv_utils, sources[i], None, captions.sources[i], style) for i in chunk],
            [_tile(tv_utils, sources[int(index[i])], boxes[i], captions.partners[i], style) for i in chunk],
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

    Captions: sources ``"#i y=<label>"``; partners ``"#j y=<label>"`` with ``j`` the partner's
    position in the batch, plus ``" (self)"`` for an image that is its own partner (a fixed
    point of the permutation: its pixels do not change); mixed images
    ``"<own>+<partner> lam=0.62"``, with ``self`` as the partner for their own partner. Labels
    are written when ``target`` holds class indices; otherwise only ``lam`` (and ``self``).

    Display: float images are mapped to ``[0, 255]`` with one min-max over everything shown
    (the mixed images and ``sources``: normalised inputs display as they are, up to contrast), or
    with ``value_range=(low, high)`` when given (values are clipped to it). uint8 images are
    shown as they are. One-channel images are shown in grey. Images are upscaled by ``scale``
    (nearest neighbour) so the text and outlines are legible on small images.

    Args:
        images: The mixed batch, ``(B, C, H, W)`` or ``(B, H, W)``, ``C`` 1 or 3, uint8 or
            floating point, any device (it is copied to the CPU).
        target: The batch's :class:`~cutmix_collate.MixedTarget` ``(y_a, y_b, lam)``, for the
            captions: ``lam`` a float or a ``(B,)`` tensor; labels are written when ``y_a`` and
            ``y_b`` are ``(B,)`` class indices. ``None``: ``lam`` is computed from the boxes.
        boxes: The :class:`~cutmix_collate.MixBoxes` used to mix the batch: ``boxes`` int
            ``(B, 4)`` rows ``(y0, y1, x0, x1)``, ``index`` int ``(B,)`` partners.
        sources: The batch before mixing, the same shape and dtype kind (uint8 or float) as
            ``images``; adds the source and partner rows.
        nrow: Images per row (not counting the title tile), an int >= 1.
        max_images: Draw only the first ``max_images`` images of the batch (partners may be any
            image of the batch); ``None`` draws all.
        scale: Integer upscaling factor; by default the smallest that makes the shorter side at
            least 128 pixels.
        value_range: ``(low, high)`` of float images for display; ``None`` uses min-max.
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
    images = _check_images(images, "images")
    batch, _, height, width = images.shape
    sources = None if sources is None else _check_sources(sources, images)
    rows, index = _check_boxes(boxes, batch, height, width)
    y_a, y_b, lam = _check_target(target, rows, height, width)
    nrow = check_positive_int(nrow, "nrow")
    shown = batch if max_images is None else min(batch, check_positive_int(max_images, "max_images"))
    padding = check_positive_int(padding, "padding", minimum=0)
    value_range = _check_display(pad_value, value_range, class_names)
    style = _style(height, width, scale, box_color, box_width, font, font_size)
    box_list: List[Box] = [
        None if y1 == y0 or x1 == x0 else (y0, y1, x0, x1) for y0, y1, x0, x1 in rows.tolist()
    ]
    captions = _captions(y_a, y_b, lam, index, box_list, class_names)
    display = _to_uint8([images] if sources is None else [images, sources], value_range)
    if sources is None:
        tiles = [_tile(tv_utils, display[0][i], box_list[i], captions.mixed[i], style) for i in range(shown)]
        per_row = min(nrow, shown)
    else:
        tiles, per_row = _three_rows(
            tv_utils, display[0], display[1], index, box_list, captions, shown, nrow, style, pad_value
        )
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
