"""Ballast's own manifests checked against the schemas the server publishes at /openapi.json: every error, not the first."""
from __future__ import annotations

from ballast.manifests.findings import Finding, INVALID, UNKNOWN


def problems(manifest: dict, schemas: dict) -> list[Finding]:
    """The manifest's unknown fields and broken rules, each with its path, as kubectl's --validate=strict finds them."""
    from jsonschema import Draft202012Validator

    schema = schemas.get(manifest.get("kind"))
    if schema is None:
        return []
    found = []
    for error in sorted(Draft202012Validator(schema).iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path))):
        path = _path(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            found += [Finding(UNKNOWN, f"{path}.{key}" if path else key, "not a field of this kind")
                      for key in error.instance if key not in known]
        else:
            found.append(Finding(INVALID, path or "(document)", error.message))
    return found


def _path(parts) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
