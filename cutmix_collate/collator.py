"""The collators: ``collate_fn`` objects that turn a list of samples into a mixed batch.

A collator's job, in the order :meth:`_MixCollator.__call__` does it: split the samples into
images, labels (and masks), convert the images to tensors, stack them as ``default_collate``
does (into shared memory inside a DataLoader worker, so the batch is not copied again on its way
to the main process), draw the parameters with the collator's
:class:`~cutmix_collate.MixSpec` (:meth:`~cutmix_collate.MixSpec.draw`), apply them with the
one apply function of the method (:func:`~cutmix_collate.functional.paste_boxes` or
:func:`~cutmix_collate.functional.blend_images`), and build the target. The checks of the
samples live here, since no other module reads samples.

``enabled``, ``prob`` and the epoch live in a small shared-memory tensor, so a change made in the
main process reaches the workers, persistent ones included. Everything else is fixed at
construction (the :class:`~cutmix_collate.MixSpec` in ``spec``): the workers hold their own
copies, so a later change could not reach them.

Each live collator (and each copy) holds one shared-memory block, which is one open file
descriptor under torch's default ``file_descriptor`` sharing strategy; it is released when the
collator is garbage-collected. Build collators once per DataLoader, not per batch: a few hundred
live at once can reach a process's open-file limit (``ulimit -n``, often 1024, sometimes 256).
"""

from __future__ import annotations

import pickle
import sys
import warnings
from dataclasses import replace
from typing import Any, Callable, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import default_collate, get_worker_info

from ._checks import check_alpha, check_mixup_dtype, check_positive_int, check_prob, describe
from .functional import AXES, MixedTarget, MixParams, MixSpec, blend_images, mix_labels, paste_boxes, world_rank

__all__ = ["CutMixCollator", "CutMixOrMixUpCollator", "MixUpCollator"]

_ENABLED, _PROB, _EPOCH = 0, 1, 2
_MUTABLE = ("enabled", "prob", "_state")


