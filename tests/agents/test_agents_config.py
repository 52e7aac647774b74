"""The agents file (``agents.config``): a good file read into its specs with the documented
defaults, and every problem reported with the file and the field."""

from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.config import (
    DEFAULT_SERVICE,
    NO_AGENTS,
    AgentsConfig,
    AgentsFileError,
    AgentSpec,
    CuratedDeal,
    Stage,
    load_agents,
    parse_agents,
)
from bidding.campaigns import ConfigError

SOURCE = "agents.json"
REFERENCE_SERVICE = "com.iabtechlab.bidstream.mutation.services.v1.RTBExtensionPoint"


def agent(**fields: Any) -> dict[str, Any]:
    """A minimal valid agent entry, ``fields`` replacing or adding to it."""
    entry: dict[str, Any] = {
        "name": "floors",
        "target": "127.0.0.1:50061",
        "stages": ["bid_request"],
        "intents": ["ADJUST_DEAL_FLOOR"],
    }
    entry.update(fields)
    return entry


def parse(document: dict[str, Any]) -> AgentsConfig:
    return parse_agents(orjson.dumps(document), SOURCE)


def problems_of(document: dict[str, Any] | bytes) -> tuple[str, ...]:
    data = document if isinstance(document, bytes) else orjson.dumps(document)
    with pytest.raises(AgentsFileError) as raised:
        parse_agents(data, SOURCE)
    assert str(raised.value) == "\n".join(raised.value.problems)
    return raised.value.problems


GOOD_FILE: dict[str, Any] = {
    "allowed_segtax": [4, 6],
    "deals": [
        {
            "id": "curated-sports",
            "bidfloor": 2.5,
            "bidfloorcur": "EUR",
            "wseat": ["Agency1", "Agency2"],
            "at": 1,
        },
        {"id": "open", "bidfloor": 1},
    ],
    "agents": [
        {
            "name": "audience",
            "target": "127.0.0.1:50061",
            "stages": ["bid_request"],
            "intents": ["ACTIVATE_SEGMENTS", "ADJUST_DEAL_FLOOR"],
            "fields": ["site", "device.geo", "imp.pmp", "user.data", "site"],
            "segtax": 4,
            "gvl_vendor_id": 1234,
        },
        {
            "name": "shader",
            "target": "[::1]:50062",
            "stages": ["bid_response", "bid_request"],
            "intents": ["BID_SHADE", "ADD_METRICS"],
            "deadline_ms": 50,
            "service": REFERENCE_SERVICE,
            "vendor": "shade-co",
            "bidders": ["house", "dsp-1"],
            "max_response_bytes": 1000,
            "max_mutations": 10,
            "failure_threshold": 3,
            "cooldown_s": 1.5,
        },
        {
            "name": "audience",  # disabled: dropped, so not a second "audience"
            "target": "10.0.0.1:1",
            "stages": ["bid_request"],
            "intents": ["SUPPRESS_DEALS"],
            "enabled": False,
        },
    ],
}

AUDIENCE = AgentSpec(
    name="audience",
    target="127.0.0.1:50061",
    stages=frozenset({Stage.BID_REQUEST}),
    intents=frozenset({"ACTIVATE_SEGMENTS", "ADJUST_DEAL_FLOOR"}),
    fields=("site", "device.geo", "imp.pmp", "user.data"),
    deadline_ms=5,
    service=DEFAULT_SERVICE,
    gvl_vendor_id=1234,
    segtax=4,
    vendor="audience",
    bidders=None,
    max_response_bytes=64 * 1024,
    max_mutations=200,
    failure_threshold=5,
    cooldown_s=5.0,
)
SHADER = AgentSpec(
    name="shader",
    target="[::1]:50062",
    stages=frozenset({Stage.BID_REQUEST, Stage.BID_RESPONSE}),
    intents=frozenset({"BID_SHADE", "ADD_METRICS"}),
    fields=(),
    deadline_ms=50,
    service=REFERENCE_SERVICE,
    gvl_vendor_id=None,
    segtax=None,
    vendor="shade-co",
    bidders=frozenset({"house", "dsp-1"}),
    max_response_bytes=1000,
    max_mutations=10,
    failure_threshold=3,
    cooldown_s=1.5,
)


def test_a_good_file_gives_its_agents_and_deals_in_file_order() -> None:
    config = parse(GOOD_FILE)
    assert config == AgentsConfig(
        agents=(AUDIENCE, SHADER),
        allowed_segtax=frozenset({4, 6}),
        deals=(
            CuratedDeal("curated-sports", 2.5, "EUR", ("Agency1", "Agency2"), 1),
            CuratedDeal("open", 1.0, "USD", (), None),
        ),
    )
    assert config.at(Stage.BID_REQUEST) == (AUDIENCE, SHADER)
    assert config.at(Stage.BID_RESPONSE) == (SHADER,)


