"""CutMix as pure functions: draw the parameters, apply them to a batch.

CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
Localizable Features", ICCV 2019) pastes a box cut from a partner image into each image and
mixes the labels in proportion to the pixels: ``lam`` is the share of each image that is still
its own. This module keeps "draw the random parameters" (:func:`sample_lambda`,
:func:`rand_box`) apart from "apply them" (:func:`cutmix_batch`), holds no state and works on
any device. The collator (:mod:`cutmix_collate.collator`) draws its boxes here too.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor

from ._checks import describe, check_alpha, check_choice, check_lam, check_positive_int, check_prob

__all__ = [
    "MixBoxes",
    "MixedTarget",
    "box_lambda",
    "cutmix_batch",
    "mixup_batch",
    "rand_box",
    "sample_lambda",
]


class MixedTarget(NamedTuple):
    """The target of a mixed batch: ``images, (y_a, y_b, lam) = batch`` unpacks it.

    Attributes:
        y_a: The batch's own labels, in order: class indices ``(B,)`` or label vectors ``(B, K)``.
        y_b: The labels of each image's partner, same shape and dtype as ``y_a``.
        lam: The share of each image that is still its own: a Python float (one box for the
            batch) or a float32 tensor of shape ``(B,)`` (one box per sample).
    """

    y_a: Tensor
    y_b: Tensor
    lam: Union[float, Tensor]

    def to(
        self, device: Union[str, int, torch.device, None] = None, *, non_blocking: bool = False
    ) -> "MixedTarget":
        """Move the tensors to ``device``; dtypes are kept and a float ``lam`` stays a float.

        Args:
            device: Target device (``"cuda"``, ``0``, a :class:`torch.device`), or ``None``
                to keep the current one.
            non_blocking: Passed on to :meth:`torch.Tensor.to` (useful with pinned memory).

        Returns:
            A new :class:`MixedTarget` on ``device``.
        """
        if device is None:
            return self
        if isinstance(device, int) and not isinstance(device, bool):
            device = torch.device("cuda", device)
        device = torch.device(device)
        lam = self.lam.to(device, non_blocking=non_blocking) if isinstance(self.lam, Tensor) else self.lam
        return MixedTarget(
            self.y_a.to(device, non_blocking=non_blocking),
            self.y_b.to(device, non_blocking=non_blocking),
            lam,
        )


class MixBoxes(NamedTuple):
    """Where each image's pasted box is and whose pixels fill it.

    Attributes:
        boxes: int64 tensor of shape ``(B, 4)``, one row ``(y0, y1, x0, x1)`` per image: rows
            ``y0:y1`` and columns ``x0:x1`` come from the partner. An empty box (``y0 == y1`` or
            ``x0 == x1``) means the image was not mixed.
        index: int64 tensor of shape ``(B,)``: image ``i``'s partner is ``index[i]`` in the batch.
    """

    boxes: Tensor
    index: Tensor


Mode = Literal["batch", "elem"]
MODES = ("batch", "elem")


def sample_lambda(
    alpha: float,
    generator: Optional[torch.Generator] = None,
    *,
    size: Optional[int] = None,
    device: Union[str, torch.device, None] = None,
) -> Union[float, Tensor]:
    """Draw ``lam ~ Beta(alpha, alpha)`` from torch's random number generator.

    Args:
        alpha: Concentration of the symmetric Beta distribution, a finite number > 0.
            ``alpha = 1`` is uniform on ``[0, 1]``, as in the CutMix paper.
        generator: Generator to draw from; torch's default generator when ``None`` (the
            one a DataLoader seeds per worker).
        size: ``None`` for one draw returned as a Python float, or ``B`` for a float32
            tensor of shape ``(B,)``.
        device: Device of the tensor when ``size`` is given; the generator's device (or
            the CPU) when ``None``.

    Returns:
        A float in ``[0, 1]``, or a float32 tensor of shape ``(size,)`` with values in ``[0, 1]``.
    """
    alpha = check_alpha(alpha)
    if size is not None:
        check_positive_int(size, "size", minimum=0)
    n = 1 if size is None else size
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    # Beta(a, a) = G0 / (G0 + G1) with G ~ Gamma(a), computed in log space so that a small
    # alpha, where both gammas underflow (torch clamps them to the smallest double), still
    # gives the right distribution: log G(a) = log G(a + 1) + log(U) / a (Marsaglia-Tsang's
    # boost), and lam = sigmoid(log G0 - log G1).
    conc = torch.full((2, n), alpha + 1.0, dtype=torch.float64, device=device)
    log_gamma = torch._standard_gamma(conc, generator=generator).log_()
    uniform = torch.rand((2, n), dtype=torch.float64, device=device, generator=generator)
    log_gamma += uniform.clamp_(min=torch.finfo(torch.float64).tiny).log_() / alpha
    lam = torch.sigmoid(log_gamma[0] - log_gamma[1])
    if size is None:
        return float(lam[0])
    return lam.to(torch.float32)


def rand_box(
    height: int,
    width: int,
    lam: Union[float, Tensor],
    generator: Optional[torch.Generator] = None,
) -> Union[Tuple[int, int, int, int], Tuple[Tensor, Tensor, Tensor, Tensor]]:
    """Draw the box to paste: sides ``sqrt(1 - lam)`` of the image's, centre uniform, clipped.

    The centre is a pixel drawn uniformly over the image, so boxes near the border are
    clipped and cover less than ``1 - lam`` of the image: recompute ``lam`` from the box
    (:func:`box_lambda`), as :func:`cutmix_batch` and the collator do.

    Args:
        height: Image height ``H`` in pixels, an int >= 1.
        width: Image width ``W`` in pixels, an int >= 1.
        lam: The drawn mixing weight, a float in ``[0, 1]``, or a tensor of shape ``(B,)``
            for one box per sample.
        generator: Generator to draw the centre from; torch's default generator when ``None``.

    Returns:
        ``(y0, y1, x0, x1)``: rows ``y0:y1`` and columns ``x0:x1``, with
        ``0 <= y0 <= y1 <= H`` and ``0 <= x0 <= x1 <= W``. Python ints for a float ``lam``;
        int64 tensors of shape ``(B,)`` on ``lam``'s device for a tensor ``lam``.
    """
    height = check_positive_int(height, "height")
    width = check_positive_int(width, "width")
    if isinstance(lam, Tensor):
        lam = check_lam(lam)
        if lam.dim() != 1:
            raise ValueError(f"lam must be a float or a tensor of shape (B,), got shape {tuple(lam.shape)}")
        n, device = lam.shape[0], lam.device
        cut = torch.sqrt(1.0 - lam.to(torch.float64))
        cut_h = (cut * height).floor().long()
        cut_w = (cut * width).floor().long()
        g_device = generator.device if generator is not None else device
        cy = torch.randint(0, height, (n,), generator=generator, device=g_device).to(device)
        cx = torch.randint(0, width, (n,), generator=generator, device=g_device).to(device)
        y0 = cy - cut_h // 2
        x0 = cx - cut_w // 2
        return (
            y0.clamp(0, height), (y0 + cut_h).clamp(0, height),
            x0.clamp(0, width), (x0 + cut_w).clamp(0, width),
        )
    lam = check_lam(lam)
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    centre = torch.randint(0, height * width, (1,), generator=generator,
                           device=generator.device if generator is not None else "cpu")
    cy, cx = divmod(int(centre), width)
    y0, x0 = cy - cut_h // 2, cx - cut_w // 2
    return (
        min(max(y0, 0), height), min(max(y0 + cut_h, 0), height),
        min(max(x0, 0), width), min(max(x0 + cut_w, 0), width),
    )


def box_lambda(
    height: int, width: int, box: Union[Tuple[int, int, int, int], Tuple[Tensor, Tensor, Tensor, Tensor]]
) -> Union[float, Tensor]:
    """The share of an ``H x W`` image outside ``box``: ``1 - box_area / (H * W)``.

    Args:
        height: Image height ``H``.
        width: Image width ``W``.
        box: ``(y0, y1, x0, x1)`` as ints, or as tensors of shape ``(B,)``.

    Returns:
        A float for an int box, a float32 tensor of shape ``(B,)`` for a tensor box.
    """
    y0, y1, x0, x1 = box
    if isinstance(y0, Tensor):
        if y0.device.type == "cpu" and not bool(
            ((0 <= y0) & (y0 <= y1) & (y1 <= height) & (0 <= x0) & (x0 <= x1) & (x1 <= width)).all()
        ):
            raise ValueError(
                f"box must satisfy 0 <= y0 <= y1 <= {height} and 0 <= x0 <= x1 <= {width} "
                "for every sample (a box inside the image, as rand_box returns)"
            )
        area = (y1 - y0) * (x1 - x0)
        return (1.0 - area.to(torch.float64) / (height * width)).to(torch.float32)
    if not (0 <= y0 <= y1 <= height and 0 <= x0 <= x1 <= width):
        raise ValueError(
            f"box must satisfy 0 <= y0 <= y1 <= {height} and 0 <= x0 <= x1 <= {width} "
            f"(a box inside the image, as rand_box returns), got {(y0, y1, x0, x1)}"
        )
    return 1.0 - (y1 - y0) * (x1 - x0) / (height * width)


class _Draw(NamedTuple):
    """The random parameters of one mixed batch (see :func:`draw_params`)."""

    mixed: bool
    index: Tensor  # (B,) int64 partner of each image
    box: Optional[Tuple[Any, Any, Any, Any]]  # ints / (B,) int64 tensors; None for MixUp
    lam: Union[float, Tensor]  # float (batch mode) or (B,) float32 (elem mode)


Kind = Literal["cutmix", "mixup"]
KINDS = ("cutmix", "mixup")


def draw_params(
    batch_size: int,
    height: int,
    width: int,
    *,
    alpha: float,
    prob: float,
    mode: str,
    kind: str = "cutmix",
    generator: Optional[torch.Generator] = None,
    device: Union[str, torch.device, None] = None,
) -> _Draw:
    """Draw everything random about one batch: whether to mix, partners, boxes and ``lam``.

    The single place where mixing parameters are drawn: :func:`cutmix_batch`,
    :func:`mixup_batch` and the collators call it. For CutMix ``lam`` is recomputed from the
    clipped box; for MixUp it is the Beta draw itself and there is no box. An unmixed batch
    (probability ``1 - prob``) gets the identity as partners, empty boxes and ``lam = 1``.

    Scalars (the mix decision, the batch-mode ``lam`` and box) are drawn from ``generator``,
    or torch's default CPU generator, so no accelerator is synchronised. Tensors (partners,
    per-sample ``lam`` and boxes) are drawn on ``generator``'s device, or on ``device``
    with its default generator, and end up on ``device``.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    scalar_device = generator.device if generator is not None else torch.device("cpu")
    tensor_device = generator.device if generator is not None else device
    mixed = prob >= 1.0 or (
        prob > 0.0 and float(torch.rand((), generator=generator, device=scalar_device)) < prob
    )
    if not mixed:
        index = torch.arange(batch_size, device=device)
        if mode == "batch":
            return _Draw(False, index, (0, 0, 0, 0) if kind == "cutmix" else None, 1.0)
        zeros = torch.zeros(batch_size, dtype=torch.long, device=device)
        box = (zeros,) * 4 if kind == "cutmix" else None
        return _Draw(False, index, box, torch.ones(batch_size, device=device))
    index = torch.randperm(batch_size, generator=generator, device=tensor_device).to(device)
    if mode == "batch":
        lam = sample_lambda(alpha, generator)
        if kind == "mixup":
            return _Draw(True, index, None, lam)
        box = rand_box(height, width, lam, generator)
        return _Draw(True, index, box, box_lambda(height, width, box))
    lam0 = sample_lambda(alpha, generator, size=batch_size, device=tensor_device)
    if kind == "mixup":
        return _Draw(True, index, None, lam0.to(device))
    box = tuple(t.to(device) for t in rand_box(height, width, lam0, generator))
    return _Draw(True, index, box, box_lambda(height, width, box))


