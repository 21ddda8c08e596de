"""CutMixCollator: a ``collate_fn`` that builds the mixed batch straight from the samples.

The collator runs inside DataLoader workers. It draws its parameters with
:func:`cutmix_collate.functional.draw_params` (torch's default generator, which the
DataLoader seeds per worker) and writes each output byte once: outside the box from the sample
itself, inside the box from its partner. Inside a worker the batch is allocated in shared
memory, as ``default_collate`` does, so it is not copied again on its way to the main process;
``y_a``, ``y_b`` and a per-sample ``lam`` share one second segment.

How the bytes are written depends on the size of one image (measured, see the README's
Performance section):

* large images: per sample, five region copies (above, below, left of, right of the box
  from the sample; the box from the partner) straight into the output. A full-batch
  temporary would cost as much as the whole collate in page faults.
* small images (at most ``_SMALL_IMAGE_NUMEL`` elements): the Python calls per sample would
  dominate, so the samples are stacked once into a private scratch buffer with a single
  vectorised copy, and the output is then written from it with a handful of whole-batch
  operations. Each output byte is still written once; the scratch is small and reuses
  freed memory.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import default_collate, get_worker_info

from ._checks import _describe, check_alpha, check_choice, check_prob
from .functional import MODES, MixBoxes, MixedTarget, _Draw, box_mask, boxes_tensor, draw_params

__all__ = ["CutMixCollator"]

#: Images with at most this many elements are stacked into a scratch buffer first and mixed
#: with whole-batch operations (see the module docstring); larger ones are copied per sample.
_SMALL_IMAGE_NUMEL = 16384


class CutMixCollator:
    """A picklable ``collate_fn`` that returns CutMix batches.

    Pass it to a DataLoader; it works in the main process and in workers (fork and spawn)::

        loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=2,
                            collate_fn=CutMixCollator(alpha=1.0))
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
            :class:`~cutmix_collate.MixedTarget` in the output dict.
        return_boxes: Also return the :class:`~cutmix_collate.MixBoxes` used: a third item
            for pair samples, the key ``"mix_boxes"`` for dict samples.

    Samples are ``(image, label)`` pairs (tuples or lists) or dicts. Images are tensors of
    shape ``(C, H, W)`` or ``(H, W)`` (any leading dimensions: the box is cut from the last
    two), numpy arrays, or PIL images (converted to ``(C, H, W)`` uint8 tensors); any dtype,
    which is kept. Labels are ints, floats, 0-d tensors, or label vectors of shape ``(K,)``
    (tensors, numpy arrays or lists of numbers: multi-label, one-hot or soft), collated as
    ``default_collate`` would; ``y_b`` holds the partners' labels.

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
        label_key: str = "label",
        return_boxes: bool = False,
    ) -> None:
        self.alpha = check_alpha(alpha)
        self.prob = check_prob(prob)
        self.mode = check_choice(mode, MODES, "mode")
        self.image_key = image_key
        self.label_key = label_key
        self.return_boxes = bool(return_boxes)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(alpha={self.alpha}, prob={self.prob}, mode={self.mode!r})"
        )

    def __call__(self, batch: Sequence[Any]) -> Any:
        """Collate a list of samples into a mixed batch (see the class docstring)."""
        if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)):
            raise TypeError(f"batch must be a list of samples, got {_describe(batch)}")
        if len(batch) == 0:
            raise ValueError("batch must hold at least one sample, got an empty batch")
        is_dict = isinstance(batch[0], dict)
        if is_dict or not _all_pairs(batch):
            pairs = [self._split_sample(sample, i, is_dict) for i, sample in enumerate(batch)]
            raw_images = [pair[0] for pair in pairs]
            labels = [pair[1] for pair in pairs]
        else:
            raw_images = [sample[0] for sample in batch]
            labels = [sample[1] for sample in batch]
        if all(isinstance(image, Tensor) for image in raw_images):
            images = raw_images
            if images[0].dim() < 2:
                _as_image(images[0], 0)  # raises the error for too few dimensions
        else:
            images = [_as_image(image, i) for i, image in enumerate(raw_images)]
        _check_images(images)
        draw = self._draw(images[0], len(images))
        out = _mix_images(images, draw, self.mode)
        target = _mix_labels(labels, draw)
        boxes = boxes_tensor(draw, len(images)) if self.return_boxes else None
        if not is_dict:
            return (out, target) if boxes is None else (out, target, boxes)
        result: Dict[str, Any] = {}
        for key in batch[0]:
            if key == self.image_key:
                result[key] = out
            elif key == self.label_key:
                result[key] = target
            else:
                result[key] = default_collate([sample[key] for sample in batch])
        if boxes is not None:
            result["mix_boxes"] = boxes
        return result

    def _draw(self, first: Tensor, batch_size: int) -> _Draw:
        # generator=None: torch's default generator, seeded per worker by the DataLoader.
        return draw_params(
            batch_size, first.shape[-2], first.shape[-1],
            alpha=self.alpha, prob=self.prob, mode=self.mode, device=first.device,
        )

    def _split_sample(self, sample: Any, i: int, is_dict: bool) -> Tuple[Any, Any]:
        if is_dict:
            if not isinstance(sample, dict):
                raise TypeError(
                    f"every sample must be a dict like sample 0, got {_describe(sample)} at sample {i}"
                )
            for key, name in ((self.image_key, "image_key"), (self.label_key, "label_key")):
                if key not in sample:
                    raise ValueError(
                        f"sample {i} has no key {key!r} ({name}); its keys are {sorted(map(str, sample))}"
                    )
            return sample[self.image_key], sample[self.label_key]
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            what = (
                f"a {type(sample).__name__} of length {len(sample)}"
                if isinstance(sample, (tuple, list)) else _describe(sample)
            )
            raise TypeError(
                f"each sample must be an (image, label) pair or a dict, got {what} at sample {i}"
            )
        return sample[0], sample[1]