class _MixCollator:
    """Machinery shared by the collators: samples in, mixed batch out, switch state shared."""

    def __init__(self, spec: MixSpec, *, image_key: str, label_key: Optional[str], mask_key: Optional[str],
                 return_boxes: bool, off_epoch: Optional[int], prob_schedule: Optional[Callable[[int], float]],
                 out_dtype: Optional[torch.dtype] = None) -> None:
        _check_keys(image_key, label_key, mask_key, type(self).__name__ if spec.kind != "cutmix" else None)
        if prob_schedule is not None and not callable(prob_schedule):
            raise TypeError(f"prob_schedule must be a callable epoch -> prob, got {describe(prob_schedule)}")
        check_mixup_dtype(torch.float32, out_dtype)  # a floating dtype or None
        self.spec = spec
        self.image_key, self.label_key, self.mask_key = image_key, label_key, mask_key
        self.return_boxes = bool(return_boxes)
        self.off_epoch = None if off_epoch is None else check_positive_int(off_epoch, "off_epoch", minimum=0)
        self.out_dtype = out_dtype
        self._schedule: Any = prob_schedule
        self._rank: Optional[Tuple[int, int]] = None  # (rank, world_size) when pickled, for spawn workers
        enabled, prob = self._epoch_state(0, spec.prob, True)  # start as set_epoch(0) would leave it
        self._state = torch.tensor([float(enabled), prob, 0.0], dtype=torch.float64).share_memory_()
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False) and name not in _MUTABLE:
            raise AttributeError(
                f"{name} of {type(self).__name__} is read-only after construction (DataLoader workers hold their "
                "own copies); build a new collator, or set enabled/prob, which workers follow"
                if name in self.__dict__ or hasattr(type(self), name) else f"{type(self).__name__} has no setting "
                f"{name!r}; the ones that reach the workers are enabled and prob (and set_epoch)")
        object.__setattr__(self, name, value)

    # ---- copies, pickling, checkpoints

    def __getstate__(self) -> Dict[str, Any]:
        # The schedule travels as bytes and is unpickled only by set_epoch, so workers, which never
        # call it, cannot fail on it; one that cannot be pickled is remembered as lost, not dropped.
        state = dict(self.__dict__, _rank=world_rank())
        schedule = state["_schedule"]
        if schedule is not None and not isinstance(schedule, (bytes, _Lost)):
            try:
                state["_schedule"] = pickle.dumps(schedule)
            except Exception as err:  # noqa: BLE001 - any pickling failure: say so at set_epoch
                state["_schedule"] = _Lost(f"{describe(schedule)} could not be pickled ({err})")
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        if not self._state.is_shared():  # a copy gets its own state, shared with its own workers
            self._state.share_memory_()

    def __copy__(self) -> "_MixCollator":
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, _state=self._state.clone().share_memory_())
        return new

    def __deepcopy__(self, memo: Dict[int, Any]) -> "_MixCollator":
        return self.__copy__()  # every other attribute is immutable

    alpha = property(lambda self: self.spec.alpha, doc="``lam ~ Beta(alpha, alpha)`` (CutMix's for a switching collator).")
    mode = property(lambda self: self.spec.mode, doc="``\"batch\"`` or ``\"elem\"``.")
    dims = property(lambda self: self.spec.dims, doc="The number of trailing axes the CutMix box spans.")

    @property
    def prob_schedule(self) -> Optional[Callable[[int], float]]:
        """The ``epoch -> prob`` callable given at construction (used by :meth:`set_epoch`)."""
        if isinstance(self._schedule, bytes):
            object.__setattr__(self, "_schedule", pickle.loads(self._schedule))
        if isinstance(self._schedule, _Lost):
            raise ValueError(f"prob_schedule was lost when this collator was pickled: {self._schedule}; "
                             "define it at module level (or use functools.partial) and build a new collator")
        return self._schedule

    def state_dict(self) -> Dict[str, Any]:
        """``{"enabled", "prob", "epoch"}`` as Python values, for a checkpoint.

        Returns:
            A dict that ``torch.load(..., weights_only=True)`` reads back.
        """
        enabled, prob, epoch = self._state.tolist()
        return {"enabled": bool(enabled), "prob": prob, "epoch": int(epoch)}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s switch; the workers follow from their next batch.

        Args:
            state_dict: A dict with the keys ``"enabled"``, ``"prob"`` and ``"epoch"``.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"enabled", "prob", "epoch"}:
            raise ValueError(f"state_dict must be a dict with the keys 'enabled', 'prob' and 'epoch', "
                             f"got {describe(state_dict)}")
        epoch = check_positive_int(state_dict["epoch"], "state_dict['epoch']", minimum=0)
        prob = check_prob(state_dict["prob"], "state_dict['prob']")
        if not isinstance(state_dict["enabled"], (bool, np.bool_)):  # what the enabled setter takes
            raise TypeError(f"state_dict['enabled'] must be a bool, got {describe(state_dict['enabled'])}")
        self._state.copy_(torch.tensor([float(state_dict["enabled"]), prob, float(epoch)], dtype=torch.float64))

    # ---- state shared with the workers

    @property
    def enabled(self) -> bool:
        """Whether batches are mixed; set it in the main process, workers follow."""
        return bool(self._state[_ENABLED])

    @enabled.setter
    def enabled(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"enabled must be a bool, got {describe(value)}")
        self._state[_ENABLED] = float(value)

    @property
    def prob(self) -> float:
        """Probability that a batch is mixed; set it in the main process, workers follow."""
        return float(self._state[_PROB])

    @prob.setter
    def prob(self, value: float) -> None:
        self._state[_PROB] = check_prob(value)

    @property
    def epoch(self) -> int:
        """The epoch last given to :meth:`set_epoch` (0 before any call)."""
        return int(self._state[_EPOCH])

    def set_epoch(self, epoch: int) -> None:
        """Start an epoch: applies ``prob_schedule`` and ``off_epoch``.

        Call it in the main process before iterating the epoch's loader: every worker, also a
        persistent one, collates that epoch's batches with the new state. (Batches a worker
        collated before the call, up to ``prefetch_factor * num_workers`` of them, keep the old
        one; iterating a new epoch discards nothing, so call it before the ``for`` loop.)

        Args:
            epoch: The epoch about to start, an int >= 0. With ``off_epoch``, mixing is
                turned off from that epoch on (``enabled = epoch < off_epoch``); with
                ``prob_schedule``, ``prob = prob_schedule(epoch)``.
        """
        epoch = check_positive_int(epoch, "epoch", minimum=0)
        enabled, prob = self._epoch_state(epoch, self.prob, self.enabled)
        # Checked first, written together: a failing schedule leaves the state as it was.
        self._state.copy_(torch.tensor([float(enabled), prob, float(epoch)], dtype=torch.float64))

    def _epoch_state(self, epoch: int, prob: float, enabled: bool) -> Tuple[bool, float]:
        schedule = self.prob_schedule
        prob = prob if schedule is None else check_prob(schedule(epoch), "prob_schedule(epoch)")
        return (enabled if self.off_epoch is None else epoch < self.off_epoch), prob

    # ---- collation

    def __call__(self, batch: Sequence[Any]) -> Any:
        """Collate a list of samples into a mixed batch (see the class docstring)."""
        is_mapping = _check_samples(batch)
        if is_mapping:
            _check_mapping_samples(batch, ((self.image_key, "image_key"), (self.label_key, "label_key"),
                                           (self.mask_key, "mask_key")))
            images = [sample[self.image_key] for sample in batch]
            labels = None if self.label_key is None else [sample[self.label_key] for sample in batch]
        elif self.mask_key is not None:
            raise TypeError(f"mask_key={self.mask_key!r} needs dict samples, "
                            f"got a {type(batch[0]).__name__} at sample 0")
        else:
            _check_pairs(batch)
            images, labels = [sample[0] for sample in batch], [sample[1] for sample in batch]
        dims = self.spec.dims
        images = [_as_image(image, i, layout=dims == 2) for i, image in enumerate(images)]
        _check_stackable(images, dims)
        first = images[0]
        dtype = check_mixup_dtype(first.dtype, self.out_dtype) if self.spec.kind != "cutmix" else first.dtype
        enabled, prob, _ = self._state.tolist()
        here = world_rank()  # a spawn worker of a process group knows no rank: it has the pickled one
        spec = replace(self.spec, prob=prob if enabled else 0.0)
        params = spec.draw(len(images), first.shape[-dims:], device=first.device,
                           rank=self._rank if here == (0, 1) and self._rank else here)
        out = _mix_samples(images, params, dtype)
        target = None if labels is None else _collate_target(labels, params)
        if not is_mapping:
            return (out, target, params.boxes()) if self.return_boxes else (out, target)
        return self._mix_mapping(batch, out, target, params)

    def _mix_mapping(self, batch: Sequence[Any], out: Tensor, target: Optional[MixedTarget],
                     params: MixParams) -> Any:
        result: Dict[str, Any] = {}
        for key in batch[0]:
            if key == self.image_key:
                result[key] = out
            elif key == self.label_key:
                result[key] = target
            elif key == self.mask_key:
                masks = [_as_image(sample[key], i, "mask", False, self.dims == 2) for i, sample in enumerate(batch)]
                _check_stackable(masks, self.dims, what="mask")
                if masks[0].shape[-self.dims:] != out.shape[-self.dims:]:
                    raise ValueError("mask and image sizes must match; sample 0 has a mask of "
                                     f"{tuple(masks[0].shape)} and an image of {tuple(out.shape[1:])}")
                result[key] = paste_boxes(_stack(masks, masks[0].dtype), masks, params)
            else:
                result[key] = default_collate([sample[key] for sample in batch])
        if self.return_boxes:
            if "mix_boxes" in result:
                raise ValueError("return_boxes=True adds the key 'mix_boxes', but the samples already have "
                                 "one; rename that key or pass return_boxes=False")
            result["mix_boxes"] = params.boxes()
        try:  # the samples' own mapping type, as default_collate returns it
            return type(batch[0])(result)
        except TypeError:
            return result

    def __repr__(self) -> str:
        switch = self.spec.switch
        alphas = f"cutmix_alpha={self.alpha}, mixup_alpha={switch[1]}, switch_prob={switch[0]}" if switch else \
            f"alpha={self.alpha}"
        dims = "" if self.spec.kind == "mixup" else f", dims={self.dims}"
        return f"{type(self).__name__}({alphas}, prob={self.prob}, mode={self.mode!r}{dims}, enabled={self.enabled})"


