"""CutMix as pure functions: draw the parameters once, apply them with one function per method.

CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
Localizable Features", ICCV 2019) pastes a box cut from a partner image into each image and
mixes the labels in proportion to the pixels: ``lam`` is the share of each image that is still
its own. This module holds the whole method and nothing else:

* :func:`draw_params` is the only place that decides whether a batch is mixed, the partners, the
  boxes and ``lam`` (from :func:`sample_lambda` and :func:`rand_box`).
* :func:`paste_boxes` is the only code that writes CutMix pixels and :func:`blend_images` the only
  code that writes MixUp pixels.

:func:`cutmix_batch` and :func:`mixup_batch` (a batch tensor, any device) and the collators
(:mod:`cutmix_collate.collator`, samples in a DataLoader worker) are thin callers of the three.
Public entry points check their arguments (:mod:`cutmix_collate._checks`); the ``_draw`` helpers
below trust what the package itself passes them.
"""

from __future__ import annotations

import os
from typing import Any, Literal, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ._checks import (check_alpha, check_batch, check_box, check_choice, check_generator, check_lam,
                      check_mixup_dtype, check_positive_int, check_prob)

__all__ = ["MixBoxes", "MixParams", "MixedTarget", "box_lambda", "cutmix_batch", "draw_params", "mixup_batch",
           "rand_box", "sample_lambda"]

Mode = Literal["batch", "elem"]
MODES = ("batch", "elem")
Kind = Literal["cutmix", "mixup"]
KINDS = ("cutmix", "mixup")
Box = Union[Tuple[int, int, int, int], Tuple[Tensor, Tensor, Tensor, Tensor]]


class MixedTarget(NamedTuple("MixedTarget", [("y_a", Tensor), ("y_b", Tensor), ("lam", Union[float, Tensor])])):
    """The target of a mixed batch: ``images, (y_a, y_b, lam) = batch`` unpacks it.

    A named tuple that also accepts one iterable, ``MixedTarget((y_a, y_b, lam))``, as ``tuple``
    does: trainers rebuild tuples as ``type(t)(generator)`` (transformers' ``Trainer``) or as
    ``type(t)(*items)`` (``torch.utils._pytree``, accelerate, Lightning), and both give a
    ``MixedTarget`` back. ``copy``, ``pickle`` and ``_replace`` keep the type.

    Attributes:
        y_a: The batch's own labels, in order: class indices ``(B,)`` or label vectors ``(B, K)``.
        y_b: The labels of each image's partner, same shape and dtype as ``y_a``.
        lam: The share of each image that is still its own: a Python float (one box for the
            batch) or a float32 tensor of shape ``(B,)`` (one box per sample).
    """

    # A typing.NamedTuple class body cannot define __new__; subclassing the named tuple can.
    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> "MixedTarget":
        if len(args) == 1 and not kwargs and not isinstance(args[0], Tensor):
            args = tuple(args[0])  # type(t)(iterable), as for a plain tuple
        return super().__new__(cls, *args, **kwargs)

    def to(self, device: Union[str, int, torch.device, None] = None, *, non_blocking: bool = False
    ) -> "MixedTarget":
        """Move the tensors to ``device``; dtypes are kept and a float ``lam`` stays a float.

        Args:
            device: Target device (``"cuda"``, ``0``, a :class:`torch.device`), or ``None``
                to keep the current one.
            non_blocking: Passed on to :meth:`torch.Tensor.to` (useful with pinned memory).

        Returns:
            A new :class:`MixedTarget` on ``device``.
        """
        if isinstance(device, int) and not isinstance(device, bool):
            device = torch.device("cuda", device)
        return self if device is None else MixedTarget(
            *(t.to(device, non_blocking=non_blocking) if isinstance(t, Tensor) else t for t in self))


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


class MixParams(NamedTuple):
    """Everything random about one batch, as drawn by :func:`draw_params`.

    Attributes:
        kind: ``"cutmix"`` or ``"mixup"``.
        mixed: Whether the batch is mixed; an unmixed batch has ``index = arange(B)``, empty
            boxes and ``lam = 1``.
        index: int64 tensor ``(B,)``: image ``i``'s partner is ``index[i]`` (a permutation).
        box: CutMix boxes ``(y0, y1, x0, x1)``: four Python ints (batch mode: one box for all
            images) or four int64 tensors of shape ``(B,)`` (elem mode); ``None`` for MixUp.
        lam: The share of each image that is its own: a float (batch mode) or a float32 tensor
            ``(B,)`` (elem mode). For CutMix it is recomputed from the clipped box.
    """

    kind: str
    mixed: bool
    index: Tensor
    box: Optional[Box]
    lam: Union[float, Tensor]

    def boxes(self) -> MixBoxes:
        """The boxes as a :class:`MixBoxes` on the CPU (empty boxes for MixUp)."""
        size = self.index.shape[:1]
        box = (0, 0, 0, 0) if self.box is None else self.box
        return MixBoxes(torch.stack([torch.as_tensor(t).cpu().expand(size) for t in box], dim=1), self.index.cpu())


