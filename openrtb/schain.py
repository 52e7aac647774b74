"""Supply chain: the exchange adds itself as a node before it passes a request on.

SupplyChain 1.0 (OpenRTB 2.6 ``source.schain``): every entity that is paid for the
inventory appends one node. An upstream chain is kept as it is (``complete`` included); one
sent the OpenRTB 2.5 way, in ``source.ext.schain``, is moved into ``source.schain`` first (so
the upstream hops are not lost); a request with none gets a new chain with ``complete = 0``
— the exchange cannot vouch for the hops before it.
"""

from pydantic import ValidationError

from openrtb.request import BidRequest, Source, SupplyChain, SupplyChainNode

SCHAIN_VERSION = "1.0"


def with_node(request: BidRequest, node: SupplyChainNode) -> BidRequest:
    """A copy of ``request`` whose ``source.schain`` ends with ``node`` (input unchanged)."""
    source = request.source or Source()
    chain = source.schain
    ext = source.ext
    if chain is None and ext and "schain" in ext:
        try:
            chain = SupplyChain.model_validate(ext["schain"])
        except ValidationError:
            chain = None  # a malformed 2.5 chain vouches for nothing: start a new one
        else:
            ext = {key: value for key, value in ext.items() if key != "schain"} or None
    if chain is None:
        chain = SupplyChain(complete=0, nodes=[node], ver=SCHAIN_VERSION)
    else:
        chain = chain.model_copy(update={"nodes": [*chain.nodes, node]})
    updated = source.model_copy(update={"schain": chain, "ext": ext})
    return request.model_copy(update={"source": updated})
