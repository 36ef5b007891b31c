"""A faithful re-implementation of the Keras ``Tokenizer.texts_to_sequences`` used by the Jigsaw
BiLSTM, plus Keras ``pad_sequences`` (pre-padding), without TensorFlow.

Keras lower-cases, replaces each filter character by the split character (a space), splits on that
character only, and drops words outside the ``num_words`` most frequent ones (no OOV token).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

KERAS_DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


@dataclass(frozen=True, slots=True)
class KerasTokenizer:
    word_index: dict[str, int]
    filters: str = KERAS_DEFAULT_FILTERS
    lower: bool = True
    split: str = " "

    @classmethod
    def from_vocab_file(cls, path: Path, *, filters: str = KERAS_DEFAULT_FILTERS, lower: bool = True) -> "KerasTokenizer":
        """``vocab.txt``: line *i* (1-based) is the word with index *i*; index 0 is padding."""
        words = path.read_bytes().decode("utf-8").split("\n")  # no newline translation: "\r" may be in a word
        if words and words[-1] == "":
            words.pop()
        return cls(word_index={w: i for i, w in enumerate(words, start=1)}, filters=filters, lower=lower)

    def words(self, text: str) -> list[str]:
        if self.lower:
            text = text.lower()
        text = text.translate(str.maketrans({c: self.split for c in self.filters}))
        return [w for w in text.split(self.split) if w]

    def encode(self, text: str) -> list[int]:
        index = self.word_index
        return [index[w] for w in self.words(text) if w in index]

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]


def pad_pre(sequence: Sequence[int], maxlen: int, value: int = 0) -> list[int]:
    """Keras ``pad_sequences(..., padding='pre', truncating='pre')`` for one sequence."""
    tail = list(sequence[-maxlen:]) if maxlen else []
    return [value] * (maxlen - len(tail)) + tail


def windows(sequence: Sequence[int], maxlen: int, stride: int) -> list[list[int]]:
    """Split a long sequence into pre-padded windows of ``maxlen`` tokens, ``stride`` apart.

    A sequence that fits is one window, identical to Keras' own padding. A longer one is covered
    end to end (the last window ends on the last token), so no part of a long text goes unread,
    where Keras would silently keep only the last ``maxlen`` tokens.
    """
    if len(sequence) <= maxlen:
        return [pad_pre(sequence, maxlen)]
    starts = list(range(0, len(sequence) - maxlen + 1, stride))
    if starts[-1] != len(sequence) - maxlen:
        starts.append(len(sequence) - maxlen)
    return [list(sequence[s : s + maxlen]) for s in starts]
