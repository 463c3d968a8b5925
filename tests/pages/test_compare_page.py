"""The Compare page: empty state, the study's ranked table with CSV, one run in detail, deleting runs."""
from __future__ import annotations

import io
import json
import shutil
import statistics
from pathlib import Path

import pandas as pd
import pytest
from page_helpers import APP, TIMEOUT, texts
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest, app_test

from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.ranking import STUDY_COLUMNS
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore
from resnet_core.workspace import Workspace
from ui.shared import DATASET, services


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Trained once per file: two finished runs on a tiny dataset (fine-tuned vs frozen backbone)
    and one failed run, in a workspace each test gets a copy of."""
    base = tmp_path_factory.mktemp("compare")
    make_image_folder(base / "tiny", num_classes=3, per_class=12, size=32)
    ws = Workspace.at(base / "workspace")
    register_folder(base / "tiny", ws, name="tiny")
    store = RunStore(ws)
    ids = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESNET_PILOT_OFFLINE", "1")
        mp.setenv("TORCH_HOME", str(base / "torch_home"))
        for fine_tune in (True, False):
            config = TrainConfig(dataset="tiny", weights="none", fine_tune=fine_tune, augmentation="none",
                                 epochs=1, batch_size=8, learning_rate=1e-3, image_size=32)
            run_id = create_run(config, ws, store)
            assert execute_run(run_id, config, ws, store) == "completed"
            ids.append(run_id)
    failed = store.create_run(TrainConfig(dataset="tiny", model="resnet50"), "unused", 36, 24, 6, 6)
    store.finish_run(failed, "failed", error="weights file broken.pt is damaged")
    store.close()
    return ws.root, ids, failed


@pytest.fixture
def trained(env, template):
    root, ids, failed = template
    shutil.copytree(root, env.root, dirs_exist_ok=True)
    return ids, failed


def open_compare(dataset: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if dataset:
        at.session_state[DATASET] = dataset
    at.run()
    at.switch_page("pages/compare.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_without_runs_it_points_to_train_and_data(env):
    at = open_compare()
    assert "No runs yet" in texts(at.info)
    assert at.button(key="compare_go_data")
    at.button(key="compare_go_train").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Train"]


def test_ranked_table_csv_scatter_and_one_run_in_detail(trained):
    (first, second), failed = trained
    at = open_compare("tiny")
    table = at.dataframe[0].value
    for column in STUDY_COLUMNS:
        assert column in table.columns
    store = services().store
    accs = {r.id: r.test_acc for r in store.list_runs(statuses=["completed"])}
    assert sorted(table["run_id"]) == sorted(accs)
    assert list(table["Rank"]) == [1, 2]
    # Accuracies in percentage points, shown with one decimal for every run (not 100% beside 83.33%).
    assert table.iloc[0]["Test Acc"] == pytest.approx(100 * max(accs.values()))
    formats = {name: config.get("type_config", {}).get("format")
               for name, config in json.loads(at.dataframe[0].proto.columns).items()}
    assert formats["Test Acc"] == formats["Val Acc"] == "%.1f%%"
    assert "Status" not in table.columns  # only shown when a run was not completed
    assert set(table["Model"]) == {"ResNet18 + fine-tuning", "ResNet18"}
    assert at.get("download_button")[0].proto.label == "Download CSV"
    # The cost-performance chart draws both runs.
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    runs_trace = next(t for c in charts for t in c["data"] if t.get("meta") == "runs")
    assert sorted(p[0] for p in runs_trace["customdata"]) == sorted(accs)
    # The failed run is listed apart with its message.
    unranked = at.dataframe[1].value
    assert list(unranked["Run"]) == [failed] and "damaged" in unranked.iloc[0]["What happened"]
    # Rank 1 is selected first; its confusion matrix and per-class scores are shown.
    assert at.selectbox(key="compare_run").value == table.iloc[0]["run_id"]
    per_class = at.dataframe[2].value
    assert list(per_class["Class"]) == ["class_0", "class_1", "class_2"]
    heatmaps = [t for c in charts for t in c["data"] if t["type"] == "heatmap"]
    assert heatmaps and heatmaps[0]["x"] == ["class_0", "class_1", "class_2"]
    assert at.selectbox(key=f"compare_pair_{table.iloc[0]['run_id']}").value == "all"
    # Choosing the other run shows its report instead.
    other = table.iloc[1]["run_id"]
    at.selectbox(key="compare_run").set_value(other).run()
    assert not at.exception
    assert f"#{other}" in at.selectbox(key="compare_run").format_func(other)


def test_download_a_run_as_a_zip(trained):
    (first, _), _ = trained
    at = open_compare("tiny")
    at.selectbox(key="compare_run").set_value(first).run()
    at.button(key="compare_export").click().run()
    assert not at.exception and not at.error
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Download .zip" in labels


def test_delete_asks_first_then_removes_the_run(trained):
    (first, second), failed = trained
    at = open_compare("tiny")
    at.selectbox(key="compare_run").set_value(failed).run()
    at.button(key="compare_delete").click().run()
    assert "cannot be undone" in texts(at.warning)
    at.button(key="compare_delete_cancel").click().run()
    assert services().store.get_run(failed) is not None
    at.button(key="compare_delete").click().run()
    at.button(key="compare_delete_confirm").click().run()
    assert not at.exception
    assert services().store.get_run(failed) is None
    assert not services().workspace.run_dir(failed).exists()
    assert failed not in at.selectbox(key="compare_run").options


def test_delete_is_refused_while_a_run_is_active(trained):
    store = services().store
    running = store.create_run(TrainConfig(dataset="tiny"), "unused", 36, 24, 6, 6)
    store.mark_running(running)
    at = open_compare("tiny")
    at.selectbox(key="compare_run").set_value(running).run()
    at.button(key="compare_delete").click().run()
    at.button(key="compare_delete_confirm").click().run()
    assert not at.exception
    assert "cancel it first" in texts(at.error)
    assert store.get_run(running) is not None


def test_choosing_a_confusion_pair_shows_only_its_images(trained):
    store = services().store
    (first, _), _ = trained
    root = Path(store.get_run(first).dataset_root)
    classes = ["class_0", "class_1", "class_2"]
    wrong = [("class_1", "class_0", "class_1/class_1_0000.png"), ("class_1", "class_0", "class_1/class_1_0001.png"),
             ("class_2", "class_1", "class_2/class_2_0000.png")]
    report = {"classes": classes, "confusion": [[4, 0, 0], [2, 2, 0], [0, 1, 3]],
              "per_class": [{"class": c, "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 4} for c in classes],
              "misclassified": [{"path": p, "true": t, "predicted": pr, "probability": 0.6} for t, pr, p in wrong],
              "test_images": 12}
    run_id = store.create_run(TrainConfig(dataset="tiny"), str(root), 36, 24, 6, 6)
    store.finish_run(run_id, "completed", {"test_acc": 0.75, "val_acc": 0.75, "val_loss": 0.6,
                                           "train_time_s": 1.0, "epoch_ended": 1, "best_epoch": 1,
                                           "final_metrics": report})
    at = open_compare("tiny")
    at.selectbox(key="compare_run").set_value(run_id).run()
    pair = at.selectbox(key=f"compare_pair_{run_id}")
    assert pair.options == ["all (3)", "true class_1 → predicted class_0 (2)",
                            "true class_2 → predicted class_1 (1)"]
    assert len(at.image) == 3
    pair.set_value("class_1\u2192class_0").run()
    assert not at.exception
    captions = [c for image in at.image for c in image.captions]
    assert captions == ["class_1_0000.png: class_1 → class_0 (60%)", "class_1_0001.png: class_1 → class_0 (60%)"]


def test_runs_on_different_training_set_sizes_get_a_table_each(trained):
    store = services().store
    small = store.create_run(TrainConfig(dataset="tiny", max_train_images=12), "unused", 36, 12, 6, 6)
    store.finish_run(small, "completed", {"test_acc": 0.5, "val_acc": 0.5, "val_loss": 1.0,
                                          "train_time_s": 1.0, "epoch_ended": 1, "best_epoch": 1})
    at = open_compare("tiny")
    headings = [m.value for m in at.markdown if "training images" in m.value]
    assert headings == ["**12 training images**", "**24 training images**"]
    small_table, large_table = at.dataframe[0].value, at.dataframe[1].value
    assert list(small_table["run_id"]) == [small] and list(small_table["Rank"]) == [1]
    assert len(large_table) == 2 and list(large_table["Rank"]) == [1, 2]


def test_a_cancelled_run_that_ranks_says_so(trained):
    store = services().store
    cancelled = store.create_run(TrainConfig(dataset="tiny"), "unused", 36, 24, 6, 6)
    store.finish_run(cancelled, "cancelled", {"test_acc": 1.0, "val_acc": 1.0, "val_loss": 0.1,
                                              "train_time_s": 1.0, "epoch_ended": 1, "best_epoch": 1})
    at = open_compare("tiny")
    table = at.dataframe[0].value
    assert table.iloc[0]["run_id"] == cancelled and table.iloc[0]["Rank"] == 1
    # Beside the run, then its name; the study columns intact.
    assert list(table.columns[:4]) == ["run_id", "Status", "Name", "Model"]
    assert table.iloc[0]["Status"] == "cancelled" and set(table["Status"][1:]) == {"completed"}
    best = next(m for m in at.metric if m.label == "Best test accuracy")
    assert "cancelled" in best.help


def test_best_test_accuracy_is_the_best_over_every_size(tiny):
    """After a study the first size group is the smallest: its winner is not the dataset's best."""
    store = services().store
    finals = {"val_acc": 0.3, "val_loss": 1.0, "train_time_s": 1.0, "epoch_ended": 1, "best_epoch": 1}
    small = store.create_run(TrainConfig(dataset="tiny", max_train_images=12), "unused", 36, 12, 6, 6)
    store.finish_run(small, "completed", {**finals, "test_acc": 0.267})
    large = store.create_run(TrainConfig(dataset="tiny", model="resnet50"), "unused", 36, 24, 6, 6)
    store.finish_run(large, "completed", {**finals, "test_acc": 0.422})
    at = open_compare("tiny")
    best = next(m for m in at.metric if m.label == "Best test accuracy")
    assert best.value == "42.2%"
    assert f"Run #{large}" in best.help and "ResNet50" in best.help