def box_mask(
    height: int, width: int, box: Tuple[Tensor, Tensor, Tensor, Tensor], dtype: torch.dtype = torch.bool
) -> Tensor:
    """Masks of shape ``(B, H, W)`` marking each sample's box.

    ``dtype=torch.bool`` gives True inside the box; an integer dtype gives all bits set (-1)
    inside and 0 outside, ready for bitwise blending.
    """
    y0, y1, x0, x1 = box
    rows = torch.arange(height, device=y0.device)
    cols = torch.arange(width, device=x0.device)
    in_rows = (rows >= y0[:, None]) & (rows < y1[:, None])  # (B, H)
    in_cols = (cols >= x0[:, None]) & (cols < x1[:, None])  # (B, W)
    if dtype != torch.bool:
        in_rows = in_rows.to(dtype).neg_()
        in_cols = in_cols.to(dtype).neg_()
    return in_rows[:, :, None] & in_cols[:, None, :]


def boxes_tensor(draw: _Draw, batch_size: int) -> MixBoxes:
    """The boxes of a draw as a :class:`MixBoxes` (CPU, int64); MixUp has empty boxes."""
    if draw.box is None:
        return MixBoxes(torch.zeros(batch_size, 4, dtype=torch.long), draw.index.cpu())
    if isinstance(draw.box[0], Tensor):
        boxes = torch.stack([t.cpu() for t in draw.box], dim=1)
    else:
        boxes = torch.tensor([draw.box], dtype=torch.long).expand(batch_size, 4).clone()
    return MixBoxes(boxes, draw.index.cpu())


