"""Quality gates: bounds on the numbers of an evaluation run's ``summary.json``.

A gate file is TOML, one table per suite; a gate's key is a dotted path into that suite's
``summary.json`` and its value a ``{ min = ..., max = ... }`` table (either or both, inclusive)::

    [suites.text-functional]
    data = "eval/text/functional/suite.jsonl"
    fast = true        # run in CI
    [suites.text-functional.gates]
    "categories.toxicity.auroc" = { min = 0.90 }
    "fairness.identity_attack.demographic_parity_difference" = { max = 0.2 }

A gate that cannot be measured fails: a path missing from the summary, or a value that is
``null``, NaN, infinite or not a number at all (a gate must never pass silently).
A malformed gate file raises :class:`~safety.errors.ConfigurationError`; a report folder without
a readable ``summary.json`` raises :class:`~safety.errors.InputError`.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safety.errors import ConfigurationError, InputError

__all__ = ["Bound", "Suite", "GateResult", "load_gates", "load_summary", "check", "format_results"]

_SUITE_KEYS = frozenset({"data", "fast", "gates"})
_BOUND_KEYS = frozenset({"min", "max"})


@dataclass(frozen=True)
class Bound:
    """Inclusive bounds: a value passes when ``min <= value <= max`` (a ``None`` side is open)."""

    min: float | None = None
    max: float | None = None

    def __str__(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f">= {_fmt(self.min)}")
        if self.max is not None:
            parts.append(f"<= {_fmt(self.max)}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Suite:
    """One suite of a gate file: its data file (as written, relative paths unresolved), whether it
    runs in the fast CI job, and its gates (summary path -> bound, in file order)."""

    name: str
    data: str
    fast: bool = False
    gates: dict[str, Bound] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate: the value found (``None`` when missing or not a number)."""

    path: str
    value: float | None
    bound: Bound
    passed: bool
    reason: str


def _fmt(x: float) -> str:
    return format(x, ".4g")


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# --- loading ------------------------------------------------------------------------------------


def _bound(suite: str, key: str, raw: Any) -> Bound:
    where = f"suite {suite!r}, gate {key!r}"
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: a bound must be a table like {{ min = 0.9 }}, got {raw!r}")
    unknown = sorted(set(raw) - _BOUND_KEYS)
    if unknown:
        raise ConfigurationError(f"{where}: unknown bound key(s) {unknown}; allowed: 'min', 'max'")
    if not raw:
        raise ConfigurationError(f"{where}: a bound needs 'min' or 'max' (or both)")
    values: dict[str, float] = {}
    for side in ("min", "max"):
        if side in raw:
            value = raw[side]
            if not _number(value) or not math.isfinite(value):
                raise ConfigurationError(f"{where}: {side!r} must be a finite number, got {value!r}")
            values[side] = float(value)
    if "min" in values and "max" in values and values["min"] > values["max"]:
        raise ConfigurationError(f"{where}: min {_fmt(values['min'])} > max {_fmt(values['max'])}")
    return Bound(min=values.get("min"), max=values.get("max"))


def _suite(name: str, raw: Any) -> Suite:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"suite {name!r}: must be a table, got {raw!r}")
    unknown = sorted(set(raw) - _SUITE_KEYS)
    if unknown:
        raise ConfigurationError(f"suite {name!r}: unknown key(s) {unknown}; allowed: {sorted(_SUITE_KEYS)}")
    data = raw.get("data")
    if not isinstance(data, str) or not data.strip():
        raise ConfigurationError(f"suite {name!r}: needs 'data', the path of its suite file")
    fast = raw.get("fast", False)
    if not isinstance(fast, bool):
        raise ConfigurationError(f"suite {name!r}: 'fast' must be true or false, got {fast!r}")
    raw_gates = raw.get("gates", {})
    if not isinstance(raw_gates, dict):
        raise ConfigurationError(f"suite {name!r}: 'gates' must be a table, got {raw_gates!r}")
    gates: dict[str, Bound] = {}
    for key, bound in raw_gates.items():
        if not key or any(not part for part in key.split(".")):
            raise ConfigurationError(f"suite {name!r}: gate path {key!r} has an empty segment")
        gates[key] = _bound(name, key, bound)
    return Suite(name=name, data=data, fast=fast, gates=gates)


