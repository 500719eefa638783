"""The documentation site: every ```python block of docs/*.md runs, page by page, in order,
in a fresh namespace; the API reference covers liqcore.__all__; and ``mkdocs build --strict``
succeeds when mkdocs is installed (the ``docs`` extra; the ``test`` extra installs it too)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import liqcore as lq
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# docs/model.md holds no python blocks (and would be skipped if it ever held some that are
# illustrations rather than programs: it is the model chapter, not a tutorial).
SKIP = {"model.md", "HARDENING.md"}
_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return _BLOCK.findall(page.read_text(encoding="utf-8"))


def pages() -> list[Path]:
    if not DOCS.is_dir():
        return []
    return sorted(p for p in DOCS.rglob("*.md") if p.name not in SKIP and python_blocks(p))


def _id(p: Path) -> str:
    return str(p.relative_to(DOCS))


def run_page(page: Path) -> dict[str, object]:
    ns: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for k, code in enumerate(python_blocks(page)):
        exec(compile(code, f"{page} [python block {k + 1}]", "exec"), ns)
    return ns


def test_the_block_extractor() -> None:
    text = "intro\n```python\nx = 1\n```\n\n```bash\nls\n```\n```python title='t'\ny = x + 1\n```\n"
    page = Path(__file__).with_name("_doc_extractor_probe.md")
    try:
        page.write_text(text, encoding="utf-8")
        assert python_blocks(page) == ["x = 1\n", "y = x + 1\n"]
        assert run_page(page)["y"] == 2
    finally:
        page.unlink()


@pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not beside the tests")
def test_the_pages_with_code_are_found() -> None:
    found = {_id(p) for p in pages()}
    for name in ("index.md", "howto/binance.md", "howto/policies.md", "howto/dask.md",
                 "howto/contagion.md", "howto/tardis.md", "howto/reports.md"):
        assert name in found


@pytest.mark.parametrize("page", [p for p in pages() if _id(p) not in ("howto/dask.md",)],
                         ids=_id)
def test_page_runs(page: Path) -> None:
    run_page(page)


# A LocalCluster of 2 worker processes: ~6 s here, under the 20 s that would mark it slow.
@pytest.mark.skipif(not (DOCS / "howto/dask.md").exists(), reason="docs/ not beside the tests")
@pytest.mark.skipif(
    os.environ.get("LIQCORE_HYPOTHESIS_PROFILE") == "sanitize",
    reason="a LocalCluster of instrumented worker processes under the ASan stage is slow and "
    "loses tasks; stage 1 runs the page",
)
def test_dask_page_runs() -> None:
    pytest.importorskip("distributed")
    t0 = time.perf_counter()
    ns = run_page(DOCS / "howto/dask.md")
    assert len(ns["st"]) == 200  # type: ignore[arg-type]
    assert time.perf_counter() - t0 < 60


def test_contagion_page_numbers() -> None:
    ns = run_page(DOCS / "howto/contagion.md")
    r = ns["r"]
    assert r.rounds == 2  # type: ignore[attr-defined]
    assert r.bad_debt == 320.0  # type: ignore[attr-defined]


@pytest.mark.skipif(not (DOCS / "api").is_dir(), reason="docs/api is not beside the tests")
def test_api_reference_covers_all_public_names() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md"))
    directives = set(re.findall(r"^::: (\S+)", text, re.M))
    modules = {"adl": "liqcore.adl", "io": "liqcore.io", "population": "liqcore.population"}
    missing = []
    for name in lq.__all__:
        if name == "__version__":
            continue
        if name in modules:
            if not (modules[name] in directives or any(
                d.startswith(modules[name] + ".") for d in directives
            )):
                missing.append(name)
        elif f"liqcore.{name}" not in directives:
            missing.append(name)
    assert not missing, f"not in docs/api/*.md: {missing}"


@pytest.mark.skipif(not (ROOT / "mkdocs.yml").exists(), reason="mkdocs.yml is not beside tests")
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    for mod in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            found = importlib.util.find_spec(mod) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            pytest.skip(f"{mod} is not installed (pip install '.[docs]')")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    site = tmp_path / "site"
    assert (site / "index.html").exists()
    api = (site / "api" / "liquidation" / "index.html").read_text(encoding="utf-8")
    assert "liquidate" in api
    assert "LiquidationResult" in api