class CutMixCollator(_MixCollator):
    """A picklable ``collate_fn`` that returns CutMix batches.

    Pass it to a DataLoader; it works in the main process and in workers (fork and spawn)::

        collator = CutMixCollator(alpha=1.0)
        loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=2,
                            collate_fn=collator, persistent_workers=True)
        for epoch in range(epochs):
            collator.set_epoch(epoch)
            for images, (y_a, y_b, lam) in loader:
                ...

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` before the box is clipped; a finite number > 0.
        prob: Probability that a batch is mixed; an unmixed batch is exactly
            ``default_collate``'s, with ``y_b == y_a`` and ``lam = 1``.
        mode: ``"batch"``: one box and one ``lam`` (a Python float) for the batch.
            ``"elem"``: a box and a ``lam`` per sample (a float32 tensor of shape ``(B,)``).
        dims: 1, 2 or 3: the number of trailing axes of each sample the box spans (``(C, T)``
            signals and ``(C, F, T)`` spectrograms with 1, images with 2, ``(C, D, H, W)``
            volumes with 3); each side is ``(1 - lam) ** (1 / dims)`` of its axis.
        image_key: For dict (any ``Mapping``) samples, the key of the image.
        label_key: For dict samples, the key of the label; it holds the
            :class:`~cutmix_collate.MixedTarget` in the output dict. ``None`` for segmentation
            samples without an image-level label (needs ``mask_key``).
        mask_key: For dict samples, the key of a segmentation mask ``(H, W)`` or ``(C, H, W)``
            (any dtype; ``(..., *sizes)`` with the image's last ``dims`` sizes): it gets the same
            box from the same partner as the image.
        return_boxes: Also return the :class:`~cutmix_collate.MixBoxes` used: a third item
            for pair samples, the key ``"mix_boxes"`` for dict samples.
        off_epoch: With :meth:`set_epoch`, turn mixing off from this epoch on.
        prob_schedule: With :meth:`set_epoch`, a callable ``epoch -> prob``; it is called only in
            the main process and never sent to workers.

    Samples are ``(image, label)`` pairs (tuples or lists) or mappings. Images are tensors of
    shape ``(C, H, W)`` or ``(H, W)`` (any leading dimensions: the box is cut from the last
    ``dims``), numpy arrays (big-endian ones are converted to native order), or PIL images
    (converted to ``(C, H, W)`` tensors); any dtype, which is kept. With ``dims=2``, a 3-D
    sample shaped like ``(H, W, C)`` (``np.asarray(pil)``, its ``torch.from_numpy``) is refused
    rather than cut across width and channels. Labels are ints, floats, 0-d tensors, or label vectors of shape ``(K,)``
    (tensors, numpy arrays: multi-label, one-hot or soft), collated as ``default_collate``
    would (ints to int64, floats to float64, tensors stacked); ``y_b`` holds the partners'
    labels. A list of numbers is taken as one label vector (``default_collate`` would
    transpose it into K tensors).

    ``enabled`` and ``prob`` can be changed at any time in the main process, and the change
    reaches the DataLoader's workers, persistent ones included (the state is in shared memory);
    the other settings are read-only. Copies (``copy.copy``, ``copy.deepcopy``, pickle) get
    their own switch; :meth:`state_dict` / :meth:`load_state_dict` save and restore it.

    Returns (from ``__call__``):
        ``(images, MixedTarget(y_a, y_b, lam))``: images of shape ``(B, C, H, W)`` (or
        ``(B, H, W)``), ``y_a`` the batch's own labels in order. For dict samples, a dict
        with the samples' keys, other keys collated as ``default_collate`` would.
    """

    def __init__(self, alpha: float = 1.0, *, prob: float = 1.0, mode: Literal["batch", "elem"] = "batch",
                 dims: int = 2, image_key: str = "image", label_key: Optional[str] = "label",
                 mask_key: Optional[str] = None, return_boxes: bool = False, off_epoch: Optional[int] = None,
                 prob_schedule: Optional[Callable[[int], float]] = None) -> None:
        super().__init__(MixSpec("cutmix", alpha, prob, mode, dims), image_key=image_key, label_key=label_key,
                         mask_key=mask_key, return_boxes=return_boxes, off_epoch=off_epoch,
                         prob_schedule=prob_schedule)


