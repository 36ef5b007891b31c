from __future__ import annotations

import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import safety.detectors.text.normalize as nz
from safety.detectors.text.normalize import TRANSFORMS, Variant, normalize, variants

# Benign text that must come out of normalisation exactly as it went in.
BENIGN_UNCHANGED = [
    "Scunthorpe", "assassin", "cocktail", "Essex", "class", "grass", "therapist", "analysis",
    "Sussex", "Middlesex", "Dick Van Dyke", "shiitake", "cockpit", "Hancock", "Penistone",
    "arsenal", "sextant", "Pakistan", "Matsushita", "2024", "3 apples", "R2-D2", "B2B", "COVID-19",
    "MP3", "I/O", "café", "naïve", "привет мир", "καλημέρα", "ναι", "Ελλάδα", "Москва",
    "I am a cat", "x86", "i7", "3kg", "5pm", "1st", "2nd", "4th", "90s", "1080p", "5x5", "h1n1",
    "$5", "$100", "@john", "#1", "1000", "bob.smith@example.com", "https://example.com/a1b3?x=4",
    "www.l33t.com", "visit example.io today", "e.g. a dog", "i.e. a cat", "f*ck", "sh*t", "s**t",
    "C++", "A+", "hello!", "Yahoo!", "3.14", "10:30am", "24/7", "4x4", "1v1", "4chan", "k8s",
    "Meet me at 5pm, ok?", "The 1st of May", "cool", "bookkeeper", "❤️", "👨\u200d👩\u200d👧",
    "👍🏽", "Hello, world.", "J K Rowling", "Plan B", "Tiếng Việt", "שָׁלוֹם", "नमस्ते", "日本語",
    "Turkey's capital", "don't", "rock'n'roll", "A-B testing", "T-shirt", "x-ray", "U.S.",
]


@pytest.mark.parametrize("text", BENIGN_UNCHANGED)
def test_benign_text_is_unchanged(text):
    assert normalize(text) == (text, ())
    assert variants(text) == [Variant("raw", text, ())]


# --- one table per transform: (input, expected output) --------------------------------------------

NFKC_CASES = [
    ("ｉｄｉｏｔ", "idiot"),  # fullwidth
    ("𝐢𝐝𝐢𝐨𝐭", "idiot"),  # mathematical bold
    ("𝓲𝓭𝓲𝓸𝓽", "idiot"),  # mathematical script
    ("ﬁlthy", "filthy"),  # ligature
    ("ⓘⓓⓘⓞⓣ", "idiot"),  # circled
    ("plain text", "plain text"),
    ("café", "café"),
]


@pytest.mark.parametrize(("text", "expected"), NFKC_CASES)
def test_nfkc(text, expected):
    assert nz.nfkc(text) == expected


INVISIBLE_CASES = [
    ("st\u200bupid", "stupid"),
    ("i\u200cd\u200di\u2060o\ufefft", "idiot"),
    ("id\u00adiot", "idiot"),  # soft hyphen
    ("\u202eidiot\u202c", "idiot"),  # bidi override
    ("i\u2066d\u2069iot", "idiot"),  # bidi isolates
    ("i\u180ed\u034fiot", "idiot"),  # Mongolian vowel separator, combining grapheme joiner
    ("i\u2061d\u2064iot", "idiot"),  # invisible operators
    ("id\U000e0069iot", "idiot"),  # tag character
    ("i\ufe0fdiot", "idiot"),  # variation selector inside a word
    ("i\u0338\u0321\u031bd\u0337\u0328\u031bi\u0335\u0322\u031bot", "idiot"),  # zalgo: 3 marks per letter
    ("i\u0336d\u0336i\u0336o\u0336t\u0336", "idiot"),  # strike-through "font"
    ("i\u0332d\u0332i\u0332o\u0332t\u0332", "idiot"),  # underline "font"
    ("café naïve", "café naïve"),  # one or two accents are kept
    ("a ≠ b, café", "a ≠ b, café"),  # a mark composed into a symbol is not a decoration
    ("e\u0301\u0336", "é"),  # a decoration next to an accent
    ("cafe\u0301", "cafe\u0301"),  # a decomposed accent is not invisible (nfkc composes it)
    ("Tiếng Việt", "Tiếng Việt"),  # two marks on one letter: kept
    ("❤️", "❤️"),  # variation selector after an emoji: kept
    ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # joiners between emoji: kept
]


