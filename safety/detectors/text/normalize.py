"""Text normalisation against obfuscation: rewrite text, never judge it.

The text detector scores the raw text *and* the normalised forms returned by :func:`variants`,
keeping the max per category, so "1d10t", "i d i o t", "ѕtupid" (Cyrillic ѕ), "st\\u200bupid" and
"stuuuupid" are read as the word they spell. There is no word list of bad words anywhere here: this
module only rewrites characters and spacing; the model decides. Every rule is tuned for precision,
so ordinary text ("Scunthorpe", "assassin", "2024", "3 apples", "R2-D2", "COVID-19", "MP3",
"I/O", e-mail addresses, URLs, Russian or Greek text) comes out unchanged and :func:`variants`
then costs the detector nothing extra.

Transforms, applied in the order of :data:`TRANSFORMS` (each is a public function):

``nfkc``
    ``unicodedata.normalize("NFKC")``: fullwidth forms, mathematical alphanumerics, ligatures,
    circled and superscript letters become plain letters. Pure ASCII text is returned as is.

``invisible``
    Removes invisible characters: every format character (Unicode category ``Cf``: zero-width
    space/joiners U+200B..U+200F, bidi controls U+202A..U+202E and U+2066..U+2069, word joiner and
    invisible operators U+2060..U+2064, BOM U+FEFF, soft hyphen U+00AD, Mongolian vowel separator
    U+180E, tag characters U+E0000..U+E007F, ...), the combining grapheme joiner U+034F and the Hangul
    fillers (U+115F, U+1160, U+3164, U+FFA0) that render as blanks. The zero-width joiner U+200D and
    variation selectors (U+FE00..U+FE0F, U+E0100..U+E01EF) are kept only right after an emoji-like
    symbol (category So or Sk), so "❤️" and family or skin-tone sequences are untouched; anywhere
    else they are removed. "Zalgo" text: after NFD, a letter (or digit, or leet symbol) that carries
    **more than two** combining diacritics (from the diacritical-mark blocks U+0300..U+036F,
    U+0483..U+0489, U+1AB0..U+1AFF, U+1DC0..U+1DFF, U+20D0..U+20FF, U+FE20..U+FE2F) loses all of
    them; one or two marks (café, naïve, Vietnamese ệ) are kept. Decorations that Unicode "fonts"
    put on every letter (underline U+0332/U+0333, strike-through and slash overlays
    U+0334..U+0338, enclosing circles and squares U+20DD..U+20E0, ...) are removed from letters
    ("≠" keeps its slash). Marks of other scripts (Hebrew points, Indic vowel signs) are never
    touched.

``homoglyph``
    Maps look-alike letters to Latin ones (:data:`CONFUSABLES`). Latin-script look-alikes (small
    capitals ``ᴀ ʙ ᴄ``, dotless ``ı``, script ``ɡ``, ``ɑ``) are always mapped. Cyrillic, Greek and
    Armenian look-alikes are mapped word by word (a word is a run of letters and their accents):

    1. a word that mixes Latin letters with look-alikes ("ѕtupid", "іdіot") has its look-alikes
       mapped;
    2. a word made only of look-alikes ("уоu", "сор") is mapped only when the text around it is
       Latin: the text has at least one Latin letter and **no** Cyrillic/Greek/Armenian letter
       without a Latin look-alike.

    So real Russian or Greek ("привет мир", "καλημέρα", "ναι") is never touched: any real sentence
    in those scripts contains letters that have no Latin twin (п, и, λ, η, ...).

``leet``
    Digit and symbol substitutions inside word tokens (a token is a run of letters, digits and
    ``@ $ ! | +``): ``0→o 1→i 3→e 4→a 5→s 7→t 8→b 9→g @→a $→s |→l``; ``!→i`` between letters
    or at the start of a word ("sh!t", "!d10t"; a trailing ``!`` is punctuation); ``+→t`` only
    between letters. A token is rewritten, as a whole, only when its shape is leet:

    * it has at least one Latin letter, only Latin letters, and no digit outside the map (a 2, a 6
      or a non-ASCII digit means a code: "R2-D2", "B2B", "x86", "2nd", "4K60");
    * and one of: substitutes sandwiched between letters ("1d10t", "n00b", "sh!t", "a55hole");
      one or two leading substitutes before two or more letters ("5hit", "$hit", "|oser",
      "57upid", "84ck"); substitutes at both ends, four characters or more ("5h17", "!d107");
      trailing substitutes holding a ``$``, ``|`` or ``@`` — two or more of them, or one after
      three letters ("a$$", "m1$$", "Jew$"; not "US$", "US$5"); one trailing digit after three
      letters or more ("dumbes7", "hur7").

    Never rewritten: pure numbers; codes — letters then two or more digits ("COVID19", "win10",
    "ra75"), or one or two letters then digits ("MP3", "i7", "a55"); a number with a unit or ordinal
    suffix ("3kg", "5pm", "1st", "4th", "90s", "1080p", "10years"; see ``_UNITS``); dimensions
    ("5x5"); money ("$5", "$100", "$5k"); ``@mentions`` (a token starting with ``@`` is left alone
    unless the rest is itself leet or holds another ``@``: "@john" and "@user123" stay, "@n1m4l5"
    and "@w@y" are read); whole whitespace-separated chunks that are e-mail addresses or URLs (a
    scheme, "www.", "name@host.tld", or a bare domain on a common top-level domain); and the names
    in ``_LEET_EXCEPTIONS`` ("4chan", "7up", "k8s", "i18n", "h1n1", "python3", "html5", ...).
    Hashtags are read as their body ("#n00b" → "#noob", "#1" unchanged). All-capital tokens map to
    capitals ("1D10T" → "IDIOT"); otherwise substitutes become lower-case letters.

``spacing``
    Joins runs of three or more single characters separated by one consistent separator — one to
    three spaces, a dot (optionally followed or surrounded by a space), a dash, an underscore or an
    asterisk: "i d i o t" → "idiot", "f.u.c.k" → "fuck", "k-i-l-l" → "kill", "s*h*i*t" → "shit",
    "F. U. C. K." → "FUCK.". An item is a letter, a leet substitute (``0-9 @ $ |``, a run of
    ``!``) or a ``*`` mask: "f * c k" → "f*ck" (the mask stays for the model to read),
    "i d 1 0 t" → "id10t" (then read as leet). A run needs three letters, or two letters among four
    or more items, so "I am a cat", "1 2 3" and "5 x 5" are left alone; "U S A" → "USA" is
    accepted. A dotted/dashed run glued to a longer word ("a.b.c.com", "well-k-i-l-l") is left
    alone. Masked letters inside a word ("f*ck", "sh*t", "s**t") are left as they are. A run ends
    before an item that starts another run with a different non-space separator
    ("s t u p i d m.o.r.o.n" → "stupid moron"). After a join, the character transforms (``nfkc``,
    ``invisible``, ``homoglyph``, ``leet``) run again on the result so the output is a fixed point.

``repeats``
    Runs of three or more identical letters (case-insensitively) shrink to ``squeeze_repeats_to``
    letters (2 for the "normalized" variant, 1 for "normalized_squeezed"): "stuuuupid" → "stuupid"
    / "stupid". Runs of two are never touched ("shiitake", "assassin", "cool"). Repeated ``!`` and
    ``?`` shrink to one. Digits are untouched ("1000"), and so are URLs and e-mail addresses
    ("www.", "aaa@example.com").

Case is kept (the model is uncased). :func:`normalize` is idempotent: the transforms that could
interact (a join creating a new leet word, a mapped letter composing with its accent) are re-run
or re-composed so that normalising the output again changes nothing. Regexes and tables are
compiled at import; :func:`variants` on a 2,000-character text takes well under 2 ms.

Known gaps (kept for precision): "1" is always read as "i", never "l" ("fi1thy" → "fiithy");
letters followed by two digits, or one or two letters followed by digits, read as a code ("ra75",
"a55"); "@" followed by plain letters is a mention ("@ss"); a spaced-out word next to a one-letter
word joins with it ("a i d i o t" → "aidiot"), as do two spaced-out words with the same separator
and a single space between them ("s t u p i d i d i o t").
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "CONFUSABLES",
    "TRANSFORMS",
    "Variant",
    "homoglyph",
    "invisible",
    "leet",
    "nfkc",
    "normalize",
    "repeats",
    "spacing",
    "variants",
]

TRANSFORMS: tuple[str, ...] = ("nfkc", "invisible", "homoglyph", "leet", "spacing", "repeats")


@dataclass(frozen=True, slots=True)
class Variant:
    """One form of a text for the detector to score."""

    name: str  # "raw", "normalized", "normalized_squeezed"
    text: str
    transforms: tuple[str, ...]  # the TRANSFORMS that changed the text to produce it (empty for raw)


# --------------------------------------------------------------------------------------------------
# nfkc


def nfkc(text: str) -> str:
    """Unicode compatibility normalisation (NFKC); ASCII text is returned as is."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text)


