"""The agents file: which ARTF agent services the exchange calls, at which stage, and what each
may see and propose.

``RTB_AGENTS_FILE`` names it (no agents when unset)::

    {"allowed_segtax": [4],
     "deals": [{"id": "curated-sports", "bidfloor": 2.5, "bidfloorcur": "USD"}],
     "agents": [{"name": "audience", "target": "127.0.0.1:50061",
                 "stages": ["bid_request"],
                 "intents": ["ACTIVATE_SEGMENTS", "ADJUST_DEAL_FLOOR"],
                 "fields": ["site", "device.geo", "imp.pmp", "user.data"],
                 "deadline_ms": 5, "segtax": 4, "gvl_vendor_id": 1234}]}

An agent is granted nothing by default: it sees the request's ``id``, ``tmax``, ``at``,
``cur`` and each imp's ``id`` plus the ``fields`` it lists (after the privacy rules for its
``gvl_vendor_id``), and only the ``intents`` it declares are applied, each only at the stage
it belongs to. The file is checked whole at startup; every problem names the file and field.
"""

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bidding.campaigns import ConfigError
from exchange.config_file import parse_config_file
from openrtb.request import BidRequest

__all__ = [
    "REQUEST_INTENTS",
    "RESPONSE_INTENTS",
    "AgentSpec",
    "AgentsConfig",
    "AgentsFileError",
    "CuratedDeal",
    "Stage",
    "cross_problems",
    "load_agents",
    "parse_agents",
]


class Stage(StrEnum):
    """Where in an auction an agent is called (ARTF's lifecycle)."""

    BID_REQUEST = "bid_request"
    """After validation and the privacy rules, before the fan-out
    (``LIFECYCLE_PUBLISHER_BID_REQUEST``): the request's deals, floors and data."""
    BID_RESPONSE = "bid_response"
    """After the bids are in, before the auction (``LIFECYCLE_DSP_BID_RESPONSE``)."""


REQUEST_INTENTS: Final = frozenset(
    {
        "ACTIVATE_SEGMENTS",
        "ACTIVATE_DEALS",
        "SUPPRESS_DEALS",
        "ADJUST_DEAL_FLOOR",
        "ADD_METRICS",
        "ADD_CIDS",
    }
)
RESPONSE_INTENTS: Final = frozenset({"BID_SHADE"})
UNSUPPORTED_INTENTS: Final = {
    "ADJUST_DEAL_MARGIN": "the exchange takes no margin on deals, so there is none to adjust",
}

ALWAYS_SHOWN: Final = ("id", "tmax", "at", "cur", "imp.id")
"""What every agent sees: what it needs to answer and to address an imp."""

Intent = Literal[
    "ACTIVATE_SEGMENTS",
    "ACTIVATE_DEALS",
    "SUPPRESS_DEALS",
    "ADJUST_DEAL_FLOOR",
    "ADJUST_DEAL_MARGIN",
    "BID_SHADE",
    "ADD_METRICS",
    "ADD_CIDS",
]

DEFAULT_SERVICE: Final = "com.iabtechlab.bidstream.mutation.v1.RTBExtensionPoint"
"""The spec's package; the reference repository serves ``…mutation.services.v1``."""
MAX_DEADLINE_MS: Final = 50


