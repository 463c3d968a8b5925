"""End to end: adding a folder on the server by typing its path and pressing Enter.

Enter in "Folder path" is what a person does after typing a path; it must add the folder (or say what
is wrong), never fold "Add a dataset" away so that nothing seems to happen.
"""
from __future__ import annotations

import pytest
from e2e_helpers import StreamlitServer, keyed, report_failure, wait_until_idle

from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.workspace import Workspace

pytestmark = [pytest.mark.e2e]

LOAD_S = 60


def test_enter_in_folder_path_adds_the_folder_and_keeps_the_box_open_on_a_mistake(browser, tmp_path):
    from playwright.sync_api import expect
    expect.set_options(timeout=LOAD_S * 1000)

    torch_home = tmp_path / "torch_home"
    torch_home.mkdir()
    workspace = Workspace.at(tmp_path / "workspace")
    # One dataset already there, so "Add a dataset" starts folded, as it did for the user.
    register_folder(make_image_folder(tmp_path / "first", num_classes=2, per_class=10, size=32), workspace)
    second = make_image_folder(tmp_path / "second", num_classes=2, per_class=10, size=32)
    server = StreamlitServer(home=workspace.root, torch_home=torch_home, log_path=tmp_path / "server.log")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(LOAD_S * 1000)
    page = context.new_page()
    try:
        server.start()
        with report_failure(server, lambda: page):
            page.goto(server.url + "/data")
            wait_until_idle(page)
            page.get_by_text("Add a dataset", exact=True).click()
            page.get_by_role("tab", name="Folder on the server").click()
            path = keyed(page, "data_path").locator("input")

            path.fill(str(tmp_path / "no-such-folder"))
            path.press("Enter")
            wait_until_idle(page)
            expect(page.get_by_text("does not exist").first).to_be_visible()  # said, in a box still open
            expect(path).to_be_visible()

            path.fill(str(second))
            path.press("Enter")
            wait_until_idle(page)
            expect(page.get_by_text("Added the folder as 'second'")).to_be_visible()
    finally:
        context.close()
        server.stop()
