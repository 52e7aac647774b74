"""Profile records in the counter store, on both backends (and, through
``test_cluster_store``, on a cluster): one atomic write, pruned by day, bounded in size,
read with the frequency caps in one call — and the Lua script and the Python rules agree."""

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budget.keys import KeySpace
from budget.memory import MemoryStore
from budget.profile_write import ProfileWrite, apply_write
from budget.redis_store import RedisStore
from budget.store import CounterStore

DAY = 20_500
NOW_S = DAY * 86_400 + 3_600


def write(key: str, day: int = DAY, **changes: object) -> ProfileWrite:
    fields: dict[str, object] = {
        "key": key,
        "day": day,
        "now_s": day * 86_400 + 3_600,
        "keep_days": 30,
        "max_fields": 8,
        "ttl_s": 3_600,
    }
    fields.update(changes)
    return ProfileWrite(**fields)  # type: ignore[arg-type]


@pytest.fixture
def keys(request: pytest.FixtureRequest) -> KeySpace:
    return KeySpace(request.getfixturevalue("key_prefix"))


async def test_increments_add_up_and_come_back_with_the_caps(
    store: CounterStore, keys: KeySpace
) -> None:
    profile = keys.profile("u1")
    await store.write_profile(write(profile, increments=((f"e:{DAY}:imp:cmp:a", 1),)))
    await store.write_profile(
        write(profile, increments=((f"e:{DAY}:imp:cmp:a", 2), (f"e:{DAY}:click:cat:IAB2", 1)))
    )
    cap = keys.frequency("a", "u1", "d2026-02-14")
    await store.incr_many([(cap, 60)])
    counts, record = await store.read_counts_and_record(
        [cap, keys.frequency("b", "u1", "x")], profile
    )
    assert counts == [1, 0]
    assert record == {"p": str(DAY), f"e:{DAY}:imp:cmp:a": "3", f"e:{DAY}:click:cat:IAB2": "1"}
    assert await store.read_counts_and_record([], keys.profile("nobody")) == ([], {})


async def test_the_first_write_of_a_day_prunes_old_days_and_lapsed_segments(
    store: CounterStore, keys: KeySpace
) -> None:
    profile = keys.profile("u2")
    old_day = DAY - 30  # outside a 30-day window from DAY + 0
    await store.write_profile(
        write(
            profile,
            day=old_day,
            increments=((f"e:{old_day}:click:cmp:a", 1),),
            sets=(("s:short", str(old_day * 86_400 + 7_200)), ("s:long", str(NOW_S + 86_400))),
        )
    )
    await store.write_profile(
        write(profile, day=DAY - 1, increments=((f"e:{DAY - 1}:click:cmp:a", 1),))
    )
    await store.write_profile(write(profile, increments=((f"e:{DAY}:imp:cmp:a", 1),)))
    _, record = await store.read_counts_and_record([], profile)
    assert record == {
        "p": str(DAY),
        "s:long": str(NOW_S + 86_400),
        f"e:{DAY - 1}:click:cmp:a": "1",
        f"e:{DAY}:imp:cmp:a": "1",
    }


async def test_a_full_profile_only_updates_the_fields_it_has(
    store: CounterStore, keys: KeySpace
) -> None:
    profile = keys.profile("u3")
    flood = tuple((f"e:{DAY}:imp:cmp:c{i}", 1) for i in range(20))
    await store.write_profile(write(profile, increments=flood))
    _, record = await store.read_counts_and_record([], profile)
    assert len(record) == 8  # the pruning marker and seven counts
    await store.write_profile(
        write(profile, increments=((f"e:{DAY}:imp:cmp:c0", 5), (f"e:{DAY}:imp:cmp:new", 1)))
    )
    _, after = await store.read_counts_and_record([], profile)
    assert after[f"e:{DAY}:imp:cmp:c0"] == "6"
    assert f"e:{DAY}:imp:cmp:new" not in after
    await store.write_profile(write(profile, deletes=(f"e:{DAY}:imp:cmp:c1",)))
    await store.write_profile(write(profile, sets=(("s:seg", str(NOW_S + 60)),)))
    _, freed = await store.read_counts_and_record([], profile)
    assert f"e:{DAY}:imp:cmp:c1" not in freed
    assert freed["s:seg"] == str(NOW_S + 60)


