"""Who sees the ad and on what: device, location, user and identity objects.

Spec sections 3.2.18–3.2.22 and 3.2.27–3.2.30. These carry the personal data that the
privacy rules strip or truncate before any bidder sees a request; one module keeps that
surface in one place.
"""

from openrtb.base import OpenRTBModel

__all__ = ["EID", "UID", "BrandVersion", "Data", "Device", "Geo", "Segment", "User", "UserAgent"]


class Geo(OpenRTBModel):
    """3.2.19 Object: Geo — the device's location, or the user's home base under User."""

    lat: float | None = None
    lon: float | None = None
    type: int | None = None
    accuracy: int | None = None
    lastfix: int | None = None
    ipservice: int | None = None
    country: str | None = None
    region: str | None = None
    regionfips104: str | None = None
    metro: str | None = None
    city: str | None = None
    zip: str | None = None
    utcoffset: int | None = None


class BrandVersion(OpenRTBModel):
    """3.2.30 Object: BrandVersion — a browser or platform name with its version parts."""

    brand: str
    version: list[str] | None = None


class UserAgent(OpenRTBModel):
    """3.2.29 Object: UserAgent — structured user agent from User-Agent Client Hints."""

    browsers: list[BrandVersion] | None = None
    platform: BrandVersion | None = None
    mobile: int | None = None
    architecture: str | None = None
    bitness: str | None = None
    model: str | None = None
    source: int = 0


class Device(OpenRTBModel):
    """3.2.18 Object: Device — the device the impression will be delivered to."""

    geo: Geo | None = None
    dnt: int | None = None
    lmt: int | None = None
    ua: str | None = None
    sua: UserAgent | None = None
    ip: str | None = None
    ipv6: str | None = None
    devicetype: int | None = None
    make: str | None = None
    model: str | None = None
    os: str | None = None
    osv: str | None = None
    hwv: str | None = None
    h: int | None = None
    w: int | None = None
    ppi: int | None = None
    pxratio: float | None = None
    js: int | None = None
    geofetch: int | None = None
    flashver: str | None = None
    language: str | None = None
    langb: str | None = None
    carrier: str | None = None
    mccmnc: str | None = None
    connectiontype: int | None = None
    ifa: str | None = None
    didsha1: str | None = None  # deprecated
    didmd5: str | None = None  # deprecated
    dpidsha1: str | None = None  # deprecated
    dpidmd5: str | None = None  # deprecated
    macsha1: str | None = None  # deprecated
    macmd5: str | None = None  # deprecated


class Segment(OpenRTBModel):
    """3.2.22 Object: Segment — one key-value data point from a data provider."""

    id: str | None = None
    name: str | None = None
    value: str | None = None


class Data(OpenRTBModel):
    """3.2.21 Object: Data — the segments one data provider supplies about a user or content."""

    id: str | None = None
    name: str | None = None
    segment: list[Segment] | None = None


class UID(OpenRTBModel):
    """3.2.28 Object: UID — one user identifier within an EID."""

    id: str | None = None
    atype: int | None = None


class EID(OpenRTBModel):
    """3.2.27 Object: EID — identifiers for the user from one source (e.g. an ID vendor)."""

    inserter: str | None = None
    source: str | None = None
    matcher: str | None = None
    mm: int | None = None
    uids: list[UID] | None = None


class User(OpenRTBModel):
    """3.2.20 Object: User — the human audience of the ad."""

    id: str | None = None
    buyeruid: str | None = None
    yob: int | None = None  # deprecated
    gender: str | None = None  # deprecated
    keywords: str | None = None
    kwarray: list[str] | None = None
    customdata: str | None = None
    geo: Geo | None = None
    data: list[Data] | None = None
    consent: str | None = None
    eids: list[EID] | None = None
