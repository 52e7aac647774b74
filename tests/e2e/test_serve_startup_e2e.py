"""``rtb serve`` as an operator runs it, in a subprocess: a bad configuration is one
message listing every problem (exit 2, no traceback); a good one starts with one
structured line naming the URL, version, store, bidders and models."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from exchange.metrics import build_version
from tests.servers import free_port

RTB = str(Path(sys.executable).with_name("rtb"))


def run_rtb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RTB, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def bad_bidders_file(directory: Path) -> Path:
    """Three problems in two routers' campaigns and a DSP."""
    path = directory / "bidders.json"
    campaign = {
        "id": "c1",
        "advertiser": "A",
        "seat": "a",
        "bid_cpm": "1.00",
        "daily_budget": "-5",
        "creatives": [{"id": "k", "w": 300, "h": 250, "adm": "<b>", "adomain": ["a.example"]}],
    }
    spec = {
        "routers": [{"name": "house", "campaigns": [campaign, {**campaign, "id": "c2"}]}],
        "dsps": [{"name": "acme", "endpoint": "ftp://acme.example", "timeout_ms": 40}],
    }
    path.write_bytes(orjson.dumps(spec))
    return path


def test_a_bad_environment_and_bidders_file_are_one_message_with_every_problem(
    tmp_path: Path,
) -> None:
    bidders = bad_bidders_file(tmp_path)
    env = {"RTB_PORT": "99999", "RTB_STORE": "nosql", "RTB_BIDDERS_FILE": str(bidders)}
    result = run_rtb(env, "serve")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "rtb serve: configuration error: 5 problems:"
    assert lines[1].startswith("  RTB_PORT: ")
    assert lines[2].startswith("  RTB_STORE: ")
    assert lines[3].startswith(f"  {bidders}: routers[0].campaigns[0].daily_budget: ")
    assert lines[4].startswith(f"  {bidders}: routers[0].campaigns[1].daily_budget: ")
    assert lines[5].startswith(f"  {bidders}: dsps[0].endpoint: ")
    assert "Traceback" not in result.stderr


def test_a_bad_bidders_file_alone_lists_its_problems(tmp_path: Path) -> None:
    bidders = bad_bidders_file(tmp_path)
    result = run_rtb({"RTB_BIDDERS_FILE": str(bidders)}, "serve")
    assert result.returncode == 2
    assert result.stderr.startswith("rtb serve: configuration error: 3 problems:\n")
    assert "Traceback" not in result.stderr
    missing = run_rtb({"RTB_BIDDERS_FILE": str(tmp_path / "none.json")}, "serve")
    assert missing.returncode == 2
    assert missing.stderr == (
        "rtb serve: configuration error: 1 problem:\n"
        f"  {tmp_path / 'none.json'}: cannot read: No such file or directory\n"
    )


def test_the_start_up_line_names_url_version_store_bidders_and_models(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RTB_LOG_JSON": "true",
        "RTB_STORE": "memory",
        "RTB_STATE_DIR": str(tmp_path),
    }
    env.pop("RTB_BIDDERS_FILE", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RTB, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "rtb serve did not answer"
                time.sleep(0.05)
        finally:
            process.terminate()
            process.wait(timeout=30)
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (started,) = [e for e in events if e["event"] == "exchange_started"]
    assert started["url"] == f"http://127.0.0.1:{port}"
    assert started["version"] == build_version() != "unknown"
    assert (started["store"], started["store_url"]) == ("memory", None)
    assert started["bidders_in_process"] == ["house"]
    assert started["bidders_external"] == []
    assert started["bidders_file"] == "demo"
    assert started["models"] in ("compiled", "xgboost-c", "xgboost", "rules")
    assert set(started["model_paths"]) == {"ctr", "cvr"}
    assert started["model_dir"].endswith("model_files")
    assert (started["auth"], started["accounts"]) == ("open", 0)
    (warning,) = [e for e in events if e["event"] == "auth_open"]
    assert warning["level"] == "warning"
    assert "RTB_ACCOUNTS_FILE" in warning["message"]


def test_a_bad_accounts_file_is_listed_with_the_other_problems(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_bytes(
        orjson.dumps({"accounts": [{"id": "a b", "key_digests": ["md5:x"], "debug": "maybe"}]})
    )
    result = run_rtb({"RTB_PORT": "99999", "RTB_ACCOUNTS_FILE": str(accounts)}, "serve")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "rtb serve: configuration error: 4 problems:"
    assert lines[1].startswith("  RTB_PORT: ")
    assert [line.split(": ")[1] for line in lines[2:]] == [
        "accounts[0].id",
        "accounts[0].key_digests[0]",
        "accounts[0].debug",
    ]
    assert "Traceback" not in result.stderr
    keys_without_file = run_rtb({"RTB_AUTH": "keys"}, "serve")
    assert keys_without_file.returncode == 2
    assert "RTB_ACCOUNTS_FILE" in keys_without_file.stderr
