"""STYLE.md 7.1's rooms and rings: each module imports only what its place in the tree may, and no import circle.

The four rooms: the control plane (chalicelib, with its pure core, its adapters and its two use-case rooms), the
photo workers (workers), the user's tools (ballast) and the emulated AWS with the demo (local). Imports are read
with ast, wherever they stand (in a function, under TYPE_CHECKING): a lazy import is still a dependency.
"""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("chalicelib", "workers", "ballast", "local", "infra", "bench", "tests", "app")
# The core gets time, randomness and the environment as arguments, never from these.
IMPURE = {"os", "time", "random", "secrets", "uuid", "socket", "subprocess", "threading"}
AWS_SDKS = ("boto3", "botocore", "chalice", "aws_lambda_powertools")
# The values and rules every ring of the control plane shares; the core may read them and nothing else of Ballast.
VOCABULARY = ("chalicelib.model", "chalicelib.sources", "chalicelib.errors")
# The simulator plays scenarios through the real decisions: the one user of the control plane outside it.
SIMULATOR_MAY_USE = ("chalicelib.core", "chalicelib.model", "chalicelib.spec", "chalicelib.schema", "chalicelib.errors")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> set[str]:
    """Every module the file imports; `from package import module` names the module, not the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names if is_module(f"{node.module}.{alias.name}")}
            found.update(submodules or {node.module})
    return found - {"__future__"}


def top(name: str) -> str:
    return name.split(".")[0]


def within(name: str, *places: str) -> bool:
    return any(name == place or name.startswith(place + ".") for place in places)


def rule_breaks(path: Path) -> list[str]:
    """The imports of `path` that break its room's rules, each with the rule."""
    relative = path.relative_to(ROOT).as_posix()
    found = imports(path)
    ours = {name for name in found if top(name) in ROOMS}
    breaks = [f"{name} (nothing imports {top(name)}/)" for name in ours if top(name) in ("bench", "tests")
              and not relative.startswith(top(name) + "/")]
    if relative.startswith("chalicelib/"):
        breaks += [f"{name} (the control plane imports nothing outside chalicelib/)" for name in ours
                   if top(name) != "chalicelib"]
        if not relative.startswith("chalicelib/adapters/") and relative != "chalicelib/wiring.py":
            breaks += [f"{name} (botocore stays in the adapters)" for name in found if top(name) == "botocore"]
    if relative.startswith("chalicelib/core/"):
        breaks += [f"{name} (the core is pure: the standard library, itself and the model)" for name in found
                   if not within(name, "chalicelib.core", *VOCABULARY)
                   and (top(name) not in sys.stdlib_module_names or top(name) in IMPURE)]
    elif relative.startswith("chalicelib/adapters/"):
        breaks += [f"{name} (adapters hold no policy and know no use case)" for name in ours
                   if within(name, "chalicelib.core", "chalicelib.control", "chalicelib.photos", "chalicelib.wiring",
                             "chalicelib.telemetry")]
    elif relative.startswith("chalicelib/control/"):
        breaks += [f"{name} (the control plane knows nothing of its first user)" for name in ours
                   if within(name, "chalicelib.photos")]
    elif relative in ("chalicelib/model.py", "chalicelib/sources.py", "chalicelib/spec.py", "chalicelib/schema.py",
                      "chalicelib/errors.py", "chalicelib/config.py"):
        breaks += [f"{name} (the shared vocabulary is plain Python)" for name in found if top(name) in AWS_SDKS]
        breaks += [f"{name} (the shared vocabulary imports only itself)" for name in ours
                   if not within(name, "chalicelib.model", "chalicelib.sources", "chalicelib.spec", "chalicelib.schema",
                                 "chalicelib.errors")]
    if relative.startswith("workers/"):
        breaks += [f"{name} (the worker container holds only workers/)" for name in ours if top(name) != "workers"]
    if relative.startswith("ballast/"):
        allowed = ("ballast",) + (SIMULATOR_MAY_USE if relative.startswith("ballast/simulate/") else ())
        breaks += [f"{name} (the user's tools talk to the control plane through its API)" for name in ours
                   if not within(name, *allowed)]
    if relative == "app.py":
        breaks += [f"{name} (app.py wires chalicelib only)" for name in ours if top(name) != "chalicelib"]
    return breaks


def project_modules() -> list[Path]:
    paths = [ROOT / "app.py"]
    for room in ("chalicelib", "workers", "ballast", "local", "infra", "bench"):
        paths += sorted((ROOT / room).rglob("*.py"))
    return paths


@pytest.mark.parametrize("path", project_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_imports_only_what_its_room_allows(path):
    assert rule_breaks(path) == [], f"{path.relative_to(ROOT)} imports across its room"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the modules along it (Tarjan's strongly connected components)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    modules = {module_name(path): path for path in project_modules()}
    graph = {name: {i for i in imports(path) if i in modules and i != name} for name, path in modules.items()}
    assert circles(graph) == []


def test_the_rules_catch_forbidden_imports(tmp_path, monkeypatch):
    (tmp_path / "chalicelib" / "core").mkdir(parents=True)
    (tmp_path / "chalicelib" / "adapters").mkdir()
    (tmp_path / "ballast").mkdir()
    (tmp_path / "chalicelib" / "control").mkdir()
    for package in ("chalicelib", "chalicelib/core", "chalicelib/adapters", "chalicelib/control", "ballast"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "chalicelib" / "control" / "loop.py").write_text("")
    core = tmp_path / "chalicelib" / "core" / "bad.py"
    core.write_text("import boto3\nfrom chalicelib.control import loop\nimport time\nfrom chalicelib.model import X\n")
    adapter = tmp_path / "chalicelib" / "adapters" / "bad.py"
    adapter.write_text("from chalicelib.core import decide\nfrom local import runtime\n")
    tool = tmp_path / "ballast" / "bad.py"
    tool.write_text("def lazily():\n    from chalicelib.core import decide\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert sorted(b.split(" ")[0] for b in rule_breaks(core)) == ["boto3", "chalicelib.control.loop", "time"]
    assert sorted(b.split(" ")[0] for b in rule_breaks(adapter)) == ["chalicelib.core", "local"]
    assert [b.split(" ")[0] for b in rule_breaks(tool)] == ["chalicelib.core"]


def test_a_circle_is_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
