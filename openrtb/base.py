"""The one pydantic configuration every OpenRTB object shares.

Why these settings:

* ``extra="allow"``: OpenRTB is a living spec and says unknown fields must be tolerated;
  they are kept on the model and written back out, so a field this code does not know
  (a newer spec field, a vendor field, a typo in a spec example) reaches the bidders intact.
* ``strict=True``: a JSON number is not coerced from a string nor a float into an ``int``
  (``"w": "300"`` or ``"w": 300.0`` is a 400 naming the field, as in the Go and Java
  implementations most SSPs test against). Integers are accepted for ``float`` fields,
  because JSON does not distinguish ``1`` from ``1.0``.
* ``allow_inf_nan=False``: no NaN or infinity in any float, above all in prices; orjson
  already refuses those literals on the wire, this also guards models built in code.
* ``ext`` is ``dict[str, Any]``: its content is exchange- or bidder-specific and validating
  it buys nothing.

Defaults stated by the spec are model defaults, so reading ``imp.bidfloorcur`` gives
``"USD"`` when it was omitted; serialise with ``exclude_unset`` (see ``openrtb.codec``) so
that a default is never written out unless the sender set it.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["OpenRTBModel"]


class OpenRTBModel(BaseModel):
    """Base of every OpenRTB 2.6 object: tolerant of unknown fields, strict on known ones."""

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        allow_inf_nan=False,
        protected_namespaces=(),
    )

    ext: dict[str, Any] | None = None