async def test_concurrent_writes_lose_no_count(store: CounterStore, keys: KeySpace) -> None:
    profile = keys.profile("u4")
    field = f"e:{DAY}:click:cmp:a"
    await asyncio.gather(
        *(store.write_profile(write(profile, increments=((field, 1),))) for _ in range(40))
    )
    _, record = await store.read_counts_and_record([], profile)
    assert record[field] == "40"


async def test_a_profile_expires_after_its_last_write() -> None:
    now = [1_000.0]
    store = MemoryStore(lambda: now[0])
    await store.write_profile(write("p", increments=((f"e:{DAY}:imp:cmp:a", 1),)))
    now[0] += 3_599
    await store.write_profile(write("p", increments=((f"e:{DAY}:imp:cmp:a", 1),)))
    now[0] += 3_599  # within the TTL the second write renewed
    assert (await store.read_record("p"))[f"e:{DAY}:imp:cmp:a"] == "2"
    now[0] += 2
    assert await store.read_record("p") == {}
    assert store.size == 0


async def test_redis_sets_the_profile_ttl(redis_url: str, keys: KeySpace) -> None:
    store = RedisStore.from_url(redis_url, timeout_s=1.0)
    try:
        await store.write_profile(
            write(keys.profile("ttl"), increments=((f"e:{DAY}:imp:cmp:a", 1),))
        )
        client = store._client
        assert 3_500 < await client.ttl(keys.profile("ttl")) <= 3_600
    finally:
        await store.aclose()


_FIELD = st.one_of(
    st.builds(
        lambda d, e, v: f"e:{DAY - d}:{e}:cmp:{v}",
        st.integers(0, 40),
        st.sampled_from(["imp", "click"]),
        st.sampled_from("abcdef"),
    ),
    st.builds(lambda v: f"s:{v}", st.sampled_from("xyz")),
)
_WRITE = st.fixed_dictionaries(
    {
        "day_back": st.integers(0, 3),
        "increments": st.lists(st.tuples(_FIELD, st.integers(1, 3)), max_size=4),
        "sets": st.lists(
            st.tuples(_FIELD, st.integers(NOW_S - 200_000, NOW_S + 200_000).map(str)), max_size=2
        ),
        "deletes": st.lists(_FIELD, max_size=2),
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=st.lists(_WRITE, min_size=1, max_size=6))
def test_the_lua_script_and_the_python_rules_agree(
    redis_url: str, key_prefix: str, writes: list[dict[str, object]]
) -> None:
    """Days only move forward, as a clock does; each run starts from an empty record."""

    async def run() -> tuple[dict[str, str], dict[str, str]]:
        store = RedisStore.from_url(redis_url, timeout_s=1.0)
        key = f"{key_prefix}agree"
        expected: dict[str, str] = {}
        try:
            await store._client.delete(key)
            for i, raw in enumerate(sorted(writes, key=lambda w: -int(w["day_back"]))):  # type: ignore[arg-type]
                change = write(
                    key,
                    day=DAY - int(raw["day_back"]),  # type: ignore[call-overload]
                    increments=tuple(raw["increments"]),  # type: ignore[arg-type]
                    sets=tuple(raw["sets"]),  # type: ignore[arg-type]
                    deletes=tuple(raw["deletes"]),  # type: ignore[arg-type]
                    max_fields=6 + i % 3,
                )
                apply_write(expected, change)
                await store.write_profile(change)
            found = await store.read_record(key)
        finally:
            await store.aclose()
        return expected, dict(found)

    expected, found = asyncio.run(run())
    assert found == expected


async def test_the_memory_store_starts_no_profile_past_its_bound() -> None:
    store = MemoryStore(max_records=3)
    for user in range(5):
        await store.write_profile(write(f"p{user}", increments=((f"e:{DAY}:imp:cmp:a", 1),)))
    await store.write_profile(write("p0", increments=((f"e:{DAY}:imp:cmp:a", 1),)))
    assert store.records_refused == 2
    assert (await store.read_record("p0"))[f"e:{DAY}:imp:cmp:a"] == "2"  # a kept one still counts
    assert await store.read_record("p4") == {}
