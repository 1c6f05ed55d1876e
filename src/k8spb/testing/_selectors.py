"""Label and field selectors, parsed and matched the way kube-apiserver does.

Label selectors follow ``k8s.io/apimachinery/pkg/labels``: the lexer splits on whitespace
(space, tab, CR, LF) and on the symbols ``= ! ( ) , > <``; ``in``/``notin`` are keywords only in
operator position; keys must be qualified names and values valid label values; requirements are
ANDed and kept sorted by key; ``x in ()`` and ``x=`` mean the empty value; ``>``/``<`` take a
64-bit integer.  As in Go, a NUL where a token would start ends the input.

Field selectors follow ``k8s.io/apimachinery/pkg/fields``: terms split on unescaped commas, the
first ``!=``, ``==`` or ``=`` splits a term, no whitespace is trimmed, values may escape ``\\``,
``,`` and ``=`` with a backslash, and a missing field reads as the empty string.

Errors are :class:`SelectorError` with kube-apiserver's message text (a 400 BadRequest there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from k8spb.testing._validation import go_quote, label_value, qualified_name

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "label_selector_from_dict",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """A label or field selector that kube-apiserver would reject with 400 BadRequest."""


# --------------------------------------------------------------------------- validation

_INT64_RE = re.compile(r"[+-]?[0-9]+")


def _go_string_slice(values: tuple[str, ...] | None) -> str:
    """Format like Go's ``%#v`` of a ``[]string``."""
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


def _invalid(path: str, bad: str, detail: str) -> str:
    return f"{path}: Invalid value: {bad}: {detail}"


def _aggregate(errors: list[str]) -> str | None:
    seen: list[str] = []
    for e in errors:
        if e not in seen:
            seen.append(e)
    if not seen:
        return None
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def _parse_int64(s: str) -> int | None:
    if not _INT64_RE.fullmatch(s):
        return None
    v = int(s)
    if not -(2**63) <= v < 2**63:
        return None
    return v


# --------------------------------------------------------------------------- label selectors

EXISTS = "exists"
DOES_NOT_EXIST = "!"
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)


