"""CutMix as pure functions: draw the parameters once, apply them with one function per method.

CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
Localizable Features", ICCV 2019) pastes a box cut from a partner image into each image and
mixes the labels in proportion to the pixels: ``lam`` is the share of each image that is still
its own. The box spans the last ``dims`` axes (1: a time stripe of a signal or spectrogram,
2: a rectangle of an image, 3: a cuboid of a volume); every other axis is taken whole. This
module holds the whole method and nothing else:

* :class:`MixSpec` holds the settings (kind, alpha, prob, mode, dims, switch), checked once;
  :meth:`MixSpec.draw` (and :func:`draw_params`, which builds a spec) is the only place that
  decides whether a batch is mixed, the partners, the boxes and ``lam``.
* :func:`apply_params` applies them: :func:`paste_boxes` is the only code that writes CutMix
  pixels and :func:`blend_images` the only code that writes MixUp pixels.

:func:`cutmix_batch` and :func:`mixup_batch` (a batch tensor, any device) and the collators
(:mod:`cutmix_collate.collator`, samples in a DataLoader worker) are thin callers of the three.
Public entry points check their arguments; the private helpers below trust what the package
itself passes them.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ._checks import check_alpha, check_choice, check_lam, check_mixup_dtype, check_positive_int, check_prob, describe

__all__ = ["MixBoxes", "MixParams", "MixSpec", "MixedTarget", "apply_params", "box_lambda", "cutmix_batch",
           "draw_params", "mix_labels", "mixup_batch", "rand_box", "sample_lambda"]

Mode = Literal["batch", "elem"]
MODES = ("batch", "elem")
Kind = Literal["cutmix", "mixup"]
KINDS = ("cutmix", "mixup")
SpecKind = Literal["cutmix", "mixup", "cutmix_or_mixup"]
Box = Tuple[Any, ...]  # (start, end) per spanned axis: ints, or int64 tensors of shape (B,)
AXES = {1: ("T",), 2: ("H", "W"), 3: ("D", "H", "W")}  # names of the spanned axes in messages


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
        boxes: int64 tensor of shape ``(B, 2 * dims)``, one row per image: ``(start, end)`` for
            each spanned axis in axis order, so ``(y0, y1, x0, x1)`` for ``dims=2`` (rows
            ``y0:y1`` and columns ``x0:x1`` come from the partner), ``(t0, t1)`` for ``dims=1``
            and ``(z0, z1, y0, y1, x0, x1)`` for ``dims=3``. An empty box (``start == end`` on
            any axis) means the image was not mixed.
        index: int64 tensor of shape ``(B,)``: image ``i``'s partner is ``index[i]`` in the batch.
    """

    boxes: Tensor
    index: Tensor  # type: ignore[assignment]  # the field's name, not tuple.index


class MixParams(NamedTuple):
    """Everything random about one batch, as drawn by :func:`draw_params` or :meth:`MixSpec.draw`.

    Attributes:
        kind: ``"cutmix"`` or ``"mixup"``.
        mixed: Whether the batch is mixed; an unmixed batch has ``index = arange(B)``, empty
            boxes and ``lam = 1``.
        index: int64 tensor ``(B,)``: image ``i``'s partner is ``index[i]`` (a permutation).
        box: CutMix boxes, ``(start, end)`` per spanned axis (``(y0, y1, x0, x1)`` for
            ``dims=2``): ``2 * dims`` Python ints (batch mode: one box for all images) or
            ``2 * dims`` int64 tensors of shape ``(B,)`` (elem mode); ``None`` for MixUp.
        lam: The share of each image that is its own: a float (batch mode) or a float32 tensor
            ``(B,)`` (elem mode). For CutMix it is ``1 - box volume / product of sizes``.
        sizes: The sizes of the spanned axes the parameters were drawn for (``(H, W)``).
    """

    kind: str
    mixed: bool
    index: Tensor  # type: ignore[assignment]  # the field's name, not tuple.index
    box: Optional[Box]
    lam: Union[float, Tensor]
    sizes: Tuple[int, ...] = ()

    def boxes(self) -> MixBoxes:
        """The boxes as a :class:`MixBoxes` on the CPU (empty boxes for MixUp).

        Reading accelerator tensors to the CPU synchronises the device: ask for boxes only when
        they are used (a picture every n steps).
        """
        size = self.index.shape[:1]
        box = (0,) * (2 * len(self.sizes)) if self.box is None else self.box
        return MixBoxes(torch.stack([torch.as_tensor(t).cpu().expand(size) for t in box], dim=1), self.index.cpu())


