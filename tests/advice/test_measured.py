"""measured_advice: measured runs compared with the wizard's advice, from hand-made run records."""
from __future__ import annotations

import re
from types import SimpleNamespace

from resnet_core.advice.measured import measured_advice, measured_ranking
from resnet_core.config import TrainConfig
from resnet_core.runs.store import RunRecord

_ids = iter(range(1, 10_000))


# What a run planned by the wizard records as recommended (plan_training: everything but the weights).
WIZARD_SETTINGS = ("model", "fine_tune", "augmentation", "epochs", "batch_size", "learning_rate", "patience",
                   "eval_every", "image_size")


def run(model: str, fine_tune: bool, aug: str, acc: float, seconds: float, n: int = 2000,
        status: str = "completed", val_loss: float = 0.5, dataset: str = "flowers",
        edited: tuple[str, ...] = ()) -> RunRecord:
    """A run with the wizard's settings, apart from those `edited` by hand."""
    config = TrainConfig(dataset=dataset, model=model, fine_tune=fine_tune, augmentation=aug,
                         max_train_images=n, recommended=tuple(s for s in WIZARD_SETTINGS if s not in edited))
    return RunRecord(id=next(_ids), dataset=dataset, model=model, status=status, config=config,
                     description=config.describe(), num_train=n, test_acc=acc, val_loss=val_loss,
                     val_acc=acc, train_time_s=seconds, epoch_ended=5)


def pick(model: str, fine_tune: bool = True, aug: str = "standard") -> SimpleNamespace:
    return SimpleNamespace(model=model, fine_tune=fine_tune, augmentation=aug)


def test_no_measured_runs_gives_no_advice():
    assert measured_advice("flowers", [], pick("resnet18")) == []
    unfinished = [run("resnet18", True, "none", 0.9, 10, status="failed"),
                  run("resnet18", True, "none", 0.9, 10, dataset="other")]
    assert measured_advice("flowers", unfinished, pick("resnet18")) == []


def test_wizard_pick_that_lost_is_ranked_with_the_gap_to_the_winner():
    runs = [run("resnet50", True, "none", 0.900, 180),
            run("resnet50", True, "standard", 0.895, 300),
            run("resnet18", True, "standard", 0.879, 120),
            run("resnet18", True, "none", 0.870, 100)]
    text = measured_advice("flowers", runs, pick("resnet18", True, "standard"))
    first = text[0]
    assert "ResNet18 + fine-tuning + augmentation" in first
    assert "ranked 3rd of 4" in first
    assert "ResNet50 + fine-tuning was 2.1 points better" in first
    assert "2,000 training images" in first


def test_wizard_pick_that_won_is_confirmed():
    runs = [run("resnet18", True, "standard", 0.95, 100), run("resnet50", True, "standard", 0.90, 300)]
    text = measured_advice("flowers", runs, pick("resnet18", True, "standard"))
    assert "ranked 1st of 2" in text[0] and "agrees" in text[0]


def test_a_cheaper_configuration_within_half_a_point_is_named_with_its_share_of_the_time():
    runs = [run("resnet50", True, "none", 0.880, 300), run("resnet18", True, "none", 0.876, 100)]
    text = " ".join(measured_advice("flowers", runs, pick("resnet50", True, "none")))
    assert ("ResNet18 + fine-tuning came within 0.4 points of ResNet50 + fine-tuning at a third of "
            "the time") in text


def test_no_cheaper_match_when_the_fast_one_is_clearly_worse():
    runs = [run("resnet50", True, "none", 0.90, 300), run("resnet18", True, "none", 0.80, 100)]
    text = " ".join(measured_advice("flowers", runs, pick("resnet50", True, "none")))
    assert "within" not in text and "matched" not in text


def test_light_or_heavy_advice_matches_the_measured_standard_augmentation():
    runs = [run("resnet18", True, "standard", 0.9, 100), run("resnet18", True, "none", 0.8, 100)]
    text = measured_advice("flowers", runs, pick("resnet18", True, "heavy"))
    assert "ResNet18 + fine-tuning + augmentation" in text[0] and "ranked 1st" in text[0]


def test_unmeasured_pick_is_said_and_the_best_named():
    runs = [run("resnet18", True, "none", 0.8, 100), run("resnet18", False, "none", 0.6, 50)]
    text = measured_advice("flowers", runs, pick("resnet50", True, "standard"))
    assert "has not been measured" in text[0] and "ResNet18 + fine-tuning with 80.0%" in text[0]


def test_the_largest_size_with_several_configurations_is_discussed():
    runs = [run("resnet18", True, "none", 0.70, 10, n=800), run("resnet50", True, "none", 0.75, 30, n=800),
            run("resnet18", True, "none", 0.90, 50, n=5000)]  # alone at its size: nothing to compare
    text = measured_advice("flowers", runs, pick("resnet18", True, "none"))
    assert "800 training images" in text[0] and "ranked 2nd of 2" in text[0]


def test_repeated_runs_of_one_configuration_count_once_with_their_best():
    runs = [run("resnet18", True, "none", 0.70, 10), run("resnet18", True, "none", 0.85, 10),
            run("resnet50", True, "none", 0.80, 30)]
    text = measured_advice("flowers", runs, pick("resnet50", True, "none"))
    assert "ranked 2nd of 2" in text[0] and "5.0 points better" in text[0]


