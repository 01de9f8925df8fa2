"""Matching a query against the index: exact names, prefixes, and names a few typos away."""

from __future__ import annotations

import heapq
import itertools

from rapidfuzz import process
from rapidfuzz.distance import OSA

from .index import Index
from .reference import Qualifier
from .text import name_keys

# An alternate-name match beats a city's own-name match only with this many times its population.
OWN_NAME_WEIGHT = 10
# How many typos a suggestion may be away from a name that matches nothing.
MAX_TYPOS = 3


def split_query(query: str) -> tuple[str, list[str]]:
    """Name and qualifiers: ``"Springfield, IL, US"`` -> ``("Springfield", ["IL", "US"])``."""
    name, *rest = query.split(",")
    return name, [part for part in rest if part.strip()]


def qualifiers_of(index: Index, parts: list[str], *, prefix_last: bool = False) -> list[Qualifier] | None:
    """The qualifiers named by ``parts``, or None if one of them names nothing."""
    found: list[Qualifier] = []
    for i, part in enumerate(parts):
        qualifier = index.qualifier(part, prefix=prefix_last and i == len(parts) - 1)
        if qualifier is None:
            return None
        found.append(qualifier)
    return found


def _score(index: Index, rank: int, own: bool) -> tuple[int, int]:
    """Sort key, larger is better: population, an own name counting OWN_NAME_WEIGHT times."""
    population = index.cities.populations[rank]
    return (population * OWN_NAME_WEIGHT if own else population, -rank)


def best(index: Index, query: str) -> int | None:
    """Rank of the best exact match."""
    name, parts = split_query(query)
    qualifiers = qualifiers_of(index, parts)
    if qualifiers is None:
        # Not a qualifier: perhaps a name with a comma in it ("Misato, Saitama").
        name, qualifiers = query, []
    matches = [
        (rank, own)
        for key in name_keys(name)
        for rank, own in index.exact(key)
        if index.allowed(rank, qualifiers)
    ]
    if not matches:
        return None
    return max(matches, key=lambda match: _score(index, *match))[0]


def prefix_matches(index: Index, query: str, limit: int) -> list[int]:
    """Up to ``limit`` ranks of cities with a name starting with the query's name part, best first."""
    name, parts = split_query(query)
    qualifiers = qualifiers_of(index, parts, prefix_last=True)
    if qualifiers is None:
        return []
    own: set[int] = set()
    every: set[int] = set()
    for key in name_keys(name):
        key_own, key_every = index.prefixed(key)
        own |= key_own
        every |= key_every
    # The best `limit` of each kind are enough: scores only compare within a kind by rank.
    candidates = [(rank, True) for rank in _first(index, own, qualifiers, limit)]
    candidates += [(rank, False) for rank in _first(index, every - own, qualifiers, limit)]
    candidates.sort(key=lambda match: _score(index, *match), reverse=True)
    return [rank for rank, _ in candidates[:limit]]


def typos_allowed(length: int) -> int:
    """How many typos a name of ``length`` characters may hold and still be suggested."""
    if length < 3:
        return 0  # two letters are too few to guess from
    return min(MAX_TYPOS, max(1, length // 4))


def typo_matches(index: Index, key: str, qualifiers: list[Qualifier]) -> list[list[int]]:
    """Ranks of the cities known by a name within a few typos of ``key``, the qualifiers allow.

    In tiers of equal distance, closest first, each most populous (lowest rank) first. The
    distance is the optimal string alignment distance to the name, plus one for an
    alternate name (a city's own name is what is shown, and alternates are many and noisy).
    """
    typos = typos_allowed(len(key))
    if not typos:
        return []
    hits = process.extract(
        key, index.near_misses(key, typos), scorer=OSA.distance, score_cutoff=typos, limit=None
    )
    distances: dict[int, int] = {}
    for name, typed, _ in hits:
        for rank, own in index.exact(name):
            distance = typed if own else typed + 1
            if distance < distances.get(rank, distance + 1) and index.allowed(rank, qualifiers):
                distances[rank] = distance
    tiers: dict[int, list[int]] = {}
    for rank, distance in sorted(distances.items()):
        tiers.setdefault(distance, []).append(rank)
    return [tiers[distance] for distance in sorted(tiers)]


def _first(index: Index, ranks: set[int], qualifiers: list[Qualifier], limit: int) -> list[int]:
    """The ``limit`` smallest (most populous) ranks the qualifiers allow."""
    if not qualifiers:
        return heapq.nsmallest(limit, ranks)
    return list(itertools.islice((rank for rank in sorted(ranks) if index.allowed(rank, qualifiers)), limit))
