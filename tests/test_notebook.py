"""The quick-start notebook: saved without outputs, and it runs top to bottom (CI executes it)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def _read():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_is_valid_and_saved_without_outputs():
    nb = _read()
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert len(code) >= 6
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"code cell {i} was saved with outputs"
        assert cell.execution_count is None, f"code cell {i} was saved with an execution count"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path):
    nb = _read()
    # A last cell, in memory only: which interpreter ran the kernel.
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",  # jupyter_client runs the spec's "python" as sys.executable
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},  # the working directory of the kernel
    )
    # One torch thread: on a busy 2-core CI runner, two spinning OpenMP threads can make the
    # short training many times slower. The notebook itself does not depend on it.
    # MPLBACKEND is dropped so that the kernel uses its inline backend (the picture is an output).
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["OMP_NUM_THREADS"] = "1"
    client.execute(env=env)  # raises CellExecutionError on the first failing cell

    printed = "".join(
        output.get("text", "")
        for cell in nb.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "stream"
    )
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.prefix  # the kernel ran in this venv
    assert "epoch 10: loss" in printed and "weighted accuracy" in printed
    for name in ("clean", "occluded", "pasted"):  # the occlusion check: both models on three test sets
        assert f"{name} test accuracy: baseline" in printed
    # The other two claims: both models under five corruptions at three severities, and OOD AUROCs.
    assert "accuracy at severity 1, 2, 3 (baseline / CutMix)" in printed
    for name in ("noise", "blur", "contrast", "occluded", "pasted"):
        assert re.search(rf"^ *{name}: (\d\.\d{{3}} / \d\.\d{{3}} *){{3}}$", printed, re.M), name
    for name in ("baseline", "CutMix"):
        assert re.search(rf"^ *{name} OOD AUROC: inverted \d\.\d{{3}}, noise \d\.\d{{3}}$", printed, re.M), name
    images = [
        output for cell in nb.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "display_data" and "image/png" in output.data
    ]
    assert len(images) == 2  # the mixed batch, and clean / occluded / pasted test images
    errors = [output for cell in nb.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert errors == []
