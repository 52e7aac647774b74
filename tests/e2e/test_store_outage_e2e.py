"""Redis goes away mid-run and comes back with its data (it persists, as it must in
production): no 5xx, no in-process bids while it is gone, and recovery by itself — against
a real redis-server this test kills and restarts. (Coming back *without* its data is
tests/e2e/test_ledger_loss_e2e.py.)"""

import time
from pathlib import Path

import httpx
import orjson

from app.main import create_app
from exchange.settings import Settings
from tests.builders import banner_request
from tests.e2e.conftest import campaigns_file
from tests.redis_process import RedisProcess
from tests.servers import serve


def auction(client: httpx.Client, n: int) -> httpx.Response:
    return client.post(
        "/openrtb2/auction",
        content=orjson.dumps(banner_request(id=f"outage-{n}")),
        headers={"content-type": "application/json"},
    )


def test_the_exchange_degrades_and_recovers_with_the_store(
    tmp_path: Path, redis_process: RedisProcess
) -> None:
    settings = Settings(
        store="redis",
        ledger_init="auto",
        redis_url=redis_process.url,
        notice_secret="outage-test-secret-0123456789-abcdef",  # type: ignore[arg-type]
        bidders_file=campaigns_file(tmp_path, "http://127.0.0.1:9"),
        store_breaker_cooldown_s=0.2,
        log_json=True,
        log_level="error",
    )
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=5) as client:
        assert auction(client, 0).status_code == 200
        assert client.get("/readyz").status_code == 200

        redis_process.stop()
        outage = []
        ends = time.monotonic() + 3 * settings.store_breaker_window_s  # a sustained outage
        while time.monotonic() < ends:
            outage.append(auction(client, len(outage) + 1))
        assert {r.status_code for r in outage} == {204}  # no in-process bid; never a 5xx
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["store"] is False
        # Open, or half-open if its 0.2 s cool-down ran out before this read (a busy
        # machine): either way not closed while Redis is down.
        metrics = client.get("/metrics").text
        assert "rtb_store_circuit_state 2.0" in metrics or "rtb_store_circuit_state 1.0" in metrics

        redis_process.start()
        recovered = None
        for n in range(100, 400):
            if auction(client, n).status_code == 200:
                recovered = n
                break
            time.sleep(0.02)
        assert recovered is not None, "bidding did not resume after Redis came back"
        ready_again = [client.get("/readyz").status_code for _ in range(20)]
        assert ready_again[-1] == 200
        assert "rtb_store_circuit_state 0.0" in client.get("/metrics").text