class MixUpCollator(_MixCollator):
    """A picklable ``collate_fn`` that returns MixUp batches, with the CutMix interface.

    Each image becomes ``lam * x[i] + (1 - lam) * x[j]`` with its partner ``j`` from a random
    permutation, and the target is ``MixedTarget(y_a, y_b, lam)``, so
    :class:`~cutmix_collate.CutMixCriterion` and the metrics work unchanged.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)``; a finite number > 0 (0.2 to 1.0 is usual).
        prob: Probability that a batch is mixed.
        mode: ``"batch"``: one ``lam`` for the batch; ``"elem"``: a ``lam`` per sample.
        image_key: For dict samples, the key of the image.
        label_key: For dict samples, the key of the label.
        out_dtype: Images must be floating point; integer images (uint8) are an error unless
            ``out_dtype`` (e.g. ``torch.float32``) asks for a conversion (values kept, not rescaled).
        off_epoch: With :meth:`set_epoch`, turn mixing off from this epoch on.
        prob_schedule: With :meth:`set_epoch`, a callable ``epoch -> prob`` (main process only).
    """

    def __init__(self, alpha: float = 1.0, *, prob: float = 1.0, mode: Literal["batch", "elem"] = "batch",
                 image_key: str = "image", label_key: str = "label", out_dtype: Optional[torch.dtype] = None,
                 off_epoch: Optional[int] = None, prob_schedule: Optional[Callable[[int], float]] = None,
    ) -> None:
        super().__init__(MixSpec("mixup", alpha, prob, mode), image_key=image_key, label_key=label_key, mask_key=None,
                         return_boxes=False, off_epoch=off_epoch, prob_schedule=prob_schedule,
                         out_dtype=out_dtype)