def test_the_defaults_of_an_agent() -> None:
    (spec,) = parse({"agents": [agent()]}).agents
    assert spec == AgentSpec(
        name="floors",
        target="127.0.0.1:50061",
        stages=frozenset({Stage.BID_REQUEST}),
        intents=frozenset({"ADJUST_DEAL_FLOOR"}),
        fields=(),
        deadline_ms=5,
        service="com.iabtechlab.bidstream.mutation.v1.RTBExtensionPoint",
        vendor="floors",
    )
    assert spec.gvl_vendor_id is None
    assert spec.bidders is None


def test_an_empty_file_and_a_disabled_agent_give_no_agents() -> None:
    assert parse({}) == NO_AGENTS == AgentsConfig()
    config = parse({"agents": [agent(enabled=False)]})
    assert config.agents == ()
    assert config.at(Stage.BID_REQUEST) == ()


@pytest.mark.parametrize(
    ("document", "problems"),
    [
        pytest.param(
            {"agents": [agent(colour="red")]},
            [f"{SOURCE}: agents[0].colour: Extra inputs are not permitted"],
            id="unknown-agent-field",
        ),
        pytest.param(
            {"agentz": []},
            [f"{SOURCE}: agentz: Extra inputs are not permitted"],
            id="unknown-top-level-field",
        ),
        pytest.param(
            {"deals": [{"id": "d", "bidfloor": 1, "floor": 2}]},
            [f"{SOURCE}: deals[0].floor: Extra inputs are not permitted"],
            id="unknown-deal-field",
        ),
        pytest.param(
            {"agents": [agent(target="localhost")]},
            [
                f"{SOURCE}: agents[0].target: String should match pattern "
                r"'^[A-Za-z0-9.\[\]:-]+:[0-9]{1,5}$'"
            ],
            id="target-without-port",
        ),
        pytest.param(
            {"agents": [agent(target="http://127.0.0.1:50061")]},
            [
                f"{SOURCE}: agents[0].target: String should match pattern "
                r"'^[A-Za-z0-9.\[\]:-]+:[0-9]{1,5}$'"
            ],
            id="target-url",
        ),
        pytest.param(
            {"agents": [agent(deadline_ms=51)]},
            [f"{SOURCE}: agents[0].deadline_ms: Input should be less than or equal to 50"],
            id="deadline-above-50",
        ),
        pytest.param(
            {"agents": [agent(intents=["BID_SHADE"])]},
            [
                f"{SOURCE}: agents[0]: Value error, intent BID_SHADE applies at stage "
                "bid_response, not listed"
            ],
            id="response-intent-without-its-stage",
        ),
        pytest.param(
            {"agents": [agent(stages=["bid_response"], intents=["BID_SHADE", "ADD_CIDS"])]},
            [
                f"{SOURCE}: agents[0]: Value error, intent ADD_CIDS applies at stage "
                "bid_request, not listed"
            ],
            id="request-intent-without-its-stage",
        ),
        pytest.param(
            {"agents": [agent(intents=["ADJUST_DEAL_MARGIN"])]},
            [
                f"{SOURCE}: agents[0]: Value error, intent ADJUST_DEAL_MARGIN is not "
                "supported: the exchange takes no margin on deals, so there is none to adjust"
            ],
            id="deal-margin-unsupported",
        ),
        pytest.param(
            {"agents": [agent(intents=["ACTIVATE_SEGMENTS"])]},
            [
                f"{SOURCE}: agents[0]: Value error, ACTIVATE_SEGMENTS needs the segtax of "
                "the segment ids"
            ],
            id="segments-without-segtax",
        ),
        pytest.param(
            {
                "allowed_segtax": [4],
                "agents": [
                    agent(name="a", intents=["ACTIVATE_SEGMENTS"], segtax=4),
                    agent(name="b", intents=["ACTIVATE_SEGMENTS"], segtax=5),
                ],
            },
            [f"{SOURCE}: agents[1].segtax: 5 is not in allowed_segtax"],
            id="segtax-not-allowed",
        ),
        pytest.param(
            {"agents": [agent(fields=["site", "device.nope"])]},
            [
                f"{SOURCE}: agents[0]: Value error, fields: 'device.nope': 'nope' is not a "
                "field of Device"
            ],
            id="field-of-no-model",
        ),
        pytest.param(
            {"agents": [agent(fields=["site.ext"])]},
            [
                f"{SOURCE}: agents[0]: Value error, fields: 'site.ext': 'ext' is not a field "
                "of Site (agents never see ext)"
            ],
            id="nested-ext",
        ),
        pytest.param(
            {"agents": [agent(fields=["ext"])]},
            [
                f"{SOURCE}: agents[0]: Value error, fields: 'ext': 'ext' is not a field of "
                "BidRequest (agents never see ext)"
            ],
            id="top-level-ext",
        ),
        pytest.param(
            {"agents": [agent(fields=["imp.pmp.deals.id.x"])]},
            [
                f"{SOURCE}: agents[0]: Value error, fields: 'imp.pmp.deals.id.x': 'x' is "
                "inside a value that has no fields"
            ],
            id="field-inside-a-scalar",
        ),
        pytest.param(
            {"agents": [agent(), agent(target="127.0.0.1:50062")]},
            [f"{SOURCE}: agents: names must be unique"],
            id="duplicate-names",
        ),
        pytest.param(
            {"deals": [{"id": "d", "bidfloor": 1}, {"id": "d", "bidfloor": 2}]},
            [f"{SOURCE}: deals: ids must be unique"],
            id="duplicate-deal-ids",
        ),
        pytest.param(
            {"deals": [{"id": "d", "bidfloor": 1, "bidfloorcur": "usd"}]},
            [f"{SOURCE}: deals[0].bidfloorcur: String should match pattern '^[A-Z]{{3}}$'"],
            id="deal-currency",
        ),
        pytest.param(
            {"agents": [agent(gvl_vendor_id="1234")]},
            [f"{SOURCE}: agents[0].gvl_vendor_id: Input should be a valid integer"],
            id="vendor-id-as-text",
        ),
        pytest.param(
            {
                "allowed_segtax": [4],
                "deals": [{"id": "d", "bidfloor": 1}, {"id": "d", "bidfloor": 1}],
                "agents": [
                    agent(intents=["ACTIVATE_SEGMENTS"], segtax=9),
                    agent(intents=["ADD_CIDS"]),
                ],
            },
            [
                f"{SOURCE}: agents: names must be unique",
                f"{SOURCE}: agents[0].segtax: 9 is not in allowed_segtax",
                f"{SOURCE}: deals: ids must be unique",
            ],
            id="every-problem-of-the-file",
        ),
        pytest.param(
            {
                "agents": [
                    agent(deadline_ms=0, colour=1),
                    agent(name="b", target="b", intents=["NOT_AN_INTENT"]),
                ]
            },
            [
                f"{SOURCE}: agents[0].deadline_ms: Input should be greater than 0",
                f"{SOURCE}: agents[0].colour: Extra inputs are not permitted",
                f"{SOURCE}: agents[1].target: String should match pattern "
                r"'^[A-Za-z0-9.\[\]:-]+:[0-9]{1,5}$'",
                f"{SOURCE}: agents[1].intents[0]: Input should be 'ACTIVATE_SEGMENTS', "
                "'ACTIVATE_DEALS', 'SUPPRESS_DEALS', 'ADJUST_DEAL_FLOOR', "
                "'ADJUST_DEAL_MARGIN', 'BID_SHADE', 'ADD_METRICS' or 'ADD_CIDS'",
            ],
            id="every-schema-problem",
        ),
    ],
)
def test_every_problem_names_the_file_and_the_field(
    document: dict[str, Any], problems: list[str]
) -> None:
    assert problems_of(document) == tuple(problems)