@dataclass(frozen=True)
class MixSpec:
    """How batches are mixed: the settings a draw reads, checked once when the spec is made.

    The collators hold one; :func:`draw_params`, :func:`cutmix_batch` and :func:`mixup_batch`
    build one per call. ``dataclasses.replace(spec, prob=0.5)`` gives a checked copy.

    Attributes:
        kind: ``"cutmix"``, ``"mixup"``, or ``"cutmix_or_mixup"``: CutMix or MixUp, picked per
            batch by ``switch``.
        alpha: ``lam ~ Beta(alpha, alpha)``, a finite number > 0; for ``"cutmix_or_mixup"``
            the alpha of the CutMix batches.
        prob: Probability that a batch is mixed, in ``[0, 1]``.
        mode: ``"batch"`` (one box and ``lam`` for the batch) or ``"elem"`` (one per image).
        dims: 1, 2 or 3: the number of trailing axes the CutMix box spans (MixUp blends whole
            images whatever ``dims`` says).
        switch: ``(cutmix_prob, mixup_alpha)`` for ``kind="cutmix_or_mixup"`` and only then: a
            batch is CutMix (with ``alpha``) with probability ``cutmix_prob``, else MixUp with
            ``mixup_alpha``.

    Raises:
        TypeError: A setting of the wrong type.
        ValueError: A setting out of range, or ``switch`` given with another kind or missing.
    """

    kind: SpecKind = "cutmix"
    alpha: float = 1.0
    prob: float = 1.0
    mode: Mode = "batch"
    dims: int = 2
    switch: Optional[Tuple[float, float]] = None

    def __post_init__(self) -> None:
        check_choice(self.kind, KINDS + ("cutmix_or_mixup",), "kind")
        if (self.kind == "cutmix_or_mixup") != (self.switch is not None):
            raise ValueError("switch=(cutmix_prob, mixup_alpha) goes with kind='cutmix_or_mixup' and only with it, "
                             f"got kind={self.kind!r} and switch={self.switch!r}")
        if self.switch is not None and (not isinstance(self.switch, tuple) or len(self.switch) != 2):
            raise TypeError(f"switch must be a tuple (cutmix_prob, mixup_alpha), got {describe(self.switch)}")
        switch = self.switch and (check_prob(self.switch[0], "switch_prob"), check_alpha(self.switch[1], "mixup_alpha"))
        integral = isinstance(self.dims, numbers.Integral) and not isinstance(self.dims, bool)
        if not integral or self.dims not in (1, 2, 3):
            raise (ValueError if integral else TypeError)(
                f"dims must be 1, 2 or 3 (the number of trailing axes the box spans), got {describe(self.dims)}")
        for name, value in (("alpha", check_alpha(self.alpha)), ("prob", check_prob(self.prob)),
                            ("mode", check_choice(self.mode, MODES, "mode")), ("dims", int(self.dims)),
                            ("switch", switch)):
            object.__setattr__(self, name, value)

    def draw(self, batch_size: int, sizes: Sequence[int], *, generator: Optional[torch.Generator] = None,
             device: Union[str, torch.device, None] = None, rank: Optional[Tuple[int, int]] = None) -> MixParams:
        """Draw everything random about one batch (the randomness is described in :func:`draw_params`).

        Args:
            batch_size: Number of images ``B``, an int >= 1.
            sizes: The sizes of the ``dims`` spanned axes, e.g. ``images.shape[-dims:]``: ``(H, W)``
                for ``dims=2``, each an int >= 1.
            generator: A :class:`torch.Generator`, or ``None`` for torch's default generators.
            device: Device of the tensors in the result (the CPU when ``None``).
            rank: ``(rank, world_size)`` of the process to draw for, with ``generator=None``; by
                default the process group's, else ``$RANK`` and ``$WORLD_SIZE``, else ``(0, 1)``.

        Returns:
            A :class:`MixParams`.
        """
        check_positive_int(batch_size, "batch_size")
        if not isinstance(sizes, Sequence) or len(sizes) != self.dims:
            raise ValueError(f"sizes must hold one size per axis the box spans, {', '.join(AXES[self.dims])} for "
                             f"dims={self.dims}, got {describe(sizes)}")
        sizes = tuple(check_positive_int(s, f"size {a}") for s, a in zip(sizes, AXES[self.dims]))
        if rank is not None and not (isinstance(rank, tuple) and len(rank) == 2 and 0 <= rank[0] < rank[1]):
            raise ValueError(f"rank must be (rank, world_size) with 0 <= rank < world_size, got {describe(rank)}")
        row, world = (0, 1) if _check_generator(generator) is not None else world_rank() if rank is None else rank
        return _draw(self, batch_size, sizes, generator, torch.device("cpu" if device is None else device), row, world)


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
    device = device if device is not None else generator.device if isinstance(generator, torch.Generator) else "cpu"
    lam = _beta(check_alpha(alpha), _check_generator(generator), 1 if size is None else size, device)
    return lam.item() if size is None else lam.to(torch.float32)


