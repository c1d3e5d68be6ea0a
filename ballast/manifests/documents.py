"""The documents of `-f`: a file, a directory of them, or stdin; YAML or JSON, several per file, or a List of items."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ballast.errors import UsageError

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Document:
    where: str  # "hpa.yaml", "all.yaml (document 2)", "list.yaml (item 3)"
    body: dict


def load(filename: str) -> list[Document]:
    """Every manifest of `filename`; a file that cannot be read or parsed is a UsageError naming it (and the line)."""
    if filename == "-":
        return _parse(sys.stdin.read(), "stdin")
    path = Path(filename)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise UsageError(f"{filename}: a directory with no {', '.join(SUFFIXES)} files")
        return [document for file in files for document in _parse(_read(file), str(file))]
    return _parse(_read(path), filename)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (give -f a YAML or JSON file, a directory, or - for stdin)") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file (give -f a YAML or JSON file)") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot be read: {error.strerror}") from None


def _parse(text: str, where: str) -> list[Document]:
    import yaml

    try:
        bodies = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(error, "problem", None) or error).replace("\n", " ")
        raise UsageError(f"{where}:{at} not valid YAML or JSON: {problem}") from None
    documents = []
    several = len(bodies) > 1
    for index, body in enumerate(bodies, 1):
        label = f"{where} (document {index})" if several else where
        if not isinstance(body, dict):
            raise UsageError(f"{label}: a manifest is a mapping (apiVersion, kind, metadata, spec), got {type(body).__name__}")
        if body.get("kind") == "List" or (str(body.get("kind", "")).endswith("List") and isinstance(body.get("items"), list)):
            for item_index, item in enumerate(body.get("items") or [], 1):
                if not isinstance(item, dict):
                    raise UsageError(f"{label} item {item_index}: a manifest is a mapping, got {type(item).__name__}")
                documents.append(Document(f"{label} item {item_index}", item))
        else:
            documents.append(Document(label, body))
    if not documents:
        raise UsageError(f"{where}: no manifests in it")
    return documents
