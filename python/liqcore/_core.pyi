# Type stubs for the compiled kernel liqcore._core. Keep in step with cpp/bindings/.
from __future__ import annotations

__version__: str

# ---- margin (bind_margin.cpp) ----
import numpy as np
import numpy.typing as npt

class Tiers:
    def __init__(self, floors: npt.NDArray[np.float64], mmr: npt.NDArray[np.float64]) -> None: ...
    @property
    def floors(self) -> npt.NDArray[np.float64]: ...
    @property
    def mmr(self) -> npt.NDArray[np.float64]: ...
    @property
    def cum(self) -> npt.NDArray[np.float64]: ...
    def __len__(self) -> int: ...
    def maintenance(self, notional: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def tier_of(self, notional: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]: ...

def equity(
    size: npt.NDArray[np.float64], entry_price: npt.NDArray[np.float64], margin: npt.NDArray[np.float64],
    mark: npt.NDArray[np.float64], inverse: bool, contract_size: float,
) -> npt.NDArray[np.float64]: ...
def maintenance_margin(
    size: npt.NDArray[np.float64], mark: npt.NDArray[np.float64], mmr: npt.NDArray[np.float64],
    tiers: Tiers | None, inverse: bool, contract_size: float,
) -> npt.NDArray[np.float64]: ...
def bankruptcy_price(
    size: npt.NDArray[np.float64], entry_price: npt.NDArray[np.float64], margin: npt.NDArray[np.float64],
    inverse: bool, contract_size: float,
) -> npt.NDArray[np.float64]: ...
def liquidation_price(
    size: npt.NDArray[np.float64], entry_price: npt.NDArray[np.float64], margin: npt.NDArray[np.float64],
    mmr: npt.NDArray[np.float64], tiers: Tiers | None, mm_at_entry: bool, inverse: bool, contract_size: float,
) -> npt.NDArray[np.float64]: ...
def margin_ratio(
    size: npt.NDArray[np.float64], entry_price: npt.NDArray[np.float64], margin: npt.NDArray[np.float64],
    mark: npt.NDArray[np.float64], mmr: npt.NDArray[np.float64], tiers: Tiers | None, inverse: bool,
    contract_size: float,
) -> npt.NDArray[np.float64]: ...