def _check_generator(generator: Any) -> Any:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    return generator


def _beta(alpha: float, generator: Optional[torch.Generator], n: int, device: Union[str, torch.device]) -> Tensor:
    """``n`` float64 draws of ``Beta(alpha, alpha)``."""
    # Beta(a, a) = sigmoid(log G0 - log G1) with G ~ Gamma(a), in log space so that a small
    # alpha, where both gammas underflow, still gives the right distribution: with Marsaglia and
    # Tsang's boost log G(a) = log G(a + 1) + log(U) / a. The differences are taken before the
    # division, so an alpha as small as 1e-310 gives +-inf (lam 0 or 1), never inf - inf = NaN.
    conc = torch.full((2, n), alpha + 1.0, dtype=torch.float64, device=device)
    log_gamma = torch._standard_gamma(conc, generator=generator).log_()
    log_u = torch.rand((2, n), dtype=torch.float64, device=device, generator=generator)
    log_u = log_u.clamp_(min=torch.finfo(torch.float64).tiny).log_()
    return torch.sigmoid((log_gamma[0] - log_gamma[1]) + (log_u[0] - log_u[1]) / alpha)


def rand_box(height: int, width: int, lam: Union[float, Tensor], generator: Optional[torch.Generator] = None
) -> Box:
    """Draw a 2-D box to paste: sides ``sqrt(1 - lam)`` of the image's, centre uniform, clipped.

    The centre is a pixel drawn uniformly over the image, so boxes near the border are
    clipped and cover less than ``1 - lam`` of the image: recompute ``lam`` from the box
    (:func:`box_lambda`), as :func:`draw_params` does. For boxes over 1 or 3 axes (sides
    ``(1 - lam) ** (1 / dims)``) use :func:`draw_params` with ``dims``.

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
    height, width = check_positive_int(height, "height"), check_positive_int(width, "width")
    checked: Any = check_lam(lam)  # a float or a tensor
    if isinstance(checked, Tensor) and checked.dim() != 1:
        raise ValueError(f"lam must be a float or a tensor of shape (B,), got shape {tuple(checked.shape)}")
    scalar = not isinstance(checked, Tensor)
    g_device = _check_generator(generator).device if generator is not None else "cpu" if scalar else checked.device
    centre = torch.rand((2,) + (() if scalar else checked.shape), dtype=torch.float64, generator=generator,
                        device=g_device)
    return _box((height, width), checked, centre.tolist()) if scalar else _box((height, width), checked.double(),
                                                                               centre.to(checked.device))


def _box(sizes: Tuple[int, ...], lam: Any, centre: Any) -> Box:
    """The box around ``centre`` (uniform in ``[0, 1)`` per axis) with sides ``(1 - lam) ** (1 / dims)``
    of their axes, clipped: ints for a float ``lam``, int64 tensors for a float64 tensor ``lam``."""
    side = (1.0 - lam) ** (1.0 / len(sizes))  # for dims=2 computed as sqrt, as the CutMix paper does
    scalar = isinstance(lam, float)
    floor = math.floor if scalar else torch.floor
    box: list = []
    for size, c in zip(sizes, centre):
        cut = floor(side * size)
        start = floor(c * size) - floor(cut / 2)  # floor(c * size): a uniform index in [0, size)
        box += [min(max(start, 0), size), min(max(start + cut, 0), size)] if scalar else [
            start.long().clamp_(0, size), (start + cut).long().clamp_(0, size)]
    return tuple(box)


def box_lambda(height: int, width: int, box: Box) -> Union[float, Tensor]:
    """The share of an ``H x W`` image outside ``box``: ``1 - box_area / (H * W)``.

    The box is checked to lie inside the image for CPU tensors and ints; on an accelerator the
    check would synchronise the device, so there the box is trusted.

    Args:
        height: Image height ``H``.
        width: Image width ``W``.
        box: ``(y0, y1, x0, x1)`` as ints, or as tensors of shape ``(B,)``.

    Returns:
        A float for an int box, a float32 tensor of shape ``(B,)`` for a tensor box.
    """
    y0, y1, x0, x1 = box
    ok = (0 <= y0) & (y0 <= y1) & (y1 <= height) & (0 <= x0) & (x0 <= x1) & (x1 <= width)
    if not (ok.device.type != "cpu" or bool(ok.all()) if isinstance(ok, Tensor) else ok):  # no check, no sync off the CPU
        raise ValueError(f"box must satisfy 0 <= y0 <= y1 <= {height} and 0 <= x0 <= x1 <= {width} (a box inside the "
                         "image, as rand_box returns), " + ("for every sample" if isinstance(ok, Tensor) else f"got {tuple(box)}"))
    return lambda_of_box((height, width), box)


def lambda_of_box(sizes: Tuple[int, ...], box: Box) -> Union[float, Tensor]:
    """``1 - box volume / product of sizes`` for boxes over any number of axes (the one lam formula: the
    draw, :func:`box_lambda` and the pictures use it): exact for ints (a float), float32 for tensors."""
    volume = math.prod(end - start for start, end in zip(box[::2], box[1::2]))
    if isinstance(volume, Tensor):
        return (1.0 - volume.to(torch.float64) / math.prod(sizes)).to(torch.float32)
    return 1.0 - volume / math.prod(sizes)


def draw_params(batch_size: int, *sizes: int, alpha: float = 1.0, prob: float = 1.0, mode: Mode = "batch",
                kind: Kind = "cutmix", dims: int = 2, generator: Optional[torch.Generator] = None,
                device: Union[str, torch.device, None] = None) -> MixParams:
    """Draw everything random about one batch: whether to mix, partners, boxes and ``lam``.

    ``draw_params(B, *sizes, **settings)`` is ``MixSpec(kind, alpha, prob, mode, dims).draw(B,
    sizes)``, the single place where mixing parameters are drawn: :func:`cutmix_batch`,
    :func:`mixup_batch` and the collators call it; :func:`apply_params` applies the result.
    Each side of a CutMix box is ``(1 - lam) ** (1 / dims)`` of its axis, the centre uniform, the
    box clipped to the image, and ``lam`` is recomputed as ``1 - box volume / product of the
    sizes``. For MixUp ``lam`` is the Beta draw itself and there is no box. An unmixed batch
    (probability ``1 - prob``) gets the identity as partners, empty boxes and ``lam = 1``.

    Randomness: with ``generator=None`` the draws come from torch's default generators, which a
    DataLoader seeds per worker and epoch. Ranks (the process group's, else torchrun's ``$RANK``
    and ``$WORLD_SIZE``) seeded alike still draw different parameters, and a seeded run stays
    reproducible on each rank:

    * On the CPU (the scalars: the mix decision, the CutMix-or-MixUp choice, a batch-mode box
      and ``lam``; and every tensor of a CPU batch, as in the collators) rank 0 draws from the
      default generator, and rank ``r`` from a CPU generator seeded by one draw of it mixed
      with ``r``.
    * The tensors of a batch on an accelerator (partners, per-image boxes and ``lam``) are
      drawn on that device from its default generator, for every rank at once: a leading axis
      of ``world_size`` rows, of which a rank keeps its own. A per-rank CPU generator would
      need a blocking copy of its draws to the device, a per-rank device generator does not
      exist on every device (``meta`` has none), and the rows cost only ``world_size`` times a
      few kilobytes of random numbers on the device.

    So drawing never synchronises an accelerator: no value is read back from it and no CPU
    tensor is copied to it. With a ``generator``, every draw comes from it, on its device, and
    is the same on every rank; a CUDA generator in batch mode synchronises to read ``lam``.

    Args:
        batch_size: Number of images ``B``, an int >= 1.
        *sizes: The sizes of the ``dims`` spanned axes, each an int >= 1: ``H, W`` for
            ``dims=2``, ``T`` for ``dims=1``, ``D, H, W`` for ``dims=3``.
        alpha: ``lam ~ Beta(alpha, alpha)``; a finite number > 0.
        prob: Probability that the batch is mixed.
        mode: ``"batch"`` (one box and ``lam``) or ``"elem"`` (one per image).
        kind: ``"cutmix"`` or ``"mixup"``.
        dims: 1, 2 or 3: the number of trailing axes the box spans.
        generator: A :class:`torch.Generator`, or ``None`` for torch's default ones.
        device: Device of the tensors in the result (the CPU when ``None``).

    Returns:
        A :class:`MixParams`.
    """
    check_choice(kind, KINDS, "kind")
    return MixSpec(kind, alpha, prob, mode, dims).draw(batch_size, sizes, generator=generator, device=device)


def world_rank() -> Tuple[int, int]:
    """This process's ``(rank, world_size)``: the process group's, else ``$RANK`` and ``$WORLD_SIZE``, else ``(0, 1)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    values = {name: os.environ.get(name, "").strip() for name in ("RANK", "WORLD_SIZE")}
    for name, value in values.items():
        if value and not value.isdigit():  # e.g. "abc" or "1.0", left by a job script
            raise ValueError(f"the environment variable {name} must be an integer >= 0 (torchrun sets it), got "
                             f"{os.environ[name]!r}; unset it or set it to this process's {name.lower()}")
    this_rank = int(values["RANK"] or 0)
    return this_rank, max(int(values["WORLD_SIZE"] or 1), this_rank + 1)


