"""A config file someone else wrote, read with limits before Hydra reads it.

Hydra and OmegaConf read YAML without bounds: an alias bomb (a few hundred bytes whose
`*aliases` copy their anchors nine times per level) expands to hundreds of millions of values
and hangs the composition; an alias inside its own anchor recurses until Python gives up;
invalid UTF-8 ends in a bare `UnicodeDecodeError`; a NUL byte is reported as a byte offset.
`read_config` reads a file the way Hydra will, after checking, in this order and each in time
linear in the file's size: that it is a regular file of at most `MAX_BYTES`, UTF-8 text with no
control characters, one YAML document nested at most `MAX_DEPTH` deep that expands to at most
`MAX_VALUES` values (counted on the parser's events, so aliases are never expanded), whose keys
are names. Every refusal is one line naming the file, the line and column, and what is wrong.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import yaml
from omegaconf._utils import get_yaml_loader

from orchestrator.engine.errors import UserError

# A job of a thousand shots with long prompts is about 300 KB and 10,000 values.
MAX_BYTES = 1 << 20
MAX_VALUES = 50_000
MAX_DEPTH = 32

# What YAML may hold (YAML 1.1's printable set, as PyYAML's reader checks it).
_NOT_TEXT = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# fmt: off
_C0 = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF",
    "VT", "FF", "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK",
    "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
)
# fmt: on
_EVENTS_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LOADER = get_yaml_loader()
_STR = "tag:yaml.org,2002:str"
_YAML_TAG = "tag:yaml.org,2002:"
# The YAML types a config holds; `!!binary`, `!!set`, `!!omap`, ... load as Python objects
# OmegaConf refuses later without naming the file.
_PLAIN = ("str", "int", "float", "bool", "null", "seq", "map", "merge")
_PLAIN_TAGS = {f"{_YAML_TAG}{kind}" for kind in _PLAIN}


class FileError(UserError):
    """One thing wrong with a config file, at a line and column when there is one."""

    def __init__(self, path: Path, message: str, line: int | None = None, column: int = 1):
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(str(path), f"{where}{message}")


def read_config(path: Path, what: str = "a config file") -> Any:
    """The YAML data of `path` (None for an empty file), or a `FileError`; `what` names the
    kind of file in the messages ("a job file")."""
    text = _text(path, what)
    _check_structure(text, path, what)
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, path)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _marked(exc, path) from None
    finally:
        loader.dispose()


def character_problem(text: str) -> tuple[int, str] | None:
    """The first character that makes `text` not plain text (a control character, half a
    surrogate pair): its position from 1 and what it is in words; None for plain text. For
    values that reach prompts, file names and the terminal."""
    for i, char in enumerate(text, 1):
        code = ord(char)
        if (code < 0x20 and char not in "\t\n\r") or 0x7F <= code < 0xA0:
            return i, describe(char)
        if 0xD800 <= code < 0xE000:
            return i, f"U+{code:04X}, half of a surrogate pair"
    return None


def describe(char: str) -> str:
    """`a NUL character (U+0000)`, `control character U+001B (ESC)`."""
    code = ord(char)
    if code == 0:
        return "a NUL character (U+0000)"
    name = _C0[code] if code < 0x20 else ("DEL" if code == 0x7F else "C1 control")
    return f"control character U+{code:04X} ({name})"


def _text(path: Path, what: str) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise FileError(path, "not a regular file")
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise FileError(path, f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise FileError(path, f"larger than {MAX_BYTES >> 20} MiB, the limit for {what}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileError(path, "UTF-16 text; save the file as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        byte = data[exc.start]
        message = f"byte 0x{byte:02X} is not UTF-8 text; save the file as UTF-8"
        raise FileError(path, message, line, column) from None
    if found := _NOT_TEXT.search(text):
        line, column = _position(text, found.start())
        message = f"{describe(found.group())} is not text; {what} is plain text"
        raise FileError(path, message, line, column)
    return text


def _position(data: str | bytes, offset: int) -> tuple[int, int]:
    newline = "\n" if isinstance(data, str) else b"\n"
    line_start = data.rfind(newline, 0, offset) + 1  # type: ignore[arg-type]
    return data.count(newline, 0, offset) + 1, offset - line_start + 1  # type: ignore[arg-type]


def _check_structure(text: str, path: Path, what: str) -> None:
    """Documents, depth and the values the aliases expand to, from the parser's events."""
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    stack: list[list[Any]] = []  # [anchor, values so far] per open collection
    total = documents = 0
    try:
        for event in yaml.parse(text, Loader=_EVENTS_LOADER):
            line, column = event.start_mark.line + 1, event.start_mark.column + 1
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    message = f"a second YAML document (`---`); {what} holds one"
                    raise FileError(path, message, line, column)
                continue
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    message = f"nested more than {MAX_DEPTH} levels deep, the limit for {what}"
                    raise FileError(path, message, line, column)
                stack.append([event.anchor, 1])
                total += 1
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
            elif isinstance(event, yaml.ScalarEvent):
                anchor, size = event.anchor, 1
                total += 1
            elif isinstance(event, yaml.AliasEvent):
                anchor, size = None, _alias(event, sizes, stack, path)
                total += size
                if total > MAX_VALUES:
                    message = (
                        f"alias *{event.anchor} expands the file past {MAX_VALUES:,} values, the "
                        f"limit for {what} (each alias repeats all its anchor holds)"
                    )
                    raise FileError(path, message, line, column)
            else:
                continue
            if anchor:
                sizes[anchor] = size
            if stack:
                stack[-1][1] = min(stack[-1][1] + size, MAX_VALUES + 1)
            if total > MAX_VALUES:
                message = f"more than {MAX_VALUES:,} values, the limit for {what}"
                raise FileError(path, message, line)
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem):  # libyaml's own limit, over MAX_DEPTH
            message = f"nested more than {MAX_DEPTH} levels deep, the limit for {what}"
            mark = exc.problem_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (None, 1)
            raise FileError(path, message, line, column) from None
        raise _marked(_python_error(text, exc), path) from None
    except yaml.YAMLError as exc:
        raise FileError(path, str(exc).replace("\n", " ")) from None


