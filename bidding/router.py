"""The in-process DSP router: answers a bid request for every campaign it hosts.

It speaks the same bidder interface as an external DSP (request in, OpenRTB BidResponse or
None out), so the exchange runs one auction over both. Per request, in order of cost:

1. the campaign index narrows the hosted campaigns to those whose targeting, flight and
   creatives fit each imp (``bidding.index``); pacing may hold a campaign out of this
   request (participation, only once its bids are at their floor: ``bidding.strategy``),
   and frequency caps and audience rules (over the user's profile, where consent allows
   one: ``bidding.audience_rules``) are checked for all of them in one store round trip;
2. Thompson sampling picks each campaign's creative (``bidding.creative_choice``);
3. one batched model call scores every value-based candidate (``bidding.scoring``), and the
   bid formula turns pCTR × pCVR × value into a CPM, scaled by the pacing multiplier (the
   budget's dual variable, ``bidding.strategy``: down to 1/64 when the budget is short) and
   clipped to the campaign's [min, max] (``bidding.valuation``); a fixed-price campaign bids
   its price;
4. in a first-price auction value-based bids are shaded on the context's bid landscape,
   learnt from the exchange's feedback (``observe``); second price bids the value;
5. bids below their floor are not sent.

A campaign set up for PMP deals (``deal_ids``) bids on an impression offering one of them
with that deal's id, against the deal's floor; private auctions get bids only from such
campaigns.

Floors (the imp's and deals') in another currency than the router's are converted with the
exchange's current rates, exactly as the auction converts them (``auction.terms``: rounded
up, in integer micros), so a bid the router sends clears the floor the auction applies. A
floor in a currency without a rate keeps the router out of that imp (or deal).

It never bids what it cannot pay for: before bidding it *holds* the most each bid can cost
(one impression at its bid) on the campaign's budget, atomically with every other process
sharing the store; a campaign whose hold is refused does not bid. The exchange releases
the holds of lost bids (``release_lost``); a won impression's billing notice settles its
hold; a hold nobody settles expires. If the store fails, the error propagates and the
exchange drops this bidder for the auction (no bid is safer than overspend).
"""

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from auction.currency import CurrencyRates, UnknownCurrency
from bidding.audience_rules import audience_holds
from bidding.campaigns import Campaign, ConfigError, Creative, RouterSpec
from bidding.canary import CANARY, Arm, Canary
from bidding.creative_choice import CreativeCounts, choose_creatives
from bidding.experiment_config import Variant
from bidding.features import ProfileCounts
from bidding.index import CampaignIndex, CampaignMatch
from bidding.landscape_file import Observation
from bidding.models import ModelHolder
from bidding.profiles import EMPTY_PROFILE, UserProfile, utc_day
from bidding.scoring import CandidateScorer, Predictions
from bidding.shading import LandscapeBook, bucket_key, shade_many
from bidding.strategy import FULL_SPEED, PacingAdvice, participation_of, takes_part
from bidding.targeting import RequestFacts, format_keys
from bidding.valuation import ValuationTable, value_bids
from exchange.bidders import base as bidder_api
from exchange.bidders.base import BidLike, BidResult, Offer
from openrtb.enums import AuctionType
from openrtb.identity import PROCESS_USER_KEYS, UserKeys
from openrtb.imp import Deal, Imp
from openrtb.money import cpm_to_micros, impression_cost_micros, micros_to_cpm
from openrtb.privacy import may_profile, privacy_signals
from openrtb.request import BidRequest
from openrtb.response import Bid, BidResponse, SeatBid


class BidHold(NamedTuple):
    """The most one bid can cost, held on its campaign's budget while the bid is out."""

    campaign_id: str
    time_zone: str
    budget_micros: int
    hold_id: str
    """The impression id the exchange will settle it by: ``auction:imp:bid``."""
    amount_micros: int


