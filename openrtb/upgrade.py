"""OpenRTB 2.5 extensions read into their OpenRTB 2.6 fields, once, at decode.

Before 2.6 the privacy signals, the user's extended ids, the supply chain and rewarded
inventory had no fields of their own and lived in ``ext`` (the IAB's GDPR, CCPA, EIDs and
SupplyChain extensions, and prebid's ``imp.ext.prebid``); most SSPs still send them there.
A request read only through its 2.6 fields would then look unrestricted: the audit of
issue 13 found ``regs.ext.gdpr = 1`` ignored. So every decoded request is upgraded here
and bidders receive one version, 2.6, with the moved keys taken out of ``ext``:

=============================================  ==============================
2.5 location                                   2.6 field
=============================================  ==============================
``regs.ext.gdpr``                              ``regs.gdpr``
``regs.ext.us_privacy``                        ``regs.us_privacy``
``regs.ext.gpp`` + ``regs.ext.gpp_sid``        ``regs.gpp`` + ``regs.gpp_sid``
``user.ext.consent``                           ``user.consent``
``user.ext.eids``                              ``user.eids``
``source.ext.schain``                          ``source.schain``
``imp.ext.prebid.is_rewarded_inventory``       ``imp.rwdd``
=============================================  ==============================

When both places carry a value and they differ (conflict rules, see docs/privacy.md):

* ``gdpr``: 1 if either says 1 — applying GDPR to a user it did not cover costs a bid's
  personalisation, ignoring it where it applies breaks the law;
* ``us_privacy``: the one that opts out of sale (third character ``Y``), else the 2.6 one;
* ``gpp``/``gpp_sid``: taken as a pair from one place, the 2.6 one if it has a string (a
  section list belongs to the string it describes; mixing them would misread sections);
* ``consent``: the 2.6 one. A TCF string cannot be ranked without decoding it, and a sender
  that writes the 2.6 field has upgraded: the ``ext`` copy is the stale one;
* ``eids``: the 2.6 list, plus the ``ext`` entries of sources it does not have;
* ``schain``: the 2.6 chain (as ``openrtb.schain`` always did);
* ``rwdd``: the 2.6 field when it was sent.

A value of the wrong type in ``ext`` (``"gdpr": true``, a malformed eid) is dropped, not
moved: ``ext`` is unvalidated, and a bad 2.5 value must not make a valid request a 400. The
one exception is ``gdpr`` as the string ``"1"`` or ``"0"``, read as the number: many SSPs
send it so, and dropping ``"1"`` would pass personal data where GDPR applies.
A request with nothing to move is returned as it is, without a copy (the hot path: a few
attribute reads).
"""

from typing import Any

from pydantic import ValidationError

from openrtb.audience import EID, User
from openrtb.imp import Imp
from openrtb.request import BidRequest, Regs, Source, SupplyChain

__all__ = ["upgrade_request", "upgrade_source"]

_REGS_KEYS = ("gdpr", "us_privacy", "gpp", "gpp_sid")


def upgrade_request(request: BidRequest) -> BidRequest:
    """``request`` with its 2.5 extensions moved into 2.6 fields (see the module)."""
    update: dict[str, object] = {}
    regs = request.regs
    if regs is not None and regs.ext and any(key in regs.ext for key in _REGS_KEYS):
        update["regs"] = _regs(regs, regs.ext)
    user = request.user
    if user is not None and user.ext and ("consent" in user.ext or "eids" in user.ext):
        update["user"] = _user(user, user.ext)
    source = request.source
    if source is not None and source.ext and "schain" in source.ext:
        update["source"] = upgrade_source(source)
    if any(imp.ext and "prebid" in imp.ext for imp in request.imp):
        update["imp"] = [_imp(imp) for imp in request.imp]
    return request.model_copy(update=update) if update else request


def _without(ext: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any] | None:
    return {key: value for key, value in ext.items() if key not in keys} or None


def _regs(regs: Regs, ext: dict[str, Any]) -> Regs:
    update: dict[str, object] = {"ext": _without(ext, _REGS_KEYS)}
    gdpr = _gdpr_flag(ext.get("gdpr"))
    if gdpr is not None and regs.gdpr != 1:
        update["gdpr"] = gdpr if regs.gdpr is None else max(regs.gdpr, gdpr)
    us_privacy = ext.get("us_privacy")
    if isinstance(us_privacy, str) and (
        regs.us_privacy is None or (_opts_out(us_privacy) and not _opts_out(regs.us_privacy))
    ):
        update["us_privacy"] = us_privacy
    gpp, gpp_sid = ext.get("gpp"), ext.get("gpp_sid")
    if regs.gpp is None and isinstance(gpp, str):
        update["gpp"] = gpp
        if isinstance(gpp_sid, list) and all(type(sid) is int for sid in gpp_sid):
            update["gpp_sid"] = gpp_sid
    return regs.model_copy(update=update)


def _gdpr_flag(value: object) -> int | None:
    """0 or 1 from ``regs.ext.gdpr``; the strings "0" and "1" too — a sender bug, but
    reading ``"1"`` as unknown would pass personal data where GDPR applies."""
    if type(value) is int and value in (0, 1):
        return value
    if value in ("0", "1"):
        return int(str(value))
    return None


def _opts_out(us_privacy: str) -> bool:
    return len(us_privacy) >= 3 and us_privacy[2] in "Yy"


def _user(user: User, ext: dict[str, Any]) -> User:
    update: dict[str, object] = {"ext": _without(ext, ("consent", "eids"))}
    consent = ext.get("consent")
    if user.consent is None and isinstance(consent, str):
        update["consent"] = consent
    eids = _eids(ext.get("eids"))
    if eids:
        have = {eid.source for eid in user.eids or ()}
        extra = [eid for eid in eids if eid.source not in have]
        if extra:
            update["eids"] = [*(user.eids or ()), *extra]
    return user.model_copy(update=update)


def _eids(value: object) -> list[EID]:
    if not isinstance(value, list):
        return []
    eids = []
    for item in value:
        try:
            eids.append(EID.model_validate(item))
        except ValidationError:
            continue  # one malformed 2.5 entry costs only itself
    return eids


def upgrade_source(source: Source) -> Source:
    """``source`` with a 2.5 ``ext.schain`` moved into ``schain`` (the 2.6 one wins; a
    malformed 2.5 chain vouches for nothing and is dropped)."""
    ext = source.ext
    if not ext or "schain" not in ext:
        return source
    chain = source.schain
    if chain is None:
        try:
            chain = SupplyChain.model_validate(ext["schain"])
        except ValidationError:
            chain = None
    return source.model_copy(update={"schain": chain, "ext": _without(ext, ("schain",))})


def _imp(imp: Imp) -> Imp:
    prebid = (imp.ext or {}).get("prebid")
    if not isinstance(prebid, dict) or "is_rewarded_inventory" not in prebid:
        return imp
    rewarded = prebid["is_rewarded_inventory"]
    rest = {key: value for key, value in prebid.items() if key != "is_rewarded_inventory"}
    ext = {key: value for key, value in (imp.ext or {}).items() if key != "prebid"}
    if rest:
        ext["prebid"] = rest
    update: dict[str, object] = {"ext": ext or None}
    if "rwdd" not in imp.model_fields_set and rewarded in (0, 1) and type(rewarded) is int:
        update["rwdd"] = rewarded
    return imp.model_copy(update=update)
