"""The ledger's identity: opened once, checked always, lost when the store loses its data,
adopted again only when an operator puts a new ledger in place. Both backends."""

import pytest

from budget.accounts import Charge, Hold
from budget.keys import KeySpace
from budget.ledger_watch import LedgerState, LedgerWatch, new_record
from budget.store import CounterStore, LedgerLost

CAMPAIGNS = ("c1", "c2")


@pytest.fixture
def keys(key_prefix: str) -> KeySpace:
    return KeySpace(key_prefix)


def watch(store: CounterStore, keys: KeySpace, *, auto: bool = False) -> LedgerWatch:
    return LedgerWatch(store, keys, CAMPAIGNS, auto_init=auto)


def hold(keys: KeySpace, campaign: str = "c1", hold_id: str = "h") -> Hold:
    return Hold(keys.account(campaign, "2026-12-02"), hold_id, 100, 10_000, 60_000)


def charge(keys: KeySpace, campaign: str = "c1", impression: str = "i") -> Charge:
    return Charge(
        keys.account(campaign, "2026-12-02"),
        impression,
        50,
        10_000,
        keys.charge(campaign, impression),
        keys.notice("billing", impression, campaign),
        60,
    )


async def test_without_a_record_nothing_moves_unless_auto_init_is_allowed(
    store: CounterStore, keys: KeySpace
) -> None:
    manual = watch(store, keys)
    status = await manual.open()
    assert status.state is LedgerState.UNINITIALISED
    assert "rtb ledger init" in status.reason
    with pytest.raises(LedgerLost):
        await store.reserve([hold(keys)])
    with pytest.raises(LedgerLost):
        await store.settle(charge(keys))
    auto = watch(store, keys, auto=True)
    assert (await auto.open()).state is LedgerState.READY
    assert await store.reserve([hold(keys)]) == [True]
    assert (await manual.check()).state is LedgerState.READY  # a record appeared: adopted


async def test_a_store_that_lost_its_record_is_lost(store: CounterStore, keys: KeySpace) -> None:
    ledger = watch(store, keys, auto=True)
    assert (await ledger.open()).state is LedgerState.READY
    record_epoch = ledger.status.epoch
    await wipe(store, keys)
    status = await ledger.check()
    assert status.state is LedgerState.LOST
    assert "record is gone" in status.reason
    with pytest.raises(LedgerLost):  # refused in the process, before any script runs
        await store.reserve([hold(keys)])
    assert (await ledger.check()).state is LedgerState.LOST  # stays lost: nothing auto-creates
    assert record_epoch is not None


async def test_the_money_scripts_refuse_a_campaign_whose_marker_is_gone(
    store: CounterStore, keys: KeySpace
) -> None:
    """A shard that lost its data: the record is fine, one campaign's marker is gone."""
    ledger = watch(store, keys, auto=True)
    await ledger.open()
    await drop(store, keys.ledger_marker("c2"))
    assert await store.reserve([hold(keys, "c1")]) == [True]
    with pytest.raises(LedgerLost):
        await store.reserve([hold(keys, "c1", "h2"), hold(keys, "c2", "h3")])
    (held,) = await store.read_many([keys.account("c1", "2026-12-02").held])
    assert held == 100  # the refused call changed nothing, not even c1's part of it
    with pytest.raises(LedgerLost):
        await store.settle(charge(keys, "c2"))
    status = await ledger.check()
    assert status.state is LedgerState.LOST
    assert "campaign c2" in status.reason


async def test_a_lost_process_adopts_only_a_new_ledger_whose_markers_agree(
    store: CounterStore, keys: KeySpace
) -> None:
    ledger = watch(store, keys, auto=True)
    await ledger.open()
    lost_epoch = ledger.status.epoch
    await drop(store, keys.ledger_marker("c2"))
    assert (await ledger.check()).state is LedgerState.LOST
    # an operator writes a new record but has not written the markers yet
    fresh = new_record("restore", 2)
    await replace_record(store, keys, fresh)
    assert (await ledger.check()).state is LedgerState.LOST
    for campaign in CAMPAIGNS:
        await put_marker(store, keys.ledger_marker(campaign), fresh["epoch"])
    status = await ledger.check()
    assert status.state is LedgerState.READY
    assert (status.epoch, status.generation) == (fresh["epoch"], 2)
    assert status.epoch != lost_epoch
    assert await store.reserve([hold(keys)]) == [True]


async def test_a_new_campaign_joins_the_ledger_and_a_registered_one_never_silently_rejoins(
    store: CounterStore, keys: KeySpace
) -> None:
    first = LedgerWatch(store, keys, ["c1"], auto_init=True)
    await first.open()
    grown = watch(store, keys)  # a later process with c2 added to the bidders file
    assert (await grown.open()).state is LedgerState.READY
    assert await store.read_texts([keys.ledger_marker("c2")]) == [grown.status.epoch]
    await drop(store, keys.ledger_marker("c2"))
    again = watch(store, keys)
    status = await again.open()
    assert status.state is LedgerState.LOST
    assert "campaign c2" in status.reason


async def test_a_refused_script_stops_money_at_once(store: CounterStore, keys: KeySpace) -> None:
    ledger = watch(store, keys, auto=True)
    await ledger.open()
    await drop(store, keys.ledger_marker("c1"))
    with pytest.raises(LedgerLost) as refused:
        await store.settle(charge(keys))
    ledger.lost(refused.value)
    assert ledger.status.state is LedgerState.LOST
    with pytest.raises(LedgerLost):
        await store.reserve([hold(keys, "c2")])  # c2 still has its marker: stopped anyway
    await ledger.aclose()


# --- making a store lose data, on either backend --------------------------------------


async def wipe(store: CounterStore, keys: KeySpace) -> None:
    for campaign in CAMPAIGNS:
        await drop(store, keys.ledger_marker(campaign))
    await drop_record(store, keys)


async def drop(store: CounterStore, key: str) -> None:
    raw = _raw(store)
    if isinstance(raw, dict):
        raw.pop(key, None)
    else:
        await raw.delete(key)


async def put_marker(store: CounterStore, key: str, epoch: str) -> None:
    raw = _raw(store)
    if isinstance(raw, dict):
        raw[key] = epoch
    else:
        await raw.set(key, epoch)


async def drop_record(store: CounterStore, keys: KeySpace) -> None:
    records = getattr(store, "_records", None)
    if records is not None:
        records.pop(keys.ledger_record, None)
    else:
        await _raw(store).delete(keys.ledger_record)


async def replace_record(store: CounterStore, keys: KeySpace, fields: dict[str, str]) -> None:
    records = getattr(store, "_records", None)
    if records is not None:
        records.setdefault(keys.ledger_record, {}).update(fields)
    else:
        await _raw(store).hset(keys.ledger_record, mapping=fields)


def _raw(store: CounterStore):  # type: ignore[no-untyped-def]
    """The memory store's text table, or the Redis store's client."""
    texts = getattr(store, "_texts", None)
    return texts if texts is not None else store._client  # type: ignore[attr-defined]
