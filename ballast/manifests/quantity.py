"""Kubernetes resource quantities ("500m", "1.5", "2Gi", "1e3") as numbers, and back, for cpu and memory targets."""
from __future__ import annotations

import re

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {None: 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def parse(value: object) -> float:
    """The quantity in base units (cores, bytes); ValueError naming what a quantity looks like."""
    if isinstance(value, bool):
        raise ValueError(f"must be a quantity like 500m, 2 or 1Gi, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"must be a quantity like 500m, 2 or 1Gi, got {value!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def millicores(value: object) -> float:
    return round(parse(value) * 1000, 3)


def mebibytes(value: object) -> float:
    return round(parse(value) / 2**20, 3)


def cpu_text(millicores_value: float) -> str:
    return f"{millicores_value:g}m" if millicores_value % 1000 else f"{int(millicores_value // 1000)}"


def memory_text(mebibytes_value: float) -> str:
    return f"{mebibytes_value:g}Mi" if mebibytes_value % 1024 else f"{int(mebibytes_value // 1024)}Gi"
