"""The impression side of a bid request: what is for sale and at what floor.

Spec sections 3.2.4–3.2.12 and 3.2.31–3.2.35. Code-list fields stay plain ``int`` and
``list[int]``: values outside AdCOM's lists must be tolerated, and ``openrtb.enums``
names the few the exchange compares against.
"""

from openrtb.base import OpenRTBModel

__all__ = [
    "Audio",
    "Banner",
    "Deal",
    "DurFloors",
    "Format",
    "Imp",
    "Metric",
    "Native",
    "Pmp",
    "Qty",
    "RefSettings",
    "Refresh",
    "Video",
]


class Metric(OpenRTBModel):
    """3.2.5 Object: Metric — a measured property of the impression (viewability, CTR …)."""

    type: str
    value: float
    vendor: str | None = None


class Format(OpenRTBModel):
    """3.2.10 Object: Format — one allowed banner size, or Flex Ad ratio parameters."""

    w: int | None = None
    h: int | None = None
    wratio: int | None = None
    hratio: int | None = None
    wmin: int | None = None


class Banner(OpenRTBModel):
    """3.2.6 Object: Banner — a display impression, or a companion ad of a video/audio one."""

    format: list[Format] | None = None
    w: int | None = None
    h: int | None = None
    btype: list[int] | None = None
    battr: list[int] | None = None
    pos: int | None = None
    mimes: list[str] | None = None
    topframe: int | None = None
    expdir: list[int] | None = None
    api: list[int] | None = None
    id: str | None = None
    vcm: int | None = None


class DurFloors(OpenRTBModel):
    """3.2.35 Object: DurFloors — a floor for creatives within a duration range."""

    mindur: int | None = None
    maxdur: int | None = None
    bidfloor: float = 0.0


class Video(OpenRTBModel):
    """3.2.7 Object: Video — a video impression (VAST), with optional companion banners."""

    mimes: list[str]
    minduration: int = 0
    maxduration: int | None = None
    startdelay: int | None = None
    maxseq: int | None = None
    poddur: int | None = None
    protocols: list[int] | None = None
    w: int | None = None
    h: int | None = None
    podid: str | None = None
    podseq: int = 0
    rqddurs: list[int] | None = None
    placement: int | None = None  # deprecated in 2.6 in favour of plcmt
    plcmt: int | None = None
    linearity: int | None = None
    skip: int | None = None
    skipmin: int = 0
    skipafter: int = 0
    sequence: int = 0  # deprecated
    slotinpod: int = 0
    mincpmpersec: float | None = None
    battr: list[int] | None = None
    maxextended: int | None = None
    minbitrate: int | None = None
    maxbitrate: int | None = None
    boxingallowed: int = 1
    playbackmethod: list[int] | None = None
    playbackend: int | None = None
    delivery: list[int] | None = None
    pos: int | None = None
    companionad: list[Banner] | None = None
    api: list[int] | None = None
    companiontype: list[int] | None = None
    poddedupe: list[int] | None = None
    durfloors: list[DurFloors] | None = None


class Audio(OpenRTBModel):
    """3.2.8 Object: Audio — an audio impression (DAAST/VAST), with optional companions."""

    mimes: list[str]
    minduration: int = 0
    maxduration: int | None = None
    poddur: int | None = None
    protocols: list[int] | None = None
    startdelay: int | None = None
    rqddurs: list[int] | None = None
    podid: str | None = None
    podseq: int = 0
    sequence: int = 0  # deprecated
    slotinpod: int = 0
    mincpmpersec: float | None = None
    battr: list[int] | None = None
    maxextended: int | None = None
    minbitrate: int | None = None
    maxbitrate: int | None = None
    delivery: list[int] | None = None
    companionad: list[Banner] | None = None
    api: list[int] | None = None
    companiontype: list[int] | None = None
    maxseq: int | None = None
    feed: int | None = None
    stitched: int | None = None
    nvol: int | None = None
    durfloors: list[DurFloors] | None = None


class Native(OpenRTBModel):
    """3.2.9 Object: Native — the Native Ads request, carried as an opaque JSON string."""

    request: str
    ver: str | None = None
    api: list[int] | None = None
    battr: list[int] | None = None


class Deal(OpenRTBModel):
    """3.2.12 Object: Deal — terms struck between a buyer and the seller for this impression.

    ``bidfloorcur`` does not inherit from ``Imp.bidfloorcur``: absent means USD.
    """

    id: str
    bidfloor: float = 0.0
    bidfloorcur: str = "USD"
    at: int | None = None
    wseat: list[str] | None = None
    wadomain: list[str] | None = None
    guar: int = 0
    mincpmpersec: float | None = None
    durfloors: list[DurFloors] | None = None


class Pmp(OpenRTBModel):
    """3.2.11 Object: Pmp — the private-marketplace deals in effect for an impression."""

    private_auction: int = 0
    deals: list[Deal] | None = None


class Qty(OpenRTBModel):
    """3.2.31 Object: Qty — how many impressions one DOOH/CTV spot counts as."""

    multiplier: float
    sourcetype: int | None = None
    vendor: str | None = None


class RefSettings(OpenRTBModel):
    """3.2.34 Object: RefSettings — what triggers an ad slot's automatic refresh."""

    reftype: int = 0
    minint: int | None = None


class Refresh(OpenRTBModel):
    """3.2.33 Object: Refresh — how and how often an ad slot has been refreshed."""

    refsettings: list[RefSettings] | None = None
    count: int | None = None


class Imp(OpenRTBModel):
    """3.2.4 Object: Imp — one ad placement offered in the auction."""

    id: str
    metric: list[Metric] | None = None
    banner: Banner | None = None
    video: Video | None = None
    audio: Audio | None = None
    native: Native | None = None
    pmp: Pmp | None = None
    displaymanager: str | None = None
    displaymanagerver: str | None = None
    instl: int = 0
    tagid: str | None = None
    bidfloor: float = 0.0
    bidfloorcur: str = "USD"
    clickbrowser: int | None = None
    secure: int | None = None  # no default: omitted means unknown
    iframebuster: list[str] | None = None
    rwdd: int = 0
    ssai: int = 0
    exp: int | None = None
    qty: Qty | None = None
    dt: float | None = None
    refresh: Refresh | None = None
