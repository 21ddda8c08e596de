"""The demo's data: scikit-learn's bundled digits, or an ImageFolder tree, split 70/30 with a fixed seed."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Sized, Tuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

__all__ = ["DemoData", "Relabelled", "TensorImages", "dataset_size", "hold_out_classes", "load_digits_data",
           "load_folder_data", "SPLIT_SEED", "TEST_FRACTION"]

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


class Relabelled(Dataset):
    """The samples ``indices`` of ``dataset``, their labels renumbered by ``mapping`` (old -> new)."""

    def __init__(self, dataset: Dataset, indices: List[int], mapping: Dict[int, int]) -> None:
        self.dataset, self.indices, self.mapping = dataset, indices, mapping

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tuple[Tensor, int]:
        image, label = self.dataset[self.indices[i]]
        return image, self.mapping[int(label)]


def dataset_size(dataset: Dataset) -> int:
    """``len(dataset)``: every dataset of the demo has a length (``Dataset`` does not promise one)."""
    return len(cast(Sized, dataset))


@dataclass(frozen=True)
class DemoData:
    """The training set, the test split as tensors, and what the reports say about them.

    ``fill`` (shape ``(C,)``) is the data set's mean, the value of occluded boxes; ``value_range``
    the ``(low, high)`` values a pixel can take after normalising. With classes held out of
    training (``--ood-classes``), ``near_ood`` holds the test images of those classes and
    ``held_out`` their names; the other fields then hold the remaining classes only.
    """

    train: Dataset
    train_labels: List[int]
    test_images: Tensor
    test_labels: Tensor
    classes: List[str]
    source: str
    fill: Tensor
    value_range: Tuple[float, float]
    near_ood: Optional[Tensor] = None
    held_out: Tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        return int(self.test_images.shape[1])

    @property
    def size(self) -> int:
        return int(self.test_images.shape[-1])


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
        TensorImages(images[train_idx], labels[train_idx]), labels[train_idx].tolist(), images[test_idx],
        labels[test_idx], [str(c) for c in range(10)], "sklearn.datasets.load_digits", torch.zeros(1),
        (float(-mean / std), float((1 - mean) / std)),  # where the pixel values 0 and 1 went
    )


def load_folder_data(path: str, image_size: int, parser: argparse.ArgumentParser) -> DemoData:
    """An ImageFolder tree resized to ``image_size``, split 70/30 with a fixed seed.

    The test split is loaded into memory (it is scored clean and under every corruption), and its
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
    batches = list(DataLoader(Subset(folder, order[:n_test]), batch_size=EVAL_BATCH))
    images, labels = torch.cat([batch[0] for batch in batches]), torch.cat([batch[1] for batch in batches])
    if labels.unique().numel() < 2:  # pasted boxes come from a test image of another class
        parser.error(f"--data-dir {path!r}: the held-out split ({n_test} of {len(folder)} images) holds one "
                     "class only; it needs at least 2 (add images)")
    return DemoData(Subset(folder, order[n_test:]), [folder.targets[i] for i in order[n_test:]], images, labels,
                    list(folder.classes), f"ImageFolder({path!r})", images.mean((0, 2, 3)), (-1.0, 1.0))


def hold_out_classes(data: DemoData, names: Sequence[str],
                     parser: Optional[argparse.ArgumentParser] = None) -> DemoData:
    """``data`` without the classes ``names`` (by name): they become the near-OOD set.

    The training set keeps the other classes, renumbered ``0..K-1`` in their order; their test
    images stay the test split, and the test images of the held-out classes go to ``near_ood``.
    Unknown names, fewer than two classes left, or a test split without images of the held-out
    classes or with fewer than two others end the program with ``parser.error`` (exit code 2), or
    raise a ``ValueError`` without a parser.
    """
    def fail(message: str) -> None:
        if parser is None:
            raise ValueError(message)
        parser.error(message)

    unknown = [name for name in names if name not in data.classes]
    if unknown:
        fail(f"--ood-classes: unknown class {unknown[0]!r}; the classes are {' '.join(data.classes)}")
    kept = [name for name in data.classes if name not in names]
    if len(kept) < 2:
        fail(f"--ood-classes must leave at least 2 classes to train on, got {len(kept)} of {len(data.classes)}")
    mapping = {data.classes.index(name): new for new, name in enumerate(kept)}
    renumber = torch.full((len(data.classes),), -1, dtype=torch.long)
    renumber[list(mapping)] = torch.tensor(list(mapping.values()))
    test_in = renumber[data.test_labels] >= 0
    test_labels = renumber[data.test_labels[test_in]]
    if test_in.all() or test_labels.unique().numel() < 2:
        fail(f"--ood-classes {' '.join(names)}: the held-out split needs images of them and of at least 2 "
             "other classes")
    train_idx = [i for i, label in enumerate(data.train_labels) if label in mapping]
    return replace(
        data, train=Relabelled(data.train, train_idx, mapping),
        train_labels=[mapping[data.train_labels[i]] for i in train_idx],
        test_images=data.test_images[test_in], test_labels=test_labels, classes=kept,
        near_ood=data.test_images[~test_in], held_out=tuple(name for name in data.classes if name in names),
    )
