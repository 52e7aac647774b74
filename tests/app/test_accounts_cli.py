"""``rtb accounts``: a new key with its digest, the digest of a key from stdin, and a check
of an accounts file listing every problem."""

import io
import json
from pathlib import Path

import pytest

from app.cli import main
from exchange.accounts import AccountBook, key_digest


def test_a_new_key_comes_with_the_digest_the_file_needs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["accounts", "key"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[0].removeprefix("key:").strip()
    digest = json.loads(out[1].removeprefix("digest:").strip())
    assert digest == key_digest(key)
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": [{"id": "ssp", "key_digests": [digest]}]}))
    found = AccountBook.load(path).by_key(key)
    assert found is not None
    assert found.id == "ssp"


def test_digest_reads_the_key_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("rtbk_abc\n"))
    assert main(["accounts", "digest"]) == 0
    assert capsys.readouterr().out.strip() == key_digest("rtbk_abc")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["accounts", "digest"]) == 2
    assert "no key" in capsys.readouterr().err


def test_check_lists_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": [{"id": "", "key_digests": ["x"], "extra": 1}]}))
    assert main(["accounts", "check", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "rtb accounts check: 3 problems:"
    assert [line.split(": ")[1] for line in err[1:]] == [
        "accounts[0].id",
        "accounts[0].key_digests[0]",
        "accounts[0].extra",
    ]
    path.write_text(json.dumps({"accounts": [{"id": "a", "key_digests": [key_digest("k")]}]}))
    assert main(["accounts", "check", str(path)]) == 0
    assert "1 accounts, no problems" in capsys.readouterr().out
