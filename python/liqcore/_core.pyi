# Type stubs for the compiled kernel liqcore._core. Keep in step with cpp/bindings/.
from __future__ import annotations

__version__: str

# ---- ADL allocators (bind_adl.cpp) ----
import numpy as _np
import numpy.typing as _npt

def adl_queue(capacity: _npt.NDArray[_np.float64], scores: _npt.NDArray[_np.float64], amount: float) -> _npt.NDArray[_np.float64]: ...
def adl_pro_rata(capacity: _npt.NDArray[_np.float64], amount: float) -> _npt.NDArray[_np.float64]: ...
def adl_capped_pro_rata(capacity: _npt.NDArray[_np.float64], caps: _npt.NDArray[_np.float64], amount: float) -> _npt.NDArray[_np.float64]: ...
def adl_risk_aware(
    capacity: _npt.NDArray[_np.float64], weights: _npt.NDArray[_np.float64], caps: _npt.NDArray[_np.float64], amount: float
) -> _npt.NDArray[_np.float64]: ...
def adl_rank(
    size: _npt.NDArray[_np.float64],
    entry_price: _npt.NDArray[_np.float64],
    margin: _npt.NDArray[_np.float64],
    mark: float,
    contract: str = "linear",
    contract_size: float = 1.0,
) -> _npt.NDArray[_np.float64]: ...
def adl_socialize(size: _npt.NDArray[_np.float64], amount: float) -> _npt.NDArray[_np.float64]: ...
