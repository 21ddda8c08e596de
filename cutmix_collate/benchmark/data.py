"""The benchmark's batch configurations, datasets and the collate variants it compares."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from .. import CutMixCollator, MixUpCollator

__all__ = ["CONFIGS", "NUM_CLASSES", "DATASETS", "InMemoryDataset", "AugmentedDataset", "RealisticDataset",
           "variants"]

CONFIGS = {
    "256x3x32x32-float32": (256, (3, 32, 32), torch.float32),
    "64x3x224x224-float32": (64, (3, 224, 224), torch.float32),
    "64x3x224x224-uint8": (64, (3, 224, 224), torch.uint8),
}
NUM_CLASSES = 100


class InMemoryDataset(Dataset):
    """``(image, label)`` from a stored tensor: the collate cost is fully visible."""

    def __init__(self, shape: Tuple[int, ...], dtype: torch.dtype, length: int, distinct: int = 256) -> None:
        gen = torch.Generator().manual_seed(0)
        data = torch.randint(0, 256, (min(distinct, length),) + shape, generator=gen, dtype=torch.uint8)
        self.images = data if dtype == torch.uint8 else data.to(dtype) / 255
        self.labels = torch.randint(0, NUM_CLASSES, (length,), generator=gen).tolist()
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        return self.images[i % len(self.images)], self.labels[i]


class AugmentedDataset(Dataset):
    """``(image, label)`` with per-sample work: random crop (e.g. 256 -> 224) and flip of uint8."""

    def __init__(self, shape: Tuple[int, ...], dtype: torch.dtype, length: int, distinct: int = 256) -> None:
        channels, size = shape[0], shape[-1]
        self.size = size
        self.big = (size * 256) // 224
        rng = np.random.default_rng(0)
        self.arrays = rng.integers(0, 256, (min(distinct, length), channels, self.big, self.big), dtype=np.uint8)
        self.labels = rng.integers(0, NUM_CLASSES, length).tolist()
        self.dtype = dtype
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        array = self.arrays[i % len(self.arrays)]
        top, left, flip = torch.randint(0, self.big - self.size + 1, (3,)).tolist()
        crop = array[:, top:top + self.size, left:left + self.size]
        if flip % 2:
            crop = crop[:, :, ::-1]
        image = torch.from_numpy(np.ascontiguousarray(crop))
        if self.dtype != torch.uint8:
            image = image.to(self.dtype).div_(255)
        return image, self.labels[i]


class RealisticDataset(Dataset):
    """The ImageNet recipe: JPEG bytes in memory, decoded per sample, ``RandomResizedCrop``, flip,
    then float32 normalised (kept uint8 for a uint8 configuration)."""

    def __init__(self, shape: Tuple[int, ...], dtype: torch.dtype, length: int, distinct: int = 64) -> None:
        from torchvision.io import encode_jpeg
        from torchvision.transforms import v2

        channels, size = shape[0], shape[-1]
        gen = torch.Generator().manual_seed(0)
        side = (size * 8) // 7  # e.g. 256 for 224: a source a little larger than the crop
        # Smooth images with some noise compress and decode like photos (pure noise would not).
        low = torch.rand((min(distinct, length), channels, 8, 8), generator=gen)
        smooth = torch.nn.functional.interpolate(low, size=(side, side + side // 4), mode="bilinear")
        noisy = (smooth * 200 + torch.rand(smooth.shape, generator=gen) * 55).to(torch.uint8)
        self.jpegs = [encode_jpeg(image, quality=90) for image in noisy]
        self.labels = torch.randint(0, NUM_CLASSES, (length,), generator=gen).tolist()
        steps: List[Any] = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
        if dtype != torch.uint8:
            steps += [v2.ToDtype(dtype, scale=True), v2.Normalize([0.485, 0.456, 0.406][:channels],
                                                                   [0.229, 0.224, 0.225][:channels])]
        self.transform = v2.Compose(steps)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        from torchvision.io import decode_jpeg

        return self.transform(decode_jpeg(self.jpegs[i % len(self.jpegs)])), self.labels[i]


DATASETS = {"memory": InMemoryDataset, "augmented": AugmentedDataset, "realistic": RealisticDataset}


class _CollateThen:
    """``default_collate`` followed by a batch transform, inside the collate_fn (picklable)."""

    def __init__(self, transform: Callable) -> None:
        self.transform = transform

    def __call__(self, batch: List[Any]) -> Any:
        images, labels = default_collate(batch)
        return self.transform(images, labels)


def variants(dtype: torch.dtype) -> Tuple[Dict[str, Dict[str, Any]], List[str]]:
    """The loaders to compare: name -> {collate_fn, after} (a transform after the loader)."""
    notes: List[str] = []
    found: Dict[str, Dict[str, Any]] = {
        "default_collate": {"collate_fn": default_collate},
        "CutMixCollator(batch)": {"collate_fn": CutMixCollator()},
        "CutMixCollator(elem)": {"collate_fn": CutMixCollator(mode="elem")},
    }
    if dtype.is_floating_point:
        found["MixUpCollator(batch)"] = {"collate_fn": MixUpCollator()}
    try:
        from torchvision.transforms import v2
    except ImportError:
        notes.append("torchvision not installed: v2.CutMix rows skipped")
    else:
        cutmix = v2.CutMix(alpha=1.0, num_classes=NUM_CLASSES)
        found["v2.CutMix in collate_fn"] = {"collate_fn": _CollateThen(cutmix)}
        found["v2.CutMix after loader"] = {"collate_fn": default_collate, "after": cutmix}
    try:
        from timm.data import FastCollateMixup, Mixup
    except ImportError:
        notes.append("timm not installed: timm rows skipped (pip install timm)")
    else:
        if dtype == torch.uint8:
            found["timm FastCollateMixup(cutmix)"] = {
                "collate_fn": FastCollateMixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=NUM_CLASSES)
            }
        else:
            mix = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=NUM_CLASSES)
            found["timm Mixup(cutmix) after loader"] = {"collate_fn": default_collate, "after": mix}
    return found, notes

