"""YAML that keeps its comments: the portal's editors change a few values of
data/script/gesprek.yml or data/signals/rules.yml and save the whole file as a version, with
the explanations for the coordinator still in it (ruamel.yaml, which Rasa already brings)."""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

# ruamel escapes characters beyond the BMP (emoji) in double-quoted strings; YAML allows them.
_SUPPLEMENTARY = re.compile(r"(?<!\\)\\U([0-9A-Fa-f]{8})")


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.allow_unicode = True
    y.width = 100_000  # never fold a long line (a regex or a sentence) in two
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load(text: str) -> Any:
    return _yaml().load(text)


def dump(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return _SUPPLEMENTARY.sub(lambda m: chr(int(m.group(1), 16)), out.getvalue())


def quoted(value: Any) -> Any:
    """Strings of a new value double-quoted, as the script file writes its texts."""
    if isinstance(value, str):
        return DoubleQuotedScalarString(value)
    if isinstance(value, list):
        return [quoted(v) for v in value]
    if isinstance(value, dict):
        return {k: quoted(v) for k, v in value.items()}
    return value


def plain(value: Any) -> Any:
    """A ruamel node as plain dicts, lists and scalars (for comparing and validating)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value
