"""The routes and channels of a rule file, and label matchers as written.

A channel is an apprise URL; each is checked by apprise itself, and never
shown whole in a message since it may hold a token or a password.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection

import apprise

from alerting._section import Section, is_empty, suggestion
from alerting._yaml import MapNode
from alerting.model import Matcher, Route

__all__ = ["masked_url", "parse_matcher", "read_channels", "read_routes"]

ROUTE_KEYS = (
    "match",
    "match_re",
    "matchers",
    "notify",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "continue",
)
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_URL_FORMS = (
    "expected a URL of a service apprise supports, such as "
    "mailto://host:port?to=address or json://host/path "
    "(see https://github.com/caronc/apprise/wiki)"
)


def parse_matcher(text: str) -> Matcher:
    """A matcher written ``name=value``, ``name!=value``, ``name=~regex`` or
    ``name!~regex``; the value may be in double quotes.

    Raises:
        ValueError: the text is not a matcher, or its regex does not compile.
    """
    match = _MATCHER.match(text)
    if match is None:
        msg = (
            "expected name=value, name!=value, name=~regex or name!~regex, "
            f"got {text!r}"
        )
        raise ValueError(msg)
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if op in ("=~", "!~"):
        _check_regex(value)
    return Matcher(name, value, op)


def _check_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        msg = f"bad regular expression {value!r}: {exc}"
        raise ValueError(msg) from None


def masked_url(url: str) -> str:
    """``url`` as it may be shown: its scheme and host, nothing else."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "..."
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    host = rest[:end].rpartition("@")[2]
    tail = "/..." if rest[end:] or "@" in rest[:end] else ""
    return f"{scheme}://{host}{tail}"


def usable_url(url: str) -> bool:
    """Whether apprise accepts ``url`` (it checks the form, sends nothing)."""
    # Apprise logs why it refuses a URL, quoting the URL, which may hold a
    # token; the caller reports the refusal with the URL masked instead.
    logger = logging.getLogger("apprise")
    disabled, logger.disabled = logger.disabled, True
    try:
        return bool(apprise.Apprise().add(url))
    finally:
        logger.disabled = disabled


def read_channels(top: Section) -> dict[str, str]:
    """The ``channels`` mapping: each name with its apprise URL."""
    node = top.mapping("channels", "channel names to apprise URLs")
    channels: dict[str, str] = {}
    if node is None:
        return channels
    for name, value in node.entries.items():
        if _CHANNEL_NAME.match(name) is None:
            message = (
                f"channel name {name!r} is not valid: expected letters, digits, "
                "'_', '.' and '-'"
            )
            top.error(node.key_lines[name], message)
        url = top.text_of(value, f"channel {name!r}")
        # A channel with a bad URL still exists, so that routes naming it
        # are not reported too.
        channels[name] = url or ""
        if url and not usable_url(url):
            message = (
                f"channel {name!r}: apprise cannot use the URL "
                f"{masked_url(url)!r}; {_URL_FORMS}"
            )
            top.error(value.line, message)
    return channels


def read_routes(top: Section, channels: Collection[str]) -> tuple[Route, ...]:
    """The ``routes`` list, each route sending only to known channels."""
    routes = []
    for index, node in enumerate(top.items("routes", "routes"), 1):
        if not isinstance(node, MapNode):
            top.wrong(node, f"route {index}", "a mapping with notify and matchers")
            continue
        where = f"route {index} (line {node.line})"
        routes.append(_route(Section(node, where, ROUTE_KEYS, top.errors), channels))
    return tuple(routes)


def _route(section: Section, channels: Collection[str]) -> Route:
    matchers = (*_equal(section), *_regex(section), *_written(section))
    group_by = section.names("group_by", "label", named=True)
    return Route(
        matchers=matchers,
        notify=_notify(section, channels),
        group_by=("alertname",) if group_by is None else group_by,
        group_wait_s=section.duration_s("group_wait", 30.0),
        group_interval_s=section.duration_s("group_interval", 300.0),
        repeat_interval_s=section.duration_s("repeat_interval", 4 * 3600.0),
        continue_=section.boolean("continue", default=False),
        line=section.line,
    )


def _equal(section: Section) -> list[Matcher]:
    pairs = section.strings("match", "label")
    return [Matcher(name, value) for name, _, value in pairs]


def _regex(section: Section) -> list[Matcher]:
    found = []
    for name, node, value in section.strings("match_re", "label"):
        try:
            _check_regex(value)
        except ValueError as exc:
            section.error(node.line, f"match_re {name!r}: {exc}")
            continue
        found.append(Matcher(name, value, "=~"))
    return found


def _written(section: Section) -> list[Matcher]:
    found = []
    for node in section.items("matchers", 'matchers such as "service=~check.*"'):
        text = section.text_of(node, "a matcher")
        if text is None:
            continue
        try:
            found.append(parse_matcher(text))
        except ValueError as exc:
            section.error(node.line, f"matcher {text!r}: {exc}")
    return found


def _notify(section: Section, channels: Collection[str]) -> tuple[str, ...]:
    node = section.get("notify")
    if node is None:
        section.require("notify", "the channels this route sends to")
        return ()
    if is_empty(node):
        section.error(node.line, "'notify' must name at least one channel")
    names = section.names("notify", "a channel name") or ()
    for name in names:
        if name not in channels:
            section.error(node.line, _unknown_channel(name, channels))
    return names


def _unknown_channel(name: str, channels: Collection[str]) -> str:
    if not channels:
        return f"unknown channel {name!r}: the file defines no channels"
    known = ", ".join(channels)
    return f"unknown channel {name!r}{suggestion(name, channels)} (channels: {known})"