def _draw(spec: MixSpec, batch_size: int, sizes: Tuple[int, ...], generator: Optional[torch.Generator],
          device: torch.device, row: int, world: int) -> MixParams:
    """:meth:`MixSpec.draw` after the checks, for rank ``row`` of ``world`` (see :func:`draw_params`)."""
    # host stream (scalars, CPU tensors): rank r > 0 seeds its own from one draw of the default one and r
    host = generator if generator is not None or row == 0 else torch.Generator().manual_seed(
        int(torch.randint(0, 2**62, (1,))) ^ (row * 0x9E3779B97F4A7C15) % 2**63)
    host_device = host.device if host is not None else torch.device("cpu")
    # tensors: from the generator or the host stream on the CPU; for an accelerator batch from the
    # device's default generator, with a row per rank (t_row of t_world)
    on_device = generator is None and device.type != "cpu"
    t_gen, t_device, t_row, t_world = (None, device, row, world) if on_device else (host, host_device, 0, 1)
    u = torch.rand(2 + len(sizes), dtype=torch.float64, generator=host, device=host_device).tolist()
    kind, alpha, elem, n = spec.kind, spec.alpha, spec.mode == "elem", batch_size
    if spec.switch is not None:
        kind, alpha = ("cutmix", alpha) if u[1] < spec.switch[0] else ("mixup", spec.switch[1])
    if not u[0] < spec.prob:  # u is in [0, 1): prob 1 always mixes, prob 0 never
        zero = torch.zeros(n, dtype=torch.long, device=device) if elem else 0
        ones = torch.ones(n, dtype=torch.float32, device=device) if elem else 1.0
        box = (zero,) * (2 * len(sizes)) if kind == "cutmix" else None
        return MixParams(kind, False, torch.arange(n, device=device), box, ones, sizes)
    # rows of partners: a uniform permutation per row (ties have probability about n ** 2 / 2 ** 53)
    index = torch.randperm(n, generator=t_gen, device=t_device).to(device) if t_world == 1 else torch.rand(
        (t_world, n), dtype=torch.float64, device=t_device)[t_row].argsort()
    if elem:
        lam: Any = _beta(alpha, t_gen, t_world * n, t_device)[t_row * n:(t_row + 1) * n].to(device)
        centre: Any = torch.rand((t_world, len(sizes), n), dtype=torch.float64, generator=t_gen, device=t_device)[
            t_row].to(device)
    else:
        lam, centre = _beta(alpha, host, 1, host_device).item(), u[2:]
    if kind == "mixup":
        return MixParams(kind, True, index, None, lam.float() if elem else lam, sizes)
    box = _box(sizes, lam, centre)
    return MixParams(kind, True, index, box, lambda_of_box(sizes, box), sizes)


