"""Knowing that the store is the ledger this process wrote to, and stopping when it is not.

A Redis that restarts without its data (no persistence, a failover to an empty replica)
answers every read with zero: today's spend, the markers of charged impressions, all gone.
An exchange that believed it would spend every budget a second time and charge every
replayed notice again. So the ledger has an identity:

- the *record* (one hash) holds a random ``epoch``, a ``generation`` and the campaigns
  registered in it; it is created once, by ``rtb ledger init`` (or automatically where the
  settings allow, for throwaway stores);
- every campaign has a *marker* key holding the epoch, on the campaign's own shard; every
  money script (reserve, settle) checks it before it changes anything, atomically.

A store that lost its data lost the markers too: the scripts refuse (``LedgerLost``), and
this watch, which also re-reads the record and the markers every few seconds, moves to
LOST — no in-process bid, no charge; notices wait in the spool; ``/readyz`` says why —
until an operator restores the ledger (``rtb ledger restore``), which writes a new epoch.
A LOST process adopts a new epoch only when the record and every one of its campaigns'
markers agree on it. A campaign that is not in the record yet is new, and is registered; a
registered campaign without a marker is a shard that lost its data.

What is lost is written back into the store that lost it (``ledger-lost``: the epoch, why,
when), so ``rtb ledger init`` refuses to paper over it; and each machine remembers the
epoch it last used in a file (``remember``), so a process that starts *after* the loss,
finding no record, knows it is a loss and not a new deployment.
"""

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from budget.keys import KeySpace
from budget.store import CounterStore, LedgerLost, StoreUnavailable

log = structlog.get_logger("budget.ledger_watch")

__all__ = ["LedgerState", "LedgerStatus", "LedgerWatch", "new_record"]


class LedgerState(StrEnum):
    """Whether money may move; the value is the label in metrics and ``/readyz``."""

    READY = "ready"
    UNINITIALISED = "uninitialised"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    """The state, why, and the ledger in use (when READY)."""

    state: LedgerState
    reason: str = ""
    epoch: str | None = None
    generation: int = 0


_IDENTITY = ("epoch", "generation")

NOT_INITIALISED = (
    "the store has no ledger record: run `rtb ledger init` for a new deployment, or "
    "`rtb ledger restore` if the store lost its data"
)


def new_record(how: str, generation: int, now_s: float | None = None) -> dict[str, str]:
    """The fields of a fresh ledger record (a new random epoch)."""
    return {
        "epoch": secrets.token_hex(12),
        "generation": str(generation),
        "how": how,
        "at_ms": str(int((time.time() if now_s is None else now_s) * 1000)),
    }


