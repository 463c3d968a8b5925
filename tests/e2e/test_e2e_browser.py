"""End to end in a real browser: a new user's whole path through the dashboard.

Starts `streamlit run app.py` on a free port with a private workspace, drives Debian's Chromium with
Playwright, and does what a person does: open Home, upload a folder of images through the directory
uploader, follow the Wizard, train while the chart fills in, find the run ranked on Compare, and
predict one image; no request goes to any host but the server. Screenshots of every step land in
test-output/e2e/.
"""
from __future__ import annotations

import csv
import re
import time

import pytest
from e2e_helpers import (
    Shots,
    StreamlitServer,
    chart_points,
    keyed,
    record_outside_requests,
    report_failure,
    set_number,
    wait_for_chart_points,
)

from resnet_core.data.synthetic import class_names, make_image_folder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLASSES = 3
PER_CLASS = 20  # enough steps per epoch that the live chart is seen between epochs
EPOCHS = 3
BATCH = 4
LOAD_S = 60  # a page's first script run (imports torch, scans) on two busy cores
TRAIN_S = 240  # the whole run, preparation included


@pytest.fixture
def server(tmp_path):
    (tmp_path / "torch_home").mkdir()
    srv = StreamlitServer(home=tmp_path / "workspace", torch_home=tmp_path / "torch_home",
                          log_path=tmp_path / "streamlit.log")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def test_new_user_journey(server, browser, tmp_path):
    folder = make_image_folder(tmp_path / "upload" / "shapes", num_classes=CLASSES, per_class=PER_CLASS,
                               size=32, seed=3)
    total = CLASSES * PER_CLASS
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(LOAD_S * 1000)
    outside = record_outside_requests(context, server.url)  # every page and frame of the journey
    page = context.new_page()
    shots = Shots()
    from playwright.sync_api import expect
    expect.set_options(timeout=LOAD_S * 1000)

    with report_failure(server, lambda: page):
        # ----- Home: the path, with the first step offered
        page.goto(server.url)
        expect(page.get_by_role("heading", name="ResNet Pilot")).to_be_visible()
        expect(page.get_by_text("Your path")).to_be_visible()
        shots.take(page, "home")
        keyed(page, "home_continue").get_by_role("button").click()

        # ----- Data: upload the folder through the directory uploader, import it, read the scan
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        expect(page.get_by_text("No datasets yet.")).to_be_visible()
        shots.take(page, "data-empty")
        uploader = page.frame_locator(".st-key-data_upload_folder iframe").locator("input[type=file]")
        expect(uploader).to_have_attribute("webkitdirectory", "")
        uploader.set_input_files(str(folder))
        expect(page.get_by_text(re.compile(rf"^{total} of {total} files \(.*\) from the folder 'shapes'"))
               ).to_be_visible()
        import_button = keyed(page, "data_upload_dir_import").get_by_role("button")
        expect(import_button).to_be_enabled()
        expect(keyed(page, "data_upload_dir_name").locator("input")).to_have_attribute("placeholder", "shapes")
        import_button.click()
        expect(page.get_by_text(f"Imported {total} files as 'shapes' (all {total} chosen).")).to_be_visible()
        expect(page.get_by_role("heading", name="shapes")).to_be_visible()
        images_metric = page.get_by_test_id("stMetric").filter(has_text="Images")
        expect(images_metric.get_by_test_id("stMetricValue")).to_have_text(str(total))
        expect(page.get_by_test_id("stMetric").filter(has_text="Classes")
               .get_by_test_id("stMetricValue")).to_have_text(str(CLASSES))
        expect(keyed(page, "data_counts_chart").get_by_test_id("stPlotlyChart")).to_be_visible()
        shots.take(page, "data-imported")
        keyed(page, "data_next").get_by_role("button").click()

        # ----- Wizard: the dataset's numbers filled in, a recommendation card
        expect(page.get_by_role("heading", name="Wizard", exact=True)).to_be_visible()
        expect(page.get_by_text("From the scan of 'shapes'.")).to_be_visible()
        expect(keyed(page, "wizard_images").locator("input")).to_have_value(str(total))
        expect(keyed(page, "wizard_classes").locator("input")).to_have_value(str(CLASSES))
        expect(page.get_by_role("heading", name="Recommendation")).to_be_visible()
        expect(page.get_by_test_id("stMetric").filter(has_text="Model").first).to_be_visible()
        shots.take(page, "wizard")
        keyed(page, "wizard_train").get_by_role("button").click()

        # ----- Train: the wizard's settings, made tiny through the real inputs, then Start
        expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
        expect(page.get_by_text("Settings from the Wizard")).to_be_visible()
        expect(keyed(page, "train_dataset").get_by_role("combobox")).to_have_value("shapes")
        set_number(page, "train_image_size", 32)
        set_number(page, "train_epochs", EPOCHS)
        set_number(page, "train_batch_size", BATCH)
        for key, value in (("train_image_size", 32), ("train_epochs", EPOCHS), ("train_batch_size", BATCH)):
            expect(keyed(page, key).locator("input")).to_have_value(str(value))
        shots.take(page, "train-settings")
        keyed(page, "train_start").get_by_role("button").click()

        # Live: the chart must gain points while the run is still going (Cancel shown, not finished).
        expect(page.get_by_role("heading", name=re.compile(r"Run #\d+"))).to_be_visible()
        run_id = int(re.search(r"Run #(\d+)", page.get_by_role("heading", name=re.compile(r"Run #\d+"))
                               .first.inner_text()).group(1))
        finished = page.get_by_text(re.compile(r"^Finished — "))
        live_points, live_progress = 0, ""
        deadline = time.monotonic() + TRAIN_S
        while time.monotonic() < deadline:
            if finished.count():
                break
            progress = page.get_by_test_id("stProgress").first
            cancel = keyed(page, "train_cancel")
            points = chart_points(page, "train_curves")
            if points and cancel.count() and not finished.count():
                live_points = points
                live_progress = progress.inner_text() if progress.count() else ""
                shots.take(page, "train-live", idle=False)
                break
            page.wait_for_timeout(100)
        assert live_points >= 1, "the training chart never showed a point while the run was in progress"
        assert re.match(rf"Epoch [1-{EPOCHS}]/{EPOCHS}\b", live_progress), live_progress
        expect(finished).to_be_visible(timeout=TRAIN_S * 1000)
        expect(page.get_by_test_id("stMetric").filter(has_text="Test accuracy")
               .get_by_test_id("stMetricValue")).to_have_text(re.compile(r"\d+(\.\d+)?%"))
        final_points = wait_for_chart_points(page, "train_curves", more_than=live_points)
        assert final_points > live_points, (live_points, final_points, live_progress)
        shots.take(page, "train-finished")

        # ----- Compare: the run ranked first (read from the table's CSV download)
        keyed(page, "train_go_compare").get_by_role("button").click()
        expect(page.get_by_role("heading", name="Compare", exact=True)).to_be_visible()
        expect(page.get_by_test_id("stMetric").filter(has_text="Scored runs")
               .get_by_test_id("stMetricValue")).to_have_text("1")
        # st.dataframe draws on a canvas; a hidden accessible grid mirrors the cells it shows.
        table = page.get_by_test_id("stDataFrame").first
        expect(table.locator("tr[role=row]")).to_have_count(2)  # the header and our run
        expect(table.locator("td[role=gridcell]").first).to_have_text(str(run_id))
        with page.expect_download() as download:
            keyed(page, "compare_csv").get_by_role("button").click()
        with open(download.value.path(), encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [(int(r["run_id"]), int(r["Rank"])) for r in rows] == [(run_id, 1)], rows
        print(f"run #{run_id}: training time {float(rows[0]['Training Time']):.0f} s, "
              f"test accuracy {float(rows[0]['Test Acc']):.0%}")
        shots.take(page, "compare")

        # ----- Predict: one image in, probabilities out
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Predict").click()
        expect(page.get_by_role("heading", name="Predict", exact=True)).to_be_visible()
        expect(keyed(page, "predict_run").get_by_role("combobox")).to_have_value(re.compile(f"#{run_id}\\b"))
        image = sorted((folder / class_names(CLASSES)[1]).iterdir())[0]
        keyed(page, "predict_upload").locator("input[type=file]").set_input_files(str(image))
        prediction = page.get_by_test_id("stMetric").filter(has_text="Prediction")
        expect(prediction.get_by_test_id("stMetricValue")).to_have_text(
            re.compile("|".join(class_names(CLASSES))))
        expect(page.get_by_text(re.compile(r"^\d+(\.\d+)?% sure · top"))).to_be_visible()
        expect(keyed(page, "predict_topk").get_by_test_id("stPlotlyChart")).to_be_visible()
        shots.take(page, "predict")
        assert not outside, f"requests left the server: {outside}"
    context.close()
