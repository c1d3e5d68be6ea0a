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


def plain(value: float) -> str:
    """A number as a person reads it, and exactly: 2097152, not 2.09715e+06; 0.05 as 0.05."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def decimal_text(value: float) -> str:
    """A plain number as Kubernetes writes the quantity back: 0.05 as "50m", 2 as "2" (a tolerance, say)."""
    for suffix, scale in (("", 1), ("m", 1e3), ("u", 1e6), ("n", 1e9)):
        scaled = round(value * scale, 6)
        if scaled.is_integer():
            return f"{int(scaled)}{suffix}"
    return f"{value:g}"


# ECS counts CPU in units of 1/1024 vCPU, and Container Insights reports an ECS container's use in them: a container's
# cpu AverageValue on ECS is compared in those units, a whole task's (Resource) in millicores.
ECS_CPU_UNITS_PER_CORE = 1024


def ecs_cpu_units(millicores_value: float) -> float:
    return round(millicores_value * ECS_CPU_UNITS_PER_CORE / 1000, 3)


def millicores_of_ecs_cpu_units(units: float) -> float:
    return round(units * 1000 / ECS_CPU_UNITS_PER_CORE, 3)