def test_the_table_shows_intervals_and_marks_a_run_within_noise_of_rank_1(trained, env, served_files,
                                                                          store_test_predictions):
    at = open_compare("tiny")
    table = at.dataframe[0].value
    leader, other = table.iloc[0]["run_id"], table.iloc[1]["run_id"]
    store_test_predictions(env, leader, 170)
    store_test_predictions(env, other, 169)  # one image behind: within noise
    at = open_compare("tiny")
    table = at.dataframe[0].value
    assert list(table.columns).index("Tie") == list(table.columns).index("Rank") + 1  # beside the rank
    assert list(table["Rank"]) == [1, 2] and list(table["Tie"]) == ["tied for 1st"] * 2
    # Every score's interval on screen, around the run's own score on the stored images: two balanced
    # classes, so accuracy, balanced accuracy and macro-F1 are all 85% for the leader, about 84.5% for the other.
    rows = table.set_index("run_id")
    for shown in ("Test Acc 95% CI", "Balanced Acc 95% CI", "Macro F1 95% CI"):
        for run_id, score in ((leader, 85.0), (other, 84.5)):
            low, high = (float(end) for end in rows.loc[run_id, shown].removesuffix("%").split("–"))
            assert low < score < high and high - low < 15, (shown, run_id, rows.loc[run_id, shown])
    # The downloaded CSV holds the interval ends, the tie mark and the p-value as numbers.
    (button,) = at.get("download_button")
    csv = pd.read_csv(io.BytesIO(served_files(button.proto.url))).set_index("run_id")
    for column in ("Test Acc Low", "Test Acc High", "Balanced Acc Low", "Balanced Acc High",
                   "Macro F1 Low", "Macro F1 High", "Tied For First", "P Vs Rank 1"):
        assert column in csv.columns
    assert list(csv.loc[[leader, other], "Tied For First"]) == [True, True]
    assert csv.loc[leader, "Test Acc Low"] < 0.85 < csv.loc[leader, "Test Acc High"]
    assert csv.loc[other, "P Vs Rank 1"] == pytest.approx(1.0)
    assert "Test accuracy: 85.0% (95% interval" in texts(at.markdown)
    store_test_predictions(env, other, 140)  # fifteen points behind: a real difference
    at = open_compare("tiny")
    assert list(at.dataframe[0].value["Tie"]) == ["", ""]


