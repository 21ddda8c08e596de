"""The README's first contact: every python block runs, the package needs only torch and numpy.

The python blocks of README.md run top to bottom in one namespace, as the notebook's cells do
(tests/test_notebook.py), so a block may use what an earlier block defined. A block that cannot
run here (a GPU, a data set of your own) is preceded by the marker
``<!-- readme-test: skip (the reason) -->`` and is only compiled.
"""

from __future__ import annotations

import configparser
import pydoc
import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(
    r"^(?:<!-- readme-test: skip \((?P<reason>[^)]+)\) -->\n)?```python\n(?P<code>.*?)^```", re.S | re.M
)


def _blocks():
    """``(line, code, skip_reason)`` of every python block of the README, in order."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start("code")) + 1, m.group("code"), m.group("reason"))
        for m in BLOCK.finditer(text)
    ]


def test_readme_blocks_are_found_and_every_skip_marker_has_a_python_block():
    text = README.read_text(encoding="utf-8")
    blocks = _blocks()
    assert len(blocks) == text.count("```python")  # the pattern misses none
    assert sum(reason is not None for _, _, reason in blocks) == text.count("<!-- readme-test:")
    assert sum(reason is None for _, _, reason in blocks) >= 8
    for line, code, _ in blocks:  # skipped blocks must at least be valid python
        compile(code, f"README.md:{line}", "exec")


def test_readme_python_blocks_run_top_to_bottom(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the pictures block writes mixed.png
    namespace = {"__name__": "__readme__"}
    ran = 0
    for line, code, reason in _blocks():
        if reason is not None:
            continue
        exec(compile(code, f"README.md:{line}", "exec"), namespace)  # a failure names the line
        ran += 1
    assert ran >= 8
    assert (tmp_path / "mixed.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "val accuracy" in printed and "'f1_batch_mean'" in printed


# --------------------------------------------------------------------------------------------
# Packaging and help()
# --------------------------------------------------------------------------------------------


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def _requirements(value):
    return [line.strip() for line in value.splitlines() if line.strip()]


def test_runtime_needs_only_torch_and_numpy():
    config = _setup_cfg()
    assert _requirements(config["options"]["install_requires"]) == ["torch>=2.1", "numpy"]
    extras = config["options.extras_require"]
    for extra in ("demo", "bench", "test"):
        assert "scikit-learn" in _requirements(extras[extra]), extra
    assert _requirements(extras["vision"]) == ["torchvision"]


def test_import_and_metrics_work_without_sklearn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # any import of sklearn now fails
        "import torch, cutmix_collate\n"
        "from cutmix_collate import losses, metrics, viz, functional, collator\n"
        "m = cutmix_collate.MixedMetrics(3)\n"
        "m.update(torch.eye(3), torch.arange(3))\n"
        "assert m.compute()['f1'] == 1.0\n"
        "assert 'sklearn' not in {name.split('.')[0] for name, mod in sys.modules.items() if mod}\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_help_starts_with_the_three_line_usage():
    import cutmix_collate

    text = pydoc.render_doc(cutmix_collate, renderer=pydoc.plaintext)
    description = text[text.index("DESCRIPTION"):]
    first = description[: description.index("Each batch")]
    for call in ("CutMixCollator(alpha=1.0)", "CutMixCriterion(", "MixedMetrics(num_classes="):
        assert call in first, call
    # The classes help() documents are the public ones.
    documented = set(re.findall(r"^    class (\w+)", text, re.M))
    assert documented and documented <= set(cutmix_collate.__all__)
    assert not any(name.startswith("_") for name in cutmix_collate.__all__)