def cutmix_batch(
    images: Tensor,
    labels: Tensor,
    *,
    alpha: float = 1.0,
    prob: float = 1.0,
    mode: Mode = "batch",
    generator: Optional[torch.Generator] = None,
    inplace: bool = False,
    return_boxes: bool = False,
) -> Union[Tuple[Tensor, MixedTarget], Tuple[Tensor, MixedTarget, MixBoxes]]:
    """CutMix a batch that is already a tensor, on any device (the GPU path).

    Each image ``i`` gets the box ``(y0, y1, x0, x1)`` cut from its partner ``index[i]`` (a
    random permutation of the batch), and ``lam`` is recomputed from the clipped box.

    Args:
        images: Batch of shape ``(B, C, H, W)`` or ``(B, H, W)``, any dtype, any device.
        labels: Class indices of shape ``(B,)`` or label vectors of shape ``(B, K)``
            (multi-label, one-hot or soft), on any device.
        alpha: ``lam ~ Beta(alpha, alpha)`` before the box is clipped; a finite number > 0.
        prob: Probability of mixing the batch; otherwise it is returned unmixed with ``lam = 1``
            and ``y_b == y_a``.
        mode: ``"batch"``: one box and one ``lam`` (a Python float) for the whole batch.
            ``"elem"``: a box and a ``lam`` per sample (a float32 tensor of shape ``(B,)`` on
            the images' device), built without a Python loop over samples.
        generator: Generator to draw from; torch's default generator when ``None``. In elem
            mode the draws happen on the generator's device, or on the images' device when
            ``None``, so a CUDA batch needs no host synchronisation.
        inplace: Write the mixed images into ``images`` instead of a new tensor.
        return_boxes: Also return the :class:`MixBoxes` used, e.g. for :func:`~cutmix_collate.viz.mixed_grid`.

    Returns:
        ``(images, MixedTarget(y_a, y_b, lam))`` and, with ``return_boxes=True``, a third item
        ``MixBoxes(boxes, index)``. ``images`` has the input's shape, dtype and device;
        ``y_a`` is ``labels`` and ``y_b`` the partners' labels; ``lam`` is the share of each
        image that still comes from itself.

    Raises:
        TypeError: ``images`` or ``labels`` is not a tensor.
        ValueError: a bad shape, an empty batch, or a bad ``alpha``, ``prob`` or ``mode``.
    """
    alpha, prob, mode, (batch_size, height, width) = _check_batch_args(images, labels, alpha, prob, mode)
    draw = draw_params(batch_size, height, width, alpha=alpha, prob=prob, mode=mode,
                       generator=generator, device=images.device)
    index = draw.index
    if draw.mixed and mode == "elem":
        mask = box_mask(height, width, draw.box)
        if images.dim() == 4:
            mask = mask[:, None]
        partner = images.index_select(0, index)
        out = torch.where(mask, partner, images, out=images) if inplace else torch.where(mask, partner, images)
    else:
        out = images if inplace else images.clone()
        y0, y1, x0, x1 = draw.box
        if draw.mixed and y1 > y0 and x1 > x0:
            # Gather only the partners' boxes, straight into the output's box. In place, the
            # boxes are copied first: image i's box is read after image index[i]'s is written.
            src = images[..., y0:y1, x0:x1]
            if inplace:
                src = src.clone()
            torch.index_select(src, 0, index, out=out[..., y0:y1, x0:x1])
    y_b = labels.index_select(0, index.to(labels.device)) if draw.mixed else labels.clone()
    target = MixedTarget(labels, y_b, draw.lam)
    if return_boxes:
        return out, target, boxes_tensor(draw, batch_size)
    return out, target



