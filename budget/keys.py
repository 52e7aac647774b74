"""Every key format the counter store writes, in one place.

A campaign's keys share the hash tag ``{c:<id>}`` so that Redis Cluster keeps them on one
slot and a Lua script may touch several of them at once. (The store reserves all holds of
a request in one script call per slot.) Keys that carry money carry the campaign's
calendar day, so a new day starts from zero and old days expire on their own. The event
stream is one key, or several shards whose hash tags spread them over the cluster.
"""

from dataclasses import dataclass
from functools import lru_cache

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from budget.accounts import AccountKeys


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Key formats under one prefix (the prefix lets tests and tenants share a Redis)."""

    prefix: str = "rtb:"

    def spend(self, campaign_id: str, day: str) -> str:
        """Settled spend of one campaign on one of its days, integer micros."""
        return f"{self.prefix}spend:{{c:{campaign_id}}}:{day}"

    def charge(self, campaign_id: str, charge_id: str) -> str:
        """Marker that one won impression has been charged (shares the campaign's hash tag)."""
        return f"{self.prefix}charged:{{c:{campaign_id}}}:{charge_id}"

    @lru_cache(maxsize=4096)  # noqa: B019 - key spaces live as long as the process
    def account(self, campaign_id: str, day: str) -> AccountKeys:
        """The keys of one campaign-day account (spend, held, holds, expiries, ledger).

        Cached: every hold of every bid asks for them, and five formatted keys in a frozen
        record cost more than the rest of placing the hold in memory."""
        tag = f"{{c:{campaign_id}}}"
        return AccountKeys(
            spend=self.spend(campaign_id, day),
            held=f"{self.prefix}held:{tag}:{day}",
            holds=f"{self.prefix}holds:{tag}:{day}",
            expiries=f"{self.prefix}hold-exp:{tag}:{day}",
            ledger=self.ledger_marker(campaign_id),
        )

    def ledger_marker(self, campaign_id: str) -> str:
        """The epoch of the ledger a campaign's money belongs to (``budget.ledger_watch``)."""
        return f"{self.prefix}ledger:{{c:{campaign_id}}}"

    @property
    def ledger_record(self) -> str:
        """Hash: the ledger's epoch, generation, how it was made, its registered campaigns."""
        return f"{self.prefix}ledger"

    @property
    def ledger_lost(self) -> str:
        """Hash: the epoch a process found lost, why and when (kept until a restore)."""
        return f"{self.prefix}ledger-lost"

    @property
    def overrides(self) -> str:
        """Hash: the operator's current overrides (``campaign:<id>``, ``bidder:<name>``, each
        ``[version, fields]``) and their ``version`` counter. One key, so one slot: the
        script that bumps the version and writes an entry touches only it."""
        return f"{self.prefix}overrides"

    def seen_path(self, digest: str) -> str:
        """String: the fewest paid hops one impression arrived by lately (``supply.dedup``)."""
        return f"{self.prefix}seen-path:{digest}"

    def canary(self, name: str) -> str:
        """String: why the canary ``name`` was rolled back (every process stops it)."""
        return f"{self.prefix}canary:{name}"

    def frequency(self, campaign_id: str, user: str, window: str) -> str:
        """Impressions of one campaign to one user in one window (``d<date>``, ``h<hour>``)."""
        return f"{self.prefix}freq:{{c:{campaign_id}}}:{user}:{window}"

    def profile(self, user: str) -> str:
        """One user's profile (``budget.profile_write``): a hash under the user's own tag,
        so the script that updates it touches one slot."""
        return f"{self.prefix}profile:{{u:{user}}}"

    def click_user(self, campaign_id: str, impression_id: str) -> str:
        """Whose profile a click's later conversions count in (the user key, kept out of
        the click id the advertiser sees)."""
        return f"{self.prefix}click-user:{{c:{campaign_id}}}:{impression_id}"

    def conversions(self, campaign_id: str, impression_id: str) -> str:
        """How many conversions one click (of one impression) has recorded."""
        return f"{self.prefix}conversions:{{c:{campaign_id}}}:{impression_id}"

    def notice(self, kind: str, notice_id: str, campaign_id: str | None = None) -> str:
        """Marker that one notice (win, billing, click …) has been processed; a campaign's
        notices share its hash tag, so the charge script sets the marker in the same step."""
        if campaign_id is None:
            return f"{self.prefix}notice:{kind}:{notice_id}"
        return f"{self.prefix}notice:{{c:{campaign_id}}}:{kind}:{notice_id}"

    def events(self, shards: int = 1) -> tuple[str, ...]:
        """The event stream's keys: ``{prefix}events`` alone, or ``shards`` keys
        ``{prefix}events:{s<k>.<n>}``. A cluster gives each node a contiguous range of the
        16,384 slots, so shard k's tag is chosen to hash into the k-th of ``shards`` equal
        slot ranges: with as many shards as nodes (or more) every node holds its share of
        the events, and no node carries them all."""
        if shards < 1:
            raise ValueError("an event stream has at least one shard")
        if shards == 1:
            return (f"{self.prefix}events",)
        return tuple(f"{self.prefix}events:{{{_shard_tag(k, shards)}}}" for k in range(shards))


@lru_cache(maxsize=1024)
def _shard_tag(shard: int, shards: int) -> str:
    """The first tag ``s<shard>.<n>`` whose slot falls in the shard's range (about
    ``shards`` tries: each range is 1/shards of the slots)."""
    low = shard * REDIS_CLUSTER_HASH_SLOTS // shards
    high = (shard + 1) * REDIS_CLUSTER_HASH_SLOTS // shards
    n = 0
    while not low <= key_slot(f"s{shard}.{n}".encode()) < high:
        n += 1
    return f"s{shard}.{n}"
