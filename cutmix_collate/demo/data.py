"""The demo's data: scikit-learn's bundled digits, or an ImageFolder tree, split 70/30 with a fixed seed."""

from __future__ import annotations

import argparse
import os
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

__all__ = ["DemoData", "TensorImages", "load_digits_data", "load_folder_data", "SPLIT_SEED", "TEST_FRACTION"]

#: The train/test split does not change with ``--seed``: every run is scored on the same images.
SPLIT_SEED = 0
TEST_FRACTION = 0.3
#: Images per batch when the test split is loaded or scored.
EVAL_BATCH = 256
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class TensorImages(Dataset):
    """In-memory ``(image, label)`` pairs: ``(C, H, W)`` float32 images, int labels."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images = images
        self.labels = labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Tuple[Tensor, int]:
        return self.images[i], self.labels[i]


class DemoData:
    """The training set, the test split as tensors, and what the reports say about them."""

    def __init__(self, train: Dataset, test_images: Tensor, test_labels: Tensor, classes: List[str],
                 source: str, fill: Tensor) -> None:
        self.train, self.test_images, self.test_labels = train, test_images, test_labels
        self.classes, self.source, self.fill = classes, source, fill  # fill: (C,), the mean
        self.channels, self.size = test_images.shape[1], test_images.shape[-1]


def load_digits_data(image_size: int = 32) -> DemoData:
    """scikit-learn's digits, upsampled (bilinear) to ``image_size``, standardised, split 70/30."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    labels = torch.tensor(digits.target, dtype=torch.long)
    train_idx, test_idx = train_test_split(
        list(range(len(labels))), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=digits.target
    )
    mean, std = images[train_idx].mean(), images[train_idx].std()
    images = ((images - mean) / std).contiguous()  # the training images' mean is now 0
    return DemoData(
        TensorImages(images[train_idx], labels[train_idx]), images[test_idx], labels[test_idx],
        [str(c) for c in range(10)], "sklearn.datasets.load_digits", torch.zeros(1),
    )


def load_folder_data(path: str, image_size: int, parser: argparse.ArgumentParser) -> DemoData:
    """An ImageFolder tree resized to ``image_size``, split 70/30 with a fixed seed.

    The test split is loaded into memory (it is scored three times, clean and occluded), and its
    per-channel mean fills the occluded boxes. Problems with the folder end the program with
    ``parser.error`` (exit code 2).
    """
    if not os.path.isdir(path):
        parser.error(f"--data-dir {path!r} does not exist or is not a directory")
    try:
        from torchvision import transforms
        from torchvision.datasets import ImageFolder
    except ImportError:
        parser.error('--data-dir needs torchvision: pip install "cutmix_collate[demo]"')
    transform = transforms.Compose([
        transforms.Resize((image_size, image_size)),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    try:
        folder = ImageFolder(path, transform=transform)
    except (FileNotFoundError, RuntimeError) as error:
        parser.error(
            f"--data-dir {path!r} holds no images in class folders "
            f"(expected PATH/<class>/<image>{'|'.join(IMAGE_EXTENSIONS[:3])}...): {error}"
        )
    if len(folder.classes) < 2:
        parser.error(f"--data-dir {path!r} needs at least 2 class folders, found {folder.classes}")
    if len(folder) < 2:
        parser.error(f"--data-dir {path!r} needs at least 2 images, found {len(folder)}")
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    n_test = min(len(folder) - 1, max(1, round(TEST_FRACTION * len(folder))))
    images, labels = zip(*DataLoader(Subset(folder, order[:n_test]), batch_size=EVAL_BATCH))
    images, labels = torch.cat(images), torch.cat(labels)
    if labels.unique().numel() < 2:  # pasted boxes come from a test image of another class
        parser.error(f"--data-dir {path!r}: the held-out split ({n_test} of {len(folder)} images) holds one "
                     "class only; it needs at least 2 (add images)")
    return DemoData(Subset(folder, order[n_test:]), images, labels, list(folder.classes),
                 f"ImageFolder({path!r})", images.mean((0, 2, 3)))