def test_the_calibration_tab_shows_ece_before_and_after_and_the_reliability_diagram(trained, env,
                                                                                    store_test_predictions):
    (calibrated, uncalibrated), _ = trained
    # 170 of 200 test images right at 95% confidence: over-confident; a temperature of 1.8 brings the
    # confidence to 84%, near the 85% accuracy (ECE 10.3% before, 0.9% after).
    store_test_predictions(env, calibrated, 170, temperature=1.8)
    store_test_predictions(env, uncalibrated, 170)
    at = open_compare("tiny")
    at.selectbox(key="compare_run").set_value(calibrated).run()
    assert not at.exception
    text = texts(at.markdown)
    assert ("Temperature 1.80, fitted on the validation split, softened (the model was over-confident) the "
            "probabilities: expected calibration error 10.3% before, 0.9% after, on the 200 test images. "
            "Accuracy is unchanged (85.0%)") in text
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    reliability = next(c for c in charts if c["layout"].get("title", {}).get("text") == "Reliability on the test split")
    assert {t["meta"] for t in reliability["data"]} == {"diagonal", "before", "after"}
    after = next(t for t in reliability["data"] if t["meta"] == "after")
    assert sum(after["customdata"]) == 200 and after["x"] == [pytest.approx(0.8411, abs=1e-4)]
    # A run without a fitted temperature says its probabilities are the model's own.
    at.selectbox(key="compare_run").set_value(uncalibrated).run()
    text = texts(at.markdown)
    assert "Expected calibration error 10.3% on the 200 test images; this run has no fitted temperature" in text
    assert "Temperature 1.80" not in text