# --------------------------------------------------------------------------- inputs


def _as_image(image: Any, i: int) -> Tensor:
    """A sample's image as a tensor, without copying tensors or numpy arrays."""
    if isinstance(image, Tensor):
        tensor = image
    elif isinstance(image, np.ndarray):
        tensor = _from_numpy(image)
    elif _is_pil(image):
        array = np.asarray(image)
        tensor = _from_numpy(array)
        tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    else:
        raise TypeError(
            f"image of sample {i} must be a tensor, a numpy array or a PIL image, "
            f"got {_describe(image)}"
        )
    if tensor.dim() < 2:
        raise ValueError(
            f"image of sample {i} must have at least 2 dimensions (H, W), "
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
    """Fast check that every sample is a tuple or list of length 2."""
    return all(type(s) in (tuple, list) and len(s) == 2 for s in batch)


def _check_images(images: List[Tensor]) -> None:
    first = images[0]
    if first.shape[-1] == 0 or first.shape[-2] == 0:
        raise ValueError(f"images must have H >= 1 and W >= 1, got shape {tuple(first.shape)} at sample 0")
    shape, dtype, on_cpu = first.shape, first.dtype, first.is_cpu
    if on_cpu and all(
        image.shape == shape and image.dtype == dtype and image.is_cpu for image in images
    ):
        return  # fast path; the loop below finds and names the first bad sample
    for i, image in enumerate(images):
        if image.shape != first.shape:
            raise ValueError(
                "all images in a batch must have the same shape; "
                f"sample {i} has {tuple(image.shape)}, sample 0 has {tuple(first.shape)}"
            )
        if image.dtype != first.dtype:
            raise ValueError(
                "all images in a batch must have the same dtype; "
                f"sample {i} has {image.dtype}, sample 0 has {first.dtype}"
            )
        if image.device != first.device:
            raise ValueError(
                "all images in a batch must be on the same device; "
                f"sample {i} is on {image.device}, sample 0 on {first.device}"
            )


# --------------------------------------------------------------------------- outputs


def _new_batch_storage(nbytes: int, device: torch.device) -> torch.UntypedStorage:
    """Storage for a batch: in shared memory inside a DataLoader worker, as default_collate does."""
    if device.type == "cpu" and get_worker_info() is not None:
        new_shared = getattr(torch.UntypedStorage, "_new_shared", None)
        if new_shared is not None:
            return new_shared(nbytes)
        return torch.empty(nbytes, dtype=torch.uint8).share_memory_().untyped_storage()
    return torch.empty(nbytes, dtype=torch.uint8, device=device).untyped_storage()


def _view(storage: torch.UntypedStorage, byte_offset: int, shape: Tuple[int, ...], dtype: torch.dtype) -> Tensor:
    itemsize = torch.empty((), dtype=dtype).element_size()
    return torch.empty(0, dtype=dtype, device=storage.device).set_(storage, byte_offset // itemsize, shape)


def _mix_images(images: List[Tensor], draw: _Draw, mode: str) -> Tensor:
    """Write the mixed batch into a new (shared, in a worker) tensor, each byte once."""
    first = images[0]
    shape = (len(images),) + tuple(first.shape)
    nbytes = first.numel() * first.element_size() * len(images)
    out = _view(_new_batch_storage(nbytes, first.device), 0, shape, first.dtype)
    if not draw.mixed:
        return torch.stack(images, out=out)
    if first.numel() <= _SMALL_IMAGE_NUMEL:
        _fill_from_scratch(out, torch.stack(images), draw, mode)
    else:
        _fill_per_sample(out, images, draw, mode)
    return out


def _fill_from_scratch(out: Tensor, scratch: Tensor, draw: _Draw, mode: str) -> None:
    """Small batches: whole-batch copies from the stacked samples into ``out``."""
    index = draw.index
    if mode == "elem":
        mask = box_mask(out.shape[-2], out.shape[-1], draw.box)
        mask = mask.view(mask.shape[:1] + (1,) * (out.dim() - 3) + mask.shape[1:])
        torch.where(mask, scratch.index_select(0, index), scratch, out=out)
        return
    y0, y1, x0, x1 = draw.box
    height, width = out.shape[-2:]
    batch = out.shape[0]
    # Flatten each image to (B, P, H * W) with P the leading dims: outside the box, the image
    # is one run before the box, one run after it, and (h - 1) equal gaps between box rows.
    flat_out = out.view(batch, -1, height * width)
    flat_src = scratch.view(batch, -1, height * width)
    start, end = y0 * width + x0, (y1 - 1) * width + x1
    if y1 == y0 or x1 == x0:  # empty box: the whole image is its own
        flat_out.copy_(flat_src)
        return
    flat_out[:, :, :start].copy_(flat_src[:, :, :start])
    flat_out[:, :, end:].copy_(flat_src[:, :, end:])
    if y1 - y0 > 1 and x1 - x0 < width:
        size = (batch, flat_out.shape[1], y1 - y0 - 1, width - (x1 - x0))
        stride = (flat_out.stride(0), flat_out.stride(1), width, 1)
        offset = y0 * width + x1
        flat_out.as_strided(size, stride, flat_out.storage_offset() + offset).copy_(
            flat_src.as_strided(size, stride, flat_src.storage_offset() + offset)
        )
    torch.index_select(scratch[..., y0:y1, x0:x1], 0, index, out=out[..., y0:y1, x0:x1])


def _fill_per_sample(out: Tensor, images: List[Tensor], draw: _Draw, mode: str) -> None:
    """Five region copies per sample, straight from the samples into ``out``.

    Views are made with ``as_strided`` from precomputed strides: at about 1 us a view it is
    the cheapest way to address a region, which matters with hundreds of samples.
    """
    partners = draw.index.tolist()
    if mode == "elem":
        boxes = list(zip(*(t.tolist() for t in draw.box)))
    else:
        boxes = [draw.box] * len(images)
    height, width = out.shape[-2:]
    lead = tuple(out.shape[1:-2])
    out_stride = out.stride()
    dest_stride = out_stride[1:]
    dest_row, dest_col = dest_stride[-2], dest_stride[-1]
    geometry = [(image.stride(), image.storage_offset()) for image in images]
    for i, (image, j, (y0, y1, x0, x1)) in enumerate(zip(images, partners, boxes)):
        dest_base = out.storage_offset() + i * out_stride[0]
        if y1 == y0 or x1 == x0:
            out.as_strided(lead + (height, width), dest_stride, dest_base).copy_(image)
            continue
        src_stride, src_base = geometry[i]
        src_row, src_col = src_stride[-2], src_stride[-1]
        h, w = y1 - y0, x1 - x0
        for y, rows, x, cols in (
            (0, y0, 0, width),  # above the box
            (y1, height - y1, 0, width),  # below the box
            (y0, h, 0, x0),  # left of the box
            (y0, h, x1, width - x1),  # right of the box
        ):
            if rows and cols:
                size = lead + (rows, cols)
                out.as_strided(size, dest_stride, dest_base + y * dest_row + x * dest_col).copy_(
                    image.as_strided(size, src_stride, src_base + y * src_row + x * src_col)
                )
        partner_stride, partner_base = geometry[j]
        size = lead + (h, w)
        out.as_strided(size, dest_stride, dest_base + y0 * dest_row + x0 * dest_col).copy_(
            images[j].as_strided(
                size, partner_stride, partner_base + y0 * partner_stride[-2] + x0 * partner_stride[-1]
            )
        )


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
    if type(first) is int and all(type(label) is int for label in labels):
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
                raise TypeError(f"label of sample {i} must be a number or a tensor, got {_describe(label)}")
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
            raise TypeError(f"label of sample {i} must be a number or a tensor, got {_describe(label)}")
    if numbers_only:
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
