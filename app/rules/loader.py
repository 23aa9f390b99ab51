"""YAML reading that remembers where everything was written, so problems can point at a line."""

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, SequenceNode


class LineDict(dict):
    """A mapping from YAML; `line` is where it starts and `lines[key]` where each key is (1-based)."""

    line: int = 0
    lines: dict[str, int]


class LineList(list):
    """A sequence from YAML; `line` is where it starts and `lines[i]` where item i is (1-based)."""

    line: int = 0
    lines: list[int]


@dataclass(frozen=True)
class YamlProblem(Exception):
    line: int
    message: str


# libyaml's parser when PyYAML was built with it: ten times faster on large rulesets.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_BaseLoader):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> LineDict:
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                raise YamlProblem(key_node.start_mark.line + 1, "a key must be plain text")
            key = str(key)
            if key in result:
                raise YamlProblem(key_node.start_mark.line + 1, f"duplicate key {key!r}")
            result[key] = self.construct_object(value_node, deep=True)
            result.lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: SequenceNode, deep: bool = False) -> LineList:
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.lines = [child.start_mark.line + 1 for child in node.value]
        return result


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_sequence)
# Timestamps stay text: the validator converts them where a field is a timestamp, and only there.
# Booleans are only true/false (YAML 1.2): in YAML 1.1 `region: no` would be False, not Norway.
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, _BOOL if tag == "tag:yaml.org,2002:bool" else regexp) for tag, regexp in resolvers
            if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    """The document in `text`, mappings and sequences carrying their line numbers.

    Raises YamlProblem for YAML syntax errors and duplicate keys.
    """
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlProblem(mark.line + 1 if mark else 0, f"YAML syntax: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(0, f"YAML syntax: {exc}") from None


def line_of(container: Any, key: str | int | None = None) -> int:
    """The line of `container[key]` (or of the container itself), 0 when unknown."""
    if key is not None:
        lines = getattr(container, "lines", None)
        if isinstance(lines, dict) and key in lines:
            return lines[key]
        if isinstance(lines, list) and isinstance(key, int) and key < len(lines):
            return lines[key]
    return getattr(container, "line", 0)