def test_runs_whose_split_leaked_are_marked(trained):
    (first, second), _ = trained
    store = services().store
    record = store.get_run(first)
    store.finish_run(first, "completed", {"final_metrics": {**record.final_metrics,
                                                            "split_leaks": {"val": 0, "test": 2}}})
    at = open_compare("tiny")
    table = at.dataframe[0].value.set_index("run_id")
    assert table.loc[first, "Split Leaks"] == 2 and table.loc[second, "Split Leaks"] == 0
    assert "their test accuracy is optimistic" in texts(at.warning)


def test_a_toggle_ranks_by_balanced_accuracy(env):
    store = services().store
    ids = []
    # 100 test images of one class, 10 of another: the first run never finds the small class.
    for confusion, seconds in (([[100, 0], [10, 0]], 60.0), ([[88, 12], [2, 8]], 90.0)):
        run_id = store.create_run(TrainConfig(dataset="skewed"), "unused", 500, 300, 110, 110)
        acc = (confusion[0][0] + confusion[1][1]) / 110
        store.finish_run(run_id, "completed", {"test_acc": acc, "val_acc": acc, "val_loss": 0.4,
                                               "train_time_s": seconds, "epoch_ended": 3,
                                               "final_metrics": {"confusion": confusion}})
        ids.append(run_id)
    at = open_compare("skewed")
    table = at.dataframe[0].value
    assert list(table["run_id"]) == ids  # by test accuracy, as the study ranks
    assert list(table.columns).index("Balanced Acc") == list(table.columns).index("Test Acc") + 1
    assert table["Balanced Acc"].tolist() == pytest.approx([50.0, 84.0])  # percentage points
    at.toggle(key="compare_rank_balanced").set_value(True).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["run_id"]) == ids[::-1] and list(table["Rank"]) == [1, 2]
    assert "Best balanced accuracy" in [m.label for m in at.metric]


