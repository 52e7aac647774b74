"""The bid response a bidder returns (4.2.1–4.2.3)."""

from openrtb.base import OpenRTBModel

__all__ = ["Bid", "BidResponse", "SeatBid"]


class Bid(OpenRTBModel):
    """4.2.3 Object: Bid — an offer to buy one impression at ``price`` (CPM, in ``cur``).

    ``price`` is a float on the wire; convert it with ``openrtb.money.cpm_to_micros``
    before doing any arithmetic with it.
    """

    id: str
    impid: str
    price: float
    nurl: str | None = None
    burl: str | None = None
    lurl: str | None = None
    adm: str | None = None
    adid: str | None = None
    adomain: list[str] | None = None
    bundle: str | None = None
    iurl: str | None = None
    cid: str | None = None
    crid: str | None = None
    tactic: str | None = None
    cattax: int = 1
    cat: list[str] | None = None
    attr: list[int] | None = None
    apis: list[int] | None = None
    api: int | None = None  # deprecated in favour of apis
    protocol: int | None = None
    qagmediarating: int | None = None
    language: str | None = None
    langb: str | None = None
    dealid: str | None = None
    w: int | None = None
    h: int | None = None
    wratio: int | None = None
    hratio: int | None = None
    exp: int | None = None
    dur: int | None = None
    mtype: int | None = None
    slotinpod: int = 0


class SeatBid(OpenRTBModel):
    """4.2.2 Object: SeatBid — the bids made on behalf of one buyer seat."""

    bid: list[Bid]
    seat: str | None = None
    group: int = 0


class BidResponse(OpenRTBModel):
    """4.2.1 Object: BidResponse — the top-level bid response.

    The spec calls ``id`` required, but section 7.1 also accepts an empty object ``{}`` as a
    no-bid, so ``id`` is optional here; a response with bids but no matching ``id`` is the
    exchange's to reject, not the parser's.
    """

    id: str | None = None
    seatbid: list[SeatBid] | None = None
    bidid: str | None = None
    cur: str = "USD"
    customdata: str | None = None
    nbr: int | None = None
