"""The process's Services as a request handler reaches them."""

from starlette.requests import Request

from exchange.services import Services

__all__ = ["Services", "services_of"]


def services_of(request: Request) -> Services:
    """The process's Services, put into the request state by the lifespan."""
    services: Services = request.state.services
    return services
