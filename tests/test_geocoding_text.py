"""Geocoding text helpers: folding names (text.normalize) and reading coordinates in a query."""

from __future__ import annotations

import pytest

from weatherstream.geocoding import normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("São Paulo", "sao paulo"),
        ("  SAO-PAULO ", "sao paulo"),
        ("Zürich", "zurich"),
        ("Winston–Salem", "winston salem"),
        ("St. John’s", "st johns"),
        ("Tromsø", "tromso"),
        ("Straße", "strasse"),
    ],
)
def test_normalize_folds_case_accents_and_punctuation(text: str, expected: str) -> None:
    assert normalize(text) == expected
