"""Cleaning up after a test that wrote to the shared Redis under a prefix of its own."""

import redis


def delete_prefixed(redis_url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (a test's own; other tests' keys stay)."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
