"""Regenerate query.svg: `tracelog query` on the demo's slowest trace, as a terminal shows it.

    .venv/bin/python docs/images/query_screenshot.py [OUT.svg]

It runs the demo (examples/demo.py) into a temporary directory, takes the
trace ID the demo picked, runs ``tracelog query`` on it in a pseudo-terminal
(so the command sees a real terminal, 150 columns wide, and colours its
output as it would for a person), and turns what the terminal received into
an SVG with rich's terminal export. Nothing is drawn by hand.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.text import Text

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = 150
TRACE = re.compile(r"trace ([0-9a-f]{32})")


def demo_trace(output: Path) -> str:
    """Run the demo into *output*; the trace ID of the slowest request it reports."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=ROOT,
    )
    found = TRACE.search(done.stdout)
    if found is None:
        sys.exit(f"the demo named no trace:\n{done.stdout}")
    return found[1]


def in_terminal(argv: list[str]) -> str:
    """What *argv* writes to a pseudo-terminal COLUMNS wide (escape sequences included)."""
    main, secondary = pty.openpty()
    env = dict(os.environ, COLUMNS=str(COLUMNS), TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(argv, stdout=secondary, stderr=secondary, env=env, cwd=ROOT)
    os.close(secondary)
    received = bytearray()
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            process.kill()
            sys.exit("tracelog query wrote nothing for 60 s")
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        received += chunk
    os.close(main)
    process.wait(timeout=60)
    return received.decode("utf-8", "replace").replace("\r\n", "\n")


def svg(ansi: str, title: str) -> str:
    """*ansi* as rich renders a terminal's screen to SVG."""
    console = Console(record=True, width=COLUMNS, file=io.StringIO(), force_terminal=True)
    console.print(Text.from_ansi(ansi.rstrip("\n")), soft_wrap=True)
    return console.export_svg(title=title)


def main() -> None:
    """Write the SVG to the path given, else next to this script."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("query.svg")
    with tempfile.TemporaryDirectory() as directory:
        trace_id = demo_trace(Path(directory))
        tracelog = str(Path(sys.executable).with_name("tracelog"))
        shown = in_terminal([tracelog, "query", trace_id, directory])
    if " lines from " not in shown:
        sys.exit(f"tracelog query did not show the trace:\n{shown}")
    out.write_text(svg(shown, f"tracelog query {trace_id} demo-output/"), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