def _alias(event: Any, sizes: dict[str, int], stack: list[list[Any]], path: Path) -> int:
    mark = event.start_mark
    if any(anchor == event.anchor for anchor, _ in stack):
        message = f"alias *{event.anchor} is inside its own anchor &{event.anchor} (a loop)"
        raise FileError(path, message, mark.line + 1, mark.column + 1)
    if event.anchor not in sizes:
        message = f"alias *{event.anchor} names no anchor &{event.anchor} before it"
        raise FileError(path, message, mark.line + 1, mark.column + 1)
    return sizes[event.anchor]


def _python_error(text: str, exc: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
    """PyYAML's own error for libyaml's `exc`, which leaves out the character it found
    (`found character that cannot start any token`, where PyYAML names the tab): the pure-Python
    parser reads the text up to the end of the error's line, so it costs no more than that."""
    mark = exc.problem_mark
    if mark is None:
        return exc
    end = text.find("\n", mark.index)
    try:
        for _ in yaml.parse(text[: len(text) if end < 0 else end + 1], Loader=yaml.SafeLoader):
            pass
    except yaml.MarkedYAMLError as found:
        same = found.problem_mark is not None and found.problem_mark.line == mark.line
        return found if same else exc
    except (yaml.YAMLError, RecursionError):
        return exc
    return exc


def _check_nodes(root: yaml.Node, path: Path) -> None:
    """Every mapping key is a name (`yes:` reads as true and `1:` as a number in YAML) and
    every value is text once its escapes are read (`"\\0"` is a NUL) of a plain YAML type."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        mark = node.start_mark
        if node.tag.startswith(_YAML_TAG) and node.tag not in _PLAIN_TAGS:
            message = (
                f"the tag !!{node.tag.removeprefix(_YAML_TAG)} is not a config value; a config "
                "holds text, numbers, true/false, null, lists and mappings"
            )
            raise FileError(path, message, mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            if found := character_problem(node.value):
                message = f"character {found[0]} of this value is {found[1]}, which is not text"
                raise FileError(path, message, mark.line + 1, mark.column + 1)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                todo.append(value)
                if key.tag in (_STR, "tag:yaml.org,2002:merge"):
                    todo.append(key)
                    continue
                shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
                kind = key.tag.rsplit(":", 1)[-1]
                message = f"the key {shown!r} reads as {kind}, not a name; put it in quotes"
                raise FileError(path, message, key.start_mark.line + 1, key.start_mark.column + 1)


def _marked(exc: yaml.MarkedYAMLError, path: Path) -> FileError:
    """PyYAML's error as one line: its problem, at its problem's mark."""
    mark = exc.problem_mark or exc.context_mark
    reason = exc.problem or exc.context or "not valid YAML"
    if mark is None:
        return FileError(path, reason)
    return FileError(path, reason, mark.line + 1, mark.column + 1)
