"""locust against the exchange: SSPs posting the request mix of ``bench.traffic`` and firing
the win and billing notices of every bid they win (``bench.answers``).

    locust -f bench/locustfile.py --headless -H http://127.0.0.1:8000 -u 20 -r 10 -t 60s

(``make load`` runs that; ``make load-check`` is the CI run). Each simulated user is one SSP
connection sending auctions at ``RTB_LOAD_USER_RPS`` each (a closed loop with 0) and its own
seeded sequence: user *n* replays ``TrafficMix(RTB_LOAD_SEED + n)``. Requests are named by
kind (``auction site-banner``, ``notice win``…) so that the summary reads per kind.

What counts as a failure: an auction answered other than 200 or 204, a 200 whose body is not
a valid bid response, a notice answered other than 204 or 202 (queued while the store is
away). A shed request (the exchange's 204 under overload) is an answer, not a failure.

Environment: ``RTB_LOAD_API_KEY`` (sent as ``x-api-key`` when set), ``RTB_LOAD_SEED``
(default 1), ``RTB_LOAD_USER_RPS`` (default 10), ``RTB_BIDDERS_FILE`` (the deals offered are
those its campaigns buy; default the demo campaigns, as ``make run`` loads them).
"""

import itertools
import os
import time
from pathlib import Path
from typing import Final

from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment
from locust.stats import print_error_report

from bench.answers import imp_multipliers, notices
from bench.payloads import AUCTION_PATH
from bench.traffic import TrafficMix, configured_deal_ids
from openrtb.errors import InvalidResponse

SEED: Final = int(os.environ.get("RTB_LOAD_SEED", "1"))
USER_RPS: Final = float(os.environ.get("RTB_LOAD_USER_RPS", "10"))
API_KEY: Final = os.environ.get("RTB_LOAD_API_KEY") or None
_bidders = os.environ.get("RTB_BIDDERS_FILE")
DEAL_IDS: Final = configured_deal_ids(Path(_bidders) if _bidders else None)

_NOTICE_OK: Final = frozenset({202, 204})
_user_numbers = itertools.count()


def _error_report(environment: Environment, **_: object) -> None:
    """With ``--json-file`` (``make load-check``) locust prints no error report of its own
    (and writes its CSVs only on an interval): print it, or a failure would go unexplained."""
    options = environment.parsed_options
    if options is not None and options.json_file and environment.stats.errors:
        print_error_report(environment.stats)


events.quitting.add_listener(_error_report)  # type: ignore[no-untyped-call]  # locust: untyped


class SSP(FastHttpUser):
    """One SSP connection: auctions from its own seeded mix, the notices of what it wins."""

    wait_time = constant_throughput(USER_RPS) if USER_RPS > 0 else constant(0)

    def on_start(self) -> None:
        self.mix = TrafficMix(SEED + next(_user_numbers), deal_ids=DEAL_IDS)
        self.headers = {"content-type": "application/json"}
        if API_KEY:
            self.headers["x-api-key"] = API_KEY

    @task
    def auction(self) -> None:
        request = self.mix.next()
        headers = {**self.headers, "x-openrtb-version": request.version}
        with self.client.post(
            AUCTION_PATH,
            data=request.encoded(),  # type: ignore[arg-type]  # bytes: see its docstring
            headers=headers,
            name=f"auction {request.kind}",
            catch_response=True,
        ) as response:
            status = response.status_code
            if status == 204:
                response.success()
                return
            if status != 200:
                response.failure(f"status {status}: {(response.text or '')[:200]}")
                return
            try:
                won = notices(
                    response.content or b"",
                    request_id=request.body["id"],
                    imp_ts_ms=int(time.time() * 1000),
                    multipliers=imp_multipliers(request.body),
                )
            except InvalidResponse as exc:
                response.failure(f"not a bid response: {exc}")
                return
            response.success()
        for notice in won:
            with self.client.get(
                notice.url, name=f"notice {notice.kind}", catch_response=True
            ) as answer:
                if answer.status_code in _NOTICE_OK:
                    answer.success()
                else:
                    answer.failure(f"status {answer.status_code}: {(answer.text or '')[:200]}")
