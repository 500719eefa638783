"""liqcore.Policy: defaults, validation naming the field, presets, serialization."""

from __future__ import annotations

import dataclasses
import json
import pickle

import liqcore as lq
import pytest


def test_defaults() -> None:
    p = lq.Policy()
    assert (
        p.mmr,
        p.tiers,
        p.contract,
        p.order,
        p.sizing,
        p.execution,
        p.limit,
        p.fee,
        p.residual,
    ) == (0.005, None, "linear", "underwater", "full", "book", "none", "capped", "none")
    assert p.fee_cap == 0.015
    assert p.backstop is None
    assert p.ba == 1.0
    assert p.smmr == 0.1
    assert p.slice_threshold == 100_000.0
    assert p.slice_fraction == 0.2


@pytest.mark.parametrize(
    "field", ["order", "sizing", "execution", "limit", "fee", "residual", "contract"]
)
def test_unknown_option_names_the_field(field: str) -> None:
    with pytest.raises(ValueError, match=rf"Policy\.{field} must be one of .* \(got 'bogus'\)"):
        lq.Policy(**{field: "bogus"})
    with pytest.raises(TypeError, match=rf"Policy\.{field} must be a str"):
        lq.Policy(**{field: 1})


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("mmr", 1.5, r"Policy\.mmr must be finite and in \[0, 1\] \(got 1.5\)"),
        ("takeover_fee_max", 1.0, r"Policy\.takeover_fee_max must be None or finite and in"),
        ("liquidation_slots", -1.0, r"Policy\.liquidation_slots must be finite and >= 0"),
        ("imr", 1.5, r"Policy\.imr must be None or finite and in \[0, 1\] \(got 1.5\)"),
        ("mmr", float("nan"), r"Policy\.mmr must be finite"),
        ("buffer", -0.1, r"Policy\.buffer must be finite and >= 0"),
        ("slice_fraction", 0.0, r"Policy\.slice_fraction must be finite and in \(0, 1\]"),
        ("takeover_fee", 1.0, r"Policy\.takeover_fee"),
        ("backstop", 0.0, r"Policy\.backstop must be None or finite and in \(0, 1\]"),
        ("fee_cap", 1.5, r"Policy\.fee_cap must be finite and in \[0, 1\]"),
        ("reserve", float("inf"), r"Policy\.reserve must be finite and >= 0 \(got inf\)"),
        ("adl_cap", -1.0, r"Policy\.adl_cap"),
        ("contract_size", 0.0, r"Policy\.contract_size must be finite and > 0"),
        ("smmr", -1.0, r"Policy\.smmr"),
    ],
)
def test_bad_numbers(field: str, value: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lq.Policy(**{field: value})


def test_bad_kinds() -> None:
    with pytest.raises(TypeError, match=r"Policy\.mmr must be a real number \(got str\)"):
        lq.Policy(mmr="0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Policy\.buffer must be a real number \(got bool\)"):
        lq.Policy(buffer=True)
    with pytest.raises(TypeError, match=r"Policy\.refuse_uncovered must be a bool"):
        lq.Policy(refuse_uncovered=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        lq.Policy(bogus=1)  # type: ignore[call-arg]


def test_tiers() -> None:
    pairs = ((0.0, 0.004), (50_000.0, 0.005))
    assert lq.Policy(tiers=[[0, 0.004], [50_000, 0.005]]).tiers == pairs
    assert lq.Policy(tiers={"floors": [0, 50_000], "mmr": [0.004, 0.005]}).tiers == pairs

    class Tiers:
        floors = (0.0, 50_000.0)
        mmr = (0.004, 0.005)

    assert lq.Policy(tiers=Tiers()).tiers == pairs
    with pytest.raises(
        ValueError, match=r"Policy\.tiers\[1\]\.floor must be finite, 0 for the first tier"
    ):
        lq.Policy(tiers=[(0, 0.01), (0, 0.02)])
    with pytest.raises(ValueError, match=r"Policy\.tiers\[0\]\.floor"):
        lq.Policy(tiers=[(10, 0.01)])
    with pytest.raises(ValueError, match=r"Policy\.tiers\[0\]\.mmr must be in \[0, 1\]"):
        lq.Policy(tiers=[(0, 1.5)])
    with pytest.raises(ValueError, match=r"Policy\.tiers\[0\] must be a \(floor, mmr\) pair"):
        lq.Policy(tiers=[(0, 0.1, 3)])
    with pytest.raises(ValueError, match=r"Policy\.tiers must have at least one tier"):
        lq.Policy(tiers=[])
    with pytest.raises(TypeError, match=r"Policy\.tiers must be None, a MarginTiers"):
        lq.Policy(tiers=3)  # type: ignore[arg-type]


def test_tiers_change_detection() -> None:
    # notional 60k falls in the 0.5% tier with cum 50: MM = 250; E = 240 is liquidatable only
    # with the tiers (flat 0.4% gives MM = 240, not strictly above E).
    pos = lq.Positions([1.0], [60_000.0], [240.0])
    book = lq.Book([59_999.0], [5.0], [60_001.0], [5.0])
    assert not lq.liquidate(pos, book, 60_000.0, lq.Policy(mmr=0.004)).liquidated[0]
    assert lq.liquidate(pos, book, 60_000.0, lq.Policy.binance()).liquidated[0]


def test_presets() -> None:
    assert lq.Policy.binance().tiers[0] == (0.0, 0.004)  # type: ignore[index]
    assert lq.Policy.binance().fee == "surplus"
    assert lq.Policy.bybit().limit == "bankruptcy"
    d = lq.Policy.dydx()
    assert (d.limit, d.fee_cap, d.refuse_uncovered, d.residual) == (
        "fillable",
        0.015,
        True,
        "queue",
    )
    h = lq.Policy.hyperliquid()
    assert (h.sizing, h.slice_fraction, h.backstop) == ("slices", 0.2, 2.0 / 3.0)
    dr = lq.Policy.drift()
    assert (dr.execution, dr.sizing, dr.residual) == ("takeover", "partial", "socialize")
    assert lq.Policy.dydx(fee_cap=0.005).fee_cap == 0.005  # overrides


def test_frozen_serialization_and_pickle() -> None:
    p = lq.Policy.binance(adl_cap=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.mmr = 0.1  # type: ignore[misc]
    assert lq.Policy.from_json(p.to_json()) == p
    assert json.loads(p.to_json())["tiers"][1] == [50_000.0, 0.005]
    assert pickle.loads(pickle.dumps(p)) == p
    assert hash(p) == hash(lq.Policy.from_dict(p.to_dict()))
    assert p.mmr is None  # tiers given: no flat rate
    assert dataclasses.replace(p, tiers=None, mmr=0.01).mmr == 0.01
    assert dataclasses.replace(p, tiers=None).mmr == 0.005
    with pytest.raises(ValueError, match=r"unknown Policy field\(s\) 'bogus'"):
        lq.Policy.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="policy JSON could not be parsed"):
        lq.Policy.from_json("{")
    with pytest.raises(TypeError, match="policy must be a mapping"):
        lq.Policy.from_dict([1])  # type: ignore[arg-type]


def test_smmr_default_matches_fillable_price() -> None:
    # one dYdX default for the spread-to-maintenance-margin ratio across the API (v4-chain's 0.1,
    # which reproduces the published 2,976 fillable price)
    import inspect

    assert inspect.signature(lq.fillable_price).parameters["smmr"].default == lq.Policy().smmr


def test_mmr_and_tiers_are_exclusive() -> None:
    tiers = ((0.0, 0.004), (50_000.0, 0.005))
    for mmr in (0.01, 0.005, 0.0):  # any explicit rate, the default's value included
        with pytest.raises(ValueError, match=r"^Policy\.mmr and Policy\.tiers are exclusive"):
            lq.Policy(mmr=mmr, tiers=tiers)
        with pytest.raises(ValueError, match=r"exclusive"):
            lq.Policy.binance(mmr=mmr)
    assert lq.Policy().mmr == 0.005  # the documented default
    assert lq.Policy(mmr=None).mmr == 0.005
    assert lq.Policy(tiers=tiers).mmr is None
    assert lq.Policy(tiers=tiers).tiers == tiers
    flat = lq.Policy(mmr=0.02)
    with pytest.raises(ValueError, match="exclusive"):
        dataclasses.replace(flat, tiers=tiers)
    assert dataclasses.replace(flat, tiers=tiers, mmr=None).tiers == tiers
    # an older pickle state (mmr 0.005 kept beside tiers) still loads, as tiers
    q = lq.Policy.__new__(lq.Policy)
    q.__setstate__({**lq.Policy(tiers=tiers).to_dict(), "mmr": 0.005})
    assert q.mmr is None
    assert q == lq.Policy(tiers=tiers)
