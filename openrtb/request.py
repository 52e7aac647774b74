"""The top of a bid request and its request-wide objects (3.2.1–3.2.3, 3.2.25–3.2.26)."""

from typing import Annotated

from pydantic import Field

from openrtb.audience import Device, User
from openrtb.base import OpenRTBModel
from openrtb.imp import Imp
from openrtb.inventory import DOOH, App, Site

__all__ = ["BidRequest", "Regs", "Source", "SupplyChain", "SupplyChainNode"]


class SupplyChainNode(OpenRTBModel):
    """3.2.26 Object: SupplyChainNode — one seller or reseller in the supply chain."""

    asi: str
    sid: str
    rid: str | None = None
    name: str | None = None
    domain: str | None = None
    hp: int | None = None


class SupplyChain(OpenRTBModel):
    """3.2.25 Object: SupplyChain — every entity paid for this inventory, in order."""

    complete: int
    nodes: list[SupplyChainNode]
    ver: str


class Source(OpenRTBModel):
    """3.2.2 Object: Source — who makes the final decision, and the supply chain."""

    fd: int | None = None
    tid: str | None = None
    pchain: str | None = None
    schain: SupplyChain | None = None


class Regs(OpenRTBModel):
    """3.2.3 Object: Regs — the regulations (COPPA, GDPR, US privacy, GPP) in force.

    ``gdpr`` has no default: omitted means unknown, which is not the same as 0.
    """

    coppa: int | None = None
    gdpr: int | None = None
    us_privacy: str | None = None
    gpp: str | None = None
    gpp_sid: list[int] | None = None


class BidRequest(OpenRTBModel):
    """3.2.1 Object: BidRequest — the top-level bid request.

    Only ``id`` and ``imp`` are required by the protocol; ``openrtb.validate`` adds the
    exchange's own rules (non-empty, unique imp ids, a media type per imp, …).
    """

    id: str
    # Documented non-empty as ``openrtb.validate`` requires; checked there, with its message.
    imp: Annotated[list[Imp], Field(json_schema_extra={"minItems": 1})]
    site: Site | None = None
    app: App | None = None
    dooh: DOOH | None = None
    device: Device | None = None
    user: User | None = None
    test: int = 0
    at: int = 2
    tmax: int | None = None
    wseat: list[str] | None = None
    bseat: list[str] | None = None
    allimps: int = 0
    cur: list[str] | None = None
    wlang: list[str] | None = None
    wlangb: list[str] | None = None
    acat: list[str] | None = None
    bcat: list[str] | None = None
    cattax: int = 1
    badv: list[str] | None = None
    bapp: list[str] | None = None
    source: Source | None = None
    regs: Regs | None = None
