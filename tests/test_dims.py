"""CutMix over the last 1, 2 or 3 axes: ``dims=`` on draw_params, cutmix_batch and the collators.

References: the provenance check of ``_datasets`` (every element names its sample and position,
so the pasted region, its source and the own share are read from the pixels), and a simulation
of the box rule written out below with numpy (side ``(1 - lam) ** (1 / dims)`` of each axis,
centre uniform, box clipped, ``lam = 1 - volume / product of the sizes``), compared with the
package's boxes by two-sample tests. Nothing expected is computed with the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from _datasets import EncodedDataset, can_encode, check_provenance, make_image
from _mix_datasets import SegDicts, check_mask_follows_image
from cutmix_collate import CutMixCollator, CutMixOrMixUpCollator, MixBoxes, cutmix_batch, draw_params

MODES = ["batch", "elem"]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(b, shape, dtype=torch.float64):
    encode = can_encode(dtype, shape, b)
    return torch.stack([make_image(i, shape, dtype, encode) for i in range(b)]), torch.arange(b) * 7 + 3, encode


# ============================================================================ the batch function


class TestCutMixBatchDims:
    @settings(max_examples=80, deadline=None)
    @given(
        dims=st.sampled_from([1, 2, 3]),
        b=st.integers(1, 6),
        lead=st.sampled_from([(), (1,), (2,), (2, 3)]),
        sizes=st.lists(st.integers(1, 7), min_size=3, max_size=3),
        mode=st.sampled_from(MODES),
        dtype=st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8]),
        alpha=st.sampled_from([0.3, 1.0, 4.0]),
        seed=st.integers(0, 2**31 - 1),
    )
    def test_provenance_in_every_dims(self, dims, b, lead, sizes, mode, dtype, alpha, seed):
        images, y, encode = _batch(b, lead + tuple(sizes[:dims]), dtype)
        before = images.clone()
        out, target, boxes = cutmix_batch(images, y, alpha=alpha, mode=mode, dims=dims, generator=_gen(seed),
                                          return_boxes=True)
        assert torch.equal(images, before), "input modified"
        assert out.shape == images.shape and out.dtype == dtype
        assert isinstance(boxes, MixBoxes) and boxes.boxes.shape == (b, 2 * dims)
        check_provenance(out, target, range(b), mode=mode, encode=encode, boxes=boxes, dims=dims)

    @pytest.mark.parametrize("dims, shape", [(1, (2, 40)), (2, (2, 12, 10)), (3, (2, 6, 7, 5))])
    @pytest.mark.parametrize("mode", MODES)
    def test_something_is_pasted(self, dims, shape, mode):
        # Guard against a check that passes because nothing is ever pasted.
        images, y, encode = _batch(6, shape)
        pasted = 0
        for seed in range(8):
            out, target = cutmix_batch(images, y, mode=mode, dims=dims, generator=_gen(seed))
            _, rects = check_provenance(out, target, range(6), mode=mode, encode=encode, dims=dims)
            pasted += sum(r is not None for r in rects)
        assert pasted >= 15

    @pytest.mark.parametrize("dims, sizes", [(1, (37,)), (2, (9, 13)), (3, (5, 9, 6))])
    @pytest.mark.parametrize("mode", MODES)
    def test_lam_is_exactly_one_minus_volume_over_product(self, dims, sizes, mode):
        images, y, _ = _batch(9, (1,) + sizes)
        for seed in range(10):
            _, target, boxes = cutmix_batch(images, y, mode=mode, dims=dims, generator=_gen(seed), return_boxes=True)
            rows = boxes.boxes.tolist()
            volumes = [math.prod(row[2 * a + 1] - row[2 * a] for a in range(dims)) for row in rows]
            expected = [1.0 - v / math.prod(sizes) for v in volumes]
            if mode == "batch":
                assert type(target.lam) is float and target.lam == expected[0]  # exact, not approximate
            else:
                assert torch.equal(target.lam, torch.tensor(expected, dtype=torch.float64).float())

    def test_spectrogram_time_stripes_cover_the_whole_band(self):
        # (B, C, F, T) with dims=1: the box is a stripe of frames t0:t1 over every frequency bin.
        images, y, encode = _batch(5, (2, 8, 30))
        out, target, boxes = cutmix_batch(images, y, mode="elem", dims=1, generator=_gen(3), return_boxes=True)
        check_provenance(out, target, range(5), mode="elem", encode=encode, boxes=boxes, dims=1)
        for i, ((t0, t1), j) in enumerate(zip(boxes.boxes.tolist(), boxes.index.tolist())):
            expected = images[i].clone()
            expected[..., t0:t1] = images[j, ..., t0:t1]
            assert torch.equal(out[i], expected)

    def test_video_gets_one_box_through_every_frame(self):
        # (B, T, C, H, W) with dims=2: today's behaviour, the same rectangle in every frame.
        images, y, encode = _batch(4, (3, 2, 9, 8))
        out, target, boxes = cutmix_batch(images, y, dims=2, generator=_gen(1), return_boxes=True)
        check_provenance(out, target, range(4), mode="batch", encode=encode, boxes=boxes, dims=2)
        y0, y1, x0, x1 = boxes.boxes[0].tolist()
        expected = images.clone()
        expected[..., y0:y1, x0:x1] = images[boxes.index][..., y0:y1, x0:x1]
        assert torch.equal(out, expected)

    def test_volume_box_differs_from_a_2d_box_through_every_slice(self):
        # dims=3 cuts a cuboid: some depth slices stay whole (a 2-D box would cut every slice).
        images, y, encode = _batch(6, (1, 12, 10, 10))
        whole_slices = 0
        for seed in range(10):
            out, target, boxes = cutmix_batch(images, y, mode="elem", dims=3, generator=_gen(seed), return_boxes=True)
            check_provenance(out, target, range(6), mode="elem", encode=encode, boxes=boxes, dims=3)
            for i, (z0, z1, *_) in enumerate(boxes.boxes.tolist()):
                if z0 < z1 and boxes.index[i] != i:
                    whole_slices += (z0 > 0) + (z1 < 12)
                    assert torch.equal(out[i, :, :z0], images[i, :, :z0]) and torch.equal(out[i, :, z1:], images[i, :, z1:])
        assert whole_slices > 10

    def test_inplace_matches_out_of_place(self):
        images, y, _ = _batch(5, (2, 5, 6, 7))
        ref, ref_target = cutmix_batch(images, y, mode="elem", dims=3, generator=_gen(2))
        work = images.clone()
        out, target = cutmix_batch(work, y, mode="elem", dims=3, generator=_gen(2), inplace=True)
        assert out.data_ptr() == work.data_ptr() and torch.equal(work, ref)
        assert torch.equal(target.lam, ref_target.lam)

    def test_gradients_flow_to_both_sources(self):
        x = torch.randn(4, 2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
        weight = torch.randn(4, 2, 3, 4, 5, dtype=torch.float64)
        out, _, boxes = cutmix_batch(x, torch.arange(4), mode="elem", dims=3, generator=_gen(4), return_boxes=True)
        (out * weight).sum().backward()
        # by hand: d out[i] / d x[j] is 1 inside i's box when j is its partner, and outside for j == i
        expected = torch.zeros_like(weight)
        for i, (row, j) in enumerate(zip(boxes.boxes.tolist(), boxes.index.tolist())):
            inside = torch.zeros(3, 4, 5, dtype=torch.bool)
            inside[row[0]:row[1], row[2]:row[3], row[4]:row[5]] = True
            expected[i] += torch.where(inside, 0.0, weight[i])
            expected[j] += torch.where(inside, weight[i], 0.0)
        torch.testing.assert_close(x.grad, expected)

    @pytest.mark.parametrize(
        "kw, exc, msg",
        [
            (dict(images=torch.zeros(2, 4)), ValueError,
             r"images must have shape \(B, \.\.\., D, H, W\), at least 4 dimensions for dims=3, got shape \(2, 4\)"),
            (dict(images=torch.zeros(2, 3, 0, 4)), ValueError, r"images must have D >= 1 and H >= 1 and W >= 1"),
            (dict(images=torch.zeros(2, 0), dims=1), ValueError, r"images must have T >= 1, got shape \(2, 0\)"),
            (dict(dims="3"), TypeError, r"dims must be 1, 2 or 3 \(the number of trailing axes the box spans\), "
                                        r"got '3' \(str\)"),
        ],
    )
    def test_errors(self, kw, exc, msg):
        kw = {"images": torch.zeros(2, 1, 4, 4, 4), "dims": 3, **kw}
        with pytest.raises(exc, match=msg):
            cutmix_batch(kw.pop("images"), torch.arange(2), **kw)


# ============================================================================ the side rule


def _simulate(sizes, alpha, n, rng, exponent=None):
    """The box rule written out: lam0 ~ Beta(alpha, alpha), side floor(size * (1 - lam0) ** exponent)
    on each axis (exponent 1 / dims), centre a uniform index, box clipped to the axis. Returns
    each axis's box length and lam = 1 - volume / product of the sizes."""
    exponent = 1 / len(sizes) if exponent is None else exponent
    side = (1 - rng.beta(alpha, alpha, n)) ** exponent
    lengths = []
    for size in sizes:
        cut = np.floor(side * size).astype(np.int64)
        start = rng.integers(0, size, n) - cut // 2
        lengths.append(np.clip(start + cut, 0, size) - np.clip(start, 0, size))
    lam = 1 - np.prod(lengths, axis=0) / math.prod(sizes)
    return lengths, lam.astype(np.float32).astype(np.float64)  # lam per image is float32, as in the package


