"""The demo under torchrun: 2 CPU ranks (gloo, loopback only) for one short epoch.

The test starts ``torchrun --standalone --nproc-per-node 2`` (a free port, chosen by torchrun) on
this file as a script. Each rank runs the demo's ``main`` unchanged; the script only keeps a copy of
each run's trained weights (rank 0). The parent then scores those weights in one process on the
whole test split, with scikit-learn and ``torch.nn.functional.cross_entropy``, and
checks that the figures the two ranks computed together (each on half of the test images, summed
over the ranks) are the same: clean, under every corruption, and the OOD AUROC against every set
(digits 8 and 9 held out of training for the near-OOD set).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 240
ARGS = ["--epochs", "1", "--limit", "64", "--batch-size", "16", "--width", "8", "--workers", "1", "--quiet",
        "--ood-classes", "8", "9"]


def _probabilities(run, out, data):
    from cutmix_collate.demo import SmallCNN

    model = SmallCNN(1, 8, width=8)
    model.load_state_dict(torch.load(out / f"{run}.pt"))
    model.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the ranks ran (OMP_NUM_THREADS=1): the same float32 sums
    try:
        with torch.no_grad():
            return {name: model(images).double() for name, images in data.items()}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_torchrun_two_ranks_equal_single_process(tmp_path):
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    from cutmix_collate.demo import corrupt_all, far_ood_sets, hold_out_classes, load_digits_data
    from test_demo import sklearn_ece

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               __file__, str(tmp_path), *ARGS, "--out", str(tmp_path)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:  # a hung rendezvous or rank: end torchrun and its ranks
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, f"torchrun failed:\n{out}\n{err}"
    assert out.count("Final summary") == 1 and out.count("DistributedDataParallel") == 1  # rank 0 only
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["world_size"] == 2 and report["machine"]["processes"] == 2
    assert report["data"]["train_images"] == 64
    for name in ("mixed_batch.png", "curves.png", "robustness.png", "occlusions.png", "corruptions.png"):
        assert (tmp_path / name).stat().st_size > 1000

    data = hold_out_classes(load_digits_data(), ["8", "9"], argparse.ArgumentParser())
    labels = data.test_labels
    corrupted = corrupt_all(data.test_images, labels, value_range=data.value_range, fill=data.fill)
    ood = {**far_ood_sets(data.test_images, value_range=data.value_range), "held_out": data.near_ood}
    sets = {"test": data.test_images, **ood,
            **{f"{name}_{s}": copies[s - 1] for name, copies in corrupted.items() for s in (1, 2, 3)}}
    assert report["data"]["test_images"] == len(labels) == 434
    for run in ("baseline", "cutmix"):
        final = report["runs"][run][0]["final"]
        logits = _probabilities(run, tmp_path, sets)
        pred = logits["test"].argmax(1)
        assert final["test_accuracy"] == pytest.approx(accuracy_score(labels, pred), abs=1e-12)
        assert final["test_f1"] == pytest.approx(
            f1_score(labels, pred, average="macro", zero_division=0), abs=1e-12)
        assert final["test_loss"] == pytest.approx(
            torch.nn.functional.cross_entropy(logits["test"], labels).item(), rel=1e-5)
        # Ranks score alternate test images in batches of their own: float32 logits can still differ
        # in the last bits, which moves the calibration error by up to a few 1e-6.
        assert final["test_ece"] == pytest.approx(sklearn_ece(logits["test"].softmax(1), labels), abs=2e-5)
        for name in corrupted:
            for s in (1, 2, 3):
                assert final[f"{name}_{s}_accuracy"] == pytest.approx(
                    accuracy_score(labels, logits[f"{name}_{s}"].argmax(1)), abs=1e-12), (run, name, s)
        in_scores = logits["test"].softmax(1).max(1).values
        for name in ood:
            out_scores = logits[name].softmax(1).max(1).values
            truth = [1] * len(in_scores) + [0] * len(out_scores)
            # Last-bit differences between batchings can swap near-tied scores: a pair in 1e5 at most.
            assert final[f"ood_auroc_{name}"] == pytest.approx(
                roc_auc_score(truth, torch.cat([in_scores, out_scores]).numpy()), abs=1e-5), (run, name)


if __name__ == "__main__":
    # One rank: the demo's main, keeping each run's trained weights (rank 0) for the parent.
    import cutmix_collate.demo.cli as cli

    out_dir, argv = Path(sys.argv[1]), sys.argv[2:]
    train_run = cli.train_run

    def train_and_keep(run, *args, **kwargs):
        model, rows = train_run(run, *args, **kwargs)
        if int(os.environ["RANK"]) == 0:
            torch.save(model.state_dict(), out_dir / f"{run}.pt")
        return model, rows

    cli.train_run = train_and_keep
    sys.exit(cli.main(argv))
