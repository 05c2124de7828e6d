"""Run the test suite on every supported Python, and on the oldest dependencies allowed.

    python .ci/matrix.py [LEG ...]        (`make test-matrix` runs every leg but py311)

Legs (each its own venv under .venvs/, made or refreshed when pyproject.toml or
.ci/oldest.txt changes):

    py311   Python 3.11, newest dependencies (what `make test` runs, without mypy/ruff)
    py312   Python 3.12, newest dependencies
    py313   Python 3.13, newest dependencies
    oldest  Python 3.11, every dependency at the floor pyproject.toml allows (.ci/oldest.txt)

Two legs run at a time (CI has two cores). Each leg's output goes to .venvs/LEG.log;
at the end a table gives each leg's result, counts and time, and a failed leg's log
tail is printed. Exit status 1 if any leg failed. A skipped test fails on every leg
(TRACELOG_NO_SKIPS, see tests/conftest.py): a test that CI needs must run.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".venvs"
OLDEST = ROOT / ".ci" / "oldest.txt"


@dataclass(frozen=True)
class Leg:
    """One run of the suite: which Python, and whether dependencies are at their floors."""

    name: str
    version: str
    oldest: bool = False


LEGS = {
    leg.name: leg
    for leg in (
        Leg("py311", "3.11"),
        Leg("py312", "3.12"),
        Leg("py313", "3.13"),
        Leg("oldest", "3.11", oldest=True),
    )
}
DEFAULT = ("py312", "py313", "oldest")  # py311 is `make test`, which .ci/run runs first


def interpreter(version: str) -> str:
    """A python<version> executable: on PATH, else pyenv's; exits if there is none."""
    candidates = [f"python{version}"]
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if path is None:
            continue
        probe = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return path
    sys.exit(f"matrix: no Python {version} here (looked on PATH and in {pyenv}/versions)")


def install(leg: Leg, log: Path) -> Path:
    """The leg's venv, made or brought up to date; its python."""
    venv = VENVS / leg.name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    inputs = [ROOT / "pyproject.toml"] + ([OLDEST] if leg.oldest else [])
    if stamp.exists() and all(p.stat().st_mtime <= stamp.stat().st_mtime for p in inputs):
        return python
    shutil.rmtree(venv, ignore_errors=True)
    with log.open("a") as out:
        subprocess.run([interpreter(leg.version), "-m", "venv", str(venv)], check=True)
        command = [str(python), "-m", "pip", "install", "--quiet", "-e", ".[all,dev]"]
        if leg.oldest:
            command += ["--constraint", str(OLDEST)]
        subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True)
    stamp.touch()
    return python


@dataclass
class Result:
    """What one leg came to."""

    leg: str
    ok: bool
    summary: str
    seconds: float


def run(leg: Leg) -> Result:
    """Install and run one leg; its output goes to .venvs/LEG.log."""
    log = VENVS / f"{leg.name}.log"
    log.write_text("")
    started = time.monotonic()
    try:
        python = install(leg, log)
    except subprocess.CalledProcessError as error:
        return Result(leg.name, False, f"install failed: {error}", time.monotonic() - started)
    env = dict(os.environ, TRACELOG_NO_SKIPS="1")
    with log.open("a") as out:
        versions = subprocess.run(
            [str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=False
        )
        wanted = re.compile(
            r"^(opentelemetry-(api|sdk)|prometheus.client|python-json-logger|"
            r"structlog|loguru|orjson|stringzilla)==",
            re.I,
        )
        pinned = [line for line in versions.stdout.splitlines() if wanted.match(line)]
        out.write(f"# {leg.name}: {' '.join(pinned)}\n")
        out.flush()
        status = subprocess.call(
            [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    tail = log.read_text(errors="replace").rstrip().splitlines()
    summary = tail[-1].strip("= ") if tail else "no output"
    return Result(leg.name, status == 0, summary, time.monotonic() - started)


def main(names: list[str]) -> int:
    """Run the named legs (the default ones if none), two at a time; 0 if all passed."""
    unknown = [n for n in names if n not in LEGS]
    if unknown:
        print(f"matrix: no leg {', '.join(unknown)}; the legs: {', '.join(LEGS)}", file=sys.stderr)
        return 2
    VENVS.mkdir(exist_ok=True)
    legs = [LEGS[n] for n in names or DEFAULT]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, legs))
    print(f"{'leg':8} {'result':7} {'seconds':>8}  pytest")
    for result in results:
        verdict = "passed" if result.ok else "FAILED"
        print(f"{result.leg:8} {verdict:7} {result.seconds:8.0f}  {result.summary}")
    for result in results:
        if not result.ok:
            lines = (VENVS / f"{result.leg}.log").read_text(errors="replace").splitlines()
            print(f"\n--- the end of .venvs/{result.leg}.log ---")
            print("\n".join(lines[-60:]))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
