"""Build the obfuscation evaluation suite from ``base.jsonl``.

    python eval/text/obfuscation/generate.py      # writes eval/text/obfuscation/suite.jsonl

Deterministic (one ``random.Random(0)`` for the whole build). For each toxic base sentence it
writes six obfuscated variants, one per kind in :data:`KINDS`, each obfuscating every *target*
word: a word of four letters or more that is not a stop word. The obfuscations are written here,
independently of ``safety.detectors.text.normalize`` (the thing under test), which this script
must never import.

Rows (JSON lines):

* ``{"id": "tox-001", "text": ..., "kind": "toxic", "categories": [...]}`` — the base sentence;
* ``{"id": "tox-001/leet", "base_id": "tox-001", "text": ..., "obfuscation": "leet",
  "kind": "toxic_variant", "categories": [...]}`` — its variants (a "mixed" row also has
  ``"parts"``: the two kinds combined);
* ``{"id": "ben-001", "text": ..., "kind": "benign", "look_alike": ...}`` — benign look-alikes,
  copied from ``base.jsonl``.

Importable by path: ``build_suite() -> list[dict]``.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = HERE / "base.jsonl"
SUITE = HERE / "suite.jsonl"
SEED = 0

KINDS = ("leet", "spaced", "homoglyph", "zero_width", "repeats", "mixed")
_SINGLE_KINDS = KINDS[:-1]
# Order in which the two parts of a "mixed" variant are applied: letter substitutions first, then
# stretching, then spacing, then invisible characters.
_MIX_ORDER = ("leet", "homoglyph", "repeats", "spaced", "zero_width")

STOP_WORDS = frozenset("""
    about above after again against also been before being below between both could does doing down
    during each ever every from further have having here herself himself into itself just like more
    most much must myself only other over same should some such than that their theirs them
    themselves then there these they this those through under until very were what when where which
    while whom will with would your yours yourself yourselves going
