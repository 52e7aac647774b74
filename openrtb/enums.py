"""Code lists referenced by OpenRTB 2.6 that the exchange itself emits or acts on.

Wire fields keep plain ``int`` (values outside a list must be tolerated); these enums name
the values the code compares against. 2.6 refers to OpenRTB 3.0 for the no-bid and loss
reason lists; the values below were checked against "List: No-Bid Reason Codes" and
"List: Loss Reason Codes" of OpenRTB 3.0 (InteractiveAdvertisingBureau/openrtb). Where
an earlier name here did not match the list's wording it is kept as an alias of the
spec's name, so existing callers still work.
"""

from enum import IntEnum


class AuctionType(IntEnum):
    """BidRequest.at: 1 first price, 2 second price plus; 500+ are exchange-specific."""

    FIRST_PRICE = 1
    SECOND_PRICE_PLUS = 2
    DEAL_PRICE = 3  # the value passed in bidfloor is the agreed deal price (Deal.at only)


class NoBidReason(IntEnum):
    """BidResponse.nbr (OpenRTB 3.0 "List: No-Bid Reason Codes"); 500+ exchange-specific."""

    UNKNOWN_ERROR = 0
    TECHNICAL_ERROR = 1
    INVALID_REQUEST = 2
    KNOWN_WEB_SPIDER = 3  # "Known Web Crawler"
    SUSPECTED_NON_HUMAN_TRAFFIC = 4
    CLOUD_DATACENTER_PROXY_IP = 5
    UNSUPPORTED_DEVICE = 6
    BLOCKED_PUBLISHER_OR_SITE = 7
    UNMATCHED_USER = 8
    DAILY_READER_CAP_MET = 9  # "Daily User Cap Met"
    DAILY_DOMAIN_CAP_MET = 10
    ADS_TXT_AUTHORIZATION_UNAVAILABLE = 11
    ADS_TXT_AUTHORIZATION_VIOLATION = 12
    ADS_CERT_AUTHENTICATION_UNAVAILABLE = 13
    ADS_CERT_AUTHENTICATION_VIOLATION = 14
    INSUFFICIENT_AUCTION_TIME = 15
    INCOMPLETE_SUPPLY_CHAIN = 16
    BLOCKED_SUPPLY_CHAIN_NODE = 17
    # Earlier names, kept as aliases; 13 and 14 are ads.cert in the spec, not sellers.json.
    ADS_TXT_AUTHORIZATION_UNABLE_TO_VERIFY = 11
    ADS_TXT_AUTHORIZATION_FAILED = 12
    SELLERS_JSON_AUTHORIZATION_UNABLE_TO_VERIFY = 13
    SELLERS_JSON_AUTHORIZATION_FAILED = 14


class LossReason(IntEnum):
    """Loss reason codes for ${AUCTION_LOSS} (OpenRTB 3.0 "List: Loss Reason Codes")."""

    BID_WON = 0
    INTERNAL_ERROR = 1
    IMPRESSION_OPPORTUNITY_EXPIRED = 2
    INVALID_BID_RESPONSE = 3
    INVALID_DEAL_ID = 4
    INVALID_AUCTION_ID = 5
    INVALID_ADVERTISER_DOMAIN = 6
    MISSING_MARKUP = 7
    MISSING_CREATIVE_ID = 8
    MISSING_BID_PRICE = 9
    MISSING_MINIMUM_CREATIVE_APPROVAL_DATA = 10
    BELOW_AUCTION_FLOOR = 100
    BELOW_DEAL_FLOOR = 101
    LOST_TO_HIGHER_BID = 102
    LOST_TO_PMP_DEAL = 103
    BUYER_SEAT_BLOCKED = 104
    CREATIVE_FILTERED_GENERAL = 200
    CREATIVE_FILTERED_PENDING = 201
    CREATIVE_FILTERED_DISAPPROVED = 202
    CREATIVE_FILTERED_SIZE_NOT_ALLOWED = 203
    CREATIVE_FILTERED_INCORRECT_FORMAT = 204
    CREATIVE_FILTERED_ADVERTISER_EXCLUSIONS = 205
    CREATIVE_FILTERED_APP_STORE_ID_EXCLUSIONS = 206
    CREATIVE_FILTERED_NOT_SECURE = 207
    CREATIVE_FILTERED_LANGUAGE_EXCLUSIONS = 208
    CREATIVE_FILTERED_CATEGORY_EXCLUSIONS = 209
    CREATIVE_FILTERED_ATTRIBUTE_EXCLUSIONS = 210
    CREATIVE_FILTERED_AD_TYPE_EXCLUSIONS = 211
    CREATIVE_FILTERED_ANIMATION_TOO_LONG = 212
    CREATIVE_FILTERED_NOT_ALLOWED_IN_PMP_DEAL = 213
    CREATIVE_FILTERED_INVALID_SKADNETWORK = 214
    CREATIVE_FILTERED_APP_BUNDLE_LIST_EXCLUSIONS = 215  # "App Bundle Exclusions"
    # Earlier name, kept as an alias: 206 is "App Store ID Exclusions" in the spec.
    CREATIVE_FILTERED_APP_BUNDLE_EXCLUSIONS = 206
