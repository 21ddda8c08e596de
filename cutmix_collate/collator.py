"""The collators: ``collate_fn`` objects that build the mixed batch straight from the samples.

:class:`CutMixCollator`, :class:`MixUpCollator` and :class:`CutMixOrMixUpCollator` run inside
DataLoader workers. They draw their parameters with :func:`cutmix_collate.functional.draw_params`
(torch's default generator, which the DataLoader seeds per worker) and write each output byte
once: for CutMix, outside the box from the sample itself and inside the box from its partner.
Inside a worker the batch is allocated in shared memory, as ``default_collate`` does, so it is
not copied again on its way to the main process; ``y_a``, ``y_b`` and a per-sample ``lam`` share
one second segment. ``enabled``, ``prob`` and the epoch live in a shared-memory tensor, so a
change made in the main process reaches persistent workers.

How the bytes are written depends on the size of the images (measured, see the README's
Performance section):

* large images: per sample, five region copies (above, below, left of, right of the box from
  the sample; the box from the partner) straight into the output, issued through one
  ``_foreach_copy_``. A full-batch temporary would cost as much as the whole collate in page
  faults.
* small images (at most ``_SMALL_IMAGE_NUMEL`` elements, batch under ``_SCRATCH_MAX_BYTES``):
  the Python calls per sample would dominate, so the samples are stacked once into a
  per-thread scratch buffer (reused between batches) and the output is written from it with a
  handful of whole-batch operations. Each output byte is still written once.
"""

from __future__ import annotations

import numbers
import operator
import pickle
import sys
import threading
import warnings
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import default_collate, get_worker_info

from ._checks import describe, check_alpha, check_choice, check_positive_int, check_prob
from .functional import (
    MODES,
    MixedTarget,
    _Draw,
    box_mask,
    boxes_tensor,
    check_mixup_dtype,
    draw_params,
)

__all__ = ["CutMixCollator", "CutMixOrMixUpCollator", "MixUpCollator"]

#: Images with at most this many elements are stacked into a scratch buffer first and mixed
#: with whole-batch operations (see the module docstring); larger ones are copied per sample.
_SMALL_IMAGE_NUMEL = 16384
#: ... as long as the batch stays under this size: glibc maps allocations of 32 MiB and more
#: fresh from the kernel, and the page faults of a fresh scratch would cost more than the loop.
_SCRATCH_MAX_BYTES = 16 * 2**20


_ENABLED, _PROB, _EPOCH = 0, 1, 2


