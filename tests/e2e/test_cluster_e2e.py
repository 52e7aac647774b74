"""The whole exchange on a real 3-node Redis Cluster: ``rtb ledger init``, auctions whose
holds go to several nodes at once, billing notices charged once, ``rtb export`` of the
sharded stream, ``rtb ledger status`` — and a node that loses its data: the exchange stops
money, queues notices, and after ``rtb ledger restore`` from the export resumes with the
day's spend intact on that node.
"""

import csv
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from redis.cluster import RedisCluster

from app.cli import main as rtb
from app.main import create_app
from budget.keys import KeySpace
from tests.e2e.test_ledger_loss_e2e import notice, settings, spool_empty, wait, won
from tests.redis_cluster import ClusterProcesses, point_rtb_at, running_cluster
from tests.servers import serve

SECRET = "cluster-e2e-secret-0123456789-abcdef"
PREFIX = "e2e-cluster:"
CAMPAIGNS = {"alpha": "2.40", "bravo": "2.20", "charlie": "2.00", "delta": "1.90"}
COST_MICROS = 2_400  # alpha's first-price bid, per impression
AUCTIONS = 12


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcesses]:
    with running_cluster(tmp_path_factory) as cluster:
        yield cluster


@pytest.fixture
def environment(
    tmp_path: Path, redis_cluster: ClusterProcesses, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An operator's environment pointing every ``rtb`` command at the cluster."""
    creative = {"w": 300, "h": 250, "adm": "<i>"}
    campaigns = [
        {
            "id": cid,
            "advertiser": cid.title(),
            "seat": cid,
            "bid_cpm": bid,
            "daily_budget": "10.00",
            "creatives": [{**creative, "id": f"{cid}-mpu", "adomain": [f"{cid}.example"]}],
        }
        for cid, bid in CAMPAIGNS.items()
    ]
    bidders = tmp_path / "bidders.json"
    bidders.write_bytes(orjson.dumps({"routers": [{"name": "house", "campaigns": campaigns}]}))
    point_rtb_at(
        redis_cluster,
        monkeypatch,
        key_prefix=PREFIX,
        bidders_file=str(bidders),
        notice_secret=SECRET,
    )
    return tmp_path


def cluster_client(cluster: ClusterProcesses) -> RedisCluster:
    return RedisCluster.from_url(cluster.url, socket_timeout=2)


def spend_and_held(cluster: ClusterProcesses) -> dict[str, tuple[int, int]]:
    """Each campaign's spend and money held today, read from the cluster."""
    keys, day = KeySpace(PREFIX), datetime.now(UTC).date().isoformat()
    client = cluster_client(cluster)
    try:
        return {
            cid: (
                int(client.get(keys.account(cid, day).spend) or 0),
                int(client.get(keys.account(cid, day).held) or 0),
            )
            for cid in CAMPAIGNS
        }
    finally:
        client.close()


def node_of(cluster: ClusterProcesses, key: str) -> int:
    client = cluster_client(cluster)
    try:
        return cluster.ports.index(client.get_node_from_key(key).port)
    finally:
        client.close()


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_the_exchange_bills_exports_and_survives_a_node_losing_its_data(
    environment: Path, redis_cluster: ClusterProcesses
) -> None:
    keys = KeySpace(PREFIX)
    nodes = {cid: node_of(redis_cluster, keys.ledger_marker(cid)) for cid in CAMPAIGNS}
    assert len(set(nodes.values())) > 1, "the campaigns' holds must span nodes"
    assert rtb(["ledger", "init"]) == 0
    export = environment / "events.csv"
    with serve(create_app(settings())) as url, httpx.Client(base_url=url, timeout=5) as client:
        wait(lambda: client.get("/readyz").status_code == 200, "the exchange is ready")
        bills = [won(client, n) for n in range(AUCTIONS)]
        assert all(bills)
        for bill in bills:
            assert notice(client, str(bill)) == (204, "recorded")
        assert [notice(client, str(b)) for b in bills] == [(204, "duplicate")] * AUCTIONS
        charged = AUCTIONS * COST_MICROS
        # The losers' holds go back off the request path; the winner's went at its notice.
        wait(
            lambda: all(held == 0 for _, held in spend_and_held(redis_cluster).values()),
            "every hold is released or settled",
        )
        assert spend_and_held(redis_cluster) == {
            "alpha": (charged, 0),
            "bravo": (0, 0),
            "charlie": (0, 0),
            "delta": (0, 0),
        }
        attempt = itertools.count()
        wait(lambda: _exported(export, attempt) == 2 * AUCTIONS, "every event is exported")
        assert rtb(["ledger", "status"]) == 0

        # alpha's node loses everything (a failover to an empty replica).
        redis_cluster.ask_node(nodes["alpha"], "FLUSHALL")
        wait(lambda: client.get("/readyz").status_code == 503, "readiness fails")
        assert client.get("/readyz").json()["ledger"]["state"] == "lost"
        assert all(won(client, n) is None for n in range(100, 105))  # no in-process bid
        assert [notice(client, str(b)) for b in bills] == [(202, "queued")] * AUCTIONS
        assert spend_and_held(redis_cluster)["alpha"] == (0, 0)
        assert rtb(["ledger", "status"]) == 1

        assert rtb(["ledger", "restore", "--events", str(export)]) == 0
        wait(lambda: client.get("/readyz").status_code == 200, "the restored ledger is adopted")
        wait(lambda: spool_empty(client), "the spool is drained")
        assert spend_and_held(redis_cluster)["alpha"] == (charged, 0)  # restored, not doubled
        assert [notice(client, str(b)) for b in bills] == [(204, "duplicate")] * AUCTIONS
        late = won(client, 200)
        assert late is not None
        assert notice(client, late) == (204, "recorded")
        assert spend_and_held(redis_cluster)["alpha"][0] == charged + COST_MICROS


def _exported(export: Path, attempt: "itertools.count[int]") -> int:
    """``rtb export`` of the whole stream (a new consumer group reads from the start) into
    ``export``: how many auction and billing events it holds."""
    assert rtb(["export", "--out", str(export), "--group", f"try-{next(attempt)}"]) == 0
    rows = read_rows(export)
    times = [int(r["ts_ms"]) for r in rows]
    assert times == sorted(times)  # one file, in event time, from every shard
    kinds = [r["kind"] for r in rows]
    return kinds.count("auction") + kinds.count("notice_billing")
