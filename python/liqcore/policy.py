"""The liquidation policy: every rule of docs/model.md §1-3 that a venue chooses, as one frozen value.

``Policy()`` is what a user of a large venue would expect by default: flat maintenance margin of
0.5%, linear contracts, most underwater first, full liquidation through the book with no limit
price, a capped liquidation fee (dYdX's 1.5% of fill notional) from the surplus to the insurance
fund, no backstop, and the residual reported as uncovered bad debt (no ADL).

Every option is a field with a documented default. Rates are fractions (0.005 = 0.5%); money
fields are in the margin currency (quote for linear contracts, coin for inverse ones).
Invalid values raise ValueError (TypeError for a wrong kind) naming the field:
``"Policy.order must be one of 'underwater', 'largest', 'given' (got 'random')"``.

Sources of the defaults (public):
- ``fee_cap = 0.015``: dYdX Chain's "Maximum Liquidation Penalty of 1.5%"
  (help.dydx.exchange, "Liquidations on dYdX Chain"). The v4-chain source's generic
  ``LiquidationsConfig_Default`` has ``max_liquidation_fee_ppm = 5000`` (0.5%).
- ``ba = 1.0``: dYdX v4 ``bankruptcy_adjustment_ppm = 1_000_000``.
- ``smmr = 0.1``: dYdX v4-chain ``LiquidationsConfig_Default``
  ``spread_to_maintenance_margin_ratio_ppm = 100_000``; it reproduces dYdX's published example
  (an account long 0.004 BTC and 0.1 ETH with quote -490 at BTC 50,000 / ETH 3,000, mmr 10%:
  fillable price 2,976 per ETH), the same default as :func:`liqcore.fillable_price`. dYdX's help
  centre describes a wider "1.5 x maintenance margin" spread for some markets: pass
  ``smmr=1.5`` for that.
- ``slice_threshold = 100_000``, ``slice_fraction = 0.2``, ``backstop = 2/3`` (preset):
  Hyperliquid (20% slices above $100k notional; the backstop vault below 2/3 of maintenance).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from liqcore import _core
from liqcore._arrays import tier_columns

__all__ = ["Policy"]

# The choices of each option are the kernel's own enums (one definition, in C++).
ORDERS: tuple[str, ...] = tuple(_core.LiquidationOrder.__members__)
SIZINGS: tuple[str, ...] = tuple(_core.Sizing.__members__)
EXECUTIONS: tuple[str, ...] = tuple(_core.Execution.__members__)
LIMITS: tuple[str, ...] = tuple(_core.LimitRule.__members__)
FEES: tuple[str, ...] = tuple(_core.FeeRule.__members__)
RESIDUALS: tuple[str, ...] = tuple(_core.ResidualRule.__members__)
CONTRACTS: tuple[str, ...] = tuple(_core.Contract.__members__)
SIZE_ROUNDINGS: tuple[str, ...] = tuple(_core.SizeRounding.__members__)
_DEFAULT_MMR = 0.005  # Policy.mmr when neither mmr nor tiers is given

Tier = tuple[float, float]


def _fail(name: str, what: str, value: Any) -> ValueError:
    return ValueError(f"Policy.{name} must be {what} (got {value!r})")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Policy.{name} must be a real number (got {type(value).__name__})")
    return float(value)


def _option(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(
            f"Policy.{name} must be a str, one of {', '.join(map(repr, allowed))} "
            f"(got {type(value).__name__})"
        )
    if value not in allowed:
        raise ValueError(
            f"Policy.{name} must be one of {', '.join(map(repr, allowed))} (got {value!r})"
        )
    return value


def _tiers(value: Any) -> tuple[Tier, ...] | None:
    """None, an object with ``floors`` and ``mmr`` (liqcore.MarginTiers), a mapping
    ``{"floors": [...], "mmr": [...]}`` or a sequence of (floor, mmr) pairs."""
    if value is None:
        return None
    floors, rates = map(list, tier_columns("Policy.tiers", value))
    if not floors:
        raise ValueError("Policy.tiers must have at least one tier")
    if len(floors) != len(rates):
        raise ValueError(f"Policy.tiers has {len(floors)} floors and {len(rates)} rates")
    out: list[Tier] = []
    for k, (f, r) in enumerate(zip(floors, rates)):
        f, r = _number(f"tiers[{k}].floor", f), _number(f"tiers[{k}].mmr", r)
        if not math.isfinite(f) or (k == 0 and f != 0.0) or (k > 0 and not f > out[-1][0]):
            raise _fail(
                f"tiers[{k}].floor", "finite, 0 for the first tier, then strictly increasing", f
            )
        if not (0.0 <= r <= 1.0):
            raise _fail(f"tiers[{k}].mmr", "in [0, 1]", r)
        out.append((f, r))
    return tuple(out)


def _oi_caps(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    pair = isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and len(value) == 2
    if not pair:
        raise TypeError(f"Policy.oi_caps must be None or a (lower, upper) pair (got {value!r})")
    lo, hi = _number("oi_caps[0]", value[0]), _number("oi_caps[1]", value[1])
    for k, v in enumerate((lo, hi)):
        if not (math.isfinite(v) and v >= 0.0):
            raise _fail(f"oi_caps[{k}]", "finite and >= 0", v)
    if lo > hi:
        raise ValueError(f"Policy.oi_caps must have lower <= upper (got {value!r})")
    return (lo, hi)


@dataclass(frozen=True)
class Policy:
    """How one market liquidates (docs/model.md §1-3). All fields are keyword arguments.

    Margin
        mmr (None, meaning 0.005 when ``tiers`` is None): flat maintenance-margin rate, in
            ``[0, 1]`` (1: dYdX's largest, the position is liquidatable once its equity is
            below its notional). Exclusive with ``tiers``: passing both is a ValueError; a
            Policy with tiers has
            ``mmr`` None (``dataclasses.replace(p, tiers=t, mmr=None)`` moves a flat policy to
            tiers).
        tiers (None): maintenance tiers by notional: a ``liqcore.MarginTiers``, a mapping
            ``{"floors": [...], "mmr": [...]}`` or (floor, mmr) pairs; stored as pairs.
        contract ("linear"): "linear" or "inverse"; contract_size (1.0): face value of an
            inverse contract in quote.
        imr (None): initial-margin rate in ``[0, 1]`` (max leverage ``1/imr``); None: not set.
            The liquidation kernels do not use it: it is the venue's rule for
            ``liqcore.initial_margin(size, mark, p.imr, open_interest=oi, oi_caps=p.oi_caps)``.
        oi_caps (None): dYdX's open-interest caps ``(lower, upper)`` (quote) that raise the
            initial-margin fraction from ``imr`` at ``lower`` to 1 at ``upper``
            (:func:`liqcore.initial_margin_fraction`); needs ``imr``.
    Detection is at the mark price: a position is liquidatable iff ``E(P) < MM(P)`` (strict).

    Ordering (``order``, "underwater")
        "underwater": most underwater first (dYdX): with ``limit="fillable"`` by
        ``|fillable - P|/P`` descending, otherwise by ``(MM - E)/notional`` descending;
        "largest": notional descending; "given": input order. Ties: larger notional, then
        input order. The order is total, so results are deterministic.
    Sizing (``sizing``, "full")
        "full": close the whole position. "partial" (Drift): close the least quantity that
        leaves ``E >= MM·(1 + buffer)`` after the close, fees and slippage included (see
        :func:`liqcore.liquidate`); if no smaller close does it, close in full. "slices"
        (Hyperliquid): positions above ``slice_threshold`` notional close ``slice_fraction``
        of their size per call, smaller ones in full.
        buffer (0.02), slice_threshold (100_000, margin currency), slice_fraction (0.2).
        size_step (0.0: any size): the market's order step; a partial or slice size is rounded
        to a multiple of it, ``size_rounding`` "down" (dYdX) or "up" (Drift), then clamped to
        ``[size_step, |size|]`` (docs/model.md, "Order sizes"). A full close is never rounded.
    Execution (``execution``, "book")
        "book": a market order through the book; each liquidation consumes liquidity for the
        next (a long sells into the bids, a short buys the asks). "takeover": a liquidator
        takes the close at ``P·(1 - takeover_fee)`` (long) or ``P·(1 + takeover_fee)`` (short).
        takeover_fee (0.01).
        takeover_fee_max (None) and liquidation_slots (0): Drift's time ramp
        (:func:`liqcore.fees.drift_liquidator_fee`): with ``takeover_fee_max`` set, the fee
        the liquidator takes is ``takeover_fee`` until ``liquidation_slots`` reaches 1,500
        slots in liquidation, then ``min(takeover_fee + 1e-6·liquidation_slots,
        takeover_fee_max)`` (:attr:`effective_takeover_fee`). The elapsed time is one fixed
        value for every liquidation of the policy (a cascade does not advance it).
        backstop (None): a fraction of MM (Hyperliquid: 2/3); a position with
        ``E < backstop·MM`` is taken over whole by the fund at its bankruptcy price, no book walk.
    Limit price of book liquidations (``limit``, "none")
        "none"; "bankruptcy": never fill worse than the bankruptcy price; "fillable": dYdX's
        fillable price ``P·(1 - s·ABR·smmr·MM/notional)``, ``ABR = clamp(ba·(1 - E/MM), 0, 1)``
        (for linear contracts this is ``(PNNV - ABR·SMMR·PMMR)/PS``). ba (1.0), smmr (0.1).
        What the book cannot take within the limit goes to the fallback: the fund takes it over
        at the bankruptcy price.
    Fees (``fee``, "capped")
        "capped" (dYdX): ``min(surplus, fee_cap·fill notional)``; "surplus" (Bybit, BitMEX): the
        whole surplus; "rate": ``min(surplus, fee_rate·fill notional)``; "drift" (Drift's
        dynamic insurance-fund fee, ``calculate_perp_if_fee``): ``min(0.95·surplus,
        fee_rate·fill notional)``, 95% of what the liquidator's fee leaves, at most Drift's
        ``if_liquidation_fee`` (``fee_rate``) of the notional. The rest of the surplus returns
        to the trader. fee_cap (0.015), fee_rate (0.005).
    Fund
        reserve (0.0): the fund never pays below this balance; it pays ``min(bad debt, fund -
        reserve)`` first, and only the rest goes to the residual rule. refuse_uncovered (False):
        dYdX's refusal: a book fill (one price level) worse than the bankruptcy price whose cost
        the fund cannot cover is refused whole, never split; the walk stops there and the rest
        of the close goes to the fallback.
    Inventory and the price band (``price_band``, 0.9)
        The fallback (what the book does not take, or a backstopped position) is taken over by
        the fund at the bankruptcy price: inventory. After the batch's closes the fund sells it
        into the book that is left, within the band; what the book cannot absorb there is
        valued at the band edge ``mark·(1 - band)`` (long inventory) or ``mark·(1 + band)``
        (short), a price worse than any fill the band admits, so a thinner book never shows a
        smaller loss. No liquidation fill happens beyond the band either. In (0, 1]; below 1 for
        inverse contracts (a coin-margined long valued at price 0 is an infinite loss).
    Residual (``residual``, "none") — what the fund could not pay
        "none": reported as uncovered bad debt. "queue": ADL (BitMEX/Bybit/Binance): taken from
        opposite-side positions in ``liqcore.adl.rank`` order (highest first), each at most its
        positive PnL at the mark (closing it at the bankruptcy price is modelled by that money
        effect); losing positions are never charged. "pro_rata", "capped_pro_rata" (at most
        ``adl_cap`` of each winner's PnL), "risk_aware" (weighted by effective leverage, capped
        at ``adl_cap``): haircuts of opposite-side winners' positive PnL. "socialize" (Drift):
        the total residual per unit of open interest, charged to every open non-liquidated
        position on both sides, each at most its equity at the mark. adl_cap (1.0). What no
        counterparty can bear is ``uncovered``; nobody's equity goes below zero.
    Rate limits (``max_notional``, ``max_orders``: None, no cap) — docs/model.md §4
        The most a cascade round (a stress-test step's rounds, a contagion round) liquidates:
        max_notional (finite and > 0: notional at the round's mark, margin currency) and
        max_orders (an int >= 1: liquidation orders; an account liquidation counts one order per
        open position). The round takes the liquidatable positions (accounts) in the policy's
        order until the next one would exceed a cap; the rest wait for the next round and are
        liquidated at its price if still liquidatable then. The first of a round always goes,
        so a position above ``max_notional`` is liquidated alone in its round. Single batches
        (:func:`liqcore.liquidate`, the live engine's) are not limited.
    """

    mmr: float | None = None
    tiers: tuple[Tier, ...] | None = None
    contract: str = "linear"
    contract_size: float = 1.0
    order: str = "underwater"
    sizing: str = "full"
    buffer: float = 0.02
    slice_threshold: float = 100_000.0
    slice_fraction: float = 0.2
    size_step: float = 0.0
    size_rounding: str = "down"
    execution: str = "book"
    takeover_fee: float = 0.01
    takeover_fee_max: float | None = None
    liquidation_slots: float = 0.0
    backstop: float | None = None
    limit: str = "none"
    ba: float = 1.0
    smmr: float = 0.1
    fee: str = "capped"
    fee_cap: float = 0.015
    fee_rate: float = 0.005
    reserve: float = 0.0
    refuse_uncovered: bool = False
    price_band: float = 0.9
    residual: str = "none"
    adl_cap: float = 1.0
    max_notional: float | None = None
    max_orders: int | None = None
    imr: float | None = None
    oi_caps: tuple[float, float] | None = None
    _core_policy: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "contract", _option("contract", self.contract, CONTRACTS))
        set_(self, "order", _option("order", self.order, ORDERS))
        set_(self, "sizing", _option("sizing", self.sizing, SIZINGS))
        set_(self, "execution", _option("execution", self.execution, EXECUTIONS))
        set_(self, "limit", _option("limit", self.limit, LIMITS))
        set_(self, "fee", _option("fee", self.fee, FEES))
        set_(self, "residual", _option("residual", self.residual, RESIDUALS))
        set_(self, "size_rounding", _option("size_rounding", self.size_rounding, SIZE_ROUNDINGS))
        set_(self, "tiers", _tiers(self.tiers))
        if not isinstance(self.refuse_uncovered, bool):
            raise TypeError(
                "Policy.refuse_uncovered must be a bool "
                f"(got {type(self.refuse_uncovered).__name__})"
            )

        def check(name: str, ok: Any, what: str) -> None:
            v = _number(name, getattr(self, name))
            if not (math.isfinite(v) and ok(v)):
                raise _fail(name, what, v)
            set_(self, name, v)

        if self.tiers is not None:
            if self.mmr is not None:
                raise ValueError(
                    "Policy.mmr and Policy.tiers are exclusive: give one of them "
                    f"(got mmr={self.mmr!r} and tiers)"
                )
        else:
            if self.mmr is None:
                set_(self, "mmr", _DEFAULT_MMR)
            check("mmr", lambda v: 0.0 <= v <= 1.0, "finite and in [0, 1]")
        check("contract_size", lambda v: v > 0.0, "finite and > 0")
        check("buffer", lambda v: v >= 0.0, "finite and >= 0")
        check("slice_threshold", lambda v: v >= 0.0, "finite and >= 0")
        check("slice_fraction", lambda v: 0.0 < v <= 1.0, "finite and in (0, 1]")
        check("size_step", lambda v: v >= 0.0, "finite and >= 0 (0: no rounding)")
        check("takeover_fee", lambda v: 0.0 <= v < 1.0, "finite and in [0, 1)")
        if self.takeover_fee_max is not None:
            check("takeover_fee_max", lambda v: 0.0 <= v < 1.0, "None or finite and in [0, 1)")
        check("liquidation_slots", lambda v: v >= 0.0, "finite and >= 0")
        if self.imr is not None:
            check("imr", lambda v: 0.0 <= v <= 1.0, "None or finite and in [0, 1]")
        set_(self, "oi_caps", _oi_caps(self.oi_caps))
        if self.oi_caps is not None and self.imr is None:
            raise ValueError("Policy.oi_caps scales the initial margin: it needs Policy.imr")
        check("ba", lambda v: v >= 0.0, "finite and >= 0")
        check("smmr", lambda v: v >= 0.0, "finite and >= 0")
        check("fee_cap", lambda v: 0.0 <= v <= 1.0, "finite and in [0, 1]")
        check("fee_rate", lambda v: 0.0 <= v <= 1.0, "finite and in [0, 1]")
        check("reserve", lambda v: v >= 0.0, "finite and >= 0")
        check("adl_cap", lambda v: 0.0 <= v <= 1.0, "finite and in [0, 1]")
        if self.contract == "inverse":
            check("price_band", lambda v: 0.0 < v < 1.0, "finite and in (0, 1) for inverse contracts")
        else:
            check("price_band", lambda v: 0.0 < v <= 1.0, "finite and in (0, 1]")
        if self.backstop is not None:
            check("backstop", lambda v: 0.0 < v <= 1.0, "None or finite and in (0, 1]")
        if self.max_notional is not None:
            check("max_notional", lambda v: v > 0.0, "None or finite and > 0")
        if self.max_orders is not None:
            n = self.max_orders
            if isinstance(n, bool) or not isinstance(n, numbers.Integral):
                kind = type(n).__name__
                raise TypeError(f"Policy.max_orders must be None or an int (got {kind})")
            if not 1 <= int(n) < 2**63:
                raise _fail("max_orders", "None or an int >= 1", n)
            set_(self, "max_orders", int(n))
        set_(self, "_core_policy", None)

    @property
    def effective_takeover_fee(self) -> float:
        """The takeover fee the kernel applies: ``takeover_fee``, or with ``takeover_fee_max``
        Drift's ramp after ``liquidation_slots`` slots
        (:func:`liqcore.fees.drift_liquidator_fee`)."""
        if self.takeover_fee_max is None:
            return self.takeover_fee
        from liqcore.fees import drift_liquidator_fee

        slots = self.liquidation_slots
        return drift_liquidator_fee(self.takeover_fee, self.takeover_fee_max, slots)

    # ---- presets -------------------------------------------------------------------------
    # Illustrative approximations of each venue's published rules for a BTC perpetual; the
    # fields they set are the point, not an exact replica of any venue.

    @classmethod
    def binance(cls, **overrides: Any) -> Policy:
        """Binance USDⓈ-M: BTCUSDT maintenance tiers of docs/model.md §8, liquidation orders limited
        at the bankruptcy price, the whole remaining margin (surplus) to the insurance fund, ADL
        queue for what the fund cannot cover."""
        tiers = (
            (0.0, 0.004),
            (50_000.0, 0.005),
            (250_000.0, 0.01),
            (1_000_000.0, 0.025),
            (10_000_000.0, 0.05),
        )
        return cls(
            **{
                "tiers": tiers,
                "limit": "bankruptcy",
                "fee": "surplus",
                "residual": "queue",
                **overrides,
            }
        )

    @classmethod
    def bybit(cls, **overrides: Any) -> Policy:
        """Bybit: flat 0.5% maintenance, close at the bankruptcy price at worst, the surplus to
        the insurance fund, ADL queue."""
        return cls(
            **{
                "mmr": 0.005,
                "limit": "bankruptcy",
                "fee": "surplus",
                "residual": "queue",
                **overrides,
            }
        )

    @classmethod
    def dydx(cls, **overrides: Any) -> Policy:
        """dYdX v4: most underwater first, fillable-price limit (BA 1, SMMR 0.1), fee capped at
        1.5% of fill notional, fills the fund cannot cover refused, deleveraging (ADL queue),
        partial order sizes rounded down to the market's step (give ``size_step``).
        BTC-USD in the "Large-Cap" liquidity tier: initial margin 5% (``initial_margin_ppm``
        50,000) and maintenance 60% of it, 3% (``maintenance_fraction_ppm`` 600,000); that tier
        has no open-interest caps in dYdX's sample genesis (pass ``oi_caps`` for a tier that
        has them)."""
        return cls(
            **{
                "mmr": 0.03,
                "imr": 0.05,
                "order": "underwater",
                "limit": "fillable",
                "ba": 1.0,
                "smmr": 0.1,
                "fee": "capped",
                "fee_cap": 0.015,
                "refuse_uncovered": True,
                "size_rounding": "down",
                "residual": "queue",
                **overrides,
            }
        )

    @classmethod
    def hyperliquid(cls, **overrides: Any) -> Policy:
        """Hyperliquid: 20% slices above $100k notional, the backstop vault below 2/3 of
        maintenance margin, no liquidation fee to the fund, ADL queue. BTC maintenance 1.25%
        (half the initial margin at 40x)."""
        return cls(
            **{
                "mmr": 0.0125,
                "sizing": "slices",
                "slice_threshold": 100_000.0,
                "slice_fraction": 0.2,
                "backstop": 2.0 / 3.0,
                "fee": "rate",
                "fee_rate": 0.0,
                "residual": "queue",
                **overrides,
            }
        )

    @classmethod
    def drift(cls, **overrides: Any) -> Policy:
        """Drift v2: a liquidator takes over at a 1% discount to the oracle (``liquidator_fee``),
        ramped by time in liquidation up to ``min(3 x 1%, mmr)`` = 3%
        (``get_max_liquidation_fee``; set ``liquidation_slots``), partial liquidation to
        maintenance + 2% buffer (its size rounded up to the market's step: give
        ``size_step``), Drift's dynamic insurance-fund fee (``fee="drift"``: 95% of
        what the liquidator's fee leaves, at most 1% of the notional), socialized loss."""
        return cls(
            **{
                "mmr": 0.03,
                "execution": "takeover",
                "takeover_fee": 0.01,
                "takeover_fee_max": 0.03,
                "sizing": "partial",
                "buffer": 0.02,
                "size_rounding": "up",
                "fee": "drift",
                "fee_rate": 0.01,
                "residual": "socialize",
                **overrides,
            }
        )

    # ---- serialization -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python values (JSON-compatible; tiers as [floor, mmr] lists)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        if d["tiers"] is not None:
            d["tiers"] = [list(t) for t in d["tiers"]]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Policy:
        """A Policy from a mapping of field names; unknown names raise ValueError."""
        if not isinstance(d, Mapping):
            raise TypeError(f"policy must be a mapping of Policy fields (got {type(d).__name__})")
        known = [f.name for f in dataclasses.fields(cls) if f.init]
        unknown = [k for k in d if k not in known]
        if unknown:
            raise ValueError(
                f"unknown Policy field(s) {', '.join(map(repr, unknown))}; "
                f"fields are {', '.join(known)}"
            )
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        """A Policy from a JSON object of fields."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"policy JSON could not be parsed: {e}") from None
        return cls.from_dict(d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    # ---- the kernel's view -----------------------------------------------------------------------

    def _to_core(self) -> Any:
        """The policy as a ``_core.LiquidationPolicy`` (built once, cached)."""
        if self._core_policy is not None:
            return self._core_policy
        import numpy as np

        p = _core.LiquidationPolicy()
        p.contract = _core.Contract.__members__[self.contract]
        p.contract_size = self.contract_size
        tiers = self.tiers if self.tiers is not None else ((0.0, float(self.mmr or 0.0)),)
        p.set_tiers(
            np.array([t[0] for t in tiers], dtype=np.float64),
            np.array([t[1] for t in tiers], dtype=np.float64),
        )
        p.order = _core.LiquidationOrder.__members__[self.order]
        p.sizing = _core.Sizing.__members__[self.sizing]
        p.buffer = self.buffer
        p.slice_threshold = self.slice_threshold
        p.slice_fraction = self.slice_fraction
        p.size_step = self.size_step
        p.size_rounding = _core.SizeRounding.__members__[self.size_rounding]
        p.execution = _core.Execution.__members__[self.execution]
        p.takeover_fee = self.effective_takeover_fee
        p.backstop = math.nan if self.backstop is None else self.backstop
        p.limit = _core.LimitRule.__members__[self.limit]
        p.ba = self.ba
        p.smmr = self.smmr
        p.fee = _core.FeeRule.__members__[self.fee]
        p.fee_cap = self.fee_cap
        p.fee_rate = self.fee_rate
        p.reserve = self.reserve
        p.refuse_uncovered = self.refuse_uncovered
        p.price_band = self.price_band
        p.residual = _core.ResidualRule.__members__[self.residual]
        p.adl_cap = self.adl_cap
        p.max_notional = math.inf if self.max_notional is None else self.max_notional
        p.max_orders = 0 if self.max_orders is None else self.max_orders
        object.__setattr__(self, "_core_policy", p)
        return p

    def __getstate__(self) -> dict[str, Any]:
        return self.to_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "tiers", _tiers(state.get("tiers")))
        object.__setattr__(self, "oi_caps", _oi_caps(state.get("oi_caps")))
        if self.tiers is not None:  # pickles of older versions kept mmr 0.005 beside tiers
            object.__setattr__(self, "mmr", None)
        object.__setattr__(self, "_core_policy", None)
