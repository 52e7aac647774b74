"""The HTTP server: routes, body reading, limits, OpenAPI, and the lifespan that starts the
exchange core (``exchange``) in each worker process.

Nothing else in the project imports this package.
"""