""".split())

# Common leet substitutions. "l" -> "1" is left out on purpose: the normaliser reads "1" as "i" (a
# documented gap), so including it would measure that one ambiguity over and over.
LEET = {
    "a": ("4", "@"), "e": ("3",), "i": ("1", "!"), "o": ("0",), "s": ("5", "$"), "t": ("7",),
    "b": ("8",), "g": ("9",),
    "A": ("4",), "E": ("3",), "I": ("1",), "O": ("0",), "S": ("5", "$"), "T": ("7",), "B": ("8",),
}
# Latin letter -> Cyrillic look-alike.
CYRILLIC = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445",
    "y": "\u0443", "i": "\u0456", "s": "\u0455", "j": "\u0458",
    "A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "H": "\u041d", "I": "\u0406",
    "K": "\u041a", "M": "\u041c", "O": "\u041e", "P": "\u0420", "T": "\u0422", "X": "\u0425",
}
ZERO_WIDTH = ("\u200b", "\u200b", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
SEPARATORS = (" ", ".", "-", "*", "_")
VOWELS = set("aeiouyAEIOUY")

_WORD = re.compile(r"([A-Za-z]+)")


def is_target(word: str) -> bool:
    return len(word) >= 4 and word.lower() not in STOP_WORDS


def _substitute(word: str, rng: random.Random, table: dict[str, tuple[str, ...] | str], p: float) -> str:
    """Replace each replaceable letter with probability ``p``; at least one when any can be."""
    chars = list(word)
    spots = [i for i, c in enumerate(chars) if c in table]
    if not spots:
        return word
    chosen = [i for i in spots if rng.random() < p] or [rng.choice(spots)]
    for i in chosen:
        options = table[chars[i]]
        chars[i] = options if isinstance(options, str) else rng.choice(options)
    return "".join(chars)


def leet(word: str, rng: random.Random) -> str:
    return _substitute(word, rng, LEET, 0.6)


def homoglyph(word: str, rng: random.Random) -> str:
    return _substitute(word, rng, CYRILLIC, 0.5)


def zero_width(word: str, rng: random.Random) -> str:
    n = min(len(word) - 1, rng.randint(1, 3))
    cuts = sorted(rng.sample(range(1, len(word)), n))
    out, last = [], 0
    for cut in cuts:
        out.append(word[last:cut])
        out.append(rng.choice(ZERO_WIDTH))
        last = cut
    out.append(word[last:])
    return "".join(out)


def repeats(word: str, rng: random.Random) -> str:
    spots = [i for i, c in enumerate(word) if c in VOWELS] or [len(word) - 1]
    i = rng.choice(spots)
    return word[:i] + word[i] * rng.randint(3, 6) + word[i + 1:]


def spaced(word: str, rng: random.Random) -> str:
    """One separator per word, chosen at random: "i d i o t", "i.d.i.o.t", "i-d-i-o-t", ..."""
    return rng.choice(SEPARATORS).join(word)


_OBFUSCATORS = {"leet": leet, "homoglyph": homoglyph, "zero_width": zero_width, "repeats": repeats,
                "spaced": spaced}


def obfuscate(text: str, kinds: tuple[str, ...], rng: random.Random) -> str:
    """Obfuscate every target word of ``text`` with ``kinds`` applied in order.

    Two neighbouring words both spaced out with single spaces get a double space between them, as a
    person would write them ("s t u p i d  i d i o t"); otherwise no reader could tell them apart.
    """

    def word(w: str) -> str:
        if not is_target(w):
            return w
        if "leet" in kinds and "homoglyph" in kinds:
            # Both substitute letters: split the word's letters between them.
            w = leet(w, rng)
            w = "".join(homoglyph(c, rng) if c in CYRILLIC and rng.random() < 0.5 else c for c in w)
            rest = tuple(k for k in kinds if k not in ("leet", "homoglyph"))
        else:
            rest = kinds
        for kind in rest:
            w = _OBFUSCATORS[kind](w, rng)
        return w

    pieces = _WORD.split(text)  # even indexes: the text between words; odd indexes: words
    words = [word(w) for w in pieces[1::2]]
    out = [pieces[0]]
    for i, w in enumerate(words):
        out.append(w)
        gap = pieces[2 * i + 2]
        if gap == " " and i + 1 < len(words) and " " in w and " " in words[i + 1]:
            gap = "  "
        out.append(gap)
    return "".join(out)


def read_base(path: Path = BASE) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_suite(base: list[dict] | None = None) -> list[dict]:
    rng = random.Random(SEED)
    rows = base if base is not None else read_base()
    suite: list[dict] = []
    for row in rows:
        if row["kind"] != "toxic":
            continue
        suite.append(dict(row))
        for kind in KINDS:
            if kind == "mixed":
                parts = tuple(sorted(rng.sample(_SINGLE_KINDS, 2), key=_MIX_ORDER.index))
            else:
                parts = (kind,)
            variant = {
                "id": f"{row['id']}/{kind}",
                "base_id": row["id"],
                "text": obfuscate(row["text"], parts, rng),
                "obfuscation": kind,
                "kind": "toxic_variant",
                "categories": list(row["categories"]),
            }
            if kind == "mixed":
                variant["parts"] = list(parts)
            suite.append(variant)
    suite.extend(dict(row) for row in rows if row["kind"] == "benign")
    return suite


def dumps(rows: list[dict]) -> str:
    # ASCII escapes keep look-alike and invisible characters visible in diffs.
    return "".join(json.dumps(row, ensure_ascii=True) + "\n" for row in rows)


def main() -> None:
    rows = build_suite()
    SUITE.write_text(dumps(rows), encoding="utf-8")
    n_variants = sum(r["kind"] == "toxic_variant" for r in rows)
    print(f"wrote {SUITE} ({len(rows)} rows, {n_variants} toxic variants)")


if __name__ == "__main__":
    main()
