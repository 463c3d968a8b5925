"""A run remembers whether its split let copies of its test images into training."""
from __future__ import annotations

import json
import shutil

from resnet_core.config import TrainConfig
from resnet_core.data.registry import register_folder
from resnet_core.data.splits import get_split, split_path
from resnet_core.data.synthetic import make_image_folder
from resnet_core.results.ranking import comparison_table
from resnet_core.runs.runner import create_run, execute_run
from resnet_core.runs.store import RunStore


def train_once(workspace, name: str) -> int:
    store = RunStore(workspace)
    try:
        config = TrainConfig(dataset=name, weights="none", fine_tune=False, augmentation="none", epochs=1,
                             batch_size=8, image_size=32)
        run_id = create_run(config, workspace, store)
        assert execute_run(run_id, config, workspace, store) == "completed"
        return run_id
    finally:
        store.close()


def test_runs_record_their_split_leaks_and_the_table_shows_them(workspace, tmp_path, offline_torch_home):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=10, size=32)
    info = register_folder(root, workspace)
    clean = train_once(workspace, info.name)
    # A copy added later, then put in test beside its original in train (a split made before the check).
    train_image = get_split(info).train[0].path
    shutil.copy(root / train_image, root / "class_0" / "copy.png")
    get_split(info)
    saved = json.loads(split_path(info).read_text(encoding="utf-8"))
    saved["assignments"]["class_0/copy.png"] = "test"
    split_path(info).write_text(json.dumps(saved), encoding="utf-8")
    leaky = train_once(workspace, info.name)

    store = RunStore(workspace)
    try:
        records = {r.id: r for r in store.list_runs()}
        assert records[clean].final_metrics["split_leaks"] == {"val": 0, "test": 0}
        assert records[leaky].final_metrics["split_leaks"] == {"val": 0, "test": 1}
        assert any("near-duplicate in training" in n for n in records[leaky].notes)
        table = comparison_table(records.values()).set_index("run_id")
        assert table.loc[leaky, "Split Leaks"] == 1 and table.loc[clean, "Split Leaks"] == 0
    finally:
        store.close()