class CutMixOrMixUpCollator(_MixCollator):
    """A ``collate_fn`` that applies CutMix or MixUp, picked per batch (as timm's ``Mixup`` does).

    Args:
        cutmix_alpha: Beta parameter of CutMix batches.
        mixup_alpha: Beta parameter of MixUp batches.
        switch_prob: Probability that a batch uses CutMix rather than MixUp.
        prob: Probability that a batch is mixed at all.
        mode: ``"batch"`` or ``"elem"``, as for :class:`CutMixCollator`.
        dims: As for :class:`CutMixCollator`, for the CutMix batches (MixUp blends whole samples).
        image_key: For dict samples, the key of the image.
        label_key: For dict samples, the key of the label.
        out_dtype: As for :class:`MixUpCollator`: integer images need a floating ``out_dtype``;
            CutMix batches are converted to it too, so every batch has one dtype.
        return_boxes: Also return the :class:`~cutmix_collate.MixBoxes` (empty for MixUp batches).
        off_epoch: With :meth:`set_epoch`, turn mixing off from this epoch on.
        prob_schedule: With :meth:`set_epoch`, a callable ``epoch -> prob`` (main process only).
    """

    cutmix_alpha = property(lambda self: self.spec.alpha, doc="Beta parameter of CutMix batches.")
    mixup_alpha = property(lambda self: self.spec.switch[1], doc="Beta parameter of MixUp batches.")
    switch_prob = property(lambda self: self.spec.switch[0], doc="Probability that a batch uses CutMix.")

    def __init__(self, cutmix_alpha: float = 1.0, mixup_alpha: float = 0.2, *, switch_prob: float = 0.5,
                 prob: float = 1.0, mode: Literal["batch", "elem"] = "batch", dims: int = 2,
                 image_key: str = "image", label_key: str = "label", out_dtype: Optional[torch.dtype] = None,
                 return_boxes: bool = False, off_epoch: Optional[int] = None,
                 prob_schedule: Optional[Callable[[int], float]] = None) -> None:
        check_alpha(cutmix_alpha, "cutmix_alpha")  # named as the user named it
        spec = MixSpec("cutmix_or_mixup", cutmix_alpha, prob, mode, dims, (switch_prob, mixup_alpha))
        super().__init__(spec, image_key=image_key, label_key=label_key, mask_key=None, return_boxes=return_boxes,
                         off_epoch=off_epoch, prob_schedule=prob_schedule, out_dtype=out_dtype)


