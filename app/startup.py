"""The one start-up line of a served exchange: where it listens and what it runs with.

An operator reading the first lines of a process's log should learn, without a scrape or a
``/readyz``: the URL, the version, the counter store (and which Redis, its password
masked), who may send bid requests (``auth``: ``keys`` and how many SSP accounts, or
``open``, which a second line warns about), the bidders (in-process routers and external
DSPs), and the models the routers
score with (their path — ``compiled``, ``xgboost-c``, ``xgboost``, ``rules`` for the
fallback — and the directory they came from).
"""

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from exchange.metrics import build_version
from exchange.services import Services


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (Redis URLs carry it in the netloc)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


OPEN_WARNING = (
    "auth=open: anyone who reaches this port may send bid requests; set RTB_ACCOUNTS_FILE "
    "for SSP accounts with API keys (README, SSP accounts)"
)


def startup_fields(services: Services) -> dict[str, Any]:
    """The fields of the ``exchange_started`` line."""
    settings = services.settings
    registry = services.registry
    fields: dict[str, Any] = {
        "url": f"http://{settings.host}:{settings.port}",
        "public_url": redacted_url(settings.public_url) if settings.public_url else None,
        "version": build_version(),
        "store": settings.store,
        "store_url": redacted_url(settings.redis_url) if settings.store == "redis" else None,
        "bidders_in_process": sorted(registry.in_process),
        "bidders_external": sorted(set(registry.bidders) - registry.in_process),
        "bidders_file": str(settings.bidders_file) if settings.bidders_file else "demo",
        "campaigns": len(registry.campaigns),
        "auth": services.gate.mode,
        "accounts": services.gate.accounts,
    }
    holder = services.models
    if holder is None:
        fields["models"] = "off"
    else:
        fields["models"] = holder.scoring_path
        fields["model_paths"] = dict(holder.current.paths)
        fields["model_dir"] = str(holder.directory)
        fields["models_degraded"] = holder.degraded
        if holder.current.problems:  # e.g. a file below the quality bar, refused
            fields["model_problems"] = list(holder.current.problems)
    return fields
