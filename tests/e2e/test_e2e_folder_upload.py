"""End to end: a folder of thousands of images uploaded through the Data page in Chromium.

Every chosen file must arrive and be imported; when the network loses part of the upload, the page
names the missing files and offers only a knowing import of the rest, never a silent partial one.
"""
from __future__ import annotations

import os
import re
import zipfile

import pytest
from e2e_helpers import keyed, new_page, report_failure, running_server, wait_until_idle

from resnet_core.data.registry import dataset_origin, dataset_report, get_dataset
from resnet_core.data.synthetic import make_image_folder
from resnet_core.workspace import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLASSES = 3
PER_CLASS = 1000  # 3,000 files: past the ~1,000 where Streamlit's own uploader starts losing files
LOAD_S = 60
UPLOAD_S = 300


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("upload") / "shapes", num_classes=CLASSES,
                             per_class=PER_CLASS, size=32, seed=5)


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path) as srv:
        yield srv


def choose_folder(page, server, folder) -> None:
    from playwright.sync_api import expect
    page.goto(f"{server.url}/data")
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    wait_until_idle(page)
    uploader = page.frame_locator(".st-key-data_upload_folder iframe")
    expect(uploader.locator("input[type=file]")).to_have_attribute("webkitdirectory", "")
    uploader.locator("input[type=file]").set_input_files(str(folder))


def assert_no_empty_space_below(page, last_control) -> None:
    """The page ends soon after its last control: uploading hundreds of files once left about
    3,000 px of blank page below the uploader (it grew with the file list)."""
    wait_until_idle(page)
    frame_height = page.locator(".st-key-data_upload_folder iframe").bounding_box()["height"]
    page_height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    scrolled = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTop")
    control_bottom = last_control.bounding_box()
    below = page_height - (scrolled + control_bottom["y"] + control_bottom["height"])
    print(f"uploader {frame_height:.0f} px high; page {page_height} px; {below:.0f} px below the import button")
    assert frame_height < 400, frame_height
    assert below < 1_200, below


def test_every_file_of_a_3000_image_folder_is_imported(server, browser, folder):
    from playwright.sync_api import expect
    total = CLASSES * PER_CLASS
    page = new_page(browser, LOAD_S)
    with report_failure(server, lambda: page):
        choose_folder(page, server, folder)
        uploader = page.frame_locator(".st-key-data_upload_folder iframe")
        expect(uploader.get_by_text(re.compile(rf"^All {total:,} files .* sent in"))).to_be_visible(
            timeout=UPLOAD_S * 1000)
        expect(page.get_by_text(f"{total:,} of {total:,} files")).to_be_visible()
        import_button = keyed(page, "data_upload_dir_import").get_by_role("button")
        expect(import_button).to_be_enabled()
        assert_no_empty_space_below(page, import_button)
        import_button.click()
        expect(page.get_by_text(f"Imported {total:,} files as 'shapes' (all {total:,} chosen).")).to_be_visible(
            timeout=UPLOAD_S * 1000)

    info = get_dataset("shapes", Workspace.at(server.home))
    assert dataset_report(info).num_images == total == sum(1 for _ in folder.rglob("*.png"))
    origin = dataset_origin(info)
    assert origin["chosen_files"] == origin["received_files"] == total and origin["missing_files"] == 0


def test_files_lost_on_the_way_are_named_and_never_imported_silently(server, browser, folder):
    """Every try of the batch that holds one file is dropped between the browser and the server."""
    from playwright.sync_api import expect
    lost_file = f"shapes/class_1/class_1_{PER_CLASS // 2:04d}.png"
    dropped: list[int] = []

    def route(ws) -> None:
        to_server = ws.connect_to_server()

        def from_page(message) -> None:
            if isinstance(message, bytes) and lost_file.encode() in message and b"RPB1" in message:
                dropped.append(len(message))  # a batch frame with that file: lose it
                return
            to_server.send(message)

        ws.on_message(from_page)
        to_server.on_message(ws.send)

    page = new_page(browser, LOAD_S)
    page.route_web_socket(re.compile(r".*/_stcore/stream"), route)
    with report_failure(server, lambda: page):
        choose_folder(page, server, folder)
        uploader = page.frame_locator(".st-key-data_upload_folder iframe")
        expect(uploader.get_by_text(re.compile(r"files could not be sent: "))).to_be_visible(
            timeout=UPLOAD_S * 1000)
        expect(page.get_by_text(re.compile(r"of the 3,000 chosen files did not arrive: "))).to_be_visible()
        assert len(dropped) == 3  # the batch was sent three times, and lost each time
        message = page.get_by_text(re.compile(r"did not arrive: ")).inner_text()
        missing = int(re.search(r"([\d,]+) of the 3,000 chosen files did not arrive", message)[1].replace(",", ""))
        assert 0 < missing < 3000
        # The missing files are named, in full in the expander.
        page.get_by_text(f"Missing files ({missing:,})").click()
        missing_box = page.get_by_test_id("stExpander").filter(has_text="Missing files")
        expect(missing_box.get_by_test_id("stDataFrame")).to_be_visible()
        # No plain import: only the knowing one that states what is left out.
        expect(keyed(page, "data_upload_dir_import")).to_have_count(0)
        partial = keyed(page, "data_upload_dir_import_partial").get_by_role("button")
        expect(partial).to_have_text(f"Import the {3000 - missing:,} that arrived ({missing:,} missing)")
        partial.click()
        expect(page.get_by_text(f"({missing:,} of the 3,000 chosen were missing)")).to_be_visible()

    info = get_dataset("shapes", Workspace.at(server.home))
    origin = dataset_origin(info)
    assert (origin["chosen_files"], origin["received_files"], origin["missing_files"]) == (3000, 3000 - missing,
                                                                                          missing)
    # The first names are kept with the counts (all of them would bloat the metadata read on every page).
    chosen = {f"shapes/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*.png")}
    assert len(origin["missing_names"]) == min(missing, 100) and set(origin["missing_names"]) <= chosen
    assert dataset_report(info).num_images == 3000 - missing


def test_a_zip_over_the_upload_limit_is_refused_before_it_is_sent(browser, tmp_path, monkeypatch):
    from playwright.sync_api import expect
    monkeypatch.setenv("STREAMLIT_SERVER_MAX_UPLOAD_SIZE", "1")  # MB, so a 2 MB zip is too large
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("big/noise/noise.bin", os.urandom(2_000_000))
    with running_server(tmp_path) as server:
        page = new_page(browser, LOAD_S)
        uploads: list[str] = []
        page.on("request", lambda request: uploads.append(request.url) if "upload_file" in request.url else None)
        with report_failure(server, lambda: page):
            page.goto(f"{server.url}/data")
            page.get_by_role("tab", name="Upload a .zip").click()
            expect(page.get_by_text("A .zip of the dataset folder, up to 1 MB (a larger file is refused before "
                                    "it is sent).")).to_be_visible()
            keyed(page, "data_upload_zip").locator("input[type=file]").set_input_files(str(archive))
            expect(keyed(page, "data_upload_zip").get_by_text(re.compile(r"File must be 1(\.0)? ?MB or smaller"))
                   ).to_be_visible()
            wait_until_idle(page)
            expect(keyed(page, "data_zip_import").get_by_role("button")).to_be_disabled()
            assert uploads == []  # nothing was sent
