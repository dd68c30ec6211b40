"""Log patterns: an online template miner in the style of Drain.

Each message is masked (see ``processing._masking``) and cut into tokens.
Patterns live in a tree split by service, then by the first two tokens, then
by the number of tokens, as in Drain with depth 4. In the leaf, the message
joins the most similar pattern when the similarity reaches the threshold,
and the positions that differ become ``<*>``; otherwise it starts a new
pattern.

Where classic Drain is weak, this miner differs:

- Variables are masked before matching, and several tokens of one variable
  count as one ``<*>``; quoted strings and ``[...]`` groups are one token.
- Similarity skips positions the pattern already holds as ``<*>``, so a
  line made mostly of variables (an access log line) still matches.
- When two tokens differ only in part (``state=RUNNING``, ``state=FAILED``)
  the common parts stay: ``state=<*>``.
- Messages whose variables change the token count still join one pattern
  (see ``_stretch``). A pattern then keeps one positional shape per token
  count, and its template shows the variable stretch as one ``<*>``.
- Exact messages and masked messages seen recently map straight to their
  pattern, so repeated lines skip the tree.
- The work per message is bounded. Candidates are tried most recently used
  first, and a cheap upper bound of the similarity skips most of them. A
  leaf holds at most ``max_leaf_patterns``, and counts as full too after
  ``2 * scan_when_full`` new patterns in a row with no match between them.
  In a full leaf only the most recently used are tried and a message that
  matches none joins the leaf's overflow pattern (its route tokens, then
  ``<*>``), so a flood of free text neither slows ingest nor fills memory
  with one-off patterns. A match ends the run of new patterns.

A pattern keeps the id it was created with when its template generalises.
The id is a hash of the service and the first template, so the same first
line gives the same id in every process.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections import OrderedDict
from dataclasses import dataclass

from processing._masking import WILDCARD, Masker, split_template
from processing._shapes import Ends, fits, fold, merge_token, stretch

__all__ = ["PatternMatch", "TemplateMiner", "pattern_id"]

# The key of a template is its first words; they lie in the route tokens.
_KEY_WORDS = 2
_ID_MASK = 2**63 - 1
# Index keys: service and route tokens, and for leaves the token count.
_Key = tuple[str | int, ...]
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class PatternMatch:
    """The pattern a message belongs to, and what the call did to it."""

    pattern_id: int
    template: str
    created: bool
    changed: bool


class _Pattern:
    """One pattern: its id, route, and a positional shape per token count."""

    __slots__ = (
        "alive", "found", "overflow", "partial", "pattern_id", "route", "service",
        "shapes", "template", "wildcards",
    )  # fmt: skip

    def __init__(
        self, pattern_id: int, service: str, route: tuple[str, ...], shape: list[str]
    ) -> None:
        self.pattern_id = pattern_id
        self.service = service
        self.route = route
        self.shapes: dict[int, list[str]] = {}
        self.wildcards: dict[int, int] = {}
        self.partial: dict[int, int] = {}
        self.set_shape(shape)
        self.template = " ".join(shape)
        self.found = PatternMatch(pattern_id, self.template, False, False)
        self.alive = True
        self.overflow = False

    def set_shape(self, shape: list[str]) -> None:
        """Keep ``shape`` as the shape for its token count, with the counts
        the similarity bound needs."""
        size = len(shape)
        self.shapes[size] = shape
        self.wildcards[size] = shape.count(WILDCARD)
        self.partial[size] = sum(WILDCARD in t and t != WILDCARD for t in shape)


def _to_end(leaf: list[_Pattern], pattern: _Pattern) -> None:
    """Mark ``pattern`` most recently used in its leaf."""
    if leaf and leaf[-1] is not pattern:
        leaf.remove(pattern)
        leaf.append(pattern)


def pattern_id(service: str, template: str) -> int:
    """A stable positive 63-bit id for a template first seen in a service."""
    digest = hashlib.blake2b(f"{service}\x00{template}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") & _ID_MASK or 1


class _Bounded(OrderedDict[tuple[str, str], _Pattern]):
    """A dictionary that forgets its oldest entries past a size."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: tuple[str, str], value: _Pattern) -> None:
        if self.size <= 0:
            return
        if len(self) >= self.size:
            self.popitem(last=False)  # the oldest; O(1), unlike a dict's first key
        self[key] = value

    def find(self, key: tuple[str, str]) -> _Pattern | None:
        found = self.get(key)
        return found if found is not None and found.alive else None