def test_effects_of_augmentation_and_fine_tuning_are_averaged_over_pairs():
    runs = [run("resnet18", False, "none", 0.60, 20), run("resnet18", True, "none", 0.80, 60),
            run("resnet18", False, "standard", 0.62, 40), run("resnet18", True, "standard", 0.86, 90)]
    text = measured_advice("flowers", runs, pick("resnet18", True, "standard"))
    joined = " ".join(text)
    assert "Augmentation helped as the cards advise: +4.0 points on average over 2 pairs" in joined
    assert "Fine-tuning beat a frozen backbone by 22.0 points on average over 2 pairs" in joined


def test_depth_the_cards_did_not_advise_is_called_out_when_clearly_better():
    runs = [run("resnet18", True, "none", 0.80, 60), run("resnet50", True, "none", 0.86, 200)]
    text = " ".join(measured_advice("flowers", runs, pick("resnet18", True, "none")))
    assert "The cards advise ResNet18, but on your data ResNet50 was 6.0 points better" in text


def test_reads_runs_from_a_store(workspace):
    from resnet_core.runs.store import RunStore

    store = RunStore(workspace)
    config = TrainConfig(dataset="flowers", model="resnet18", recommended=WIZARD_SETTINGS)
    run_id = store.create_run(config, "images", 100, 70, 15, 15)
    store.finish_run(run_id, "completed", {"test_acc": 0.9, "val_loss": 0.3, "train_time_s": 12.0})
    text = measured_advice("flowers", store, pick("resnet18", True, "standard"))
    assert len(text) == 1 and "ranked 1st of 1" in text[0] and "90.0%" in text[0]
    store.close()


def test_without_a_recommendation_the_best_is_reported():
    runs = [run("resnet18", True, "none", 0.8, 100), run("resnet50", True, "none", 0.7, 100)]
    text = measured_advice("flowers", runs, None)
    assert text[0].endswith("the best was ResNet18 + fine-tuning with 80.0% test accuracy.")


def test_the_ranking_behind_the_advice_lists_the_best_per_configuration_and_the_verdict():
    from resnet_core.advice.measured import measured_ranking

    a = run("resnet18", True, "standard", 0.80, 100)
    b = run("resnet50", True, "standard", 0.90, 300)
    again = run("resnet50", True, "standard", 0.85, 200)  # the same configuration, worse: not listed
    smaller = run("resnet18", True, "none", 0.99, 10, n=200)  # another size: not this ranking
    ranking = measured_ranking("flowers", [a, b, again, smaller], pick("resnet18"))
    assert ranking.num_train == 2000
    assert list(ranking.runs) == [b, a]
    assert ranking.pick is a and ranking.verdict == "disagrees"
    assert measured_ranking("flowers", [a, b], pick("resnet50")).verdict == "agrees"
    assert measured_ranking("flowers", [a, run("resnet50", True, "none", 0.805, 50)],
                            pick("resnet18")).verdict == "close"  # half a point behind the best
    assert measured_ranking("flowers", [a, b], pick("resnet101")).verdict == "unmeasured"
    assert measured_ranking("flowers", [a, b]).verdict == "unmeasured"
    assert measured_ranking("flowers", []) is None


def test_a_tie_on_test_accuracy_is_not_called_zero_points_better():
    runs = [run("resnet50", True, "none", 0.90, 300, val_loss=0.3), run("resnet18", True, "none", 0.90, 100)]
    text = " ".join(measured_advice("flowers", runs, pick("resnet18", True, "none")))
    assert not re.search(r"\b0\.0 points", text)
    assert "had the same test accuracy" in text


def test_a_run_with_settings_edited_by_hand_is_not_the_wizards_pick():
    """The cards advised heavy augmentation. The study measured 'with augmentation' at the wizard's
    settings and won; a heavy-augmentation run with its epochs typed by hand came last. The pick is
    the study's run, as the Study page says, not the edited one."""
    study_run = run("resnet18", True, "standard", 0.60, 30, n=207)
    frozen = run("resnet18", False, "none", 0.50, 10, n=207)
    plain = run("resnet18", True, "none", 0.55, 20, n=207)
    edited = run("resnet18", True, "heavy", 0.30, 5, n=207, edited=("epochs",))
    runs = [study_run, frozen, plain, edited]
    advice = pick("resnet18", True, "heavy")
    ranking = measured_ranking("flowers", runs, advice)
    assert ranking.pick is study_run and ranking.verdict == "agrees"
    assert "ranked 1st of 4" in measured_advice("flowers", runs, advice)[0]


def test_a_better_run_with_settings_edited_by_hand_does_not_make_the_pick_win():
    as_advised = run("resnet18", True, "heavy", 0.60, 30, n=207)
    edited = run("resnet18", True, "heavy", 0.90, 60, n=207, edited=("learning_rate",))
    other = run("resnet50", True, "none", 0.70, 60, n=207)
    ranking = measured_ranking("flowers", [as_advised, edited, other], pick("resnet18", True, "heavy"))
    assert ranking.pick is as_advised and ranking.verdict == "disagrees"
    assert ranking.runs[0] is edited  # still listed, as the best measured
