"""Supply paths: who sold an impression to the exchange, scored from the event log.

``paths`` turns a request's supply chain (``source.schain``, or 2.5 ``source.ext.schain``)
into a short, bounded key for the ``auction`` event; ``scores`` reads an event export back
into per-path figures (``rtb supply-paths``); ``dedup`` is the optional per-account
preference that answers no-bid to the same impression arriving again by a path no shorter.
Pure functions over plain data, but ``dedup``'s bounded seen-set.
"""
