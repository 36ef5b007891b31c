"""The text training set: Davidson tweets, ToxiGen statements and the project's own templates.

    examples = compose(shared_data_dir)

Labels are per canonical text category with a mask: each source labels what it knows and leaves
the rest unknown (see ``LABEL_SOURCES`` below). Splits are deterministic functions of the text
(sha256 buckets), so the held-out test split is the same on every machine and never trained on.

* Davidson: annotator vote fractions as soft targets: toxicity = (hate + offensive) / count,
  identity_attack = hate / count. Tweets are cleaned (HTML entities, @mentions -> "@user", URLs ->
  "http", "RT" dropped). Splits 80 / 10 / 10 (train / val / test).
* ToxiGen: hate -> toxicity and identity_attack 1; neutral -> 0. Splits 60 / 15 / 25 (the test part
  is larger because the set is small).
* Templates (``text_templates``): every group template over every group; train split only.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from safety.evaluation.suites import load_jsonl
from safety.taxonomy import TEXT_CATEGORIES, Category
from safety.training import text_templates

#: Order of the heads in every array here and in the trained artifact.
LABELS: tuple[Category, ...] = TEXT_CATEGORIES
_KEY = {"t": Category.TOXICITY, "s": Category.SEVERE_TOXICITY, "i": Category.INSULT, "h": Category.THREAT,
        "a": Category.IDENTITY_ATTACK, "o": Category.OBSCENE}

#: (buckets of 20) train / val / test, per source.
SPLITS = {"davidson": (16, 2, 2), "toxigen": (12, 3, 5)}

_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_RT = re.compile(r"(^|\s)RT(\s|:|$)")
_SPACES = re.compile(r"\s+")


@dataclass
class Example:
    text: str
    source: str
    split: str
    targets: np.ndarray  # (6,) float in [0, 1]
    mask: np.ndarray  # (6,) bool: which targets are known
    weight: float = 1.0
    kind: str = ""
    groups: list[str] = field(default_factory=list)
    row: int | None = None  # row number in the source file (held-out manifest)


def clean_tweet(text: str) -> str:
    text = html.unescape(text)
    text = _URL.sub("http", text)
    text = _MENTION.sub("@user", text)
    text = _RT.sub(" ", text)
    return _SPACES.sub(" ", text).strip(" :")


def split_of(text: str, source: str) -> str:
    train, val, _ = SPLITS[source]
    bucket = int(hashlib.sha256(f"{source}\x00{text}".encode()).hexdigest(), 16) % 20
    return "train" if bucket < train else "val" if bucket < train + val else "test"


def _labels(**known: float) -> tuple[np.ndarray, np.ndarray]:
    targets = np.zeros(len(LABELS), dtype=np.float32)
    mask = np.zeros(len(LABELS), dtype=bool)
    for key, value in known.items():
        index = LABELS.index(_KEY[key])
        targets[index], mask[index] = value, True
    return targets, mask


def load_davidson(path: Path) -> list[Example]:
    examples = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row_number, row in enumerate(csv.DictReader(fh)):
            text = clean_tweet(row["tweet"])
            if not text:
                continue
            count = float(row["count"])
            hate, offensive = float(row["hate_speech"]) / count, float(row["offensive_language"]) / count
            targets, mask = _labels(t=hate + offensive, a=hate)
            examples.append(Example(text, "davidson", split_of(text, "davidson"), targets, mask,
                                    kind=("hate", "offensive", "neither")[int(row["class"])], row=row_number))
    return examples


def load_toxigen(path: Path) -> list[Example]:
    examples = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row_number, row in enumerate(csv.DictReader(fh)):
            text = row["text"].strip()
            hate = 1.0 if row["label"] == "hate" else 0.0
            targets, mask = _labels(t=hate, a=hate)
            examples.append(Example(text, "toxigen", split_of(text, "toxigen"), targets, mask, weight=3.0,
                                    kind=row["label"], groups=[row["target_group"]], row=row_number))
    return examples


def template_examples(weight: float = 2.0) -> list[Example]:
    examples = []
    for kind, (labels, templates) in text_templates.GROUP_TEMPLATES.items():
        for template in templates:
            for adjective, plural in text_templates.GROUPS:
                text = template.format(a=adjective, P=plural)
                text = text[0].upper() + text[1:]
                targets, mask = _labels(**labels)
                examples.append(Example(text, "templates", "train", targets, mask, weight=weight, kind=kind,
                                        groups=[plural]))
    for kind, (labels, templates) in text_templates.PLAIN_TEMPLATES.items():
        for text in templates:
            for variant in {text, text.lower(), text.rstrip(".!")}:
                targets, mask = _labels(**labels)
                examples.append(Example(variant, "templates", "train", targets, mask, weight=weight * 2, kind=kind))
    return examples


def default_data_dir() -> Path:
    """``../shared/data`` beside the repository."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def evaluation_texts(root: Path | None = None) -> set[str]:
    """Every text of the evaluation suites under ``eval/text`` (normalised keys), for decontamination."""
    root = root or Path(__file__).resolve().parents[2] / "eval" / "text"
    return {_key(row["text"]) for suite in sorted(root.glob("*/suite.jsonl")) for row in load_jsonl(suite)}


def compose(shared_data: Path, *, exclude: set[str] = frozenset()) -> list[Example]:
    """All examples; training examples whose text is in ``exclude`` (evaluation suites) are dropped."""
    examples = (load_davidson(shared_data / "davidson" / "labeled_data.csv")
                + load_toxigen(shared_data / "toxigen" / "toxigen_sentences.csv")
                + template_examples())
    return [e for e in examples if e.split != "train" or _key(e.text) not in exclude]
