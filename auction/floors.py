"""Exchange floor rules: minimum prices the exchange sets on top of the publisher's.

A rule can only *raise* the floor an impression is sold at, never lower it: the request's
floor is the publisher's own minimum and the exchange has no right to sell below it, while
an exchange may well hold back inventory it knows to be worth more (a premium publisher, a
scarce size, a rich market). So the effective floor is the maximum of the request's floor
and the floor of every rule that matches.

A rule matches when *each field it sets* matches the impression (unset fields match
anything). An impression may offer several media types (multi-format) and several banner
sizes; the floor is one number per impression, not per creative, so a media-type or size
rule applies when the impression *accepts* that type or size. That is the conservative
reading: the impression is never sold below a floor that might apply to it.

Rules are few (tens), so :func:`effective_floor` scans them linearly: a handful of string
comparisons each, a few microseconds per impression, no index to keep in sync.
"""

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

__all__ = ["FloorRule", "MediaType", "effective_floor"]

MediaType = Literal["banner", "video", "audio", "native"]
_MEDIA_TYPES: Final = frozenset(get_args(MediaType))
_SIZE: Final = re.compile(r"[1-9][0-9]*x[1-9][0-9]*")
_COUNTRY: Final = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FloorRule:
    """A minimum price for the impressions matching every field that is set.

    ``size`` is ``"WxH"`` (banner sizes only, so it implies a banner); ``country`` is the
    ISO-3166-1 alpha-3 code of ``device.geo.country``. Checked on construction, so a bad
    config line fails loudly at start-up naming its field, not silently at auction time.
    """

    floor_micros: int
    publisher_id: str | None = None
    media_type: MediaType | None = None
    size: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        if self.floor_micros < 0:
            raise ValueError(f"floor_micros must not be negative: {self.floor_micros}")
        if self.media_type is not None and self.media_type not in _MEDIA_TYPES:
            raise ValueError(f"media_type must be one of {sorted(_MEDIA_TYPES)}")
        if self.size is not None and not _SIZE.fullmatch(self.size):
            raise ValueError(f'size must be "WxH" in pixels, e.g. "300x250": {self.size!r}')
        if self.country is not None and not _COUNTRY.fullmatch(self.country):
            raise ValueError(f"country must be ISO-3166-1 alpha-3, e.g. USA: {self.country!r}")

    def matches(
        self,
        *,
        publisher_id: str | None,
        media_types: Collection[str],
        sizes: Collection[str],
        country: str | None,
    ) -> bool:
        """Whether every field this rule sets matches the impression."""
        return (
            (self.publisher_id is None or self.publisher_id == publisher_id)
            and (self.media_type is None or self.media_type in media_types)
            and (self.size is None or ("banner" in media_types and self.size in sizes))
            and (self.country is None or self.country == country)
        )


def effective_floor(
    request_floor_micros: int,
    rules: Iterable[FloorRule],
    *,
    publisher_id: str | None,
    media_types: Collection[str],
    sizes: Collection[str],
    country: str | None,
) -> int:
    """``max(request floor, floor of every matching rule)``: rules raise, never lower.

    A negative request floor counts as 0. ``media_types`` holds the types the impression
    offers (``"banner"`` …), ``sizes`` its banner sizes as ``"WxH"``.
    """
    floor = request_floor_micros if request_floor_micros > 0 else 0
    for rule in rules:
        if rule.floor_micros > floor and rule.matches(
            publisher_id=publisher_id, media_types=media_types, sizes=sizes, country=country
        ):
            floor = rule.floor_micros
    return floor
