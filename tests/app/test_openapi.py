"""The OpenAPI document states the billing units bidders and SSPs rely on."""

from app.main import create_app
from exchange.settings import Settings


def test_the_auction_description_states_page_billing_units_and_price_limits() -> None:
    settings = Settings()
    spec = create_app(settings).openapi()
    text = spec["paths"]["/openrtb2/auction"]["post"]["description"]
    description = " ".join(text.split())  # Markdown: a line break is a space
    for statement in [
        "value *per unit of slot CTR*",
        "value for one impression of the slot is `bid × slot_ctr`",
        "`bidfloor` is per impression",
        "`${AUCTION_PRICE}` in its markup and notice URLs — is per impression",
        "never above `bid × slot_ctr`",
        "rounded down to the micro",
        "`${AUCTION_MIN_TO_WIN}` is in bid units",
    ]:
        assert statement in description, statement
    # The maximum it names is the setting's default.
    assert f"(`RTB_MAX_BID_CPM`, default {settings.max_bid_cpm:,})" in description
