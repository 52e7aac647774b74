"""From traffic to models: auctions for the demo campaigns over a real socket, billing
notices, clicks and conversions, ``rtb export`` of the Redis event stream, the join, and
``rtb train --events``: refusing what its bar refuses, and writing a CTR model whose
metadata names the event log once its leaves may be small.

Small on purpose: it shows the pipeline runs end to end and yields finite figures, not
that a few hundred random labels make a good model.
"""

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import orjson
import pytest
import redis

from app.cli import main
from app.main import create_app
from bidding.event_log import labelled_impressions, read_event_csv
from bidding.features import PROFILE_COLUMNS
from bidding.models import ModelError, XGBoostModel
from budget.stream import RedisEventStream
from exchange.export import export_events
from exchange.notice_token import NoticeKind, NoticeSigner
from exchange.settings import Settings
from experiments.events import units_from_events
from tests.builders import banner_imp, banner_request
from tests.servers import serve
from tests.tcf_strings import gpp_string, tc_string, usnat_section

SECRET = "train-from-events-secret-0123456789abcdef"
LANDING = "https://landing.example/"
SIZES = ((300, 250), (728, 90), (320, 50))
COUNTRIES = ("USA", "CAN", "DEU", "GBR")
DOMAINS = ("news.example.com", "sports.example.org", "recipes.example.net")
USER_ID, BUYER_UID, IP = "u-55816b39711f9b5a", "dsp-545678765467876567", "203.0.113.17"
EXT_EID = {"source": "ext.example", "uids": [{"id": "ext-uid-9d1c"}]}
CONSENT = tc_string(purposes=[1, 2, 3, 4], vendors=[755])


def request_body(rng: np.random.Generator, n: int) -> dict[str, Any]:
    imps = []
    for i in range(1 + int(rng.random() < 0.3)):
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        imps.append(banner_imp(str(i + 1), banner={"w": w, "h": h, "pos": int(rng.integers(1, 4))}))
    body = banner_request(id=f"ssp-{n}", imp=imps, tmax=1000)
    body["site"]["domain"] = DOMAINS[int(rng.integers(len(DOMAINS)))]
    body["device"]["geo"]["country"] = COUNTRIES[int(rng.integers(len(COUNTRIES)))]
    body["device"]["devicetype"] = int(rng.choice([2, 4]))
    body["user"].update(
        yob=int(rng.integers(1950, 2005)),
        gender=str(rng.choice(["M", "F"])),
        data=[{"id": "dp", "segment": [{"id": f"s{int(rng.integers(5))}"}]}],
    )
    # No age, gender or segments may leave the exchange for the in-process routers (the
    # demo bidders file gives the exchange no GVL vendor id): COPPA, GDPR the 2.5 way with
    # a real TC string (purposes 1-4, but not for the exchange), a GPP US opt-out.
    if n % 10 == 0:
        body["regs"] = {"coppa": 1}
    elif n % 10 == 3:
        body["regs"] = {"ext": {"gdpr": 1}}
        body["user"]["ext"] = {"consent": CONSENT, "eids": [EXT_EID]}
    elif n % 10 == 6:
        body["regs"] = {"gpp": gpp_string([(7, usnat_section(sale=1))]), "gpp_sid": [7]}
    return body


def is_restricted(body: dict[str, Any]) -> bool:
    return body["regs"] != banner_request()["regs"]


def events_of(redis_url: str, prefix: str) -> dict[str, int]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        counts: dict[str, int] = {}
        for _, fields in client.xrange(f"{prefix}events"):
            counts[fields["kind"]] = counts.get(fields["kind"], 0) + 1
        return counts
    finally:
        client.close()


