"""``flowguard logs analyze``: CSV rows for a file or stdin, final templates,
and a clear error for a missing file."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

LINES = [
    "2024-06-03 10:15:02,311 INFO Accepted password for alice from 10.0.0.1 port 22",
    "2024-06-03 10:15:03,004 ERROR Failed to open /data/a.db: permission denied",
    "2024-06-03 10:15:04,918 INFO Accepted password for bob from 10.0.0.2 port 22",
    "disk sda1 is 91% full",
    "2024-06-03 10:15:05,100 WARN request timed out after 30 s",
    "2024-06-03 10:15:06,777 INFO Accepted password for carol from 10.0.0.3 port 22",
]
HEADER = [
    "line",
    "severity_number",
    "severity_text",
    "inferred",
    "pattern_id",
    "template",
    "tags",
]


def _analyze(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``flowguard logs analyze`` with no settings in the environment."""
    return subprocess.run(
        [sys.executable, "-m", "flowguard", "logs", "analyze", *args],
        input=stdin,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _rows(output: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(output))
    assert next(reader) == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in reader]


def _check(rows: list[dict[str, str]]) -> None:
    assert [row["line"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert [row["severity_number"] for row in rows] == ["9", "17", "9", "0", "13", "9"]
    assert [row["severity_text"] for row in rows] == [
        "INFO", "ERROR", "INFO", "", "WARN", "INFO",
    ]  # fmt: skip
    assert [row["inferred"] for row in rows] == ["true"] * 3 + ["false"] + ["true"] * 2
    accepted = [rows[0], rows[2], rows[5]]
    assert len({row["pattern_id"] for row in accepted}) == 1
    # Every line of the group shows the final template, the first one too.
    assert {row["template"] for row in accepted} == {
        "<*> INFO Accepted password for <*> from <*> port <*>"
    }
    assert rows[1]["tags"] == "error;security"
    assert rows[4]["tags"] == "timeout"
    assert rows[3]["tags"] == ""


def test_a_file_gives_one_csv_row_per_line_with_final_templates(
    tmp_path: Path,
) -> None:
    """Each line gets its number, severity, pattern with its final template,
    and tags."""
    log = tmp_path / "app.log"
    log.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    done = _analyze(str(log))
    assert done.returncode == 0, done.stderr
    _check(_rows(done.stdout))


def test_stdin_is_read_when_the_file_is_a_dash() -> None:
    """``-`` reads the records from standard input."""
    done = _analyze("-", stdin="\n".join(LINES))
    assert done.returncode == 0, done.stderr
    _check(_rows(done.stdout))


def test_crlf_endings_and_bad_utf8_do_not_spoil_the_rows(tmp_path: Path) -> None:
    """A CR before LF is dropped and undecodable bytes are replaced."""
    log = tmp_path / "windows.log"
    log.write_bytes(b"first line\r\nsecond \xff line\r\n")
    done = _analyze(str(log))
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    assert [row["template"] for row in rows] == ["first line", "second \ufffd line"]


def test_a_missing_file_exits_2_with_a_message(tmp_path: Path) -> None:
    """A file that cannot be read is named on stderr, with exit code 2."""
    missing = tmp_path / "nope.log"
    done = _analyze(str(missing))
    assert done.returncode == 2
    assert done.stdout == ""
    assert str(missing) in done.stderr
    assert "No such file or directory" in done.stderr
