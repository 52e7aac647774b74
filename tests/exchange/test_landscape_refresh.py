"""The hourly landscape refresh end to end: first-price auctions through the real core leave
``shading`` events; ``rtb landscapes`` over their export rebuilds exactly the book the router
learnt online; a process started with that file shades on it from its first auction, and a
file that does not parse changes nothing."""

import asyncio
import csv
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from bidding.router import CampaignRouter
from bidding.shading import LandscapeBook
from budget.stream import MemoryEventStream
from exchange.services import Services
from exchange.settings import Settings
from exchange.wiring import Injected, build_services, start_services, stop_services
from openrtb.request import BidRequest
from tests.builders import banner_request


def _request(n: int) -> BidRequest:
    body = banner_request(id=f"fp-{n}", at=1)
    body["site"]["publisher"]["id"] = f"pub-{n % 3}"
    body["imp"][0]["bidfloor"] = 0.05
    return BidRequest.model_validate(body)


def _house(services: Services) -> CampaignRouter:
    router = services.registry.bidders["house"]
    assert isinstance(router, CampaignRouter)
    return router


def _weights(book: LandscapeBook) -> dict[str, np.ndarray]:
    return {key: landscape.weights for key, landscape in book.items()}


async def _serve_auctions(
    settings: Settings, count: int
) -> tuple[list[dict[str, str]], LandscapeBook]:
    ring = MemoryEventStream()
    services = build_services(settings, Injected(stream=ring))
    background = await start_services(services, announce=False)
    try:
        for n in range(count):
            await services.exchange.auction(
                _request(n), received_at=time.monotonic(), notice_base_url="http://x"
            )
            await services.exchange.drain()
    finally:
        await stop_services(services, background)
    events = [event for _, event in await ring.read("test", "c", 100_000)]
    return events, _house(services).landscapes


def _export(events: list[dict[str, str]], path: Path) -> None:
    columns = sorted({name for event in events for name in event})
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(events)


async def test_the_log_rebuilds_the_online_landscapes_and_a_new_process_starts_from_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(store="memory", currency_rates_refresh_s=0, ivt_device="off")
    events, online = await _serve_auctions(settings, 120)
    shading = [e for e in events if e["kind"] == "shading"]
    assert len(shading) >= 100  # every auction with house bids in it
    # Publisher × size × country: every publisher's buckets.
    assert {key.split("|")[0] for key in _weights(online)} == {"pub-0", "pub-1", "pub-2"}
    export, landscapes = tmp_path / "events.csv", tmp_path / "landscapes.npz"
    _export(events, export)
    argv = ["landscapes", "--events", str(export), "--out", str(landscapes), "--hours", "1"]
    assert main(argv) == 0
    assert "router house:" in capsys.readouterr().out
    assert "router house:" in landscapes.with_suffix(".md").read_text()

    refreshed = settings.model_copy(update={"landscape_file": landscapes})
    services = build_services(refreshed, Injected(stream=MemoryEventStream()))
    background = await start_services(services, announce=False)
    try:
        assert services.landscapes is not None
        for _ in range(100):  # the refresh runs at start, in a worker thread
            if services.landscapes.counts["refreshed"]:
                break
            await asyncio.sleep(0.02)
        rebuilt = _weights(_house(services).landscapes)
        assert rebuilt.keys() == _weights(online).keys()
        for key, weights in _weights(online).items():
            assert np.allclose(rebuilt[key], weights, atol=1e-12), key
        landscapes.write_text("{ half a file")
        assert not await services.landscapes.refresh_if_changed()
        assert services.landscapes.counts == {"refreshed": 1, "refused": 1}
        assert _weights(_house(services).landscapes).keys() == rebuilt.keys()
    finally:
        await stop_services(services, background)
    assert main([*argv[:-2], "--hours", "1", "--now", "1"]) == 1  # nothing in that window
