"""The race's table: furthest round and lowest loss first, the winner marked, unmeasured last."""
from __future__ import annotations

import dataclasses

from resnet_core.advice.race import Candidate, RaceResult, Trial
from resnet_core.config import TrainConfig
from resnet_core.views.race_view import race_rows


def test_rows_put_the_furthest_and_best_first_and_mark_the_winner():
    base = TrainConfig(dataset="d")
    cands = [Candidate(n, {}, f"card says {n}", dataclasses.replace(base, seed=i)) for i, n in enumerate("abcd")]
    key = {c.name: c.key for c in cands}
    trials = [Trial("a", key["a"], 0, 10, 3, 0.9, 0.5, 1.0), Trial("b", key["b"], 0, 10, 3, 0.5, 0.8, 1.0),
              Trial("c", key["c"], 0, 10, 3, 0.7, 0.6, 1.0), Trial("b", key["b"], 1, 20, 3, 0.4, 0.9, 1.0),
              Trial("c", key["c"], 1, 20, 3, 0.45, 0.85, 1.0)]
    result = RaceResult(candidates=cands + [Candidate("e", {}, "x", dataclasses.replace(base, seed=9))],
                        trials=trials, winner_key=key["b"])
    rows = race_rows(result)
    assert [r["Candidate"] for r in rows] == ["b", "c", "a", "d", "e"][:3] + ["d", "e"]
    assert rows[0]["Pick"] == "★" and all(r["Pick"] == "" for r in rows[1:])
    assert rows[0]["Round"] == 2 and rows[0]["Images"] == 20 and rows[0]["From"] == "card says b"
    assert rows[3]["Val loss"] is None and rows[3]["Round"] is None
