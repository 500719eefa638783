# Type stubs for the compiled kernel liqcore._core. Keep in step with cpp/bindings/.
from __future__ import annotations

__version__: str