def _new_requirement(key: str, op: str, values: tuple[str, ...]) -> Requirement:
    """Validate like ``labels.NewRequirement``; the error text is kube-apiserver's."""
    errs: list[str] = []
    key_errs = qualified_name(key)
    if key_errs:
        errs.append(_invalid("key", go_quote(key), "; ".join(key_errs)))
    if op in (IN, NOT_IN):
        if not values:
            errs.append(
                _invalid("values", _go_string_slice(values), "for 'in', 'notin' operators, values set can't be empty")
            )
    elif op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(values) != 1:
            errs.append(
                _invalid("values", _go_string_slice(values), "exact-match compatibility requires one single value")
            )
    elif op in (EXISTS, DOES_NOT_EXIST):
        if values:
            errs.append(
                _invalid("values", _go_string_slice(values), "values set must be empty for exists and does not exist")
            )
    elif op in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(
                _invalid("values", _go_string_slice(values), "for 'Gt', 'Lt' operators, exactly one value is required")
            )
        for i, v in enumerate(values):
            if _parse_int64(v) is None:
                errs.append(
                    _invalid(f"values[{i}]", go_quote(v), "for 'Gt', 'Lt' operators, the value must be an integer")
                )
    else:  # pragma: no cover - callers only pass known operators
        errs.append(f"operator: Unsupported value: {go_quote(op)}")
    for i, v in enumerate(values):
        v_errs = label_value(v)
        if v_errs:
            errs.append(_invalid(f"values[{i}][{key}]", go_quote(v), "; ".join(v_errs)))
    message = _aggregate(errs)
    if message is not None:
        raise SelectorError(message)
    return Requirement(key, op, values)


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key``, an operator and its values.

    ``operator`` is one of ``"in" "notin" "=" "==" "!=" "exists" "!" "gt" "lt"`` (the
    ``selection.Operator`` strings).  Values are sorted and deduplicated for ``in``/``notin``.
    """

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement."""
        op = self.operator
        has = self.key in labels
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return has and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return not has or labels[self.key] not in self.values
        if op == EXISTS:
            return has
        if op == DOES_NOT_EXIST:
            return not has
        if op in (GREATER_THAN, LESS_THAN):
            if not has or len(self.values) != 1:
                return False
            got = _parse_int64(labels[self.key])
            want = _parse_int64(self.values[0])
            if got is None or want is None:
                return False
            return got > want if op == GREATER_THAN else got < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op == EXISTS:
            return self.key
        sym = {IN: " in ", NOT_IN: " notin ", GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        vals = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            vals = f"({vals})"
        return f"{self.key}{sym}{vals}"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: the AND of its requirements (sorted by key)."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False
    """True for the selector of a null ``LabelSelector``, which matches no object."""

    @property
    def empty(self) -> bool:
        """True when the selector matches every label set."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# token kinds
_T_END, _T_CLOSE, _T_COMMA, _T_NOT, _T_DEQ, _T_EQ, _T_GT, _T_ID, _T_IN, _T_LT, _T_NEQ, _T_NOTIN, _T_OPEN = range(13)
_SYMBOLS = {
    ")": _T_CLOSE,
    ",": _T_COMMA,
    "!": _T_NOT,
    "==": _T_DEQ,
    "=": _T_EQ,
    ">": _T_GT,
    "<": _T_LT,
    "!=": _T_NEQ,
    "(": _T_OPEN,
}
_KEYWORDS = {"in": _T_IN, "notin": _T_NOTIN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    tokens: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n or text[i] == "\x00":
            tokens.append((_T_END, ""))
            return tokens
        if text[i] in _SPECIAL:
            # longest run of special symbols that still forms a known token
            lit = text[i]
            i += 1
            while i < n and text[i] in _SPECIAL and lit + text[i] in _SYMBOLS:
                lit += text[i]
                i += 1
            if i < n and text[i] == "\x00":
                i += 1  # Go's reader consumed the NUL that ended the symbol
            tokens.append((_SYMBOLS[lit], lit))
            continue
        start = i
        while i < n and text[i] != "\x00" and text[i] not in _SPECIAL and text[i] not in _WHITESPACE:
            i += 1
        word = text[start:i]
        if i < n and text[i] == "\x00":
            i += 1  # Go's reader consumed the NUL that ended the identifier
        tokens.append((_KEYWORDS.get(word, _T_ID), word))


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def _peek(self, values_context: bool = True) -> tuple[int, str]:
        tok, lit = self.tokens[self.pos]
        if values_context and tok in (_T_IN, _T_NOTIN):
            tok = _T_ID
        return tok, lit

    def _next(self, values_context: bool = True) -> tuple[int, str]:
        tok = self._peek(values_context)
        self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self._peek()
            if tok in (_T_ID, _T_NOT):
                try:
                    reqs.append(self._requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                t, lit2 = self._next()
                if t == _T_END:
                    return reqs
                if t == _T_COMMA:
                    t2, lit3 = self._peek()
                    if t2 not in (_T_ID, _T_NOT):
                        raise SelectorError(f"found '{lit3}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit2}', expected: ',' or 'end of string'")
            elif tok == _T_END:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        op = ""
        tok, lit = self._next()
        if tok == _T_NOT:
            op = DOES_NOT_EXIST
            tok, lit = self._next()
        if tok != _T_ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key_errs = qualified_name(lit)
        if key_errs:
            raise SelectorError(_invalid("<nil>", go_quote(lit), "; ".join(key_errs)))
        key = lit
        if self._peek()[0] in (_T_END, _T_COMMA) and op != DOES_NOT_EXIST:
            op = EXISTS
        if op in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(key, op, ())
        tok, lit = self._next(values_context=False)
        op = {
            _T_IN: IN,
            _T_EQ: EQUALS,
            _T_DEQ: DOUBLE_EQUALS,
            _T_GT: GREATER_THAN,
            _T_LT: LESS_THAN,
            _T_NOTIN: NOT_IN,
            _T_NEQ: NOT_EQUALS,
        }.get(tok, "")
        if not op:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        values = self._set_values() if op in (IN, NOT_IN) else self._exact_value()
        return _new_requirement(key, op, tuple(sorted(values)))

    def _set_values(self) -> set[str]:
        tok, lit = self._next()
        if tok != _T_OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._peek()
        if tok in (_T_ID, _T_COMMA):
            values = self._identifiers()
            if self._next()[0] != _T_CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _T_CLOSE:
            self._next()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self._next()
            if tok == _T_ID:
                values.add(lit)
                tok2, lit2 = self._peek()
                if tok2 == _T_COMMA:
                    continue
                if tok2 == _T_CLOSE:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _T_COMMA:
                if not values:
                    values.add("")
                tok2, _ = self._peek()
                if tok2 == _T_CLOSE:
                    values.add("")
                    return values
                if tok2 == _T_COMMA:
                    self._next()
                    values.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        tok, _ = self._peek()
        if tok in (_T_END, _T_COMMA):
            return {""}
        tok, lit = self._next()
        if tok == _T_ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` query parameter; the empty string selects everything."""
    reqs = _LabelParser(text).parse()
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``meta/v1 LabelSelector`` dict like ``metav1.LabelSelectorAsSelector``.

    ``None`` matches nothing; ``{}`` (no matchLabels, no matchExpressions) matches everything.
    """
    if selector is None:
        return LabelSelector(nothing=True)
    if not isinstance(selector, Mapping):
        raise SelectorError(f"a label selector must be an object, not {type(selector).__name__}")
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise SelectorError("matchLabels must be an object and matchExpressions a list")
    reqs: list[Requirement] = []
    for key in sorted(match_labels):
        value = match_labels[key]
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError("matchLabels keys and values must be strings")
        reqs.append(_new_requirement(key, EQUALS, (value,)))
    for expr in expressions:
        if not isinstance(expr, Mapping):
            raise SelectorError("each matchExpressions entry must be an object")
        key = expr.get("key", "")
        operator = expr.get("operator", "")
        values = expr.get("values") or []
        if not isinstance(key, str) or not isinstance(operator, str) or not isinstance(values, list):
            raise SelectorError("matchExpressions entries need a string key, a string operator and a values list")
        if not all(isinstance(v, str) for v in values):
            raise SelectorError("matchExpressions values must be strings")
        op = _EXPRESSION_OPERATORS.get(operator)
        if op is None:
            raise SelectorError(f"{go_quote(operator)} is not a valid label selector operator")
        reqs.append(_new_requirement(key, op, tuple(values)))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


# --------------------------------------------------------------------------- field selectors


@dataclass(frozen=True)
class FieldRequirement:
    """One field term: ``field``, ``"="`` (also for ``==``) or ``"!="``, and the unescaped value."""

    field: str
    operator: str
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether ``fields`` satisfy the term (a missing field reads as ``""``)."""
        got = fields.get(self.field, "")
        return got == self.value if self.operator == EQUALS else got != self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: the AND of its terms (sorted by their source text)."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the selector matches everything."""
        return not self.requirements

    @property
    def fields(self) -> frozenset[str]:
        """The field names the selector refers to."""
        return frozenset(r.field for r in self.requirements)

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether an object with these selectable field values is selected."""
        return all(r.matches(fields) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def escape_field_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` for use as a field selector value."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(text: str) -> list[str]:
    if not text:
        return []
    terms: list[str] = []
    start = 0
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape_field_value(value: str) -> str:
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a ``fieldSelector`` query parameter; the empty string selects everything."""
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        for i in range(len(part)):
            op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
            if op is not None:
                lhs, rhs = part[:i], part[i + len(op) :]
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        reqs.append(FieldRequirement(lhs, NOT_EQUALS if op == "!=" else EQUALS, _unescape_field_value(rhs)))
    return FieldSelector(tuple(reqs))
