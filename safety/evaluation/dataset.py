"""Evaluation data: the rows ``safety eval`` reads, from JSONL, CSV or Parquet.

One row per input::

    {"id": "r1", "text": "...", "image": "photos/a.jpg",
     "labels": {"toxicity": 1, "insult": 0}, "groups": ["women"]}

* ``text`` and/or ``image`` (a path, relative to the data file's folder, or an
  ``eval/image``-style ``shared:``/``pkg:`` reference); at least one of them.
* ``labels``: canonical category -> 0/1; a category left out is *unlabelled* for that row (not
  counted either way). Instead of ``labels``, ``label`` may name one category (1 for it, 0 for
  every other category) or be ``"benign"`` (0 for every category).
* ``groups``: identity groups the row mentions (fairness metrics); optional.
* ``id``: optional; defaults to the row number. Ids must be unique.
* ``split``: optional; ``safety eval --split eval`` keeps only the rows with that value.

CSV: columns ``id``, ``text``, ``image``, ``label`` or ``labels`` (a JSON object), ``groups``
(separated by ``;``). Parquet: the same columns (needs ``pyarrow``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from safety.errors import InputError
from safety.evaluation.suites import load_jsonl, resolve_image
from safety.taxonomy import Category

BENIGN_LABELS = frozenset({"benign", "none", "safe", "clean"})


@dataclass(frozen=True, slots=True)
class EvalRow:
    id: str
    text: str | None
    image: Path | None
    labels: dict[Category, int]
    groups: tuple[str, ...]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load_rows(path: str | Path, *, split: str | None = None) -> list[EvalRow]:
    """Read and validate every row of ``path`` (``.jsonl``, ``.json`` lines, ``.csv``, ``.parquet``);
    with ``split``, only the rows whose ``split`` field equals it (e.g. the image suites' ``eval``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"evaluation data {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json", ".ndjson"}:
        raw = _jsonl(path)
    elif suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            raw = [_from_flat(r) for r in csv.DictReader(fh)]
    elif suffix == ".parquet":
        try:
            import pandas as pd

            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise InputError("reading Parquet needs pandas and pyarrow (pip install pandas pyarrow)") from exc
        raw = [_from_flat({k: (None if v != v else v) for k, v in r.items()}) for r in frame.to_dict("records")]
    else:
        raise InputError(f"evaluation data must be .jsonl, .csv or .parquet, got {path.name}")
    rows = [_row(r, number, path.parent) for number, r in enumerate(raw, 1)
            if split is None or (isinstance(r, dict) and r.get("split") == split)]
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise InputError(f"{path}: id {row.id!r} appears twice")
        seen.add(row.id)
    if not rows:
        raise InputError(f"{path} has no rows")
    return rows


def _jsonl(path: Path) -> list[dict]:
    try:
        return load_jsonl(path)
    except ValueError as exc:  # the suite loader's parse error, as the user's input error
        raise InputError(str(exc)) from exc


def _from_flat(record: dict) -> dict:
    """A CSV/Parquet record (strings) -> the JSONL shape."""
    out = {k: v for k, v in record.items() if v not in (None, "")}
    if isinstance(out.get("labels"), str):
        try:
            out["labels"] = json.loads(out["labels"])
        except json.JSONDecodeError as exc:
            raise InputError(f"labels column is not a JSON object: {out['labels']!r}") from exc
    if isinstance(out.get("groups"), str):
        out["groups"] = [g.strip() for g in out["groups"].split(";") if g.strip()]
    return out


def _row(raw: dict, number: int, base: Path) -> EvalRow:
    where = f"row {number}"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: not an object")
    text, image = raw.get("text"), raw.get("image")
    if text is None and image is None:
        raise InputError(f"{where}: needs a text or an image")
    if text is not None and not isinstance(text, str):
        raise InputError(f"{where}: text must be a string")
    labels = _labels(raw, where)
    groups = raw.get("groups") or []
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) for g in groups):
        raise InputError(f"{where}: groups must be a list of strings")
    image_path = None
    if image is not None:
        if not isinstance(image, str):
            raise InputError(f"{where}: image must be a path")
        image_path = resolve_image(image) if ":" in image.split("/", 1)[0] else base / image
    return EvalRow(id=str(raw.get("id", number)), text=text, image=image_path, labels=labels, groups=tuple(groups))


def _labels(raw: dict, where: str) -> dict[Category, int]:
    if "labels" in raw:
        labels = raw["labels"]
        if not isinstance(labels, dict):
            raise InputError(f"{where}: labels must be an object of category -> 0|1")
        out = {}
        for name, value in labels.items():
            try:
                category = Category(name)
            except ValueError:
                raise InputError(f"{where}: unknown category {name!r}; known: {', '.join(c.value for c in Category)}") from None
            if value not in (0, 1, True, False, "0", "1"):
                raise InputError(f"{where}: label of {name!r} must be 0 or 1, got {value!r}")
            out[category] = int(value)
        return out
    if "label" in raw:
        name = str(raw["label"]).strip().lower()
        if name in BENIGN_LABELS:
            return {c: 0 for c in Category}
        try:
            positive = Category(name)
        except ValueError:
            raise InputError(f"{where}: label {raw['label']!r} is neither a category nor 'benign'") from None
        return {c: int(c is positive) for c in Category}
    raise InputError(f"{where}: needs labels (category -> 0|1) or label")
