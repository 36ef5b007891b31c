from __future__ import annotations

from safety.detectors.text.keras_tokenizer import KerasTokenizer, pad_pre, windows


def tok() -> KerasTokenizer:
    return KerasTokenizer(word_index={"you": 1, "are": 2, "an": 3, "idiot": 4, "don't": 5, "caf\u00e9": 6})


def test_keras_word_splitting_rules():
    t = tok()
    # Lower-cased; filter characters become spaces; apostrophes are kept; only ' ' splits.
    assert t.words("You ARE an idiot!!!") == ["you", "are", "an", "idiot"]
    assert t.words("don't\tyou,idiot") == ["don't", "you", "idiot"]
    assert t.words("you\u00a0are") == ["you\u00a0are"]  # a no-break space is not a separator in Keras
    assert t.encode("CAF\u00c9 you zzz idiot") == [6, 1, 4]  # unknown words are dropped (no OOV token)


def test_pre_padding_and_truncation_match_keras():
    assert pad_pre([1, 2, 3], 5) == [0, 0, 1, 2, 3]
    assert pad_pre(list(range(1, 8)), 5) == [3, 4, 5, 6, 7]  # keeps the last tokens
    assert pad_pre([], 3) == [0, 0, 0]


def test_windows_cover_a_long_sequence_end_to_end():
    seq = list(range(1, 251))
    w = windows(seq, 100, 50)
    assert [x[0] for x in w] == [1, 51, 101, 151]
    assert w[-1][-1] == 250 and all(len(x) == 100 for x in w)
    assert windows(seq[:100], 100, 50) == [seq[:100]]
    assert windows([7], 4, 2) == [[0, 0, 0, 7]]
    # The last window always ends on the last token, even off the stride grid.
    assert windows(list(range(1, 131)), 100, 50)[-1][-1] == 130
