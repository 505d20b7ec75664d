"""Read a rules document (YAML or JSON) and remember where every value came from.

Pydantic reports errors by location (``("rules", 3, "rate", "points")``); a marketer needs
the line of the document. :func:`load_with_lines` returns the plain data together with a map
from each path to the 1-based line it starts on, and :func:`line_of` finds the best line for a
location, falling back to the nearest enclosing value when the field itself is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from kopilka.domain.errors import ValidationError

Path = tuple[str | int, ...]
MAX_DOCUMENT_CHARS = 1_000_000


def load_with_lines(text: str, fmt: str) -> tuple[Any, dict[Path, int]]:
    """Parse ``text`` as ``fmt`` ("yaml" or "json"); return the data and its path -> line map."""
    if fmt not in ("yaml", "json"):
        raise ValidationError(f"unknown rules format {fmt!r}; expected yaml or json", field="fmt")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise _error(1, "", f"document is larger than {MAX_DOCUMENT_CHARS} characters")
    if fmt == "json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise _error(exc.lineno, "", f"invalid JSON: {exc.msg}") from None
    try:
        # the reader refuses control characters as soon as it is built
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise _error(1, "", f"invalid {fmt.upper()}: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise _error(1, "", "the document is empty")
        lines: dict[Path, int] = {}
        _walk(node, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise _error(line, "", f"invalid {fmt.upper()}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise _error(1, "", f"invalid {fmt.upper()}: {exc}") from None
    finally:
        loader.dispose()
    return data, lines


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise _error(
                    key_node.start_mark.line + 1, format_path((*path, key)), "duplicate key"
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
        f"invalid rules document: {where}{message}",
        errors=[{"line": line, "path": path, "message": message}],
    )
