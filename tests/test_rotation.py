"""Log rotation by a real logrotate: after a move-style rotation, lines go to the new file.

logrotate without ``copytruncate`` renames ``app.log`` to ``app.log.1`` and
creates a new, empty ``app.log``; tracelog reopens the path when it names
another file (as logging.handlers.WatchedFileHandler does). Debian's
``logrotate`` package is installed by ``.ci/run``; without it these tests
skip, which fails under CI's TRACELOG_NO_SKIPS.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracelog
import tracelog._errors

LOGROTATE = shutil.which("logrotate") or (
    "/usr/sbin/logrotate" if Path("/usr/sbin/logrotate").exists() else None
)

pytestmark = pytest.mark.skipif(LOGROTATE is None, reason="logrotate is not installed")


def rotate(log: Path, tmp_path: Path, *, extra: str = "") -> None:
    """Run logrotate once, forced, on *log*, as a daily cron job would."""
    assert LOGROTATE is not None
    config = tmp_path / "logrotate.conf"
    config.write_text(f"{log} {{\n    rotate 3\n    nocompress\n    create\n{extra}}}\n")
    config.chmod(0o644)
    result = subprocess.run(
        [LOGROTATE, "--force", "--state", str(tmp_path / "state"), str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def messages(path: Path) -> list[str]:
    """The messages of the JSON lines in *path*."""
    return [json.loads(line)["message"] for line in path.read_text().splitlines()]


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """A tracelog configured for stdlib to append to tmp_path/app.log."""
    path = tmp_path / "app.log"
    tracelog.configure(output=path, integrations=["stdlib"])
    try:
        yield path
    finally:
        tracelog.reset()


def test_lines_after_a_rotation_go_to_the_new_file(log_file: Path, tmp_path: Path) -> None:
    """Before the rotation in app.log.1, after it in the app.log logrotate created."""
    log = logging.getLogger("app")
    log.warning("before")
    rotate(log_file, tmp_path)
    assert messages(tmp_path / "app.log.1") == ["before"]
    assert log_file.read_text() == ""
    log.warning("after")
    log.warning("and after")
    assert messages(log_file) == ["after", "and after"]
    assert messages(tmp_path / "app.log.1") == ["before"]


def test_each_of_several_rotations(log_file: Path, tmp_path: Path) -> None:
    """Three rotations, one line each time: each rotated file holds its own line."""
    log = logging.getLogger("app")
    for number in range(3):
        log.warning(f"line {number}")
        rotate(log_file, tmp_path)
    log.warning("line 3")
    assert messages(log_file) == ["line 3"]
    for number, suffix in enumerate((3, 2, 1)):
        assert messages(tmp_path / f"app.log.{suffix}") == [f"line {number}"]


def test_configure_again_with_the_same_path_after_rotation(log_file: Path, tmp_path: Path) -> None:
    """configure(output=same path) after a rotation: lines go to the new file."""
    logging.getLogger("app").warning("before")
    rotate(log_file, tmp_path)
    tracelog.configure(output=log_file, integrations=["stdlib"])
    logging.getLogger("app").warning("after")
    assert messages(log_file) == ["after"]
    assert messages(tmp_path / "app.log.1") == ["before"]


def test_copytruncate_keeps_writing_to_the_same_file(log_file: Path, tmp_path: Path) -> None:
    """With copytruncate, the file stays; appending goes on at its new end, no hole."""
    log = logging.getLogger("app")
    log.warning("before")
    rotate(log_file, tmp_path, extra="    copytruncate\n")
    log.warning("after")
    assert messages(log_file) == ["after"]  # O_APPEND: no NUL bytes before it
    assert messages(tmp_path / "app.log.1") == ["before"]


def test_the_path_removed_and_not_recreated(log_file: Path) -> None:
    """Rotated away with nothing created in its place: the next line creates the file."""
    log = logging.getLogger("app")
    log.warning("before")
    log_file.rename(log_file.with_name("moved.log"))
    log.warning("after")
    assert messages(log_file) == ["after"]
    assert messages(log_file.with_name("moved.log")) == ["before"]


def test_the_path_cannot_be_checked(tmp_path: Path) -> None:
    """When the path cannot be looked up, the lines go on to the open file, and that is told."""
    directory = tmp_path / "logs"
    directory.mkdir()
    tracelog.configure(output=directory / "app.log", integrations=["stdlib"])
    try:
        log = logging.getLogger("app")
        log.warning("before")
        directory.rename(tmp_path / "moved")
        directory.write_text("")  # a file where the directory was: stat() says ENOTDIR
        log.warning("after")
        log.warning("and after")
        counts = tracelog._errors.error_counts()
    finally:
        tracelog.reset()
    assert messages(tmp_path / "moved" / "app.log") == [  # the report queues behind "after"
        "before",
        "after",
        "tracelog: could not check the log output's path for rotation"
        " (NotADirectoryError: [Errno 20] Not a directory: "
        f"'{directory / 'app.log'}'); later occurrences are counted, not logged",
        "and after",
    ]
    assert counts["could not check the log output's path for rotation: NotADirectoryError"] == 3
