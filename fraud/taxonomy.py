"""IAB Tech Lab Content Taxonomy 1.0 ↔ 2.0, for comparing categories across taxonomies.

OpenRTB 2.6 carries categories with their taxonomy (``cattax``: 1 is Content 1.0, 2 is
Content 2.0; AdCOM "List: Category Taxonomies"); blocklists are usually written in 1.0
codes. The table shipped in ``fraud/data/content_1_0_to_2_0.tsv`` is the IAB Tech Lab's own
1.0 → 2.0 mapping (its source and licence are in the file's header). ``widen`` turns the
categories of a bid into every name they go by: themselves, their 1.0 tier-1 parent
(``IAB7-39`` → ``IAB7``), the 2.0 id a 1.0 code maps to, and the 1.0 codes that map to a 2.0
id. Where the IAB mapped a 1.0 code to a broader 2.0 parent ("Mapped to Parent"), a bid in
that 2.0 category also counts as the narrower 1.0 codes: for blocking, the safe side.
2.0's own hierarchy (a child id under a blocked parent id) is not walked.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

MAPPING_FILE: Final = Path(__file__).parent / "data" / "content_1_0_to_2_0.tsv"
_CONTENT_1_AND_2: Final = frozenset({1, 2, 5, 6})
"""AdCOM "List: Category Taxonomies": 1 Content 1.0, 2 Content 2.0, 5 2.1, 6 2.2."""


@dataclass(frozen=True, slots=True, eq=False)
class Taxonomy:
    """Both directions of the 1.0 → 2.0 mapping (hashed by identity: one per process)."""

    to_v2: Mapping[str, str]
    to_v1: Mapping[str, frozenset[str]]

    @classmethod
    def load(cls, path: Path = MAPPING_FILE) -> "Taxonomy":
        """The mapping of a two-column TSV (1.0 code, 2.0 id; ``#`` comments)."""
        return _load(path)

    def widen(self, cats: Iterable[str], cattax: int = 1) -> frozenset[str]:
        """Every name the categories go by, in both taxonomies (see the module doc).

        Only for Content taxonomies 1.0 and 2.x (``cattax`` 1, 2, 5, 6: the 2.x versions
        keep their ids); categories of any other taxonomy are compared as they are."""
        if cattax not in _CONTENT_1_AND_2:
            return frozenset(cats)
        return _widen(self, tuple(cats))


@lru_cache(maxsize=4)
def _load(path: Path) -> Taxonomy:
    to_v2: dict[str, str] = {}
    to_v1: dict[str, set[str]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].startswith("IAB") or not parts[1].isdigit():
            raise ValueError(f"{path.name} line {number}: expected 'IABn[-m]<TAB>id'")
        to_v2[parts[0]] = parts[1]
        to_v1.setdefault(parts[1], set()).add(parts[0])
    return Taxonomy(to_v2, {k: frozenset(v) for k, v in to_v1.items()})


@lru_cache(maxsize=8192)
def _widen(taxonomy: Taxonomy, cats: tuple[str, ...]) -> frozenset[str]:
    """Cached: bids repeat a small set of category lists."""
    names: set[str] = set()
    for cat in cats:
        names.add(cat)
        v1 = {cat} if cat.startswith("IAB") else set(taxonomy.to_v1.get(cat, ()))
        mapped = taxonomy.to_v2.get(cat)
        if mapped is not None:
            names.add(mapped)
        for code in v1:
            names.add(code)
            if "-" in code:
                names.add(code.split("-", 1)[0])
    return frozenset(names)
