"""``liqcore report`` and the HTML views of the result objects (``_repr_html_``).

The report page is parsed with html.parser: its title, its sections, its images (data: URIs
that decode as PNG) and the headline numbers, recomputed here through the public API. When a
headless Chromium is installed, the page is rendered to a screenshot that must not be blank.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import liqcore as lq
import numpy as np
import pytest
from liqcore._repr_html import fmt
from liqcore.cli import main

pytest.importorskip("matplotlib")
from liqcore.report_html import build_report, write_report

MARK = 60_000.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Title, section ids, h2 texts, img sources and the visible text of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.title = ""
        self.sections: list[str] = []
        self.h2: list[str] = []
        self.imgs: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._in.append(tag)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        elif tag == "img":
            self.imgs.append(a.get("src") or "")
            self._in.pop()
        elif tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src") or "")
        elif tag == "meta":
            self._in.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title":
            self.title += data
        elif self._in and self._in[-1] == "h2":
            self.h2.append(data)
        self.text.append(data)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def decode_images(page: Page) -> list[tuple[int, int]]:
    sizes = []
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,"), src[:40]
        sizes.append(png_size(base64.b64decode(src.split(",", 1)[1], validate=True)))
    return sizes


@pytest.fixture(scope="module")
def market():
    book = lq.Book.synthetic(mid=MARK, levels=800, seed=0)
    pos = lq.synthetic_positions(3_000, mark=MARK, open_interest=3e7, long_short_ratio=1.2,
                                 seed=0)
    return pos, book


@pytest.fixture(scope="module")
def stress_page(market):
    pos, book = market
    return build_report(pos, book, MARK, kind="stress", policy=lq.Policy.binance(),
                        insurance_fund=2e4, scenarios=120, steps=20, seed=3, resilience=0.3)


def test_stress_report_structure(stress_page) -> None:
    page = Page(stress_page)
    assert page.title == "liqcore report: stress test of 3,000 positions"
    assert page.sections == ["headline", "deficits", "cascade", "map", "depth", "policy"]
    assert page.h2[0] == "Headline figures"
    assert "Bad-debt distribution" in page.h2
    # four figures: bad-debt histogram, cascade path, liquidation map, book depth
    sizes = decode_images(page)
    assert len(sizes) == 4
    assert all(w > 300 and h > 200 for w, h in sizes)
    # self-contained: no external stylesheet, script or image
    assert page.links == []
    assert "http://" not in stress_page.replace("http://www.w3.org", "")
    assert "https://" not in stress_page


def test_stress_report_numbers(market, stress_page) -> None:
    pos, book = market
    text = "".join(Page(stress_page).text)
    st = lq.stress_test(pos, book, MARK, lq.Policy.binance(), 2e4, 120, steps=20, seed=3,
                        resilience=0.3)
    cas = lq.simulate_cascade(pos, book, MARK, -0.05, lq.Policy.binance(), 2e4, 0.3)
    for v in (st.var(0.99), st.expected_shortfall(0.99), st.expected_deficit,
              st.depletion_probability, cas.bad_debt, cas.final_mark, 2e4):
        assert fmt(v) in text, v
    assert "expected bad debt" in text
    assert "cascade -5.0%: bad debt" in text
    # the policy table shows Policy.to_dict()
    pol = lq.Policy.binance().to_dict()
    assert json.dumps(pol["tiers"]) in text
    assert "underwater" in text


def test_cascade_report_has_no_stress_section(market) -> None:
    pos, book = market
    page = Page(build_report(pos, book, MARK, kind="cascade", insurance_fund=1e4, shock=-0.08))
    assert page.sections == ["headline", "cascade", "map", "depth", "policy"]
    assert page.title == "liqcore report: cascade of 3,000 positions"
    assert len(decode_images(page)) == 3
    cas = lq.simulate_cascade(pos, book, MARK, -0.08, None, 1e4)
    assert fmt(cas.bad_debt) in "".join(page.text)
    assert "Cascade path after a -8.0% shock" in page.h2


def test_report_bad_arguments(market) -> None:
    pos, book = market
    with pytest.raises(ValueError, match="kind must be one of 'stress', 'cascade'"):
        build_report(pos, book, MARK, kind="stres")
    with pytest.raises(TypeError, match=r"policy must be a liqcore\.Policy"):
        build_report(pos, book, MARK, kind="cascade", policy="binance")  # type: ignore[arg-type]


def test_cli_report_on_user_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pos_csv = tmp_path / "pos.csv"
    pos_csv.write_text("size,entry_price,margin\n2.0,61000,4000\n-1.5,59000,9000\n"
                       "0.5,60500,3000\n1.0,60000,700\n")
    book = {"bids": [[59_990.0 - 10 * k, 0.4] for k in range(50)],
            "asks": [[60_010.0 + 10 * k, 0.4] for k in range(50)]}
    book_json = tmp_path / "book.json"
    book_json.write_text(json.dumps(book))
    out = tmp_path / "r.html"
    code = main(["report", "cascade", "--positions", str(pos_csv), "--book", str(book_json),
                 "--mark", "60000", "--fund", "100", "--shock", "-0.03", "-o", str(out)])
    assert code == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = Page(out.read_text(encoding="utf-8"))
    assert page.title == "liqcore report: cascade of 4 positions"
    assert len(decode_images(page)) == 3
    ref = lq.simulate_cascade(
        lq.Positions([2.0, -1.5, 0.5, 1.0], [61_000.0, 59_000.0, 60_500.0, 60_000.0],
                     [4_000.0, 9_000.0, 3_000.0, 700.0]),
        lq.io.read_book(book_json), 60_000.0, -0.03, None, 100.0)
    assert ref.n_liquidated > 0
    assert fmt(ref.bad_debt) in "".join(page.text)


def test_cli_report_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["report", "--positions", str(tmp_path / "p.csv")])
    assert e.value.code == 2
    assert "--positions, --book and --mark go together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "sideways"])


def test_write_report_returns_the_path(market, tmp_path: Path) -> None:
    pos, book = market
    out = write_report(tmp_path / "c.html", pos, book, MARK, kind="cascade")
    assert out == tmp_path / "c.html"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# ---- headless browser --------------------------------------------------------------------------

CHROMIUM = next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))
     if p), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless chromium installed")
@pytest.mark.skipif(
    os.environ.get("LIQCORE_HYPOTHESIS_PROFILE") == "sanitize",
    reason="the ASan stage preloads its runtime into every subprocess, chromium included; "
    "stage 1 renders the page",
)
def test_report_renders_in_headless_chromium(stress_page, tmp_path: Path) -> None:
    from matplotlib.image import imread

    html_file = tmp_path / "report.html"
    html_file.write_text(stress_page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,2400",
         f"--screenshot={shot}", html_file.as_uri()],
        capture_output=True, timeout=120, check=False,
    )
    if not shot.exists():
        pytest.skip("chromium ran but wrote no screenshot (no display support here)")
    img = imread(shot)
    assert img.shape[0] >= 2000
    assert img.shape[1] >= 900
    rgb = img[..., :3]
    non_white = np.mean(np.any(rgb < 0.95, axis=-1))
    assert non_white > 0.02  # text, tables and four figures: not a blank page
    assert float(rgb.std()) > 0.05
    # the red bars of the figures are drawn (the images decoded and laid out)
    red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.5) & (rgb[..., 2] < 0.5)
    assert red.sum() > 500


# ---- _repr_html_ -------------------------------------------------------------------------------


def test_fmt() -> None:
    assert fmt(1234.5) == "1,234.50"
    assert fmt(0.25) == "0.25"
    assert fmt(0.0) == "0"
    assert fmt(12_345) == "12,345"
    assert fmt(np.int64(7)) == "7"
    assert fmt(True) == "yes"
    assert fmt(float("nan")) == "nan"
    assert fmt("linear") == "linear"


def _svgs(text: str) -> list[ET.Element]:
    out = []
    start = 0
    while (i := text.find("<svg", start)) >= 0:
        j = text.index("</svg>", i) + len("</svg>")
        out.append(ET.fromstring(text[i:j]))  # well-formed XML
        start = j
    return out


def _results(market):
    pos, book = market
    btc = lq.Book([49_900, 49_500, 49_000], [0.5, 0.5, 10], [50_100], [10])
    eth = lq.Book([2_990, 2_900, 2_800], [5, 5, 100], [3_010], [100])
    mk = lq.Markets([50_000.0, 3_000.0], [0.05, 0.05], books=[btc, eth])
    acc = lq.Accounts([[5_800.0], [1_700.0]], [1.0])
    pf = lq.Portfolio([0, 0, 1], [0, 1, 1], [1.0, 10.0, 10.0], [50_000.0, 3_000.0, 3_000.0])
    shocked = lq.Markets([45_000.0, 3_000.0], [0.05, 0.05],
                         books=[lq.Book([44_910, 44_550, 44_100], [0.5, 0.5, 10], [45_090], [10]),
                                eth])
    return {
        "LiquidationResult": lq.liquidate(pos, book, mark=57_000.0, insurance_fund=1e4),
        "CascadeResult": lq.simulate_cascade(pos, book, MARK, -0.05, None, 1e4, 0.5),
        "StressResult": lq.stress_test(pos, book, MARK, None, 1e4, 60, steps=10, seed=1),
        "AccountLiquidationResult": lq.liquidate_accounts(pf, acc, shocked, insurance_fund=1e3),
        "ContagionResult": lq.simulate_cascade_accounts(pf, acc, mk, [-0.1, 0.0],
                                                        insurance_fund=1e3),
        "AccountStressResult": lq.stress_test_accounts(pf, acc, mk, insurance_fund=1e3,
                                                       scenarios=30, seed=0),
        "DeficitCurve": lq.deficit_curve(pos, book, MARK, [-0.02, -0.05], insurance_fund=1e4),
        "LiquidationMap": lq.liquidation_map(pos, mark=MARK, bins=20),
    }


def test_repr_html_of_every_result(market) -> None:
    for name, r in _results(market).items():
        text = r._repr_html_()
        assert text.startswith("<div class='liqcore-result'"), name
        assert f">{name}<" in text
        assert "<table" in text
        svgs = _svgs(text)
        assert len(svgs) == 1, name
        # the summary's figures are in the table
        if hasattr(r, "summary"):
            for k, v in r.summary().items():
                assert f">{k}<" in text, (name, k)
                assert f">{fmt(v)}<" in text, (name, k, v)


def test_repr_html_values(market) -> None:
    res = _results(market)
    con = res["ContagionResult"]
    text = con._repr_html_()
    assert ">320<" in text  # the contagion matrix: 320 of BTC-origin deficit realised in ETH
    lmap = res["LiquidationMap"]
    text = lmap._repr_html_()
    assert f">{fmt(float(np.sum(lmap.long)))}<" in text
    # one bar per non-empty bin, longs and shorts
    bars = [e for e in _svgs(text)[0].iter() if e.tag.endswith("rect")
            and e.get("fill") in ("#d62728", "#2ca02c")]
    legend = 2
    assert len(bars) - legend == int(np.sum(lmap.long > 0) + np.sum(lmap.short > 0))
    curve = res["DeficitCurve"]
    text = curve._repr_html_()
    for b in curve.bad_debt:
        assert f">{fmt(float(b))}<" in text
    st = res["StressResult"]
    assert f">{fmt(st.var(0.99))}<" in st._repr_html_()
    ast = res["AccountStressResult"]
    assert f">{fmt(ast.var(0.99))}<" in ast._repr_html_()
