"""Where the ad appears: site, app or DOOH screen, their publisher and content.

Spec sections 3.2.13–3.2.17, 3.2.23–3.2.24 and 3.2.32.
"""

from openrtb.audience import Data
from openrtb.base import OpenRTBModel

__all__ = ["DOOH", "App", "Channel", "Content", "Network", "Producer", "Publisher", "Site"]


class Publisher(OpenRTBModel):
    """3.2.15 Object: Publisher — the seller paid by the exchange (its sellers.json seller_id)."""

    id: str | None = None
    name: str | None = None
    cattax: int = 1
    cat: list[str] | None = None
    domain: str | None = None


class Producer(OpenRTBModel):
    """3.2.17 Object: Producer — who made the content, when not the publisher (syndication)."""

    id: str | None = None
    name: str | None = None
    cattax: int = 1
    cat: list[str] | None = None
    domain: str | None = None


class Network(OpenRTBModel):
    """3.2.23 Object: Network — the parent entity of a channel (e.g. a TV network)."""

    id: str | None = None
    name: str | None = None
    domain: str | None = None


class Channel(OpenRTBModel):
    """3.2.24 Object: Channel — the channel or station the content is on."""

    id: str | None = None
    name: str | None = None
    domain: str | None = None


class Content(OpenRTBModel):
    """3.2.16 Object: Content — the content the ad appears in or next to."""

    id: str | None = None
    episode: int | None = None
    title: str | None = None
    series: str | None = None
    season: str | None = None
    artist: str | None = None
    genre: str | None = None
    album: str | None = None
    isrc: str | None = None
    producer: Producer | None = None
    url: str | None = None
    cattax: int = 1
    cat: list[str] | None = None
    prodq: int | None = None
    context: int | None = None
    contentrating: str | None = None
    userrating: str | None = None
    qagmediarating: int | None = None
    keywords: str | None = None
    kwarray: list[str] | None = None
    livestream: int | None = None
    sourcerelationship: int | None = None
    len: int | None = None
    language: str | None = None
    langb: str | None = None
    embeddable: int | None = None
    data: list[Data] | None = None
    network: Network | None = None
    channel: Channel | None = None


class Site(OpenRTBModel):
    """3.2.13 Object: Site — a website selling the impression (exclusive with App and DOOH)."""

    id: str | None = None
    name: str | None = None
    domain: str | None = None
    cattax: int = 1
    cat: list[str] | None = None
    sectioncat: list[str] | None = None
    pagecat: list[str] | None = None
    page: str | None = None
    ref: str | None = None
    search: str | None = None
    mobile: int | None = None
    privacypolicy: int | None = None
    publisher: Publisher | None = None
    content: Content | None = None
    keywords: str | None = None
    kwarray: list[str] | None = None
    inventorypartnerdomain: str | None = None


class App(OpenRTBModel):
    """3.2.14 Object: App — a non-browser application selling the impression."""

    id: str | None = None
    name: str | None = None
    bundle: str | None = None
    domain: str | None = None
    storeurl: str | None = None
    cattax: int = 1
    cat: list[str] | None = None
    sectioncat: list[str] | None = None
    pagecat: list[str] | None = None
    ver: str | None = None
    privacypolicy: int | None = None
    paid: int | None = None
    publisher: Publisher | None = None
    content: Content | None = None
    keywords: str | None = None
    kwarray: list[str] | None = None
    inventorypartnerdomain: str | None = None


class DOOH(OpenRTBModel):
    """3.2.32 Object: DOOH — a digital out-of-home screen selling the impression."""

    id: str | None = None
    name: str | None = None
    venuetype: list[str] | None = None
    venuetypetax: int = 1
    publisher: Publisher | None = None
    domain: str | None = None
    keywords: str | None = None
    content: Content | None = None