def test_repeats_show_as_one_row_with_mean_sd_and_count(env):
    store = services().store
    finals = {"val_loss": 0.4, "val_acc": 0.8, "epoch_ended": 3}
    base = TrainConfig(dataset="seeds")
    first = store.create_run(base, "unused", 300, 100, 100, 100)
    repeats = [store.create_run(base.replace(seed=s), "unused", 300, 100, 100, 100, repeat_of=first)
               for s in (1, 2)]
    other = store.create_run(base.replace(model="resnet50"), "unused", 300, 100, 100, 100)
    for run_id, acc, seconds in zip([first, *repeats, other], (0.90, 0.70, 0.74, 0.80), (50.0, 60.0, 70.0, 90.0)):
        store.finish_run(run_id, "completed", {**finals, "test_acc": acc, "train_time_s": seconds})
    at = open_compare("seeds")
    table = at.dataframe[0].value
    # The configuration's mean (78%) ranks below the steady 80% run, though its first seed scored 90%.
    assert list(table["run_id"]) == [other, first] and list(table["Rank"]) == [1, 2]
    row = table.set_index("run_id").loc[first]
    assert row["Repeats"] == 3 and row["Test Acc"] == pytest.approx(78.0)  # percentage points
    assert row["Test Acc SD"] == pytest.approx(100 * statistics.stdev([0.90, 0.70, 0.74]))
    assert row["Training Time"] == pytest.approx(60.0) and row["Training Time SD"] == pytest.approx(10.0)
    assert table.set_index("run_id").loc[other, "Repeats"] == 1
    assert "ranked by the mean" in texts(at.caption)
    scored = next(m for m in at.metric if m.label == "Scored runs")
    assert scored.value == "4" and "2 configurations" in scored.help
    csv = at.get("download_button")[0].proto
    assert csv.label == "Download CSV"


def test_repeat_x3_queues_three_seeds_that_join_the_runs_row(trained):
    (first, second), _ = trained
    at = open_compare("tiny")
    at.selectbox(key="compare_run").set_value(first).run()
    at.button(key="compare_repeat").click().run()
    assert not at.exception
    jobs, store = services().jobs, services().store
    queued = [r for r in store.list_runs(dataset="tiny") if r.repeat_of == first]
    assert len(queued) == 3 and sorted(r.config.seed for r in queued) == [1, 2, 3]
    assert "Queued runs" in texts(at.success) and "seeds 1, 2, 3" in texts(at.success)
    for r in queued:
        assert jobs.wait(r.id, timeout=300).status == "completed"
    at = open_compare("tiny")
    table = at.dataframe[0].value.set_index("run_id")
    assert sorted(table.index) == sorted([first, second])  # the repeats joined their configuration's row
    accs = [store.get_run(i).test_acc for i in (first, *(r.id for r in queued))]
    assert table.loc[first, "Repeats"] == 4 and table.loc[second, "Repeats"] == 1
    assert table.loc[first, "Test Acc"] == pytest.approx(100 * statistics.fmean(accs))


def test_the_table_shows_each_runs_name_settings_and_note_and_the_user_edits_them(trained):
    (first, second), _ = trained
    services().store.label_run(first, name="fine-tuned", note="the wizard's pick")
    at = open_compare("tiny")
    table = at.dataframe[0].value
    assert list(table.columns[:2]) == ["run_id", "Name"]
    study = [c for c in table.columns if c in STUDY_COLUMNS]
    assert study == list(STUDY_COLUMNS)  # the study's columns keep their order
    assert list(table.columns[-6:]) == ["Epochs", "Batch Size", "Learning Rate", "Image Size", "Weights", "Note"]
    rows = {row["run_id"]: row for row in table.to_dict("records")}
    assert (rows[first]["Name"], rows[first]["Note"], rows[second]["Name"]) == ("fine-tuned", "the wizard's pick", "")
    for row in rows.values():  # the template's settings; weights 'none' started from random initialisation
        assert [row[c] for c in ("Epochs", "Batch Size", "Learning Rate", "Image Size", "Weights")] == [
            1, 8, 1e-3, 32, "random"]

    at.selectbox(key="compare_run").set_value(second).run()
    at.text_input(key=f"compare_name_{second}").set_value("frozen backbone")
    at.text_area(key=f"compare_note_{second}").set_value("how far the head alone gets")
    at.button(key="compare_label_save").click().run()
    assert not at.exception and not at.error
    record = services().store.get_run(second)
    assert (record.name, record.user_note) == ("frozen backbone", "how far the head alone gets")
    table = at.dataframe[0].value
    assert dict(zip(table["run_id"], table["Name"]))[second] == "frozen backbone"
    assert "frozen backbone" in at.selectbox(key="compare_run").format_func(second)
    assert "how far the head alone gets" in texts(at.caption)


