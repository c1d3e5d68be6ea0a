"""What a translation says about each field of a foreign manifest: where it went, what it noted, what it refused."""
from __future__ import annotations

from dataclasses import dataclass, field

MAPPED, NOTE, REFUSED, UNKNOWN, INVALID = "mapped", "note", "refused", "unknown", "invalid"
# What stops a manifest from being applied: nothing is written while any of these stands.
BLOCKING = (REFUSED, UNKNOWN, INVALID)


@dataclass(frozen=True)
class Finding:
    kind: str  # one of MAPPED, NOTE, REFUSED, UNKNOWN, INVALID
    path: str  # the source field, e.g. spec.metrics[1].pods
    message: str  # MAPPED: where it went; otherwise why

    def line(self) -> str:
        label = {MAPPED: "", NOTE: "note: ", REFUSED: "refused: ", UNKNOWN: "unknown field: ", INVALID: "invalid: "}
        arrow = " → " if self.kind == MAPPED else ": "
        return f"{label[self.kind]}{self.path}{arrow}{self.message}"


@dataclass
class Translation:
    """A Workload manifest built from a foreign one, with a finding for every field that was read."""

    source: str  # "HorizontalPodAutoscaler/web"
    workload: dict
    findings: list[Finding] = field(default_factory=list)

    def mapped(self, path: str, where: str) -> None:
        self.findings.append(Finding(MAPPED, path, where))

    def note(self, path: str, why: str) -> None:
        self.findings.append(Finding(NOTE, path, why))

    def refuse(self, path: str, why: str) -> None:
        self.findings.append(Finding(REFUSED, path, why))

    def invalid(self, path: str, why: str) -> None:
        self.findings.append(Finding(INVALID, path, why))

    def unknown(self, paths: list[str]) -> None:
        self.findings.extend(Finding(UNKNOWN, path, "not a field of this kind") for path in paths)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in BLOCKING]


# In a shape: a mapping of any keys (labels, annotations, matchLabels, a trigger's metadata); anything at all (status).
FREE_MAP, ANY = "mapping", "any"


def unknown_fields(document: object, shape: object, path: str = "") -> list[str]:
    """Every field of `document` that `shape` does not name, with its path (all of them, not the first).

    A shape is a dict of field → shape, a one-item list [shape] for arrays, FREE_MAP for a mapping of any keys, ANY for
    anything, or None for a single value (a string, a number, a bool).
    """
    if shape in (None, FREE_MAP, ANY):
        return []
    if isinstance(shape, list):
        if not isinstance(document, list):
            return []
        return [p for i, item in enumerate(document) for p in unknown_fields(item, shape[0], f"{path}[{i}]")]
    if not isinstance(document, dict):
        return []
    found = []
    for key, value in document.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in shape:
            found.append(where)
        else:
            found += unknown_fields(value, shape[key], where)
    return found


def wrong_types(document: object, shape: object, path: str = "") -> list[tuple[str, str]]:
    """Every field whose value is not what its shape holds (a mapping, or a list), with its path and what it must be:
    the translation reads nothing of a manifest until these are mended."""
    if shape == ANY or document is None:  # a field left empty (`metrics:`) is a field unset, as Kubernetes reads it
        return []
    if shape is None:
        kind = "a list" if isinstance(document, list) else "a mapping" if isinstance(document, dict) else None
        return [(path, f"must be a single value, got {kind}")] if kind else []
    if isinstance(shape, list):
        if not isinstance(document, list):
            return [(path, f"must be a list, got {type(document).__name__}")]
        return [p for i, item in enumerate(document) for p in wrong_types(item, shape[0], f"{path}[{i}]")]
    if not isinstance(document, dict):
        return [(path or "(document)", f"must be a mapping, got {type(document).__name__}")]
    if shape == FREE_MAP:
        return []
    return [p for key, value in document.items() if key in shape
            for p in wrong_types(value, shape[key], f"{path}.{key}" if path else str(key))]
