"""CutMixTrainer: 🤗 transformers' Trainer with mixed training batches and plain evaluation (issue 20).

A tiny ViT built from a config (no download) trains for a few steps on a ``datasets.Dataset`` of
PIL images with ``with_transform``, as the transformers image-classification guide does. Sample
``i`` is one constant colour ``7 * (i + 1)``, so every pixel says which sample it came from: a
mixed image has two values, a plain one has one. The references are ``default_collate`` (what
a plain loader gives), ``torch.nn.functional.cross_entropy`` and scikit-learn's accuracy.

Run as a script under ``torchrun`` (see ``test_torchrun_two_cpu_ranks``) it trains on 2 ranks.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
Image = pytest.importorskip("PIL.Image")
from sklearn.metrics import accuracy_score  # noqa: E402

from cutmix_collate import CutMixCollator, MixedTarget, mixed_accuracy  # noqa: E402
from cutmix_collate.hf import CutMixTrainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_CLASSES = 3


def _model(seed=0):
    torch.manual_seed(seed)
    config = transformers.ViTConfig(image_size=16, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=37, num_labels=N_CLASSES)
    return transformers.ViTForImageClassification(config)


def _to_pixels(examples):
    # The guide's transform with the image processor replaced by a plain float conversion.
    examples["pixel_values"] = [torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).float() / 255
                                for img in examples["image"]]
    del examples["image"]
    return examples


def _dataset(n, first=0):
    ids = range(first, first + n)
    images = [Image.fromarray(np.full((16, 16, 3), 7 * (i + 1), dtype=np.uint8)) for i in ids]
    return datasets.Dataset.from_dict({"image": images, "label": [i % N_CLASSES for i in ids]}).with_transform(
        _to_pixels)


def _with_model_label_name(examples):
    examples = _to_pixels(examples)
    examples["labels"] = examples.pop("label")
    return examples


def _args(tmp_path, **kw):
    kw = {"per_device_train_batch_size": 4, "per_device_eval_batch_size": 4, "max_steps": 3, **kw}
    return transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to="none", use_cpu=True, learning_rate=1e-3, remove_unused_columns=False,
        save_strategy="no", logging_steps=1, seed=0, disable_tqdm=True, **kw)


class _Recording(CutMixTrainer):
    """Records every batch and loss that reaches compute_loss (training or evaluation)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = out[0] if return_outputs else out
        self.seen.append((model.training, dict(inputs), loss.item()))
        return out


def _trainer(tmp_path, collator=None, train=24, evals=10, **kw):
    collator = collator or CutMixCollator(alpha=1.0, image_key="pixel_values", label_key="label")
    trainer = _Recording(model=_model(), args=_args(tmp_path, **kw), train_dataset=_dataset(train),
                         eval_dataset=_dataset(evals, first=train), data_collator=collator,
                         compute_metrics=_metrics)
    trainer.seen = []
    return trainer


def _metrics(pred):
    logits, labels = torch.from_numpy(pred.predictions), torch.from_numpy(pred.label_ids)
    return {"acc": mixed_accuracy(logits, labels).item(),
            "sk_acc": accuracy_score(pred.label_ids, pred.predictions.argmax(1))}


def _sources(pixels):
    """The sample values (7 * (i + 1) / 255) each image is made of."""
    return [set(torch.round(img * 255).unique().tolist()) for img in pixels]


def _reference(model, dataset, label_smoothing=0.0):
    plain = default_collate([dataset[i] for i in range(len(dataset))])
    model.eval()
    with torch.no_grad():
        logits = model(pixel_values=plain["pixel_values"]).logits
    return plain, logits, F.cross_entropy(logits, plain["label"], label_smoothing=label_smoothing).item()