def _check_batch_args(
    images: Any, labels: Any, alpha: Any, prob: Any, mode: Any
) -> Tuple[float, float, str, Tuple[int, int, int]]:
    """Validate the arguments shared by :func:`cutmix_batch` and :func:`mixup_batch`."""
    alpha = check_alpha(alpha)
    prob = check_prob(prob)
    mode = check_choice(mode, MODES, "mode")
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a tensor of shape (B, C, H, W) or (B, H, W), got {describe(images)}")
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a tensor of shape (B,) or (B, K), got {describe(labels)}")
    if images.dim() not in (3, 4):
        raise ValueError(
            f"images must have shape (B, C, H, W) or (B, H, W), got shape {tuple(images.shape)}"
        )
    batch_size, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    if batch_size == 0:
        raise ValueError("images must hold at least one image, got an empty batch")
    if labels.dim() not in (1, 2) or labels.shape[0] != batch_size:
        raise ValueError(
            f"labels must have shape ({batch_size},) or ({batch_size}, K) to match images, "
            f"got shape {tuple(labels.shape)}"
        )
    if height == 0 or width == 0:
        raise ValueError(f"images must have H >= 1 and W >= 1, got shape {tuple(images.shape)}")
    return alpha, prob, mode, (batch_size, height, width)


def check_mixup_dtype(dtype: torch.dtype, out_dtype: Optional[torch.dtype], name: str = "images") -> torch.dtype:
    """The dtype MixUp writes: ``out_dtype`` if given, else ``dtype``, which must be floating."""
    if out_dtype is not None:
        if not isinstance(out_dtype, torch.dtype) or not out_dtype.is_floating_point:
            raise TypeError(f"out_dtype must be a floating torch.dtype, got {describe(out_dtype)}")
        return out_dtype
    if not dtype.is_floating_point:
        raise TypeError(
            f"MixUp blends pixel values, so {name} must be floating point, got {dtype}; "
            "pass out_dtype=torch.float32 to convert (values are kept, not rescaled)"
        )
    return dtype