# --------------------------------------------------------------------------- draw


def sample_lambda(alpha: float, generator: Optional[torch.Generator] = None, *, size: Optional[int] = None,
                  device: Union[str, torch.device, None] = None) -> Union[float, Tensor]:
    """Draw ``lam ~ Beta(alpha, alpha)`` from torch's random number generator.

    Args:
        alpha: Concentration of the symmetric Beta distribution, a finite number > 0.
            ``alpha = 1`` is uniform on ``[0, 1]``, as in the CutMix paper. A tiny ``alpha``
            gives 0 or 1, each half of the time, as the distribution does in the limit.
        generator: Generator to draw from; torch's default generator when ``None`` (the
            one a DataLoader seeds per worker).
        size: ``None`` for one draw returned as a Python float, or ``B`` for a float32
            tensor of shape ``(B,)``.
        device: Device of the tensor when ``size`` is given; the generator's device (or
            the CPU) when ``None``.

    Returns:
        A float in ``[0, 1]``, or a float32 tensor of shape ``(size,)`` with values in ``[0, 1]``.
    """
    if size is not None:
        check_positive_int(size, "size", minimum=0)
    return _sample_lambda(check_alpha(alpha), check_generator(generator), size, device)


def _sample_lambda(alpha: float, generator: Optional[torch.Generator], size: Optional[int],
                   device: Union[str, torch.device, None]) -> Union[float, Tensor]:
    n = 1 if size is None else size
    device = device if device is not None else generator.device if generator is not None else "cpu"
    # Beta(a, a) = sigmoid(log G0 - log G1) with G ~ Gamma(a), in log space so that a small
    # alpha, where both gammas underflow, still gives the right distribution: with Marsaglia and
    # Tsang's boost log G(a) = log G(a + 1) + log(U) / a. The differences are taken before the
    # division, so an alpha as small as 1e-310 gives +-inf (lam 0 or 1), never inf - inf = NaN.
    conc = torch.full((2, n), alpha + 1.0, dtype=torch.float64, device=device)
    log_gamma = torch._standard_gamma(conc, generator=generator).log_()
    log_u = torch.rand((2, n), dtype=torch.float64, device=device, generator=generator)
    log_u = log_u.clamp_(min=torch.finfo(torch.float64).tiny).log_()
    lam = torch.sigmoid((log_gamma[0] - log_gamma[1]) + (log_u[0] - log_u[1]) / alpha)
    return float(lam[0]) if size is None else lam.to(torch.float32)