# --------------------------------------------------------------------------- apply


def box_mask(sizes: Tuple[int, ...], box: Tuple[Tensor, ...]) -> Tensor:
    """Bool masks of shape ``(B, *sizes)``, True inside each sample's box."""
    mask: Any = None
    for k, size in enumerate(sizes):
        pos = torch.arange(size, device=box[0].device)
        inside = (pos >= box[2 * k][:, None]) & (pos < box[2 * k + 1][:, None])  # (B, size)
        inside = inside.view(inside.shape[:1] + (1,) * k + (size,) + (1,) * (len(sizes) - k - 1))
        mask = inside if mask is None else mask & inside
    return mask


def paste_boxes(out: Tensor, partners: Union[Tensor, Sequence[Tensor]], params: MixParams) -> Tensor:
    """The one function that writes CutMix pixels: each image's box gets its partner's pixels.

    Args:
        out: Batch ``(B, ..., *sizes)`` holding every image's own pixels; written in place.
        partners: The unmixed images: a batch tensor ``(B, ..., *sizes)``, which may be ``out``
            itself (the partners' pixels are gathered before anything is written), or a list of
            ``B`` tensors ``(..., *sizes)`` (the collator's samples), which must not share memory
            with ``out``.
        params: From :func:`draw_params` (``kind="cutmix"``).

    Returns:
        ``out``. Every operation is differentiable, so gradients flow to both sources.
    """
    if not params.mixed:
        return out
    index, box = params.index, params.box  # type: Tensor, Any
    if not isinstance(params.lam, Tensor):  # batch mode: one box for every image
        region = (Ellipsis,) + tuple(slice(start, end) for start, end in zip(box[::2], box[1::2]))
        if isinstance(partners, Tensor):
            out[region].copy_(partners[region].index_select(0, index))
        else:
            torch.stack([partners[j][region] for j in index.tolist()], out=out[region])
    elif isinstance(partners, Tensor):  # elem mode on a batch: one mask, no loop over images
        mask = box_mask(params.sizes, box)
        mask = mask.view(mask.shape[:1] + (1,) * (out.dim() - mask.dim()) + mask.shape[1:])
        partner = partners.index_select(0, index)
        if torch.is_grad_enabled() and (out.requires_grad or partner.requires_grad):
            out.copy_(torch.where(mask, partner, out))  # where(out=) is not differentiable
        else:
            # Straight into out, no batch-sized result to copy back: cutmix_batch(mode="elem") on a
            # 64x3x224x224 float32 CPU batch took 30-39 ms this way against 43-48 ms with copy_.
            torch.where(mask, partner, out, out=out)
    else:  # elem mode from samples: one box copy per image
        dst, src = out, partners  # type: Any, Any
        try:  # numpy views of the same memory: a numpy slice costs ~1 us against ~5 us in torch. CPU time
            # a batch in a DataLoader worker, 256x3x32x32 float32: 2.17 -> 0.88 ms; 64x3x224x224 uint8 in
            # one process: 2.11 -> 1.71 ms. Dtypes numpy lacks (bfloat16) and other devices stay in torch.
            dst, src = out.numpy(), [partner.numpy() for partner in partners]
        except (TypeError, RuntimeError):
            pass
        for i, j, row in zip(range(len(src)), index.tolist(), torch.stack(box, 1).tolist()):
            region = (Ellipsis, *map(slice, row[::2], row[1::2]))  # 0.78 -> 0.68 ms a 256x3x32x32 batch
            dst[(i,) + region] = src[j][region]  # than a generator of slices and dst[i][region], 1 thread
    return out


