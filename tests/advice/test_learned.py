"""Learning across datasets: what won on the workspace's earlier datasets of the same kind."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from PIL import Image

from resnet_core.advice.dataset_profile import DatasetProfile, alike, profile_of
from resnet_core.advice.learned import earlier_advice, earlier_datasets, earlier_summary
from resnet_core.advice.race import Candidate, RaceResult, Trial
from resnet_core.advice.race_records import list_races, save_race
from resnet_core.config import TrainConfig
from resnet_core.data.registry import get_dataset, register_folder
from resnet_core.data.synthetic import make_image_folder
from resnet_core.runs.store import RunStore


def grayscale(folder):
    for path in folder.rglob("*.png"):
        Image.open(path).convert("L").save(path)
    return folder


@pytest.fixture
def store(workspace):
    s = RunStore(workspace)
    yield s
    s.close()


def add_run(store, dataset, model, aug, acc, num_train, fine_tune=True):
    config = TrainConfig(dataset=dataset, model=model, augmentation=aug, fine_tune=fine_tune,
                         max_train_images=num_train)
    run_id = store.create_run(config, "images", num_train * 2, num_train, 10, 10)
    store.finish_run(run_id, "completed", {"test_acc": acc, "val_loss": 1 - acc, "train_time_s": 10.0})
    return run_id


@pytest.fixture
def two_earlier(workspace, store, tmp_path):
    """'colour' (3 classes of 32 px colour images) and 'grey' (the same, grayscale), each with runs."""
    register_folder(make_image_folder(tmp_path / "colour", num_classes=3, per_class=12, size=32), workspace,
                    name="colour")
    register_folder(grayscale(make_image_folder(tmp_path / "grey", num_classes=3, per_class=12, size=32, seed=1)),
                    workspace, name="grey")
    add_run(store, "colour", "resnet18", "none", 0.90, 25)
    add_run(store, "colour", "resnet18", "heavy", 0.80, 25)
    add_run(store, "grey", "resnet50", "light", 0.95, 25)
    add_run(store, "grey", "resnet18", "none", 0.70, 25)
    return workspace


def test_a_profile_reads_size_classes_side_and_channels(two_earlier):
    colour = profile_of(get_dataset("colour", two_earlier))
    grey = profile_of(get_dataset("grey", two_earlier))
    assert (colour.num_classes, colour.median_side, colour.channels) == (3, 32, "colour")
    assert grey.channels == "grayscale" and grey.num_train == colour.num_train == 26
    assert colour.band == "tiny"


def test_alike_means_same_band_and_kind():
    base = DatasetProfile(800, 10, 28, "grayscale")
    assert alike(base, DatasetProfile(900, 8, 32, "grayscale"))
    assert alike(base, DatasetProfile(900, 10))  # typed numbers: the kind is unknown, not different
    assert not alike(base, DatasetProfile(5_000, 10, 28, "grayscale"))  # another size band
    assert not alike(base, DatasetProfile(800, 10, 28, "colour"))
    assert not alike(base, DatasetProfile(800, 10, 224, "grayscale"))
    assert not alike(base, DatasetProfile(800, 30, 28, "grayscale"))


def test_a_new_colour_dataset_learns_from_the_colour_one_only(two_earlier, store):
    new = DatasetProfile(25, 3, 32, "colour")
    (finding,) = earlier_datasets(new, two_earlier, store, exclude="new")
    assert finding.dataset == "colour" and finding.source == "runs"
    assert finding.configuration == "ResNet18 + fine-tuning" and finding.test_acc == pytest.approx(0.90)
    assert finding.compared == 2
    assert "'colour'" in finding.sentence() and "best of 2 configurations" in finding.sentence()
    grey = earlier_datasets(DatasetProfile(25, 3, 30, "grayscale"), two_earlier, store)
    assert [f.dataset for f in grey] == ["grey"] and grey[0].model == "resnet50"


def test_the_dataset_itself_and_unlike_datasets_give_nothing(two_earlier, store):
    assert earlier_datasets(DatasetProfile(25, 3, 32, "colour"), two_earlier, store, exclude="colour") == []
    assert earlier_datasets(DatasetProfile(5_000, 3, 32, "colour"), two_earlier, store) == []
    assert earlier_summary([]) is None


def test_a_study_size_speaks_for_a_new_dataset_of_that_size(two_earlier, store):
    """Runs at 900 training images of a dataset count for a new dataset of about 900 images, in the
    small band, while its 25-image runs do not."""
    add_run(store, "colour", "resnet50", "standard", 0.85, 900)
    add_run(store, "colour", "resnet18", "standard", 0.83, 900)
    (finding,) = earlier_datasets(DatasetProfile(850, 3, 32, "colour"), two_earlier, store)
    assert finding.profile.num_train == 900 and finding.model == "resnet50"
    assert "900 training images" in finding.sentence()


def race_result(winner_aug="none"):
    base = TrainConfig(dataset="raced", weights="none")
    cands = [Candidate(f"ResNet18 · {a} augmentation", {}, "card", base.replace(augmentation=a))
             for a in ("standard", "none", "heavy")]
    trials = [Trial(c.name, c.key, 0, 12, 3, 0.5 if c.config.augmentation == winner_aug else 0.9, 0.7, 1.0)
              for c in cands]
    win = next(c for c in cands if c.config.augmentation == winner_aug)
    return RaceResult(candidates=cands, trials=trials, winner_key=win.key, budget_s=60, used_s=30)


def test_complete_races_count_and_cancelled_ones_are_kept_marked_partial(two_earlier, store):
    profile = DatasetProfile(25, 3, 32, "colour")
    save_race(two_earlier, "raced", profile, race_result("none"), complete=True)
    partial = race_result("heavy")
    partial.cancelled = True
    save_race(two_earlier, "halfway", profile, partial, complete=False)
    assert [r.dataset for r in list_races(two_earlier)] == ["raced"]
    kept = list_races(two_earlier, complete_only=False)
    assert {r.dataset: r.finished for r in kept} == {"raced": "complete", "halfway": "partial"}
    assert next(r for r in kept if r.dataset == "halfway").race["cancelled"] is True
    findings = earlier_datasets(profile, two_earlier, store, exclude="new")
    assert [(f.dataset, f.source) for f in findings] == [("colour", "runs"), ("raced", "race")]
    race = findings[1]
    assert race.augmentation == "none" and race.compared == 3 and race.val_loss == pytest.approx(0.5)
    rec = SimpleNamespace(model="resnet18", fine_tune=True, augmentation="standard")
    summary = earlier_summary(findings, rec)
    assert summary.startswith("On your earlier datasets of this kind, ResNet18 + fine-tuning won 2 of 2 times")
    assert "the cards' pick here, ResNet18 + fine-tuning + augmentation, won 0 of 2" in summary
    payload = json.loads(json.dumps(earlier_advice(profile, two_earlier, store, recommendation=rec)))
    assert payload["summary"] == summary and len(payload["findings"]) == 2


def test_recommend_json_gains_earlier_datasets(two_earlier, store, tmp_path, capsys, monkeypatch):
    from resnet_core.cli import main

    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")
    folder = make_image_folder(tmp_path / "new", num_classes=3, per_class=12, size=32, seed=2)
    assert main(["recommend", "--data", str(folder), "--cpu", "--weights", "none", "--json"]) == 0
    earlier = json.loads(capsys.readouterr().out)["earlier_datasets"]
    assert earlier["profile"]["channels"] == "colour"
    assert [f["dataset"] for f in earlier["findings"]] == ["colour"]
    assert earlier["summary"].startswith("On your earlier dataset of this kind, ResNet18 + fine-tuning won")
    assert main(["recommend", "--data", str(folder), "--cpu", "--weights", "none"]) == 0
    assert "On your earlier dataset of this kind" in capsys.readouterr().out


def test_each_dataset_votes_once_however_often_it_was_raced_or_run(two_earlier, store):
    profile = DatasetProfile(25, 3, 32, "colour")
    for _ in range(3):  # raced three times with the same winner
        save_race(two_earlier, "raced", profile, race_result("heavy"), complete=True)
    save_race(two_earlier, "raced", profile, race_result("none"), complete=True)  # its latest race
    save_race(two_earlier, "colour", profile, race_result("heavy"), complete=True)  # it has runs too
    findings = earlier_datasets(profile, two_earlier, store, exclude="new")
    assert [(f.dataset, f.source) for f in findings if f.dataset == "raced"] == [("raced", "race")]
    assert next(f for f in findings if f.dataset == "raced").augmentation == "none"
    summary = earlier_summary(findings)
    assert summary == "On your earlier datasets of this kind, ResNet18 + fine-tuning won 2 of 2 times."