def run_with_mistakes(store, root, wrong: list[dict], confusion: list[list[int]], support: int,
                      test_acc: float, val_acc: float) -> int:
    """A finished three-class run stored without training, whose test report lists `wrong`."""
    classes = ["class_0", "class_1", "class_2"]
    report = {"classes": classes, "confusion": confusion,
              "per_class": [{"class": c, "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": support}
                            for c in classes],
              "misclassified": wrong, "test_images": sum(map(sum, confusion))}
    run_id = store.create_run(TrainConfig(dataset="tiny"), str(root), 36, 24, 6, 6)
    store.finish_run(run_id, "completed", {"test_acc": test_acc, "val_acc": val_acc, "val_loss": 0.6,
                                           "train_time_s": 1.0, "epoch_ended": 1, "best_epoch": 1,
                                           "final_metrics": report})
    return run_id


def test_showing_24_of_28_misclassified_images_expands_to_all(trained):
    store = services().store
    (first, _), _ = trained
    root = Path(store.get_run(first).dataset_root)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("class_1_*.png"))
    wrong = [{"path": files[i % len(files)], "true": "class_1", "predicted": "class_0", "probability": 0.6}
             for i in range(28)]
    run_id = run_with_mistakes(store, root, wrong, [[30, 0, 0], [28, 2, 0], [0, 0, 30]], support=30,
                               test_acc=0.69, val_acc=0.7)
    at = open_compare("tiny")
    at.selectbox(key="compare_run").set_value(run_id).run()
    assert len(at.image) == 24
    assert any("Showing 24 of 28" in c.value for c in at.caption)
    at.toggle(key=f"compare_all_thumbs_{run_id}").set_value(True).run()
    assert not at.exception
    assert len(at.image) == 28 and not any("Showing 24 of 28" in c.value for c in at.caption)


@pytest.fixture
def served_files(monkeypatch):
    """The bytes behind st.image and st.download_button URLs: AppTest's media store, kept after its run
    resets the runtime."""
    stores = []

    def keep(*args):
        stores.append(MemoryMediaFileStorage(*args))
        return stores[-1]

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", keep)

    def served(url: str) -> bytes:
        file_id = url.rsplit("/", 1)[-1].split(".")[0]
        return stores[-1].get_file(file_id).content
    return served


@pytest.fixture
def served_images(served_files):
    return lambda url: Image.open(io.BytesIO(served_files(url))).convert("RGB")


def test_each_misclassified_caption_sits_with_its_own_picture(trained, served_images):
    store = services().store
    (first, _), _ = trained
    root = Path(store.get_run(first).dataset_root)
    # Six pictures of different shapes and one solid colour each: the colour tells which file is shown.
    colours = {f"odd_{i}.png": (40 * i, 255 - 40 * i, 100) for i in range(6)}
    shapes = [(64, 16), (16, 64), (32, 32), (80, 20), (20, 80), (50, 30)]
    for (name, colour), shape in zip(colours.items(), shapes):
        Image.new("RGB", shape, colour).save(root / "class_1" / name)
    wrong = [{"path": f"class_1/{name}", "true": "class_1", "predicted": "class_0", "probability": 0.6}
             for name in colours]
    run_id = run_with_mistakes(store, root, wrong, [[4, 0, 0], [6, 0, 0], [0, 0, 4]], support=4,
                               test_acc=0.57, val_acc=0.6)
    at = open_compare("tiny")
    at.selectbox(key="compare_run").set_value(run_id).run()
    assert not at.exception
    cells = [c for c in at.columns if c.get("image") and not c.get("column")]  # the innermost
    assert len(cells) == len(colours)  # one picture per column: a row of columns per four pictures
    for cell in cells:
        (image,) = cell.get("image")
        (caption,) = image.captions
        (url,) = image.value
        name = caption.split(":")[0]
        assert caption == f"{name}: class_1 → class_0 (60%)"
        shown = served_images(url)
        assert shown.width == shown.height  # every thumbnail the same square: rows line up
        centre = shown.getpixel((shown.width // 2, shown.height // 2))  # lossy encoding: the nearest colour
        assert min(colours, key=lambda n: sum(abs(a - b) for a, b in zip(colours[n], centre))) == name