def rand_box(height: int, width: int, lam: Union[float, Tensor], generator: Optional[torch.Generator] = None
) -> Box:
    """Draw the box to paste: sides ``sqrt(1 - lam)`` of the image's, centre uniform, clipped.

    The centre is a pixel drawn uniformly over the image, so boxes near the border are
    clipped and cover less than ``1 - lam`` of the image: recompute ``lam`` from the box
    (:func:`box_lambda`), as :func:`draw_params` does.

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
    height, width, lam = check_positive_int(height, "height"), check_positive_int(width, "width"), check_lam(lam)
    if isinstance(lam, Tensor) and lam.dim() != 1:
        raise ValueError(f"lam must be a float or a tensor of shape (B,), got shape {tuple(lam.shape)}")
    return _rand_box(height, width, lam, check_generator(generator))


def _rand_box(height: int, width: int, lam: Union[float, Tensor], generator: Optional[torch.Generator]) -> Box:
    scalar = not isinstance(lam, Tensor)
    lam_t = torch.tensor([lam], dtype=torch.float64) if scalar else lam
    g_device = generator.device if generator is not None else lam_t.device
    cut = torch.sqrt(1.0 - lam_t.to(torch.float64))
    cut_h, cut_w = (cut * height).floor().long(), (cut * width).floor().long()
    cy = torch.randint(0, height, lam_t.shape, generator=generator, device=g_device).to(lam_t.device)
    cx = torch.randint(0, width, lam_t.shape, generator=generator, device=g_device).to(lam_t.device)
    y0, x0 = cy - cut_h // 2, cx - cut_w // 2
    box = (y0.clamp(0, height), (y0 + cut_h).clamp(0, height), x0.clamp(0, width), (x0 + cut_w).clamp(0, width))
    return tuple(int(t) for t in box) if scalar else box


def box_lambda(height: int, width: int, box: Box) -> Union[float, Tensor]:
    """The share of an ``H x W`` image outside ``box``: ``1 - box_area / (H * W)``.

    Args:
        height: Image height ``H``.
        width: Image width ``W``.
        box: ``(y0, y1, x0, x1)`` as ints, or as tensors of shape ``(B,)``.

    Returns:
        A float for an int box, a float32 tensor of shape ``(B,)`` for a tensor box.
    """
    check_box(height, width, box)
    return _box_lambda(height, width, box)


def _box_lambda(height: int, width: int, box: Box) -> Union[float, Tensor]:
    y0, y1, x0, x1 = box
    if isinstance(y0, Tensor):
        return (1.0 - ((y1 - y0) * (x1 - x0)).to(torch.float64) / (height * width)).to(torch.float32)
    return 1.0 - (y1 - y0) * (x1 - x0) / (height * width)


def draw_params(batch_size: int, height: int, width: int, *, alpha: float = 1.0, prob: float = 1.0,
                mode: Mode = "batch", kind: Kind = "cutmix", generator: Optional[torch.Generator] = None,
                device: Union[str, torch.device, None] = None) -> MixParams:
    """Draw everything random about one batch: whether to mix, partners, boxes and ``lam``.

    The single place where mixing parameters are drawn: :func:`cutmix_batch`,
    :func:`mixup_batch` and the collators call it. For CutMix ``lam`` is recomputed from the
    clipped box; for MixUp it is the Beta draw itself and there is no box. An unmixed batch
    (probability ``1 - prob``) gets the identity as partners, empty boxes and ``lam = 1``.

    Randomness: with ``generator=None`` the draws come from torch's default generator, which a
    DataLoader seeds per worker and epoch. Under ``torchrun`` (``RANK`` set) or with an
    initialised process group, ranks other than 0 draw from a generator seeded by one draw of
    the default generator mixed with the rank, so ranks seeded alike still draw different
    parameters, and a seeded run stays reproducible for a given rank. Scalars (the mix
    decision, a batch-mode box and ``lam``) come from a CPU generator, so no accelerator is
    synchronised; tensors are drawn on ``generator``'s device (or ``device``) and end up on
    ``device``.

    Args:
        batch_size: Number of images ``B``, an int >= 1.
        height: Image height ``H``, an int >= 1.
        width: Image width ``W``, an int >= 1.
        alpha: ``lam ~ Beta(alpha, alpha)``; a finite number > 0.
        prob: Probability that the batch is mixed.
        mode: ``"batch"`` (one box and ``lam``) or ``"elem"`` (one per image).
        kind: ``"cutmix"`` or ``"mixup"``.
        generator: A :class:`torch.Generator`, or ``None`` for torch's default one.
        device: Device of the tensors in the result (the CPU when ``None``).

    Returns:
        A :class:`MixParams`.
    """
    for value, name in ((batch_size, "batch_size"), (height, "height"), (width, "width")):
        check_positive_int(value, name)
    return _draw(batch_size, height, width, check_alpha(alpha), check_prob(prob), check_choice(mode, MODES, "mode"),
                 check_choice(kind, KINDS, "kind"), check_generator(generator), device)


def rank() -> int:
    """This process's rank: the initialised process group's, else ``$RANK``, else 0."""
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK") or 0)


def _rank_generator(this_rank: int) -> Optional[torch.Generator]:
    """``None`` on rank 0; elsewhere a CPU generator seeded from the default one and the rank."""
    if this_rank == 0:
        return None
    seed = int(torch.randint(0, 2**62, (1,)))
    return torch.Generator().manual_seed(seed ^ (this_rank * 0x9E3779B97F4A7C15) % 2**63)


def _draw(batch_size: int, height: int, width: int, alpha: float, prob: float, mode: str, kind: str,
          generator: Optional[torch.Generator], device: Union[str, torch.device, None],
          this_rank: Optional[int] = None, switch: Optional[Tuple[float, float]] = None) -> MixParams:
    """:func:`draw_params` without the checks. ``switch=(cutmix_prob, mixup_alpha)`` draws the kind."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if generator is None:
        generator = _rank_generator(rank() if this_rank is None else this_rank)
    scalar_device, tensor_device = (generator.device,) * 2 if generator is not None else (torch.device("cpu"), device)
    mixed = prob >= 1.0 or (prob > 0.0 and float(torch.rand((), generator=generator, device=scalar_device)) < prob)
    if switch is not None and float(torch.rand((), generator=generator, device=scalar_device)) >= switch[0]:
        kind, alpha = "mixup", switch[1]
    if not mixed:
        zero = 0 if mode == "batch" else torch.zeros(batch_size, dtype=torch.long, device=device)
        lam = 1.0 if mode == "batch" else torch.ones(batch_size, dtype=torch.float32, device=device)
        return MixParams(kind, False, torch.arange(batch_size, device=device),
                         (zero,) * 4 if kind == "cutmix" else None, lam)
    index = torch.randperm(batch_size, generator=generator, device=tensor_device).to(device)
    lam = _sample_lambda(alpha, generator, None if mode == "batch" else batch_size, tensor_device)
    if kind == "mixup":
        return MixParams(kind, True, index, None, lam.to(device) if isinstance(lam, Tensor) else lam)
    box = _rand_box(height, width, lam, generator)
    box = tuple(t.to(device) for t in box) if isinstance(lam, Tensor) else box
    return MixParams(kind, True, index, box, _box_lambda(height, width, box))


