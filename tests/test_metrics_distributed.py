"""MixedMetrics across two processes on the gloo backend (CPU, loopback only).

The test starts this file twice as a script (one process per rank, ``file://`` rendezvous in
``tmp_path``, gloo bound to the loopback interface) and compares what every rank computes with
the single-process result on the same batches and with scikit-learn. Running the workers as
scripts keeps them independent of how pytest imports test modules.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # spawns two rank processes per test

REPO = Path(__file__).resolve().parents[1]
NUM_CLASSES = 11
WORLD_SIZE = 2
TIMEOUT_S = 120
APPROX = dict(rel=1e-9, abs=1e-12)
TASKS = ("multiclass", "multilabel")


def make_epoch(task="multiclass"):
    """Five batches of every kind of target, and their mean losses (deterministic).

    ``task="multilabel"``: the labels are int64 multi-hot vectors ``(B, NUM_CLASSES)``.
    """
    gen = torch.Generator().manual_seed(1234)
    batches = []
    for i, (size, mode) in enumerate(
        [(16, "per_sample"), (9, "scalar"), (32, "plain"), (5, "per_sample"), (21, "scalar")]
    ):
        logits = torch.randn(size, NUM_CLASSES, generator=gen, dtype=torch.float64)
        # Labels of the first batches avoid the last classes: those occur only later.
        high = NUM_CLASSES - 3 if i < 2 else NUM_CLASSES
        y_a = torch.randint(0, high, (size,), generator=gen)
        y_b = torch.randint(0, high, (size,), generator=gen)
        if task == "multilabel":
            y_a = (torch.rand(size, NUM_CLASSES, generator=gen) < 0.1 * (i + 1)).long()
            y_b = (torch.rand(size, NUM_CLASSES, generator=gen) < 0.3).long()
        if mode == "plain":
            target = y_a
        elif mode == "scalar":
            target = (y_a, y_b, float(torch.rand((), generator=gen)))
        else:
            target = (y_a, y_b, torch.rand(size, generator=gen))
        batches.append((logits, target, 0.5 + i))
    return batches


def shard(batches, rank):
    """Uneven shards: rank 0 gets batches 0, 2, 4 and rank 1 gets 1, 3."""
    return batches[rank::WORLD_SIZE]


def run_tracker(batches, **kwargs):
    from cutmix_collate.metrics import MixedMetrics

    tracker = MixedMetrics(NUM_CLASSES, **kwargs)
    for logits, target, loss in batches:
        tracker.update(logits, target, loss=loss)
    return tracker


def worker(rank: int, init_file: str, out_dir: str, scenario: str) -> None:
    """One rank: one scenario of the parent's, its results written as JSON for the parent."""
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=30),
    )
    try:
        results = SCENARIOS[scenario](rank)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))


def scenario_one_epoch(rank: int) -> dict:
    """Split and one-rank-only epochs, no batch at all, and a local (unsynced) tracker."""
    from cutmix_collate.metrics import MixedMetrics

    batches = make_epoch()
    results = {}
    tracker = run_tracker(shard(batches, rank))
    results["split"] = tracker.compute()
    results["split_per_class"] = tracker.per_class_f1().tolist()  # a collective too
    # Only rank 0 sees batches; rank 1 still joins the collective.
    idle = run_tracker(batches if rank == 0 else [])
    results["one_rank_only"] = idle.compute()
    # No rank saw a batch: the same clear error on every rank.
    try:
        MixedMetrics(NUM_CLASSES).compute()
    except RuntimeError as error:
        results["no_update_error"] = str(error)
    # sync_on_compute=False: the local shard only, no collective.
    local = run_tracker(shard(batches, rank), sync_on_compute=False)
    results["local"] = local.compute()
    return results