# --------------------------------------------------------------------------------------------------
# invisible

# Every Cf character of Unicode 14 (checked against unicodedata by the tests) except U+200D
# (handled with the variation selectors below), plus U+034F (combining grapheme joiner, Mn) and the
# Hangul fillers, which render as blanks.
_ALWAYS_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x115F, 0x1160), (0x180E, 0x180E),
    (0x200B, 0x200C), (0x200E, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE007F),
)
_INVISIBLE_RE = re.compile(
    "[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _ALWAYS_INVISIBLE_RANGES) + "]"
)
# Zero-width joiner and variation selectors: kept only right after an emoji-like symbol
# (category So or Sk: "❤️", family and skin-tone sequences), removed everywhere else.
_JOINER_RUN_RE = re.compile("[\u200d\ufe00-\ufe0f\U000e0100-\U000e01ef]+")


_ZALGO_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_MARKS = frozenset(chr(cp) for lo, hi in ((0x0300, 0x036F), (0x0483, 0x0489), (0x1AB0, 0x1AFF),
                                           (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
                   for cp in range(lo, hi + 1))
# The marks a letter, digit or leet symbol carries (in NFD): more than two is zalgo.
_MARK_STACK_RE = re.compile(f"(?<=[^\\W_]|[@$!|+])[{_ZALGO_MARKS}]+")
# Decorations that "fonts" put on every letter (underline, strike-through, enclosing circle): never
# part of a spelling, always removed.
_DECORATION_MARKS = "\u0332-\u0338\u20d2\u20d3\u20dd-\u20e0\u20e2\u20e4-\u20e6\u20ea\u20eb"
_DECORATION_RE = re.compile(f"[{_DECORATION_MARKS}]+")
_ANY_ZALGO_MARK_RE = re.compile(f"[{_ZALGO_MARKS}]")


def _joiner_run(m: re.Match[str]) -> str:
    start = m.start()
    if start and unicodedata.category(m.string[start - 1]) in ("So", "Sk"):
        return m.group(0)
    return ""


def _recompose(before: str, after: str) -> str:
    """A rewritten letter may now compose with a following accent: keep the output composed (NFC)."""
    if after is before or after == before or after.isascii():
        return after
    return unicodedata.normalize("NFC", after)


def _strip_marks(m: re.Match[str]) -> str:
    marks = m.group(0)
    if len(marks) > 2:
        return ""  # zalgo
    return _DECORATION_RE.sub("", marks)


def invisible(text: str) -> str:
    """Remove invisible format characters and "zalgo" stacks of combining marks."""
    if text.isascii():
        return text
    out = _INVISIBLE_RE.sub("", text)
    if "\u200d" in out or _JOINER_RUN_RE.search(out):
        out = _JOINER_RUN_RE.sub(_joiner_run, out)
    # A stack of three marks, or a decoration, always leaves a mark that NFC cannot compose.
    if _ANY_ZALGO_MARK_RE.search(out):
        decomposed = unicodedata.normalize("NFD", out)
        stripped = _MARK_STACK_RE.sub(_strip_marks, decomposed)
        if stripped != decomposed:
            out = stripped
    return _recompose(text, out)


# --------------------------------------------------------------------------------------------------
# homoglyph

# Latin-script look-alikes: always mapped (no language writes words in small capitals).
_LATIN_LOOKALIKES = {
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s",
    "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    "ı": "i", "ɡ": "g", "ɑ": "a", "ɩ": "i", "ȷ": "j", "ℓ": "l",
}
# Cyrillic, Greek and Armenian look-alikes: mapped by the word rule (module docstring).
_SCRIPT_LOOKALIKES = {
    # Cyrillic lower case
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ӏ": "l", "һ": "h",
    "ԛ": "q", "ԝ": "w", "ү": "y",
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "У": "Y", "Ү": "Y", "Һ": "H", "Ӏ": "I",
    "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W",
    # Greek lower case
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x",
    # Greek capitals
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Armenian
    "օ": "o", "ս": "u", "հ": "h", "ո": "n", "ց": "g", "զ": "q",
}
CONFUSABLES: dict[str, str] = {**_SCRIPT_LOOKALIKES, **_LATIN_LOOKALIKES}

_CONFUSABLE_TABLE = str.maketrans(CONFUSABLES)
_LATIN_LOOKALIKE_TABLE = str.maketrans(_LATIN_LOOKALIKES)


def _char_class(chars: str) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(set(chars))) + "]"


_ANY_CONFUSABLE_RE = re.compile(_char_class("".join(CONFUSABLES)))
_ANY_LATIN_LOOKALIKE_RE = re.compile(_char_class("".join(_LATIN_LOOKALIKES)))
_SCRIPT_LOOKALIKE_RE = re.compile(_char_class("".join(_SCRIPT_LOOKALIKES)))
_LATIN_LETTER_CLASS = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_LATIN_LETTER_RE = re.compile(f"[{_LATIN_LETTER_CLASS}]|" + _char_class("".join(_LATIN_LOOKALIKES)))
_MARK_RE = re.compile(f"[{_ZALGO_MARKS}]")


def _foreign_letters_class() -> str:
    """Letters of the look-alike scripts that have no Latin twin (п, и, λ, η, ...)."""
    blocks = ((0x0370, 0x03FF), (0x0400, 0x052F), (0x0530, 0x058F), (0x1C80, 0x1C8F),
              (0x1F00, 0x1FFF), (0x2DE0, 0x2DFF), (0xA640, 0xA69F))
    chars = [chr(cp) for lo, hi in blocks for cp in range(lo, hi + 1)
             if chr(cp).isalpha() and chr(cp) not in CONFUSABLES]
    return _char_class("".join(chars))


_FOREIGN_LETTER_RE = re.compile(_foreign_letters_class())


def _in_word(c: str) -> bool:
    """A word is a run of letters and their accents."""
    return c.isalpha() or c in _MARKS


def _only_latin(word: str) -> bool:
    return _MARK_RE.sub("", word).isascii()


def homoglyph(text: str) -> str:
    """Map look-alike letters to Latin inside Latin words (rules in the module docstring)."""
    if text.isascii() or not _ANY_CONFUSABLE_RE.search(text):
        return text
    if _ANY_LATIN_LOOKALIKE_RE.search(text):
        text = unicodedata.normalize("NFC", text.translate(_LATIN_LOOKALIKE_TABLE))
        if not _SCRIPT_LOOKALIKE_RE.search(text):
            return text
    latin_context = bool(_LATIN_LETTER_RE.search(text)) and not _FOREIGN_LETTER_RE.search(text)

    pieces, last, n = [], 0, len(text)
    for m in _SCRIPT_LOOKALIKE_RE.finditer(text):
        start = m.start()
        if start < last:
            continue  # inside the word just handled
        while start > last and _in_word(text[start - 1]):
            start -= 1
        end = m.end()
        while end < n and _in_word(text[end]):
            end += 1
        w = text[start:end]
        if _LATIN_LETTER_RE.search(w):  # rule 1: a Latin word with look-alikes inside
            w = w.translate(_CONFUSABLE_TABLE)
        elif latin_context and not _FOREIGN_LETTER_RE.search(w):
            mapped = w.translate(_CONFUSABLE_TABLE)
            if _only_latin(mapped):
                w = mapped  # rule 2: all look-alikes, in Latin text
        pieces.append(text[last:start])
        pieces.append(w)
        last = end
    pieces.append(text[last:])
    return _recompose(text, "".join(pieces))


# --------------------------------------------------------------------------------------------------
# leet

_LEET_MAP = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
             "@": "a", "$": "s", "|": "l"}
