"""Read a rules document (YAML or JSON) and remember where every value came from.

Pydantic reports errors by location (``("rules", 3, "rate", "points")``); a marketer needs
the line of the document. :func:`load_with_lines` returns the plain data together with a map
from each path to the 1-based line it starts on, and :func:`line_of` finds the best line for a
location, falling back to the nearest enclosing value when the field itself is missing.

The reader takes outside text from marketers, so it is bounded before anything is built:
at most :data:`MAX_DOCUMENT_BYTES` of UTF-8, values nested at most :data:`MAX_DEPTH` deep,
and no YAML anchors (``&name``) or aliases (``*name``). An alias lets a few hundred bytes
stand for a structure of billions of values (each level multiplying the one below), or
for itself (``rules: &a [*a]``); a rules document has no need for either, so both are
refused with the line where they appear.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg

Path = tuple[str | int, ...]
MAX_DOCUMENT_BYTES = 512_000
"""The largest rules document, in bytes of UTF-8 (the grocery example is 3.5 kB)."""
MAX_DEPTH = 32
"""The deepest nesting of mappings and lists (a rules document needs about 6)."""
MAX_VALUES = 100_000
"""The most values (keys included) in a document: about 25 per rule, so 1000 rules with
room for long SKU lists; it bounds the work and memory of reading one (~0.5 kB a value)."""


def document_bytes(text: str) -> int:
    """The size of a document in bytes of UTF-8, without encoding a huge one first."""
    if len(text) > MAX_DOCUMENT_BYTES:
        return len(text)  # at least a byte per character: too large already
    return len(text.encode("utf-8", "replace"))


def load_with_lines(text: str, fmt: str) -> tuple[Any, dict[Path, int]]:
    """Parse ``text`` as ``fmt`` ("yaml" or "json"); return the data and its path -> line map."""
    if fmt not in ("yaml", "json"):
        raise ValidationError(
            msg("unknown rules format %(fmt)s; expected yaml or json", fmt=repr(fmt)), field="fmt"
        )
    if document_bytes(text) > MAX_DOCUMENT_BYTES:
        raise _error(
            1,
            "",
            msg(
                "document is larger than %(max_document_bytes)s bytes",
                max_document_bytes=MAX_DOCUMENT_BYTES,
            ),
        )
    if fmt == "json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise _error(
                exc.lineno, "", msg("invalid JSON: %(problem)s", problem=exc.msg)
            ) from None
        except RecursionError:
            raise _error(
                1, "", msg("values are nested more than %(max_depth)s deep", max_depth=MAX_DEPTH)
            ) from None
    try:
        # the reader refuses control characters as soon as it is built
        loader = _BoundedLoader(text)
    except yaml.YAMLError as exc:
        raise _error(
            1, "", msg("invalid %(fmt)s: %(problem)s", fmt=fmt.upper(), problem=str(exc))
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise _error(1, "", msg("the document is empty"))
        lines: dict[Path, int] = {}
        _walk(node, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise _error(
            line,
            "",
            msg("invalid %(fmt)s: %(problem)s", fmt=fmt.upper(), problem=str(exc.problem or exc)),
        ) from None
    except yaml.YAMLError as exc:
        raise _error(
            1, "", msg("invalid %(fmt)s: %(problem)s", fmt=fmt.upper(), problem=str(exc))
        ) from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops nesting long before
        raise _error(
            1, "", msg("values are nested more than %(max_depth)s deep", max_depth=MAX_DEPTH)
        ) from None
    finally:
        loader.dispose()
    return data, lines


# libyaml's parser when it is there (twenty times faster than PyYAML's own), its events
# composed into nodes below
_Parser: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class _Open:
    """A mapping or list being composed, where it sits, and a mapping's pending key."""

    node: yaml.CollectionNode
    path: Path
    key: yaml.Node | None = None


