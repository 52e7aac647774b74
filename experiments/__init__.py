"""A/B tests of bid strategies: assignment of traffic to variants, and their analysis."""
