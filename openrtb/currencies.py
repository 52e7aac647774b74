"""ISO 4217 alphabetic currency codes, for checking ``cur`` and ``bidfloorcur``.

A snapshot of ISO 4217 List One (current currencies and funds, including the X-codes for
precious metals, SDR, testing and "no currency") as published in 2025. Codes in a
published changeover are kept on both sides while the old one is still legal tender
(ANG alongside XCG from 2025-03-31, BGN until Bulgaria's euro changeover completes, SLL
alongside SLE); codes already withdrawn (HRK, ZWL, …) are not listed. A request in a
currency missing here is refused with a 400, so when ISO publishes an amendment, add it.
"""

from typing import Final

__all__ = ["ISO_4217_CODES", "is_iso4217"]

_LIST_ONE = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA
    XXX YER ZAR ZMW ZWG
"""
ISO_4217_CODES: Final = frozenset(_LIST_ONE.split())


def is_iso4217(code: str) -> bool:
    """Whether ``code`` is a current ISO 4217 alphabetic code (exact, upper case)."""
    return code in ISO_4217_CODES
