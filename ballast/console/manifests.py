"""The console's spec editor in YAML, as `kubectl edit` has it: the object shown as the manifest a user may write, the
edit read back into the JSON the API takes, and the line of the field the API names when it refuses the edit.

An edit is stale when what it edits (the spec and the labels) changed since it was loaded. The object's resourceVersion
cannot say so by itself: the controller writes status every tick, which moves it, so an editor open for a minute would
always be refused. The editor therefore carries a fingerprint of what it loaded (an ETag, sent back as If-Match), and
the write itself is conditional on the resourceVersion read with that check, so nothing between them is lost.
"""
from __future__ import annotations

import hashlib
import json
import re

import yaml

# What a user may write; the rest of metadata is the server's, and status is the controller's.
EDITABLE_METADATA = ("name", "namespace", "labels")
PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


class YamlError(Exception):
    """An edit that is not one YAML mapping: the message says where (1-based line and column) and what."""

    def __init__(self, line: int, column: int, problem: str):
        super().__init__(f"line {line}, column {column}: {problem}")
        self.line, self.column, self.problem = line, column, problem


def editable(obj: dict) -> dict:
    """The manifest part of an API object: what the editor shows."""
    meta = obj.get("metadata") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
            "metadata": {key: meta[key] for key in EDITABLE_METADATA if key in meta}, "spec": obj.get("spec")}


def fingerprint(obj: dict) -> str:
    """The ETag of what an edit may change: the spec and the labels (not status, not the resourceVersion)."""
    written = {"spec": obj.get("spec"), "labels": (obj.get("metadata") or {}).get("labels") or {}}
    return '"' + hashlib.sha256(json.dumps(written, sort_keys=True).encode()).hexdigest()[:20] + '"'


def to_yaml(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)


def to_json(text: str) -> bytes:
    """The edit as the API's JSON body, or YamlError; YAML's dates and times become the strings they were written as."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        said = ", ".join(filter(None, (getattr(error, "context", None), getattr(error, "problem", None))))
        raise YamlError(line, column, said or str(error)) from None
    if not isinstance(document, dict):
        raise YamlError(1, 1, f"must be a mapping (a manifest with apiVersion, kind, metadata and spec), got {type(document).__name__}")
    return json.dumps(document, default=str).encode()


def line_of(text: str, field: str) -> int | None:
    """The 1-based line of `field` (the API's spelling, e.g. spec.metrics[0].backlog.targetPerReplica) in the YAML
    text, or of its nearest parent there when the field itself is missing (a required one); None if none is."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for index, key in PATH_PART.findall(field):
        if isinstance(node, yaml.MappingNode) and not index:
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
            if found is None:
                return line
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            return line
    return line