def _drawn(sizes, alpha, n, seed):
    params = draw_params(n, *sizes, alpha=alpha, mode="elem", dims=len(sizes), generator=_gen(seed))
    lengths = [(params.box[2 * a + 1] - params.box[2 * a]).numpy() for a in range(len(sizes))]
    return lengths, params.lam.double().numpy()


class TestSideRule:
    @pytest.mark.parametrize("sizes", [(64,), (23,), (24, 40), (11, 17), (16, 12, 20), (7, 9, 5)])
    @pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
    def test_box_lengths_and_lam_follow_the_simulated_rule(self, sizes, alpha):
        n = 6000
        sim_lengths, sim_lam = _simulate(sizes, alpha, n, np.random.default_rng(abs(hash((sizes, alpha))) % 2**32))
        lengths, lam = _drawn(sizes, alpha, n, seed=len(sizes) * 10 + int(alpha * 10))
        for axis, (got, want) in enumerate(zip(lengths, sim_lengths)):
            table = [np.bincount(got, minlength=sizes[axis] + 1), np.bincount(want, minlength=sizes[axis] + 1)]
            table = np.array(table)[:, np.array(table).sum(0) > 0]
            assert stats.chi2_contingency(table).pvalue > 1e-4, f"axis {axis} lengths differ from the rule"
        assert stats.ks_2samp(lam, sim_lam).pvalue > 1e-4

    @pytest.mark.parametrize("sizes, wrong", [((16, 12, 20), 1 / 2), ((64,), 1 / 2), ((24, 40), 1 / 3)])
    def test_the_comparison_rejects_another_exponent(self, sizes, wrong):
        # Negative control: the 2-D square-root rule on a volume (what MONAI does), or a cube root on
        # an image, is told apart from the package's draws.
        lengths, lam = _drawn(sizes, 1.0, 6000, seed=5)
        _, sim_lam = _simulate(sizes, 1.0, 6000, np.random.default_rng(0), exponent=wrong)
        assert stats.ks_2samp(lam, sim_lam).pvalue < 1e-6

    @pytest.mark.parametrize("sizes", [(50, 70), (30, 41, 23)])
    def test_unclipped_boxes_have_one_side_ratio_on_every_axis(self, sizes):
        # A box away from every border has length floor(size * side) on each axis with one side
        # (1 - lam0) ** (1 / dims): the intervals [length / size, (length + 1) / size) must share a point.
        params = draw_params(3000, *sizes, mode="elem", dims=len(sizes), generator=_gen(11))
        rows = torch.stack(params.box, 1).tolist()
        inside = [r for r in rows if all(0 < r[2 * a] and r[2 * a + 1] < s for a, s in enumerate(sizes))]
        assert len(inside) > 100
        for row in inside:
            lengths = [row[2 * a + 1] - row[2 * a] for a in range(len(sizes))]
            low = max(n / s for n, s in zip(lengths, sizes))
            high = min((n + 1) / s for n, s in zip(lengths, sizes))
            assert low < high, f"lengths {lengths} of {sizes} have no common side"


