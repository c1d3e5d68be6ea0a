"""How `get` writes what it fetched: -o json, yaml, name, jsonpath=TEMPLATE (kubectl's template syntax), or a table."""
from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass

from ballast.errors import UsageError

FORMATS = ("wide", "json", "yaml", "name", "jsonpath=TEMPLATE", "hpa", "scaledobject")
_BRACES = re.compile(r"(\{[^{}]*\})")


def check_format(value: str | None) -> str | None:
    if value is None or value in FORMATS[:4] + FORMATS[5:] or value.startswith(("jsonpath=", "jsonpath-as-json=")):
        return value
    raise UsageError(f"-o must be one of {', '.join(FORMATS)}, got {value!r}")


def dump(document: object, output: str) -> str:
    if output == "json":
        return json.dumps(document, indent=2, ensure_ascii=False)
    import yaml

    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).rstrip("\n")


def names(items: list[dict], kind: str) -> str:
    return "\n".join(f"{kind}/{item['metadata']['name']}" for item in items)


# ---- kubectl's JSONPath templates: text, {expression}, {"literal"}, {range EXPR}...{end} -----------------------------


@dataclass
class _Range:
    expression: str
    body: list


def jsonpath(template: str, document: object) -> str:
    """kubectl's `-o jsonpath=` on `document`: `{.items[*].metadata.name}`, `{range .items[*]}{.x}{"\\n"}{end}`."""
    nodes, rest = _parse(_BRACES.split(template), 0)
    if rest != len(_BRACES.split(template)):
        raise UsageError(f"jsonpath template {template!r}: an {{end}} without its {{range}}")
    return "".join(_render(nodes, document, document))


def _parse(tokens: list[str], index: int) -> tuple[list, int]:
    nodes: list = []
    while index < len(tokens):
        token = tokens[index]
        inner = token[1:-1].strip() if token.startswith("{") and token.endswith("}") else None
        index += 1
        if inner is None:
            if token:
                nodes.append(token)
        elif inner == "end":
            return nodes, index - 1
        elif inner.startswith("range "):
            body, index = _parse(tokens, index)
            if index >= len(tokens):
                raise UsageError(f"jsonpath: {{range {inner[6:]}}} has no {{end}}")
            nodes.append(_Range(inner[6:].strip(), body))
            index += 1
        else:
            nodes.append(("expr", inner))
    return nodes, index


def _render(nodes: list, current: object, root: object) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Range):
            for item in _evaluate(node.expression, current, root):
                out += _render(node.body, item, root)
        else:
            expression = node[1]
            if expression.startswith(('"', "'")) and expression.endswith(expression[0]) and len(expression) >= 2:
                out.append(codecs.decode(expression[1:-1], "unicode_escape"))
            else:
                out.append(" ".join(_text(value) for value in _evaluate(expression, current, root)))
    return out


def _evaluate(expression: str, current: object, root: object) -> list:
    from jsonpath_ng.ext import parse

    base = root if expression.startswith("$") else current
    text = expression if expression.startswith("$") else "$" + (expression if expression.startswith((".", "[")) else "." + expression)
    text = re.sub(r"\.([A-Za-z0-9_-]+(?:\\\.[A-Za-z0-9_/-]+)+)", lambda m: "['" + m.group(1).replace("\\.", ".") + "']", text)
    try:
        return [match.value for match in parse(text).find(base)]
    except Exception as error:  # jsonpath_ng raises lexer, parser and evaluation errors of many classes
        raise UsageError(f"jsonpath expression {{{expression}}} cannot be read: {error}") from None


def _text(value: object) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