_BETWEEN_LETTERS_MAP = {"!": "i", "+": "t"}
_ANY_LEET_CHAR_RE = re.compile(r"[0-9@$!|+]")
_ANY_LETTER_RE = re.compile(r"[^\W\d_]")
_LEET_CHUNK_RE = re.compile(r"(?<!\S)\S*[0-9@$!|+]\S*")
_LEET_TOKEN_RE = re.compile(f"(?:[^\\W_]|[@$!|+]|[{_ZALGO_MARKS}])+")
# A chunk is a URL or an e-mail address when it has a scheme ("://"), "www.", "name@host.tld", or is
# a bare domain on a common top-level domain ("l33t.io"; "1d10t.Go" is a missing space, not a URL).
# Every check is linear in the chunk's length (no backtracking blow-up on long chunks).
_TLDS = frozenset("""
    com net org edu gov mil int info biz io co ai app dev me tv ly gg xyz uk us ca de fr es it nl ru
    cn jp in au br eu ch se no fi dk pl be at nz za mx ar kr ie pt gr tr ua
""".split())
_WWW_RE = re.compile(r"(?i)(?<![\w.])www\.")
_EMAIL_RE = re.compile(r"(?<![\w.+\-])[\w.+\-]++@[\w\-]++\.[A-Za-z]")
_LEADING_PUNCT_RE = re.compile(r"[^\w@$|]*+")
_HOST_RE = re.compile(r"[\w\-]++(?:\.[\w\-]++)++")
_WORD_CHAR_RE = re.compile(r"\w")


