"""YAML read into values that remember their lines, with ``${VAR}`` filled in.

The rule file is composed into PyYAML's node tree (safe tags only) and
turned into ``MapNode``, ``ListNode`` and ``Scalar`` values, each with the
1-based line it starts on, so every later check can name the line of what
it refuses. Problems are collected as ``RuleError`` values rather than
raised, so one reading reports them all.

In every string scalar, ``${NAME}`` is replaced by the environment
variable's value and ``${NAME:-default}`` by the default when the variable
is unset or empty; ``$${`` stands for a literal ``${``. A plain scalar whose
text changed is typed again, so ``above: ${LIMIT:-0.05}`` is a number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

__all__ = [
    "ListNode",
    "MapNode",
    "Node",
    "RuleError",
    "Scalar",
    "describe",
    "read_yaml",
]

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
# "$${" first, so that an escaped reference is never read as a variable; a
# "${" matching neither form is malformed.
_REFERENCE = re.compile(
    r"\$\$\{|\$\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}\n]*))?\})?"
)


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in a rule file: its 1-based line (0 for the whole file)
    and what is wrong."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Scalar:
    """A scalar value and the line it starts on.

    ``block`` marks a literal or folded block scalar, whose text starts on
    the line after its ``|`` or ``>``. ``ok`` is false when the value could
    not be built (an unset variable, say); that is already reported, so
    checks skip it.
    """

    value: object
    line: int
    block: bool = False
    ok: bool = True

    def text_line(self, offset: int) -> int:
        """The file line of line ``offset`` (0-based) of the text."""
        return self.line + offset + (1 if self.block else 0)


@dataclass(frozen=True, slots=True)
class MapNode:
    """A mapping: its values by key in file order, and each key's line."""

    entries: dict[str, Node]
    key_lines: dict[str, int]
    line: int


@dataclass(frozen=True, slots=True)
class ListNode:
    """A sequence and the line it starts on."""

    items: tuple[Node, ...]
    line: int


Node = Scalar | MapNode | ListNode


def describe(node: Node) -> str:
    """What a value is, for messages: "the string 'x'", "a list"."""
    if isinstance(node, MapNode):
        return "a mapping"
    if isinstance(node, ListNode):
        return "a list"
    value = node.value
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"the {type(value).__name__} {value}"


def read_yaml(
    text: str, environ: Mapping[str, str], errors: list[RuleError]
) -> Node | None:
    """The first and only document of ``text``, or None when it is empty
    or not valid YAML (the reason then goes to ``errors``)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        errors.append(_syntax_error(exc))
        return None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"not valid YAML: the control character U+{code:04X} is not allowed"
        errors.append(RuleError(line, message))
        return None
    if root is None:
        return None
    return _Builder(environ, errors).node(root)


def _syntax_error(exc: yaml.MarkedYAMLError) -> RuleError:
    mark = exc.problem_mark or exc.context_mark
    context = ""
    if exc.problem and exc.context and exc.context_mark is not None:
        context = f"{exc.context} on line {exc.context_mark.line + 1}: "
    message = f"not valid YAML: {context}{exc.problem or exc.context}"
    return RuleError(0 if mark is None else mark.line + 1, message)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Builder:
    """Turns composed nodes into located values; aliases are built once."""

    def __init__(self, environ: Mapping[str, str], errors: list[RuleError]) -> None:
        self._environ = environ
        self._errors = errors
        self._loader = yaml.SafeLoader("")
        self._built: dict[int, Node] = {}
        self._building: set[int] = set()

    def node(self, node: yaml.Node) -> Node:
        key = id(node)
        if key in self._built:
            return self._built[key]
        if key in self._building:
            self._error(_line(node), "an alias refers to the node that holds it")
            return Scalar(None, _line(node), ok=False)
        self._building.add(key)
        try:
            built = self._build(node)
        finally:
            self._building.discard(key)
        self._built[key] = built
        return built

    def _build(self, node: yaml.Node) -> Node:
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _COLLECTION_TAGS:
            self._error(_line(node), f"unsupported YAML tag {node.tag!r}")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return ListNode(tuple(self.node(item) for item in node.value), _line(node))
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node)

    def _error(self, line: int, message: str) -> None:
        self._errors.append(RuleError(line, message))

    def _mapping(self, node: yaml.MappingNode) -> MapNode:
        entries: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            line = _line(key_node)
            if key_node.tag == _MERGE_TAG:
                merged.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(line, "a key must be a word, not a list or mapping")
                continue
            key = str(key_node.value)
            if key in entries:
                first = key_lines[key]
                self._error(line, f"duplicate key {key!r}; it is first on line {first}")
                continue
            entries[key] = self.node(value_node)
            key_lines[key] = line
        for value_node in merged:
            self._merge(value_node, entries, key_lines)
        return MapNode(entries, key_lines, _line(node))

    def _merge(
        self, node: yaml.Node, entries: dict[str, Node], key_lines: dict[str, int]
    ) -> None:
        """YAML merge keys (``<<: *defaults``): keys written in the mapping
        win, then earlier merged mappings over later ones."""
        built = self.node(node)
        sources = built.items if isinstance(built, ListNode) else (built,)
        for source in sources:
            if not isinstance(source, MapNode):
                message = f"'<<' merges mappings only, got {describe(source)}"
                self._error(source.line, message)
                continue
            for key, value in source.entries.items():
                if key not in entries:
                    entries[key] = value
                    key_lines[key] = source.key_lines[key]

    def _scalar(self, node: yaml.ScalarNode) -> Scalar:
        line = _line(node)
        block = node.style in ("|", ">")
        text = str(node.value)
        tag = node.tag
        if tag == _STR_TAG and "$" in text:
            text, problems = _substitute(text, self._environ)
            for offset, message in problems:
                self._error(line + offset + (1 if block else 0), message)
            if problems:
                return Scalar(None, line, block, ok=False)
            if node.style is None and text != node.value:
                # PyYAML's resolver is untyped; it returns the implicit tag.
                tag = self._loader.resolve(  # type: ignore[no-untyped-call]
                    yaml.ScalarNode, text, (True, False)
                )
        typed = yaml.ScalarNode(tag, text, node.start_mark, node.end_mark, node.style)
        try:
            value = self._loader.construct_object(typed, deep=True)
        except yaml.YAMLError as exc:
            self._error(line, f"cannot read the value {text!r}: {exc}")
            return Scalar(None, line, block, ok=False)
        return Scalar(value, line, block)


# A problem found while filling in variables: its line within the text,
# and the message.
Problem = tuple[int, str]


def _substitute(text: str, environ: Mapping[str, str]) -> tuple[str, list[Problem]]:
    """``text`` with its variables filled in, and the problems found, each
    with its line within ``text``."""
    problems: list[Problem] = []

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$${":
            return "${"
        offset = text.count("\n", 0, match.start())
        name, default = match["name"], match["default"]
        if name is None:
            problems.append((offset, _malformed(text, match.start())))
            return ""
        value = environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is not None:
            return value
        problems.append((offset, _unset(name)))
        return ""

    return _REFERENCE.sub(replace, text), problems


def _malformed(text: str, start: int) -> str:
    shown = text[start : start + 30].split("\n")[0]
    return (
        f"bad variable reference {shown!r}: expected ${{NAME}} or "
        "${NAME:-default}; write $${ for a literal ${"
    )


def _unset(name: str) -> str:
    return (
        f"environment variable {name!r} is not set; set it, or give a "
        f"default: ${{{name}:-value}}"
    )