def test_a_disabled_agent_does_not_count_as_a_duplicate_name() -> None:
    config = parse({"agents": [agent(), agent(target="10.0.0.2:1", enabled=False)]})
    assert [spec.target for spec in config.agents] == ["127.0.0.1:50061"]


def test_invalid_json_names_the_file() -> None:
    assert problems_of(b'{"agents": [') == (
        f"{SOURCE}: not valid JSON: unexpected end of data: line 1 column 13 (char 12)",
    )


def test_the_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse({"agents": [agent(deadline_ms=100)]})


def test_load_agents_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    path.write_bytes(orjson.dumps(GOOD_FILE))
    assert load_agents(path) == parse(GOOD_FILE)


def test_load_agents_problems_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    path.write_bytes(orjson.dumps({"agents": [agent(deadline_ms=51)]}))
    with pytest.raises(AgentsFileError) as raised:
        load_agents(path)
    assert raised.value.problems == (
        f"{path}: agents[0].deadline_ms: Input should be less than or equal to 50",
    )


def test_no_agents_file_gives_no_agents() -> None:
    assert load_agents(None) is NO_AGENTS
    assert load_agents(None).agents == ()


def test_a_missing_agents_file_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "agents.json"
    with pytest.raises(AgentsFileError) as raised:
        load_agents(path)
    assert raised.value.problems == (f"{path}: cannot read: No such file or directory",)
