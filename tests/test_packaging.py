"""Packaging: what `pip install` gets. Runtime needs torch and numpy only, the extras name what
each optional part imports, every subpackage is found, and the console script resolves.

.ci/run builds the sdist and the wheel, runs ``twine check`` and installs the wheel into a clean
environment; these tests catch the configuration mistakes before that, in a second.
"""

from __future__ import annotations

import configparser
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import setuptools

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cutmix_collate"


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def _lines(value):
    return [line.strip() for line in value.splitlines() if line.strip() and not line.strip().startswith("#")]


def _names(value):
    """Requirement names without versions or extras: ``"mkdocstrings[python]>=1"`` -> ``"mkdocstrings"``."""
    out = []
    for requirement in _lines(value):
        for stop in "[<>=!~ ;":
            requirement = requirement.split(stop)[0]
        out.append(requirement)
    return out


def test_runtime_needs_only_torch_and_numpy():
    config = _setup_cfg()
    assert _lines(config["options"]["install_requires"]) == ["torch>=2.1", "numpy"]
    extras = config["options.extras_require"]
    for extra in ("demo", "bench", "test"):
        assert "scikit-learn" in _names(extras[extra]), extra
    assert _lines(extras["vision"]) == ["torchvision"]


def test_extras_name_what_the_optional_parts_import():
    extras = _setup_cfg()["options.extras_require"]
    assert {"transformers", "accelerate"} <= set(_names(extras["hf"]))
    assert {"lightning"} <= set(_names(extras["lightning"]))
    # The tests run the Lightning callback, the Trainer integration and the TensorBoard picture path.
    assert {"lightning", "transformers", "accelerate", "datasets", "tensorboard", "pytest"} <= set(_names(extras["test"]))
    assert {"mkdocs", "mkdocstrings"} <= set(_names(extras["docs"]))
    assert {"ruff", "mypy", "build", "twine"} <= set(_names(extras["dev"]))


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


def test_every_subpackage_is_found_and_ships_py_typed():
    config = _setup_cfg()
    source_dirs = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    for name in source_dirs:  # a folder of modules without __init__.py would be left out silently
        assert (ROOT / name.replace(".", "/") / "__init__.py").exists(), f"{name} has no __init__.py"
    include = _lines(config["options.packages.find"]["include"])
    found = set(setuptools.find_packages(where=str(ROOT), include=include))
    assert found == source_dirs
    assert _lines(config["options.package_data"]["cutmix_collate"]) == ["py.typed"]
    assert (PACKAGE / "py.typed").exists()


def test_console_script_resolves_to_a_callable():
    scripts = dict(
        (part.strip() for part in line.split("=", 1))
        for line in _lines(_setup_cfg()["options.entry_points"]["console_scripts"])
    )
    assert scripts == {"cutmix-demo": "cutmix_collate.demo:main"}
    module, attr = scripts["cutmix-demo"].split(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_tool_settings_live_in_pyproject_and_metadata_in_setup_cfg():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "project" not in pyproject  # one home for the metadata: setup.cfg
    assert not _setup_cfg().has_section("tool:pytest")  # one home for the pytest settings
    pytest_ini = pyproject["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in pytest_ini["addopts"]
    assert any(marker.startswith("slow:") for marker in pytest_ini["markers"])
    assert {"ruff", "mypy"} <= set(pyproject["tool"])
