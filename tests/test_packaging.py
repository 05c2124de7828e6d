"""Imports: no optional library on `import tracelog`; a clear error when one is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )


def test_import_tracelog_imports_no_integration() -> None:
    """`import tracelog` (and configuring stdlib only) leaves the integrations unimported."""
    result = _run(
        """
        import io, sys
        import tracelog
        tracelog.configure(output=io.StringIO(), integrations=["stdlib"])
        libraries = ("structlog", "loguru", "orjson", "prometheus_client", "tracelog.metrics")
        print(sorted(m for m in libraries if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("[]", "['orjson']")


@pytest.mark.parametrize("library", ["structlog", "loguru"])
def test_missing_library_names_the_extra(library: str) -> None:
    """Using an adapter without its library raises an ImportError subclass naming the extra."""
    result = _run(
        f"""
        import io, sys
        sys.modules[{library!r}] = None  # not installed
        import tracelog
        try:
            import tracelog.{library}
        except ImportError as error:
            assert isinstance(error, tracelog.MissingExtraError), type(error)
            print(error)
        try:
            tracelog.configure(output=io.StringIO(), integrations=[{library!r}])
        except tracelog.MissingExtraError as error:
            print(error)
        tracelog.configure(output=io.StringIO())  # default: only what is installed
        print("default ok")
        """
    )
    assert result.returncode == 0, result.stderr
    first, second, third = result.stdout.splitlines()
    assert first == second
    assert f'pip install "tracelog[{library}]"' in first
    assert third == "default ok"


def test_works_without_orjson() -> None:
    """Without orjson, python-json-logger's json backend writes the same schema."""
    result = _run(
        """
        import io, json, logging, sys
        sys.modules["orjson"] = None
        import tracelog, tracelog._json
        assert not tracelog._json.ORJSON_AVAILABLE
        out = io.StringIO()
        tracelog.configure(output=out)
        logging.getLogger("x").warning("plain json", extra={"n": float("nan")})
        print(out.getvalue(), end="")
        """
    )
    assert result.returncode == 0, result.stderr
    record = __import__("json").loads(result.stdout)
    assert (record["message"], record["n"]) == ("plain json", None)
