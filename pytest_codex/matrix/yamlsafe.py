"""Reading YAML that people write, safely: the safe loader (libyaml when present),
refusing duplicate keys, reading dates as text, and refusing before anything expands an
alias bomb, a recursive alias, deep nesting, an oversized file and values JSON cannot
hold. `read_yaml(path, max_bytes)` returns the document and its node tree (for line
numbers) or raises `YamlReadError`, one line per problem. No pytest import here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster
MAX_ALIAS_NODES = 10_000  # YAML nodes that aliases may add beyond the file's own
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_PROBLEMS = 50  # problems listed per file; the rest are not looked for
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class YamlReadError(Exception):
    """A YAML file that cannot be used; one line per problem, `<file>:<line>: ...`."""


class YamlProblem(Exception):
    """One problem found in a file, at a 1-based line."""

    def __init__(self, line: int | None, text: str) -> None:
        super().__init__(text)
        self.line = line
        self.text = text


class SafeLoader(BASE_LOADER):  # type: ignore[misc]
    """The safe loader, refusing duplicate keys and reading dates as plain text."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # unhashable: the base class says so
            if duplicate:
                raise YamlProblem(
                    key_node.start_mark.line + 1,
                    f"key {key!r} is given twice in one mapping; keep one",
                )
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
    for first, resolvers in BASE_LOADER.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path, max_bytes: int) -> tuple[Any, yaml.Node | None]:
    """The file's document and its node tree (None, None for an empty file);
    YamlReadError when it cannot be used."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise YamlReadError(f"{path}: cannot be read ({error}); give a UTF-8 YAML file") from None
    if len(raw) > max_bytes:
        raise YamlReadError(
            f"{path}: larger than {max_bytes} bytes (MAX_MATRIX_BYTES); "
            "split it into several files"
        )
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        problems = _check_nodes(node)
        if problems:
            raise YamlReadError("\n".join(f"{path}:{p.line}: {p.text}" for p in problems))
        document = loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise YamlReadError(f"{where}: YAML syntax: {problem}; fix the syntax there") from None
    except YamlProblem as problem:
        raise YamlReadError(f"{path}:{problem.line}: {problem.text}") from None
    except RecursionError:
        raise YamlReadError(
            f"{path}: nested too deeply to read; keep mappings and lists under {MAX_DEPTH} levels"
        ) from None
    finally:
        loader.dispose()
    return document, node


_NOT_JSON = {
    "tag:yaml.org,2002:binary": "!!binary",
    "tag:yaml.org,2002:timestamp": "!!timestamp",
    "tag:yaml.org,2002:set": "!!set",
    "tag:yaml.org,2002:omap": "!!omap",
    "tag:yaml.org,2002:pairs": "!!pairs",
}
_TEXT = "tag:yaml.org,2002:str"


def _check_nodes(root: yaml.Node) -> list[YamlProblem]:
    """One pass over the node tree: nesting depth, values JSON cannot hold (`!!binary`,
    `!!set`, `!!timestamp`, keys that are not text), and whether any node is reached
    twice (an alias); only then is the expanded size counted (`_check_aliases`)."""
    problems: list[YamlProblem] = []
    seen: set[int] = set()
    shared = False
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            shared = True
            continue
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise YamlProblem(
                node.start_mark.line + 1,
                f"nested more than {MAX_DEPTH} levels deep (MAX_DEPTH); flatten it",
            )
        kind = _NOT_JSON.get(node.tag)
        if kind is not None and len(problems) < MAX_PROBLEMS:
            problems.append(
                YamlProblem(
                    node.start_mark.line + 1,
                    f"a YAML {kind} value is not JSON; write it as a quoted string",
                )
            )
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.tag not in (_TEXT, _MERGE) and len(problems) < MAX_PROBLEMS:
                    problems.append(
                        YamlProblem(
                            key.start_mark.line + 1,
                            f"the key {getattr(key, 'value', '?')!r} is not text; quote it",
                        )
                    )
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, depth + 1) for item in node.value]
    if shared:
        _check_aliases(root, len(seen))
    return problems


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_aliases(root: yaml.Node, distinct: int) -> None:
    """Refuse alias bombs, recursive aliases and nesting through aliases before anything
    expands: the size the document would have once every alias is expanded is counted on
    the node graph (each node once), so a 25-line bomb is refused in milliseconds."""
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    active = {id(root)}
    stack: list[tuple[yaml.Node, Iterator[yaml.Node]]] = [(root, iter(_children(root)))]
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            active.discard(id(node))
            kids = _children(node)
            sizes[id(node)] = min(1 + sum(sizes[id(k)] for k in kids), 1 << 62)
            heights[id(node)] = 1 + max((heights[id(k)] for k in kids), default=0)
            continue
        if id(child) in sizes:
            continue
        if id(child) in active:
            raise YamlProblem(child.start_mark.line + 1, "an alias refers to itself; remove it")
        active.add(id(child))
        stack.append((child, iter(_children(child))))
    if heights[id(root)] > MAX_DEPTH:
        raise YamlProblem(
            root.start_mark.line + 1,
            f"aliases nest it more than {MAX_DEPTH} levels deep (MAX_DEPTH); flatten them",
        )
    if sizes[id(root)] > distinct + MAX_ALIAS_NODES:
        raise YamlProblem(
            root.start_mark.line + 1,
            f"aliases expand it to {sizes[id(root)]} nodes from {distinct} "
            f"(at most {MAX_ALIAS_NODES} more are allowed, MAX_ALIAS_NODES); "
            "write the values out or use fewer aliases",
        )