def mixup_batch(
    images: Tensor,
    labels: Tensor,
    *,
    alpha: float = 1.0,
    prob: float = 1.0,
    mode: Mode = "batch",
    generator: Optional[torch.Generator] = None,
    inplace: bool = False,
    out_dtype: Optional[torch.dtype] = None,
) -> Tuple[Tensor, MixedTarget]:
    """MixUp a batch tensor (Zhang et al., ICLR 2018) with the same interface as :func:`cutmix_batch`.

    Each image becomes ``lam * x[i] + (1 - lam) * x[index[i]]`` with ``lam ~ Beta(alpha, alpha)``
    and ``index`` a random permutation, so :class:`~cutmix_collate.CutMixCriterion` and the
    metrics work unchanged.

    Args:
        images: Floating batch of shape ``(B, C, H, W)`` or ``(B, H, W)``, any device. Integer
            images (uint8) are an error unless ``out_dtype`` asks for a conversion.
        labels: Class indices ``(B,)`` or label vectors ``(B, K)``.
        alpha: ``lam ~ Beta(alpha, alpha)``; a finite number > 0.
        prob: Probability of mixing the batch; otherwise ``lam = 1`` and ``y_b == y_a``.
        mode: ``"batch"``: one ``lam`` (a float); ``"elem"``: a float32 ``lam`` of shape ``(B,)``.
        generator: Generator to draw from; torch's default generator when ``None``.
        inplace: Write into ``images`` (not with ``out_dtype``).
        out_dtype: Floating dtype to convert integer images to before blending (values are
            kept: uint8 0..255 becomes float 0..255).

    Returns:
        ``(images, MixedTarget(y_a, y_b, lam))``.
    """
    alpha, prob, mode, (batch_size, height, width) = _check_batch_args(images, labels, alpha, prob, mode)
    dtype = check_mixup_dtype(images.dtype, out_dtype)
    if inplace and dtype != images.dtype:
        raise ValueError(f"inplace=True cannot convert {images.dtype} images to out_dtype={dtype}")
    draw = draw_params(batch_size, height, width, alpha=alpha, prob=prob, mode=mode, kind="mixup",
                       generator=generator, device=images.device)
    source = images if dtype == images.dtype else images.to(dtype)
    if not draw.mixed:
        out = source if inplace or source is not images else images.clone()
        return out, MixedTarget(labels, labels.clone(), draw.lam)
    partner = source.index_select(0, draw.index)
    weight: Union[float, Tensor] = draw.lam
    if isinstance(weight, Tensor):
        weight = weight.to(dtype).view((-1,) + (1,) * (source.dim() - 1))
    # lerp(partner, x, lam) = partner + lam * (x - partner) = lam * x + (1 - lam) * partner
    out = torch.lerp(partner, source, weight, out=images) if inplace else torch.lerp(partner, source, weight)
    return out, MixedTarget(labels, labels.index_select(0, draw.index.to(labels.device)), draw.lam)