def spawn(tmp_path: Path, scenario: str) -> list:
    """Run ``scenario`` on WORLD_SIZE gloo ranks; return each rank's results."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    env["OMP_NUM_THREADS"] = "1"
    init_file = tmp_path / "rendezvous"
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(rank), str(init_file), str(tmp_path), scenario],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for rank in range(WORLD_SIZE)
    ]
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=TIMEOUT_S)
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for rank, (proc, out) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{out}"
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]


def test_two_gloo_ranks_equal_single_process(tmp_path):
    from sklearn.metrics import accuracy_score, f1_score

    results = spawn(tmp_path, "one_epoch")
    batches = make_epoch()
    single = run_tracker(batches)
    want = single.compute()
    want_per_class = single.per_class_f1().tolist()

    # scikit-learn on the whole epoch, as a second, independent reference.
    ys, preds, ws = [], [], []
    for logits, target, _ in batches:
        pred = logits.argmax(1).numpy()
        if isinstance(target, torch.Tensor):
            y_a = y_b = target.numpy()
            lam = np.ones(len(pred))
        else:
            y_a, y_b = target[0].numpy(), target[1].numpy()
            lam = np.broadcast_to(np.asarray(
                target[2].double().numpy() if isinstance(target[2], torch.Tensor) else target[2],
                dtype=np.float64), (len(pred),))
        ys += [y_a, y_b]
        preds += [pred, pred]
        ws += [lam, 1.0 - lam]
    y_true, y_pred, w = np.concatenate(ys), np.concatenate(preds), np.concatenate(ws)
    assert want["f1"] == pytest.approx(
        f1_score(y_true, y_pred, sample_weight=w, average="macro", zero_division=0), **APPROX
    )
    assert want["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred, sample_weight=w), **APPROX)

    for rank, res in enumerate(results):
        for scenario in ("split", "one_rank_only"):
            got = res[scenario]
            assert set(got) == set(want), (rank, scenario)
            for key in want:
                assert got[key] == pytest.approx(want[key], **APPROX), (rank, scenario, key)
        np.testing.assert_allclose(res["split_per_class"], want_per_class, rtol=1e-9, atol=1e-12)
        assert "before any update() since the last reset() on any rank" in res["no_update_error"]
        local_want = run_tracker(shard(batches, rank)).compute()
        for key in local_want:
            assert res["local"][key] == pytest.approx(local_want[key], **APPROX)
    # The shards differ, so the local results differ from the epoch's: the reduction did work.
    assert results[0]["local"]["f1"] != pytest.approx(want["f1"], **APPROX)


def epoch_shards(epoch: int, task: str) -> list:
    """Per rank, the batches of one epoch: uneven counts, (3, 1) in epoch 0 and (1, 2) in epoch 1."""
    batches = make_epoch(task) + make_epoch(task)[:2]  # seven batches, each used once
    counts = [(3, 1), (1, 2)][epoch]
    start = 0 if epoch == 0 else 4
    return [batches[start:start + counts[0]], batches[start + counts[0]:start + sum(counts)]]


def scenario_epochs(rank: int) -> dict:
    """Two epochs of each task; after every step every rank computes, also one with no new batch."""
    from cutmix_collate.metrics import MixedMetrics

    results = {}
    for task in TASKS:
        tracker, results[task] = MixedMetrics(NUM_CLASSES, task=task), []
        for epoch in range(2):
            mine = epoch_shards(epoch, task)[rank]
            for step in range(3):
                if step < len(mine):
                    logits, target, loss = mine[step]
                    tracker.update(logits, target, loss=loss)
                results[task].append(tracker.compute())
            tracker.reset()
    return results


def test_every_compute_is_a_collective_over_uneven_epochs(tmp_path):
    # Issue 19.1: a rank with no new batch since its last compute() must still enter the
    # all_reduce; a cached result would pair its next reduction with another epoch's.
    results = spawn(tmp_path, "epochs")
    for task in TASKS:
        want = []
        for epoch in range(2):
            shards = epoch_shards(epoch, task)
            for step in range(3):
                seen = [b for shard_ in shards for b in shard_[: step + 1]]
                want.append(run_tracker(seen, task=task).compute())
        for rank, res in enumerate(results):
            assert len(res[task]) == len(want)
            for i, (got, ref) in enumerate(zip(res[task], want)):
                assert set(got) == set(ref), (task, rank, i)
                for key in ref:
                    assert got[key] == pytest.approx(ref[key], **APPROX), (task, rank, i, key)
    assert "exact_match" in results[0]["multilabel"][0]


SCENARIOS = {"one_epoch": scenario_one_epoch, "epochs": scenario_epochs}

if __name__ == "__main__":
    worker(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
