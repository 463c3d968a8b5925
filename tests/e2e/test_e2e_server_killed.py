"""End to end: the Streamlit server is killed (SIGKILL) while a run it started is training.

The next server start must mark the run interrupted, keep the epochs and best checkpoint it had,
and offer Resume on the Train page (opened by its own address, as a tab left open would be);
Resume must finish the run from where it stopped, in the browser, with the store consistent.
"""
from __future__ import annotations

import os
import re
import signal
import time

import pytest
from e2e_helpers import (
    StreamlitServer,
    keyed,
    report_failure,
    set_number,
    wait_until_idle,
)

from resnet_core.data.importing import import_dataset
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.store import NOTE_OWNER_GONE, RunStore
from resnet_core.workspace import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EPOCHS = 8  # long enough that the kill lands mid-run, well before the last epoch
LOAD_S = 60
TRAIN_S = 240


def open_train_page(page, url: str) -> None:
    """Home first (a cold server's first page), then Train from the sidebar, as a person would."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("heading", name="ResNet Pilot")).to_be_visible()
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Train").click()
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    wait_until_idle(page)


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_server_killed_mid_training_then_resume_in_the_browser(browser, tmp_path):
    from playwright.sync_api import expect
    expect.set_options(timeout=LOAD_S * 1000)

    home, torch_home = tmp_path / "workspace", tmp_path / "torch_home"
    torch_home.mkdir()
    workspace = Workspace.at(home)
    folder = make_image_folder(tmp_path / "src" / "shapes", num_classes=2, per_class=16, size=32, seed=5)
    import_dataset(folder, "shapes", workspace)

    first = StreamlitServer(home=home, torch_home=torch_home, log_path=tmp_path / "first.log")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(LOAD_S * 1000)
    page = context.new_page()
    try:
        first.start()
        with report_failure(first, lambda: page):
            open_train_page(page, first.url)
            expect(keyed(page, "train_dataset").get_by_role("combobox")).to_have_value("shapes")
            set_number(page, "train_image_size", 32)
            set_number(page, "train_epochs", EPOCHS)
            set_number(page, "train_batch_size", 4)
            keyed(page, "train_start").get_by_role("button").click()
            expect(page.get_by_role("heading", name=re.compile(r"Run #\d+"))).to_be_visible()

            # Kill the server as soon as the run has stored its first epoch.
            watcher = RunStore(workspace)
            run_id = wait_for(lambda: next((r.id for r in watcher.list_runs() if watcher.epochs(r.id)), None),
                              TRAIN_S, "the first stored epoch")
            os.killpg(first.process.pid, signal.SIGKILL)
            first.process.wait(timeout=30)
            watcher.close()
    finally:
        first.stop()

    store = RunStore(workspace)
    assert store.get_run(run_id).status == "running"  # what the killed server left behind
    kept = store.epochs(run_id)
    assert 1 <= len(kept) < EPOCHS
    assert (workspace.run_dir(run_id) / "best.pt").is_file()
    store.close()

    second = StreamlitServer(home=home, torch_home=torch_home, log_path=tmp_path / "second.log")
    try:
        second.start()
        with report_failure(second, lambda: page):
            # The tab the user had open (or a bookmark of Train), on the freshly started server: the
            # page must come with the app's navigation, not Streamlit's bare list of pages/ files.
            page.goto(f"{second.url}/train")
            expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
            nav = page.get_by_test_id("stSidebarNavLink")
            expect(nav.filter(has_text="Compare")).to_be_visible()
            expect(nav.filter(has_text=re.compile(r"^\s*(app|train)\s*$"))).to_have_count(0)
            expect(page.get_by_role("heading", name="Interrupted runs")).to_be_visible()
            saved = f"{len(kept)} epoch{'s' if len(kept) != 1 else ''} saved"
            expect(page.get_by_text(re.compile(rf"#{run_id} · .*{saved}"))).to_be_visible()
            resume = keyed(page, f"train_resume_{run_id}").get_by_role("button")
            expect(resume).to_be_enabled()
            resume.click()
            expect(page.get_by_role("heading", name=re.compile(rf"Run #{run_id}\b"))).to_be_visible()
            expect(page.get_by_text(re.compile(r"^Finished — "))).to_be_visible(timeout=TRAIN_S * 1000)
            expect(page.get_by_role("heading", name="Interrupted runs")).to_have_count(0)
    finally:
        second.stop()

    store = RunStore(workspace)
    record = store.get_run(run_id)
    assert record.status == "completed" and record.test_acc is not None
    assert NOTE_OWNER_GONE in record.notes  # the run says what happened to it
    after = store.epochs(run_id)
    assert after[:len(kept)] == kept  # the epochs from before the kill, as they were
    assert [e["epoch"] for e in after] == list(range(1, len(after) + 1)) and len(after) > len(kept)
    assert store.integrity_check() == "ok"
    store.close()
