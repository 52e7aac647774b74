"""The traffic-quality screen: every check in order, each with its configured action.

Runs on the request as the SSP sent it (before the privacy rules truncate the IP), before
any bidder is called. The first finding of a check set to ``block`` ends the screen and
refuses the request with that check's no-bid reason; findings of checks set to ``flag``
are collected and passed on to the bidders in ``request.ext.ivt``. Checks:

======================  ======  ===========================================================
check                   nbr     finds
======================  ======  ===========================================================
``crawler``             3       a user agent on crawlerdetect's list (``fraud.user_agents``)
``datacenter``          5       an IP in a data-centre range (``fraud.ip_ranges``)
``device``              6       an IP that is not public, UA/OS/devicetype contradictions,
                                impossible screens (``fraud.device``)
``seller``              7       a publisher id not in sellers.json, or not on its domain
``schain``              16, 17  an incomplete supply chain, a blocked node (``fraud.sellers``)
``rate``                4       an IP or device over its requests per window (``fraud.rates``)
======================  ======  ===========================================================
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from fraud.device import consistency_problem, ip_problem, parse_ip
from fraud.ip_ranges import IpRanges
from fraud.rates import RateWatch
from fraud.sellers import SellersDirectory, schain_problem
from fraud.user_agents import CrawlerList
from fraud.verdict import CLEAN, Action, Check, Finding, Verdict
from openrtb.enums import NoBidReason
from openrtb.request import BidRequest

_ZERO_IFA: Final = "00000000-0000-0000-0000-000000000000"
"""What a device with limited ad tracking sends: not one device but millions."""

DEFAULT_ACTIONS: Final = {
    Check.CRAWLER: Action.BLOCK,
    Check.DATACENTER: Action.BLOCK,
    Check.DEVICE: Action.FLAG,
    Check.SELLER: Action.BLOCK,
    Check.SCHAIN: Action.FLAG,
    Check.RATE: Action.FLAG,
}


@dataclass(frozen=True, slots=True)
class ScreenConfig:
    """Which checks run and what their findings do."""

    actions: Mapping[Check, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    blocked_schain_nodes: frozenset[str] = frozenset()
    """``asi`` domains (lower case) whose presence in a supply chain gives reason 17."""


class Screen:
    """Decides, per request, whether it is blocked and what is flagged."""

    def __init__(
        self,
        config: ScreenConfig,
        *,
        crawlers: CrawlerList | None = None,
        ranges: IpRanges | None = None,
        sellers: SellersDirectory | None = None,
        rates: RateWatch | None = None,
    ) -> None:
        self._available = frozenset(
            check
            for check, needs in (
                (Check.CRAWLER, crawlers),
                (Check.DATACENTER, ranges),
                (Check.DEVICE, True),
                (Check.SELLER, sellers),
                (Check.SCHAIN, True),
                (Check.RATE, rates),
            )
            if needs is not None
        )
        """The checks that have their data (no sellers file, no rate watch: off)."""
        self._actions: Mapping[Check, Action] = {}
        self._actions = self.actions_with(config.actions)
        self._crawlers = crawlers
        self._ranges = ranges
        self._sellers = sellers
        self._rates = rates
        self._blocked_nodes = config.blocked_schain_nodes

    def replace_ranges(self, ranges: IpRanges) -> None:
        """Screen with ``ranges`` from the next request on (a refreshed file); one reference
        assignment, so a request being screened finishes on the ranges it started with."""
        self._ranges = ranges

    @property
    def datacenter_ranges(self) -> int | None:
        """How many spans the data-centre check looks up (None: the check is off)."""
        return self._ranges.size if self._ranges is not None else None

    @property
    def actions(self) -> dict[str, str]:
        """Each check's effective action (for the docs, logs and debug output)."""
        return {check.value: action.value for check, action in self._actions.items()}

    def actions_with(self, actions: Mapping[Check, Action]) -> Mapping[Check, Action]:
        """Every check's effective action under ``actions`` (an SSP account's, say): a
        check without its data stays off, a check not named keeps the screen's own."""
        own = self._actions
        return {
            check: actions.get(check, own.get(check, Action.OFF))
            if check in self._available
            else Action.OFF
            for check in Check
        }

    def screen(self, request: BidRequest, actions: Mapping[Check, Action] | None = None) -> Verdict:
        """The decision on ``request`` (pure but for the rate counts), under the screen's
        own actions or ``actions`` (from ``actions_with``)."""
        flags: list[Finding] = []
        for action, finding in self._findings(request, actions or self._actions):
            if action is Action.BLOCK:
                return Verdict(finding, tuple(flags))
            flags.append(finding)
        return Verdict(None, tuple(flags)) if flags else CLEAN

    def _findings(
        self, request: BidRequest, actions: Mapping[Check, Action]
    ) -> Iterator[tuple[Action, Finding]]:
        """Each enabled check's finding with its action, in order, lazily: the screen stops
        pulling at the first block (a blocked request is not counted in the rates)."""
        device = request.device
        off = Action.OFF
        crawler = actions[Check.CRAWLER]
        datacenter = actions[Check.DATACENTER]
        device_action = actions[Check.DEVICE]
        seller = actions[Check.SELLER]
        schain = actions[Check.SCHAIN]
        rate = actions[Check.RATE]
        if device is not None:
            ua = device.ua
            if ua and crawler is not off and self._crawlers is not None:
                name = self._crawlers.crawler(ua)
                if name is not None:
                    yield crawler, Finding(Check.CRAWLER, NoBidReason.KNOWN_WEB_SPIDER, name)
            ip = parse_ip(device)
            if ip is not None and datacenter is not off and self._ranges is not None:
                provider = self._ranges.provider(ip)
                if provider is not None:
                    reason = NoBidReason.CLOUD_DATACENTER_PROXY_IP
                    yield datacenter, Finding(Check.DATACENTER, reason, provider)
            if device_action is not off:
                problem = ip_problem(device, ip) or consistency_problem(device)
                if problem is not None:
                    reason = NoBidReason.UNSUPPORTED_DEVICE
                    yield device_action, Finding(Check.DEVICE, reason, problem)
        if seller is not off and self._sellers is not None:
            problem = self._sellers.problem(request)
            if problem is not None:
                reason = NoBidReason.BLOCKED_PUBLISHER_OR_SITE
                yield seller, Finding(Check.SELLER, reason, problem)
        if schain is not off:
            chain = schain_problem(request, self._blocked_nodes)
            if chain is not None:
                yield schain, Finding(Check.SCHAIN, chain[0], chain[1])
        if device is not None and rate is not off and self._rates is not None:
            rated = self._rate_finding(self._rates, device.ip or device.ipv6, device.ifa)
            if rated is not None:
                yield rate, rated

    @staticmethod
    def _rate_finding(rates: RateWatch, ip: str | None, ifa: str | None) -> Finding | None:
        over: str | None = None
        if ip:
            count = rates.seen("ip", ip)
            if count is not None:
                over = f"ip: ~{count} requests in the window"
        if ifa and ifa != _ZERO_IFA:
            count = rates.seen("device", ifa)
            if count is not None and over is None:
                over = f"device: ~{count} requests in the window"
        if over is None:
            return None
        return Finding(Check.RATE, NoBidReason.SUSPECTED_NON_HUMAN_TRAFFIC, over)


def with_flags(request: BidRequest, verdict: Verdict) -> BidRequest:
    """``request`` carrying the flagged findings in ``ext.ivt`` (unchanged when none)."""
    if not verdict.flagged:
        return request
    ext = dict(request.ext or {})
    ext["ivt"] = {"flags": [finding.as_json() for finding in verdict.flagged]}
    return request.model_copy(update={"ext": ext})