def _is_url_or_email(chunk: str) -> bool:
    """Whether a whitespace-free chunk is a URL or an e-mail address."""
    if "://" in chunk:
        return True
    if "www" in chunk.lower() and _WWW_RE.search(chunk):
        return True
    if "@" in chunk and _EMAIL_RE.search(chunk):
        return True
    if "." not in chunk:
        return False
    host = _HOST_RE.match(chunk, _LEADING_PUNCT_RE.match(chunk).end())
    if host is None:
        return False
    rest = chunk[host.end():]
    if rest and rest[0] not in "/:?#" and _WORD_CHAR_RE.search(rest):
        return False
    return host.group(0).rsplit(".", 1)[1].lower() in _TLDS


_NON_LATIN_LETTER_RE = re.compile(f"[^\\W\\d_{_LATIN_LETTER_CLASS}]")
_UNMAPPED_DIGIT_RE = re.compile(r"[26]|(?![0-9])\d")
_LETTERS_THEN_DIGITS_RE = re.compile(r"[A-Za-z]+([0-9]+)")
_DIMENSION_RE = re.compile(r"[0-9]+(?:[xX][0-9]+)+")
_NUMBER_SUFFIX_RE = re.compile(r"[0-9]+([A-Za-z]+)")
_AMOUNT_RE = re.compile(r"\$[0-9]+(?:k|m|b|bn|mm)?", re.IGNORECASE)
_UNITS = frozenset("""
    s st nd rd th am pm k m b x p d g h l c f v w km cm mm kg mg ml mb gb tb kb pb ft in yd mi lb lbs
    oz mph kph kmh hz khz mhz ghz kw kwh mw mah ah px pt em rem yo yr yrs hr hrs min mins sec secs ms
    ns fps rpm bit bits bn mil dpi xl xxl wd gen ce bc ad ish day days hour hours week weeks month
    months year years minute minutes second seconds times percent something plus
""".split())
_LEET_EXCEPTIONS = frozenset("""
    4chan 8chan 9gag 3com 7up 7eleven 1password 4ever k8s i18n l10n a11y w3c c3po hba1c a1c h1n1
    h5n1 h7n9 m4a1 log4j mp3s mp4s 3ds 4runner 3ware 49ers 5ive
    python3 html5 css3 web3 gpt3 gpt4 ipv4 java8 win7 ios7 php5 php7 vue3 sha1 utf8 usb3 doom3
    halo3 quake3 diablo3 fallout3 fallout4 fifa3
""".split())
_TRAILING_SYMBOLS = set("$|@")
_BANGS_RE = re.compile("!{2,}")
_BETWEEN_SYMBOLS = set(_BETWEEN_LETTERS_MAP)