class _Lost(str):
    """Stands for a ``prob_schedule`` that could not be pickled (the text says why); set_epoch says so."""


# --------------------------------------------------------------------------- pixels and labels


def _mix_samples(images: List[Tensor], params: MixParams, dtype: torch.dtype) -> Tensor:
    """Stack like default_collate (shared memory in a worker), then apply the drawn mix."""
    if dtype != images[0].dtype:  # MixUp of integer images, or a switching collator's CutMix
        images = [image.to(dtype) for image in images]
    if images[0].requires_grad and torch.is_grad_enabled():  # out= is not differentiable
        batch = torch.stack(images)
        if params.kind == "cutmix":
            return paste_boxes(batch.clone(), batch, params)
        return blend_images(batch, params) if params.mixed else batch
    if params.kind == "mixup" and params.mixed:
        return blend_images(images, params, out=_stack(images, dtype, fill=False))
    out = _stack(images, dtype)
    # Batch mode, small images, one torch thread (as in every DataLoader worker): the partners' box comes from
    # the stacked batch in one vectorised gather instead of a slice per sample. The paste's CPU time a batch in
    # a worker, 256x3x32x32 float32: 1.18 -> 0.54 ms; one process: 3x64x64 float32 -0.16 ms but 64x3x224x224 uint8
    # +0.36 ms, hence up to 64 KiB an image. With more threads the gather's two batch-wide ops run in parallel,
    # and on a busy 2-core machine each waited 6-12 ms for its second thread (the samples' slices are too small
    # to go parallel). Elem mode stays per sample: a batch-wide mask and where cost +0.5 ms in a worker at 32x32.
    small = not isinstance(params.lam, Tensor) and images[0].nbytes <= 65536 and torch.get_num_threads() == 1
    return paste_boxes(out, out if small else images, params)


def _stack(images: List[Tensor], dtype: torch.dtype, fill: bool = True, extra: int = 0) -> Tensor:
    """``torch.stack`` into shared memory inside a worker, as ``default_collate`` does.

    ``extra`` bytes of the same storage follow the stacked tensor (for a tensor sent along with it).
    """
    first = images[0]
    numel = first.numel() * len(images)
    if get_worker_info() is None or first.device.type != "cpu":
        storage = torch.UntypedStorage(numel * dtype.itemsize + extra, device=first.device)
    else:
        storage = torch.UntypedStorage._new_shared(numel * dtype.itemsize + extra)
    out = torch.empty(0, dtype=dtype, device=first.device).set_(storage, 0, (numel,), (1,))
    out = out.view((len(images),) + tuple(first.shape))
    return torch.stack(images, out=out) if fill else out