class BudgetGate(Protocol):
    """Holds on campaign budgets (implemented by budget.ledger.SpendLedger)."""

    async def reserve(self, holds: Sequence[BidHold], ttl_s: float) -> list[bool]: ...

    async def release(self, holds: Sequence[BidHold], bid_time_s: float) -> None: ...

    async def capped(
        self, campaigns: Sequence[tuple[str, str, Sequence[tuple[int, str]]]], user: str
    ) -> set[str]: ...

    async def capped_with_profile(
        self, campaigns: Sequence[tuple[str, str, Sequence[tuple[int, str]]]], user: str
    ) -> tuple[set[str], Mapping[str, str]]: ...


DEFAULT_HOLD_TTL_S = 900.0
"""A won impression's hold waits this long for its billing notice before it expires."""


class Pacer(Protocol):
    """Pacing advice per campaign, from a local cache: no I/O on the bidding path."""

    def advice(self, campaign_id: str) -> PacingAdvice:
        """The advice for a request the campaign is a candidate for (counted as traffic)."""
        ...

    def peek(self, campaign_id: str) -> PacingAdvice:
        """The same advice without counting a request (debug output)."""
        ...


class _Slot(NamedTuple):
    """A campaign that wants one imp, before its creative and price are chosen."""

    imp_index: int
    imp_id: str
    candidate: CampaignMatch
    floor_micros: int
    deal_id: str | None
    pacing: PacingAdvice


class _Priced(NamedTuple):
    """A slot's chosen creative, before its hold is placed."""

    campaign: Campaign
    creative: Creative
    imp_id: str
    deal_id: str | None
    variant: str | None
    """``experiment:variant`` where the campaign runs an experiment this request is in."""


def _deal_for(campaign: Campaign, imp: Imp) -> Deal | None:
    """The first of the imp's deals this campaign is set up to buy (and whose wseat admits it)."""
    pmp = imp.pmp
    if pmp is None or not pmp.deals or not campaign.deal_ids:
        return None
    for deal in pmp.deals:
        if deal.id in campaign.deal_ids and (not deal.wseat or campaign.seat in deal.wseat):
            return deal
    return None


@dataclass(frozen=True, slots=True)
class _Book:
    """Everything a router derives from its campaigns, swapped whole when an operator
    changes them (``CampaignRouter.replace_campaigns``): a request reads it once, so its
    index positions, valuation rows and templates always belong together."""

    campaigns: tuple[Campaign, ...]
    by_id: dict[str, Campaign]
    index: CampaignIndex
    table: ValuationTable
    scorer: CandidateScorer
    templates: dict[tuple[str, str], Bid]
    paused: frozenset[str]

    @classmethod
    def of(
        cls, campaigns: tuple[Campaign, ...], models: ModelHolder | None, paused: frozenset[str]
    ) -> "_Book":
        return cls(
            campaigns,
            {campaign.id: campaign for campaign in campaigns},
            CampaignIndex(campaigns),
            ValuationTable.of(campaigns),
            CandidateScorer(campaigns, models),
            {
                (campaign.id, creative.id): _template(campaign, creative)
                for campaign in campaigns
                for creative in campaign.creatives
            },
            paused,
        )