@pytest.mark.parametrize(("text", "expected"), INVISIBLE_CASES)
def test_invisible(text, expected):
    assert nz.invisible(text) == expected


def test_invisible_covers_every_format_character():
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)) == "Cf" and cp != 0x200D:  # U+200D: kept between emoji
            assert nz.invisible(f"a{chr(cp)}b") == "ab", f"U+{cp:04X} is a format character left in text"
    for cp in (0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202E, 0x2060, 0x2064, 0x2066, 0x2069,
               0xFEFF, 0x00AD, 0x180E, 0x034F, 0xFE0F):
        assert nz.invisible(f"a{chr(cp)}b") == "ab", f"U+{cp:04X}"


HOMOGLYPH_CASES = [
    ("ѕtupid", "stupid"),  # Cyrillic dze inside a Latin word
    ("іdіot", "idiot"),  # Cyrillic i
    ("ѕтupіd", "stupid"),  # Cyrillic te
    ("уоu аrе аn іdіот", "you are an idiot"),  # "уоu" is all look-alikes, in Latin text
    ("ΙDΙΟΤ", "IDIOT"),  # Greek capitals
    ("ιdιοt", "idiot"),  # Greek lower case
    ("ʏᴏᴜ ɪᴅɪᴏᴛ", "you idiot"),  # small capitals are always mapped
    ("ѕhut up", "shut up"),
    ("hello сор", "hello cop"),  # all look-alikes, Latin context
    ("привет мир", "привет мир"),  # real Russian
    ("сок", "сок"),  # all look-alikes but no Latin context
    ("Привет! I like сок", "Привет! I like сок"),  # real Cyrillic in the text: all-look-alike words kept
    ("Привет! I like ѕoup", "Привет! I like soup"),  # but a mixed word is still mapped
    ("καλημέρα", "καλημέρα"),
    ("ναι", "ναι"),
    ("Ελλάδα and Athens", "Ελλάδα and Athens"),
]


@pytest.mark.parametrize(("text", "expected"), HOMOGLYPH_CASES)
def test_homoglyph(text, expected):
    assert nz.homoglyph(text) == expected


LEET_CASES = [
    ("1d10t", "idiot"),
    ("n00b", "noob"),
    ("l33t c0d3rs", "leet coders"),
    ("h3ll0 fr13nd", "hello friend"),
    ("sh!t", "shit"),
    ("b!tch", "bitch"),
    ("5hit", "shit"),
    ("$hit", "shit"),
    ("5h17", "shit"),
    ("a$$", "ass"),
    ("a55hole", "asshole"),
    ("b@stard", "bastard"),
    ("|oser", "loser"),
    ("1D10T", "IDIOT"),  # all capitals stay capitals
    ("st+upid", "sttupid"),  # '+' between letters is a 't'
    ("sh1t!", "shit!"),  # a trailing '!' is punctuation
    ("#n00b", "#noob"),  # a hashtag's body
    ("you 1d10t.", "you idiot."),
    ("(1d10t)", "(idiot)"),
    ("$7upid", "stupid"),  # two leading substitutes
    ("84ck", "back"),
    ("!d107", "idiot"),  # a leading '!' is an 'i'
    ("m1$$", "miss"),
    ("Jew$", "Jews"),
    ("dumbes7", "dumbest"),  # one trailing digit after three letters
    ("idio7", "idiot"),
    ("c4r35", "cares"),
    ("r39r37", "regret"),
    ("@n1m4l5", "animals"),  # not a mention: the rest is leet
    ("@w@y", "away"),
    ("$0m30ne", "someone"),  # not an amount
    # left alone
    ("MP3", "MP3"), ("x86", "x86"), ("i7", "i7"), ("R2-D2", "R2-D2"), ("B2B", "B2B"),
    ("COVID-19", "COVID-19"), ("3kg", "3kg"), ("5pm", "5pm"), ("1st", "1st"), ("4th", "4th"),
    ("90s", "90s"), ("1080p", "1080p"), ("h1n1", "h1n1"), ("5x5", "5x5"), ("4chan", "4chan"),
    ("$5", "$5"), ("$100", "$100"), ("@john", "@john"), ("#1", "#1"), ("2024", "2024"),
    ("3 apples", "3 apples"), ("bob@example.com", "bob@example.com"),
    ("https://l33t.example/1d10t", "https://l33t.example/1d10t"), ("www.h4x.net", "www.h4x.net"),
    ("wow!!", "wow!!"), ("C++", "C++"), ("US$", "US$"), ("US$5", "US$5"), ("$5k", "$5k"),
    ("python3", "python3"), ("COVID19", "COVID19"), ("win10", "win10"), ("@user123", "@user123"),
    ("10years", "10years"), ("k8s", "k8s"),
    ("a55", "a55"), ("ra75", "ra75"), ("@ss", "@ss"),  # known gaps: read as codes / a mention
    ("д0м", "д0м"),  # non-Latin letters: not leet
]


