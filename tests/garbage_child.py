"""Child process of tests/test_garbage.py: throws garbage at every public callable of liqcore.

Usage: ``python garbage_child.py OUT.jsonl`` (run it in an empty temporary directory: loaders
are given garbage paths and write_book may create files).

The public surface is discovered, not listed: ``liqcore.__all__``, the ``__all__`` of every
public submodule it exports, and the public methods and properties of an instance of every
exported class. For each callable and each parameter, the parameter gets each garbage value while
the others get a valid value (chosen by parameter name, so that new entry points are covered
without editing this file); then every parameter gets the same garbage value at once.

One JSON line per call: ``{"target", "param", "garbage", "outcome", "type", "message"}`` where
outcome is ``"ok"``, ``"ValueError"`` / ``"TypeError"`` (subclasses included) or the exception's
type name, and type the exact type name. Warnings are errors. The parent checks that this process
exits normally (no signal, exit code 0) and classifies the outcomes.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import sys
import types
import warnings
from typing import Any, Callable

import numpy as np

warnings.simplefilter("error")

import liqcore  # noqa: E402

_RO = np.array([1.0, 2.0])
_RO.flags.writeable = False


def garbage_values() -> list[tuple[str, Any]]:
    return [
        ("None", None), ("empty str", ""), ("str", "garbage"), ("bytes", b"\x00\xff"),
        ("0", 0), ("-1", -1), ("3", 3), ("2**70", 2**70), ("nan", math.nan), ("inf", math.inf),
        ("-inf", -math.inf), ("-0.0", -0.0), ("1e308", 1e308), ("denormal", 5e-324),
        ("True", True), ("1j", 1j), ("[]", []), ("[nan]", [math.nan]), ("[1, 'x']", [1.0, "x"]),
        ("ragged", [[1.0, 2.0], [3.0]]), ("empty array", np.empty(0)),
        ("nan/inf array", np.array([math.nan, math.inf, -math.inf])),
        ("2-D", np.zeros((2, 2))), ("str array", np.array(["a", "b"])),
        ("complex array", np.array([1 + 1j])), ("object array", np.array([object()], dtype=object)),
        ("strided int", np.arange(10)[::3]), ("read-only", _RO),
        ("float32", np.ones(3, np.float32)),
        ("big-endian", np.array([1.0, 2.0], dtype=">f8")), ("{}", {}), ("dict", {"a": 1}),
        ("object()", object()), ("lambda", lambda: 1), ("huge negative", -1e308),
        ("uint64 max", np.uint64(2**64 - 1)), ("bool array", np.array([True, False])),
    ]


def small_book() -> Any:
    from liqcore.book import Book

    return Book([100.0, 99.0, 98.0], [1.0, 2.0, 3.0], [101.0, 102.0, 103.0],
                        [1.0, 2.0, 3.0])


def valid_for(name: str, target: str = "") -> Any:
    """A valid value for a parameter called ``name`` (None: not known)."""
    n = 3
    table: dict[str, Any] = {
        # margin / positions
        "size": np.array([1.0, -2.0, 0.5]), "entry_price": np.full(n, 100.0),
        "margin": np.full(n, 10.0), "mark": 100.0, "mmr": 0.005, "contract": "linear",
        "contract_size": 1.0, "tiers": None, "account": None, "floors": [0.0, 5e4, 2.5e5],
        "mm_at_entry": False, "indices": [0, 2],
        # ADL
        "capacity": np.array([1.0, 2.0, 3.0]), "scores": np.array([3.0, 1.0, 2.0]),
        "caps": np.array([0.5, 1.0, 0.2]), "weights": np.array([1.0, 2.0, 3.0]), "amount": 2.0,
        "taken": np.array([1.0, 0.5, 0.0]),
        # cross margin
        "collateral": np.array([[1000.0, 0.1], [50.0, 0.0]]),
        "asset_prices": np.array([1.0, 60_000.0]), "haircuts": 0.0, "size_discount": None,
        "marks": np.array([100.0, 60_000.0]), "position": 0, "delta": -0.5, "ba": 1.0,
        "smmr": 0.1,
        # books
        "bid_px": np.array([100.0, 99.0]), "bid_qty": np.array([1.0, 2.0]),
        "ask_px": np.array([101.0, 102.0]), "ask_qty": np.array([1.0, 2.0]),
        "side": "sell", "qty": 1.5, "qtys": np.array([0.5, 1.5, 10.0]), "limit": None,
        "limits": None, "px": np.array([100.5]), "bps": 10.0,
        # synthetic
        "mid": 60_000.0, "levels": 20, "tick": None, "spread_bps": None, "depth_scale": 1.0,
        # liquidation, cascades, stress tests (small counts: the child must stay fast)
        "insurance_fund": 100.0, "policy": None, "shock": -0.05, "resilience": 0.1,
        "scenarios": 4, "steps": 3, "horizon": 1.0, "max_rounds": 20, "seed": 0,
        "grid": {"buffer": [0.0, 0.05]}, "q": 0.99, "progress": None,
        # populations, liquidation maps, deficit curves
        "shocks": np.array([-0.01, -0.05]), "n": 5, "values": [2.0, 10.0, 20.0],
        "median": 5.0, "sigma": 1.0,
        # io
        "every": 10, "strict": True, "until": None, "index": -1, "format": None,
        "spec": "binance", "assets": {"USDC": {"price": 1.0}},
        # the live engine and replays
        "price": 100.0, "id": 0, "ids": None, "feed": "binance.jsonl", "depth_bps": 10.0,
        # initial margin, venue fees
        "imr": 0.1, "open_interest": None, "oi_caps": None, "notional": 1000.0,
        "margin_shortage": 20.0, "margin_ratio": 0.05, "liquidator_fee": 0.01,
        "max_if_fee": 0.05, "base_fee": 0.01, "max_fee": 0.03, "slots": 2000.0,
        "grace_slots": 1500.0, "per_slot": 1e-6,
    }
    if name == "notional" and not target.endswith(("drift_if_fee", "initial_margin_fraction")):
        return None  # synthetic_positions' notional is a distribution
    if name == "mark" and target.endswith("replay"):
        return "mid"
    if "AccountEngine" in target:
        sample = {"portfolio": "pf", "accounts": "acc", "markets": "mk"}.get(name)
        if sample is not None:
            return valid_for(sample)
        if name in ("market", "account", "id"):
            return 0
        if name in ("size", "entry_price"):
            return {"size": 1.0, "entry_price": 100.0}[name]
        if name == "prices":
            return {0: 100.0}
    if target.endswith(("Engine().open", "Engine().update")) and name in table:
        return {"size": 1.0, "entry_price": 100.0, "margin": 10.0, "id": 0}[name]
    if name == "side" and target.endswith(("apply", "depth", "depth_notional", "levels")):
        return "bid"
    if name in ("account", "market") and target.endswith("Portfolio"):
        return [0, 1, 1] if name == "account" else [0, 0, 1]
    if name == "mmr" and target.endswith("MarginTiers"):
        return [0.004, 0.005, 0.01]
    if name == "path":
        for reader, sample in (("read_markets", "markets.json"), ("read_collateral", "coll.csv"),
                               ("read_table", "coll.csv"), ("read_positions", "positions.csv")):
            if target.endswith(reader):
                return sample
        for venue in ("binance", "hyperliquid"):
            if venue in target:
                return f"{venue}.jsonl"
        for kind in ("tardis_book", "tardis_updates", "tardis_snapshot", "tardis_ticker",
                     "tardis_liquidations"):
            if kind in target:
                return f"{kind}.csv"
        if "positions_parquet" in target:
            return "out.parquet" if "write" in target else "positions.parquet"
        return "out.json" if target.endswith("write_book") else "book.json"
    if name == "order_book":
        return {"bids": [[100.0, 1.0]], "asks": [[101.0, 2.0, 3]]}
    if name == "leverage_tiers":
        return [{"minNotional": 0, "maxNotional": 5e4, "maintenanceMarginRate": 0.004},
                {"minNotional": 5e4, "maxNotional": 2.5e5, "maintenanceMarginRate": 0.005}]
    if name == "brackets":
        return [{"symbol": "BTCUSDT", "brackets": [
            {"notionalFloor": 0, "notionalCap": 5e4, "maintMarginRatio": 0.004, "cum": 0.0},
            {"notionalFloor": 5e4, "notionalCap": 2.5e5, "maintMarginRatio": 0.005, "cum": 50.0},
        ]}]
    if name == "book":
        if target.endswith("write_book"):
            return (table["bid_px"], table["bid_qty"], table["ask_px"], table["ask_qty"])
        return small_book()
    if name == "pf":
        return liqcore.Portfolio([0, 1, 1], [0, 0, 1], [1.0, -2.0, 0.01], [100.0, 100.0, 60_000.0])
    if name == "acc":
        return liqcore.Accounts(table["collateral"], table["asset_prices"])
    if name == "mk":
        books = [small_book(), liqcore.Book([59_990.0], [1.0], [60_010.0], [1.0])]
        return liqcore.Markets(table["marks"], 0.005, books=books)
    if name == "positions" and hasattr(liqcore, "Positions"):
        return liqcore.Positions(table["size"], table["entry_price"], table["margin"])
    return table.get(name)


SAMPLE_FILES = {
    "binance.jsonl": '1 {"lastUpdateId": 5, "bids": [["100", "1"]], "asks": [["101", "2"]]}\n'
                     '2 {"e": "depthUpdate", "U": 5, "u": 6, "pu": 4, "b": [["99", "1"]], '
                     '"a": []}\n',
    "hyperliquid.jsonl": '1 {"channel": "l2Book", "data": {"levels": [[{"px": "100", "sz": "1"}],'
                         ' [{"px": "101", "sz": "2"}]]}}\n',
    "book.json": '{"bids": [["100", "1"]], "asks": [["101", "2"]]}\n',
    # Tardis.dev CSV datasets
    "tardis_book.csv": "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
                       "x,S,1,1,true,bid,100,1\nx,S,1,1,true,ask,101,2\nx,S,2,2,false,bid,99,1\n",
    "tardis_snapshot.csv": "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,"
                           "bids[0].price,bids[0].amount\nx,S,1,1,101,2,100,1\n",
    "tardis_ticker.csv": "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,"
                         "predicted_funding_rate,open_interest,last_price,index_price,mark_price\n"
                         "x,S,1,1,,0.0001,,10,100,100,100\n",
    "tardis_liquidations.csv": "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
                               "x,S,1,1,,sell,100,1\n",
    "markets.json": '{"marks": [100], "mmr": 0.01, "books": ["book.json"], '
                    '"assets": {"USDC": {"price": 1}}}\n',
    "coll.csv": "USDC\n10\n",
    "positions.csv": "size,entry_price,margin\n1,100,10\n",
}
SAMPLE_FILES["tardis_updates.csv"] = SAMPLE_FILES["tardis_book.csv"]


def record(out: Any, target: str, param: str, glabel: str, fn: Callable[[], Any]) -> None:
    try:
        res = fn()
        if isinstance(res, types.GeneratorType):
            for _ in res:
                pass
        outcome, message = "ok", ""
    except Exception as e:
        outcome, message = type(e).__name__, str(e)[:300]
        for clean in (ValueError, TypeError):  # subclasses (UFuncTypeError, ...) count as such
            if isinstance(e, clean) and not isinstance(e, UnicodeError):
                outcome = clean.__name__
        exact = type(e).__name__
    else:
        exact = outcome
    out.write(json.dumps({"target": target, "param": param, "garbage": glabel,
                          "outcome": outcome, "type": exact, "message": message}) + "\n")
    out.flush()


def params_of(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def call(fn: Callable[..., Any], params: list[inspect.Parameter], values: dict[str, Any]) -> Any:
    """``fn`` with ``values`` by keyword (positional-only parameters by position)."""
    args, kwargs = [], {}
    for p in params:
        if p.name not in values:
            continue
        if p.kind == p.POSITIONAL_ONLY:
            args.append(values[p.name])
        else:
            kwargs[p.name] = values[p.name]
    return fn(*args, **kwargs)


COUNTS = ("steps",)


def _skip(param: str, g: Any) -> bool:
    """Garbage this child must not pass (known defects, pinned in tests/test_fuzz.py): an int
    path is a file descriptor (the loader closes it); stress_test(steps=2**64 - 1) never returns."""
    if param == "path":
        return isinstance(g, (int, np.integer))
    return param in COUNTS and isinstance(g, np.unsignedinteger)


def fuzz_callable(out: Any, target: str, fn: Callable[..., Any]) -> None:
    params = params_of(fn)
    base: dict[str, Any] = {}
    for p in params:
        v = valid_for(p.name, target)
        if v is not None or p.default is inspect.Parameter.empty:
            base[p.name] = v
    for p in params:
        for glabel, g in garbage_values():
            if _skip(p.name, g):
                continue
            values = dict(base)
            values[p.name] = g
            record(out, target, p.name, glabel, lambda v=values: call(fn, params, v))
    for glabel, g in garbage_values():  # everything garbage at once
        if any(_skip(p.name, g) for p in params):
            continue
        values = {p.name: g for p in params}
        record(out, target, "*", glabel, lambda v=values: call(fn, params, v))
    if not params:
        record(out, target, "", "no arguments", fn)


# Classes whose methods change the instance so that later valid arguments stop being valid (an
# Engine's position closed by one call is gone for the next): each call gets a fresh instance.
STATEFUL = {"Engine", "AccountEngine"}


def _fresh(cls: type, attr: str) -> Callable[..., Any]:
    @functools.wraps(getattr(instance_of(cls), attr))
    def fresh_call(*args: Any, **kwargs: Any) -> Any:
        return getattr(instance_of(cls), attr)(*args, **kwargs)

    return fresh_call


def _getter(obj: Any, attr: str) -> Callable[[], Any]:
    return lambda: getattr(obj, attr)


def public_callables() -> list[tuple[str, Callable[..., Any]]]:
    found: list[tuple[str, Callable[..., Any]]] = []
    seen: set[int] = set()

    def add(name: str, obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            for sub in getattr(obj, "__all__", []):
                add(f"{name}.{sub}", getattr(obj, sub))
        elif inspect.isclass(obj):
            if issubclass(obj, BaseException):
                return
            found.append((name, obj))
            inst = instance_of(obj)
            if inst is not None:
                for attr in dir(obj):
                    if attr.startswith("_") or any(hasattr(b, attr) for b in (tuple, object)):
                        continue  # inherited from a builtin (NamedTuple.count, ...)
                    member = inspect.getattr_static(obj, attr)
                    if isinstance(member, property):
                        found.append((f"{name}().{attr}", _getter(inst, attr)))
                    elif callable(member) and obj.__name__ in STATEFUL:
                        found.append((f"{name}().{attr}", _fresh(obj, attr)))
                    elif callable(member):
                        found.append((f"{name}().{attr}", getattr(inst, attr)))
        elif callable(obj):
            found.append((name, obj))

    for n in liqcore.__all__:
        add(f"liqcore.{n}", getattr(liqcore, n))
    return found


def instance_of(cls: type) -> Any:
    """A fresh valid instance of an exported class, or None."""
    try:
        if cls.__name__ == "Book":
            return small_book()
        params = params_of(cls)
        target = "AccountEngine" if cls.__name__ == "AccountEngine" else ""
        values = {p.name: valid_for(p.name, target) for p in params
                  if p.default is inspect.Parameter.empty}
        if any(v is None for v in values.values()):
            return None
        return call(cls, params, values)
    except Exception:
        return None


def main() -> None:
    for name, text in SAMPLE_FILES.items():
        with open(name, "w") as f:
            f.write(text)
    with contextlib.suppress(ImportError):  # Parquet needs pyarrow, an optional dependency
        liqcore.io.write_positions_parquet(valid_for("positions"), "positions.parquet")
    with open(sys.argv[1], "w") as out:
        for target, fn in public_callables():
            if target.endswith("to_frame"):
                continue  # needs pandas; not a user-data entry point
            fuzz_callable(out, target, fn)
    print("garbage child done")


if __name__ == "__main__":
    main()
