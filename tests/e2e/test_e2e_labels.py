"""End to end: on the Data page the user excludes an image the label check suggests is mislabelled.

The check's findings are saved beside the dataset before the server starts (the check itself is
covered by tests/pages/test_data_page_labels.py), so the browser does what a user does with them:
choose the dataset, see the suspect with its given and suggested label, press Exclude, and see the
decision listed and the image count drop, while the folder on disk stays as it was.
"""
from __future__ import annotations

import hashlib
import re

import pytest
from e2e_helpers import Shots, keyed, new_page, report_failure, running_server, wait_until_idle

from resnet_core.data.handle import open_dataset
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.label_check import LabelReport, Suspect
from resnet_core.results.label_job import save_report
from resnet_core.views.label_view import widget_id
from resnet_core.workspace import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOAD_S = 60  # a page's first script run (imports torch, scans) on two busy cores


def folder_state(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_exclude_a_suggested_mislabel_on_the_data_page(browser, tmp_path):
    from playwright.sync_api import expect
    folder = make_image_folder(tmp_path / "shapes", num_classes=2, per_class=10, size=32, seed=4)
    workspace = Workspace.at(tmp_path / "workspace")
    register_folder(folder, workspace, name="shapes")
    handle = open_dataset("shapes", workspace)
    suspect = "class_0/class_0_0003.png"
    save_report(handle, LabelReport(method="ImageNet resnet18 features", folds=5, num_images=20, suspects=[
        Suspect(path=suspect, given="class_0", suggested="class_1", confidence=0.93, margin=0.7)]), 2.0)
    before = folder_state(folder)

    with running_server(tmp_path, home=workspace.root) as server:
        page = new_page(browser, LOAD_S)
        with report_failure(server, lambda: page):
            page.goto(f"{server.url}/data")
            expect(page.get_by_text("Choose a dataset above")).to_be_visible()
            keyed(page, "data_select").get_by_role("combobox").click()
            page.get_by_role("option", name=re.compile(r"^shapes")).click()
            wait_until_idle(page, LOAD_S)
            expect(page.get_by_text("Images that may be mislabelled")).to_be_visible()
            expect(page.get_by_text("looks like class_1 (93%)")).to_be_visible()
            images = page.get_by_test_id("stMetric").filter(has_text="Images").get_by_test_id("stMetricValue")
            expect(images).to_have_text("20")
            keyed(page, f"data_labels_exclude_{widget_id(suspect)}").get_by_role("button").click()
            expect(page.get_by_text(f"Left out {suspect}")).to_be_visible()
            expect(page.get_by_text("left out (its folder says 'class_0')")).to_be_visible()
            expect(images).to_have_text("19")
            expect(keyed(page, f"data_labels_undo_{widget_id(suspect)}")).to_be_visible()
            Shots().take(page, "data-label-excluded")
    assert open_dataset("shapes", workspace).report.excluded == [suspect]
    assert folder_state(folder) == before