class _MixCollator:
    """Machinery shared by the collators: samples in, mixed batch out, state in shared memory.

    ``enabled``, ``prob`` and the epoch live in a small shared-memory tensor. DataLoader workers
    receive the collator by fork (the mapping is inherited) or by spawn (torch's pickler sends
    the same shared storage), so a change made in the main process is seen by every worker,
    persistent ones included, from the next batch it collates.
    """

    _kinds: Tuple[str, ...] = ("cutmix",)

    def __init__(
        self,
        *,
        prob: float,
        mode: str,
        image_key: str,
        label_key: Optional[str],
        mask_key: Optional[str],
        return_boxes: bool,
        off_epoch: Optional[int],
        prob_schedule: Optional[Callable[[int], float]],
        out_dtype: Optional[torch.dtype] = None,
    ) -> None:
        prob = check_prob(prob)
        self.mode = check_choice(mode, MODES, "mode")
        for value, name in ((image_key, "image_key"), (label_key, "label_key"), (mask_key, "mask_key")):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {describe(value)}")
        if image_key is None:
            raise TypeError("image_key must be a str, got None")
        if label_key is None and mask_key is None:
            raise ValueError("label_key may be None only for segmentation samples (give mask_key)")
        if mask_key is not None and "mixup" in self._kinds:
            raise ValueError(f"mask_key is not supported by {type(self).__name__}: masks cannot be blended")
        if off_epoch is not None:
            off_epoch = check_positive_int(off_epoch, "off_epoch", minimum=0)
        if prob_schedule is not None and not callable(prob_schedule):
            raise TypeError(f"prob_schedule must be a callable epoch -> prob, got {describe(prob_schedule)}")
        if out_dtype is not None:
            check_mixup_dtype(torch.float32, out_dtype)
        self.image_key = image_key
        self.label_key = label_key
        self.mask_key = mask_key
        self.return_boxes = bool(return_boxes)
        self.off_epoch = off_epoch
        self._schedule = _MainProcessOnly(prob_schedule)
        self.out_dtype = out_dtype
        enabled, prob = self._epoch_state(0, prob, True)  # start as set_epoch(0) would leave it
        self._state = torch.tensor([float(enabled), prob, 0.0], dtype=torch.float64).share_memory_()

    def __setstate__(self, state: Dict[str, Any]) -> None:
        # A copy (deepcopy, pickle round trip, a restored checkpoint) gets its own state tensor:
        # put it back in shared memory so that its DataLoader workers still follow it.
        self.__dict__.update(state)
        if not self._state.is_shared():
            self._state.share_memory_()

    @property
    def prob_schedule(self) -> Optional[Callable[[int], float]]:
        """The ``epoch -> prob`` callable given at construction (used by :meth:`set_epoch`)."""
        return self._schedule.fn

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
        """``(enabled, prob)`` for ``epoch`` under ``off_epoch`` and ``prob_schedule``."""
        if self.prob_schedule is not None:
            prob = check_prob(self.prob_schedule(epoch), "prob_schedule(epoch)")
        if self.off_epoch is not None:
            enabled = epoch < self.off_epoch
        return enabled, prob

    # ---- collation

    def __call__(self, batch: Sequence[Any]) -> Any:
        """Collate a list of samples into a mixed batch (see the class docstring)."""
        if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)):
            raise TypeError(f"batch must be a list of samples, got {describe(batch)}")
        if len(batch) == 0:
            raise ValueError("batch must hold at least one sample, got an empty batch")
        is_dict = isinstance(batch[0], dict)
        masks: Optional[List[Tensor]] = None
        if is_dict:
            parts = [self._split_dict(sample, i) for i, sample in enumerate(batch)]
            raw_images = [part[0] for part in parts]
            labels = [part[1] for part in parts]
            if self.mask_key is not None:
                masks = [_as_image(part[2], i, what="mask", channels_first=False) for i, part in enumerate(parts)]
        elif self.mask_key is not None:
            raise TypeError(
                f"mask_key={self.mask_key!r} needs dict samples, got a {type(batch[0]).__name__} at sample 0"
            )
        elif _all_pairs(batch):
            raw_images = [sample[0] for sample in batch]
            labels = [sample[1] for sample in batch]
        else:
            pairs = [_split_pair(sample, i) for i, sample in enumerate(batch)]
            raw_images = [pair[0] for pair in pairs]
            labels = [pair[1] for pair in pairs]
        if set(map(type, raw_images)) == _TENSOR_TYPE or all(isinstance(image, Tensor) for image in raw_images):
            images = raw_images
        else:
            images = [_as_image(image, i) for i, image in enumerate(raw_images)]
        _check_images(images)
        if masks is not None:
            _check_images(masks, what="mask")
            if masks[0].shape[-2:] != images[0].shape[-2:]:
                raise ValueError(
                    "mask and image sizes must match; sample 0 has a mask of "
                    f"{tuple(masks[0].shape)} and an image of {tuple(images[0].shape)}"
                )

        first = images[0]
        if "mixup" in self._kinds:  # checked every batch, not only when MixUp is drawn
            check_mixup_dtype(first.dtype, self.out_dtype)
        enabled, prob, _ = self._state.tolist()
        kind, alpha = self._pick()
        # generator=None: torch's default generator, which the DataLoader seeds per worker.
        draw = draw_params(
            len(images), first.shape[-2], first.shape[-1], alpha=alpha,
            prob=prob if enabled else 0.0, mode=self.mode, kind=kind, device=first.device,
        )
        if kind == "mixup":
            out = _blend_images(images, draw, check_mixup_dtype(first.dtype, self.out_dtype))
        else:
            out = _mix_images(images, draw, self.mode, self.out_dtype)
        target = _mix_labels(labels, draw) if self.label_key is not None or not is_dict else None
        boxes = boxes_tensor(draw, len(images)) if self.return_boxes else None
        if not is_dict:
            return (out, target) if boxes is None else (out, target, boxes)
        result: Dict[str, Any] = {}
        for key in batch[0]:
            if key == self.image_key:
                result[key] = out
            elif key == self.label_key:
                result[key] = target
            elif key == self.mask_key:
                result[key] = _mix_images(masks, draw, self.mode)  # type: ignore[arg-type]
            else:
                result[key] = default_collate([sample[key] for sample in batch])
        if boxes is not None:
            result["mix_boxes"] = boxes
        return result

    def _pick(self) -> Tuple[str, float]:
        """The kind of mixing and its alpha for the next batch."""
        raise NotImplementedError

    def _split_dict(self, sample: Any, i: int) -> Tuple[Any, Any, Any]:
        if not isinstance(sample, dict):
            raise TypeError(
                f"every sample must be a dict like sample 0, got {describe(sample)} at sample {i}"
            )
        for key, name in ((self.image_key, "image_key"), (self.label_key, "label_key"), (self.mask_key, "mask_key")):
            if key is not None and key not in sample:
                raise ValueError(
                    f"sample {i} has no key {key!r} ({name}); its keys are {sorted(map(str, sample))}"
                )
        label = sample[self.label_key] if self.label_key is not None else None
        mask = sample[self.mask_key] if self.mask_key is not None else None
        return sample[self.image_key], label, mask

    def _repr_args(self) -> str:
        return f"prob={self.prob}, mode={self.mode!r}, enabled={self.enabled}"


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
        image_key: For dict samples, the key of the image.
        label_key: For dict samples, the key of the label; it holds the
            :class:`~cutmix_collate.MixedTarget` in the output dict. ``None`` for segmentation
            samples without an image-level label (needs ``mask_key``).
        mask_key: For dict samples, the key of a segmentation mask ``(H, W)`` or ``(C, H, W)``
            (any dtype): it gets the same box from the same partner as the image.
        return_boxes: Also return the :class:`~cutmix_collate.MixBoxes` used: a third item
            for pair samples, the key ``"mix_boxes"`` for dict samples.
        off_epoch: With :meth:`set_epoch`, turn mixing off from this epoch on.
        prob_schedule: With :meth:`set_epoch`, a picklable callable ``epoch -> prob``.

    Samples are ``(image, label)`` pairs (tuples or lists) or dicts. Images are tensors of
    shape ``(C, H, W)`` or ``(H, W)`` (any leading dimensions: the box is cut from the last
    two), numpy arrays, or PIL images (converted to ``(C, H, W)`` uint8 tensors); any dtype,
    which is kept. Labels are ints, floats, 0-d tensors, or label vectors of shape ``(K,)``
    (tensors, numpy arrays: multi-label, one-hot or soft), collated as ``default_collate``
    would (ints to int64, floats to float64, tensors stacked); ``y_b`` holds the partners'
    labels. A list of numbers is taken as one label vector (``default_collate`` would
    transpose it into K tensors).

    ``enabled`` and ``prob`` can be changed at any time in the main process, and the change
    reaches the DataLoader's workers, persistent ones included (the state is in shared memory).

    Returns (from ``__call__``):
        ``(images, MixedTarget(y_a, y_b, lam))``: images of shape ``(B, C, H, W)`` (or
        ``(B, H, W)``), ``y_a`` the batch's own labels in order. For dict samples, a dict
        with the samples' keys, other keys collated as ``default_collate`` would.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        prob: float = 1.0,
        mode: Literal["batch", "elem"] = "batch",
        image_key: str = "image",
        label_key: Optional[str] = "label",
        mask_key: Optional[str] = None,
        return_boxes: bool = False,
        off_epoch: Optional[int] = None,
        prob_schedule: Optional[Callable[[int], float]] = None,
    ) -> None:
        self.alpha = check_alpha(alpha)
        super().__init__(
            prob=prob, mode=mode, image_key=image_key, label_key=label_key, mask_key=mask_key,
            return_boxes=return_boxes, off_epoch=off_epoch, prob_schedule=prob_schedule,
        )

    def _pick(self) -> Tuple[str, float]:
        return "cutmix", self.alpha

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, {self._repr_args()})"


