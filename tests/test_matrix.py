"""CI's matrix: the oldest leg pins the floors pyproject.toml states, and skips fail in CI.

`.ci/matrix.py` runs the suite on Python 3.12 and 3.13 and on the oldest
dependencies allowed (`.ci/oldest.txt`); these tests keep its inputs true.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = re.compile(r"^([A-Za-z0-9_.\[\]-]+?)(\[[a-z,]+\])?>=([0-9][0-9a-z.]*)")


def floors() -> dict[str, str]:
    """Every dependency's floor in pyproject.toml (runtime and every extra but tracelog's own)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += [r for r in extra if not r.startswith("tracelog")]
    found = {}
    for requirement in requirements:
        match = FLOOR.match(requirement)
        assert match, f"{requirement!r} states no floor (>=)"
        found[match[1].lower().replace("_", "-")] = match[3]
    return found


def pins() -> dict[str, str]:
    """The pins of .ci/oldest.txt."""
    found = {}
    for text in (ROOT / ".ci" / "oldest.txt").read_text().splitlines():
        pin = text.split("#")[0].strip()
        if pin:
            name, _, version = pin.partition("==")
            found[name.lower().replace("_", "-")] = version
    return found


def same_version(pin: str, floor: str) -> bool:
    """Whether *pin* is the release *floor* names (1.24 is 1.24.0)."""

    def parts(version: str) -> list[str]:
        split = version.split(".")
        while len(split) > 1 and split[-1] == "0":
            split.pop()
        return split

    return parts(pin) == parts(floor)


def test_every_runtime_and_extra_floor_is_pinned_in_the_oldest_leg() -> None:
    """Each of the issue's dependencies (and the OpenTelemetry dev ones) is pinned at its floor."""
    stated, pinned = floors(), pins()
    assert pinned, "oldest.txt pins nothing"
    for name in (
        "opentelemetry-api",
        "opentelemetry-sdk",
        "prometheus-client",
        "python-json-logger",
        "structlog",
        "loguru",
        "orjson",
        "stringzilla",
    ):
        assert name in pinned, f"{name} is not pinned in .ci/oldest.txt"
    for name, version in pinned.items():
        assert name in stated, f"{name} is pinned but pyproject.toml does not depend on it"
        assert same_version(version, stated[name]), (name, version, stated[name])


def test_classifiers_name_every_python_the_matrix_runs() -> None:
    """The classifiers list 3.11, 3.12 and 3.13, which CI's legs run."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = {
        c.rsplit(":: ", 1)[1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    }
    matrix = (ROOT / ".ci" / "matrix.py").read_text()
    legs = set(re.findall(r'Leg\("py3\d+", "(3\.\d+)"', matrix))
    assert legs == {"3.11", "3.12", "3.13"}
    assert listed == legs


def test_a_skip_fails_when_skips_are_not_allowed(tmp_path: Path) -> None:
    """Under TRACELOG_NO_SKIPS (CI's setting) a skipped test fails and says why."""
    test = tmp_path / "test_skips.py"
    test.write_text(
        "import pytest\n\n"
        "def test_skipped():\n"
        "    pytest.skip('no prometheus binary')\n\n"
        "@pytest.mark.xfail(reason='known')\n"
        "def test_expected_to_fail():\n"
        "    assert False\n"
    )
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "tests").mkdir()
    for helper in ("__init__.py", "_otlp.py"):
        (tmp_path / "tests" / helper).write_text((ROOT / "tests" / helper).read_text())

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:ddtrace",
                str(test),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", **env},
            check=False,
        )

    allowed = run()
    assert allowed.returncode == 0, allowed.stdout
    assert "1 skipped, 1 xfailed" in allowed.stdout
    strict = run(TRACELOG_NO_SKIPS="1")
    assert strict.returncode == 1, strict.stdout
    assert "1 failed, 1 xfailed" in strict.stdout
    assert "skipped, but TRACELOG_NO_SKIPS is set: Skipped: no prometheus binary" in strict.stdout