def wait_for_events(redis_url: str, prefix: str, expected: dict[str, int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        counts = events_of(redis_url, prefix)
        if all(counts.get(kind, 0) >= n for kind, n in expected.items()):
            return
        time.sleep(0.05)
    raise AssertionError(f"events {events_of(redis_url, prefix)}, expected {expected}")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def run_traffic(client: httpx.Client, rng: np.random.Generator) -> tuple[dict[str, int], set[str]]:
    """Auctions, billing for every winner, clicks and conversions; what was sent, and the
    auction ids of the privacy-restricted requests."""
    signer = NoticeSigner(SECRET.encode())
    sent = {"winner_features": 0, "notice_billing": 0, "click": 0, "conversion": 0}
    restricted: set[str] = set()
    for n in range(300):
        body = request_body(rng, n)
        answer = client.post("/openrtb2/auction", content=orjson.dumps(body))
        if answer.status_code == 204:
            continue
        assert answer.status_code == 200, answer.text
        response = answer.json()
        if is_restricted(body):
            restricted.add(response["bidid"])
        for bid in (b for seat in response["seatbid"] for b in seat["bid"]):
            sent["winner_features"] += 1
            assert client.get(path_of(bid["burl"])).status_code == 204
            sent["notice_billing"] += 1
            token = parse_qs(urlsplit(bid["burl"]).query)["t"][0]
            billing = signer.verify(token, time.time())
            # The signal sits in a logged request field, so it does not hang on which
            # campaigns pacing lets win at this hour of the day.
            p_click = 0.8 if body["site"]["domain"] == DOMAINS[1] else 0.15
            if rng.random() >= p_click:
                continue
            click = billing._replace(kind=NoticeKind.CLICK, forward_url=LANDING)
            redirect = client.get(f"/track/click?t={signer.sign(click)}")
            assert redirect.status_code == 302
            sent["click"] += 1
            if rng.random() < 0.35:
                ids = parse_qs(urlsplit(redirect.headers["location"]).query)
                postback = {
                    "click": ids["rtb_click"][0],
                    "sig": ids["rtb_sig"][0],
                    "conversion_id": f"order-{n}",
                    "value": 25.0,
                }
                assert client.post("/track/conversion", json=postback).json() == {
                    "result": "recorded"
                }
                sent["conversion"] += 1
    return sent, restricted


def test_the_event_log_trains_ctr_and_cvr_models(
    tmp_path: Path, redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        store="redis",
        ledger_init="auto",
        redis_url=redis_url,
        redis_timeout_s=1.0,
        key_prefix=key_prefix,
        notice_secret=SECRET,  # type: ignore[arg-type]
        log_json=True,
    )  # no bidders file: the demo campaigns
    rng = np.random.default_rng(11)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        sent, restricted = run_traffic(client, rng)
        wait_for_events(redis_url, key_prefix, sent)
    assert sent["click"] >= 100  # the CVR model trains on clicked impressions only
    assert len(restricted) >= 20  # each kind of restriction won some auctions

    export = tmp_path / "events.csv"

    async def export_all() -> int:
        stream = RedisEventStream.from_url(redis_url, f"{key_prefix}events", 1_000_000)
        try:
            return await export_events(stream, export)
        finally:
            await stream.aclose()

    assert asyncio.run(export_all()) >= sum(sent.values())

    text = export.read_text()
    for personal in (USER_ID, BUYER_UID, IP, "203.0.113.0", "ext-uid-9d1c", CONSENT):
        assert personal not in text
    logged = [e for e in read_event_csv([export]) if e["kind"] == "winner_features"]
    assert len(logged) == sent["winner_features"]
    for event in logged:
        if event["auction_id"] in restricted:
            assert not {"yob", "gender", "segments", *PROFILE_COLUMNS} & set(event)
        else:
            assert {"yob", "gender", "segments", "country", "domain", "ts"} <= set(event)
    # The value-based winners were scored with the user's profile, which the traffic fed:
    # the counts they logged grow as the user's clicks and conversions come in.
    profiled = [e for e in logged if "user_clicks_30d" in e]
    assert len(profiled) >= 20
    assert set(PROFILE_COLUMNS) <= set(profiled[-1])
    assert int(profiled[0]["user_clicks_30d"]) < int(profiled[-1]["user_clicks_30d"])

    # The demo's northwind-auto runs an A/B test of its bid (northwind-bolder): each of its
    # winners names its variant, and `rtb experiment --events` reads them back.
    variants = Counter(e.get("variant") for e in logged if e.get("variant"))
    assert set(variants) == {"northwind-bolder:control", "northwind-bolder:bolder"}, variants
    assert main(["experiment", "--events", str(export), "--experiment", "northwind-bolder",
                 "--metric", "ctr", "--looks", "5"]) == 0  # fmt: skip
    report = capsys.readouterr().out
    bids = units_from_events(read_event_csv([export]), "northwind-bolder")
    for name in ("control", "bolder"):
        units = bids.of(name, len(bids))
        # Every unit is a bid the auction event named, won or lost.
        assert int(units.counts["bids"].sum()) == len(units)
        assert int(units.counts["impressions"].sum()) <= variants[f"northwind-bolder:{name}"]
        spend = units.micros["spend"].sum() / 1e6
        assert f"| {name} | {len(units):,} | {len(units):,} | {spend:,.2f} |" in report

    columns = labelled_impressions(read_event_csv([export]))
    assert len(columns["click"]) == sent["notice_billing"]
    assert int(columns["click"].sum()) == sent["click"]
    assert int(columns["conversion"].sum()) == sent["conversion"]

    # The bar the command applies: twenty rounds can never give fifty trees, so nothing is
    # written, whatever the hour's winners made of the labels.
    models = tmp_path / "models"
    argv = ["train", "--events", str(export), "--out", str(models), "--threads", "1"]
    assert main([*argv, "--no-progress", "--rounds", "20", "--min-trees", "50"]) == 1
    assert not models.exists()
    # Small leaves let the CTR model see the sports domain's click rate (0.8 against 0.15):
    # it beats the constant on the held-out part in at most five trees. A one-hot domain is
    # what the logistic baseline fits best, so the margin to it is not the point here.
    small = ["--label", "click", "--min-child-weight", "1", "--max-depth", "2", "--eta", "0.3"]
    loose = ["--min-trees", "1", "--baseline-margin", "1"]
    assert main([*argv, "--no-progress", "--rounds", "5", *small, *loose]) == 0
    meta = json.loads((models / "ctr.meta.json").read_text())
    assert meta["source"]["events"] == [str(export)]
    assert meta["source"]["impressions"] == sent["notice_billing"]
    assert meta["metrics"]["auc"] >= 0.52
    assert meta["held_out"]["log_loss"] < meta["held_out"]["constant_log_loss"]
    assert not (models / "cvr.ubj").exists()
    # The exchange's own bar still wants ten trees.
    with pytest.raises(ModelError, match=r"\d trees?, fewer than the minimum 10"):
        XGBoostModel.load(models / "ctr.ubj")
