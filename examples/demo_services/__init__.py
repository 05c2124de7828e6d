"""The demo's three services, each run in its own process by ``examples/demo.py``.

``gateway`` (stdlib logging) -> ``agent`` (structlog) -> ``tool`` (loguru), over
HTTP on loopback, the trace carried across each hop in the ``traceparent`` header.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# Started in this order: each one needs the URL of the one before it.
SERVICES = ("tool", "agent", "gateway")


def run(name: str, *, output: Path, downstream: str | None) -> None:
    """Run service *name* until stopped (see `runtime.serve`)."""
    from . import runtime  # noqa: PLC0415 - the launcher imports this package, not the SDK

    module = importlib.import_module(f".{name}", __name__)
    app = module.make_app(downstream) if downstream is not None else module.app
    runtime.serve(
        name=name,
        library=module.LIBRARY,
        output=output,
        app=app,
        route=module.route,
        registry=module.REGISTRY,
    )
