"""How the exchange is pointed at a Redis Cluster, and the settings a cluster refuses."""

import pytest
from pydantic import ValidationError

from exchange.settings import Settings

SECRET = "cluster-settings-secret-0123456789-abcdef"


def test_a_cluster_is_chosen_by_rtb_redis_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTB_STORE", "redis")
    monkeypatch.setenv("RTB_REDIS_CLUSTER", "true")
    monkeypatch.setenv("RTB_REDIS_URL", "redis://10.0.0.11:6379/0")
    monkeypatch.setenv("RTB_NOTICE_SECRET", SECRET)
    settings = Settings()
    assert settings.redis_cluster is True
    assert settings.event_shards() == 16  # a cluster's default: every node gets some
    monkeypatch.setenv("RTB_EVENTS_SHARDS", "4")
    assert Settings().event_shards() == 4


def test_a_single_node_keeps_one_stream_key_by_default() -> None:
    assert Settings().event_shards() == 1
    assert Settings(events_shards=8).event_shards() == 8


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"store": "memory"}, "redis_cluster needs store=redis"),
        ({"key_prefix": "{rtb}:"}, "must not contain"),
        ({"redis_url": "redis://127.0.0.1:7000/2"}, "database 0"),
        ({"events_shards": 0}, "greater than or equal to 1"),
    ],
)
def test_settings_a_cluster_cannot_work_with_are_refused(
    changes: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {"store": "redis", "redis_cluster": True, "notice_secret": SECRET}
    fields.update(changes)
    with pytest.raises(ValidationError, match=message):
        Settings(**fields)  # type: ignore[arg-type]
