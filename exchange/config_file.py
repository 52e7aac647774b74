"""A JSON configuration file read into its pydantic model, with every problem reported.

The bidders file and the accounts file are read the same way: invalid JSON is one problem
naming the file, a schema violation is one ``file: field: why`` problem per error (all of
them, not the first), so ``rtb serve`` can list them together.
"""

from collections.abc import Callable
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from openrtb.errors import field_path

Model = TypeVar("Model", bound=BaseModel)


def parse_config_file(
    model: type[Model], data: bytes, source: str, error: Callable[[list[str]], Exception]
) -> Model:
    """``data`` (the file ``source``) as ``model``; raises ``error(problems)``."""
    try:
        return model.model_validate(orjson.loads(data))
    except orjson.JSONDecodeError as exc:
        raise error([f"{source}: not valid JSON: {exc}"]) from exc
    except ValidationError as exc:
        raise error(
            [f"{source}: {field_path(e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()]
        ) from exc