class LedgerWatch:
    """Opens the ledger for a process's campaigns and keeps checking it."""

    def __init__(
        self,
        store: CounterStore,
        keys: KeySpace,
        campaign_ids: Sequence[str],
        *,
        auto_init: bool,
        on_change: Callable[[LedgerStatus], None] | None = None,
        remember: Path | None = None,
    ) -> None:
        self._store = store
        self._keys = keys
        self._campaigns = tuple(dict.fromkeys(campaign_ids))
        self._auto_init = auto_init
        self._on_change = on_change
        self._remember = remember
        self._status = LedgerStatus(LedgerState.UNINITIALISED, "not opened yet")
        self._lost_epoch: str | None = None
        """The epoch this process stopped trusting (a LOST process adopts another only)."""
        self._task: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[LedgerStatus] | None = None

    @property
    def status(self) -> LedgerStatus:
        """The current state (reading it does no I/O)."""
        return self._status

    @property
    def ready(self) -> bool:
        """Whether money may move."""
        return self._status.state is LedgerState.READY

    async def open(self) -> LedgerStatus:
        """Read (or, where allowed, create) the record, register new campaigns, check the
        markers; READY only when all of it agrees."""
        record = await self._store.read_record(self._keys.ledger_record)
        remembered = self._remembered()
        if "epoch" not in record and remembered is not None:
            reason = (
                f"the store has no ledger record, but this machine last used epoch "
                f"{remembered}: the store lost its data; run `rtb ledger restore`"
            )
            await self._mark_lost(remembered, reason)
            self._lose(remembered, reason)
            return self._status
        if "epoch" not in record and self._auto_init:
            record = await self._store.create_record(
                self._keys.ledger_record, new_record("auto", 1)
            )
            log.info("ledger_created", epoch=record.get("epoch"), how="auto")
        if "epoch" not in record:
            self._move(LedgerStatus(LedgerState.UNINITIALISED, NOT_INITIALISED))
            return self._status
        return await self._adopt(record)

    async def _adopt(self, record: Mapping[str, str]) -> LedgerStatus:
        epoch = record["epoch"]
        markers = await self._store.read_texts(
            [self._keys.ledger_marker(cid) for cid in self._campaigns]
        )
        problems = []
        for campaign_id, marker in zip(self._campaigns, markers, strict=True):
            if marker == epoch:
                continue
            if marker is None and f"campaign:{campaign_id}" not in record:
                await self._store.register_campaign(
                    self._keys.ledger_record,
                    self._keys.ledger_marker(campaign_id),
                    campaign_id,
                    epoch,
                )
                continue
            problems.append(_marker_problem(campaign_id, marker))
        if problems:
            # A fresh process distrusts this epoch for good; a LOST one keeps distrusting the
            # epoch it lost and may still adopt this one once its markers are all written.
            if self._lost_epoch is None:
                await self._mark_lost(epoch, _summary(problems))
            self._lose(self._lost_epoch or epoch, _summary(problems))
            return self._status
        self._lost_epoch = None
        self._store.use_epoch(epoch)
        self._write_remembered(epoch)
        self._move(
            LedgerStatus(LedgerState.READY, "", epoch, int(record.get("generation", "0") or 0))
        )
        return self._status

    def _lose(self, epoch: str | None, reason: str) -> None:
        self._store.use_epoch(None)
        self._lost_epoch = epoch
        self._move(LedgerStatus(LedgerState.LOST, reason))

    async def _mark_lost(self, epoch: str | None, reason: str) -> None:
        """Tell the store (and so the operator's tools) what it lost; the first to find it
        writes it."""
        fields = {"epoch": epoch or "", "reason": reason, "at_ms": str(int(time.time() * 1000))}
        try:
            await self._store.create_record(self._keys.ledger_lost, fields)
        except StoreUnavailable as exc:
            log.warning("ledger_loss_not_recorded", error=str(exc))

    def _remembered(self) -> str | None:
        if self._remember is None:
            return None
        try:
            return self._remember.read_text().strip() or None
        except FileNotFoundError:
            return None

    def _write_remembered(self, epoch: str) -> None:
        if self._remember is None:
            return
        try:
            self._remember.parent.mkdir(parents=True, exist_ok=True)
            partial = self._remember.with_suffix(".partial")
            partial.write_text(epoch)
            partial.replace(self._remember)
        except OSError as exc:
            log.warning("ledger_epoch_not_remembered", path=str(self._remember), error=str(exc))

    async def check(self) -> LedgerStatus:
        """Re-read the record and the markers: READY → LOST when they no longer agree with
        the epoch in use; LOST/UNINITIALISED → READY when a new ledger is in place."""
        status = self._status
        # Only the record's identity: it also lists every registered campaign, and every
        # process reads it every few seconds.
        record = await self._store.read_record(self._keys.ledger_record, _IDENTITY)
        epoch = record.get("epoch")
        if status.state is LedgerState.READY:
            if epoch != status.epoch:
                what = "is gone" if epoch is None else f"has epoch {epoch}"
                reason = f"the ledger record {what}, not {status.epoch}"
                if epoch is None:
                    await self._mark_lost(status.epoch, reason)
                self._lose(status.epoch, reason)
                return self._status
            markers = await self._store.read_texts(
                [self._keys.ledger_marker(cid) for cid in self._campaigns]
            )
            problems = [
                _marker_problem(cid, marker)
                for cid, marker in zip(self._campaigns, markers, strict=True)
                if marker != epoch
            ]
            if problems:
                await self._mark_lost(epoch, _summary(problems))
                self._lose(epoch, _summary(problems))
            return self._status
        if epoch is not None and epoch != self._lost_epoch:
            return await self._adopt(await self._store.read_record(self._keys.ledger_record))
        return self._status

    def lost(self, error: LedgerLost) -> None:
        """A money script refused: stop at once, and find out why with a check soon."""
        if self._status.state is not LedgerState.READY:
            return
        epoch, reason = self._status.epoch, f"a money script refused: {error}"
        self._lose(epoch, reason)
        if self._checking is None or self._checking.done():
            with contextlib.suppress(RuntimeError):  # no running loop: the next tick checks
                self._checking = asyncio.get_running_loop().create_task(
                    self._after_refusal(epoch, reason)
                )

    async def _after_refusal(self, epoch: str | None, reason: str) -> LedgerStatus:
        await self._mark_lost(epoch, reason)
        return await self._safe_check()

    async def _safe_check(self) -> LedgerStatus:
        try:
            return await self.check()
        except StoreUnavailable as exc:
            log.warning("ledger_check_failed", error=str(exc))
            return self._status

    def start(self, interval_s: float) -> None:
        """Check every ``interval_s`` in the background until ``aclose``."""

        async def run() -> None:
            while True:
                await asyncio.sleep(interval_s)
                await self._safe_check()

        self._task = asyncio.get_running_loop().create_task(run())

    async def aclose(self) -> None:
        """Stop checking."""
        for task in (self._task, self._checking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _move(self, status: LedgerStatus) -> None:
        old, self._status = self._status, status
        if old != status:
            if status.state is LedgerState.READY:
                log.info("ledger_ready", epoch=status.epoch, generation=status.generation)
            elif status.state is LedgerState.LOST:
                log.error("ledger_lost", reason=status.reason)
            else:
                log.error("ledger_not_initialised", reason=status.reason)
            if self._on_change is not None:
                self._on_change(status)


def _marker_problem(campaign_id: str, marker: str | None) -> str:
    if marker is None:
        return f"campaign {campaign_id}: its ledger marker is gone (its shard lost data)"
    return f"campaign {campaign_id}: its ledger marker is of epoch {marker}"


def _summary(problems: Sequence[str], most: int = 3) -> str:
    more = len(problems) - most
    return "; ".join(problems[:most]) + (f"; and {more} more" if more > 0 else "")


async def open_ledger(store: CounterStore, keys: KeySpace, campaign_ids: Sequence[str]) -> None:
    """Open a ledger for ``campaign_ids``, creating it if missing: for one-process tools and
    tests on a store of their own (the simulation, benchmarks). Raises LedgerLost when the
    store holds a ledger these campaigns do not agree with."""
    status = await LedgerWatch(store, keys, campaign_ids, auto_init=True).open()
    if status.state is not LedgerState.READY:
        raise LedgerLost(status.reason)
