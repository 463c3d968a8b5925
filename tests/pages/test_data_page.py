"""Data page: the four ways in, the scan report of the selected dataset, selecting and deleting."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from page_helpers import APP, metrics
from streamlit.testing.v1 import AppTest

from resnet_core.config import TrainConfig
from resnet_core.data.registry import dataset_origin, get_dataset, list_datasets, register_folder
from resnet_core.data.sample import SAMPLE_NAME
from resnet_core.data.scan import EMPTY_FILE, NOT_IMAGE_CONTENT
from resnet_core.data.synthetic import make_image_folder
from resnet_core.data.upload import FolderUpload, encode_batch, parse_batch, parse_manifest
from resnet_core.runs.store import RunStore
from ui.folder_upload import upload_state_key
from ui.shared import DATASET


@pytest.fixture
def app(env):
    at = AppTest.from_file(APP, default_timeout=30).run()
    return at.switch_page("pages/data.py")


@pytest.fixture
def folder(tmp_path) -> Path:
    """3 classes × 12 images, plus a text file named like an image and a zero-byte png."""
    root = make_image_folder(tmp_path / "flowers", num_classes=3, per_class=12)
    (root / "class_0" / "x.jpg").write_text("this is not a picture")
    (root / "class_1" / "empty.png").write_bytes(b"")
    return root


def selected(at) -> str | None:
    return at.session_state[DATASET] if DATASET in at.session_state else None


def table_with(at, column: str):
    """The dataframe that has this column (st.dataframe keys are not exposed to AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def add_by_path(at, path: str) -> AppTest:
    at.text_input(key="data_path").input(path)
    return at.button(key="data_path_add").click().run()


def test_empty_state_offers_the_sample(app):
    app.run()
    assert not app.exception and not app.error
    assert any("No datasets yet" in m.value for m in app.markdown)
    assert app.button(key="data_sample_quick")
    assert any("1,024 MB" in c.value for c in app.caption)  # the upload limit from the config


def test_existing_datasets_start_unselected_and_picking_one_selects_it(app, workspace, folder):
    register_folder(folder, workspace)
    app.run()
    assert app.selectbox(key="data_select").value is None  # not silently showing the first one
    assert any("Choose a dataset above" in i.value for i in app.info)
    app.selectbox(key="data_select").set_value("flowers").run()
    assert selected(app) == "flowers" and metrics(app)["Images"] == "36"


def test_register_a_folder_shows_the_scan_report(app, folder, workspace):
    app.run()
    add_by_path(app, str(folder))
    assert not app.exception and not app.error
    assert app.session_state[DATASET] == "flowers"
    assert metrics(app) == {"Images": "36", "Classes": "3", "Smallest class": "12", "Skipped files": "2"}
    assert any("below the model cards' minimum" in w.value for w in app.warning)
    skipped = table_with(app, "reason")
    assert set(skipped["reason"]) == {NOT_IMAGE_CONTENT, EMPTY_FILE}
    assert "class_0/x.jpg" in " ".join(skipped["examples"])
    counts = table_with(app, "share")
    assert list(counts["images"]) == [12, 12, 12]
    assert app.selectbox(key="data_select").value == "flowers"
    assert app.button(key="data_next")


def test_a_messy_dataset_gets_one_warning_box_and_classes_in_one_order(app, workspace, tmp_path):
    # Imbalanced, classes below the cards' minimum and few images in all: three findings.
    messy = make_image_folder(tmp_path / "messy", num_classes=3, per_class=[5, 21, 9])
    register_folder(messy, workspace)
    app.session_state[DATASET] = "messy"
    app.run()
    assert not app.exception and not app.error
    (box,) = app.warning  # one box with a bullet per finding, not a stack of boxes
    assert box.value.count("\n- ") == 2 and box.value.startswith("- ")
    assert "imbalanced" in box.value.lower()
    counts = table_with(app, "share")
    assert list(counts["class"]) == ["class_1", "class_2", "class_0"]  # largest first
    assert list(counts["share"]) == pytest.approx([60.0, 25.714, 14.286], abs=1e-3)  # percentage points
    headings = [m.value.split("**")[1] for m in app.markdown if m.value.endswith(" images") and "·" in m.value]
    assert headings == ["class_1", "class_2", "class_0"]  # the thumbnails follow the chart's order


def test_missing_path_is_an_error_not_a_crash(app, tmp_path):
    app.run()
    add_by_path(app, str(tmp_path / "no-such-folder"))
    assert not app.exception
    assert any("does not exist" in e.value for e in app.error)
    assert selected(app) is None


def test_folder_path_and_add_are_one_form_so_enter_adds_the_folder(app, folder):
    # In a form, Enter in a text box submits the form; outside one it only reruns the page, and the
    # user saw nothing happen (the browser test presses Enter for real).
    app.run()
    path, button = app.text_input(key="data_path"), app.button(key="data_path_add")
    assert path.form_id and path.form_id == button.form_id == app.text_input(key="data_path_name").form_id
    add_by_path(app, str(folder))
    assert not app.exception and selected(app) == "flowers"


def test_sample_button_imports_the_sample(app, workspace):
    app.run()
    app.button(key="data_sample").click().run()
    assert not app.exception and not app.error
    assert [d.name for d in list_datasets(workspace)] == [SAMPLE_NAME]
    assert app.session_state[DATASET] == SAMPLE_NAME
    assert metrics(app)["Classes"] == "10" and metrics(app)["Images"] == "300"
    # A second click selects the existing copy instead of failing on the taken name.
    app.button(key="data_sample").click().run()
    assert not app.error and any("already imported" in s.value for s in app.success)


def arrived_upload(workspace, source: Path, arrive: int | None = None) -> FolderUpload:
    """A folder upload as the browser half leaves it: the manifest of every file, `arrive` of them
    received in one batch (all when None), and the browser's report that it is done."""
    files = [(f"pets/{p.relative_to(source).as_posix()}", p.read_bytes()) for p in sorted(source.rglob("*.png"))]
    upload = FolderUpload(parse_manifest({"kind": "manifest", "upload": "u1",
                                          "files": [[n, len(d)] for n, d in files]}), workspace)
    sent = files[:arrive] if arrive is not None else files
    upload.receive(parse_batch(encode_batch("u1", 0, sent)))
    upload.finish(failed=[n for n, _ in files[len(sent):]])
    return upload


def test_upload_a_folder(app, workspace, tmp_path):
    source = make_image_folder(tmp_path / "pets", num_classes=2, per_class=4)
    app.run()
    app.session_state[upload_state_key("data_upload_folder")] = arrived_upload(workspace, source)
    app.run()
    assert any("8 of 8 files" in c.value for c in app.caption)
    assert app.text_input(key="data_upload_dir_name").placeholder == "pets"
    app.button(key="data_upload_dir_import").click().run()
    assert not app.exception and not app.error
    assert app.session_state[DATASET] == "pets"
    assert metrics(app)["Images"] == "8" and metrics(app)["Classes"] == "2"
    assert any("Imported 8 files as 'pets' (all 8 chosen)." in s.value for s in app.success)


def test_a_folder_with_missing_files_is_imported_only_knowingly(app, workspace, tmp_path):
    source = make_image_folder(tmp_path / "pets", num_classes=2, per_class=4)
    app.run()
    app.session_state[upload_state_key("data_upload_folder")] = arrived_upload(workspace, source, arrive=5)
    app.run()
    assert any("5 of 8 files" in c.value for c in app.caption)
    assert any("3 of the 8 chosen files did not arrive: 'pets/class_1/class_1_0001.png'" in e.value
               for e in app.error)
    assert "data_upload_dir_import" not in [b.key for b in app.button]  # no plain import
    partial = app.button(key="data_upload_dir_import_partial")
    assert partial.label == "Import the 5 that arrived (3 missing)"
    partial.click().run()
    assert not app.exception and not app.error
    info = get_dataset("pets", workspace)
    assert metrics(app)["Images"] == "5"
    origin = dataset_origin(info)
    assert (origin["chosen_files"], origin["received_files"], origin["missing_files"]) == (8, 5, 3)


def test_upload_a_zip_with_a_chosen_name(app, workspace, tmp_path):
    source = make_image_folder(tmp_path / "cars", num_classes=2, per_class=3)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for p in source.rglob("*.png"):
            archive.write(p, f"cars/{p.relative_to(source).as_posix()}")
        archive.writestr("cars/class_0/notes.txt", "not an image")
    app.run()
    app.file_uploader(key="data_upload_zip").set_value(("cars.zip", buffer.getvalue(), "application/zip"))
    app.run()
    app.text_input(key="data_zip_name").input("my cars")
    app.button(key="data_zip_import").click().run()
    assert not app.exception and not app.error
    assert app.session_state[DATASET] == "my cars"
    assert metrics(app)["Images"] == "6"
    assert any(s.value == "Imported 'cars.zip' as 'my cars': 6 images from 7 files in the archive (1 other file "
               "is listed under Skipped files)." for s in app.success)
    assert dataset_origin(get_dataset("my cars", workspace))["files_in_archive"] == 7


def test_a_bad_zip_is_an_error(app):
    app.run()
    app.file_uploader(key="data_upload_zip").set_value(("broken.zip", b"not a zip", "application/zip"))
    app.run()
    app.button(key="data_zip_import").click().run()
    assert not app.exception
    assert any("not a readable zip" in e.value for e in app.error)
    assert selected(app) is None


def test_select_and_delete_a_dataset(app, workspace, folder, tmp_path):
    register_folder(folder, workspace)
    other = register_folder(make_image_folder(tmp_path / "other", per_class=3), workspace)
    app.run()
    assert app.selectbox(key="data_select").options == ["flowers  ·  folder on the server",
                                                       "other  ·  folder on the server"]
    app.selectbox(key="data_select").set_value("other").run()
    assert app.session_state[DATASET] == "other" and metrics(app)["Images"] == "9"
    app.button(key="data_delete").click().run()
    assert any("Delete the dataset **other**" in w.value for w in app.warning)
    app.button(key="data_delete_confirm").click().run()
    assert not app.exception and not app.error
    assert [d.name for d in list_datasets(workspace)] == ["flowers"]
    assert app.session_state[DATASET] is None
    assert other.root.is_dir()  # a registered folder's own files are never touched


def test_delete_is_refused_while_a_run_uses_the_dataset(app, workspace, folder):
    info = register_folder(folder, workspace)
    RunStore(workspace).create_run(TrainConfig(dataset=info.name), str(info.root), 36, 24, 6, 6)
    app.session_state[DATASET] = info.name
    app.run()
    app.button(key="data_delete").click().run()
    app.button(key="data_delete_confirm").click().run()
    assert not app.exception
    assert any("used by run 1 (queued)" in e.value and "Train page" in e.value for e in app.error)
    assert [d.name for d in list_datasets(workspace)] == ["flowers"]


def test_duplicates_are_listed_and_a_leaky_split_can_be_made_again(app, workspace, tmp_path):
    import json

    import numpy as np

    from resnet_core.data.splits import get_split, saved_assignments, split_path
    from resnet_core.data.synthetic import make_picture

    root = tmp_path / "pics"
    rng = np.random.default_rng(5)
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True)
        for i in range(8):
            make_picture(96, rng).save(root / cls / f"{i}.png")
    (root / "dogs" / "copy.png").write_bytes((root / "cats" / "0.png").read_bytes())
    info = register_folder(root, workspace)
    get_split(info)
    saved = json.loads(split_path(info).read_text(encoding="utf-8"))  # as a split made before the check
    saved["assignments"].update({"cats/0.png": "train", "dogs/copy.png": "test"})
    split_path(info).write_text(json.dumps(saved), encoding="utf-8")

    app.session_state[DATASET] = info.name
    app.run()
    text = " ".join(w.value for w in app.warning)
    assert "1 test images have a near-duplicate in training: test accuracy is optimistic" in text
    assert "at least one label in each group is wrong" in text
    table = table_with(app, "kind")
    assert list(table["kind"]) == ["across classes"] and list(table["split"]) == ["test + train"]
    app.button(key="data_new_split").click().run()
    assert saved_assignments(info) == {}
    assert not any("near-duplicate in training" in w.value for w in app.warning)