class MixUpCollator(_MixCollator):
    """A picklable ``collate_fn`` that returns MixUp batches, with the CutMix interface.

    Each image becomes ``lam * x[i] + (1 - lam) * x[j]`` with its partner ``j`` from a random
    permutation, and the target is ``MixedTarget(y_a, y_b, lam)``, so
    :class:`~cutmix_collate.CutMixCriterion` and the metrics work unchanged. Built straight
    into the output (shared memory in a worker), like :class:`CutMixCollator`.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)``; a finite number > 0 (0.2 to 1.0 is usual).
        prob: Probability that a batch is mixed.
        mode: ``"batch"``: one ``lam`` for the batch; ``"elem"``: a ``lam`` per sample.
        image_key: For dict samples, the key of the image.
        label_key: For dict samples, the key of the label.
        out_dtype: Images must be floating point; integer images (uint8) are an error unless
            ``out_dtype`` (e.g. ``torch.float32``) asks for a conversion (values kept, not rescaled).
        off_epoch: With :meth:`set_epoch`, turn mixing off from this epoch on.
        prob_schedule: With :meth:`set_epoch`, a picklable callable ``epoch -> prob``.
    """

    _kinds = ("mixup",)

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        prob: float = 1.0,
        mode: Literal["batch", "elem"] = "batch",
        image_key: str = "image",
        label_key: str = "label",
        out_dtype: Optional[torch.dtype] = None,
        off_epoch: Optional[int] = None,
        prob_schedule: Optional[Callable[[int], float]] = None,
    ) -> None:
        self.alpha = check_alpha(alpha)
        super().__init__(
            prob=prob, mode=mode, image_key=image_key, label_key=label_key, mask_key=None,
            return_boxes=False, off_epoch=off_epoch, prob_schedule=prob_schedule, out_dtype=out_dtype,
        )

    def _pick(self) -> Tuple[str, float]:
        return "mixup", self.alpha

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, {self._repr_args()})"


