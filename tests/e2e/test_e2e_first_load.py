"""End to end: the very first load of a freshly started server.

What a person sees while the app starts: the app's own navigation (Home, Data, Wizard, ...) and never
Streamlit's plain list of page files (app, compare, data, ...), whether they open the root address or
a page's own address (a bookmark, a tab left open across a restart). Nothing is fetched from any host
but the server itself: the tool promises to stay on localhost.
"""
from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from e2e_helpers import StreamlitServer, record_outside_requests, report_failure

pytestmark = [pytest.mark.e2e]

LOAD_S = 60
# Streamlit's own list, built from the file names under pages/ and the entry script.
RAW_PAGE_LINKS = {"app", "home", "data", "wizard", "train", "compare", "predict", "study"}
APP_PAGE_LINKS = {"Home", "Data", "Wizard", "Train", "Compare", "Predict", "Study"}


def icon_addresses(page) -> list[str]:
    """Every favicon / page icon the document links to, as the absolute address the browser fetches."""
    return page.evaluate("Array.from(document.querySelectorAll('link[rel*=\"icon\"]'), link => link.href)")


def sidebar_links(page) -> list[str]:
    try:
        texts = page.get_by_test_id("stSidebarNavLink").all_inner_texts()
    except Exception:  # the page is navigating: nothing to read this instant
        return []
    # A link's text is its icon's name, then its label: keep the label.
    return [lines[-1] for lines in (t.strip().splitlines() for t in texts) if lines]


@pytest.mark.parametrize("address", ["/", "/train"])
def test_first_load_shows_only_the_apps_navigation_and_stays_on_localhost(browser, tmp_path, address):
    from playwright.sync_api import expect
    expect.set_options(timeout=LOAD_S * 1000)

    torch_home = tmp_path / "torch_home"
    torch_home.mkdir()
    server = StreamlitServer(home=tmp_path / "workspace", torch_home=torch_home, log_path=tmp_path / "server.log")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside = record_outside_requests(page, server.url)
    try:
        server.start()
        with report_failure(server, lambda: page):
            page.goto(server.url + address, wait_until="commit")
            seen: set[str] = set()
            deadline = time.monotonic() + LOAD_S
            # Sample the sidebar as it fills in, until the app's navigation is complete.
            while time.monotonic() < deadline:
                links = sidebar_links(page)
                seen.update(links)
                if APP_PAGE_LINKS <= set(links):
                    break
                time.sleep(0.05)
            assert APP_PAGE_LINKS <= seen, f"the app's navigation never appeared; sidebar links seen: {sorted(seen)}"
            assert not seen & RAW_PAGE_LINKS, f"Streamlit's plain page list showed: {sorted(seen & RAW_PAGE_LINKS)}"
            heading = "ResNet Pilot" if address == "/" else "Train"
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            page.wait_for_timeout(1500)  # late requests: fonts, icons
            assert not outside, f"requests left localhost: {outside}"
            # A browser may fetch the favicon outside the page, unseen by the request log: read its address too.
            icons = icon_addresses(page)
            server_host = urlparse(server.url).netloc
            assert icons, "the page links to no icon"
            assert all(urlparse(href).netloc == server_host for href in icons), f"icons from elsewhere: {icons}"
    finally:
        context.close()
        server.stop()