class TemplateMiner:
    """Groups log messages into patterns, online, per service.

    Arguments:
        max_patterns: patterns kept in memory; the least recently used are
            dropped past it and counted in ``evicted``.
        similarity: the share of a pattern's constant tokens a message must
            repeat to join it.
        cache_size: recent exact and masked messages remembered, each.
        mask_variables: mask numbers, addresses, paths and ids before
            matching, treat quoted strings as one token, and keep the common
            parts of tokens that generalise. Off: tokens are cut at
            whitespace and compared whole, as in classic Drain.
        merge_lengths: let messages whose token counts differ join one
            pattern when they differ only in a variable stretch.
        skip_wildcards: similarity ignores positions the pattern holds as
            ``<*>``. Off: they count as mismatches, as in classic Drain.
        route_tokens: the leading tokens that route a message and never
            generalise (Drain's depth minus two); at least two, which the
            lookup key relies on.
        max_leaf_patterns: patterns per service, route and token count;
            past it, unmatched messages join the leaf's overflow pattern.
        scan_when_full: candidates tried in a full leaf, and in the
            variable-length search, most recently used first.

    A miner is not thread-safe: use one per thread, or a lock.
    """

    def __init__(
        self,
        *,
        max_patterns: int = 50_000,
        similarity: float = 0.6,
        cache_size: int = 20_000,
        mask_variables: bool = True,
        merge_lengths: bool = True,
        skip_wildcards: bool = True,
        route_tokens: int = 2,
        max_leaf_patterns: int = 100,
        scan_when_full: int = 8,
    ) -> None:
        if route_tokens < _KEY_WORDS:
            msg = f"route_tokens must be at least {_KEY_WORDS}, got {route_tokens!r}"
            raise ValueError(msg)
        if max_patterns < 1:
            msg = f"max_patterns must be at least 1, got {max_patterns!r}"
            raise ValueError(msg)
        if not 0.0 < similarity <= 1.0:
            msg = f"similarity must be in (0, 1], got {similarity!r}"
            raise ValueError(msg)
        self.max_patterns = max_patterns
        self.similarity = similarity
        self.mask_variables = mask_variables
        self.merge_lengths = merge_lengths
        self.skip_wildcards = skip_wildcards
        self.route_tokens = route_tokens
        self.max_leaf_patterns = max_leaf_patterns
        self.scan_when_full = scan_when_full
        self.evicted = 0
        self._patterns: OrderedDict[int, _Pattern] = OrderedDict()
        self._leaves: dict[_Key, list[_Pattern]] = {}
        self._routes: dict[_Key, list[_Pattern]] = {}
        # Patterns created in a row in each leaf, with no message matching
        # in between: a long run means free text, and the leaf counts as full.
        self._misses: dict[_Key, int] = {}
        self._overflows: dict[_Key, _Pattern] = {}
        self._exact = _Bounded(cache_size)
        self._masked = _Bounded(cache_size)
        self._masker = Masker(cache_size)

    def __len__(self) -> int:
        """The number of patterns in memory."""
        return len(self._patterns)

    def add(self, service: str, message: str) -> PatternMatch:
        """The pattern of a message; creates or generalises one as needed."""
        found = self._exact.find((service, message))
        if found is not None:
            return self._hit(found)
        shape, joined = self._tokens(message)
        masked_key = (service, joined)
        found = self._masked.find(masked_key)
        if found is None:
            return self._place(service, message, shape, masked_key)
        self._exact.put((service, message), found)
        return self._hit(found)

    def match(self, service: str, message: str) -> PatternMatch | None:
        """The pattern a message belongs to, or None; never creates or changes
        a pattern."""
        found = self._exact.find((service, message))
        if found is None:
            shape, joined = self._tokens(message)
            found = self._masked.find((service, joined))
            if found is None:
                found = self._own(service, joined, len(shape))
            if found is None:
                route = (service, *self._route(shape))
                found = self._search(route, shape, change=False)[0]
        return None if found is None else self._hit(found)

    def adopt(self, service: str, pattern_id: int, template: str) -> None:
        """Load a known pattern, from storage, as it is; a no-op when its id is
        already in memory."""
        if pattern_id in self._patterns:
            return
        shape = split_template(template) if self.mask_variables else template.split()
        self._insert(_Pattern(pattern_id, service, self._route(shape), shape))

    def lookup_key(self, service: str, message: str) -> str:
        """The key of the stored patterns this message could belong to.

        It equals ``template_key`` of every template the message would match:
        both are the first two whitespace-separated words of the masked
        message or template. The first two tokens route a message in the
        tree and a pattern never generalises them, so they are the same in
        a message and in every template it can join. The service is not
        part of the key.
        """
        return self.template_key(self._tokens(message)[1])

    @staticmethod
    def template_key(template: str) -> str:
        """The key under which a stored template is found again; see
        ``lookup_key``."""
        return " ".join(template.split()[:_KEY_WORDS])

    # Internals -----------------------------------------------------------

    def _tokens(self, message: str) -> tuple[list[str], str]:
        """The tokens of a message, which must not be changed, and them
        joined."""
        if self.mask_variables:
            return self._masker.tokens(message)
        split = message.split()
        return split, " ".join(split)

    def _route(self, shape: list[str]) -> tuple[str, ...]:
        route = shape[: self.route_tokens]
        route += [""] * (self.route_tokens - len(route))
        if not self.mask_variables:
            # Classic Drain routes tokens that hold digits as variables.
            route = [WILDCARD if _DIGIT.search(token) else token for token in route]
        return tuple(route)

    def _hit(self, found: _Pattern) -> PatternMatch:
        self._patterns.move_to_end(found.pattern_id)
        return found.found

    def _place(
        self,
        service: str,
        message: str,
        shape: list[str],
        masked_key: tuple[str, str],
    ) -> PatternMatch:
        found = self._own(service, masked_key[1], len(shape))
        created = changed = False
        if found is None:
            found, created, changed = self._from_tree(service, shape)
        else:
            # Not a match that ends a run of new patterns: a message that
            # started a pattern has come back, which says nothing about the
            # other messages of its leaf.
            self._patterns.move_to_end(found.pattern_id)
        self._exact.put((service, message), found)
        self._masked.put(masked_key, found)
        if not (created or changed):
            return found.found
        return PatternMatch(found.pattern_id, found.template, created, changed)

    def _from_tree(self, service: str, shape: list[str]) -> tuple[_Pattern, bool, bool]:
        """The pattern the tree finds for the shape, or a new one, and
        whether it was created and whether it changed; counts the leaf's
        run of new patterns."""
        route = (service, *self._route(shape))
        found, changed = self._search(route, shape, change=True)
        created = False
        leaf_key: _Key = (*route, len(shape))
        if found is None:
            found, created = self._create(service, shape)
            self._misses[leaf_key] = self._misses.get(leaf_key, 0) + 1
        else:
            self._patterns.move_to_end(found.pattern_id)
            if found.overflow:
                self._misses[leaf_key] = self._misses.get(leaf_key, 0) + 1
            else:
                self._misses.pop(leaf_key, None)
        return found, created, changed

    def _own(self, service: str, joined: str, size: int) -> _Pattern | None:
        """The pattern this masked message started, if it is in memory.

        A pattern's id is the hash of its first template, so a message that
        started one finds it again in one lookup, however far its template
        has generalised since and however full its leaf has become: the
        same message always gets the same pattern.
        """
        found = self._patterns.get(pattern_id(service, joined))
        if found is None or size not in found.shapes:
            return None
        return found

    def _create(self, service: str, shape: list[str]) -> tuple[_Pattern, bool]:
        """A new pattern for the shape, and True; or the pattern in memory
        with its id, and False."""
        template = " ".join(shape)
        new_id = pattern_id(service, template)
        existing = self._patterns.get(new_id)
        if existing is None:
            created = _Pattern(new_id, service, self._route(shape), list(shape))
            self._insert(created)
            return created, True
        # An adopted pattern with this very template, whose tokens were cut
        # from its text apart from any message: give it the message's shape.
        self._patterns.move_to_end(new_id)
        if len(shape) not in existing.shapes:
            existing.set_shape(list(shape))
            key: _Key = (service, *existing.route, len(shape))
            self._leaves.setdefault(key, []).append(existing)
        return existing, False

    def _insert(self, pattern: _Pattern) -> None:
        self._patterns[pattern.pattern_id] = pattern
        key = (pattern.service, *pattern.route)
        self._routes.setdefault(key, []).append(pattern)
        for size in pattern.shapes:
            self._leaves.setdefault((*key, size), []).append(pattern)
        while len(self._patterns) > self.max_patterns:
            self._evict(self._patterns.popitem(last=False)[1])

    def _evict(self, pattern: _Pattern) -> None:
        pattern.alive = False
        self.evicted += 1
        key = (pattern.service, *pattern.route)
        _drop(self._routes, key, pattern)
        for size in pattern.shapes:
            leaf: _Key = (*key, size)
            if not _drop(self._leaves, leaf, pattern):
                # The leaf is gone: so is what was kept about it.
                self._misses.pop(leaf, None)
                self._overflows.pop(leaf, None)

    def _search(
        self, route: tuple[str, ...], shape: list[str], *, change: bool
    ) -> tuple[_Pattern | None, bool]:
        """The pattern of the shape, and whether it changed; ``route`` is the
        service and the route tokens."""
        key: _Key = (*route, len(shape))
        leaf = self._leaves.get(key, [])
        misses = self._misses.get(key, 0)
        full = len(leaf) >= self.max_leaf_patterns or misses >= 2 * self.scan_when_full
        # A long run of misses is a flood of free text: try the two most
        # recently used patterns only, until a message matches again.
        scan = 2 if misses >= 8 * self.scan_when_full else self.scan_when_full
        best = self._best(leaf, shape, scan if full else len(leaf))
        if best is not None:
            _to_end(leaf, best)
            return best, change and self._generalise(best, shape)
        if full:
            return self._overflow(key, shape, create=change), False
        if self.merge_lengths:
            return self._stretch(route, shape, change=change)
        return None, False

    def _best(
        self, leaf: list[_Pattern], shape: list[str], scan: int
    ) -> _Pattern | None:
        """The most similar pattern at or above the threshold among the
        ``scan`` most recently used of the leaf."""
        size = len(shape)
        candidates = leaf[-scan:] if scan < len(leaf) else leaf
        theirs = size - shape.count(WILDCARD)
        best, score = None, self.similarity
        for candidate in reversed(candidates):
            known = candidate.shapes[size]
            # An upper bound first: equal tokens, plus tokens the pattern
            # holds as partial variables, over the larger constant count.
            partial = candidate.partial[size]
            counted = max(size - candidate.wildcards[size], theirs) or 1
            if (sum(map(operator.eq, known, shape)) + partial) / counted < score:
                continue
            value = self._similarity(known, shape)
            if value >= score:
                best, score = candidate, value
        return best

    def _overflow(
        self, key: _Key, shape: list[str], *, create: bool
    ) -> _Pattern | None:
        """The pattern that takes what a full leaf cannot place; ``key`` is
        the leaf's."""
        existing = self._overflows.get(key)
        if existing is not None and existing.alive:
            return existing
        service = str(key[0])
        route = list(self._route(shape))
        overflow = route + [WILDCARD] * (len(shape) - len(route))
        existing = self._patterns.get(pattern_id(service, " ".join(overflow)))
        if existing is None and create:
            existing = self._create(service, overflow)[0]
        if existing is not None:
            existing.overflow = True
            self._overflows[key] = existing
        return existing

    def _similarity(self, known: list[str], shape: list[str]) -> float:
        """The share of matching tokens. Classic Drain divides by the length
        and counts a ``<*>`` as a mismatch. Skipping wildcards, the share is
        of the constant tokens of the pattern or of the message, whichever
        has more, so that a pattern generalised down to a few constants does
        not take in every message of its length."""
        if not self.skip_wildcards:
            same = sum(
                mine == theirs and mine != WILDCARD
                for mine, theirs in zip(known, shape, strict=True)
            )
            return same / len(shape) if shape else 1.0
        same = mine_counted = theirs_counted = 0
        for mine, theirs in zip(known, shape, strict=True):
            theirs_counted += theirs != WILDCARD
            if mine == WILDCARD:
                continue
            mine_counted += 1
            same += mine == theirs or (WILDCARD in mine and fits(mine, theirs))
        counted = max(mine_counted, theirs_counted)
        return same / counted if counted else 1.0

    def _generalise(self, pattern: _Pattern, shape: list[str]) -> bool:
        known = pattern.shapes[len(shape)]
        for index, (mine, theirs) in enumerate(zip(known, shape, strict=True)):
            if mine == theirs or (WILDCARD in mine and fits(mine, theirs)):
                continue
            if mine != WILDCARD:
                known[index] = (
                    merge_token(mine, theirs) if self.mask_variables else WILDCARD
                )
        pattern.set_shape(known)
        return self._retemplate(pattern)

    def _retemplate(self, pattern: _Pattern) -> bool:
        shapes = iter(pattern.shapes.values())
        folded = next(shapes)
        for other in shapes:
            folded = fold(folded, other)
        template = " ".join(folded)
        if template == pattern.template:
            return False
        pattern.template = template
        pattern.found = PatternMatch(pattern.pattern_id, template, False, False)
        return True

    def _stretch(
        self, route: tuple[str, ...], shape: list[str], *, change: bool
    ) -> tuple[_Pattern | None, bool]:
        """Find a pattern that differs from the message in one stretch.

        A variable may span a different number of tokens in each message: a
        free-text reason, a name with spaces, optional key=value fields. Two
        token lists are taken as one pattern when they share a start and an
        end (single differing tokens between equal ones allowed) and either
        differ in one stretch that is the value of a label or key (it follows
        ``reason:`` or ``name=``, after at least four shared tokens and half
        the shorter list), or one list has extra key=value fields. A stretch
        of plain words is not enough: ``for <*> from`` and ``for invalid user
        <*> from`` are different statements.
        """
        best: tuple[_Pattern, Ends] | None = None
        # The most recently created patterns of the route only: the work per
        # message stays bounded however many patterns share a route.
        for candidate in self._routes.get(route, ())[-self.scan_when_full :]:
            if len(shape) in candidate.shapes:
                continue  # its shape of this length did not match
            for known in candidate.shapes.values():
                ends = stretch(known, shape)
                if ends is not None and (
                    best is None or ends.cover() > best[1].cover()
                ):
                    best = candidate, ends
        if best is None:
            return None, False
        pattern, ends = best
        if not change:
            return pattern, False
        pattern.set_shape(ends.stretched())
        self._leaves.setdefault((*route, len(shape)), []).append(pattern)
        return pattern, self._retemplate(pattern)


def _drop(index: dict[_Key, list[_Pattern]], key: _Key, pattern: _Pattern) -> bool:
    """Remove ``pattern`` from ``index[key]``; False when the key is gone."""
    members = index[key]
    members.remove(pattern)
    if not members:
        del index[key]
    return bool(members)
