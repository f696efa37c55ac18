"""The layering contracts (pyproject.toml ``[tool.importlinter]``) hold, and each one would
catch the import it forbids: the check runs on a copy of the packages with that import
added, so the repository itself is never touched."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = CONFIG["contracts"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("layering")
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("*.pyc"))
    return copy


def test_every_layering_contract_is_kept_as_the_code_stands(packages: Path) -> None:
    result = lint_imports(packages)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c["name"] for c in CONTRACTS])
def test_each_contract_breaks_when_the_import_it_forbids_is_added(
    contract: dict[str, object], packages: Path
) -> None:
    source = str(contract["source_modules"][0])  # type: ignore[index]
    forbidden = str(contract["forbidden_modules"][0])  # type: ignore[index]
    package_dir = packages / Path(*source.split("."))
    probe = (package_dir if package_dir.is_dir() else package_dir.parent) / "layering_probe.py"
    probe.write_text(f"import {forbidden}  # the import the contract forbids\n")
    try:
        result = lint_imports(packages)
    finally:
        probe.unlink()
    assert result.returncode == 1, result.stdout
    assert f"{contract['name']} BROKEN" in result.stdout