class CutMixOrMixUpCollator(_MixCollator):
    """A ``collate_fn`` that applies CutMix or MixUp, picked per batch (as timm's ``Mixup`` does).

    Args:
        cutmix_alpha: Beta parameter of CutMix batches.
        mixup_alpha: Beta parameter of MixUp batches.
        switch_prob: Probability that a batch uses CutMix rather than MixUp.
        prob: Probability that a batch is mixed at all.
        mode: ``"batch"`` or ``"elem"``, as for :class:`CutMixCollator`.
        image_key: For dict samples, the key of the image.
        label_key: For dict samples, the key of the label.
        out_dtype: As for :class:`MixUpCollator`: integer images need a floating ``out_dtype``;
            CutMix batches are converted to it too, so every batch has one dtype.
        return_boxes: Also return the :class:`~cutmix_collate.MixBoxes` (empty for MixUp batches).
        off_epoch: With :meth:`set_epoch`, turn mixing off from this epoch on.
        prob_schedule: With :meth:`set_epoch`, a picklable callable ``epoch -> prob``.
    """

    _kinds = ("cutmix", "mixup")

    def __init__(
        self,
        cutmix_alpha: float = 1.0,
        mixup_alpha: float = 0.2,
        *,
        switch_prob: float = 0.5,
        prob: float = 1.0,
        mode: Literal["batch", "elem"] = "batch",
        image_key: str = "image",
        label_key: str = "label",
        out_dtype: Optional[torch.dtype] = None,
        return_boxes: bool = False,
        off_epoch: Optional[int] = None,
        prob_schedule: Optional[Callable[[int], float]] = None,
    ) -> None:
        self.cutmix_alpha = check_alpha(cutmix_alpha, "cutmix_alpha")
        self.mixup_alpha = check_alpha(mixup_alpha, "mixup_alpha")
        self.switch_prob = check_prob(switch_prob, "switch_prob")
        super().__init__(
            prob=prob, mode=mode, image_key=image_key, label_key=label_key, mask_key=None,
            return_boxes=return_boxes, off_epoch=off_epoch, prob_schedule=prob_schedule,
            out_dtype=out_dtype,
        )

    def _pick(self) -> Tuple[str, float]:
        # Drawn every batch, from torch's default generator like everything else.
        if float(torch.rand(())) < self.switch_prob:
            return "cutmix", self.cutmix_alpha
        return "mixup", self.mixup_alpha

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(cutmix_alpha={self.cutmix_alpha}, mixup_alpha={self.mixup_alpha}, "
            f"switch_prob={self.switch_prob}, {self._repr_args()})"
        )


class _MainProcessOnly:
    """Holds a callable that only the main process calls (``prob_schedule``).

    DataLoader workers get a pickled copy of the collator; a lambda cannot be pickled, so it
    is sent as ``None`` rather than breaking spawn workers that never call it. Copies made
    with ``copy.deepcopy`` keep the callable itself.
    """

    def __init__(self, fn: Optional[Callable[[int], float]]) -> None:
        self.fn = fn

    def __deepcopy__(self, memo: Dict[int, Any]) -> "_MainProcessOnly":
        return self

    def __reduce__(self) -> Tuple[Any, Tuple[Any]]:
        try:
            pickle.dumps(self.fn)
        except Exception:  # noqa: BLE001 - any pickling failure: the workers don't need it
            return (_MainProcessOnly, (None,))
        return (_MainProcessOnly, (self.fn,))


def _split_pair(sample: Any, i: int) -> Tuple[Any, Any]:
    if not isinstance(sample, (tuple, list)) or len(sample) != 2:
        what = (
            f"a {type(sample).__name__} of length {len(sample)}"
            if isinstance(sample, (tuple, list)) else describe(sample)
        )
        raise TypeError(
            f"each sample must be an (image, label) pair or a dict, got {what} at sample {i}"
        )
    return sample[0], sample[1]


# --------------------------------------------------------------------------- inputs


