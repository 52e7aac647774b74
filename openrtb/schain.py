"""Supply chain: the exchange adds itself as a node before it passes a request on.

SupplyChain 1.0 (OpenRTB 2.6 ``source.schain``): every entity that is paid for the
inventory appends one node. An upstream chain is kept as it is (``complete`` included); one
sent the OpenRTB 2.5 way, in ``source.ext.schain``, is moved into ``source.schain`` first
(``openrtb.upgrade`` does it at decode; here again for requests built in code); a request
with none gets a new chain with ``complete = 0`` — the exchange cannot vouch for the hops
before it.
"""

from openrtb.request import BidRequest, Source, SupplyChain, SupplyChainNode
from openrtb.upgrade import upgrade_source

SCHAIN_VERSION = "1.0"


def with_node(request: BidRequest, node: SupplyChainNode) -> BidRequest:
    """A copy of ``request`` whose ``source.schain`` ends with ``node`` (input unchanged)."""
    source = upgrade_source(request.source or Source())
    chain = source.schain
    if chain is None:
        chain = SupplyChain(complete=0, nodes=[node], ver=SCHAIN_VERSION)
    else:
        chain = chain.model_copy(update={"nodes": [*chain.nodes, node]})
    updated = source.model_copy(update={"schain": chain})
    return request.model_copy(update={"source": updated})
