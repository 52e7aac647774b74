"""Bidders as the exchange sees them: one interface, a registry, and its implementations."""
