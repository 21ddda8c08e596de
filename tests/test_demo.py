"""Tests for the demo (``python -m cutmix_collate.demo``): short runs on a subset, files, errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from PIL import Image

from cutmix_collate.demo import main

QUICK = ["--epochs", "1", "--limit", "96", "--batch-size", "32", "--width", "8"]
ROW_KEYS = {"epoch", "train_loss", "train_accuracy", "train_f1", "train_f1_batch_mean",
            "test_loss", "test_accuracy", "test_f1", "test_ece", "test_confidence", "seconds"}
CORRUPTIONS = ("noise", "blur", "contrast", "occluded", "pasted")
ROBUSTNESS_KEYS = ({f"{name}_{s}_accuracy" for name in CORRUPTIONS for s in (1, 2, 3)}
                   | {f"{name}_accuracy" for name in CORRUPTIONS}
                   | {"corruption_accuracy", "ood_auroc_inverted", "ood_auroc_noise"})
FINAL_KEYS = ROW_KEYS | ROBUSTNESS_KEYS | {"run_seconds"}
PICTURES = (("mixed_batch.png", 400), ("curves.png", 600), ("robustness.png", 600), ("occlusions.png", 400),
            ("corruptions.png", 300))


def _run(out, *extra):
    assert main(QUICK + ["--out", str(out), *extra]) == 0
    with open(out / "metrics.json", encoding="utf-8") as handle:
        return json.load(handle)


def _check_outputs(out, report, seeds=(0,), epochs=1, final_keys=FINAL_KEYS):
    assert set(report) >= {"config", "world_size", "data", "occlusion", "runs", "summary", "mixed_batch",
                           "machine", "wall_time_s"}
    assert report["world_size"] == 1
    assert set(report["runs"]) == {"baseline", "cutmix"}
    for run in ("baseline", "cutmix"):
        assert [entry["seed"] for entry in report["runs"][run]] == list(seeds)
        for entry in report["runs"][run]:
            rows = entry["epochs"]
            assert [row["epoch"] for row in rows] == list(range(1, epochs + 1))
            for row in rows:
                assert set(row) == ROW_KEYS
            final = entry["final"]
            assert set(final) == final_keys and {k: final[k] for k in ROW_KEYS} == rows[-1]
            for key in final_keys - {"epoch", "seconds", "run_seconds", "train_loss", "test_loss"}:
                assert 0.0 <= final[key] <= 1.0, (run, key, final[key])
            for name in CORRUPTIONS:  # the mean of the three severities
                assert final[f"{name}_accuracy"] == pytest.approx(
                    sum(final[f"{name}_{s}_accuracy"] for s in (1, 2, 3)) / 3, abs=1e-12)
            assert final["corruption_accuracy"] == pytest.approx(
                sum(final[f"{name}_{s}_accuracy"] for name in CORRUPTIONS for s in (1, 2, 3)) / 15, abs=1e-12)
            assert math.isfinite(final["train_loss"]) and final["train_loss"] > 0
            assert math.isfinite(final["test_loss"]) and final["test_loss"] > 0
    summary = report["summary"]
    assert summary["seeds"] == list(seeds)
    for key, scores in summary["scores"].items():
        for run in ("baseline", "cutmix"):
            values = [entry["final"][key] for entry in report["runs"][run]]
            assert scores[run]["values"] == values
            assert scores[run]["mean"] == pytest.approx(sum(values) / len(values))
    ood = {key for key in final_keys if key.startswith("ood_auroc_")}
    assert set(summary["ahead"]) == {"test_accuracy", "corruption_accuracy"} | ood | {
        f"{name}_accuracy" for name in CORRUPTIONS}
    assert set(summary["ahead"].values()) <= {"baseline", "cutmix", "tie"}
    for words in ("on clean images", "on noisy images", "on blurred images", "on low-contrast images",
                  "on occluded images", "on pasted images", "over all 15 corrupted copies", "inverted images",
                  "noise images", "Calibration error"):
        assert words in summary["verdict"], words
    assert report["wall_time_s"] > 0 and report["machine"]["torch"] == torch.__version__
    for name, min_width in PICTURES:
        with Image.open(out / name) as png:
            png.verify()
        with Image.open(out / name) as png:
            assert png.format == "PNG"
            assert png.size[0] >= min_width and png.size[1] >= 150, (name, png.size)


@pytest.mark.slow
def test_digits_one_epoch_in_process(tmp_path, capsys):
    report = _run(tmp_path, "--workers", "0")  # progress bars on (stderr)
    _check_outputs(tmp_path, report)
    assert report["config"]["workers"] == 0 and report["config"]["limit"] == 96
    assert report["data"]["train_images"] == 96 and report["data"]["test_images"] == 540
    assert report["data"]["image_shape"] == [1, 32, 32]
    picture = report["mixed_batch"]
    assert len(picture["boxes_y0_y1_x0_x1"]) == 8 and sorted(picture["partners"]) == list(range(8))
    for y0, y1, x0, x1 in picture["boxes_y0_y1_x0_x1"]:
        assert 0 <= y0 <= y1 <= 32 and 0 <= x0 <= x1 <= 32
    occlusion = report["occlusion"]
    assert occlusion["area"] == 0.25 and occlusion["fill"] == [0.0] and occlusion["ece_bins"] == 15
    assert len(occlusion["shown"]["boxes_y0_y1_x0_x1"]) == 8
    printed = capsys.readouterr().out
    assert "Final summary" in printed and "baseline" in printed and "cutmix" in printed
    for row in ("accuracy, occluded", "accuracy, all corruptions", "OOD AUROC, inverted", "OOD AUROC, noise",
                "calibration error (ECE)", "accuracy by severity 1/2/3"):
        assert row in printed, row
    assert "OOD AUROC, held-out" not in printed  # no --ood-classes
    assert "occlusions.png" in printed and "corruptions.png" in printed
    assert report["data"]["held_out_classes"] == [] and report["ood"]["images"] == {"inverted": 540, "noise": 540}
    low, high = report["data"]["value_range"]
    assert low < 0 < high  # standardised: the mean is 0
    assert report["corruptions"]["severities"]["noise"] == [0.04, 0.06, 0.08]


@pytest.mark.slow
def test_ood_classes_held_out_of_training(tmp_path, capsys):
    report = _run(tmp_path, "--workers", "0", "--quiet", "--ood-classes", "8", "9")
    _check_outputs(tmp_path, report, final_keys=FINAL_KEYS | {"ood_auroc_held_out"})
    assert report["data"]["classes"] == [str(c) for c in range(8)]
    assert report["data"]["held_out_classes"] == ["8", "9"]
    # 540 test images, stratified: 52 eights and 54 nines held out.
    assert report["data"]["test_images"] == 434 and report["ood"]["images"]["held_out"] == 106
    assert report["ood"]["images"]["inverted"] == report["ood"]["images"]["noise"] == 434
    assert report["data"]["train_images"] == 96
    assert "against 106 images of held-out classes" in report["summary"]["verdict"]
    printed = capsys.readouterr().out
    assert "classes 8 9 held out of training (near OOD: 106 test images)" in printed
    assert "OOD AUROC, held-out classes" in printed


@pytest.mark.slow
def test_seeds_with_two_workers_repeat_a_single_seed_run(tmp_path, capsys):
    several = _run(tmp_path / "a", "--workers", "2", "--quiet", "--mode", "elem", "--seeds", "3", "4")
    single = _run(tmp_path / "b", "--workers", "2", "--quiet", "--mode", "elem", "--seed", "3")
    _check_outputs(tmp_path / "a", several, seeds=(3, 4))
    _check_outputs(tmp_path / "b", single, seeds=(3,))
    for run in ("baseline", "cutmix"):
        rows_a = [{k: v for k, v in row.items() if k != "seconds"} for row in several["runs"][run][0]["epochs"]]
        rows_b = [{k: v for k, v in row.items() if k != "seconds"} for row in single["runs"][run][0]["epochs"]]
        assert rows_a == rows_b
    assert several["mixed_batch"] == single["mixed_batch"]
    assert several["config"]["workers"] == 2 and several["config"]["mode"] == "elem"
    assert "(mean of 2 seeds)" in several["summary"]["verdict"]
    assert "seeds 3 4: mean ± std" in capsys.readouterr().out


def _image_folder(root, classes=("cat", "dog"), per_class=6, size=(20, 14)):
    g = torch.Generator().manual_seed(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = torch.randint(0, 256, (size[1], size[0], 3), dtype=torch.uint8, generator=g)
            pixels[..., c % 3] = 255  # a class cue
            Image.fromarray(pixels.numpy()).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_image_folder_with_focal_loss_and_elem_mode(tmp_path):
    data = _image_folder(tmp_path / "data")
    out = tmp_path / "out"
    report = _run(out, "--data-dir", str(data), "--image-size", "16", "--workers", "0", "--quiet",
                  "--loss", "focal", "--mode", "elem", "--prob", "0.5", "--alpha", "0.5")
    _check_outputs(out, report)
    assert report["data"]["classes"] == ["cat", "dog"]
    assert report["data"]["image_shape"] == [3, 16, 16]
    assert report["data"]["train_images"] + report["data"]["test_images"] == 12
    assert report["config"]["loss"] == "focal"


def _exit_code(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "--epochs: must be an int >= 1, got 0"),
        (["--batch-size", "x"], "--batch-size: must be an int >= 1, got 'x'"),
        (["--alpha", "-1"], "--alpha: must be a number in (0, inf), got -1"),
        (["--alpha", "nan"], "--alpha: must be a number in (0, inf)"),
        (["--prob", "1.5"], "--prob: must be a number in [0, 1], got 1.5"),
        (["--mode", "pixel"], "--mode: invalid choice: 'pixel'"),
        (["--loss", "mse"], "--loss: invalid choice: 'mse'"),
        (["--device", "tpu"], "--device: invalid choice: 'tpu'"),
        (["--workers", "-1"], "--workers: must be an int >= 0, got -1"),
        (["--limit", "0"], "--limit: must be an int >= 1, got 0"),
        (["--image-size", "4"], "--image-size: must be an int >= 8, got 4"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["--seed", "1", "--seeds", "2", "3"], "argument --seeds: not allowed with argument --seed"),
        (["--seeds"], "argument --seeds: expected at least one argument"),
        (["--ood-classes", "8", "x"], "--ood-classes: unknown class 'x'; the classes are 0 1 2 3 4 5 6 7 8 9"),
        (["--ood-classes", *"012345678"],
         "--ood-classes must leave at least 2 classes to train on, got 1 of 10"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys, tmp_path):
    code, err = _exit_code(argv + ["--out", str(tmp_path)], capsys)
    assert code == 2
    assert message in err


def test_data_dir_errors_exit_2(tmp_path, capsys):
    missing = tmp_path / "missing"
    code, err = _exit_code(["--data-dir", str(missing), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "does not exist" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _exit_code(["--data-dir", str(empty), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "holds no images" in err

    no_images = tmp_path / "no_images"
    (no_images / "a").mkdir(parents=True)
    (no_images / "b").mkdir()
    (no_images / "a" / "notes.txt").write_text("not an image")
    code, err = _exit_code(["--data-dir", str(no_images), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "holds no images" in err

    one_class = _image_folder(tmp_path / "one", classes=("only",), per_class=3)
    code, err = _exit_code(["--data-dir", str(one_class), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "needs at least 2 class folders" in err

    tiny = _image_folder(tmp_path / "tiny", per_class=2)  # 4 images: the held-out split is 1 image
    code, err = _exit_code(["--data-dir", str(tiny), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "the held-out split (1 of 4 images) holds one class only" in err
    assert not (tmp_path / "o").exists()  # nothing written before the data is known to be usable


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_exit_2(capsys, tmp_path):
    code, err = _exit_code(["--device", "cuda", "--out", str(tmp_path)], capsys)
    assert code == 2 and "CUDA is not available" in err


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "cutmix_collate.demo", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--data-dir", "--epochs", "--alpha", "--prob", "--mode", "--loss", "--workers",
                   "--device", "--seed", "--seeds", "--out", "--quiet", "--limit", "--ood-classes"):
        assert option in result.stdout


def _final(**scores):
    """Final scores of one seed: 0.5 everywhere, ``scores`` overriding; a corruption's ``{name}`` sets its
    three severities (the mean is their mean, as the demo computes it)."""
    final = {key: 0.5 for key in FINAL_KEYS | {"ood_auroc_held_out"}}
    final.update(epoch=20, test_ece=0.05, test_confidence=0.5)
    for name in CORRUPTIONS:
        levels = scores.pop(name, (0.5, 0.5, 0.5))
        final.update({f"{name}_{s}_accuracy": value for s, value in enumerate(levels, 1)})
        final[f"{name}_accuracy"] = sum(levels) / 3
    final["corruption_accuracy"] = sum(final[f"{name}_accuracy"] for name in CORRUPTIONS) / len(CORRUPTIONS)
    final.update(scores)
    return {"seed": 0, "epochs": [], "final": final}


OOD_SIZES = {"inverted": 500, "noise": 500, "held_out": 120}


def test_summary_says_where_each_run_is_ahead_over_the_three_claims(tmp_path):
    from cutmix_collate.demo.plots import plot_robustness
    from cutmix_collate.demo.report import format_summary, summarise

    one = summarise({
        "baseline": [_final(test_accuracy=0.99, occluded=(0.6, 0.5, 0.4), blur=(0.9, 0.8, 0.7), test_ece=0.02,
                            ood_auroc_inverted=0.92, ood_auroc_noise=0.61, ood_auroc_held_out=0.9701)],
        "cutmix": [_final(test_accuracy=0.99 - 2 / 500, occluded=(0.7, 0.6, 0.5), blur=(0.9, 0.8, 0.7),
                          test_ece=0.12, test_confidence=0.999, ood_auroc_inverted=0.88, ood_auroc_noise=0.61,
                          ood_auroc_held_out=0.9764)],
    }, 500, OOD_SIZES)
    assert one["ahead"]["test_accuracy"] == "baseline"
    assert one["ahead"]["occluded_accuracy"] == "cutmix" and one["ahead"]["blur_accuracy"] == "tie"
    assert one["ahead"]["corruption_accuracy"] == "cutmix"  # 10 points on one of five corruptions: 2 points
    assert {key: one["ahead"][key] for key in ("ood_auroc_inverted", "ood_auroc_noise", "ood_auroc_held_out")} == {
        "ood_auroc_inverted": "baseline", "ood_auroc_noise": "tie", "ood_auroc_held_out": "cutmix"}
    verdict = one["verdict"]
    assert verdict.startswith("After 20 epochs: accuracy: on clean images the baseline is ahead by 0.40 points "
                              "(2 of 500 test images, too few to call from one run: try --seeds 0 1 2). ")
    assert ("Corruptions (mean accuracy over 3 severities): on noisy images the two runs tie; on blurred images the "
            "two runs tie; on low-contrast images the two runs tie; on occluded images CutMix is ahead by 10.00 "
            "points (50 of 500 test images); on pasted images the two runs tie; over all 15 corrupted copies "
            "CutMix is ahead by 2.00 points (10 of 500 test images).") in verdict
    assert ("Out-of-distribution detection (AUROC of the maximum softmax probability of the 500 test images "
            "against each set; higher is better): against 500 inverted images the baseline is ahead by 0.040 "
            "(baseline 0.920, CutMix 0.880); against 500 noise images the two runs tie (0.610); against 120 "
            "images of held-out classes CutMix is ahead by 0.006 (baseline 0.970, CutMix 0.976).") in verdict
    assert "baseline 0.020 (under-confident: mean confidence 0.500 at accuracy 0.990)" in verdict
    assert "cutmix 0.120 (over-confident: mean confidence 0.999 at accuracy 0.986)" in verdict
    assert verdict.endswith("the baseline run's confidence matches its accuracy more closely.")
    printed = format_summary(one, 20)
    lines = {line[:27].strip(): line[27:].split() for line in printed.splitlines()}
    assert lines["OOD AUROC, held-out classes"] == ["0.9701", "0.9764"]
    assert lines["accuracy, occluded"] == ["0.5000", "0.6000"]
    assert lines["occluded"] == ["0.600/0.500/0.400", "0.700/0.600/0.500"]

    two = summarise({"baseline": [_final(test_accuracy=0.90, pasted=(0.4,) * 3, ood_auroc_noise=0.3),
                                  _final(test_accuracy=0.92, pasted=(0.4,) * 3, ood_auroc_noise=0.5)],
                     "cutmix": [_final(test_accuracy=0.91, pasted=(0.8,) * 3, ood_auroc_noise=0.2),
                                _final(test_accuracy=0.92, pasted=(0.8,) * 3, ood_auroc_noise=0.5)]},
                    500, {"noise": 500})
    assert two["seeds"] == [0, 0] and "(mean of 2 seeds)" in two["verdict"]
    assert two["scores"]["test_accuracy"]["baseline"]["std"] == pytest.approx(0.02 / 2 ** 0.5)
    assert ("on clean images CutMix is ahead by 0.50 points (2.5 of 500 test images, within the spread "
            "across seeds).") in two["verdict"]
    assert "on pasted images CutMix is ahead by 40.00 points (200.0 of 500 test images);" in two["verdict"]
    assert ("against 500 noise images the baseline is ahead by 0.050 (baseline 0.400, CutMix 0.350, within the "
            "spread across seeds).") in two["verdict"]
    assert "inverted" not in two["verdict"] and "ood_auroc_inverted" not in two["ahead"]
    assert two["verdict"].endswith("; the two runs are equally calibrated (to 3 decimals).")
    assert "too few to call" not in two["verdict"]
    plot_robustness(two, str(tmp_path / "two.png"))
    # Equal scores on every seed: the mean of three 0.7s is below 0.7 by one rounding step.
    same = summarise({"baseline": [_final(test_accuracy=0.7, noise=(0.7,) * 3)] * 3,
                      "cutmix": [_final(test_accuracy=0.7, noise=(0.7,) * 3)] * 3}, 500, OOD_SIZES)
    assert set(same["ahead"].values()) == {"tie"}
    plot_robustness(same, str(tmp_path / "robustness.png"))  # the whiskers are 0, not negative


def sklearn_ece(probabilities, labels, n_bins=15):
    """Expected calibration error from scikit-learn's calibration_curve and numpy's histogram."""
    import numpy as np
    from sklearn.calibration import calibration_curve

    confidence, pred = probabilities.max(1)
    correct = (pred == labels).double().numpy()
    accuracy_per_bin, confidence_per_bin = calibration_curve(correct, confidence.numpy(), n_bins=n_bins)
    counts, _ = np.histogram(confidence.numpy(), bins=np.linspace(0, 1, n_bins + 1))
    counts = counts[counts > 0]
    return float((counts / counts.sum() * np.abs(accuracy_per_bin - confidence_per_bin)).sum())


@pytest.mark.parametrize("loss", ["ce", "focal"])
def test_evaluate_matches_scikit_learn(loss):
    from sklearn.metrics import accuracy_score, f1_score

    from cutmix_collate.demo import SmallCNN
    from cutmix_collate.demo.train import base_loss, evaluate
    from cutmix_collate.losses import focal_loss

    torch.manual_seed(0)
    model = SmallCNN(1, 5, width=4)
    images, labels = torch.randn(300, 1, 12, 12), torch.randint(0, 5, (300,))  # batches of 256 and 44
    got = evaluate(model, images, labels, base_loss(loss), torch.device("cpu"), world=1)
    with torch.no_grad():
        logits = model.eval()(images)
    pred = logits.argmax(1)
    want_loss = (torch.nn.functional.cross_entropy(logits, labels) if loss == "ce"
                 else focal_loss(logits, labels, gamma=2.0))
    probabilities = logits.double().softmax(1)
    assert got["accuracy"] == pytest.approx(accuracy_score(labels, pred), abs=1e-12)
    assert got["f1"] == pytest.approx(f1_score(labels, pred, average="macro", zero_division=0), abs=1e-12)
    assert got["loss"] == pytest.approx(want_loss.item(), rel=1e-5)
    assert got["ece"] == pytest.approx(sklearn_ece(probabilities, labels), abs=1e-9)
    assert got["confidence"] == pytest.approx(probabilities.max(1).values.mean().item(), abs=1e-9)


def test_occlude_boxes_and_partners():
    from cutmix_collate.demo import occlude

    n, h, w = 40, 32, 20
    images = torch.arange(1, n + 1, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, h, w).clone()
    images += torch.rand(n, 3, h, w)  # each pixel says which image it came from (its integer part)
    labels = torch.arange(n) % 3
    before = images.clone()
    occluded, pasted, boxes, partners = occlude(images, labels, fill=torch.tensor([-1.0, -2.0, -3.0]), seed=5)
    assert torch.equal(images, before)  # not modified
    assert boxes.dtype == partners.dtype == torch.int64 and boxes.shape == (n, 4)
    fill = torch.tensor([-1.0, -2.0, -3.0]).view(3, 1, 1)
    for i, (y0, y1, x0, x1) in enumerate(boxes.tolist()):
        assert (y1 - y0, x1 - x0) == (16, 10)  # sides sqrt(0.25) * (H, W): 25% of the image
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        inside = torch.zeros(h, w, dtype=torch.bool)
        inside[y0:y1, x0:x1] = True
        j = int(partners[i])
        assert labels[j] != labels[i]
        assert torch.equal(occluded[i], torch.where(inside, fill, images[i]))
        assert torch.equal(pasted[i], torch.where(inside, images[j], images[i]))
    assert len(set(boxes[:, 0].tolist())) > 1 and len(set(boxes[:, 2].tolist())) > 1  # random positions
    again = occlude(images, labels, fill=torch.tensor([-1.0, -2.0, -3.0]), seed=5)
    assert all(torch.equal(a, b) for a, b in zip(again, (occluded, pasted, boxes, partners)))
    assert not torch.equal(occlude(images, labels, seed=6)[2], boxes)
    # area=1: the whole image
    occluded, pasted, boxes, partners = occlude(images, labels, area=1.0)
    assert torch.equal(occluded, torch.zeros_like(images)) and torch.equal(pasted, images[partners])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(images=torch.zeros(4, 8, 8)), TypeError, r"images must be a floating-point tensor \(N, C, H, W\), "
                                                        r"got a tensor of shape \(4, 8, 8\)"),
        (dict(images=torch.zeros(4, 1, 8, 8, dtype=torch.uint8)), TypeError, "images must be a floating-point"),
        (dict(labels=torch.zeros(4)), TypeError, r"labels must be an integer tensor of shape \(4,\), got a tensor"),
        (dict(labels=torch.zeros(3, dtype=torch.long)), TypeError, r"labels must be an integer tensor of shape \(4,\)"),
        (dict(area=0), ValueError, r"area must be a number in \(0, 1\], got 0 \(int\)"),
        (dict(area=1.5), ValueError, r"area must be a number in \(0, 1\], got 1.5"),
        (dict(fill=torch.zeros(2)), ValueError, r"fill must be a number or a tensor of shape \(1,\), got a tensor"),
        (dict(labels=torch.ones(4, dtype=torch.long)), ValueError, "labels must hold at least two classes"),
    ],
)
def test_occlude_errors(kwargs, error, message):
    from cutmix_collate.demo import occlude

    args = dict(images=torch.zeros(4, 1, 8, 8), labels=torch.tensor([0, 1, 0, 1]))
    args.update(kwargs)
    images, labels = args.pop("images"), args.pop("labels")
    with pytest.raises(error, match=message):
        occlude(images, labels, **args)