def _letterish(c: str) -> bool:
    return c.isalpha() or c in _MARKS


def _leet_shape(tok: str) -> bool:
    """Whether a candidate token is shaped like leet (rules in the module docstring)."""
    core = tok.rstrip("!+").lstrip("+")  # '!' and '+' at the end are punctuation
    core = _BANGS_RE.sub("!", core)  # "!!!" counts as one character (repeats squeezes it later)
    letters = [i for i, c in enumerate(core) if _letterish(c)]
    if not letters:
        return False
    first, last = letters[0], letters[-1]
    n_letters = len(letters)
    if n_letters != last - first + 1:
        return True  # substitutes sandwiched between letters: "1d10t", "sh!t"
    lead, trail = core[:first], core[last + 1:]
    if lead and trail:
        return len(core) >= 4  # "5h17", "!d107"
    if lead:
        return len(lead) <= 2 and n_letters >= 2  # "5hit", "$hit", "|oser", "57upid", "!diot"
    if not trail:
        return False
    if _AMOUNT_RE.fullmatch(trail):  # "US$5", "HK$100"
        return False
    if any(c in _TRAILING_SYMBOLS for c in trail):  # "a$$", "m1$$", "w4$73", "Jew$" (not "US$")
        return len(trail) >= 2 or n_letters >= 3
    return len(trail) == 1 and n_letters >= 3  # "dumbes7", "hur7" (not "MP3", "COVID19")


