"""``/docs`` and ``/redoc`` render in a real headless Chromium with nothing from outside:
the pages, scripts, styles and the document all come from the exchange itself. Skipped
only where no Chromium is installed (Debian: ``apt-get install chromium``)."""

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Route, sync_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The system's Chromium (never a browser download of playwright's own)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def _render(browser: Browser, base_url: str, path: str, selector: str) -> tuple[str, list[str]]:
    """The page's text once ``selector`` is shown, and every URL the page sent to the
    network for another host (each stopped there: the test never reaches outside)."""
    context = browser.new_context()
    outside: list[str] = []
    own = urlsplit(base_url).netloc

    def route(intercepted: Route) -> None:
        url = intercepted.request.url
        if urlsplit(url.removeprefix("blob:")).netloc == own:
            intercepted.continue_()
        else:
            outside.append(url)
            intercepted.abort()

    context.route("**/*", route)
    try:
        page = context.new_page()
        page.goto(f"{base_url}{path}", wait_until="networkidle")
        page.wait_for_selector(selector, timeout=15_000)
        return page.inner_text("body"), outside
    finally:
        context.close()


def test_swagger_ui_renders_every_operation_from_local_assets(
    browser: Browser, docs_server: str
) -> None:
    text, outside = _render(browser, docs_server, "/docs", ".opblock-summary-path")
    for path in ["/openrtb2/auction", "/notices/win", "/track/conversion", "/metrics"]:
        assert path in text
    assert "Run an auction for an OpenRTB 2.6 bid request" in text
    assert not outside


def test_redoc_renders_the_auction_from_local_assets(browser: Browser, docs_server: str) -> None:
    text, outside = _render(browser, docs_server, "/redoc", "[data-section-id]")
    assert "Run an auction for an OpenRTB 2.6 bid request" in text
    assert "/openrtb2/auction" in text
    assert not outside
