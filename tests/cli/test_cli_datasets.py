"""`python -m resnet_core scan` and `import`: human output, --json, and clear errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from resnet_core.cli import main
from resnet_core.data.registry import list_datasets
from resnet_core.data.synthetic import make_image_folder
from resnet_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


def run_json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_scan_json(capsys, tmp_path, workspace):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=[12, 3])
    (root / "class_0" / "notes.txt").write_text("x")
    report = run_json(capsys, ["scan", str(root), "--json"])
    assert report["classes"] == ["class_0", "class_1"]
    assert report["counts"] == {"class_0": 12, "class_1": 3}
    assert report["num_images"] == 15
    assert report["skipped"] == [{"path": "class_0/notes.txt", "reason": report["skipped"][0]["reason"]}]
    assert any("imbalanced" in w for w in report["warnings"])
    assert list_datasets(workspace) == []  # a scanned folder is not registered


def test_scan_human_output_groups_skipped_files(capsys, tmp_path, workspace):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=4)
    for i in range(7):
        (root / "class_1" / f"empty{i}.png").write_bytes(b"")
    assert main(["scan", str(root)]) == 0
    out = capsys.readouterr().out
    assert "class_0" in out and "Total: 8 images in 2 classes" in out
    assert "empty file (0 bytes): 7" in out
    assert "class_1/empty0.png" in out and "... and 2 more" in out
    assert "Warnings:" in out


def test_import_then_scan_by_name(capsys, tmp_path, workspace):
    root = make_image_folder(tmp_path / "src", num_classes=2, per_class=5)
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in root.rglob("*.png"):
            z.write(p, f"pets/{p.relative_to(root).as_posix()}")
    result = run_json(capsys, ["import", str(archive), "--name", "pets", "--json"])
    assert result["dataset"]["name"] == "pets" and result["dataset"]["imported"] is True
    assert Path(result["dataset"]["root"]).is_relative_to(workspace.root)
    assert result["scan"]["counts"] == {"class_0": 5, "class_1": 5}
    by_name = run_json(capsys, ["scan", "pets", "--json"])
    assert by_name["counts"] == result["scan"]["counts"]

    assert main(["import", str(root)]) == 0  # the name defaults to the folder's
    out = capsys.readouterr().out
    assert "Imported dataset 'src'" in out and "Total: 10 images" in out


def test_cli_errors_are_one_line_and_exit_2(capsys, tmp_path, workspace):
    assert main(["scan", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "neither a folder nor a dataset name" in err
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=2)
    assert main(["import", str(root), "--name", "x"]) == 0
    capsys.readouterr()
    assert main(["import", str(root), "--name", "x"]) == 2
    assert "already exists" in capsys.readouterr().err
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../evil.png", b"x")
    assert main(["import", str(bad), "--name", "bad"]) == 2
    assert "climbs out" in capsys.readouterr().err


def test_scan_as_a_subprocess(tmp_path):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=3)
    env = {**os.environ, "RESNET_PILOT_HOME": str(tmp_path / "ws"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "resnet_core", "scan", str(root), "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["num_images"] == 6
    assert Workspace.at(tmp_path / "ws").datasets_dir.exists()


def test_scan_duplicates_of_a_folder_writes_nothing(capsys, tmp_path, workspace):
    root = make_image_folder(tmp_path / "d", num_classes=2, per_class=6)
    (root / "class_1" / "twin.png").write_bytes((root / "class_0" / "class_0_0002.png").read_bytes())
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    report = run_json(capsys, ["scan", str(root), "--json", "--duplicates"])
    (group,) = report["duplicates"]["groups"]
    assert group == {"paths": ["class_0/class_0_0002.png", "class_1/twin.png"],
                     "classes": ["class_0", "class_1"], "exact": True, "cross_class": True}
    assert any("label in each group is wrong" in w for w in report["duplicates"]["warnings"])
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert main(["scan", str(root), "--duplicates"]) == 0
    assert "1 groups (1 across classes)" in capsys.readouterr().out
