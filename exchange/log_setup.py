"""structlog configuration: JSON lines in production, readable console on a terminal.

Configured once per process: by the app factory, and by the reference ARTF agent. Logs never
carry raw personal data: callers log ids of auctions and campaigns, never IPs, user ids or
user agents.
"""

import logging
import sys

import structlog


def configure_logging(level: str, json: bool | None) -> None:
    """Set up structlog for the process; ``json=None`` picks JSON unless stderr is a TTY."""
    use_json = json if json is not None else not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
