"""STYLE.md 7.1's arrows: the pure core, the policy-free adapters and the shell import only what their ring may."""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHELL = {"chalicelib.photos.ingest", "chalicelib.control.reconcile", "chalicelib.photos.completions",
         "chalicelib.control.api", "chalicelib.photos.images", "chalicelib.photos.job", "chalicelib.wiring",
         "chalicelib.control.openapi", "chalicelib.telemetry"}
# The core gets time, randomness and the environment as arguments, never from these.
IMPURE = {"os", "time", "random", "secrets", "uuid", "socket", "subprocess", "threading"}
OUTSIDE = ("app", "local", "workers", "bench", "tests", "infra")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "chalicelib":
                found.update(f"chalicelib.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found - {"__future__"}


def top(name: str) -> str:
    return name.split(".")[0]


def modules(pattern: str) -> list[Path]:
    return sorted(ROOT.glob(pattern))


def rule_breaks(path: Path) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    found = imports(path)
    breaks = [f"{name} (nothing in chalicelib imports {top(name)})" for name in found if top(name) in OUTSIDE]
    if relative.startswith("chalicelib/core/"):
        allowed = ("chalicelib.model", "chalicelib.errors", "chalicelib.core")
        breaks += [name for name in found if (top(name) not in sys.stdlib_module_names or top(name) in IMPURE)
                   and not any(name == a or name.startswith(a + ".") for a in allowed)]
    elif relative.startswith("chalicelib/adapters/"):
        breaks += [name for name in found if name.startswith("chalicelib.core") or name in SHELL]
    elif relative in ("chalicelib/model.py", "chalicelib/errors.py", "chalicelib/schema.py", "chalicelib/config.py"):
        breaks += [name for name in found if top(name) in ("boto3", "botocore", "chalice", "aws_lambda_powertools")]
    if not relative.startswith("chalicelib/adapters/") and relative != "chalicelib/wiring.py":
        breaks += [f"{name} (botocore stays in the adapters)" for name in found if top(name) == "botocore"]
    return breaks


@pytest.mark.parametrize("path", modules("chalicelib/**/*.py"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_imports_only_what_its_ring_allows(path):
    assert rule_breaks(path) == [], f"{path.relative_to(ROOT)} imports across its ring"


def test_the_rules_catch_a_forbidden_import(tmp_path, monkeypatch):
    fake_root = tmp_path
    core = fake_root / "chalicelib" / "core"
    core.mkdir(parents=True)
    (core / "bad.py").write_text("import boto3\nfrom chalicelib import reconcile\nimport time\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert sorted(rule_breaks(core / "bad.py")) == ["boto3", "chalicelib.reconcile", "time"]
