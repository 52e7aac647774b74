"""Deterministic assignment of traffic or campaigns to an experiment's variants."""

import hashlib
from collections.abc import Sequence
from typing import Final

__all__ = ["variant_of"]

_SCALE: Final = float(1 << 64)


def variant_of(key: str, salt: str, shares: Sequence[tuple[str, float]]) -> str:
    """The variant of ``key`` (a stable id: a campaign, a keyed user hash, a site) in the
    experiment salted ``salt``: a 64-bit BLAKE2b of salt and key placed on the cumulative
    ``shares`` (weights, normalised). The same key always gets the same variant in one
    experiment, and a new salt reshuffles keys independently of any earlier experiment."""
    total = sum(weight for _, weight in shares)
    if not shares or total <= 0 or any(weight < 0 for _, weight in shares):
        raise ValueError("shares must be nonnegative weights with a positive sum")
    digest = hashlib.blake2b(f"{salt}\x1f{key}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") / _SCALE * total
    cumulative = 0.0
    for name, weight in shares:
        cumulative += weight
        if point < cumulative:
            return name
    return shares[-1][0]
