"""Text folding for name look-ups: case, accents, punctuation and German transliteration."""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import cache

# German umlauts as typed on keyboards without them ("München" -> "Muenchen").
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_UMLAUT = re.compile("[äöüÄÖÜ]")
# Letters NFKD leaves whole, spelled as people type them without the key.
_FOLD: dict[str, str | None] = {
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ı": "i",
}
_SEPARATORS = "-‐‑‒–—―−_.,،()/"
_APOSTROPHES = "'’‘ʼʻ`´"
_ASCII_SEPARATORS = "".join(ch for ch in _SEPARATORS if ch.isascii()).encode()
_ASCII_APOSTROPHES = "".join(ch for ch in _APOSTROPHES if ch.isascii()).encode()
# bytes.translate is many times faster than str.translate; most names are ASCII.
_ASCII_BYTES = bytes.maketrans(_ASCII_SEPARATORS, b" " * len(_ASCII_SEPARATORS))


@cache
def _unicode_table() -> dict[int, str | None]:
    """Drops combining marks and invisible format characters; folds letters and punctuation."""
    table: dict[int, str | None] = {}
    for code in itertools.chain(range(0x32000), range(0xE0000, 0xE1000)):
        ch = chr(code)
        if unicodedata.combining(ch) or unicodedata.category(ch) == "Cf":
            table[code] = None
    table.update(str.maketrans(_FOLD))
    spacing: dict[str, str | None] = {**dict.fromkeys(_SEPARATORS, " "), **dict.fromkeys(_APOSTROPHES, "")}
    table.update(str.maketrans(spacing))
    return table


def normalize(text: str) -> str:
    """Fold case, accents and punctuation: "São-Paulo" -> "sao paulo"."""
    if text.isascii():
        folded = text.lower().encode().translate(_ASCII_BYTES, _ASCII_APOSTROPHES).decode()
    else:
        folded = unicodedata.normalize("NFKD", text).casefold().translate(_unicode_table())
    return " ".join(folded.split())


def name_keys(*names: str) -> set[str]:
    """Every normalized spelling the names are found under (plain and German transliteration)."""
    keys = {normalize(name) for name in names}
    keys.update(
        normalize(name.translate(_GERMAN)) for name in names if not name.isascii() and _UMLAUT.search(name)
    )
    keys.discard("")
    return keys
