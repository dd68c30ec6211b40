"""Masking: the digit-run step on part of a line, and the memos by digit
shape that answer for lines seen before."""

from __future__ import annotations

import random

import pytest

from processing import _evaluate, _masking
from processing._masking import Masker, ShapeMemo, digit_shape, mask, tokens

FIXTURE_LINES = [
    line
    for name in _evaluate.DEVELOPMENT + _evaluate.HELD_OUT
    for line in _evaluate.load_system(_evaluate.DATA_DIR / f"{name}.csv")[0]
]
EDGES = [
    "no digits at all",
    "7",
    "ssh2 at the start and x86_64 at the end x86_64",
    "kubelet.go:2417] sync failed after 3 tries",
    "version v1.2. then words",
    "tab\tseparated 12\tvalues",
    "value=12 key: 9 end.",
    "HTTP/1.1 404 and IPv4 10.0.0.1:80 and sha256",
    "٣ Arabic-Indic digit, then 12",
    "  leading and trailing spaces 4  ",
    "done in 12ms; next try in 3s",
]


def _whole_text_digit_runs(message: str) -> str:
    """Masking as it reads, with the digit-run step over the whole text."""
    text = message
    if _masking._MONTH_NAME.search(text, 0, _masking._DATE_REACH):
        text = _masking._TEXT_DATE.sub(_masking.WILDCARD, text)
    text = _masking._DIGIT_RUN.sub(_masking.WILDCARD, _masking._shaped(text))
    if "<*>" in text:
        text = _masking._RUNS_OF_WILDCARDS.sub(_masking.WILDCARD, text)
    if "[ " in text or "( " in text or " ]" in text or " )" in text:
        text = _masking._PADDING.sub("", text)
    return text


@pytest.mark.parametrize("line", EDGES)
def test_masking_digit_runs_between_the_first_and_last_digit_equals_the_whole(
    line: str,
) -> None:
    """Scanning only the stretch that holds digits masks as scanning all."""
    assert mask(line) == _whole_text_digit_runs(line)


def test_fixture_lines_mask_as_with_the_whole_text_scanned() -> None:
    """Every fixture line masks as with the digit-run step over all of it."""
    for line in FIXTURE_LINES:
        assert mask(line) == _whole_text_digit_runs(line)


def test_a_memo_that_never_answers_keeps_few_new_results() -> None:
    """After a window of lookups with no answer, a memo keeps about one new
    result in sixteen; a quarter is far above what chance gives."""
    memo = ShapeMemo(100)
    for number in range(1000):
        shape = b"%d" % number
        assert memo.recall(shape) is None
        memo.remember(shape, number)
    kept = sum(b"%d" % number in memo for number in range(840, 1000))
    assert kept <= 160 // 4


def test_a_memo_that_answers_keeps_every_new_result() -> None:
    """A memo whose shapes come back keeps all it is offered."""
    memo = ShapeMemo(100)
    for number in range(1000):
        shape = b"%d" % number
        for _ in range(2):
            if memo.recall(shape) is None:
                memo.remember(shape, number)
    assert all(b"%d" % number in memo for number in range(900, 1000))


def test_a_sparse_memo_still_learns_a_shape_that_comes_back() -> None:
    """Among one-off shapes, a shape that comes back every 32nd lookup, too
    seldom to keep the memo from going sparse, is kept and mostly answers."""
    memo = ShapeMemo(100)
    answered = []
    for number in range(20_000):
        shape = b"again" if number % 32 == 0 else b"%d" % number
        found = memo.recall(shape)
        if shape == b"again":
            answered.append(found is not None)
        if found is None:
            memo.remember(shape, number)
    assert memo._sparse
    assert sum(answered[-200:]) >= 100


def test_masking_through_a_sparse_memo_equals_masking_afresh() -> None:
    """Lines with fresh hex ids, which make the memo sparse, mixed with
    fixture lines mask the same through the memo as without it."""
    rng = random.Random(5)
    masker = Masker(64)
    for line in FIXTURE_LINES:
        fresh = f"request {rng.getrandbits(64):016x} done in {rng.randrange(99)} ms"
        for text in (fresh, line):
            assert masker.tokens(text) == (tokens(text), " ".join(tokens(text)))


def test_a_sparse_masker_keeps_about_one_new_result_in_sixteen() -> None:
    """Masking lines of ever new shapes, the masker's memo keeps results
    for about one line in sixteen once it has seen a window of them."""
    rng = random.Random(9)
    masker = Masker(1000)
    lines = [f"job {rng.getrandbits(64):016x} done" for _ in range(5000)]
    for line in lines:
        masker.tokens(line)
    kept = sum(digit_shape(line) in masker._known for line in lines[-1000:])
    assert 1000 // 32 <= kept <= 1000 // 8