@dataclass(frozen=True, slots=True)
class CuratedDeal:
    """A deal the exchange curates, which an agent with ACTIVATE_DEALS may add to an imp."""

    id: str
    bidfloor: float
    bidfloorcur: str
    wseat: tuple[str, ...]
    at: int | None


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """One agent service as the exchange calls it."""

    name: str
    target: str
    """``host:port`` of its gRPC server (plaintext: agents are co-located)."""
    stages: frozenset[Stage]
    intents: frozenset[str]
    fields: tuple[str, ...]
    """Request fields it sees beyond ``ALWAYS_SHOWN`` (dotted; a list's elements alike)."""
    deadline_ms: int
    service: str = DEFAULT_SERVICE
    gvl_vendor_id: int | None = None
    """Its TCF vendor id: what it sees of personal data, and whether it may add audience
    segments (a profile) under GDPR; None: no personal data, no segments where consent is
    needed."""
    segtax: int | None = None
    """The taxonomy of the segment ids it activates (IAB ``segtax``)."""
    vendor: str = ""
    """The ``vendor`` of the metrics it adds (its name unless set)."""
    bidders: frozenset[str] | None = None
    """Bidders whose bids it sees at the bid-response stage (required for BID_SHADE: an agent
    shades for its buyers and sees no one else's prices); None: all."""
    max_response_bytes: int = 64 * 1024
    max_mutations: int = 200
    failure_threshold: int = 5
    cooldown_s: float = 5.0


@dataclass(frozen=True, slots=True)
class AgentsConfig:
    """Everything the agents file defines (in file order: the order conflicts are settled in)."""

    agents: tuple[AgentSpec, ...] = ()
    allowed_segtax: frozenset[int] = frozenset()
    deals: tuple[CuratedDeal, ...] = ()

    def at(self, stage: Stage) -> tuple[AgentSpec, ...]:
        """The agents called at ``stage``."""
        return tuple(agent for agent in self.agents if stage in agent.stages)


NO_AGENTS: Final = AgentsConfig()

_Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class _DealFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: _Name
    bidfloor: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
    bidfloorcur: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    wseat: list[Annotated[str, Field(min_length=1)]] = []
    at: Literal[1, 2, 3] | None = None


class _AgentFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _Name
    target: Annotated[str, Field(pattern=r"^[A-Za-z0-9.\[\]:-]+:[0-9]{1,5}$")]
    stages: Annotated[list[Stage], Field(min_length=1)]
    intents: Annotated[list[Intent], Field(min_length=1)]
    fields: list[Annotated[str, Field(min_length=1)]] = []
    deadline_ms: Annotated[int, Field(gt=0, le=MAX_DEADLINE_MS)] = 5
    service: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")] = DEFAULT_SERVICE
    gvl_vendor_id: Annotated[int, Field(strict=True, ge=1, le=65535)] | None = None
    segtax: Annotated[int, Field(strict=True, ge=1)] | None = None
    vendor: Annotated[str, Field(max_length=64)] = ""
    bidders: list[_Name] | None = None
    max_response_bytes: Annotated[int, Field(gt=0, le=4 * 1024 * 1024)] = 64 * 1024
    max_mutations: Annotated[int, Field(gt=0, le=10_000)] = 200
    failure_threshold: Annotated[int, Field(gt=0, le=1000)] = 5
    cooldown_s: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 5.0
    enabled: bool = True

    @model_validator(mode="after")
    def _coherent(self) -> "_AgentFile":
        for intent in self.intents:
            if intent in UNSUPPORTED_INTENTS:
                raise ValueError(f"intent {intent} is not supported: {UNSUPPORTED_INTENTS[intent]}")
            stage = Stage.BID_RESPONSE if intent in RESPONSE_INTENTS else Stage.BID_REQUEST
            if stage not in self.stages:
                raise ValueError(f"intent {intent} applies at stage {stage.value}, not listed")
        if "ACTIVATE_SEGMENTS" in self.intents and self.segtax is None:
            raise ValueError("ACTIVATE_SEGMENTS needs the segtax of the segment ids")
        if "BID_SHADE" in self.intents and not self.bidders:
            raise ValueError(
                "BID_SHADE needs bidders: the bidders it shades for (it sees only their bids)"
            )
        for path in self.fields:
            problem = _field_problem(path)
            if problem:
                raise ValueError(f"fields: {path!r}: {problem}")
        return self


class _AgentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_segtax: list[Annotated[int, Field(strict=True, ge=1)]] = []
    deals: list[_DealFile] = []
    agents: list[_AgentFile] = []


