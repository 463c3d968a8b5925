"""Hostile input end to end through the command line: a messy folder with every bad kind of file and
odd-but-valid images, Unicode names, scan → train → runs → predict → export; hopeless input gets one
clear line, exit status 2 and no traceback."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resnet_core.cli import main
from resnet_core.config import TrainConfig
from resnet_core.data.prepare import prepare_data
from resnet_core.data.scan import (
    EMPTY_FILE,
    HIDDEN,
    NOT_IMAGE,
    NOT_IMAGE_CONTENT,
    OUTSIDE_LINK,
    TOO_LARGE,
    UNREADABLE,
)
from resnet_core.data.synthetic import make_image, make_image_folder
from resnet_core.fsutil import read_json
from resnet_core.runs.store import RunStore

REPO = Path(__file__).resolve().parents[2]
CAT, DOG = "chat noir", "犬"
TRAIN = ["--epochs", "1", "--image-size", "32", "--batch-size", "4", "--weights", "none",
         "--augment", "none", "--freeze-backbone", "--device", "cpu", "--json"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, offline_torch_home):
    monkeypatch.setenv("RESNET_PILOT_OFFLINE", "1")


def cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width × height pixels (a decompression bomb's header) with no real data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def rotated_jpeg() -> bytes:
    """40×20 stored, left half red and right half blue, with EXIF 'rotate 90° clockwise to view'."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    return encoded(Image.fromarray(pixels), "JPEG", exif=exif.tobytes(), quality=95)


# The bad files and the reason each must be skipped with.
BAD = {
    f"{CAT}/vide.png": EMPTY_FILE,
    f"{CAT}/coupé.png": UNREADABLE,
    f"{DOG}/切れた.jpg": UNREADABLE,
    f"{DOG}/corrupt.png": UNREADABLE,
    f"{CAT}/notes.jpg": NOT_IMAGE_CONTENT,
    f"{CAT}/readme.txt": NOT_IMAGE,
    f"{DOG}/bombe.png": TOO_LARGE,
    f"{CAT}/.DS_Store": HIDDEN,
    f"{DOG}/Thumbs.db": HIDDEN,
    f"{CAT}/.ipynb_checkpoints/": HIDDEN,
    "__MACOSX/": HIDDEN,
    f"{CAT}/lien dehors.png": OUTSIDE_LINK,
    f"{DOG}/dossier dehors/": OUTSIDE_LINK,
}
ODD = [f"{CAT}/gris 16 bits.png", f"{CAT}/cmyk.jpg", f"{CAT}/palette transparente.png",
       f"{DOG}/gris alpha.png", f"{DOG}/animé.gif", f"{DOG}/tourné.jpg", f"{CAT}/1x1.png"]


