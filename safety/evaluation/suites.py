"""Load the evaluation suites kept under ``eval/text/<name>/suite.jsonl`` and ``eval/image/<name>/suite.jsonl``.

The suites live in the source repository next to the package (``<repo>/eval``), not inside it:
they are available in a checkout, not in an installed wheel.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["REPO_ROOT", "EVAL_TEXT_DIR", "EVAL_IMAGE_DIR", "load_jsonl", "suite_path", "load_suite", "labels",
           "group_masks", "shared_data_dir", "image_suite_path", "resolve_image", "write_result", "finish_report"]

REPO_ROOT = Path(__file__).resolve().parents[2]
EVAL_TEXT_DIR = REPO_ROOT / "eval" / "text"


def load_jsonl(path: str | Path) -> list[dict]:
    """Every non-blank line of ``path`` parsed as JSON, in order."""
    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc.msg}") from exc
    return rows


def suite_path(name: str) -> Path:
    """``<repo>/eval/text/<name>/suite.jsonl`` (e.g. ``"identity"``, ``"functional"``).

    The path is returned whether or not the file exists; ``name`` must be a plain folder name.
    """
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise ValueError(f"suite name must be a plain folder name, got {name!r}")
    return EVAL_TEXT_DIR / name / "suite.jsonl"


def load_suite(name: str) -> list[dict]:
    """The rows of the named suite."""
    return load_jsonl(suite_path(name))


def labels(rows: Sequence[dict], category: str) -> NDArray[np.int64]:
    """The 0/1 label of ``category`` for each row, as an int array."""
    return np.array([int(row["labels"][category]) for row in rows], dtype=np.int64)


def group_masks(rows: Sequence[dict], group_ids: Iterable[str] | None = None) -> dict[str, NDArray[np.bool_]]:
    """A boolean mask per identity group over ``rows`` (a row's ``groups`` list), for fairness metrics.

    ``group_ids`` fixes which groups and their order; by default every group seen, sorted.
    """
    if group_ids is None:
        group_ids = sorted({g for row in rows for g in row.get("groups", [])})
    return {g: np.array([g in row.get("groups", []) for row in rows], dtype=bool) for g in group_ids}


EVAL_IMAGE_DIR = REPO_ROOT / "eval" / "image"
#: Where ``shared:`` image references point: ``$SAFETY_SHARED_DATA`` or ``<repo>/../shared/data``.
_SHARED_ENV = "SAFETY_SHARED_DATA"


def shared_data_dir() -> Path:
    env = os.environ.get(_SHARED_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def image_suite_path(name: str) -> Path:
    """``<repo>/eval/image/<name>/suite.jsonl`` (``"benign"``, ``"weapons"``, ``"knives"``)."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise ValueError(f"suite name must be a plain folder name, got {name!r}")
    return EVAL_IMAGE_DIR / name / "suite.jsonl"


def resolve_image(ref: str) -> Path:
    """The file an image suite row names: ``shared:<path>`` (under :func:`shared_data_dir`),
    ``pkg:<package>/<path>`` (inside an installed package) or a plain filesystem path."""
    root, sep, rest = ref.partition(":")
    if sep and root == "shared":
        return shared_data_dir() / rest
    if sep and root == "pkg":
        package, _, inner = rest.partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"package {package!r} for image {ref!r} is not installed")
        return Path(next(iter(spec.submodule_search_locations))) / inner
    return Path(ref)


def finish_report(result: dict, out: str | Path, started: float, *, hide: tuple[str, ...] = ()) -> int:
    """The end of every report script: record ``seconds`` since ``started`` (``time.time()``),
    write ``out``, print the result (less the ``hide`` keys), return exit status 0."""
    import time

    result["seconds"] = round(time.time() - started, 1)
    write_result(result, out)
    print(json.dumps({k: v for k, v in result.items() if k not in hide}, indent=2))
    return 0


def write_result(result: dict, out: str | Path) -> Path:
    """Write an evaluation report's JSON (indented, newline-terminated), creating its folder."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path
