"""The manual (docs/) and the README: every code block runs in a test or says why not.

The site itself is built by ``make docs`` (``mkdocs build --strict``), which
``make test`` runs after pytest: a broken link or API reference fails it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests import _servers
from tests._servers import DOCS, docs_text, readme_blocks
from tests.test_readme_scale import snippet

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
RUNNABLE = ("python", "sh", "bash", "shell", "console", "")
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->\n$")


def covered_blocks() -> set[str]:
    """The blocks the tests take from the manual, found as the tests find them."""
    others = [path for path in TESTS.glob("*.py") if path.name != "test_docs.py"]
    sources = "\n".join(path.read_text() for path in others)
    covered: set[str] = set()
    for heading in set(re.findall(r'readme_blocks\(\s*"([^"]+)"', sources)):
        covered.update(readme_blocks(heading))
    for heading, language in set(re.findall(r'snippet\(\s*"([^"]+)",\s*"(\w+)"', sources)):
        covered.add(snippet(heading, language))
    return covered


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, code, what precedes the fence) of each fenced block of *text*."""
    return [(m[1], m[2], text[: m.start()]) for m in FENCE.finditer(text)]


def test_every_python_and_shell_block_runs_or_says_why() -> None:
    """Each such block of the manual is one a test runs, or has a `not run` reason before it."""
    covered = covered_blocks()
    assert len(covered) >= 15  # the helpers really found the tests' blocks
    missing = []
    for page in sorted(DOCS.rglob("*.md")):
        for language, code, before in blocks(page.read_text(encoding="utf-8")):
            if language not in RUNNABLE or code in covered:
                continue
            reason = NOT_RUN.search(before)
            if reason is None or len(reason[1]) < 10:
                first = code.splitlines()[0] if code else ""
                missing.append(f"{page.relative_to(ROOT)}: {language or 'plain'} block {first!r}")
    assert missing == [], "run these in a test, or say why not: <!-- not run: reason -->"


def test_the_readmes_blocks_are_the_manuals() -> None:
    """The README's Python blocks are the manual's (whose tests run them), its commands too."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    manual_text = docs_text()
    manual = [code for _, code, _ in blocks(manual_text)]
    checked = 0
    for language, code, _ in blocks(readme):
        if language == "python":
            assert code in manual, f"README block not in the manual:\n{code}"
            checked += 1
        elif language == "":
            for line in code.splitlines():
                words = line.split("#")[0].split()
                if words[:1] in (["make"], ["tracelog"]):
                    assert " ".join(words[:2]) in manual_text, line
                    checked += 1
                elif words[:2] == ["pip", "install"]:
                    assert f"`{words[2].strip(chr(34))}`" in manual_text, line
                    checked += 1
    assert checked >= 6


def test_the_readme_is_a_front_door() -> None:
    """At most about 200 lines; every link into the manual names a page that exists."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    targets = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert targets
    for target in targets:
        assert (ROOT / target).exists(), target


def test_the_headings_the_tests_read_are_unique() -> None:
    """The tests find blocks by heading across all pages: no heading may repeat."""
    headings = re.findall(r"^#{2,4} .+$", docs_text(), re.M)
    repeated = {h for h in headings if headings.count(h) > 1}
    assert repeated == set()
    assert _servers.DOCS == ROOT / "docs"


def test_the_query_screenshot_is_made_from_a_real_run(tmp_path: Path) -> None:
    """docs/images/query_screenshot.py runs the demo and `tracelog query` in a terminal."""
    out = tmp_path / "query.svg"
    done = subprocess.run(
        [sys.executable, str(DOCS / "images" / "query_screenshot.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<svg")
    for shown in ("gateway", "agent", "tool", "lines from 3 files", "spans from 3 files"):
        assert shown.replace(" ", "&#160;") in text or shown in text, shown
    committed = (DOCS / "images" / "query.svg").read_text(encoding="utf-8")
    assert committed.startswith("<svg")
    assert "lines&#160;from&#160;3&#160;files" in committed or "lines from 3 files" in committed