@pytest.mark.parametrize(("text", "expected"), LEET_CASES)
def test_leet(text, expected):
    assert nz.leet(text) == expected


SPACING_CASES = [
    ("i d i o t", "idiot"),
    ("f.u.c.k", "fuck"),
    ("k-i-l-l", "kill"),
    ("s*h*i*t", "shit"),
    ("f_u_c_k", "fuck"),
    ("F. U. C. K. you", "FUCK. you"),
    ("f . u . c . k", "fuck"),
    ("you are s t u p i d", "you are stupid"),
    ("f * c k", "f*ck"),  # a spaced mask stays a mask
    ("s * h * i * t", "shit"),
    ("i d 1 0 t", "id10t"),  # leet substitutes are items
    ("the U S A team", "the USA team"),
    ("A B C D practice", "ABCD practice"),
    ("s t u p i d  i d i o t", "stupid  idiot"),  # a different separator ends a run
    ("s t u p i d m.o.r.o.n", "stupid moron"),  # an item that starts another run ends this one
    ("c r a w l b-a-c-k", "crawl back"),
    ("f-!-l-7-h-y", "f!l7hy"),  # '!' items (the pipeline then reads it as leet)
    ("you are s t u p i d.Go away", "you are stupid.Go away"),
    ("a i d i o t", "aidiot"),  # known gap: a one-letter word joins the run
    # left alone
    ("I am a cat", "I am a cat"),
    ("a b", "a b"),
    ("1 2 3", "1 2 3"),
    ("5 x 5 x 5", "5 x 5 x 5"),
    ("f*ck", "f*ck"),
    ("sh*t", "sh*t"),
    ("e.g. a dog", "e.g. a dog"),
    ("a.b.c.com", "a.b.c.com"),
    ("well-k-i-l-l", "well-k-i-l-l"), ("xy-a-b-c", "xy-a-b-c"),
]


@pytest.mark.parametrize(("text", "expected"), SPACING_CASES)
def test_spacing(text, expected):
    assert nz.spacing(text) == expected


REPEATS_CASES = [
    ("stuuuupid", 2, "stuupid"),
    ("stuuuupid", 1, "stupid"),
    ("sooo good", 2, "soo good"),
    ("SOooO", 1, "SO"),
    ("yesss!!!", 2, "yess!"),
    ("what????", 2, "what?"),
    ("1000", 1, "1000"),
    ("shiitake cool assassin", 1, "shiitake cool assassin"),
    ("www.example.com", 1, "www.example.com"),
]


@pytest.mark.parametrize(("text", "squeeze", "expected"), REPEATS_CASES)
def test_repeats(text, squeeze, expected):
    assert nz.repeats(text, squeeze) == expected


def test_repeats_rejects_zero():
    with pytest.raises(ValueError):
        nz.repeats("aaa", 0)


# --- the whole pipeline ---------------------------------------------------------------------------

NORMALIZE_CASES = [
    ("1d10t", "idiot", ("leet",)),
    ("i d i o t", "idiot", ("spacing",)),
    ("ѕtupid", "stupid", ("homoglyph",)),
    ("st\u200bupid", "stupid", ("invisible",)),
    ("stuuuupid", "stuupid", ("repeats",)),
    ("ｓｔｕｐｉｄ", "stupid", ("nfkc",)),
    ("i d 1 0 t", "idiot", ("leet", "spacing")),
    ("ѕ т u р і d", "stupid", ("homoglyph", "spacing")),
    ("y0u ѕtuuuup1d 1d10t", "you stuupid idiot", ("homoglyph", "leet", "repeats")),
    ("ｙｏｕ\u200b ｉｄｉｏｔ!!!", "you idiot!", ("nfkc", "invisible", "repeats")),
    ("sh!!!t", "shiit", ("leet", "repeats")),
    ("f * c k  y o u", "f*ck  you", ("spacing",)),
    ("f-!-l-7-h-y", "filthy", ("leet", "spacing")),
    ("Sh\u200bu7 the h3ll up, you wh!ny cry84by", "Shut the hell up, you whiny crybaby",
     ("invisible", "leet")),
]