# ============================================================================ the collators


def _pairs(n, shape, dtype=torch.float64):
    encode = can_encode(dtype, shape, n)
    return [(make_image(k, shape, dtype, encode), k) for k in range(n)], encode


class TestCollatorDims:
    @pytest.mark.parametrize("dims, shape", [(1, (40,)), (1, (2, 30)), (1, (2, 6, 30)), (2, (3, 9, 8)),
                                             (3, (6, 7, 5)), (3, (2, 6, 7, 5))])
    @pytest.mark.parametrize("mode", MODES)
    def test_any_leading_axes_box_over_the_last_dims(self, dims, shape, mode):
        samples, encode = _pairs(6, shape)
        collate = CutMixCollator(mode=mode, dims=dims, return_boxes=True)
        assert collate.dims == dims and "dims=%d" % dims in repr(collate)
        pasted = 0
        for seed in range(6):
            torch.manual_seed(seed)
            images, target, boxes = collate(samples)
            assert images.shape == (6,) + shape and boxes.boxes.shape == (6, 2 * dims)
            _, rects = check_provenance(images, target, range(6), mode=mode, encode=encode, boxes=boxes, dims=dims)
            pasted += sum(r is not None for r in rects)
        assert pasted > 0

    @pytest.mark.parametrize("dims, image_shape, mask_shape", [(1, (2, 30), (30,)), (1, (2, 4, 30), (3, 30)),
                                                               (3, (1, 6, 7, 5), (6, 7, 5)), (3, (6, 7, 5), (2, 6, 7, 5))])
    @pytest.mark.parametrize("mode", MODES)
    def test_masks_follow_the_box(self, dims, image_shape, mask_shape, mode):
        ds = SegDicts(6, image_shape, mask_shape)
        collate = CutMixCollator(mode=mode, dims=dims, mask_key="mask", return_boxes=True)
        for seed in range(4):
            torch.manual_seed(seed)
            batch = collate([ds[k] for k in range(6)])
            check_mask_follows_image(batch["image"], batch["mask"], range(6), "encoded", dims=dims)
            check_provenance(batch["image"], batch["label"], range(6), mode=mode, encode=True,
                             boxes=batch["mix_boxes"], dims=dims)

    def test_mask_of_other_spanned_sizes_is_refused(self):
        batch = [{"image": torch.zeros(2, 30), "mask": torch.zeros(29, dtype=torch.long), "label": k} for k in range(2)]
        with pytest.raises(ValueError, match=r"mask and image sizes must match; sample 0 has a mask of \(29,\)"):
            CutMixCollator(dims=1, mask_key="mask")(batch)

    @pytest.mark.parametrize(
        "dims, shape, msg",
        [(3, (4, 4), r"image of sample 0 must have at least 3 dimensions \(D, H, W\), got shape \(4, 4\)"),
         (1, (), r"image of sample 0 must have at least 1 dimension \(T\), got shape \(\)"),
         (1, (3, 0), r"images must have T >= 1, got shape \(3, 0\) at sample 0")],
    )
    def test_sample_errors(self, dims, shape, msg):
        with pytest.raises(ValueError, match=msg):
            CutMixCollator(dims=dims)([(torch.zeros(shape), 0), (torch.zeros(shape), 1)])

    @pytest.mark.parametrize("dims", [0, 4])
    def test_bad_dims(self, dims):
        with pytest.raises(ValueError, match=rf"dims must be 1, 2 or 3 .*got {dims} \(int\)"):
            CutMixCollator(dims=dims)
        with pytest.raises(ValueError, match=rf"dims must be 1, 2 or 3 .*got {dims} \(int\)"):
            CutMixOrMixUpCollator(dims=dims)

    def test_switching_collator_cuts_boxes_over_dims_and_mixup_ignores_them(self):
        samples = [(torch.full((2, 5, 6, 7), float(k + 1)), k) for k in range(5)]
        collate = CutMixOrMixUpCollator(dims=3, mode="elem", return_boxes=True)
        kinds = set()
        for seed in range(20):
            torch.manual_seed(seed)
            images, (y_a, y_b, lam), boxes = collate(samples)
            assert boxes.boxes.shape == (5, 6)
            values = set(images.unique().tolist())
            if values <= {1.0, 2.0, 3.0, 4.0, 5.0}:  # CutMix: whole values, from a cuboid each
                kinds.add("cutmix")
                for i, (row, j) in enumerate(zip(boxes.boxes.tolist(), boxes.index.tolist())):
                    expected = samples[i][0].clone()
                    expected[..., row[0]:row[1], row[2]:row[3], row[4]:row[5]] = samples[j][0][..., row[0]:row[1],
                                                                                                row[2]:row[3], row[4]:row[5]]
                    assert torch.equal(images[i], expected)
            else:  # MixUp: every element blended with the same weight, whatever dims says
                kinds.add("mixup")
                assert (boxes.boxes == 0).all()
                for i, j in enumerate(boxes.index.tolist()):
                    want = lam[i].item() * (i + 1) + (1 - lam[i].item()) * (j + 1)
                    torch.testing.assert_close(images[i], torch.full((2, 5, 6, 7), want, dtype=torch.float32))
        assert kinds == {"cutmix", "mixup"}

    @pytest.mark.parametrize("start_method", ["fork", "spawn"])
    @pytest.mark.parametrize("dims, shape", [(1, (2, 24)), (3, (1, 5, 6, 4))])
    def test_workers(self, start_method, dims, shape):
        ds = EncodedDataset(16, shape, torch.float64)
        loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context=start_method,
                            collate_fn=CutMixCollator(mode="elem", dims=dims, return_boxes=True))
        seen = 0
        for images, target, boxes in loader:
            ids = target.y_a.tolist()
            assert boxes.boxes.shape == (4, 2 * dims)
            check_provenance(images, target, ids, mode="elem", encode=ds.encode, boxes=boxes, dims=dims)
            seen += 1
        assert seen == 4


def test_draw_params_takes_one_size_per_spanned_axis():
    params = draw_params(4, 30, dims=1, mode="elem", generator=_gen(0))
    assert len(params.box) == 2 and params.sizes == (30,)
    assert draw_params(4, 5, 6, 7, dims=3).boxes().boxes.shape == (4, 6)
    with pytest.raises(ValueError, match=r"sizes must hold one size per axis the box spans, T for dims=1, "
                                         r"got \(30, 40\) \(tuple\)"):
        draw_params(4, 30, 40, dims=1)
    with pytest.raises(ValueError, match=r"size H must be an int >= 1, got 0"):
        draw_params(4, 0, 5)