def _collate_target(labels: List[Any], params: MixParams) -> MixedTarget:
    """Labels collated as ``default_collate`` would (a list of numbers is one label vector)."""
    try:
        if isinstance(labels[0], (list, tuple)):
            labels = [torch.as_tensor(label) for label in labels]
        elif isinstance(labels[0], np.ndarray):  # big-endian arrays (">f4") in native order, as torch needs
            labels = [np.asarray(y, y.dtype.newbyteorder("=")) if isinstance(y, np.ndarray) else y for y in labels]
        y_a = default_collate(labels)
    except (TypeError, ValueError, RuntimeError) as err:
        raise _label_error(labels) from err
    if not isinstance(y_a, Tensor) or y_a.dim() > 2:
        raise _label_error(labels)
    y_a, y_b, lam = mix_labels(y_a, params)
    # y_a, y_b and an elem-mode lam share one storage (in shared memory inside a worker): one tensor for the
    # worker to send. Elem mode, 256x3x32x32 float32: the main process's CPU time a batch 1.7-1.9 -> 1.5-1.6 ms.
    offset = -(-2 * y_a.nbytes // 4)  # lam's float32 elements start after the labels, 4-byte aligned
    extra = 4 * offset - 2 * y_a.nbytes + lam.nbytes if isinstance(lam, Tensor) else 0
    both = _stack([y_a, y_b], y_a.dtype, extra=extra)
    if isinstance(lam, Tensor):
        shared = torch.empty(0, dtype=torch.float32, device=y_a.device)
        lam = shared.set_(both.untyped_storage(), offset, lam.shape, (1,)).copy_(lam)
    return MixedTarget(both[0], both[1], lam)


def _as_image(image: Any, i: int, what: str = "image", channels_first: bool = True, layout: bool = True) -> Tensor:
    """A sample's image (or mask) as a tensor, without copying tensors or native numpy arrays.

    PIL images become ``(C, H, W)``; a single-band PIL image is ``(1, H, W)`` as an image
    and ``(H, W)`` as a mask (``channels_first=False``). With ``layout`` (a 2-D box), sample 0
    shaped like ``(H, W, C)`` is refused, as the box would be cut across width and channels.
    """
    kind = "tensor"
    if not isinstance(image, Tensor):
        pil = sys.modules.get("PIL.Image")
        is_pil = pil is not None and isinstance(image, pil.Image)
        if not isinstance(image, np.ndarray) and not is_pil:
            raise TypeError(f"{what} of sample {i} must be a tensor, a numpy array or a PIL image, got {describe(image)}")
        array = np.asarray(image)
        if not array.dtype.isnative or any(stride < 0 for stride in array.strides):
            # torch takes neither big-endian data (PIL's I;16B, ">f4") nor negative strides (np.flip)
            array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
        with warnings.catch_warnings():  # read-only arrays (e.g. from PIL) are only ever read here
            warnings.simplefilter("ignore", UserWarning)
            image, kind = torch.from_numpy(array), "numpy array"
        if is_pil:
            return image.permute(2, 0, 1) if image.dim() == 3 else image.unsqueeze(0) if channels_first else image
    if layout and i == 0 and image.dim() == 3 and image.shape[-1] in (1, 3, 4) and min(image.shape[:2]) > 4:
        fix = "np.transpose(a, (2, 0, 1))" if kind == "numpy array" else "t.permute(2, 0, 1)"
        raise ValueError(f"{what} of sample {i} is a {kind} of shape {tuple(image.shape)}, which looks like (H, W, C); the "
                         f"box is cut from the last two dimensions, so pass (C, H, W) {kind}s ({fix}) or PIL images")
    return image


# --------------------------------------------------------------------------- checks of the samples


def _check_keys(image_key: Any, label_key: Any, mask_key: Any, blending: Optional[str]) -> None:
    """A collator's keys: str (label_key or mask_key may be None, not both; no masks when ``blending``)."""
    for value, name in ((image_key, "image_key"), (label_key, "label_key"), (mask_key, "mask_key")):
        if (value is not None or name == "image_key") and not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {describe(value)}")
    if label_key is None and mask_key is None:
        raise ValueError("label_key may be None only for segmentation samples (give mask_key)")
    if mask_key is not None and blending:
        raise ValueError(f"mask_key is not supported by {blending}: masks cannot be blended")


# --------------------------------------------------------------------------- collator samples


def _check_samples(batch: Any) -> bool:
    """Check a DataLoader batch is a non-empty list of samples; return whether they are mappings."""
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)):
        raise TypeError(f"batch must be a list of samples, got {describe(batch)}")
    if len(batch) == 0:
        raise ValueError("batch must hold at least one sample, got an empty batch")
    return isinstance(batch[0], Mapping)


