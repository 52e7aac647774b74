"""``rtb attribute``: which touchpoints earned each conversion, by six models.

``journeys`` reads touchpoint CSVs and event exports into conversion paths, ``rules`` holds
the rule-based models (last click, first click, linear, time decay, position based),
``shapley`` the data-driven one, ``run`` applies them all, ``report`` and ``plots`` write
what they found and ``cli`` is the command (docs/attribution.md). Pure but for the reading
and writing; imports of the project only ``openrtb.money`` and, for exports,
``bidding.event_log``.
"""