# --------------------------------------------------------------------------- apply


def box_mask(height: int, width: int, box: Tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
    """Bool masks of shape ``(B, H, W)``, True inside each sample's box."""
    y0, y1, x0, x1 = box
    rows, cols = torch.arange(height, device=y0.device), torch.arange(width, device=x0.device)
    in_rows = (rows >= y0[:, None]) & (rows < y1[:, None])  # (B, H)
    in_cols = (cols >= x0[:, None]) & (cols < x1[:, None])  # (B, W)
    return in_rows[:, :, None] & in_cols[:, None, :]


def paste_boxes(out: Tensor, partners: Union[Tensor, Sequence[Tensor]], params: MixParams) -> Tensor:
    """The one function that writes CutMix pixels: each image's box gets its partner's pixels.

    Args:
        out: Batch ``(B, ..., H, W)`` holding every image's own pixels; written in place.
        partners: The unmixed images: a batch tensor ``(B, ..., H, W)``, which may be ``out``
            itself (the partners' pixels are gathered before anything is written), or a list of
            ``B`` tensors ``(..., H, W)`` (the collator's samples), which must not share memory
            with ``out``.
        params: From :func:`draw_params` (``kind="cutmix"``).

    Returns:
        ``out``. Every operation is differentiable, so gradients flow to both sources.
    """
    if not params.mixed:
        return out
    index = params.index
    if not isinstance(params.lam, Tensor):  # batch mode: one box for every image
        y0, y1, x0, x1 = params.box
        region = out[..., y0:y1, x0:x1]
        if isinstance(partners, Tensor):
            region.copy_(partners[..., y0:y1, x0:x1].index_select(0, index))
        else:
            torch.stack([partners[j][..., y0:y1, x0:x1] for j in index.tolist()], out=region)
    elif isinstance(partners, Tensor):  # elem mode on a batch: one mask, no loop over images
        mask = box_mask(out.shape[-2], out.shape[-1], params.box)
        mask = mask.view(out.shape[:1] + (1,) * (out.dim() - 3) + out.shape[-2:])
        partner = partners.index_select(0, index)
        if torch.is_grad_enabled() and (out.requires_grad or partner.requires_grad):
            out.copy_(torch.where(mask, partner, out))  # where(out=) is not differentiable
        else:
            # Straight into out, no batch-sized result to copy back: cutmix_batch(mode="elem") on a
            # 64x3x224x224 float32 CPU batch took 30-39 ms this way against 43-48 ms with copy_.
            torch.where(mask, partner, out, out=out)
    else:  # elem mode from samples: one box copy per image
        for i, (j, y0, y1, x0, x1) in enumerate(zip(index.tolist(), *(t.tolist() for t in params.box))):
            out[i, ..., y0:y1, x0:x1] = partners[j][..., y0:y1, x0:x1]
    return out


def blend_images(images: Union[Tensor, Sequence[Tensor]], params: MixParams, out: Optional[Tensor] = None) -> Tensor:
    """The one function that writes MixUp pixels: ``lam * x[i] + (1 - lam) * x[index[i]]``.

    Args:
        images: Floating batch ``(B, ...)``, or a list of ``B`` samples (the collator's; needs ``out``).
        params: From :func:`draw_params` (``kind="mixup"``), mixed.
        out: Where to write (a new tensor when ``None``, differentiable); must not be ``images``.
    """
    weight = params.lam
    if not isinstance(images, Tensor):
        # One lerp per sample straight into out: no batch-sized temporary, whose first-touch page
        # faults cost +42 ms per 64x3x224x224 float32 batch in the calltime benchmark (88.6 ms
        # against 46.5 ms for default_collate, realistic data); per sample it is within noise.
        weights = weight.tolist() if isinstance(weight, Tensor) else [weight] * len(images)
        for i, (j, lam) in enumerate(zip(params.index.tolist(), weights)):
            torch.lerp(images[j], images[i], lam, out=out[i])
        return out
    if isinstance(weight, Tensor):
        weight = weight.to(images.dtype).view((-1,) + (1,) * (images.dim() - 1))
    # lerp(partner, x, lam) = partner + lam * (x - partner) = lam * x + (1 - lam) * partner
    return torch.lerp(images.index_select(0, params.index), images, weight, out=out)


def mix_labels(labels: Tensor, params: MixParams) -> MixedTarget:
    """``MixedTarget(labels, partners' labels, lam)``; ``y_b`` is a new tensor."""
    y_b = labels.index_select(0, params.index.to(labels.device)) if params.mixed else labels.clone()
    return MixedTarget(labels, y_b, params.lam)


# --------------------------------------------------------------------------- batch tensors


def cutmix_batch(images: Tensor, labels: Tensor, *, alpha: float = 1.0, prob: float = 1.0, mode: Mode = "batch",
                 generator: Optional[torch.Generator] = None, inplace: bool = False, return_boxes: bool = False,
) -> Union[Tuple[Tensor, MixedTarget], Tuple[Tensor, MixedTarget, MixBoxes]]:
    """CutMix a batch that is already a tensor, on any device (the GPU path).

    Each image ``i`` gets the box ``(y0, y1, x0, x1)`` cut from its partner ``index[i]`` (a
    random permutation of the batch), and ``lam`` is recomputed from the clipped box. The result
    is differentiable with respect to ``images`` in both modes (feature-level CutMix,
    adversarial inputs), as torchvision's ``v2.CutMix`` is.

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
        TypeError: ``images``, ``labels`` or ``generator`` of the wrong type.
        ValueError: a bad shape, an empty batch, or a bad ``alpha``, ``prob`` or ``mode``.
    """
    alpha, prob, mode, (batch_size, height, width) = check_batch(images, labels, alpha, prob, mode)
    params = _draw(batch_size, height, width, alpha, prob, mode, "cutmix", check_generator(generator),
                   images.device)
    out = paste_boxes(images if inplace else images.clone(), images, params)
    target = mix_labels(labels, params)
    return (out, target, params.boxes()) if return_boxes else (out, target)


def mixup_batch(images: Tensor, labels: Tensor, *, alpha: float = 1.0, prob: float = 1.0, mode: Mode = "batch",
                generator: Optional[torch.Generator] = None, inplace: bool = False,
                out_dtype: Optional[torch.dtype] = None) -> Tuple[Tensor, MixedTarget]:
    """MixUp a batch tensor (Zhang et al., ICLR 2018) with the same interface as :func:`cutmix_batch`.

    Each image becomes ``lam * x[i] + (1 - lam) * x[index[i]]`` with ``lam ~ Beta(alpha, alpha)``
    and ``index`` a random permutation, so :class:`~cutmix_collate.CutMixCriterion` and the
    metrics work unchanged. Differentiable with respect to ``images``.

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
    alpha, prob, mode, (batch_size, height, width) = check_batch(images, labels, alpha, prob, mode)
    dtype = check_mixup_dtype(images.dtype, out_dtype)
    if inplace and dtype != images.dtype:
        raise ValueError(f"inplace=True cannot convert {images.dtype} images to out_dtype={dtype}")
    params = _draw(batch_size, height, width, alpha, prob, mode, "mixup", check_generator(generator),
                   images.device)
    out = blend_images(images.to(dtype), params) if params.mixed else images.to(dtype, copy=True)
    if inplace:
        out = images.copy_(out)
    return out, mix_labels(labels, params)
