"""``rtb replay``: bidding strategies replayed over an auction log under budgets.

The iPinYou offline protocol (Zhang, Yuan, Wang 2014): a strategy wins a logged impression
when its bid beats the logged market price, pays that price, and stops when its budget is
spent; budgets are fractions of the test log's total cost. Every strategy is tuned on a
training log only and then run once over the test log (docs/bidding.md, *Replay and
strategies*).

Modules: ``logs`` (reading compact and raw logs, money into micros), ``pctr`` (where the
pCTR comes from), ``auction`` (the protocol's win-and-pay rule), ``baselines`` (Const, Lin,
ORTB), ``rlb`` (Cai et al. 2017), ``own`` (the project's strategy, ``bidding.strategy``),
``tuning``, ``optimum`` (the hindsight knapsack), ``run`` (everything for one pair of
logs), ``report`` and ``plots``, ``synthetic`` (seeded logs for tests and examples),
``cli``.
"""
