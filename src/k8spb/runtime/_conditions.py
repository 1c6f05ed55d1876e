"""Conditions: predicates for :func:`await_condition`, status conditions, label selectors as strings.

A predicate takes the object, or None when it does not exist, and says whether the wait is over.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "all_of",
    "any_of",
    "condition_is_true",
    "find_condition",
    "is_crd_established",
    "is_deleted",
    "is_job_completed",
    "is_pod_running",
    "negate",
    "remove_condition",
    "selector_to_string",
    "set_condition",
]

Predicate = Callable[[Any], bool]
C = TypeVar("C")


# ---------------------------------------------------------------------------------------------------------
# Predicates


def _conditions(obj: Any) -> list[Any]:
    status = getattr(obj, "status", None) if obj is not None else None
    return list(getattr(status, "conditions", None) or ())


def condition_is_true(type_: str) -> Predicate:
    """The object's ``status.conditions`` has ``type_`` with status "True"."""

    def check(obj: Any) -> bool:
        return any(c.type == type_ and c.status == "True" for c in _conditions(obj))

    return check


def is_pod_running() -> Predicate:
    """The pod is in phase Running."""

    def check(obj: Any) -> bool:
        status = getattr(obj, "status", None) if obj is not None else None
        return getattr(status, "phase", None) == "Running"

    return check


def is_job_completed() -> Predicate:
    """The job has a Complete condition that is true."""
    return condition_is_true("Complete")


def is_crd_established() -> Predicate:
    """The CustomResourceDefinition is Established (its resource is served)."""
    return condition_is_true("Established")


def is_deleted(uid: str) -> Predicate:
    """The object with ``uid`` is gone (absent, or replaced by another object of the same name)."""

    def check(obj: Any) -> bool:
        meta = getattr(obj, "metadata", None) if obj is not None else None
        return meta is None or meta.uid != uid

    return check


def all_of(*predicates: Predicate) -> Predicate:
    """Every predicate holds."""
    return lambda obj: all(p(obj) for p in predicates)


def any_of(*predicates: Predicate) -> Predicate:
    """Some predicate holds."""
    return lambda obj: any(p(obj) for p in predicates)


def negate(predicate: Predicate) -> Predicate:
    """The predicate does not hold."""
    return lambda obj: not predicate(obj)


# ---------------------------------------------------------------------------------------------------------
# Status conditions


def find_condition(conditions: list[C] | None, type_: str) -> C | None:
    """The condition of ``type_`` in a list of conditions, or None."""
    return next((c for c in conditions or () if getattr(c, "type", None) == type_), None)


def set_condition(conditions: list[C], new: C, now: datetime.datetime | None = None) -> bool:
    """Set ``new`` in ``conditions`` (in place) as apimachinery's SetStatusCondition does; True if changed.

    A condition of a new type is appended. For an existing type, status, reason, message and
    observedGeneration are updated; lastTransitionTime moves (to ``new``'s, else ``now``) only when
    the status changes.
    """
    stamp = now or datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    type_ = getattr(new, "type", None)
    if not type_:
        raise ValueError("a condition needs a type")
    existing = find_condition(conditions, type_)
    if existing is None:
        if getattr(new, "last_transition_time", None) is None:
            new.last_transition_time = stamp  # type: ignore[attr-defined]
        conditions.append(new)
        return True
    changed = False
    if existing.status != new.status:  # type: ignore[attr-defined]
        existing.status = new.status  # type: ignore[attr-defined]
        existing.last_transition_time = getattr(new, "last_transition_time", None) or stamp  # type: ignore[attr-defined]
        changed = True
    for attr in ("reason", "message", "observed_generation"):
        if hasattr(new, attr) and getattr(existing, attr) != getattr(new, attr):
            setattr(existing, attr, getattr(new, attr))
            changed = True
    return changed


def remove_condition(conditions: list[C], type_: str) -> bool:
    """Remove the condition of ``type_`` (in place); True if there was one."""
    for i, c in enumerate(conditions):
        if getattr(c, "type", None) == type_:
            del conditions[i]
            return True
    return False


# ---------------------------------------------------------------------------------------------------------
# Label selectors

_SET_OPERATORS = {"In": "in", "NotIn": "notin"}


def selector_to_string(selector: Any) -> str:
    """A LabelSelector (the model, its dict form, or a plain ``{label: value}`` mapping) as the string
    of a ``labelSelector`` query, in apimachinery's canonical form (requirements sorted by key).

    The empty selector is ``""`` (everything); None (which selects nothing) is refused.
    """
    if selector is None:
        raise ValueError("a null label selector selects nothing and has no string form")
    if isinstance(selector, Mapping):
        if "matchLabels" in selector or "matchExpressions" in selector:
            labels, exprs = selector.get("matchLabels") or {}, selector.get("matchExpressions") or []
            exprs = [(e.get("key"), e.get("operator"), e.get("values")) for e in exprs]
        else:
            labels, exprs = selector, []
    else:
        labels = selector.match_labels or {}
        exprs = [(e.key, e.operator, e.values) for e in selector.match_expressions or ()]
    reqs: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in labels.items()]
    for key, op, values in exprs:
        if not key:
            raise ValueError(f"label selector requirement without a key ({op} {values})")
        values = list(values or ())
        if op in _SET_OPERATORS:
            if not values:
                raise ValueError(f"label selector requirement {key} {op} needs values")
            reqs.append((key, f"{key} {_SET_OPERATORS[op]} ({','.join(sorted(set(values)))})"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise ValueError(f"label selector requirement {key} {op} takes no values, got {values}")
            reqs.append((key, key if op == "Exists" else f"!{key}"))
        else:
            raise ValueError(f"label selector requirement {key}: unknown operator {op!r} "
                             "(In, NotIn, Exists, DoesNotExist)")
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0]))