def load_gates(path: str | Path) -> dict[str, Suite]:
    """The suites of the gate file at ``path``, by name, in file order.

    Raises :class:`ConfigurationError` (naming the suite and gate) for an unreadable file, invalid
    TOML, keys other than ``suites`` at the top or ``data``/``fast``/``gates`` in a suite, a suite
    without ``data``, and a bound with unknown keys, neither ``min`` nor ``max``, a non-numeric
    side, or ``min > max``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read gate file: {exc}") from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - {"suites"})
    if unknown:
        raise ConfigurationError(f"{path}: unknown top-level key(s) {unknown}; expected [suites.<name>] tables")
    suites = doc.get("suites", {})
    if not isinstance(suites, dict):
        raise ConfigurationError(f"{path}: 'suites' must be a table of [suites.<name>] tables")
    try:
        return {name: _suite(name, raw) for name, raw in suites.items()}
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: {exc.message}") from exc


def load_summary(report_dir: str | Path) -> dict:
    """The ``summary.json`` of an evaluation report folder; :class:`InputError` if it is missing,
    unreadable, not JSON or not a JSON object."""
    path = Path(report_dir) / "summary.json"
    if not path.is_file():
        raise InputError(f"{report_dir}: no summary.json (is it the --report folder of `safety eval`?)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(summary, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(summary).__name__}")
    return summary


# --- checking -----------------------------------------------------------------------------------

_MISSING = object()


def _lookup(node: Any, parts: Sequence[str]) -> Any:
    """The value at ``parts`` under ``node``, or ``_MISSING``.

    A segment is tried alone first, then joined with the following ones, so a key that itself
    contains dots (a group name like ``"u.s."``) is still reachable. Integer segments index lists.
    """
    if not parts:
        return node
    for width in range(1, len(parts) + 1):
        key = ".".join(parts[:width])
        if isinstance(node, Mapping) and key in node:
            child = node[key]
        elif isinstance(node, list) and width == 1 and key.isdigit() and int(key) < len(node):
            child = node[int(key)]
        else:
            continue
        found = _lookup(child, parts[width:])
        if found is not _MISSING:
            return found
    return _MISSING


def _check_one(summary: Mapping[str, Any], path: str, bound: Bound) -> GateResult:
    value = _lookup(summary, path.split("."))
    if value is _MISSING:
        return GateResult(path, None, bound, False, "missing: path not in summary")
    if not _number(value) or not math.isfinite(value):
        shown = "null" if value is None else repr(value) if _number(value) else type(value).__name__
        return GateResult(path, None, bound, False, f"not a number: {shown}")
    v = float(value)
    if bound.min is not None and v < bound.min:
        return GateResult(path, v, bound, False, f"{_fmt(v)} < min {_fmt(bound.min)}")
    if bound.max is not None and v > bound.max:
        return GateResult(path, v, bound, False, f"{_fmt(v)} > max {_fmt(bound.max)}")
    return GateResult(path, v, bound, True, f"{_fmt(v)} {bound}")


def check(summary: Mapping[str, Any], suite: Suite) -> list[GateResult]:
    """One :class:`GateResult` per gate of ``suite``, in file order.

    Bounds are inclusive. A path missing from ``summary`` fails with reason ``"missing: ..."``;
    a ``None``/NaN/infinite/non-numeric value (booleans included) fails with ``"not a number: ..."``.
    """
    return [_check_one(summary, path, bound) for path, bound in suite.gates.items()]


def format_results(results: Sequence[GateResult]) -> str:
    """A human-readable table, one line per gate: ``PASS|FAIL  path  value  bound  reason``."""
    if not results:
        return ""
    rows = [
        ("PASS" if r.passed else "FAIL", r.path, "-" if r.value is None else _fmt(r.value), str(r.bound), r.reason)
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  ".join(cells) + "  " + (row[4] if row[0] == "FAIL" else ""))
    return "\n".join(line.rstrip() for line in lines)