def _apply_leet(tok: str) -> str:
    cased = [c for c in tok if c.isalpha()]
    upper = len(cased) >= 2 and all(c.isupper() for c in cased)
    chars = [(_LEET_MAP[c].upper() if upper else _LEET_MAP[c]) if c in _LEET_MAP else c for c in tok]
    n = len(chars)
    i = 0
    while i < n:
        if chars[i] in _BETWEEN_SYMBOLS:
            j = i
            while j < n and chars[j] in _BETWEEN_SYMBOLS:
                j += 1
            before = i > 0 and _letterish(chars[i - 1])
            leading_bang = i == 0 and all(c == "!" for c in chars[i:j])
            if (before or leading_bang) and j < n and _letterish(chars[j]):
                for k in range(i, j):
                    r = _BETWEEN_LETTERS_MAP[chars[k]]
                    chars[k] = r.upper() if upper else r
            i = j
        else:
            i += 1
    return "".join(chars)


def _is_leet(tok: str) -> bool:
    if not _ANY_LETTER_RE.search(tok) or not _ANY_LEET_CHAR_RE.search(tok):
        return False
    if _NON_LATIN_LETTER_RE.search(tok) or _UNMAPPED_DIGIT_RE.search(tok):
        return False
    if tok.lower() in _LEET_EXCEPTIONS or _DIMENSION_RE.fullmatch(tok):
        return False
    code = _LETTERS_THEN_DIGITS_RE.fullmatch(tok)  # "MP3", "i7", "COVID19", "a55"
    if code and (len(code.group(1)) >= 2 or code.start(1) < 3):
        return False
    suffix = _NUMBER_SUFFIX_RE.fullmatch(tok)  # "3kg", "5pm", "1st", "90s"
    if suffix and suffix.group(1).lower() in _UNITS:
        return False
    return _leet_shape(tok)