def blend_images(images: Union[Tensor, Sequence[Tensor]], params: MixParams, out: Optional[Tensor] = None) -> Tensor:
    """The one function that writes MixUp pixels: ``lam * x[i] + (1 - lam) * x[index[i]]``.

    Args:
        images: Floating batch ``(B, ...)``, or a list of ``B`` samples (the collator's; needs ``out``).
        params: From :func:`draw_params` (``kind="mixup"``), mixed.
        out: Where to write (a new tensor when ``None``, differentiable); may be ``images``.
    """
    weight = params.lam
    if not isinstance(images, Tensor):
        # One lerp per sample straight into out: no batch-sized temporary, whose first-touch page
        # faults cost +42 ms per 64x3x224x224 float32 batch in the calltime benchmark (88.6 ms
        # against 46.5 ms for default_collate, realistic data); per sample it is within noise.
        weights = weight.tolist() if isinstance(weight, Tensor) else [weight] * len(images)
        for i, (j, lam) in enumerate(zip(params.index.tolist(), weights)):
            torch.lerp(images[j], images[i], lam, out=out[i])  # type: ignore[index]  # out is given with samples
        return out  # type: ignore[return-value]
    if isinstance(weight, Tensor):
        weight = weight.to(images.dtype).view((-1,) + (1,) * (images.dim() - 1))
    # lerp(partner, x, lam) = partner + lam * (x - partner) = lam * x + (1 - lam) * partner
    return torch.lerp(images.index_select(0, params.index), images, weight, out=out)


