"""Start-up housekeeping: leftovers of killed imports and cut-short writes are removed, nothing live is."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from resnet_core.cli import main
from resnet_core.data.importing import import_dataset
from resnet_core.data.registry import list_datasets
from resnet_core.data.synthetic import make_image_folder
from resnet_core.fsutil import (
    atomic_write_bytes,
    process_start_time,
    remove_stale_temp_files,
    temp_owner_pid,
)
from resnet_core.runs.recovery import clean_stale_tmp, startup
from resnet_core.runs.store import RunStore
from resnet_core.training.checkpoints import load_checkpoint, save_checkpoint
from resnet_core.training.models import build_model
from resnet_core.workspace import ENV_VAR

REPO = Path(__file__).resolve().parents[2]
TWO_HOURS = 2 * 3600


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def sleeper():
    """A live process other than this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()


def leftover(folder: Path, name: str, age_s: float = 0.0) -> Path:
    """A scratch folder with a file inside, all last modified age_s ago."""
    path = folder / name
    (path / "incoming" / "cats").mkdir(parents=True)
    (path / "incoming" / "cats" / "a.png").write_bytes(b"half an image")
    if age_s:
        stamp = time.time() - age_s
        for p in [*path.rglob("*"), path]:
            os.utime(p, (stamp, stamp))
    return path


def age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_scratch_of_dead_processes_goes_and_live_ones_stay(workspace, sleeper):
    tmp = workspace.tmp_dir
    dead = leftover(tmp, f"import-pid{dead_pid()}-abc")
    mine = leftover(tmp, f"import-pid{os.getpid()}-def", age_s=TWO_HOURS)  # old but its owner runs
    other_live = leftover(tmp, f"register-pid{sleeper.pid}-ghi")
    legacy_fresh = leftover(tmp, "import-jkl")  # no pid in the name: judged by age
    legacy_old = leftover(tmp, "import-mno", age_s=TWO_HOURS)
    # Someone else's naming with a number that is not a pid: only age counts.
    numbered = leftover(tmp, "export-1-pqr")
    # The pid now belongs to a process started after the folder was last written: reused.
    reused = leftover(tmp, f"delete-pid{sleeper.pid}-stu", age_s=TWO_HOURS)
    if process_start_time(sleeper.pid) is None:
        pytest.skip("process start times are not available on this system")

    removed = clean_stale_tmp(workspace)

    assert sorted(removed) == sorted([dead, legacy_old, reused])
    for path in (dead, legacy_old, reused):
        assert not path.exists()
    for path in (mine, other_live, legacy_fresh, numbered):
        assert path.is_dir() and (path / "incoming" / "cats" / "a.png").is_file()
    assert clean_stale_tmp(workspace) == []  # idempotent


def test_a_killed_import_is_cleaned_at_start_and_the_name_is_free_again(workspace, tmp_path):
    src = make_image_folder(tmp_path / "src", num_classes=2, per_class=6)
    # A real import in another process, stopped for good (SIGKILL) halfway through copying.
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import shutil, sys, time
        from resnet_core.data import importing
        from resnet_core.workspace import Workspace
        real_copy, copied = shutil.copy2, []
        def slow_copy(a, b):
            real_copy(a, b)
            copied.append(b)
            if len(copied) == 3:
                print("copying", flush=True)
                time.sleep(600)
        importing.shutil.copy2 = slow_copy
        importing.import_dataset({str(src)!r}, "pets", Workspace.default())
    """)], env={**os.environ, ENV_VAR: str(workspace.root), "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "copying"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    staging = [p for p in workspace.tmp_dir.iterdir()]
    assert len(staging) == 1 and staging[0].name.startswith(f"import-pid{child.pid}-")
    assert len(list(staging[0].rglob("*.png"))) == 3  # half an import, left behind by the kill
    assert list_datasets(workspace) == []

    store = RunStore(workspace)
    report = startup(workspace, store)
    store.close()
    assert report.removed == [f"tmp/{staging[0].name}"]
    assert list(workspace.tmp_dir.iterdir()) == []
    assert import_dataset(src, "pets", workspace).name == "pets"  # the name was never taken


def test_cli_commands_clean_up_at_start(workspace, capsys, tmp_path):
    stale = leftover(workspace.tmp_dir, f"import-pid{dead_pid()}-x")
    assert main(["runs"]) == 0
    assert not stale.exists()
    stale = leftover(workspace.tmp_dir, f"import-pid{dead_pid()}-y")
    src = make_image_folder(tmp_path / "src", num_classes=2, per_class=2)
    assert main(["import", str(src), "--name", "pets"]) == 0
    capsys.readouterr()
    assert not stale.exists() and list(workspace.tmp_dir.iterdir()) == []


def test_temp_files_of_cut_short_writes(workspace, tmp_path, sleeper):
    folder = workspace.run_dir(7)
    folder.mkdir(parents=True)
    dead = folder / f".best.pt.pid{dead_pid()}-a1b2.tmp"
    old_unnamed = folder / ".best.pt.x9y8.tmp"
    fresh_unnamed = folder / ".last.pt.z7w6.tmp"
    live = folder / f".best.pt.pid{sleeper.pid}-c3d4.tmp"  # another process writing right now
    mine = folder / f".labels.json.pid{os.getpid()}-e5f6.tmp"  # another thread of this process
    cache_dead = workspace.cache_dir / f".ds123-32px-abc.u8.{dead_pid()}.140000.tmp"
    for p in (dead, old_unnamed, fresh_unnamed, live, mine, cache_dead):
        p.write_bytes(b"partial")
    age(old_unnamed, TWO_HOURS)

    assert temp_owner_pid(dead.name) is not None and temp_owner_pid(cache_dead.name) is not None
    assert temp_owner_pid(old_unnamed.name) is None

    # Writing best.pt again sweeps the leftovers of best.pt named by a process that is gone.
    save_checkpoint(folder / "best.pt", build_model("resnet18", 2), ["a", "b"], 32, epoch=1, config={})
    assert not dead.exists() and old_unnamed.exists()
    # Start-up sweeps every name in the workspace's folders, the old unnamed one too.
    store = RunStore(workspace)
    report = startup(workspace, store)
    store.close()
    assert f"cache/{cache_dead.name}" in report.removed and f"runs/7/{old_unnamed.name}" in report.removed
    assert not cache_dead.exists() and not old_unnamed.exists()
    for p in (fresh_unnamed, live, mine):
        assert p.exists(), p
    assert load_checkpoint(folder / "best.pt")[1]["classes"] == ["a", "b"]


def test_writing_into_a_users_folder_leaves_their_files_alone(tmp_path):
    theirs = tmp_path / ".model.pt.backup.tmp"  # looks like ours, has no pid: not ours to judge
    theirs.write_bytes(b"keep me")
    age(theirs, TWO_HOURS)
    atomic_write_bytes(tmp_path / "model.pt", b"exported")
    assert theirs.read_bytes() == b"keep me"
    assert remove_stale_temp_files(tmp_path, "model.pt", max_age_s=None) == []
