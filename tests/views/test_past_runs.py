"""The Train page's list of a dataset's past runs, as plain rows."""
from __future__ import annotations

from datetime import UTC, datetime

from resnet_core.runs.store import RunRecord
from resnet_core.views.past_runs import past_run_rows, past_runs_caption

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def record(run_id: int, dataset: str = "flowers", **kwargs) -> RunRecord:
    return RunRecord(id=run_id, dataset=dataset, model="resnet18", status=kwargs.pop("status", "completed"),
                     description="ResNet18 + fine-tuning", created_at="2026-03-10T10:00:00+00:00", **kwargs)


def test_rows_are_the_datasets_runs_newest_first_with_name_status_accuracy_and_when():
    records = [record(1, name="baseline", test_acc=0.75, finished_at="2026-03-10T11:58:00+00:00"),
               record(2, dataset="birds", name="elsewhere"),
               record(3, status="running", started_at="2026-03-10T11:30:00+00:00"),
               record(4, status="failed", test_acc=float("nan"))]
    rows = past_run_rows(records, "flowers", NOW)
    assert rows == [
        {"Run": 4, "Name": "", "Model": "ResNet18 + fine-tuning", "Status": "failed", "Test Acc": None,
         "When": "2 h ago"},  # queued at 10:00, never started
        {"Run": 3, "Name": "", "Model": "ResNet18 + fine-tuning", "Status": "running", "Test Acc": None,
         "When": "30 min ago"},
        {"Run": 1, "Name": "baseline", "Model": "ResNet18 + fine-tuning", "Status": "completed", "Test Acc": 0.75,
         "When": "2 min ago"}]


def test_only_the_latest_are_listed_and_the_caption_says_so():
    records = [record(i) for i in range(1, 15)]
    rows = past_run_rows(records, "flowers", NOW, limit=10)
    assert [r["Run"] for r in rows] == list(range(14, 4, -1))
    assert past_runs_caption(14, 10, "flowers").startswith("The latest 10 of 14 runs on flowers")
    assert past_runs_caption(1, 1, "flowers").startswith("1 run on flowers")
