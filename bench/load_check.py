"""``make load-check``: the exchange as ``make run`` starts it, under locust for a short run,
failed on any failed request or any 5xx.

It starts ``rtb serve`` (the demo campaigns, in-memory counters, the environment's ``RTB_*``
settings; machine state in a temporary directory) on a free port, waits for ``/healthz``,
runs ``bench/locustfile.py`` headless, then reads three independent verdicts:

* locust's exit code (1 when any request failed, by the locustfile's rules);
* locust's final stats (``--json-file``: every request counted, unlike its CSV, which is
  written on an interval and misses the last second): requests, failures, p50 and p99
  (the locustfile prints locust's error report, which ``--json-file`` suppresses);
* the exchange's own ``rtb_http_request_duration_seconds`` counts by status class, so that
  a 5xx is caught even if a locustfile change stopped calling it a failure.

A run that won nothing (no notice fired) fails too: it would time only the no-bid path.
Exit status 0 when all hold, 1 otherwise, 2 when the exchange did not come up.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.processes import serve_on_free_port, tail

__all__ = [
    "NameStats",
    "Summary",
    "main",
    "percentile_ms",
    "server_statuses",
    "summarize",
    "verdict",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True, slots=True)
class NameStats:
    """One request name's figures (``auction site-banner``, ``notice win``…)."""

    requests: int
    failures: int
    p50_ms: int | None
    p99_ms: int | None


@dataclass(frozen=True, slots=True)
class Summary:
    """What one locust run did, over every request it made (auctions and notices)."""

    requests: int
    failures: int
    p50_ms: int | None
    p99_ms: int | None
    by_name: Mapping[str, NameStats]

    @property
    def notices(self) -> int:
        """Notice calls made: how many wins were fired."""
        return sum(s.requests for name, s in self.by_name.items() if name.startswith("notice "))


def percentile_ms(response_times: Mapping[int, int], q: float) -> int | None:
    """The ``q`` quantile (0–1) of locust's response-time histogram (ms, as locust rounds
    them → count): the smallest time at or below which a share ``q`` of requests fell."""
    total = sum(response_times.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for ms in sorted(response_times):
        seen += response_times[ms]
        if seen >= rank:
            return ms
    return max(response_times)


def summarize(entries: Sequence[Mapping[str, Any]]) -> Summary:
    """The summary of locust's ``--json-file`` stats (one entry per method and name)."""
    merged: dict[int, int] = {}
    times: dict[str, dict[int, int]] = {}
    counts: dict[str, tuple[int, int]] = {}
    for entry in entries:
        name = entry["name"]
        own = times.setdefault(name, {})
        for ms_text, count in entry["response_times"].items():
            ms = int(float(ms_text))
            merged[ms] = merged.get(ms, 0) + int(count)
            own[ms] = own.get(ms, 0) + int(count)
        requests, failures = counts.get(name, (0, 0))
        counts[name] = (
            requests + int(entry["num_requests"]),
            failures + int(entry["num_failures"]),
        )
    by_name = {
        name: NameStats(n, f, percentile_ms(times[name], 0.50), percentile_ms(times[name], 0.99))
        for name, (n, f) in sorted(counts.items())
    }
    return Summary(
        requests=sum(s.requests for s in by_name.values()),
        failures=sum(s.failures for s in by_name.values()),
        p50_ms=percentile_ms(merged, 0.50),
        p99_ms=percentile_ms(merged, 0.99),
        by_name=by_name,
    )


def server_statuses(metrics_text: str) -> dict[str, int]:
    """Requests the exchange answered, by status class (``2xx``…), from its ``/metrics``."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "rtb_http_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count"):
                status = sample.labels.get("status", "")
                counts[status] = counts.get(status, 0) + int(sample.value)
    return counts


def _get(url: str, timeout_s: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rtb serve exited with status {process.returncode}")
        try:
            if _get(f"{url}/healthz", timeout_s=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url}/healthz did not answer 200 within {timeout_s:.0f} s")


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load_check",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--duration", type=int, default=20, help="seconds of load (default: %(default)s)"
    )
    parser.add_argument(
        "--users", type=int, default=10, help="locust users, SSP connections (default: %(default)s)"
    )
    parser.add_argument(
        "--spawn-rate",
        type=float,
        default=10,
        help="users started per second (default: %(default)s)",
    )
    parser.add_argument(
        "--user-rps",
        type=float,
        default=10,
        help="auctions per second per user, 0: closed loop (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="keep the logs and stats here (default: a temporary directory)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; the exit status says whether it held."""
    options = _options(argv)
    with tempfile.TemporaryDirectory(prefix="rtb-load-check-") as scratch:
        out = options.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        return _run(options, out, Path(scratch))


def _run(options: argparse.Namespace, out: Path, scratch: Path) -> int:
    env = {**os.environ, "RTB_LOAD_USER_RPS": str(options.user_rps)}
    env.setdefault("RTB_STATE_DIR", str(scratch / "state"))
    rtb = str(Path(sys.executable).with_name("rtb"))
    server_log = out / "rtb-serve.log"
    stats_prefix = out / "locust"
    try:
        with serve_on_free_port(
            lambda port: [rtb, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env,
            server_log,
            "rtb serve",
        ) as (process, port):
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, process, timeout_s=60)
            print(f"load-check: rtb serve at {url}; locust for {options.duration} s", flush=True)
            locust = subprocess.run(
                [
                    *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)),
                    *("--headless", "--host", url, "--only-summary"),
                    *("--users", str(options.users), "--spawn-rate", str(options.spawn_rate)),
                    *("--run-time", f"{options.duration}s", "--stop-timeout", "5"),
                    *("--json-file", str(stats_prefix)),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                timeout=options.duration + 120,
                check=False,
            )
            status, metrics = _get(f"{url}/metrics")
            if process.poll() is not None:
                print(f"load-check: FAILED: rtb serve exited during the run:\n{tail(server_log)}")
                return 1
    except (RuntimeError, TimeoutError) as exc:
        print(f"load-check: the exchange did not come up: {exc}", file=sys.stderr)
        return 2
    entries = json.loads(stats_prefix.with_suffix(".json").read_text())
    summary = summarize(entries)
    result = verdict(summary, locust.returncode, server_statuses(metrics), status)
    if result:  # locust's error report, if any, is above (bench/locustfile.py prints it)
        print(f"the exchange's log: {server_log}" if options.out else tail(server_log))
    return result


