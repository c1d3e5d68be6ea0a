"""The simulator's room (STYLE.md 7.1): the real decision core and the manifest rules, never the controller or AWS
(the store's recording comes through the API, with the tools' own client)."""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ALLOWED_CHALICELIB = ("chalicelib.core", "chalicelib.model", "chalicelib.spec", "chalicelib.schema",
                      "chalicelib.errors")
ALLOWED_OTHERS = {"yaml", "rich", "matplotlib"}


def forbidden(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += ([f"chalicelib.{a.name}" for a in node.names] if node.module == "chalicelib" else [node.module])
    breaks = []
    for name in found:
        top = name.split(".")[0]
        if name == "__future__" or top in sys.stdlib_module_names or top in ALLOWED_OTHERS:
            continue
        # Its own modules, and the tools' API client, through which --from-store reads what the store recorded.
        if name.startswith("ballast.simulate") or name == "ballast.api_client":
            continue
        if top == "chalicelib" and any(name == a or name.startswith(a + ".") for a in ALLOWED_CHALICELIB):
            continue
        breaks.append(name)
    return breaks


@pytest.mark.parametrize("path", sorted((ROOT / "ballast" / "simulate").rglob("*.py")),
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_simulator_imports_only_the_core_and_its_own(path):
    assert forbidden(path) == []


def test_the_rule_catches_the_controller_and_aws(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import boto3\nfrom chalicelib.control import observe\nfrom chalicelib import config\n"
                   "from local import replay\nfrom chalicelib.core import decide\n")
    assert forbidden(bad) == ["boto3", "chalicelib.control", "chalicelib.config", "local"]
