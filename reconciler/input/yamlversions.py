"""Plain scalars that YAML 1.1 and YAML 1.2 read differently, and what to write instead.

reconciler reads YAML 1.1 (PyYAML); editors, the YAML language server and most other tools
read YAML 1.2, whose core schema knows fewer booleans, no sexagesimal or ``_``-separated
numbers, decimal leading zeros, ``0o`` octals, and exponents without a dot. A contact file
must mean one thing everywhere, so such a scalar is refused with both spellings that do.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

_NULL_12: Final = re.compile(r"~|null|Null|NULL|")
_BOOL_12: Final = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
}
_INT_12: Final = re.compile(r"[-+]?[0-9]+")
_OCTAL_12: Final = re.compile(r"0o[0-7]+")
_HEX_12: Final = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_12: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT_12: Final = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def yaml_1_2_value(text: str) -> Any:
    """What a plain scalar means under YAML 1.2's core schema."""
    if _NULL_12.fullmatch(text):
        return None
    if text in _BOOL_12:
        return _BOOL_12[text]
    if _INT_12.fullmatch(text):
        return int(text, 10)
    if _OCTAL_12.fullmatch(text):
        return int(text[2:], 8)
    if _HEX_12.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT_12.fullmatch(text):
        return float(text)
    if _SPECIAL_FLOAT_12.fullmatch(text):
        return float(text.replace(".", "", 1))  # "-.Inf" -> "-Inf", which float() reads
    return text


def _same(left: Any, right: Any) -> bool:
    if type(left) is not type(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def _spelled(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def _meaning(value: Any) -> str:
    if isinstance(value, str):
        return f'the text "{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _spelled(value)
    return f"the number {_spelled(value)}"


def version_problem(text: str, value_1_1: Any) -> str | None:
    """The message for a plain scalar whose YAML 1.1 and 1.2 meanings differ, or None."""
    value_1_2 = yaml_1_2_value(text)
    if _same(value_1_1, value_1_2):
        return None
    spellings = [
        _spelled(value) if not isinstance(value, str) else f'"{value}"'
        for value in dict.fromkeys(
            v for v in (value_1_1, value_1_2, text) if not isinstance(v, float) or math.isfinite(v)
        )
    ]
    return (
        f"`{text}` is {_meaning(value_1_1)} to reconciler (YAML 1.1) but "
        f"{_meaning(value_1_2)} to editors and other tools (YAML 1.2); write "
        f"{' or '.join(dict.fromkeys(spellings))}, whichever you mean"
    )
