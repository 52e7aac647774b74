"""What a page auction charges, over a real socket against real Redis: the literature's VCG
examples, read off the campaigns' spend after their notices.

A bid on an imp with ``ext.slot_ctr`` is the bidder's value per unit of slot CTR; the
impression is charged the Clarke externality per impression, never more than bid × slot_ctr.
Each advertiser is an in-process campaign bidding the same fixed price on every slot (one seat:
one agent). With the increment set to 0 the charges are VCG's exactly:

* Edelman–Ostrovsky–Schwarz (2007): slots of CTR 1 and 0.5, values 10, 4 and 2 per unit.
  Top: 4 × (1 − 0.5) + 2 × 0.5 = 3.00 per impression; second: 2 × 0.5 = 1.00 — the second
  winner is worth 4 × 0.5 = 2.00 there and keeps 1.00. (Per unit of CTR: 3 and 2, the
  paper's per-click prices; charging 2.00 per impression was the bug.)
* Varian (2007): slots of CTR 1, 0.6 and 0.3, values 8, 6, 4 and 3 per unit.
  6 × 0.4 + 4 × 0.3 + 3 × 0.3 = 4.50; 4 × 0.3 + 3 × 0.3 = 2.10; 3 × 0.3 = 0.90 per impression
  (4.50, 3.50 and 3.00 per unit), 7.50 a page: his revenue lower bound R_L.

An impression at a CPM of P costs P ÷ 1000: 3.00 CPM is 3,000 micros of spend.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_imp, banner_request
from tests.e2e.conftest import SECRET, Exchange, Recorder
from tests.e2e.test_mechanisms_e2e import campaign
from tests.e2e.test_notices_e2e import notice, spend, wait_for
from tests.servers import serve


def advertiser(cid: str, bid_cpm: str, dsp_url: str) -> dict[str, Any]:
    """A fixed-price campaign whose markup and DSP nurl carry ``${AUCTION_PRICE}``."""
    adm = f'<img src="https://{cid}.example/i.png?p=${{AUCTION_PRICE}}">'
    creative = {"id": f"{cid}-cr", "w": 300, "h": 250, "adomain": [f"{cid}.example"], "adm": adm}
    return campaign(
        cid, bid_cpm, creatives=[creative], nurl=f"{dsp_url}/win/{cid}?price=${{AUCTION_PRICE}}"
    )


@contextmanager
def exchange_of(
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    recorder: Recorder,
    bids: dict[str, str],
    increment_cpm: str = "0",
) -> Iterator[Exchange]:
    """The exchange with one in-process campaign per ``bids`` entry (id → fixed bid CPM)."""
    campaigns = [advertiser(cid, bid, recorder.base_url) for cid, bid in bids.items()]
    path = tmp_path / "campaigns.json"
    path.write_bytes(orjson.dumps({"routers": [{"name": "house", "campaigns": campaigns}]}))
    settings = Settings(
        store="redis",
        ledger_init="auto",  # a throwaway store: the ledger is created at start-up
        redis_url=redis_url,
        redis_timeout_s=1.0,
        key_prefix=key_prefix,
        bidders_file=path,
        notice_secret=SECRET,  # type: ignore[arg-type]
        increment_cpm=Decimal(increment_cpm),
        log_json=True,
        forward_allow_private=True,  # the DSP's notice recorder listens on loopback
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield Exchange(url, key_prefix, client)


def page(*slots: tuple[float, float]) -> dict[str, Any]:
    """A page auction request: one imp per (slot CTR, floor)."""
    imps = [
        banner_imp(str(n), bidfloor=floor, ext={"slot_ctr": ctr})
        for n, (ctr, floor) in enumerate(slots, start=1)
    ]
    return banner_request(imp=imps, ext={"page_auction": 1})


def sell(exchange: Exchange, request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The winning bids by imp id, each with a win notice fired (and recorded)."""
    response = exchange.client.post(
        "/openrtb2/auction",
        content=orjson.dumps(request),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    won = {bid["impid"]: bid for sb in response.json()["seatbid"] for bid in sb["bid"]}
    for bid in won.values():
        assert notice(exchange, bid["nurl"]) == (204, "recorded")
    return won


def test_eos_example_charges_each_winner_its_externality_per_impression(
    tmp_path: Path, redis_url: str, key_prefix: str, recorder: Recorder
) -> None:
    bids = {"eos-10": "10.00", "eos-4": "4.00", "eos-2": "2.00"}
    with exchange_of(tmp_path, redis_url, key_prefix, recorder, bids) as exchange:
        won = sell(exchange, page((1.0, 0), (0.5, 0)))
        charged = {cid: spend(redis_url, exchange, cid) for cid in bids}
    assert {imp: bid["cid"] for imp, bid in won.items()} == {"1": "eos-10", "2": "eos-4"}
    assert charged == {"eos-10": 3_000, "eos-4": 1_000, "eos-2": 0}
    # Never more than the value for the slot: eos-4 is worth 4.00 × 0.5 = 2.00 CPM there,
    # 2,000 micros an impression (the per-unit price, 2.00, would have charged all of it).
    assert charged["eos-4"] < 2_000
    # bid.price and ${AUCTION_PRICE} are what the impression is charged: the CPM per impression.
    assert (won["1"]["price"], won["2"]["price"]) == (3.0, 1.0)
    assert won["2"]["adm"] == '<img src="https://eos-4.example/i.png?p=1">'
    forwarded = wait_for(recorder, f"{recorder.base_url}/win/eos-4")
    assert forwarded == [f"{recorder.base_url}/win/eos-4?price=1"]


def test_varian_example_charges_his_vcg_prices_per_impression(
    tmp_path: Path, redis_url: str, key_prefix: str, recorder: Recorder
) -> None:
    bids = {"var-8": "8", "var-6": "6", "var-4": "4", "var-3": "3"}
    with exchange_of(tmp_path, redis_url, key_prefix, recorder, bids) as exchange:
        won = sell(exchange, page((1.0, 0), (0.6, 0), (0.3, 0)))
        charged = {cid: spend(redis_url, exchange, cid) for cid in bids}
    assert [won[imp]["cid"] for imp in "123"] == ["var-8", "var-6", "var-4"]
    assert charged == {"var-8": 4_500, "var-6": 2_100, "var-4": 900, "var-3": 0}
    assert sum(charged.values()) == 7_500  # R_L: Σ s × b_{s+1} × (x_s − x_{s+1}), per page
    assert [won[imp]["price"] for imp in "123"] == [4.5, 2.1, 0.9]
    # Each below its value for its slot: 8 × 1, 6 × 0.6, 4 × 0.3 per impression.
    assert all(
        charged[cid] < value
        for cid, value in [("var-8", 8_000), ("var-6", 3_600), ("var-4", 1_200)]
    )


def test_a_floor_is_per_impression_and_the_increment_stops_at_the_value(
    tmp_path: Path, redis_url: str, key_prefix: str, recorder: Recorder
) -> None:
    # Slot 1 (CTR 0.5) has a floor of 1.00 per impression: 1.50 a unit is worth 0.75 there
    # and cannot buy it; 2.00 a unit is worth exactly 1.00 and pays that — not 1.01, which
    # the default 0.01 increment (and the bid) would allow, but its value does not. Slot 2
    # (floor 5.00) is out of everyone's reach.
    bids = {"low": "1.50", "even": "2.00"}
    with exchange_of(tmp_path, redis_url, key_prefix, recorder, bids, "0.01") as exchange:
        won = sell(exchange, page((0.5, 1.0), (1.0, 5.0)))
        charged = {cid: spend(redis_url, exchange, cid) for cid in bids}
    assert {imp: bid["cid"] for imp, bid in won.items()} == {"1": "even"}
    assert won["1"]["price"] == 1.0
    assert charged == {"low": 0, "even": 1_000}