def apply_params(images: Tensor, params: MixParams, *, out: Optional[Tensor] = None) -> Tensor:
    """Apply drawn parameters to a batch: CutMix pastes the boxes, MixUp blends (by ``params.kind``).

    The other half of :func:`draw_params`: ``apply_params(x, draw_params(B, H, W))`` is what
    :func:`cutmix_batch` does to the images; :func:`mix_labels` builds the matching target.

    Args:
        images: The batch ``(B, ..., *params.sizes)`` the parameters were drawn for, on their
            device; floating point for MixUp. Not modified unless it is ``out``.
        params: A :class:`MixParams` from :func:`draw_params` or :meth:`MixSpec.draw`.
        out: Where to write: ``images`` itself (in place), or a tensor of the images' shape,
            dtype and device. ``None`` returns a new tensor, differentiable with respect to
            ``images``.

    Returns:
        The mixed batch, ``out`` when given.

    Raises:
        TypeError: ``images``, ``params`` or ``out`` of the wrong type, or integer images for MixUp.
        ValueError: Parameters drawn for another batch size, other spanned sizes, another
            device, or an unknown kind; an ``out`` that does not match ``images``.
    """
    if not isinstance(params, MixParams):
        raise TypeError(f"params must be a MixParams (from draw_params), got {describe(params)}")
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a tensor, got {describe(images)}")
    check_choice(params.kind, KINDS, "params.kind")
    batch, sizes, shape = params.index.shape[0], params.sizes, tuple(images.shape)
    if len(shape) <= len(sizes) or shape[0] != batch or shape[len(shape) - len(sizes):] != sizes:
        raise ValueError(f"params were drawn for {batch} images whose last {len(sizes)} axes have sizes {sizes}, "
                         f"got images of shape {shape}")
    if params.index.device != images.device:
        raise ValueError(f"params were drawn on {params.index.device}, images are on {images.device} (draw_params' device=)")
    if params.kind == "mixup":
        check_mixup_dtype(images.dtype, None)
    if out is not None and (not isinstance(out, Tensor) or (out.shape, out.dtype, out.device) != (
            images.shape, images.dtype, images.device)):
        raise ValueError(f"out must be a tensor of the images' shape {shape}, dtype {images.dtype} and device "
                         f"{images.device}, got {describe(out)}")
    if params.kind == "mixup" and params.mixed:
        return blend_images(images, params, out=out)
    out = images.clone() if out is None else out if out is images else out.copy_(images)
    return paste_boxes(out, images, params)


def mix_labels(labels: Tensor, params: MixParams) -> MixedTarget:
    """The target of a mixed batch: ``MixedTarget(labels, labels[params.index], params.lam)``.

    Args:
        labels: Class indices ``(B,)`` or label vectors ``(B, K)`` of the ``B`` images the
            parameters were drawn for, on any device.
        params: A :class:`MixParams` from :func:`draw_params`.

    Returns:
        A :class:`MixedTarget`; ``y_a`` is ``labels`` and ``y_b`` a new tensor.
    """
    _check_label_batch(labels, params.index.shape[0], "params")
    y_b = labels.index_select(0, params.index.to(labels.device)) if params.mixed else labels.clone()
    return MixedTarget(labels, y_b, params.lam)


def _check_label_batch(labels: Tensor, batch_size: int, what: str) -> None:
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a tensor of shape (B,) or (B, K), got {describe(labels)}")
    if labels.dim() not in (1, 2) or labels.shape[0] != batch_size:
        raise ValueError(f"labels must have shape ({batch_size},) or ({batch_size}, K) to match {what}, "
                         f"got shape {tuple(labels.shape)}")


# --------------------------------------------------------------------------- batch tensors


def _check_batch_tensors(images: Tensor, labels: Tensor, dims: int) -> Tuple[int, ...]:
    """Check the batch of ``cutmix_batch``/``mixup_batch``; return the sizes of the spanned axes."""
    shape = "(B, ..., " + ", ".join(AXES[dims]) + ")"
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a tensor of shape {shape}, got {describe(images)}")
    if images.dim() < 1 + dims:
        raise ValueError(f"images must have shape {shape}, at least {1 + dims} dimensions for dims={dims}, "
                         f"got shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one image, got an empty batch")
    _check_label_batch(labels, images.shape[0], "images")
    sizes = tuple(images.shape[images.dim() - dims:])
    if 0 in sizes:
        raise ValueError(f"images must have {' >= 1 and '.join(AXES[dims])} >= 1, got shape {tuple(images.shape)}")
    return sizes


