"""Money and time: spend counters, idempotent charging, campaign days.

Only this package (and the app's lifespan, which opens the connection) talks to Redis.
"""