class TestCutMixTrainer:
    def test_train_evaluate_predict(self, tmp_path):
        trainer = _trainer(tmp_path)
        result = trainer.train()
        train = [(inputs, loss) for training, inputs, loss in trainer.seen if training]
        assert len(train) == 3 and all(isinstance(inputs["label"], MixedTarget) for inputs, _ in train)
        assert any(len(s) == 2 for inputs, _ in train for s in _sources(inputs["pixel_values"]))  # mixed
        assert result.training_loss == pytest.approx(np.mean([loss for _, loss in train]), rel=1e-5)

        trainer.seen.clear()
        metrics = trainer.evaluate()
        evals = [inputs for training, inputs, _ in trainer.seen]
        assert len(evals) == 3 and not any(trainer.seen[i][0] for i in range(3))
        assert all(type(inputs["label"]) is torch.Tensor for inputs in evals)  # plain, not a MixedTarget
        plain, logits, ce = _reference(trainer.model, trainer.eval_dataset)
        # evaluate() saw exactly the batches a plain loader (default_collate, in order) gives.
        assert torch.equal(torch.cat([b["pixel_values"] for b in evals]), plain["pixel_values"])
        assert torch.equal(torch.cat([b["label"] for b in evals]), plain["label"])
        assert all(len(s) == 1 for b in evals for s in _sources(b["pixel_values"]))
        assert metrics["eval_loss"] == pytest.approx(ce, rel=1e-5)
        assert metrics["eval_acc"] == pytest.approx(metrics["eval_sk_acc"])
        assert metrics["eval_sk_acc"] == accuracy_score(plain["label"], logits.argmax(1))

        out = trainer.predict(trainer.eval_dataset)
        torch.testing.assert_close(torch.from_numpy(out.predictions), logits, rtol=1e-5, atol=1e-6)
        assert np.array_equal(out.label_ids, plain["label"].numpy())
        assert out.metrics["test_loss"] == pytest.approx(ce, rel=1e-5)

    def test_accumulation_workers_epochs_smoothing(self, tmp_path):
        # 8 samples, batch 2, 2 accumulation steps: 2 optimizer steps per epoch, 2 epochs; the collator
        # stops mixing from epoch 1 (off_epoch), which needs the trainer to call set_epoch.
        collator = CutMixCollator(image_key="pixel_values", label_key="label", off_epoch=1)
        trainer = _trainer(tmp_path, collator, train=8, evals=6, max_steps=-1, num_train_epochs=2,
                           per_device_train_batch_size=2, gradient_accumulation_steps=2, dataloader_num_workers=2,
                           label_smoothing_factor=0.1)
        result = trainer.train()
        train = [(inputs, loss) for training, inputs, loss in trainer.seen if training]
        assert len(train) == 8 and result.global_step == 4
        lams = [inputs["label"].lam for inputs, _ in train]
        assert all(lam == 1.0 for lam in lams[4:]) and any(lam < 1.0 for lam in lams[:4])
        # Each logged step loss is the mean of its two micro-batch losses (not their sum).
        logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        want = [np.mean([train[2 * i][1], train[2 * i + 1][1]]) for i in range(4)]
        assert logged == pytest.approx(want, rel=1e-4)
        assert trainer.criterion.criterion.label_smoothing == 0.1
        metrics = trainer.evaluate()
        _, _, ce = _reference(trainer.model, trainer.eval_dataset, label_smoothing=0.1)
        assert metrics["eval_loss"] == pytest.approx(ce, rel=1e-5)

    def test_labels_never_reach_the_model(self, tmp_path):
        seen = []
        model = _model()
        model.register_forward_pre_hook(lambda m, args, kwargs: seen.append(set(kwargs)), with_kwargs=True)
        collator = CutMixCollator(image_key="pixel_values", label_key="labels")  # the model's own label name
        ds = _dataset(8).with_transform(_with_model_label_name)
        trainer = CutMixTrainer(model=model, args=_args(tmp_path, max_steps=1), train_dataset=ds,
                                eval_dataset=ds, data_collator=collator)
        trainer.train()
        trainer.evaluate()
        assert seen and all(keys == {"pixel_values"} for keys in seen)


