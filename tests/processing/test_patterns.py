"""The template miner: stable ids, drift, variable lengths, the memory bound
and its round trip through storage, and accuracy on the labelled fixture."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

from processing import _evaluate
from processing._masking import Masker, tokens
from processing.patterns import PatternMatch, TemplateMiner, pattern_id

FIXTURE_LINES = [
    line
    for name in _evaluate.DEVELOPMENT + _evaluate.HELD_OUT
    for line in _evaluate.load_system(_evaluate.DATA_DIR / f"{name}.csv")[0]
]


def _same_pattern(miner: TemplateMiner, *messages: str) -> set[int]:
    return {miner.add("svc", message).pattern_id for message in messages}


def test_ids_depend_only_on_service_and_first_template() -> None:
    """Two miners fed the same lines give the same positive 63-bit ids, and
    the same line in another service gets another id."""
    lines = FIXTURE_LINES[:300]
    first = [TemplateMiner().add("api", line).pattern_id for line in lines]
    second = [TemplateMiner().add("api", line).pattern_id for line in lines]
    assert first == second
    assert all(0 < found < 2**63 for found in first)
    miner = TemplateMiner()
    message = "cache warmed in 12 ms"
    assert miner.add("api", message).pattern_id != miner.add("web", message).pattern_id
    assert pattern_id("api", "x <*>") == pattern_id("api", "x <*>")


def test_a_template_that_generalises_keeps_its_id() -> None:
    """A token that turns out to vary becomes <*> in place; the id stays."""
    miner = TemplateMiner()
    first = miner.add("svc", "Session opened for user alice by sshd")
    second = miner.add("svc", "Session opened for user bob by sshd")
    assert first.created
    assert not first.changed
    assert second.pattern_id == first.pattern_id
    assert (second.created, second.changed) == (False, True)
    assert second.template == "Session opened for user <*> by sshd"
    third = miner.add("svc", "Session opened for user carol by sshd")
    assert (third.pattern_id, third.changed) == (first.pattern_id, False)


def test_key_value_tokens_keep_their_key_when_the_value_varies() -> None:
    """A field whose value varies generalises to ``key=<*>``."""
    miner = TemplateMiner()
    miner.add("svc", "probe finished state=ready source=wrist pod=a1")
    found = miner.add("svc", "probe finished state=failed source=wrist pod=b2")
    assert found.template == "probe finished state=<*> source=wrist pod=<*>"


def test_variables_are_masked_one_token_each() -> None:
    """Numbers, addresses, ids, paths, URLs, e-mails, times and sizes each
    become one ``<*>``."""
    masked = tokens(
        "2024-06-03 10:15:02,311 conn 7f3a9c from 10.0.0.7:51122 [fe80::1] "
        "user a.b@example.org fetched https://example.org/x?y=1 into "
        "/var/tmp/x.bin (12KB in 35ms) id 5b1c2f0e-8d2a-4c1e-9a6e-0b1c2d3e4f50"
    )
    assert masked == [
        "<*>", "conn", "<*>", "from", "<*>", "[<*>]", "user", "<*>", "fetched",
        "<*>", "into", "<*>", "(<*>", "in", "<*>)", "id", "<*>",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "messages",
    [
        (
            'display name changed to "Jane van der Berg" by the owner',
            'display name changed to "Li" by the owner',
        ),
        (
            "cannot open /srv/share/My Documents/report 2.txt: permission denied",
            "cannot open /srv/tmp/x.txt: permission denied",
        ),
        (
            "removed nodes [atlas, cobalt, ember] from pool",
            "removed nodes [nimbus] from pool",
        ),
        (
            "sync failed for account 42 after 3 tries, reason: token expired",
            "sync failed for account 7 after 1 tries, reason: remote host closed "
            "the connection early",
        ),
        (
            "request done method=GET status=200 bytes=512",
            "request done method=GET status=200 bytes=512 cache=hit region=eu",
        ),
    ],
)
def test_variables_that_change_the_token_count_stay_in_one_pattern(
    messages: tuple[str, str],
) -> None:
    """Quoted strings with spaces, paths with spaces, lists, free text after a
    label and optional fields do not split a pattern."""
    miner = TemplateMiner()
    assert len(_same_pattern(miner, *messages)) == 1


def test_statements_that_differ_in_constant_words_stay_apart() -> None:
    """Extra constant words are a different statement, not a variable."""
    miner = TemplateMiner()
    plain = miner.add("svc", "Failed password for alice from 10.0.0.1 port 22 ssh2")
    miner.add("svc", "Failed password for bob from 10.0.0.2 port 22 ssh2")
    invalid = miner.add(
        "svc", "Failed password for invalid user oracle from 10.0.0.3 port 22 ssh2"
    )
    assert invalid.pattern_id != plain.pattern_id


def test_match_never_creates_or_changes_a_pattern() -> None:
    """match returns the pattern a message belongs to with its template as it
    is, or None, and leaves the miner as it was."""
    miner = TemplateMiner()
    assert miner.match("svc", "finished job alpha in 3 s") is None
    assert len(miner) == 0
    first = miner.add("svc", "finished job alpha in 3 s")
    found = miner.match("svc", "finished job beta in 4 s")
    assert found == PatternMatch(first.pattern_id, first.template, False, False)
    assert miner.match("svc", "nothing like it at all") is None
    assert len(miner) == 1
    assert miner.add("svc", "finished job beta in 4 s").changed


def test_memory_holds_at_most_max_patterns() -> None:
    """Past max_patterns the least recently used patterns are dropped and
    counted."""
    miner = TemplateMiner(max_patterns=5)
    for number in range(50):
        miner.add("svc", f"event{'x' * number} happened")
    assert len(miner) == 5
    assert miner.evicted == 45


def test_an_evicted_pattern_comes_back_with_its_id_through_its_key() -> None:
    """After eviction, adopting the stored templates found by lookup_key
    lets add return the old id instead of creating a new pattern."""
    miner = TemplateMiner(max_patterns=2)
    storage: dict[int, str] = {}

    def add(message: str) -> PatternMatch:
        found = miner.add("api", message)
        storage[found.pattern_id] = found.template
        return found

    first = add("Failed password for alice from 10.0.0.1 port 22 ssh2")
    add("Failed password for bob from 10.0.0.2 port 22 ssh2")
    add("disk sda1 is 91% full")
    add("cache warmed in 12 ms")
    assert len(miner) == 2
    assert miner.evicted >= 1

    message = "Failed password for carol from 10.0.0.3 port 22 ssh2"
    assert miner.match("api", message) is None
    key = miner.lookup_key("api", message)
    for stored_id, template in storage.items():
        if TemplateMiner.template_key(template) == key:
            miner.adopt("api", stored_id, template)
    again = miner.add("api", message)
    assert again.pattern_id == first.pattern_id
    assert not again.created
    assert again.template == "Failed password for <*> from <*> port <*> ssh2"


def test_the_lookup_key_of_every_line_is_the_key_of_its_template() -> None:
    """On the whole fixture, a line's lookup_key equals template_key of the
    final template of the pattern it joined."""
    miner = TemplateMiner()
    joined = [miner.add("", line).pattern_id for line in FIXTURE_LINES]
    final = {}
    for line in FIXTURE_LINES:
        found = miner.match("", line)
        assert found is not None
        final[found.pattern_id] = found.template
    for line, found_id in zip(FIXTURE_LINES, joined, strict=True):
        assert miner.lookup_key("", line) == TemplateMiner.template_key(final[found_id])


def test_adopting_a_known_id_changes_nothing() -> None:
    """adopt of an id already in memory is a no-op."""
    miner = TemplateMiner()
    miner.adopt("svc", 42, "worker <*> started")
    miner.adopt("svc", 42, "something else entirely")
    assert len(miner) == 1
    found = miner.match("svc", "worker 7 started")
    assert found == PatternMatch(42, "worker <*> started", False, False)


def test_adopted_templates_with_wildcards_are_taken_as_they_are() -> None:
    """A stored template with <*> matches new messages under its stored id."""
    miner = TemplateMiner()
    template = "Accepted password for <*> from <*> port <*> ssh2"
    miner.adopt("sshd", 7, template)
    found = miner.add("sshd", "Accepted password for bob from 10.1.2.3 port 22 ssh2")
    assert found == PatternMatch(7, template, False, False)


def test_masking_with_the_digit_shape_cache_equals_masking_afresh() -> None:
    """Fixture lines with every digit redrawn mask the same through the
    cache as without it."""
    rng = random.Random(3)
    masker = Masker(10_000)
    for line in FIXTURE_LINES * 2:
        fresh = re.sub(r"\d", lambda _: rng.choice("0123456789"), line)
        assert masker.tokens(fresh)[0] == tokens(fresh)


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_patterns": 0},
        {"similarity": 0.0},
        {"similarity": 1.5},
        {"route_tokens": 1},
    ],
)
def test_bad_settings_are_refused(arguments: dict[str, float]) -> None:
    """Settings out of range raise ValueError naming the setting."""
    with pytest.raises(ValueError, match=next(iter(arguments))):
        TemplateMiner(**arguments)  # type: ignore[arg-type]


def test_a_pattern_match_is_immutable() -> None:
    """PatternMatch is a frozen value."""
    found = TemplateMiner().add("svc", "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.pattern_id = 1  # type: ignore[misc]


def test_grouping_accuracy_meets_the_target_and_beats_the_baselines() -> None:
    """On the fixture the miner reaches GA 0.85 and F1 0.74 overall, on the
    development and the held-out half alike, and beats both the digit-mask
    baseline and the miner with its improvements off."""
    halves = {"dev": _evaluate.DEVELOPMENT, "held-out": _evaluate.HELD_OUT}
    for half, systems in {
        **halves,
        "all": _evaluate.DEVELOPMENT + _evaluate.HELD_OUT,
    }.items():
        pooled = {
            method: _evaluate.pooled(
                _evaluate.score_systems(_evaluate.DATA_DIR, systems, method).values()
            )
            for method in ("miner", "classic", "digits")
        }
        miner = pooled["miner"]
        assert miner.grouping_accuracy > 0.85, half
        assert miner.f1 > 0.74, half
        for baseline in ("classic", "digits"):
            assert miner.grouping_accuracy > pooled[baseline].grouping_accuracy, half
            assert miner.f1 > pooled[baseline].f1, half


def test_free_text_flood_keeps_patterns_per_leaf_bounded() -> None:
    """Unique free-text messages under one route stop creating patterns when
    their leaf is full and join its overflow pattern, so memory and the work
    per message stay bounded; a known statement still finds its pattern."""
    miner = TemplateMiner(max_leaf_patterns=10)
    known = miner.add("svc", "cache refreshed in 12 ms for region eu")
    words = [f"w{chr(97 + i)}x" for i in range(26)]
    created = set()
    for i in range(300):
        text = " ".join(words[(i * 7 + k * 3) % 26] for k in range(6))
        found = miner.add("svc", f"request failed {text}")
        created.add(found.pattern_id)
    assert len(created) <= 11
    overflow = miner.add("svc", "request failed " + "zzz " * 5 + "zzz")
    assert overflow.template == "request failed <*> <*> <*> <*> <*> <*>"
    again = miner.add("svc", "cache refreshed in 40 ms for region eu")
    assert again.pattern_id == known.pattern_id


def test_a_flood_sent_again_after_the_caches_forgot_it_creates_nothing() -> None:
    """Free-text messages of many lengths, sent a second and a third time
    after the exact and masked caches have forgotten them, create no
    pattern: a message that started a pattern gets it again and one that
    went to its leaf's overflow pattern goes there again. (One that joined a
    generalised pattern may join another known one: the most recently used
    are tried first.)"""
    rng = random.Random(3)
    words = ("cache", "miss", "retry", "pool", "latency", "tenant", "shard")
    messages = [
        f"GET /api/{rng.choice(('a', 'b'))} returned id={rng.getrandbits(64):016x} "
        + " ".join(rng.choice(words) for _ in range(rng.randrange(6, 12)))
        for _ in range(3000)
    ]
    miner = TemplateMiner(cache_size=16)
    first = [miner.add("svc", message) for message in messages]
    started = {found.pattern_id for found in first if found.created}
    # An overflow pattern is its route tokens, then <*> only.
    overflows = {
        found.pattern_id
        for found in first
        if set(found.template.split()[2:]) == {"<*>"}
    }
    assert len(started) > 100
    assert overflows
    patterns = len(miner)
    for _ in range(2):
        again = [miner.add("svc", message) for message in messages]
        assert not any(found.created for found in again)
        assert len(miner) == patterns
        for before, now in zip(first, again, strict=True):
            if before.created or before.pattern_id in overflows:
                assert now.pattern_id == before.pattern_id
