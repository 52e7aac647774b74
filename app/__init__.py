"""The FastAPI application: wiring, routes, the exchange orchestrator and bidder adapters.

Nothing else in the project imports this package.
"""