def verdict(
    summary: Summary, locust_rc: int, statuses: Mapping[str, int], metrics_status: int
) -> int:
    """Print the summary and the problems found; 0 when there are none, else 1."""
    server_5xx = sum(n for status, n in statuses.items() if status.startswith("5"))
    print("\nload-check summary")
    print(f"  {'name':<24} {'requests':>9} {'failures':>9} {'p50 ms':>7} {'p99 ms':>7}")
    for name, s in summary.by_name.items():
        print(
            f"  {name:<24} {s.requests:>9,} {s.failures:>9,} {_ms(s.p50_ms):>7} {_ms(s.p99_ms):>7}"
        )
    p50, p99 = _ms(summary.p50_ms), _ms(summary.p99_ms)
    answered = ", ".join(f"{s} {n:,}" for s, n in sorted(statuses.items()))
    print(
        f"  requests {summary.requests:,}, failures {summary.failures:,}, p50 {p50} ms, "
        f"p99 {p99} ms; the exchange answered: {answered or 'unknown'}"
    )
    problems = []
    if locust_rc != 0:
        problems.append(f"locust exited with status {locust_rc}")
    if summary.failures:
        problems.append(f"{summary.failures:,} failed requests")
    if metrics_status != 200:
        problems.append(f"/metrics answered {metrics_status}")
    if server_5xx:
        problems.append(f"{server_5xx:,} answers 5xx")
    if summary.requests == 0:
        problems.append("no request was made")
    elif summary.notices == 0:
        problems.append("no auction was won (no notice fired): only the no-bid path was timed")
    if problems:
        print(f"load-check: FAILED: {'; '.join(problems)}")
        return 1
    print("load-check: passed")
    return 0


def _ms(value: int | None) -> str:
    return "-" if value is None else str(value)


if __name__ == "__main__":
    sys.exit(main())
