"""The bidders file: every bidder of the exchange, in-process routers and external DSPs.

One JSON file, named by ``RTB_BIDDERS_FILE`` (the demo routers when unset)::

    {"gvl_vendor_id": 1234,
     "routers": [{"name": "house", "campaigns": [...]}],
     "dsps": [{"name": "acme-dsp", "endpoint": "https://bid.acme.example/openrtb",
               "gvl_vendor_id": 755,
               "protocol": "h2", "seats": ["acme"], "media_types": ["banner"],
               "sizes": ["300x250", "728x90"], "timeout_ms": 40, "qps": 500,
               "gzip": true, "auth_header": {"name": "authorization", "value": "Bearer …"},
               "quality": 1.1, "enabled": true}]}

``gvl_vendor_id`` is a TCF Global Vendor List id: a DSP's own, and at the top the
exchange's, which its in-process routers bid under (they are the exchange). Under GDPR a
bidder gets personal data only as far as its vendor has consent (docs/privacy.md); one
without an id gets none. An operator adds a DSP by adding one entry. The file is validated
at startup; a bad one stops the exchange with every problem found, each naming the file and
the field (``BiddersFileError.problems``; ``rtb serve`` prints them all, ``app.config_check``).
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bidding.campaigns import ConfigError, RouterFile, RouterSpec, router_specs
from exchange.config_file import parse_config_file

DEMO_BIDDERS: Final = "demo_campaigns.json"
MEDIA_TYPES: Final = ("banner", "video", "audio", "native")
MAX_TIMEOUT_MS: Final = 50

Protocol = Literal["h2", "h2c", "http1.1"]
"""``h2``: HTTP/2 negotiated by TLS ALPN (https); ``h2c``: HTTP/2 with prior knowledge over
plain http; ``http1.1``: keep-alive HTTP/1.1."""


@dataclass(frozen=True, slots=True)
class ExternalBidderSpec:
    """One external DSP as the exchange calls it."""

    name: str
    endpoint: str
    protocol: Protocol
    seats: frozenset[str]
    """Seats the DSP may bid with; empty: any."""
    media_types: frozenset[str]
    sizes: frozenset[tuple[int, int]] | None
    """Banner sizes it buys; None: any."""
    timeout_ms: int
    qps: float | None
    gzip: bool
    auth_header: tuple[str, str] | None
    quality: float
    max_response_bytes: int
    max_bids: int
    gvl_vendor_id: int | None = None
    """Its TCF Global Vendor List id; None: it gets no personal data under GDPR."""


@dataclass(frozen=True, slots=True)
class BiddersConfig:
    """Everything the bidders file defines."""

    routers: tuple[RouterSpec, ...]
    dsps: tuple[ExternalBidderSpec, ...]
    gvl_vendor_id: int | None = None
    """The exchange's own GVL vendor id: what its in-process routers bid under."""


GvlVendorId = Annotated[int, Field(strict=True, ge=1, le=65535)]
"""TCF vendor ids are 16-bit and start at 1."""


class _AuthHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    value: str = Field(min_length=1)


class DspFile(BaseModel):
    """One external DSP entry of the bidders file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    endpoint: str
    protocol: Protocol = "h2"
    seats: list[Annotated[str, Field(min_length=1)]] = []
    media_types: list[Literal["banner", "video", "audio", "native"]] = list(MEDIA_TYPES)
    sizes: list[Annotated[str, Field(pattern=r"^[1-9][0-9]*x[1-9][0-9]*$")]] | None = None
    timeout_ms: Annotated[int, Field(gt=0, le=MAX_TIMEOUT_MS)] = MAX_TIMEOUT_MS
    qps: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    gzip: bool = False
    auth_header: _AuthHeader | None = None
    quality: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 1.0
    max_response_bytes: Annotated[int, Field(gt=0, le=4 * 1024 * 1024)] = 256 * 1024
    max_bids: Annotated[int, Field(gt=0, le=1000)] = 100
    gvl_vendor_id: GvlVendorId | None = None
    enabled: bool = True

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    def spec(self) -> ExternalBidderSpec:
        """The frozen spec the exchange works with."""
        if self.protocol == "h2" and not self.endpoint.startswith("https://"):
            raise ValueError("protocol h2 needs an https:// endpoint (use h2c for plain http)")
        return ExternalBidderSpec(
            name=self.name,
            endpoint=self.endpoint,
            protocol=self.protocol,
            seats=frozenset(self.seats),
            media_types=frozenset(self.media_types),
            sizes=(
                None
                if self.sizes is None
                else frozenset(
                    (int(w), int(h)) for w, h in (size.split("x") for size in self.sizes)
                )
            ),
            timeout_ms=self.timeout_ms,
            qps=self.qps,
            gzip=self.gzip,
            auth_header=(self.auth_header.name, self.auth_header.value)
            if self.auth_header
            else None,
            quality=self.quality,
            max_response_bytes=self.max_response_bytes,
            max_bids=self.max_bids,
            gvl_vendor_id=self.gvl_vendor_id,
        )


class _BiddersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gvl_vendor_id: GvlVendorId | None = None
    routers: list[RouterFile] = []
    dsps: list[DspFile] = []


class BiddersFileError(ConfigError):
    """A bidders file with problems: every one found, each ``file: field: why``; the
    message is one problem a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def parse_bidders(data: bytes, source: str) -> BiddersConfig:
    """The bidders of a bidders file's bytes; BiddersFileError lists every problem found
    (the schema's all at once; the checks across entries once the schema holds)."""
    parsed = parse_config_file(_BiddersFile, data, source, BiddersFileError)
    problems: list[str] = []
    try:
        routers = router_specs(parsed.routers, source)
    except ConfigError as exc:
        problems.append(str(exc))
        routers = ()
    dsps = []
    for index, dsp in enumerate(parsed.dsps):
        if not dsp.enabled:
            continue
        try:
            dsps.append(dsp.spec())
        except ValueError as exc:
            problems.append(f"{source}: dsps[{index}].protocol: {exc}")
    names = [r.name for r in routers] + [d.name for d in dsps]
    if len(set(names)) != len(names):
        problems.append(f"{source}: bidder names must be unique across routers and dsps")
    if problems:
        raise BiddersFileError(problems)
    return BiddersConfig(routers, tuple(dsps), parsed.gvl_vendor_id)


def load_bidders(path: Path | None) -> BiddersConfig:
    """The bidders file at ``path``, or the demo routers shipped with ``bidding``."""
    if path is None:
        demo = resources.files("bidding").joinpath(DEMO_BIDDERS)
        return parse_bidders(demo.read_bytes(), f"bidding/{DEMO_BIDDERS}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BiddersFileError([f"{path}: cannot read: {exc.strerror}"]) from exc
    return parse_bidders(data, str(path))
