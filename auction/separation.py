"""Competitive separation on a page: bids that must not win together become one agent.

A page sold as a whole may show at most one winning bid per buyer seat and per advertiser
domain (``Candidate.adomain``). The page mechanisms enforce this by grouping bids into
*agents*: the connected components of the relation "shares a seat or shares an adomain". An
agent can win at most one slot, and its value for a slot is that of its best bid there.

This is conservative: two bids that share nothing but are each linked to a third (seat A with
domain x, seat B with domain y, and a bid of seat A for domain y) are kept apart too, although
only the third bid conflicts with both. The exact rule ("no two winners share a seat or a
domain") is a conflict graph on bids, and choosing the best slot assignment under it is an
independent-set problem with no polynomial algorithm; with components it stays a bipartite
assignment of agents to slots, which VCG can optimise exactly and fast. Such chains are rare
on a real page (a seat bids for few advertisers), and where they occur the page loses little.
"""

from collections.abc import Sequence

from auction.types import Candidate

__all__ = ["group_agents"]


def group_agents(candidates: Sequence[Candidate]) -> list[int]:
    """The agent number of each candidate, numbered 0, 1, … in order of first appearance.

    Two candidates get the same number when a chain of shared seats or shared adomains links
    them; a candidate with ``adomain is None`` is linked by its seat only. Union–find with
    path halving: linear in practice for a page's worth of bids.
    """
    parent = list(range(len(candidates)))

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    first_of_seat: dict[str, int] = {}
    first_of_domain: dict[str, int] = {}
    for index, candidate in enumerate(candidates):
        other = first_of_seat.setdefault(candidate.seat, index)
        if other != index:
            parent[find(index)] = find(other)
        if candidate.adomain is not None:
            other = first_of_domain.setdefault(candidate.adomain, index)
            if other != index:
                parent[find(index)] = find(other)

    numbers: dict[int, int] = {}
    return [numbers.setdefault(find(index), len(numbers)) for index in range(len(candidates))]
