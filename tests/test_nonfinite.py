"""Non-finite pixels (inf, NaN) pass through the mix exactly, on every fill path and mode.

Every output pixel is bit-identical to the sample's or the partner's pixel, non-finite values
included (a blend by arithmetic would turn inf and NaN into NaN).
"""

import pytest
import torch

from cutmix_collate import CutMixCollator


def _reference(x, boxes):
    """The mixed batch rebuilt by hand from the reported boxes and partners."""
    ref = x.clone()
    for i, ((y0, y1, x0, x1), j) in enumerate(zip(boxes.boxes.tolist(), boxes.index.tolist())):
        ref[i, ..., y0:y1, x0:x1] = x[j, ..., y0:y1, x0:x1]
    return ref


def _same(a, b):
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mode", ["batch", "elem"])
@pytest.mark.parametrize("poison", ["none", "inf", "nan", "-inf"])
def test_pixels_are_copied_bit_for_bit(dtype, mode, poison):
    gen = torch.Generator().manual_seed(7)
    x = (torch.randn(17, 3, 12, 10, generator=gen) * 3e4).to(dtype)
    if poison != "none":
        x[4, 1, 3, 3] = float(poison)
        x[9, 0, 6, 2] = float(poison)
    torch.manual_seed(11)
    images, target, boxes = CutMixCollator(mode=mode, return_boxes=True)(
        [(x[i], i) for i in range(len(x))]
    )
    assert images.dtype == dtype
    assert _same(images, _reference(x, boxes))