def _check_mapping_samples(batch: Sequence[Any], keys: Iterable[Tuple[Optional[str], str]]) -> None:
    """Every sample is a mapping with sample 0's keys, and sample 0 holds the configured keys."""
    first, names = batch[0], {key: name for key, name in keys if key is not None}
    for i, sample in enumerate(batch):
        if not isinstance(sample, Mapping):
            raise TypeError(f"every sample must be a dict like sample 0, got {describe(sample)} at sample {i}")
        if i and sample.keys() == first.keys():
            continue
        for key in [k for k in names if k not in sample] + [k for k in first if k not in sample]:
            why = names.get(key, "sample 0 has it")
            hint = f"; pass {why}= to name another key" if key in names else ""
            raise ValueError(f"sample {i} has no key {key!r} ({why}); its keys are {sorted(map(str, sample))}{hint}")
        extra = [k for k in sample if k not in first]
        if extra:
            raise ValueError(f"sample {i} has a key {extra[0]!r} that sample 0 has not; "
                             f"sample 0's keys are {sorted(map(str, first))}")


def _check_pairs(batch: Sequence[Any]) -> None:
    """Samples that are not mappings must be ``(image, label)`` pairs."""
    for i, sample in enumerate(batch):
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            what = (f"a {type(sample).__name__} of length {len(sample)}"
                    if isinstance(sample, (tuple, list)) else describe(sample))
            raise TypeError(f"each sample must be an (image, label) pair or a dict, got {what} at sample {i}")


def _check_stackable(images: List[Tensor], dims: int, what: str = "image") -> None:
    """Images (or masks) of a batch: at least ``dims`` axes of sizes >= 1, one shape, dtype, device."""
    first = images[0]
    if len({(t.shape, t.dtype, t.device) for t in images}) == 1 and first.dim() >= dims and 0 not in first.shape[-dims:]:
        return  # the common case; below finds and names the first bad sample
    for i, image in enumerate(images):
        if image.dim() < dims:
            raise ValueError(f"{what} of sample {i} must have at least {dims} dimension{'s' * (dims > 1)} "
                             f"({', '.join(AXES[dims])}), got shape {tuple(image.shape)}")
        if i == 0 and 0 in first.shape[-dims:]:
            raise ValueError(f"{what}s must have {' >= 1 and '.join(AXES[dims])} >= 1, got shape {tuple(first.shape)} "
                             "at sample 0")
        for attr in ("shape", "dtype", "device"):
            got, want = getattr(image, attr), getattr(first, attr)
            if got != want:
                got, want = (tuple(got), tuple(want)) if attr == "shape" else (got, want)
                raise ValueError(f"all {what}s in a batch must have the same {attr}; sample {i} has {got}, sample 0 has {want}")


def _label_error(labels: Sequence[Any]) -> Exception:
    """The error for labels that ``default_collate`` cannot turn into ``(B,)`` or ``(B, K)``."""
    first = None
    for i, label in enumerate(labels):
        try:
            tensor = torch.as_tensor(label)
        except (TypeError, ValueError, RuntimeError):  # strings, None, Decimal, objects
            return TypeError(f"label of sample {i} must be a number or a tensor, got {describe(label)}")
        if tensor.dim() > 1:
            return ValueError(f"label of sample {i} must be a number, a 0-d tensor or a vector of shape (K,), "
                              f"got shape {tuple(tensor.shape)}")
        first = tensor if first is None else first
        if tensor.shape != first.shape or (isinstance(label, Tensor) and tensor.dtype != first.dtype):
            return ValueError(f"all labels in a batch must have the same shape and dtype; sample {i} has "
                              f"{tuple(tensor.shape)} {tensor.dtype}, sample 0 has {tuple(first.shape)} {first.dtype}")
    return TypeError(f"labels must be numbers or tensors that default_collate can stack, got {describe(labels)}")
