"""ccxt order books and leverage tiers, Binance leverage brackets (Book.from_ccxt,
MarginTiers.from_ccxt, MarginTiers.from_binance_brackets): samples in each documented format."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import liqcore.io as lio
import pytest
from liqcore import Book, MarginTiers, maintenance_margin

# --------------------------------------------------------------------------------------------
# Book.from_ccxt
# --------------------------------------------------------------------------------------------

ORDER_BOOK: dict[str, Any] = {
    "symbol": "BTC/USDT:USDT",
    "bids": [[60000.0, 1.5], [59999.5, 2.0, 3], [59990.0, 0.25]],  # a third element: ignored
    "asks": [[60000.5, 0.75], [60001.0, 4.0]],
    "timestamp": 1700000000000,
    "datetime": "2023-11-14T22:13:20.000Z",
    "nonce": 123,
}


def test_book_from_ccxt() -> None:
    book = Book.from_ccxt(ORDER_BOOK)
    assert book.bids[0].tolist() == [60000.0, 59999.5, 59990.0]
    assert book.bids[1].tolist() == [1.5, 2.0, 0.25]
    assert book.asks[0].tolist() == [60000.5, 60001.0]
    assert book.asks[1].tolist() == [0.75, 4.0]
    assert book == Book([60000.0, 59999.5, 59990.0], [1.5, 2.0, 0.25], [60000.5, 60001.0],
                        [0.75, 4.0])
    assert lio.book_from_ccxt(ORDER_BOOK) == book


def test_book_from_ccxt_strings_and_empty_side() -> None:
    book = Book.from_ccxt({"bids": [["100.5", "2"]], "asks": []})
    assert (book.best_bid, book.n_asks) == (100.5, 0)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"bids": [[100.0, 1.0], [100.0, 1.0]]}, ValueError,
         "order_book['bids'][1] price must be strictly below the previous level's 100.0 "
         "(got 100.0)"),
        ({"asks": [[101.0, 1.0], [100.9, 1.0]]}, ValueError,
         "order_book['asks'][1] price must be strictly above the previous level's 101.0 "
         "(got 100.9)"),
        ({"bids": [[100.0, 0.0]]}, ValueError,
         "order_book['bids'][0] amount must be finite and > 0 (got 0.0)"),
        ({"asks": [[float("nan"), 1.0]]}, ValueError,
         "order_book['asks'][0] price must be finite and > 0 (got nan)"),
        ({"asks": [[101.0, None]]}, ValueError,
         "order_book['asks'][0] amount must be a number finite and > 0 (got None)"),
        ({"asks": [[101.0]]}, ValueError,
         "order_book['asks'][0] must be a [price, amount] entry (got [101.0])"),
        ({"asks": [[99.0, 1.0]]}, ValueError,
         "order_book is crossed: best bid 100.0 >= best ask 99.0"),
        ({"asks": "none"}, TypeError,
         "order_book['asks'] must be a list of [price, amount] entries (got str)"),
    ],
)
def test_book_from_ccxt_bad(change: dict[str, Any], error: type[Exception], message: str) -> None:
    ob = {"bids": [[100.0, 1.0]], "asks": [[101.0, 1.0]], **change}
    with pytest.raises(error, match=re.escape(message)):
        Book.from_ccxt(ob)


def test_book_from_ccxt_not_a_book() -> None:
    with pytest.raises(ValueError, match=re.escape("order_book has no 'asks'")):
        Book.from_ccxt({"bids": []})
    with pytest.raises(TypeError, match="order_book must be a ccxt order book dict"):
        Book.from_ccxt([[1, 2]])


# --------------------------------------------------------------------------------------------
# Binance's published USD-M table (BTCUSDT, first five brackets), as GET /fapi/v1/leverageBracket
# returns it
# --------------------------------------------------------------------------------------------

FLOORS = [0.0, 50_000.0, 250_000.0, 1_000_000.0, 10_000_000.0]
CAPS = [50_000.0, 250_000.0, 1_000_000.0, 10_000_000.0, 20_000_000.0]
MMR = [0.004, 0.005, 0.01, 0.025, 0.05]
CUM = [0.0, 50.0, 1_300.0, 16_300.0, 266_300.0]
LEVERAGE = [125, 100, 50, 20, 10]


def brackets(symbol: str = "BTCUSDT", cum: list[float] = CUM) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "notionalCoef": 1.0,
        "brackets": [
            {"bracket": k + 1, "initialLeverage": LEVERAGE[k], "notionalCap": CAPS[k],
             "notionalFloor": FLOORS[k], "maintMarginRatio": MMR[k], "cum": cum[k]}
            for k in range(5)
        ],
    }


def test_binance_brackets_published_table() -> None:
    tiers = MarginTiers.from_binance_brackets([brackets()])
    assert tiers.floors.tolist() == FLOORS
    assert tiers.mmr.tolist() == MMR
    assert tiers.cum.tolist() == pytest.approx(CUM, rel=1e-15)  # Binance's published amounts
    # maintenance margin = notional·mmr - cum, with the tier of the notional
    assert tiers.maintenance(100_000.0) == pytest.approx(100_000 * 0.005 - 50)
    assert tiers.maintenance(2_000_000.0) == pytest.approx(2_000_000 * 0.025 - 16_300)
    assert maintenance_margin(1.0, 20_000_000.0, tiers=tiers) == pytest.approx(
        20_000_000 * 0.05 - 266_300
    )
    assert lio.tiers_from_binance_brackets([brackets()]) == tiers


def test_binance_brackets_forms() -> None:
    expected = MarginTiers(FLOORS, MMR)
    both = [brackets("ETHUSDT"), brackets()]
    assert MarginTiers.from_binance_brackets(both, "BTCUSDT") == expected
    assert MarginTiers.from_binance_brackets(json.dumps(both), symbol="ETHUSDT") == expected
    assert MarginTiers.from_binance_brackets(brackets()) == expected  # the one-symbol object
    assert MarginTiers.from_binance_brackets(json.dumps(brackets()).encode()) == expected
    with pytest.raises(ValueError, match=re.escape(
        "brackets holds 2 symbols ('ETHUSDT', 'BTCUSDT'): pass symbol= to choose one"
    )):
        MarginTiers.from_binance_brackets(both)
    with pytest.raises(ValueError, match="symbol 'XRPUSDT' is not in brackets"):
        MarginTiers.from_binance_brackets(both, "XRPUSDT")


def test_binance_coin_m_brackets() -> None:
    """COIN-M (/dapi): "pair" and quantity bounds (qtyFloor/qtyCap, in coin)."""
    data = [{"pair": "BTCUSD", "brackets": [
        {"bracket": 1, "initialLeverage": 125, "qtyCap": 5, "qtyFloor": 0,
         "maintMarginRatio": 0.004, "cum": 0.0},
        {"bracket": 2, "initialLeverage": 100, "qtyCap": 10, "qtyFloor": 5,
         "maintMarginRatio": 0.005, "cum": 0.005},
    ]}]
    tiers = MarginTiers.from_binance_brackets(data)
    assert tiers.floors.tolist() == [0.0, 5.0]
    assert tiers.cum.tolist() == pytest.approx([0.0, 0.005])


def test_binance_brackets_wrong_cum() -> None:
    wrong = [0.0, 50.0, 1_300.0, 16_000.0, 266_300.0]
    with pytest.raises(ValueError, match=re.escape(
        "BTCUSDT brackets[3] cum is 16000.0 but the brackets give 16300.0"
    )):
        MarginTiers.from_binance_brackets([brackets(cum=wrong)])
    # rounding is not a disagreement
    rounded = [0.0, 50.0, 1_300.0, 16_300.0000001, 266_300.0]
    assert MarginTiers.from_binance_brackets([brackets(cum=rounded)]) == MarginTiers(FLOORS, MMR)


@pytest.mark.parametrize(
    ("k", "key", "value", "message"),
    [
        (2, "notionalFloor", 260_000.0,
         "BTCUSDT brackets[2] starts at 260000.0 but the previous tier's notionalCap is "
         "250000.0: tiers must be contiguous"),
        (0, "notionalFloor", 10.0, "BTCUSDT brackets[0] notionalFloor must be 0 (got 10.0)"),
        (1, "maintMarginRatio", "abc",
         "BTCUSDT brackets[1] maintMarginRatio must be finite and >= 0 (got 'abc')"),
        (1, "maintMarginRatio", 1.5, "BTCUSDT brackets: mmr[1] must be finite and >= 0 and <= 1"),
        (4, "cum", None, "BTCUSDT brackets[4] has no 'cum'"),
    ],
)
def test_binance_brackets_malformed(k: int, key: str, value: Any, message: str) -> None:
    data = brackets()
    data["brackets"][k][key] = value
    with pytest.raises(ValueError, match=re.escape(message)):
        MarginTiers.from_binance_brackets([data])


def test_binance_brackets_not_a_response() -> None:
    with pytest.raises(TypeError, match="brackets must be Binance's leverageBracket response"):
        MarginTiers.from_binance_brackets(3)
    with pytest.raises(ValueError, match="brackets is not valid JSON"):
        MarginTiers.from_binance_brackets("{")
    with pytest.raises(ValueError, match="brackets is empty"):
        MarginTiers.from_binance_brackets([])
    with pytest.raises(ValueError, match=re.escape("brackets[0] has no 'symbol' or 'pair'")):
        MarginTiers.from_binance_brackets([{"brackets": []}])


# --------------------------------------------------------------------------------------------
# MarginTiers.from_ccxt: ccxt's unified leverage tiers (here as ccxt gives Binance's)
# --------------------------------------------------------------------------------------------


def ccxt_tiers(cum: list[float] = CUM) -> list[dict[str, Any]]:
    raw = brackets(cum=cum)["brackets"]
    return [
        {"tier": k + 1, "currency": "USDT", "minNotional": FLOORS[k], "maxNotional": CAPS[k],
         "maintenanceMarginRate": MMR[k], "maxLeverage": LEVERAGE[k],
         "info": {key: str(v) for key, v in raw[k].items()}}
        for k in range(5)
    ]


def test_from_ccxt() -> None:
    tiers = MarginTiers.from_ccxt(ccxt_tiers())
    assert tiers.floors.tolist() == FLOORS
    assert tiers.mmr.tolist() == MMR
    assert tiers.cum.tolist() == pytest.approx(CUM, rel=1e-15)
    assert MarginTiers.from_ccxt({"BTC/USDT:USDT": ccxt_tiers()}) == tiers
    by_symbol = {"ETH/USDT:USDT": ccxt_tiers(), "BTC/USDT:USDT": ccxt_tiers()}
    assert MarginTiers.from_ccxt(by_symbol, "BTC/USDT:USDT") == tiers
    assert lio.tiers_from_ccxt(by_symbol, symbol="ETH/USDT:USDT") == tiers
    with pytest.raises(ValueError, match="leverage_tiers holds 2 symbols"):
        MarginTiers.from_ccxt(by_symbol)
    with pytest.raises(ValueError, match="symbol 'X' is not in leverage_tiers"):
        MarginTiers.from_ccxt(by_symbol, "X")
    no_info = ccxt_tiers()
    for t in no_info:
        del t["info"]
    assert MarginTiers.from_ccxt(no_info) == tiers


def test_from_ccxt_checks_binance_cum_in_info() -> None:
    with pytest.raises(ValueError, match=re.escape(
        "leverage_tiers[4]['info'] cum is 266000.0 but the brackets give 266300.0"
    )):
        MarginTiers.from_ccxt(ccxt_tiers(cum=[0.0, 50.0, 1_300.0, 16_300.0, 266_000.0]))


@pytest.mark.parametrize(
    ("k", "key", "value", "message"),
    [
        (3, "minNotional", 900_000.0,
         "leverage_tiers[3]['minNotional'] starts at 900000.0 but the previous tier's "
         "maxNotional is 1000000.0: tiers must be contiguous"),
        (0, "minNotional", 1.0, "leverage_tiers[0]['minNotional'] must be 0 (got 1.0)"),
        (2, "maintenanceMarginRate", None, "leverage_tiers[2] has no 'maintenanceMarginRate'"),
        (2, "maintenanceMarginRate", -0.01,
         "leverage_tiers[2]['maintenanceMarginRate'] must be finite and >= 0 (got -0.01)"),
        (1, "maxNotional", 0, "leverage_tiers[1]['maxNotional'] must be finite and > 0 (got 0)"),
    ],
)
def test_from_ccxt_malformed(k: int, key: str, value: Any, message: str) -> None:
    tiers = copy.deepcopy(ccxt_tiers())
    tiers[k][key] = value
    with pytest.raises(ValueError, match=re.escape(message)):
        MarginTiers.from_ccxt(tiers)


def test_from_ccxt_not_tiers() -> None:
    with pytest.raises(TypeError, match="leverage_tiers must be a list of ccxt tier dicts"):
        MarginTiers.from_ccxt("tiers")
    with pytest.raises(ValueError, match="leverage_tiers is empty"):
        MarginTiers.from_ccxt([])
    with pytest.raises(ValueError, match=re.escape("leverage_tiers[0] must be a JSON object")):
        MarginTiers.from_ccxt([3])