@pytest.mark.parametrize(
    "collator, kw, exc, msg",
    [
        (CutMixCollator(image_key="image", label_key="label"), {}, ValueError,
         r"data_collator.image_key must be an input of ViTForImageClassification.forward \(pixel_values, labels, "
         r"interpolate_pos_encoding, attention_mask\), got 'image'"),
        (CutMixCollator(image_key="pixel_values", label_key=None, mask_key="mask"), {}, ValueError,
         r"needs a collator with a label_key and return_boxes=False, got label_key=None"),
        (CutMixCollator(image_key="pixel_values", return_boxes=True), {}, ValueError, r"return_boxes=True"),
        (CutMixCollator(image_key="pixel_values", label_key="label"), {"label_names": ["labels"]}, ValueError,
         r"args.label_names must be None or \['label'\] \(the collator's label_key\), got \['labels'\]"),
        (None, {}, TypeError, r"data_collator must be a CutMixCollator, MixUpCollator or CutMixOrMixUpCollator, got"),
    ],
)
def test_bad_configuration(tmp_path, collator, kw, exc, msg):
    with pytest.raises(exc, match=msg):
        CutMixTrainer(model=_model(), args=_args(tmp_path, **kw), data_collator=collator)


@pytest.mark.parametrize("kw, smoothing", [({"compute_loss_func": lambda out, y, **kw: out.logits.sum()}, 0.0),
                                           ({"criterion": torch.nn.CrossEntropyLoss()}, 0.1)])
def test_a_loss_set_twice_is_refused(tmp_path, kw, smoothing):
    with pytest.raises(ValueError, match=r"pass criterion= rather than compute_loss_func, and put label smoothing"):
        CutMixTrainer(model=_model(), args=_args(tmp_path, label_smoothing_factor=smoothing),
                      data_collator=CutMixCollator(image_key="pixel_values"), **kw)


@pytest.mark.parametrize("run", ["train", "evaluate"])
def test_pair_samples_are_refused(tmp_path, run):
    pairs = [(torch.rand(3, 16, 16), 0) for _ in range(4)]
    trainer = CutMixTrainer(model=_model(), args=_args(tmp_path, max_steps=1), train_dataset=pairs, eval_dataset=pairs,
                            data_collator=CutMixCollator(image_key="pixel_values"))
    with pytest.raises(TypeError, match=r"CutMixTrainer needs dict samples .*got a tuple batch"):
        getattr(trainer, run)()


def test_import_does_not_pull_transformers():
    code = ("import sys, cutmix_collate; assert 'transformers' not in sys.modules, 'imported'\n"
            "sys.modules['transformers'] = None\n"
            "try:\n    import cutmix_collate.hf\nexcept ImportError as err:\n    print(err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert 'pip install "cutmix_collate[hf]"' in out.stdout


@pytest.mark.slow
def test_torchrun_two_cpu_ranks(tmp_path):
    result = tmp_path / "result.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__,
           str(tmp_path), str(result)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)  # its own process group: a timeout ends the ranks too
    try:
        log, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
    assert proc.returncode == 0, log[-5000:]
    out = json.loads(result.read_text())
    assert out["world_size"] == 2 and out["mixed"] and out["eval_plain"]  # 2 plain eval batches per rank
    assert out["params_equal"]  # DDP kept the two ranks' models identical
    assert out["eval_loss"] == pytest.approx(out["reference"], rel=1e-5)


def _distributed_main(tmp, result):
    """One rank of the torchrun test: train 2 steps, evaluate, rank 0 writes what it saw."""
    import torch.distributed as dist

    trainer = _trainer(Path(tmp), train=16, evals=8, max_steps=2, per_device_eval_batch_size=2,
                       ddp_find_unused_parameters=False)
    trainer.train()
    mixed = any(len(s) == 2 for t, b, _ in trainer.seen if t for s in _sources(b["pixel_values"]))
    trainer.seen.clear()
    metrics = trainer.evaluate()
    eval_plain = len(trainer.seen) == 2 and all(
        type(b["label"]) is torch.Tensor and all(len(s) == 1 for s in _sources(b["pixel_values"]))
        for _, b, _ in trainer.seen)
    flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    if dist.get_rank() == 0:
        _, _, ce = _reference(trainer.model, trainer.eval_dataset)
        Path(result).write_text(json.dumps({
            "world_size": dist.get_world_size(), "mixed": mixed, "eval_plain": eval_plain,
            "params_equal": all(torch.equal(g, gathered[0]) for g in gathered),
            "eval_loss": metrics["eval_loss"], "reference": ce}))
    # Both ranks leave together and close the group: a rank that exits with gloo's threads still up while
    # the other computes the reference can abort ("terminate called without an active exception").
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    _distributed_main(*sys.argv[1:3])