class AgentsFileError(ConfigError):
    """An agents file with problems: every one found, one ``file: field: why`` a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def _field_problem(path: str) -> str | None:
    """Why ``path`` names no field of an OpenRTB request (None when it does)."""
    model: Any = BidRequest
    for part in path.split("."):
        if model is None or not hasattr(model, "model_fields"):
            return f"{part!r} is inside a value that has no fields"
        info = model.model_fields.get(part)
        if info is None or part == "ext":
            return f"{part!r} is not a field of {model.__name__}" + (
                " (agents never see ext)" if part == "ext" else ""
            )
        model = _model_of(info.annotation)
    return None


def _model_of(annotation: Any) -> Any:
    """The pydantic model inside ``X | None`` or ``list[X]``, else None."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def parse_agents(data: bytes, source: str) -> AgentsConfig:
    """The agents of an agents file's bytes; AgentsFileError lists every problem found."""
    parsed = parse_config_file(_AgentsFile, data, source, AgentsFileError)
    problems: list[str] = []
    agents = [agent for agent in parsed.agents if agent.enabled]
    names = [agent.name for agent in agents]
    if len(set(names)) != len(names):
        problems.append(f"{source}: agents: names must be unique")
    allowed = frozenset(parsed.allowed_segtax)
    for index, agent in enumerate(parsed.agents):
        if agent.segtax is not None and agent.segtax not in allowed:
            problems.append(
                f"{source}: agents[{index}].segtax: {agent.segtax} is not in allowed_segtax"
            )
    deal_ids = [deal.id for deal in parsed.deals]
    if len(set(deal_ids)) != len(deal_ids):
        problems.append(f"{source}: deals: ids must be unique")
    if problems:
        raise AgentsFileError(problems)
    return AgentsConfig(
        agents=tuple(_spec(agent) for agent in agents),
        allowed_segtax=allowed,
        deals=tuple(
            CuratedDeal(deal.id, deal.bidfloor, deal.bidfloorcur, tuple(deal.wseat), deal.at)
            for deal in parsed.deals
        ),
    )


def cross_problems(
    config: AgentsConfig, source: str, currencies: Collection[str], bidders: Collection[str]
) -> list[str]:
    """What the agents file names that the rest of the configuration does not have: a
    curated deal's currency without an exchange rate, a bidder that does not exist."""
    problems = [
        f"{source}: deals[{i}].bidfloorcur: no exchange rate for {deal.bidfloorcur}"
        for i, deal in enumerate(config.deals)
        if deal.bidfloorcur not in currencies
    ]
    for agent in config.agents:
        for name in sorted((agent.bidders or frozenset()) - set(bidders)):
            problems.append(f"{source}: agent {agent.name}: bidders: no bidder named {name!r}")
    return problems


def _spec(agent: _AgentFile) -> AgentSpec:
    return AgentSpec(
        name=agent.name,
        target=agent.target,
        stages=frozenset(agent.stages),
        intents=frozenset(agent.intents),
        fields=tuple(dict.fromkeys(agent.fields)),
        deadline_ms=agent.deadline_ms,
        service=agent.service,
        gvl_vendor_id=agent.gvl_vendor_id,
        segtax=agent.segtax,
        vendor=agent.vendor or agent.name,
        bidders=frozenset(agent.bidders) if agent.bidders is not None else None,
        max_response_bytes=agent.max_response_bytes,
        max_mutations=agent.max_mutations,
        failure_threshold=agent.failure_threshold,
        cooldown_s=agent.cooldown_s,
    )


def load_agents(path: Path | None) -> AgentsConfig:
    """The agents file at ``path``; no agents when None."""
    if path is None:
        return NO_AGENTS
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AgentsFileError([f"{path}: cannot read: {exc.strerror}"]) from exc
    return parse_agents(data, str(path))
