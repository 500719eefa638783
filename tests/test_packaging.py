"""Packaging: ``liqcore --version``, the license and the changelog."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import liqcore
import pytest
from liqcore.cli import main

ROOT = Path(__file__).resolve().parents[1]


def installed_version() -> str:
    try:
        return importlib.metadata.version("liqcore")
    except importlib.metadata.PackageNotFoundError:
        return liqcore.__version__


def test_version_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"liqcore {installed_version()}\n"


def test_version_falls_back_to_the_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"liqcore {liqcore.__version__}\n"


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="not in a source tree")
def test_license_and_changelog() -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "Copyright (c) 2026 the liqcore developers" in license_text
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    project = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert project is not None
    assert f"## [{project.group(1)}] - " in changelog