def cutmix_batch(images: Tensor, labels: Tensor, *, alpha: float = 1.0, prob: float = 1.0, mode: Mode = "batch",
                 dims: int = 2, generator: Optional[torch.Generator] = None, inplace: bool = False,
                 return_boxes: bool = False,
) -> Union[Tuple[Tensor, MixedTarget], Tuple[Tensor, MixedTarget, MixBoxes]]:
    """CutMix a batch that is already a tensor, on any device (the GPU path).

    Each image ``i`` gets the box cut from its partner ``index[i]`` (a random permutation of
    the batch) over its last ``dims`` axes, and ``lam`` is recomputed from the clipped box. The
    result is differentiable with respect to ``images`` in both modes (feature-level CutMix,
    adversarial inputs), as torchvision's ``v2.CutMix`` is. Nothing synchronises an
    accelerator (see :func:`draw_params` for how the draws are made).

    Args:
        images: Batch of at least ``1 + dims`` dimensions, any dtype, any device: ``(B, C, H, W)``,
            ``(B, H, W)`` or ``(B, T, C, H, W)`` video (one box through every frame) for
            ``dims=2``; ``(B, C, T)`` signals or ``(B, C, F, T)`` spectrograms (time stripes over
            the full band) for ``dims=1``; ``(B, C, D, H, W)`` volumes for ``dims=3``.
        labels: Class indices of shape ``(B,)`` or label vectors of shape ``(B, K)``
            (multi-label, one-hot or soft), on any device.
        alpha: ``lam ~ Beta(alpha, alpha)`` before the box is clipped; a finite number > 0.
        prob: Probability of mixing the batch; otherwise it is returned unmixed with ``lam = 1``
            and ``y_b == y_a``.
        mode: ``"batch"``: one box and one ``lam`` (a Python float) for the whole batch.
            ``"elem"``: a box and a ``lam`` per sample (a float32 tensor of shape ``(B,)`` on
            the images' device), built without a Python loop over samples.
        dims: 1, 2 or 3: the number of trailing axes the box spans; each side is
            ``(1 - lam) ** (1 / dims)`` of its axis. Every other axis is taken whole.
        generator: Generator to draw from; torch's default generators when ``None``. In elem
            mode the draws happen on the generator's device, or on the images' device when
            ``None``.
        inplace: Write the mixed images into ``images`` instead of a new tensor.
        return_boxes: Also return the :class:`MixBoxes` used (on the CPU), e.g. for
            :func:`~cutmix_collate.viz.mixed_grid`.

    Returns:
        ``(images, MixedTarget(y_a, y_b, lam))`` and, with ``return_boxes=True``, a third item
        ``MixBoxes(boxes, index)``. ``images`` has the input's shape, dtype and device;
        ``y_a`` is ``labels`` and ``y_b`` the partners' labels; ``lam`` is the share of each
        image that still comes from itself.

    Raises:
        TypeError: ``images``, ``labels`` or ``generator`` of the wrong type.
        ValueError: a bad shape, an empty batch, or a bad ``alpha``, ``prob``, ``mode`` or ``dims``.
    """
    spec = MixSpec("cutmix", alpha, prob, mode, dims)
    sizes = _check_batch_tensors(images, labels, spec.dims)
    params = spec.draw(images.shape[0], sizes, generator=generator, device=images.device)
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
        images: Floating batch of shape ``(B, ..., H, W)`` (at least 3 dimensions, as CutMix
            with ``dims=2`` takes), any device. Integer images (uint8) are an error unless
            ``out_dtype`` asks for a conversion.
        labels: Class indices ``(B,)`` or label vectors ``(B, K)``.
        alpha: ``lam ~ Beta(alpha, alpha)``; a finite number > 0.
        prob: Probability of mixing the batch; otherwise ``lam = 1`` and ``y_b == y_a``.
        mode: ``"batch"``: one ``lam`` (a float); ``"elem"``: a float32 ``lam`` of shape ``(B,)``.
        generator: Generator to draw from; torch's default generators when ``None``.
        inplace: Write into ``images`` (not with ``out_dtype``).
        out_dtype: Floating dtype to convert integer images to before blending (values are
            kept: uint8 0..255 becomes float 0..255).

    Returns:
        ``(images, MixedTarget(y_a, y_b, lam))``.
    """
    spec = MixSpec("mixup", alpha, prob, mode)
    sizes = _check_batch_tensors(images, labels, 2)
    dtype = check_mixup_dtype(images.dtype, out_dtype)
    if inplace and dtype != images.dtype:
        raise ValueError(f"inplace=True cannot convert {images.dtype} images to out_dtype={dtype}")
    params = spec.draw(images.shape[0], sizes, generator=generator, device=images.device)
    out = blend_images(images.to(dtype), params) if params.mixed else images.to(dtype, copy=True)
    return (images.copy_(out) if inplace else out), mix_labels(labels, params)