class CampaignRouter:
    """Bids for the campaigns of one RouterSpec; one instance per router per process."""

    def __init__(
        self,
        spec: RouterSpec,
        budget: BudgetGate,
        currency: str,
        hold_ttl_s: float = DEFAULT_HOLD_TTL_S,
        clock: Callable[[], float] = time.time,
        *,
        models: ModelHolder | None = None,
        creative_stats: CreativeCounts | None = None,
        pacer: Pacer | None = None,
        rng: np.random.Generator | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        user_keys: UserKeys = PROCESS_USER_KEYS,
        rates: Callable[[], CurrencyRates] | None = None,
        gvl_vendor_id: int | None = None,
        profile_features: bool = True,
        canary: Canary | None = None,
    ) -> None:
        """``rates`` returns the exchange's rates *now* (they are swapped when the reference
        table is refreshed); without it only floors in ``currency`` (or zero) are bid on.
        ``gvl_vendor_id`` is the exchange's own: the consent that lets it read profiles.
        ``profile_features``: read the user's profile for the models of value-based bids
        (off where profiles are not kept: an empty profile would read as a user who never
        clicks). ``canary``: the process's canary rollout, whose arm prices its auctions."""
        for campaign in spec.campaigns:
            if campaign.currency != currency:
                # Bids and budgets are integer micros of the exchange currency; converting a
                # campaign's money at load time would freeze today's rate into its budget.
                raise ConfigError(
                    f"router {spec.name}: campaign {campaign.id}: currency {campaign.currency} "
                    f"differs from the exchange currency {currency}"
                )
        self.name = spec.name
        self._budget = budget
        self._currency = currency
        self._rates = rates
        self._hold_ttl_s = hold_ttl_s
        self._clock = clock
        self._monotonic = monotonic
        self._user_keys = user_keys
        self._vendor_id = gvl_vendor_id
        self._profile_features = profile_features
        self._models = models
        self._canary = canary
        self._book = _Book.of(spec.campaigns, models, frozenset())
        self._creative_stats = creative_stats
        self._pacer = pacer
        self._rng = rng if rng is not None else np.random.default_rng()
        self.landscapes = LandscapeBook()
        """The first-price bid landscape per context bucket, learnt from auction feedback."""
        self.scored_candidates = 0
        """Value-based candidates priced on model predictions (not the historical-average
        fallback) since start: a plain count, exported by ``exchange.metrics``."""

    @property
    def campaigns(self) -> tuple[Campaign, ...]:
        """The campaigns it hosts, paused ones included, as last replaced."""
        return self._book.campaigns

    @property
    def paused(self) -> frozenset[str]:
        """Ids of the hosted campaigns that do not bid (an operator paused them)."""
        return self._book.paused

    def replace_campaigns(
        self, campaigns: Sequence[Campaign], paused: frozenset[str] = frozenset()
    ) -> None:
        """Bid for ``campaigns`` (the same ids, in the same order: changed budgets, prices,
        goals) from the next request on, except the ``paused`` ones; a request under way
        finishes on the campaigns it started with. Lost bids of any of them, paused ones
        included, still give their holds back."""
        old = self._book.campaigns
        if [c.id for c in campaigns] != [c.id for c in old]:
            raise ValueError("replace_campaigns keeps the router's campaigns and their order")
        if unknown := paused - {c.id for c in old}:
            raise ValueError(f"unknown campaigns {sorted(unknown)}")
        for campaign in campaigns:
            if campaign.currency != self._currency:
                raise ConfigError(f"campaign {campaign.id}: currency {campaign.currency}")
        self._book = _Book.of(tuple(campaigns), self._models, paused)

    def ready(self) -> bool:
        """A router with its config loaded can bid (on fallback values if models are not)."""
        return True

    @property
    def degraded(self) -> bool:
        """Whether value-based bids use historical averages because models did not load."""
        return self._book.scorer.degraded

    def eligible(self, imp: Imp) -> bool:
        """Impressions of a format (media type and size) one of its campaigns has."""
        return self._book.index.serves(format_keys(imp))

    def _fits(
        self, book: _Book, request: BidRequest, facts: Sequence[RequestFacts]
    ) -> Iterator[tuple[int, Imp, CampaignMatch, int, str | None, str | None]]:
        """Per imp, each campaign the index returns with its floor and deal id, and why it
        cannot bid there (None: it may): paused, a floor without a rate, deal rules, and a
        fixed price below the floor."""
        paused = book.paused
        own = self._currency
        for imp_index, (imp, imp_facts) in enumerate(zip(request.imp, facts, strict=True)):
            if imp.bidfloorcur == own:  # the common case: no rates looked at
                open_floor_micros = cpm_to_micros(imp.bidfloor)
            else:
                converted = self._converted_floor(imp.bidfloor, imp.bidfloorcur)
                if converted is None:  # the auction refuses such an imp whole
                    no_rate = f"no exchange rate for the floor currency {imp.bidfloorcur}"
                    for candidate in book.index.candidates(imp_facts):
                        yield imp_index, imp, candidate, 0, None, no_rate
                    continue
                open_floor_micros = converted
            private = imp.pmp is not None and imp.pmp.private_auction == 1
            for candidate in book.index.candidates(imp_facts):
                campaign = candidate.campaign
                deal = _deal_for(campaign, imp)
                floor_micros: int | None = open_floor_micros
                why: str | None = None
                if paused and campaign.id in paused:
                    why = "paused"
                elif deal is None:
                    if private:
                        why = "private auction without one of its deals"
                elif deal.bidfloorcur == own:
                    floor_micros = cpm_to_micros(deal.bidfloor)
                else:
                    floor_micros = self._converted_floor(deal.bidfloor, deal.bidfloorcur)
                    if floor_micros is None:
                        why = f"no exchange rate for the deal floor currency {deal.bidfloorcur}"
                if floor_micros is None:
                    floor_micros = 0  # not bid on (why says so)
                elif (
                    why is None and campaign.goal is None and campaign.bid_cpm_micros < floor_micros
                ):
                    why = "fixed price below the floor"
                yield imp_index, imp, candidate, floor_micros, deal.id if deal else None, why

    def _converted_floor(self, bidfloor: float, currency: str) -> int | None:
        """A floor in another currency as micros of the router's, rounded up as the auction
        rounds it (``auction.terms``); zero needs no rate; None when there is no rate."""
        if bidfloor == 0:
            return 0
        rates = self._rates() if self._rates is not None else None
        if rates is None or rates.exchange_currency != self._currency:
            return None
        try:
            return rates.to_exchange_micros(bidfloor, currency, rounding="up")
        except UnknownCurrency:
            return None

    def _slots(self, book: _Book, request: BidRequest, now_s: float) -> list[_Slot]:
        """Campaigns whose targeting, flight, deals and creatives fit each imp (via the
        index), that pacing lets take part in this request."""
        facts = RequestFacts.for_imps(request, int(now_s))
        pacer = self._pacer
        fitting = []
        for imp_index, imp, candidate, floor_micros, deal_id, why in self._fits(
            book, request, facts
        ):
            if why is not None:
                continue
            advice = pacer.advice(candidate.campaign.id) if pacer is not None else FULL_SPEED
            fitting.append(_Slot(imp_index, imp.id, candidate, floor_micros, deal_id, advice))
        if pacer is None:
            return fitting
        drawn = takes_part(
            [participation_of(s.pacing, s.candidate.campaign.goal is not None) for s in fitting],
            self._rng,
        )
        return [slot for slot, part in zip(fitting, drawn, strict=True) if part]

    def explain(self, request: BidRequest) -> dict[str, dict[str, str]]:
        """Per imp, per campaign, why it would not bid — or what it would bid — on
        ``request`` now (debug output: a full scan, not the bidding path). Frequency caps,
        audience rules and budget are checked when bidding and are not repeated here."""
        book = self._book
        now_s = self._clock()
        facts = RequestFacts.for_imps(request, int(now_s))
        out: dict[str, dict[str, str]] = {}
        for imp, imp_facts in zip(request.imp, facts, strict=True):
            reasons = book.index.explain(imp_facts)
            out[imp.id] = {cid: str(why) for cid, why in reasons.items() if why is not None}
        slots = []
        for imp_index, imp, candidate, floor_micros, deal_id, why in self._fits(
            book, request, facts
        ):
            campaign = candidate.campaign
            if why is not None:
                out[imp.id][campaign.id] = why
                continue
            advice = self._pacer.peek(campaign.id) if self._pacer else FULL_SPEED
            slots.append(_Slot(imp_index, imp.id, candidate, floor_micros, deal_id, advice))
            out[imp.id][campaign.id] = "value below the floor"
        arm = self._canary.serving_arm(request.id) if self._canary is not None else None
        priced = self._priced(book, request, slots, now_s, None, arm) if slots else []
        for offer, price_micros in priced:
            pacing = self._pacer.peek(offer.campaign.id) if self._pacer else FULL_SPEED
            out[offer.imp_id][offer.campaign.id] = (
                f"bids {micros_to_cpm(price_micros)} with {offer.creative.id}"
                f" (participation {pacing.participation:.2f})"
            )
        return out

    def _priced(
        self,
        book: _Book,
        request: BidRequest,
        slots: Sequence[_Slot],
        now_s: float,
        profile: ProfileCounts | None = None,
        arm: Arm | None = None,
    ) -> list[tuple[_Priced, int]]:
        """Each slot's creative (Thompson sampling) and bid (value, pacing, shading), and the
        slots whose bid clears their floor; ``profile``: the user's counts for the models;
        ``arm``: the canary arm the auction is in (``bidding.canary``)."""
        creatives = choose_creatives(
            [(s.candidate.campaign, s.candidate.creatives) for s in slots],
            self._creative_stats,
            self._rng,
        )
        positions = [s.candidate.position for s in slots]
        canary = self._canary if arm == CANARY else None
        if any(s.candidate.campaign.goal is not None for s in slots):
            predictions = self._scored(
                book,
                request,
                [(s.imp_index, p, k) for s, p, k in zip(slots, positions, creatives, strict=True)],
                now_s,
                profile,
                canary,
            )
            pctr, pcvr = predictions.pctr, predictions.pcvr
            if not predictions.degraded:
                self.scored_candidates += sum(s.candidate.campaign.goal is not None for s in slots)
        else:  # fixed prices only: no model call
            pctr = pcvr = np.zeros(len(slots))
        variants = self._variants(request, slots)
        scale = canary.config.bid_scale if canary is not None else 1.0
        valued = value_bids(
            book.table,
            positions,
            pctr,
            pcvr,
            [s.floor_micros for s in slots],
            [
                s.pacing.multiplier * scale * (v.bid_scale if v is not None else 1.0)
                for s, v in zip(slots, variants, strict=True)
            ],
        )
        bids = valued.bid_cpm_micros.tolist()
        if request.at == AuctionType.FIRST_PRICE:
            bids = self._shaded(request, slots, creatives, bids)
        offers = []
        for slot, creative_pos, sent, bid, variant in zip(
            slots, creatives, valued.sent.tolist(), bids, variants, strict=True
        ):
            if not sent or bid < slot.floor_micros:
                continue
            campaign = slot.candidate.campaign
            creative = campaign.creatives[creative_pos]
            experiment = campaign.experiment
            tag = f"{experiment.name}:{variant.name}" if experiment and variant else None
            offers.append((_Priced(campaign, creative, slot.imp_id, slot.deal_id, tag), bid))
        return offers

    def _scored(
        self,
        book: _Book,
        request: BidRequest,
        candidates: Sequence[tuple[int, int, int]],
        now_s: float,
        profile: ProfileCounts | None,
        canary: Canary | None,
    ) -> Predictions:
        """The candidates' predictions by the serving models, or by the canary's for an
        auction in its arm; a canary model that fails counts an error, and the serving
        models price the request (the canary must not cost a bid)."""
        models = canary.models() if canary is not None else None
        if models is not None and canary is not None:
            try:
                return book.scorer.score(request, request.imp, candidates, now_s, profile, models)
            except Exception:
                canary.arms[CANARY].errors += 1
        return book.scorer.score(request, request.imp, candidates, now_s, profile)

    def _variants(self, request: BidRequest, slots: Sequence[_Slot]) -> list[Variant | None]:
        """Each slot's experiment variant (``bidding.experiment_config``): None where its
        campaign runs none, or keys by user and nothing identifies this one."""
        user: str | None = None
        if any(
            s.candidate.campaign.experiment and s.candidate.campaign.experiment.key == "user"
            for s in slots
        ):
            user = self._user_keys.of(request)
        out: list[Variant | None] = []
        for slot in slots:
            experiment = slot.candidate.campaign.experiment
            key = (
                None if experiment is None else request.id if experiment.key == "auction" else user
            )
            out.append(None if experiment is None or key is None else experiment.variant(key))
        return out

    def _shaded(
        self,
        request: BidRequest,
        slots: Sequence[_Slot],
        creatives: Sequence[int],
        bids: list[int],
    ) -> list[int]:
        """First price: value-based bids shaded to maximise (value − bid) × P(win | bid) on
        their context bucket's landscape (fixed prices are paid as agreed, not shaded)."""
        out = list(bids)
        by_bucket: dict[str, list[int]] = {}
        for i, (slot, creative_pos) in enumerate(zip(slots, creatives, strict=True)):
            campaign = slot.candidate.campaign
            if campaign.goal is None or out[i] <= 0:
                continue
            creative = campaign.creatives[creative_pos]
            by_bucket.setdefault(_bucket(request, creative.w or 0, creative.h or 0), []).append(i)
        for bucket, positions in by_bucket.items():  # one grid search per landscape
            shaded = shade_many(
                np.array([out[i] for i in positions], dtype=np.int64),
                self.landscapes.peek(bucket),
                np.array([slots[i].floor_micros for i in positions], dtype=np.int64),
            )
            for i, bid in zip(positions, shaded.tolist(), strict=True):
                out[i] = bid
        return out

    async def offers(self, request: BidRequest, timeout_s: float) -> list[Offer]:
        """All affordable offers for ``request``, typed, in exchange micros (the exchange's
        in-process lane); empty when there is nothing to bid."""
        started = self._monotonic()
        now_s = self._clock()
        book = self._book  # one set of campaigns for the whole request
        slots = self._slots(book, request, now_s)
        profile = None
        if slots:
            slots, profile = await self._for_user(book, request, slots, now_s)
        if not slots:
            return []
        canary = self._canary
        arm = canary.serving_arm(request.id) if canary is not None else None
        priced = self._priced(book, request, slots, now_s, profile, arm)
        if not priced or self._monotonic() - started >= timeout_s:
            self._count_arm(arm, slots, priced, ())
            return []  # too late: a hold placed now would only wait to expire
        holds = [
            _hold(request.id, offer.imp_id, offer.campaign, price_micros)
            for offer, price_micros in priced
        ]
        placed = await self._budget.reserve(holds, self._hold_ttl_s)
        self._count_arm(arm, slots, priced, placed)
        tag = f"{canary.name}:{arm}" if canary is not None and arm is not None else None
        return [
            Offer(
                _bid_id(offer.imp_id, offer.campaign),
                offer.imp_id,
                offer.campaign.seat,
                price_micros,
                offer.deal_id,
                book.templates[offer.campaign.id, offer.creative.id],
                profile,
                offer.variant,
                tag,
            )
            for (offer, price_micros), held in zip(priced, placed, strict=True)
            if held
        ]

    def _count_arm(
        self,
        arm: Arm | None,
        slots: Sequence[_Slot],
        priced: Sequence[tuple[_Priced, int]],
        placed: Sequence[bool],
    ) -> None:
        """Count a request with value-based candidates, and its value-based bids sent, in
        its canary arm (``bidding.canary_guards``); fixed prices are the same in both."""
        if arm is None or self._canary is None:
            return
        if not any(s.candidate.campaign.goal is not None for s in slots):
            return
        bids = sum(
            1
            for (offer, _), held in zip(priced, placed, strict=False)
            if held and offer.campaign.goal is not None
        )
        self._canary.arms[arm].priced(bids)

    async def request_bids(self, request: BidRequest, timeout_s: float) -> BidResponse | None:
        """The offers as an OpenRTB BidResponse (the router served as a DSP over HTTP);
        None when there is nothing to bid."""
        by_seat: dict[str, list[Bid]] = {}
        for offer in await self.offers(request, timeout_s):
            by_seat.setdefault(offer.seat, []).append(offer.to_bid())
        if not by_seat:
            return None
        return BidResponse(
            id=request.id,
            cur=self._currency,
            seatbid=[SeatBid(seat=seat, bid=bids) for seat, bids in by_seat.items()],
        )

    def observe(self, request: BidRequest, results: Sequence[BidResult]) -> list[Observation]:
        """Learn the market from this router's bids in one auction: a won bid with the
        price it cleared at in a second-price auction (the best competing bid), a won
        first-price bid (competition was below it), a lost bid with its minimum to win.
        What it learnt, for the event log (``bidding.landscape_file``)."""
        first_price = request.at == AuctionType.FIRST_PRICE
        observed = []
        for result in results:
            bid = result.bid
            if bid.cid not in self._book.by_id:
                continue
            competing = None if result.won and first_price else result.competing_micros
            observation = Observation(
                _bucket(request, bid.w or 0, bid.h or 0),
                bidder_api.price_micros(bid),
                result.won,
                competing,
            )
            self.landscapes.observe(
                observation.bucket, observation.bid_micros, observation.won, competing
            )
            observed.append(observation)
        return observed

    async def _for_user(
        self, book: _Book, request: BidRequest, slots: list[_Slot], now_s: float
    ) -> tuple[list[_Slot], ProfileCounts | None]:
        """Slots of campaigns whose frequency caps still allow this user and whose audience
        rules its profile meets, and the profile's counts for the models, from one store
        round trip. A capped campaign does not bid to a user nothing identifies (its cap
        could not be kept); a campaign with audience rules does not bid without a profile it
        may read (``bidding.audience_rules``); the models get no counts without one."""
        capped_campaigns = {
            s.candidate.campaign.id: s.candidate.campaign
            for s in slots
            if s.candidate.campaign.frequency_caps
        }
        audience = any(s.candidate.campaign.audience for s in slots)
        features = (
            self._profile_features
            and not book.scorer.degraded
            and any(s.candidate.campaign.goal is not None for s in slots)
        )
        if not capped_campaigns and not audience and not features:
            return slots, None
        user = self._user_keys.of(request)
        profile = EMPTY_PROFILE
        blocked: set[str] = set()
        if user is None:
            blocked = set(capped_campaigns)
        else:
            caps = [
                (c.id, c.time_zone, [(cap.count, cap.window) for cap in c.frequency_caps])
                for c in capped_campaigns.values()
            ]
            if (audience or features) and may_profile(privacy_signals(request), self._vendor_id):
                blocked, record = await self._budget.capped_with_profile(caps, user)
                profile = UserProfile.parse(record, now_s)
            elif caps:
                blocked = await self._budget.capped(caps, user)
        today = utc_day(now_s)
        kept = [
            s
            for s in slots
            if s.candidate.campaign.id not in blocked
            and audience_holds(s.candidate.campaign.audience, profile, today)
        ]
        return kept, profile.feature_counts(today) if features else None

    async def release_lost(self, auction_id: str, lost: Sequence[BidLike]) -> None:
        """Give back the holds of this router's bids that did not win ``auction_id``."""
        holds = []
        for bid in lost:
            campaign = self._book.by_id.get(bid.cid or "")
            if campaign is not None:
                holds.append(_hold(auction_id, bid.impid, campaign, bidder_api.price_micros(bid)))
        if holds:
            await self._budget.release(holds, self._clock())