def _as_image(image: Any, i: int, what: str = "image", channels_first: bool = True) -> Tensor:
    """A sample's image (or mask) as a tensor, without copying tensors or numpy arrays.

    PIL images become ``(C, H, W)``; a single-band PIL image is ``(1, H, W)`` as an image
    and ``(H, W)`` as a mask (``channels_first=False``).
    """
    if isinstance(image, Tensor):
        tensor = image
    elif isinstance(image, np.ndarray):
        tensor = _from_numpy(image)
    elif _is_pil(image):
        array = np.asarray(image)
        tensor = _from_numpy(array)
        if tensor.dim() == 3:
            tensor = tensor.permute(2, 0, 1)
        elif channels_first:
            tensor = tensor.unsqueeze(0)
    else:
        raise TypeError(
            f"{what} of sample {i} must be a tensor, a numpy array or a PIL image, "
            f"got {describe(image)}"
        )
    if tensor.dim() < 2:
        raise ValueError(
            f"{what} of sample {i} must have at least 2 dimensions (H, W), "
            f"got shape {tuple(tensor.shape)}"
        )
    return tensor


def _from_numpy(array: np.ndarray) -> Tensor:
    if array.flags.writeable:
        return torch.from_numpy(array)
    # Read-only arrays (e.g. from PIL) are only ever read here: silence torch's warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def _is_pil(obj: Any) -> bool:
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(obj, pil.Image)


def _all_pairs(batch: Sequence[Any]) -> bool:
    """Fast check that every sample is a tuple or list of length 2 (C-level ``map`` loops)."""
    return set(map(type, batch)) <= _PAIR_TYPES and set(map(len, batch)) == {2}


_PAIR_TYPES = {tuple, list}
_TENSOR_TYPE = {Tensor}
_INT_TYPE = {int}
_shape_of = operator.attrgetter("shape")
_dtype_of = operator.attrgetter("dtype")
_is_cpu = operator.attrgetter("is_cpu")


def _check_images(images: List[Tensor], what: str = "image") -> None:
    first = images[0]
    if first.dim() < 2:
        raise ValueError(
            f"{what} of sample 0 must have at least 2 dimensions (H, W), got shape {tuple(first.shape)}"
        )
    if first.shape[-1] == 0 or first.shape[-2] == 0:
        raise ValueError(f"{what}s must have H >= 1 and W >= 1, got shape {tuple(first.shape)} at sample 0")
    if (
        len(set(map(_shape_of, images))) == 1
        and len(set(map(_dtype_of, images))) == 1
        and all(map(_is_cpu, images))
    ):
        return  # fast path; the loop below finds and names the first bad sample
    for i, image in enumerate(images):
        if image.dim() < 2:
            raise ValueError(
                f"{what} of sample {i} must have at least 2 dimensions (H, W), "
                f"got shape {tuple(image.shape)}"
            )
        if image.shape != first.shape:
            raise ValueError(
                f"all {what}s in a batch must have the same shape; "
                f"sample {i} has {tuple(image.shape)}, sample 0 has {tuple(first.shape)}"
            )
        if image.dtype != first.dtype:
            raise ValueError(
                f"all {what}s in a batch must have the same dtype; "
                f"sample {i} has {image.dtype}, sample 0 has {first.dtype}"
            )
        if image.device != first.device:
            raise ValueError(
                f"all {what}s in a batch must be on the same device; "
                f"sample {i} is on {image.device}, sample 0 on {first.device}"
            )


# --------------------------------------------------------------------------- outputs


