"""The exchange core, free of any web framework: one auction's plan, fan-out under the
deadline, bid intake, the auction, the winning bids, notices and the recording of it all,
plus the function that wires these from settings (``exchange.wiring``).

The HTTP server (``app``), the day simulation and the benchmarks all drive it through
``Exchange.auction``; nothing here imports FastAPI or Starlette.
"""