def _leet_token(m: re.Match[str]) -> str:
    tok = m.group(0)
    if tok[0] == "@":
        # A @mention, unless the body is leet itself or holds another '@': "@n1m4l5", "@w@y".
        body = tok[1:]
        if "@" not in body and not _is_leet(body):
            return tok
        if "@" in body and not _is_leet(tok):
            return tok
        return _apply_leet(tok)
    if _AMOUNT_RE.fullmatch(tok):  # $5, $100, $5k
        return tok
    return _apply_leet(tok) if _is_leet(tok) else tok


def _leet_chunk(m: re.Match[str]) -> str:
    chunk = m.group(0)
    if not _ANY_LETTER_RE.search(chunk) or _is_url_or_email(chunk):
        return chunk
    return _LEET_TOKEN_RE.sub(_leet_token, chunk)


def leet(text: str) -> str:
    """Undo digit/symbol substitutions in tokens shaped like leet (rules in the module docstring)."""
    if not _ANY_LEET_CHAR_RE.search(text):
        return text
    return _recompose(text, _LEET_CHUNK_RE.sub(_leet_chunk, text))


# --------------------------------------------------------------------------------------------------
# spacing

_ITEM = r"(?:[^\W\d_]|[0-9@$|*]|!++)"
_SEP = r"( {1,3}|\. ?| ?- ?| \. |_|\*)"


def _not_another_run(group: int) -> str:
    """An item that starts a run with another non-space separator ("...d m.o.r.o.n") ends this run."""
    return rf"(?!(?!\1)([._*\-]){_ITEM}\{group}{_ITEM})"


_SPACED_RE = re.compile(
    rf"(?<![^\W_])(?<!!){_ITEM}{_SEP}{_ITEM}{_not_another_run(2)}"
    rf"(?:\1{_ITEM}{_not_another_run(3)})+(?![^\W_])"
)
_WORDISH = re.compile(r"[^\W_]")


def _join_run(m: re.Match[str]) -> str:
    run = m.group(0)
    sep = m.group(1)
    items = run.split(sep)
    if any(len(item) != 1 and item.strip("!") for item in items):  # '*' item under a '*' separator
        return run
    letters = sum(item.isalpha() for item in items)
    if not (letters >= 3 or (letters >= 2 and len(items) >= 4)):
        return run
    if " " not in sep:  # a dotted/dashed run glued to a longer word: "a.b.c.com", "well-k-i-l-l"
        text, start, end = m.string, m.start(), m.end()
        if start >= 2 and text[start - 1] == sep[0] and _WORDISH.match(text[start - 2]):
            return run
        if end + 1 < len(text) and text[end] == sep[0] and _WORDISH.match(text[end + 1]):
            return run
    joined = "".join(items)
    if _DIMENSION_RE.fullmatch(joined):
        return run
    # "s * h * i * t" joins to "s*h*i*t", itself a run: join until stable.
    return _SPACED_RE.sub(_join_run, joined)


def spacing(text: str) -> str:
    """Join runs of spaced-out single characters ("i d i o t", "f.u.c.k", "k-i-l-l")."""
    return _recompose(text, _SPACED_RE.sub(_join_run, text))


# --------------------------------------------------------------------------------------------------
# repeats