def _bucket(request: BidRequest, w: int, h: int) -> str:
    """The shading landscape bucket of an impression: publisher × size × country."""
    inventory = request.site or request.app
    publisher = inventory.publisher.id if inventory and inventory.publisher else None
    device = request.device
    country = device.geo.country if device and device.geo else None
    return bucket_key(publisher, w, h, country)


def _bid_id(imp_id: str, campaign: Campaign) -> str:
    return f"{imp_id}-{campaign.id}"


def _hold(auction_id: str, imp_id: str, campaign: Campaign, price_micros: int) -> BidHold:
    return BidHold(
        campaign.id,
        campaign.time_zone,
        campaign.daily_budget_micros,
        f"{auction_id}:{imp_id}:{_bid_id(imp_id, campaign)}",
        impression_cost_micros(price_micros),
    )


def _template(campaign: Campaign, creative: Creative) -> Bid:
    """What every bid of this campaign with this creative has in common, validated once."""
    return Bid(
        id="template",
        impid="template",
        price=micros_to_cpm(campaign.bid_cpm_micros),
        adid=creative.id,
        crid=creative.id,
        cid=campaign.id,
        adomain=list(creative.adomain),
        cat=list(creative.cat),
        w=creative.w,
        h=creative.h,
        adm=creative.adm,
        nurl=campaign.nurl,
        burl=campaign.burl,
        lurl=campaign.lurl,
        # For the exchange's click tracking (${RTB_CLICK_URL}); removed before the SSP sees it.
        ext={"landing_url": creative.landing_url} if creative.landing_url else None,
    )