def _new_batch_storage(nbytes: int, device: torch.device, shared: bool = True) -> torch.UntypedStorage:
    """Storage for a batch: in shared memory inside a DataLoader worker, as default_collate does."""
    if shared and device.type == "cpu" and get_worker_info() is not None:
        new_shared = getattr(torch.UntypedStorage, "_new_shared", None)
        if new_shared is not None:
            return new_shared(nbytes)
        return torch.empty(nbytes, dtype=torch.uint8).share_memory_().untyped_storage()
    return torch.empty(nbytes, dtype=torch.uint8, device=device).untyped_storage()


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _view(storage: torch.UntypedStorage, byte_offset: int, shape: Tuple[int, ...], dtype: torch.dtype) -> Tensor:
    return torch.empty(0, dtype=dtype, device=storage.device).set_(storage, byte_offset // _itemsize(dtype), shape)


def _mix_images(
    images: List[Tensor], draw: _Draw, mode: str, out_dtype: Optional[torch.dtype] = None, shared: bool = True
) -> Tensor:
    """Write the mixed batch into a new (shared, in a worker) tensor, each byte once.

    With an ``out_dtype`` other than the images' (a switching collator's CutMix batches), the
    batch is mixed in private memory and converted once into the shared output.
    """
    first = images[0]
    shape = (len(images),) + tuple(first.shape)
    if out_dtype is not None and out_dtype != first.dtype:
        mixed = _mix_images(images, draw, mode, shared=False)
        storage = _new_batch_storage(mixed.numel() * _itemsize(out_dtype), first.device)
        return _view(storage, 0, shape, out_dtype).copy_(mixed)
    nbytes = first.numel() * first.element_size() * len(images)
    out = _view(_new_batch_storage(nbytes, first.device, shared), 0, shape, first.dtype)
    if not draw.mixed:
        return torch.stack(images, out=out)
    if _use_scratch(first, len(images)):
        _fill_from_scratch(out, images, draw, mode)
    else:
        _fill_per_sample(out, images, draw, mode)
    return out


_SCRATCH = threading.local()

#: Integer dtypes to view pixels as, by element size, for the bitwise blend of elem mode.
_BIT_VIEWS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _use_scratch(first: Tensor, batch_size: int) -> bool:
    """Whether to mix through a stacked scratch buffer (small images) or per sample."""
    return (
        first.numel() <= _SMALL_IMAGE_NUMEL
        and first.numel() * first.element_size() * batch_size <= _SCRATCH_MAX_BYTES
    )


def _scratch(slot: int, shape: Tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """A temporary for the small-image path, from a buffer kept per thread between batches.

    Each batch would otherwise allocate its temporaries afresh; at a few MiB each, glibc gives
    them back to the kernel on free and the next batch pays their page faults again (measured
    5-20x slower than reusing the memory). At most three slots of at most 16 MiB are kept,
    never handed out: the output is always a new tensor.
    """
    nbytes = _itemsize(dtype) * int(np.prod(shape))
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    buffer = buffers.get(slot)
    if buffer is None or buffer.nbytes() < nbytes:
        buffer = buffers[slot] = torch.UntypedStorage(max(nbytes, 1))
    return _view(buffer, 0, shape, dtype)


def _stack_scratch(images: List[Tensor], slot: int = 0) -> Tensor:
    first = images[0]
    return torch.stack(images, out=_scratch(slot, (len(images),) + tuple(first.shape), first.dtype, first.device))


def _fill_from_scratch(out: Tensor, images: List[Tensor], draw: _Draw, mode: str) -> None:
    """Small batches: whole-batch operations from the stacked samples into ``out``."""
    index = draw.index
    scratch = _stack_scratch(images)
    if mode == "elem":
        bits = _BIT_VIEWS.get(out.element_size())
        mask = box_mask(out.shape[-2], out.shape[-1], draw.box, torch.bool if bits is None else bits)
        mask = mask.view(mask.shape[:1] + (1,) * (out.dim() - 3) + mask.shape[1:])
        if bits is None:  # e.g. complex128: no integer view of that size
            torch.where(mask, scratch.index_select(0, index), scratch, out=out)
            return
        # Blend the bit patterns: s ^ ((s ^ p) & m) is s outside the box (m = 0) and p inside
        # (m = all ones), bit for bit (-0.0, NaN payloads, inf), for every dtype, and on the
        # CPU it runs 4-20x faster than torch.where. out is written once, by the last op.
        own = scratch.view(bits)
        blend = torch.index_select(own, 0, index, out=_scratch(1, own.shape, bits, own.device))
        torch.bitwise_xor(own, blend, out=blend)
        blend.bitwise_and_(mask)
        torch.bitwise_xor(blend, own, out=out.view(bits))
        return
    y0, y1, x0, x1 = draw.box
    if y1 == y0 or x1 == x0:  # empty box: the whole image is its own
        out.copy_(scratch)
        return
    # Both are contiguous batches: each region is one view over the whole batch.
    lead = tuple(out.shape[1:-2])
    for y, x, size, own in _regions(out.shape[-2], out.shape[-1], draw.box, flat=True):
        dest = _region_view(out, out.stride(), out.storage_offset(), lead, y, x, size, batch=out.shape[0])
        src = _region_view(scratch, scratch.stride(), scratch.storage_offset(), lead, y, x, size,
                           batch=out.shape[0])
        if own:
            dest.copy_(src)
        else:
            torch.index_select(src, 0, index, out=dest)


def _region_view(
    tensor: Tensor, stride: Tuple[int, ...], base: int, lead: Tuple[int, ...],
    y: int, x: int, size: Tuple[int, ...], batch: Optional[int] = None,
) -> Tensor:
    """A region of :func:`_regions` as a view: of one image, or of every image of a batch.

    ``stride`` and ``base`` are the image's strides and storage offset (for a batch, the batch's
    strides, the first being the batch stride).
    """
    image_stride = stride[1:] if batch is not None else stride
    tail = image_stride[-2:] if len(size) == 2 else image_stride[-1:]
    offset = base + y * image_stride[-2] + x * image_stride[-1]
    if batch is None:
        return tensor.as_strided(lead + size, image_stride[:-2] + tail, offset)
    return tensor.as_strided((batch,) + lead + size, stride[:1] + image_stride[:-2] + tail, offset)


def _regions(
    height: int, width: int, box: Tuple[int, int, int, int], flat: bool
) -> List[Tuple[int, int, Tuple[int, ...], bool]]:
    """The regions one image is written in: ``(y, x, size, own)`` each, ``own`` False for the box.

    ``size`` is ``(rows, cols)`` for a rectangle or ``(n,)`` for a run of ``n`` pixels in
    row-major order. With ``flat``, the part outside the box is one run before it, one run
    after it and the ``h - 1`` gaps between its rows (each the right of one row and the left of
    the next): half as many short row pieces as the four rectangles around the box, which is
    what a uint8 copy pays for.
    """
    y0, y1, x0, x1 = box
    h, w = y1 - y0, x1 - x0
    if flat:
        regions = [
            (0, 0, (y0 * width + x0,), True),  # everything before the box's first pixel
            (y0, x1, (h - 1, width - w), True),  # between the box's rows
            (y1 - 1, x1, ((height - y1) * width + width - x1,), True),  # after its last pixel
        ]
    else:
        regions = [
            (0, 0, (y0, width), True),  # above the box
            (y1, 0, (height - y1, width), True),  # below the box
            (y0, 0, (h, x0), True),  # left of the box
            (y0, x1, (h, width - x1), True),  # right of the box
        ]
    regions.append((y0, x0, (h, w), False))  # the box, from the partner
    return [r for r in regions if all(r[2])]


def _fill_per_sample(out: Tensor, images: List[Tensor], draw: _Draw, mode: str) -> None:
    """Region copies per sample, straight from the samples into ``out``.

    The regions (:func:`_regions`) are gathered as views and copied by one
    ``torch._foreach_copy_`` call: per-copy Python dispatch would otherwise cost as much as the
    bytes for uint8 images. Views are made with ``as_strided`` from precomputed strides (about
    1 us a view); in batch mode the destination views of a region come from one ``unbind``.
    """
    partners = draw.index.tolist()
    height, width = out.shape[-2:]
    lead = tuple(out.shape[1:-2])
    geometry = [(image.stride(), image.storage_offset()) for image in images]
    # Runs across rows need each image's rows back to back (row stride = width * column
    # stride), as in any contiguous image; otherwise the four rectangles around the box.
    flat = all(stride[-2] == width * stride[-1] for stride, _ in geometry)
    out_stride = out.stride()
    dest_stride = out_stride[1:]
    dests: List[Tensor] = []
    sources: List[Tensor] = []

    if mode == "batch":
        if draw.box[1] == draw.box[0] or draw.box[3] == draw.box[2]:
            torch.stack(images, out=out)
            return
        for y, x, size, own in _regions(height, width, draw.box, flat):
            # One view over the batch, then unbind: one call for all the destinations.
            whole = _region_view(out, out_stride, out.storage_offset(), lead, y, x, size, batch=len(images))
            dests.extend(whole.unbind(0))
            for i, j in enumerate(partners):
                k = i if own else j
                sources.append(_region_view(images[k], geometry[k][0], geometry[k][1], lead, y, x, size))
    else:
        boxes = zip(*(t.tolist() for t in draw.box))
        for i, (j, box) in enumerate(zip(partners, boxes)):
            base = out.storage_offset() + i * out_stride[0]
            if box[1] == box[0] or box[3] == box[2]:
                dests.append(out[i])
                sources.append(images[i])
                continue
            for y, x, size, own in _regions(height, width, box, flat):
                k = i if own else j
                dests.append(_region_view(out, dest_stride, base, lead, y, x, size))
                sources.append(_region_view(images[k], geometry[k][0], geometry[k][1], lead, y, x, size))
    _copy_all(dests, sources)


def _copy_all(dests: List[Tensor], sources: List[Tensor]) -> None:
    """``dest.copy_(source)`` for every pair, in one C++ call where torch has one."""
    foreach_copy = getattr(torch, "_foreach_copy_", None)
    if foreach_copy is not None and dests:
        foreach_copy(dests, sources)
        return
    for dest, src in zip(dests, sources):
        dest.copy_(src)


def _blend_images(images: List[Tensor], draw: _Draw, dtype: torch.dtype) -> Tensor:
    """MixUp: ``lam * x[i] + (1 - lam) * x[index[i]]`` written once into a new batch tensor."""
    first = images[0]
    shape = (len(images),) + tuple(first.shape)
    out = _view(_new_batch_storage(first.numel() * _itemsize(dtype) * len(images), first.device), 0, shape, dtype)
    convert = first.dtype != dtype
    if not draw.mixed:
        if convert:
            out.copy_(torch.stack(images))
            return out
        return torch.stack(images, out=out)
    lam = draw.lam
    small = _use_scratch(first, len(images))
    if small or convert:
        scratch = _stack_scratch(images) if small else torch.stack(images)
        if convert:
            scratch = scratch.to(dtype)
        weight = lam.to(dtype).view((-1,) + (1,) * first.dim()) if isinstance(lam, Tensor) else lam
        partner_buffer = _scratch(1, scratch.shape, dtype, scratch.device) if small else None
        partner = torch.index_select(scratch, 0, draw.index, out=partner_buffer)
        # lerp(partner, x, lam) = partner + lam * (x - partner) = lam * x + (1 - lam) * partner
        torch.lerp(partner, scratch, weight, out=out)
        return out
    weights = lam.tolist() if isinstance(lam, Tensor) else [lam] * len(images)
    for i, (j, weight) in enumerate(zip(draw.index.tolist(), weights)):
        torch.lerp(images[j], images[i], weight, out=out[i])
    return out


def _mix_labels(labels: List[Any], draw: _Draw) -> MixedTarget:
    """Collate the labels like default_collate; ``y_a``, ``y_b`` (and lam) share one storage."""
    y = _collate_labels(labels)
    batch = y.shape[0]
    elem = isinstance(draw.lam, Tensor)
    label_bytes = y.numel() * y.element_size()
    lam_offset = -(-2 * label_bytes // 16) * 16  # 16-byte aligned
    nbytes = lam_offset + (batch * 4 if elem else 0)
    storage = _new_batch_storage(max(nbytes, 1), y.device)
    both = _view(storage, 0, (2,) + tuple(y.shape), y.dtype)
    y_a, y_b = both[0], both[1]
    y_a.copy_(y)
    if draw.mixed:
        torch.index_select(y, 0, draw.index, out=y_b)
    else:
        y_b.copy_(y)
    lam: Union[float, Tensor] = draw.lam
    if elem:
        lam = _view(storage, lam_offset, (batch,), torch.float32)
        lam.copy_(draw.lam)
    return MixedTarget(y_a, y_b, lam)


def _collate_labels(labels: List[Any]) -> Tensor:
    """Labels as one tensor of shape ``(B,)`` or ``(B, K)``, as default_collate would build it."""
    first = labels[0]
    if type(first) is int and set(map(type, labels)) == _INT_TYPE:
        return torch.tensor(labels)  # fast path: class indices as Python ints
    if isinstance(first, Tensor) and first.dim() <= 1:
        shape, dtype = first.shape, first.dtype
        if all(isinstance(label, Tensor) and label.shape == shape and label.dtype == dtype for label in labels):
            return torch.stack(labels)  # fast path: 0-d tensors or label vectors
    tensors: List[Tensor] = []
    numbers_only = True
    for i, label in enumerate(labels):
        if isinstance(label, Tensor):
            tensors.append(label)
            numbers_only = False
        elif isinstance(label, np.ndarray) or isinstance(label, np.generic):
            if label.dtype.kind not in "biuf":
                raise TypeError(f"label of sample {i} must be a number or a tensor, got {describe(label)}")
            tensors.append(torch.as_tensor(label))
            numbers_only = False
        elif isinstance(label, numbers.Number) and not isinstance(label, complex):
            tensors.append(label)  # type: ignore[arg-type]
        elif isinstance(label, (list, tuple)) and all(
            isinstance(v, numbers.Real) for v in label
        ) and len(label) > 0:
            tensors.append(torch.tensor(label))
            numbers_only = False
        else:
            raise TypeError(f"label of sample {i} must be a number or a tensor, got {describe(label)}")
    if numbers_only:
        # As default_collate: the first label's type decides; Python floats become float64.
        if isinstance(labels[0], float):
            return torch.tensor(tensors, dtype=torch.float64)
        return torch.tensor(tensors)
    converted = [t if isinstance(t, Tensor) else torch.tensor(t) for t in tensors]
    first = converted[0]
    if first.dim() > 1:
        raise ValueError(
            f"label of sample 0 must be a number, a 0-d tensor or a vector of shape (K,), "
            f"got shape {tuple(first.shape)}"
        )
    for i, label in enumerate(converted):
        if label.shape != first.shape or label.dtype != first.dtype:
            raise ValueError(
                "all labels in a batch must have the same shape and dtype; "
                f"sample {i} has {tuple(label.shape)} {label.dtype}, "
                f"sample 0 has {tuple(first.shape)} {first.dtype}"
            )
    return torch.stack(converted)
