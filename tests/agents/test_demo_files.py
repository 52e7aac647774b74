"""The demo that ``make run AGENT=1`` starts: its agents file is valid against the demo
bidders and the shipped rates, and the reference agent accepts its rules file."""

from pathlib import Path

from agents.config import Stage, cross_problems, load_agents
from agents.reference.rules import load_rules
from exchange.bidders.config import load_bidders
from exchange.rates_reload import exchange_rates, initial_table
from exchange.settings import Settings

REFERENCE = Path(__file__).parents[2] / "agents" / "reference"


def test_the_demo_agents_file_fits_the_demo_exchange() -> None:
    path = REFERENCE / "demo_agents.json"
    config = load_agents(path)
    bidders = load_bidders(None)
    settings = Settings()
    currencies = exchange_rates(settings, initial_table(settings)).rates
    names = [router.name for router in bidders.routers]
    assert cross_problems(config, str(path), currencies, names) == []
    (agent,) = config.agents
    assert agent.stages == {Stage.BID_REQUEST, Stage.BID_RESPONSE}
    assert agent.bidders == {"house"}


def test_the_demo_rules_load() -> None:
    rules = load_rules(REFERENCE / "demo_rules.json")
    assert rules.segments
    assert rules.deal_floors
