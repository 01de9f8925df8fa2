"""Geocoding: the offline index (distances, near-miss buckets for typo look-ups)."""

from __future__ import annotations

import pytest

from weatherstream.geocoding import OfflineGeocoder, matching
from weatherstream.geocoding.index import haversine_km


def test_haversine() -> None:
    # Berlin to Paris, about 878 km.
    assert haversine_km(52.52437, 13.41053, 48.85341, 2.3488) == pytest.approx(878, abs=3)
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, abs=0.2)


def test_few_names_are_scored_per_miss(geocoder: OfflineGeocoder) -> None:
    """Bucketing by letter and length keeps a miss to a few thousand comparisons (a few ms),
    not the ~300,000 names of a full scan."""
    index = geocoder._get_index()
    for query in ["berln", "pariss", "sao paolo", "amstredam", "springfeld", "new yrok", "a" * 60]:
        typos = matching.typos_allowed(len(query))
        candidates = index.near_misses(query, typos)
        assert len(candidates) < 20_000, (query, len(candidates))
    assert "berlin" in index.near_misses("berln", 1)
    assert "berlin" in index.near_misses("nerlin", 1)  # by its own name's second letter
