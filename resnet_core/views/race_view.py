"""The race as the Wizard shows it: one row a candidate, those that went furthest and scored best first."""
from __future__ import annotations

from typing import Any

from resnet_core.advice.race import RaceResult


def race_rows(result: RaceResult) -> list[dict[str, Any]]:
    """Winner mark, candidate, the round it reached, its images there, validation loss and accuracy,
    and the card sentence it comes from; unmeasured candidates last."""
    scores = result.scores()

    def order(c) -> tuple:
        t = scores.get(c.key)
        return (0, -t.rung, t.val_loss) if t else (1, 0, 0.0)

    rows = []
    for c in sorted(result.candidates, key=order):
        t = scores.get(c.key)
        rows.append({"Pick": "★" if c.key == result.winner_key else "", "Candidate": c.name,
                     "Round": t.rung + 1 if t else None, "Images": t.train_images if t else None,
                     "Val loss": t.val_loss if t else None, "Val acc": t.val_acc if t else None,
                     "From": c.source})
    return rows