_RUN_RE = re.compile(r"(.)\1{2,}", re.IGNORECASE | re.DOTALL)  # kept only when the character is a letter
_PUNCT_RUN_RE = re.compile(r"([!?])\1+")
_URLISH_CHUNK_RE = re.compile(r"(?<!\S)[^\s.@]*+[.@]\S*")


def _url_or_email_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the whitespace-separated chunks that are URLs or e-mail addresses, in order."""
    return [m.span() for m in _URLISH_CHUNK_RE.finditer(text) if _is_url_or_email(m.group(0))]


def _letter_runs(text: str) -> list[tuple[int, int]]:
    """Spans of the runs of 3+ identical letters (case-insensitively) outside URLs and e-mails."""
    runs = [m.span() for m in _RUN_RE.finditer(text) if m.group(1).isalpha()]
    if not runs:
        return runs
    protected = _url_or_email_spans(text)
    if not protected:
        return runs
    kept = []
    for start, end in runs:
        i = bisect.bisect_right(protected, (start, len(text) + 1)) - 1
        if not (i >= 0 and protected[i][0] <= start < protected[i][1]):
            kept.append((start, end))
    return kept


def _squeeze(text: str, runs: list[tuple[int, int]], squeeze_to: int) -> str:
    out = text
    if runs:
        pieces, last = [], 0
        for start, end in runs:
            pieces.append(text[last:start + squeeze_to])
            last = end
        pieces.append(text[last:])
        out = _recompose(text, "".join(pieces))  # the kept letter may now meet the run's accent
    return _PUNCT_RUN_RE.sub(r"\1", out) if ("!!" in out or "??" in out) else out


def repeats(text: str, squeeze_to: int = 2) -> str:
    """Shrink runs of 3+ identical letters to ``squeeze_to`` letters, and "!!!"/"???" to one.

    URLs and e-mail addresses ("www.", "aaa@example.com") are left alone.
    """
    if squeeze_to < 1:
        raise ValueError("squeeze_to must be at least 1")
    return _squeeze(text, _letter_runs(text), squeeze_to)


# --------------------------------------------------------------------------------------------------
# pipeline

_CHARACTER_TRANSFORMS = (("nfkc", nfkc), ("invisible", invisible), ("homoglyph", homoglyph), ("leet", leet))


def _before_repeats(text: str) -> tuple[str, set[str]]:
    changed: set[str] = set()
    for name, fn in _CHARACTER_TRANSFORMS:
        out = fn(text)
        if out != text:
            changed.add(name)
            text = out
    out = spacing(text)
    if out != text:
        changed.add("spacing")
        text = out
        for name, fn in _CHARACTER_TRANSFORMS:  # a join can create a new word for them to read
            out = fn(text)
            if out != text:
                changed.add(name)
                text = out
    return text, changed


def _ordered(names: set[str]) -> tuple[str, ...]:
    return tuple(n for n in TRANSFORMS if n in names)


def normalize(text: str, *, squeeze_repeats_to: int = 2) -> tuple[str, tuple[str, ...]]:
    """Apply every transform in order; return the normalised text and the names of transforms that changed it."""
    out, changed = _before_repeats(text)
    squeezed = repeats(out, squeeze_repeats_to)
    if squeezed != out:
        changed.add("repeats")
    return squeezed, _ordered(changed)


def variants(text: str) -> list[Variant]:
    """[raw] + the normalised forms that differ from raw and from each other:
    "normalized" (runs of 3+ identical letters squeezed to 2) and "normalized_squeezed" (squeezed to 1)."""
    result = [Variant("raw", text, ())]
    base, changed = _before_repeats(text)
    runs = _letter_runs(base)
    seen = {text}
    for name, squeeze_to in (("normalized", 2), ("normalized_squeezed", 1)):
        if squeeze_to == 1 and not runs:
            break  # squeezing to 1 gives the same text as squeezing to 2
        out = _squeeze(base, runs, squeeze_to)
        if out in seen:
            continue
        seen.add(out)
        names = changed | {"repeats"} if out != base else changed
        result.append(Variant(name, out, _ordered(names)))
    return result
