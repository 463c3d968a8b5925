"""End to end: two runs within noise of each other are both marked tied for first on Compare.

Two tiny runs (fine-tuned and frozen backbone, one epoch at 32 px) are trained before the server
starts; their test split is so small that no difference between them can be more than chance, so
the ranked table must mark both, and the browser must show the mark beside their ranks.
"""
from __future__ import annotations

import pytest
from e2e_helpers import Shots, new_page, report_failure, running_server

from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.ranking import comparison_table
from resnet_core.results.trust import TIE_TEXT
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore
from resnet_core.workspace import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOAD_S = 60  # a page's first script run (imports torch, scans) on two busy cores
# McNemar's exact test cannot reach p < 0.05 on fewer than 6 images: 2 × (1/2)^5 = 0.0625.
MOST_TEST_IMAGES_FOR_A_SURE_TIE = 5


@pytest.fixture
def two_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    (tmp_path / "torch_home").mkdir()
    folder = make_image_folder(tmp_path / "shapes", num_classes=2, per_class=10, size=32, seed=4)
    workspace = Workspace.at(tmp_path / "workspace")
    register_folder(folder, workspace, name="shapes")
    store = RunStore(workspace)
    try:
        ids = []
        for fine_tune in (True, False):
            config = TrainConfig(dataset="shapes", weights="none", fine_tune=fine_tune, augmentation="none",
                                 epochs=1, batch_size=8, learning_rate=1e-3, image_size=32)
            run_id = create_run(config, workspace, store)
            assert execute_run(run_id, config, workspace, store) == "completed"
            ids.append(run_id)
        assert store.get_run(ids[0]).num_test <= MOST_TEST_IMAGES_FOR_A_SURE_TIE
        table = comparison_table(store.list_runs(), workspace)
        assert table["Tied For First"].tolist() == [True, True]  # what the page must show
    finally:
        store.close()
    return workspace, ids


def test_runs_within_noise_show_the_tie_mark_on_compare(browser, tmp_path, two_runs):
    from playwright.sync_api import expect
    workspace, ids = two_runs
    with running_server(tmp_path, home=workspace.root) as server:
        page = new_page(browser, LOAD_S, viewport={"width": 2200, "height": 1000})  # every column on screen
        with report_failure(server, lambda: page):
            page.goto(f"{server.url}/compare")
            expect(page.get_by_role("heading", name="Compare", exact=True)).to_be_visible()
            expect(page.get_by_test_id("stMetric").filter(has_text="Scored runs")
                   .get_by_test_id("stMetricValue")).to_have_text("2")
            # st.dataframe draws on a canvas; a hidden accessible grid mirrors the cells it shows.
            table = page.get_by_test_id("stDataFrame").first  # the ranked table comes first
            expect(table.locator("tr[role=row]")).to_have_count(3)  # the header and both runs
            headers = [h.strip() for h in table.locator("th[role=columnheader]").all_inner_texts()]
            assert "Tie" in headers and headers.index("Tie") == headers.index("Rank") + 1, headers
            for row in table.locator("tr[role=row]").all()[1:]:
                cells = [c.strip() for c in row.locator("td[role=gridcell]").all_inner_texts()]
                assert cells[headers.index("Tie")] == TIE_TEXT, cells
                assert int(cells[0].lstrip("#")) in ids
            Shots().take(page, "compare-tie")
