"""The notice spool: what it answers ``queued`` is on disk, is settled once when drained,
survives a failed drain, and is never drained while its writer is alive."""

import asyncio
from pathlib import Path

import pytest

from exchange.notice_spool import NoticeSpool, SpooledNotice, SpoolFull
from exchange.notice_token import NoticeKind


class Settler:
    """Records what it settles; fails after ``fail_after`` notices if told to."""

    def __init__(self, fail_after: int | None = None, refuse: str | None = None) -> None:
        self.settled: list[SpooledNotice] = []
        self._fail_after = fail_after
        self._refuse = refuse

    async def __call__(self, notice: SpooledNotice) -> bool:
        if self._fail_after is not None and len(self.settled) >= self._fail_after:
            raise ConnectionError("store down again")
        if notice[1] == self._refuse:
            return False
        self.settled.append(notice)
        return True


def files(directory: Path, pattern: str) -> list[bytes]:
    """The contents of the files matching ``pattern``."""
    return [path.read_bytes() for path in sorted(directory.glob(pattern))]


async def spool(directory: Path, max_bytes: int = 1 << 20) -> NoticeSpool:
    kept = NoticeSpool(directory, max_bytes=max_bytes)
    kept.start()
    return kept


async def test_a_queued_notice_is_on_disk_when_append_returns(tmp_path: Path) -> None:
    kept = await spool(tmp_path)
    await kept.append(NoticeKind.BILLING, "token-1", 1_000.5)
    (segment,) = files(tmp_path, "*.spool")
    assert segment == b'["billing","token-1",1000.5]\n'
    await kept.aclose()


async def test_a_spool_nobody_started_starts_its_writer_for_the_first_notice(
    tmp_path: Path,
) -> None:
    kept = NoticeSpool(tmp_path / "spool", max_bytes=1 << 20)
    await asyncio.wait_for(kept.append(NoticeKind.BILLING, "token-1", 1.5), timeout=5)
    assert b'"token-1"' in b"".join(files(tmp_path / "spool", "*"))
    await kept.aclose()


async def test_concurrent_notices_are_all_kept_and_drained_once_in_order(tmp_path: Path) -> None:
    kept = await spool(tmp_path)
    await asyncio.gather(*(kept.append(NoticeKind.WIN, f"t{n}", float(n)) for n in range(200)))
    assert kept.waiting()
    settler = Settler()
    assert await kept.drain(settler) == 200
    assert [token for _, token, _ in settler.settled] == [f"t{n}" for n in range(200)]
    assert not kept.waiting()
    assert files(tmp_path, "*.spool") == []
    assert await kept.drain(settler) == 0  # nothing twice
    await kept.append(NoticeKind.WIN, "after", 1.0)  # a new segment for what comes next
    assert await kept.drain(settler) == 1
    await kept.aclose()


async def test_a_drain_that_fails_keeps_the_segment_for_the_next_one(tmp_path: Path) -> None:
    kept = await spool(tmp_path)
    for n in range(10):
        await kept.append(NoticeKind.BILLING, f"t{n}", float(n))
    with pytest.raises(ConnectionError):
        await kept.drain(Settler(fail_after=4))
    assert kept.waiting()
    again = Settler()
    assert await kept.drain(again) == 10  # from the start: settling is idempotent
    assert not kept.waiting()
    await kept.aclose()


async def test_a_record_whose_token_does_not_verify_is_kept_aside(tmp_path: Path) -> None:
    kept = await spool(tmp_path)
    for token in ("good-1", "forged", "good-2"):
        await kept.append(NoticeKind.WIN, token, 1.0)
    settler = Settler(refuse="forged")
    assert await kept.drain(settler) == 2
    (rejected,) = files(tmp_path, "*.rejected")
    assert b"forged" in rejected
    assert kept.rejected == 1
    await kept.aclose()


async def test_a_live_writers_segment_is_not_drained_by_another_process(tmp_path: Path) -> None:
    writer = await spool(tmp_path)
    await writer.append(NoticeKind.WIN, "mine", 1.0)
    other = await spool(tmp_path)  # another process on the same machine
    settler = Settler()
    assert await other.drain(settler) == 0  # locked by its writer
    await writer.aclose()  # the writer is gone: its segment is an orphan
    assert await other.drain(settler) == 1
    assert [token for _, token, _ in settler.settled] == ["mine"]
    await other.aclose()


async def test_a_spool_left_by_a_dead_process_is_drained_at_the_next_start(
    tmp_path: Path,
) -> None:
    first = await spool(tmp_path)
    await first.append(NoticeKind.BILLING, "left-behind", 1.0)
    await first.aclose()
    restarted = await spool(tmp_path)
    assert restarted.size_bytes > 0
    settler = Settler()
    assert await restarted.drain(settler) == 1
    await restarted.aclose()


async def test_the_spool_is_bounded(tmp_path: Path) -> None:
    kept = await spool(tmp_path, max_bytes=100)
    await kept.append(NoticeKind.WIN, "x" * 40, 1.0)
    with pytest.raises(SpoolFull):
        await kept.append(NoticeKind.WIN, "y" * 40, 1.0)
    await kept.aclose()
