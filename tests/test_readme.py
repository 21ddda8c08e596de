"""The README and the docs pages: every python block runs, and the README stays a first contact.

The python blocks of README.md and of each ``docs/*.md`` page run top to bottom in one namespace
per page (in a temporary working directory), as the notebook's cells do (tests/test_notebook.py),
so a block may use what an earlier block of the same page defined. A block that cannot run here
(a GPU, a data set of your own) is preceded by the marker
``<!-- readme-test: skip (the reason) -->`` and is only compiled.
"""

from __future__ import annotations

import pydoc
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"^(?:<!-- readme-test: skip \((?P<reason>[^)]+)\) -->\n)?```python\n(?P<code>.*?)^```", re.S | re.M
)

# What a page's blocks must leave behind when they have run: (files in the working directory,
# strings printed). A page not listed here only has to run.
EXPECTED = {
    "README.md": ((), ("val accuracy",)),
    "docs/index.md": ((), ("val accuracy", "'f1_batch_mean'")),
    "docs/usage.md": (("mixed.png", "ckpt.pt"), ()),
}


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _blocks(page: Path):
    """``(line, code, skip_reason)`` of every python block of a page, in order."""
    text = page.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start("code")) + 1, m.group("code"), m.group("reason"))
        for m in BLOCK.finditer(text)
    ]


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_blocks_are_found_and_every_skip_marker_has_a_python_block(page):
    text = page.read_text(encoding="utf-8")
    blocks = _blocks(page)
    assert len(blocks) == text.count("```python")  # the pattern misses none
    assert sum(reason is not None for _, _, reason in blocks) == text.count("<!-- readme-test:")
    for line, code, _ in blocks:  # skipped blocks must at least be valid python
        compile(code, f"{_name(page)}:{line}", "exec")


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_python_blocks_run_top_to_bottom(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # blocks may write files (mixed.png, ckpt.pt): only here
    namespace = {"__name__": "__readme__"}
    for line, code, reason in _blocks(page):
        if reason is None:
            exec(compile(code, f"{_name(page)}:{line}", "exec"), namespace)  # a failure names the line
    files, printed = EXPECTED.get(_name(page), ((), ()))
    for name in files:
        assert (tmp_path / name).stat().st_size > 0, name
    out = capsys.readouterr().out
    for text in printed:
        assert text in out, text


def test_pages_with_expectations_exist_and_run_blocks():
    for name in EXPECTED:
        blocks = _blocks(ROOT / name)
        assert any(reason is None for _, _, reason in blocks), name


# --------------------------------------------------------------------------------------------
# The README as a first contact
# --------------------------------------------------------------------------------------------


def test_readme_is_short_and_has_the_two_commands_and_the_integrations():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    for heading in ("## Quick start", "## From the loader to the eval script", "## With PyTorch Lightning",
                    "## With 🤗 Trainer", "## Documentation"):
        assert heading in text, heading
    assert "python -m cutmix_collate.demo" in text


def _readme_test_command():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"Run the tests:\n\n```bash\n(?P<cmd>.*?)\n```", text, re.S)
    assert block, "README has no 'Run the tests:' bash block"
    return [part.strip() for part in block.group("cmd").split("&&")]


def test_readme_test_command_is_what_ci_runs():
    steps = _readme_test_command()
    install = [s for s in steps if s.startswith("pip install")]
    pytest_cmd = [s for s in steps if "pytest" in s]
    assert install == ['pip install -c .ci/constraints.txt -e ".[test]"']
    assert pytest_cmd == ["python -m pytest"]
    ci = []
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        try:
            ci.append(shlex.split(line, comments=True))
        except ValueError:  # a line of an embedded script that is not shell (an unbalanced quote)
            continue
    for step in install + pytest_cmd:
        assert shlex.split(step) in ci, f"{step!r} is not a line of .ci/run"


def test_readme_links_to_files_that_exist_or_that_the_docs_promise():
    text = README.read_text(encoding="utf-8")
    targets = {link.split("#")[0] for link in re.findall(r"\]\(([^)]+)\)", text) if "://" not in link}
    missing = {t for t in targets if t and not (ROOT / t).exists()}
    assert not missing


# --------------------------------------------------------------------------------------------
# help()
# --------------------------------------------------------------------------------------------


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
