"""``flowguard logs analyze FILE``: severity, tags and patterns of a log file.

Each line of a plain-text file is one record with no SeverityNumber, no
SeverityText and no attributes, as a receiver would see a bare log body.
The output is CSV on stdout, one row per line::

    line,severity_number,severity_text,inferred,pattern_id,template,tags

A pattern's template can generalise while later lines arrive, so every row
shows the template its pattern has once the whole input is read. That takes
two passes: the first mines every line and keeps only its pattern id (8
bytes a line) and the last template of each pattern; the second reads the
lines again and writes the rows. Standard input (``-``) and other inputs
that cannot be read twice are copied to a temporary file during the first
pass. Memory holds the ids, the templates and the miner, never the lines.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
from array import array
from collections.abc import Iterator
from typing import IO, TextIO

from processing.patterns import TemplateMiner
from processing.severity import infer_severity
from processing.tags import tags_for

__all__ = ["HEADER", "analyze", "analyze_command"]

HEADER = (
    "line",
    "severity_number",
    "severity_text",
    "inferred",
    "pattern_id",
    "template",
    "tags",
)
# Every line of the input belongs to the one service of ``logs analyze``.
_SERVICE = ""


def _lines(source: IO[bytes]) -> Iterator[str]:
    """The lines of a binary stream as text, without their line endings.

    Lines end at LF only, so a stray carriage return inside a record does not
    cut it in two; a CR before the LF is dropped.
    """
    for raw in source:
        text = raw.decode("utf-8", errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
        yield text


def _mine(source: IO[bytes]) -> tuple[array[int], dict[int, str]]:
    """Pass one: the pattern id of every line, and each pattern's last template."""
    miner = TemplateMiner()
    ids: array[int] = array("q")
    templates: dict[int, str] = {}
    for line in _lines(source):
        found = miner.add(_SERVICE, line)
        ids.append(found.pattern_id)
        templates[found.pattern_id] = found.template
    return ids, templates


def analyze(source: IO[bytes], out: TextIO) -> int:
    """Write the CSV rows for a seekable binary stream; return the line count."""
    start = source.tell()
    ids, templates = _mine(source)
    source.seek(start)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for index, line in enumerate(_lines(source)):
        severity = infer_severity(0, "", line, {})
        pattern = ids[index]
        writer.writerow(
            (
                index + 1,
                severity.number,
                severity.text,
                "true" if severity.inferred else "false",
                pattern,
                templates[pattern],
                ";".join(tags_for(severity.number, line, {})),
            )
        )
    return len(ids)


def _analyze_stream(source: IO[bytes], out: TextIO) -> int:
    if source.seekable():
        return analyze(source, out)
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(source, spool)
        spool.seek(0)
        return analyze(spool, out)


def analyze_command(path: str) -> int:
    """Run ``flowguard logs analyze``; return the exit code.

    0 when done, 2 when the file cannot be read.
    """
    try:
        if path == "-":
            _analyze_stream(sys.stdin.buffer, sys.stdout)
        else:
            with open(path, "rb") as source:
                _analyze_stream(source, sys.stdout)
        sys.stdout.flush()
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            return _reader_went_away()
        reason = exc.strerror or str(exc)
        print(f"flowguard: cannot read {path!r}: {reason}", file=sys.stderr)
        return 2
    return 0


def _reader_went_away() -> int:
    # The reader of stdout closed it (``| head``). Point stdout at devnull so
    # that the interpreter's final flush does not fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0
