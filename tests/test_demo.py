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
ROW_KEYS = {"epoch", "train_loss", "train_accuracy", "train_f1", "train_f1_epoch",
            "test_loss", "test_accuracy", "test_f1", "seconds"}


def _run(out, *extra):
    assert main(QUICK + ["--out", str(out), *extra]) == 0
    with open(out / "metrics.json", encoding="utf-8") as handle:
        return json.load(handle)


def _check_outputs(out, report, epochs=1):
    assert set(report) >= {"config", "data", "runs", "summary", "mixed_batch", "machine", "wall_time_s"}
    assert set(report["runs"]) == {"baseline", "cutmix"}
    for run in ("baseline", "cutmix"):
        rows = report["runs"][run]["epochs"]
        assert [row["epoch"] for row in rows] == list(range(1, epochs + 1))
        for row in rows:
            assert set(row) == ROW_KEYS
            for key in ROW_KEYS - {"epoch", "seconds", "train_loss", "test_loss"}:
                assert 0.0 <= row[key] <= 1.0, (run, key, row[key])
            assert math.isfinite(row["train_loss"]) and row["train_loss"] > 0
            assert math.isfinite(row["test_loss"]) and row["test_loss"] > 0
    summary = report["summary"]
    assert summary["better"] in ("baseline", "cutmix", "tie")
    assert summary["verdict"]
    assert summary["final"]["cutmix"] == report["runs"]["cutmix"]["epochs"][-1]
    assert report["wall_time_s"] > 0 and report["machine"]["torch"] == torch.__version__
    for name, min_width in (("mixed_batch.png", 400), ("curves.png", 600)):
        with Image.open(out / name) as png:
            png.verify()
        with Image.open(out / name) as png:
            assert png.format == "PNG"
            assert png.size[0] >= min_width and png.size[1] >= 150, (name, png.size)


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
    printed = capsys.readouterr().out
    assert "Final summary" in printed and "baseline" in printed and "cutmix" in printed
    assert "mixed_batch.png" in printed


def test_two_workers_same_seed_same_results(tmp_path):
    first = _run(tmp_path / "a", "--workers", "2", "--quiet", "--mode", "elem", "--seed", "3")
    second = _run(tmp_path / "b", "--workers", "2", "--quiet", "--mode", "elem", "--seed", "3")
    _check_outputs(tmp_path / "a", first)
    for run in ("baseline", "cutmix"):
        rows_a = [{k: v for k, v in row.items() if k != "seconds"} for row in first["runs"][run]["epochs"]]
        rows_b = [{k: v for k, v in row.items() if k != "seconds"} for row in second["runs"][run]["epochs"]]
        assert rows_a == rows_b
    assert first["mixed_batch"] == second["mixed_batch"]
    assert first["config"]["workers"] == 2 and first["config"]["mode"] == "elem"


def _image_folder(root, classes=("cat", "dog"), per_class=6, size=(20, 14)):
    g = torch.Generator().manual_seed(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = torch.randint(0, 256, (size[1], size[0], 3), dtype=torch.uint8, generator=g)
            pixels[..., c % 3] = 255  # a class cue
            Image.fromarray(pixels.numpy()).save(root / name / f"{i}.png")
    return root


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
                   "--device", "--seed", "--out", "--quiet", "--limit"):
        assert option in result.stdout


def test_summary_names_the_better_run_honestly():
    from cutmix_collate.demo import _summary

    def rows(acc):
        return [{"epoch": 1, "test_accuracy": acc, "test_f1": acc, "test_loss": 1.0,
                 "train_accuracy": acc, "train_f1": acc, "train_loss": 1.0, "seconds": 1.0}]

    close = _summary({"baseline": rows(0.99), "cutmix": rows(0.99 + 2 / 500)}, 500)
    assert close["better"] == "cutmix" and "2 of 500 test images" in close["verdict"]
    assert "too small to call" in close["verdict"]
    behind = _summary({"baseline": rows(0.95), "cutmix": rows(0.90)}, 500)
    assert behind["better"] == "baseline" and behind["verdict"].startswith("The baseline did better")
    assert "25 of 500" in behind["verdict"] and "more epochs" in behind["verdict"]
    tie = _summary({"baseline": rows(0.9), "cutmix": rows(0.9)}, 500)
    assert tie["better"] == "tie" and tie["test_accuracy_delta"] == 0.0