@pytest.mark.parametrize(("text", "expected", "names"), NORMALIZE_CASES)
def test_normalize(text, expected, names):
    assert normalize(text) == (expected, names)


def test_normalize_squeeze_to_one():
    assert normalize("stuuuupid", squeeze_repeats_to=1) == ("stupid", ("repeats",))


VARIANT_CASES = [
    ("have a nice day", [("raw", "have a nice day", ())]),
    ("1d10t", [("raw", "1d10t", ()), ("normalized", "idiot", ("leet",))]),
    ("stuuuupid", [("raw", "stuuuupid", ()), ("normalized", "stuupid", ("repeats",)),
                   ("normalized_squeezed", "stupid", ("repeats",))]),
    ("you 1d10t!!!", [("raw", "you 1d10t!!!", ()), ("normalized", "you idiot!", ("leet", "repeats"))]),
    ("sooo 1d10t", [("raw", "sooo 1d10t", ()), ("normalized", "soo idiot", ("leet", "repeats")),
                    ("normalized_squeezed", "so idiot", ("leet", "repeats"))]),
    ("yes!!!", [("raw", "yes!!!", ()), ("normalized", "yes!", ("repeats",))]),
]


@pytest.mark.parametrize(("text", "expected"), VARIANT_CASES)
def test_variants(text, expected):
    assert [(v.name, v.text, v.transforms) for v in variants(text)] == expected


def test_transform_names():
    assert TRANSFORMS == ("nfkc", "invisible", "homoglyph", "leet", "spacing", "repeats")
    for fn in TRANSFORMS:
        assert callable(getattr(nz, fn))


IDEMPOTENCE_CASES = (
    [c[0] for c in NORMALIZE_CASES] + [c[0] for c in LEET_CASES] + [c[0] for c in SPACING_CASES]
    + [c[0] for c in HOMOGLYPH_CASES] + [c[0] for c in INVISIBLE_CASES] + BENIGN_UNCHANGED
    + ["a a a", "s * h * i * t", "A0\u0300+0", "www.aaa.com", "Aа\u0300αλ", "сор 1d10t"]
)


@pytest.mark.parametrize("text", IDEMPOTENCE_CASES)
def test_normalize_is_idempotent(text):
    once = normalize(text)[0]
    assert normalize(once)[0] == once


# An alphabet rich in the characters the transforms react to, so random strings hit the rules.
_TRICKY = st.sampled_from(
    list("aeiostdkhlAIOSxX ") + list("0134578@$!|+*.-_    ") + list("аосітλαοп")
    + ["\u200b", "\u200d", "\ufe0f", "❤", "\u0301", "\u0336", "ᴀ", "ı", "ｉ", "2", "#", "/", ":", "?",
       "é", "www.", ".com", "://", "kg", "pm", "st", "th", "!!", "@", "$"]
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TRICKY, max_size=25).map("".join))
def test_normalize_is_idempotent_on_tricky_text(text):
    once = normalize(text)[0]
    assert normalize(once)[0] == once


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_variants_never_raise_raw_first_no_duplicates(text):
    out = variants(text)
    assert out[0] == Variant("raw", text, ())
    texts = [v.text for v in out]
    assert len(set(texts)) == len(texts)
    assert [v.name for v in out] in (["raw"], ["raw", "normalized"], ["raw", "normalized_squeezed"],
                                     ["raw", "normalized", "normalized_squeezed"])
    for v in out[1:]:
        assert v.transforms and set(v.transforms) <= set(TRANSFORMS)
        assert list(v.transforms) == sorted(v.transforms, key=TRANSFORMS.index)


def test_variants_are_fast_on_2000_characters():
    sample = (
        "You are such a 1d10t, meet me at 5pm near www.example.com or mail bob@x.org! The U S A "
        "team won 3-1, sooo good!!! ѕtupid café naïve st\u200bupid i d i o t R2-D2 COVID-19 "
    )
    text = (sample * 20)[:2000]
    variants(text)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            variants(text)
        best = min(best, (time.perf_counter() - start) / 20)
    assert best < 0.002, f"variants() took {best * 1000:.2f} ms on 2,000 characters"
