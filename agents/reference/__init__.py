"""A reference ARTF agent: segment activation, deal floors and bid shading from a JSON rules
file, served over gRPC as its own process (``python -m agents.reference``).

It exists so the exchange's host side can be exercised against a real, independent agent,
and as a worked example of the mutations the host accepts.
"""