class _BoundedLoader(_Parser):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader, composing nodes itself, without recursion, so that it can
    refuse anchors, aliases and deep nesting as they come: no alias is ever expanded and
    no recursion runs away. A value Python cannot build (an integer of 5,000 digits) is
    reported at its line instead of crashing."""

    def get_single_node(self) -> yaml.Node | None:
        self.get_event()  # stream start
        node = None
        if not self.check_event(yaml.StreamEndEvent):
            self.get_event()  # document start
            node = self._compose()
            self.get_event()  # document end
            if not self.check_event(yaml.StreamEndEvent):
                event = self.get_event()
                raise yaml.composer.ComposerError(
                    "expected a single document in the stream",
                    node.start_mark,
                    "but found another document",
                    event.start_mark,
                )
        self.get_event()  # stream end
        return node

    def _compose(self) -> yaml.Node:
        stack: list[_Open] = []
        values = 0
        while True:
            event = self.get_event()
            if isinstance(event, yaml.CollectionEndEvent):
                done = stack.pop()
                done.node.end_mark = event.end_mark
                node: yaml.Node = done.node
            else:
                values += 1
                if values > MAX_VALUES:
                    line = event.start_mark.line + 1 if event.start_mark else 1
                    raise _error(
                        line,
                        "",
                        msg(
                            "more than %(max_values)s values in the document", max_values=MAX_VALUES
                        ),
                    )
                node = self._open(event, stack)
                if isinstance(node, yaml.CollectionNode):
                    continue
            if not stack:
                return node
            top = stack[-1]
            if isinstance(top.node, yaml.SequenceNode):
                top.node.value.append(node)
            elif top.key is None:
                top.key = node
            else:
                top.node.value.append((top.key, node))
                top.key = None

    def _open(self, event: yaml.Event, stack: list[_Open]) -> yaml.Node:
        """The node an event starts (a collection is pushed on ``stack``), or a refusal."""
        path: Path = ()
        if stack:
            top = stack[-1]
            path = top.path
            if isinstance(top.node, yaml.SequenceNode):
                path = (*path, len(top.node.value))
            elif isinstance(top.key, yaml.ScalarNode):
                path = (*path, str(top.key.value))
        # libyaml's marks are its own class, with the same line attribute
        start: Any = event.start_mark
        end: Any = event.end_mark
        line = start.line + 1
        if isinstance(event, yaml.AliasEvent):
            message = msg(
                "alias *%(anchor)s is not allowed; write the value out", anchor=event.anchor
            )
            raise _error(line, format_path(path), message)
        assert isinstance(event, yaml.NodeEvent)
        if event.anchor is not None:
            raise _error(
                line,
                format_path(path),
                msg("anchor &%(anchor)s is not allowed", anchor=event.anchor),
            )
        if isinstance(event, yaml.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)
            return yaml.ScalarNode(tag, event.value, start, end, style=event.style)
        if len(stack) >= MAX_DEPTH:
            raise _error(
                line,
                format_path(path),
                msg("values are nested more than %(max_depth)s deep", max_depth=MAX_DEPTH),
            )
        assert isinstance(event, yaml.CollectionStartEvent)
        tag = event.tag
        flow = event.flow_style
        collection: yaml.CollectionNode
        if isinstance(event, yaml.SequenceStartEvent):
            if tag is None or tag == "!":
                tag = self.resolve(yaml.SequenceNode, None, event.implicit)
            collection = yaml.SequenceNode(tag, [], start, None, flow_style=flow)
        else:
            if tag is None or tag == "!":
                tag = self.resolve(yaml.MappingNode, None, event.implicit)
            collection = yaml.MappingNode(tag, [], start, None, flow_style=flow)
        stack.append(_Open(collection, path))
        return collection

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            # Python's own hint after the ';' (sys.set_int_max_str_digits) is not for a marketer
            reason = str(exc).split(";")[0]
            raise _error(
                node.start_mark.line + 1, "", msg("invalid value: %(reason)s", reason=reason)
            ) from None


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise _error(
                    key_node.start_mark.line + 1, format_path((*path, key)), msg("duplicate key")
                )
            seen.add(key)
            _walk(value_node, (*path, key), lines)
            # a key's own line is the better pointer when its value spans several lines
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def resolve(loc: Sequence[str | int], data: Any) -> Path:
    """Keep only the parts of a pydantic location that exist in the data (drops union tags)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        in_map = isinstance(current, Mapping) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_map or in_list:
            current = current[part]
        elif isinstance(part, str) and not isinstance(current, Mapping | list):
            continue
        elif isinstance(current, Mapping) and isinstance(part, str):
            path.append(part)  # a missing field: name it, point at its parent
            break
        else:
            continue
        path.append(part)
    return tuple(path)


def line_of(path: Path, lines: Mapping[Path, int]) -> int:
    """The line of ``path``, or of its nearest ancestor present in the document."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return 1


def format_path(path: Sequence[str | int]) -> str:
    """``("rules", 3, "rate", "points")`` -> ``"rules[3].rate.points"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _error(line: int, path: str, message: str) -> ValidationError:
    where = f"line {line}: {path}: " if path else f"line {line}: "
    return ValidationError(
        # the summary stays English; the page translates the located error (details.errors)
        f"invalid rules document: {where}{message}",
        errors=[{"line": line, "path": path, "message": message}],
    )