@pytest.fixture
def messy(tmp_path) -> Path:
    root = make_image_folder(tmp_path / "mes images", num_classes=2, per_class=8, size=32, names=[CAT, DOG])
    rng = np.random.default_rng(1)
    write(root / CAT / "é 1.png", encoded(make_image(0, 32, rng), "PNG"))
    write(root / DOG / "写真 2.jpg", encoded(make_image(1, 32, rng), "JPEG"))
    good_png, good_jpg = encoded(make_image(0, 32, rng), "PNG"), encoded(make_image(1, 32, rng), "JPEG")
    noise = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "RGB")

    # Odd but valid.
    write(root / ODD[0], encoded(Image.fromarray(np.arange(1024, dtype=np.uint16).reshape(32, 32) * 60), "PNG"))
    write(root / ODD[1], encoded(noise.convert("CMYK"), "JPEG"))
    write(root / ODD[2], encoded(noise.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG", transparency=0))
    write(root / ODD[3], encoded(noise.convert("LA"), "PNG"))
    frames = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).convert("P") for _ in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    write(root / ODD[4], buf.getvalue())
    write(root / ODD[5], rotated_jpeg())
    write(root / ODD[6], encoded(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))

    # Every kind of bad file.
    write(root / CAT / "vide.png", b"")
    write(root / CAT / "coupé.png", good_png[: len(good_png) // 2])
    write(root / DOG / "切れた.jpg", good_jpg[: len(good_jpg) // 2])
    write(root / DOG / "corrupt.png", b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 255, 300, dtype=np.uint8)))
    write(root / CAT / "notes.jpg", b"not a picture at all\n" * 20)
    write(root / CAT / "readme.txt", b"hello")
    write(root / DOG / "bombe.png", png_header_only(30000, 30000))
    write(root / CAT / ".DS_Store", b"\0\0\0\1Bud1")
    write(root / DOG / "Thumbs.db", b"\xd0\xcf\x11\xe0")
    write(root / CAT / ".ipynb_checkpoints" / "é 1-checkpoint.png", good_png)
    write(root / "__MACOSX" / CAT / "._é 1.png", b"\0\5\26\7")
    outside = tmp_path / "ailleurs"
    write(outside / "secret.png", good_png)
    (root / CAT / "lien dehors.png").symlink_to(outside / "secret.png")
    (root / DOG / "dossier dehors").symlink_to(outside)
    return root


def test_messy_folder_end_to_end(workspace, messy, capsys):
    # scan: every bad file skipped with its reason, the odd ones used, names intact.
    code, out, err = cli(capsys, ["scan", str(messy), "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert report["classes"] == [CAT, DOG]
    skipped = {s["path"]: s["reason"] for s in report["skipped"]}
    assert skipped == BAD
    assert report["counts"] == {CAT: 8 + 1 + 4, DOG: 8 + 1 + 3}

    # train: the bad files never reach training, every used image decodes.
    code, out, err = cli(capsys, ["train", str(messy), *TRAIN])
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "completed" and run["dataset"] == "mes images"
    assert run["num_images"] == 25 and run["test_acc"] is not None
    assert not [w for w in run["warnings"] if "Left out" in w]
    run_dir = workspace.run_dir(run["run_id"])
    assert read_json(run_dir / "labels.json") == [CAT, DOG]

    code, out, _ = cli(capsys, ["runs", "--json"])
    assert [(r["run_id"], r["dataset"], r["status"]) for r in json.loads(out)] == \
        [(run["run_id"], "mes images", "completed")]

    # predict: Unicode paths in, class names out; a bad file gets an error entry, the rest work.
    images = [str(messy / CAT / "é 1.png"), str(messy / DOG / "写真 2.jpg"), str(messy / DOG / ODD[5].split("/")[1]),
              str(messy / CAT / "coupé.png")]
    code, out, _ = cli(capsys, ["predict", "--run", str(run["run_id"]), *images, "--top-k", "2", "--json"])
    assert code == 1  # one image failed
    entries = json.loads(out)["predictions"]
    assert [e["image"] for e in entries] == images
    for entry in entries[:3]:
        assert sorted(p["class"] for p in entry["predictions"]) == [CAT, DOG]
    assert "predictions" not in entries[3] and "truncated" in entries[3]["error"]

    code, out, err = cli(capsys, ["export", "--run", str(run["run_id"]), "--format", "torchscript",
                                  "--out", str(workspace.root / "export été"), "--json"])
    assert code == 0, err
    exported = json.loads(out)
    assert exported["classes"] == [CAT, DOG] and Path(exported["path"]).is_file()
    assert read_json(exported["labels"]) == [CAT, DOG]

    # The EXIF rotation is applied in the pixels training saw: the red half is now on top.
    data = prepare_data(TrainConfig(dataset="mes images", image_size=32, device="cpu"), workspace)
    pixels = data.pixels[data.paths.index(ODD[5])].int()
    top, bottom = pixels[:, 2, 16], pixels[:, 29, 16]
    assert top[0] > 200 and top[2] < 60, top.tolist()  # red
    assert bottom[2] > 200 and bottom[0] < 60, bottom.tolist()  # blue
    tiny = data.pixels[data.paths.index(ODD[6])].int()
    assert tiny[:, 0, 0].tolist() == [10, 20, 30] and (tiny == tiny[:, :1, :1]).all()


def make_hopeless(tmp_path: Path, kind: str) -> Path:
    root = tmp_path / kind
    if kind == "missing":
        return root
    root.mkdir()
    if kind == "loose files":
        make_image_folder(tmp_path / "x", num_classes=1, per_class=3)
        for p in (tmp_path / "x" / "class_0").iterdir():
            p.rename(root / p.name)
    elif kind == "one class":
        make_image_folder(root, num_classes=1, per_class=12, names=["chats"])
    elif kind == "only bad files":
        write(root / "a" / "zero.png", b"")
        write(root / "b" / "notes.jpg", b"text")
        write(root / "b" / ".DS_Store", b"x")
    elif kind == "too few":
        make_image_folder(root, num_classes=2, per_class=1)
    return root


@pytest.mark.parametrize("kind, expected", [
    ("missing", "no folder at that path"),
    ("empty", "no class folders with images"),
    ("loose files", "no class folders with images"),
    ("only bad files", "no class folders with images"),
    ("one class", "only one class"),
    ("too few", "too small for a validation split"),
])
def test_hopeless_training_input_is_one_clear_line(workspace, tmp_path, capsys, kind, expected):
    root = make_hopeless(tmp_path, kind)
    code, out, err = cli(capsys, ["train", str(root), *TRAIN])
    assert code == 2
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]
    assert any(hint in lines[0] for hint in ("Put each class", "give each class", "import a folder"))
    assert "Traceback" not in err and out == ""
    store = RunStore(workspace)
    assert store.list_runs() == []  # refused before a run was recorded
    store.close()


def test_hopeless_imports_are_one_clear_line(workspace, tmp_path, capsys):
    empty_zip = tmp_path / "vide.zip"
    zipfile.ZipFile(empty_zip, "w").close()
    only_junk = tmp_path / "junk"
    write(only_junk / ".DS_Store", b"x")
    write(only_junk / "__MACOSX" / "._a.png", b"x")
    (tmp_path / "empty").mkdir()
    for source in (empty_zip, tmp_path / "empty", only_junk):
        code, out, err = cli(capsys, ["import", str(source), "--name", "x"])
        assert code == 2 and err.startswith("error:") and "Nothing to import" in err, err
        assert "class subfolders" in err and "Traceback" not in err
    code, _, err = cli(capsys, ["import", str(tmp_path / "nowhere"), "--name", "x"])
    assert code == 2 and "does not exist" in err
    assert list(workspace.datasets_dir.iterdir()) == [] and list(workspace.tmp_dir.iterdir()) == []


def test_hopeless_input_in_a_real_process_prints_no_traceback(workspace, tmp_path):
    root = make_hopeless(tmp_path, "one class")
    env = {**os.environ, "RESNET_PILOT_HOME": str(workspace.root), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "resnet_core", "train", str(root), *TRAIN],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "only one class" in proc.stderr and "Put each class" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
