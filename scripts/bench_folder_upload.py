"""How long a folder upload takes in the browser, from choosing the folder to the imported dataset.

    python scripts/bench_folder_upload.py [--images 20000] [--data fashion-mnist|synthetic]
        [--ways folder,zip,path]

Writes the folder (Fashion-MNIST PNGs when the Debian package dataset-fashion-mnist is installed,
generated 32 px PNGs otherwise), starts the dashboard on a free port with a private workspace, and
drives Debian's Chromium as a person does on the Data page: choose the folder (or the folder's .zip,
or type its path on the server), wait until everything has arrived, import, and wait for the scan
report. Prints the times and checks that the dataset holds every image of the folder.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The browser tests' server and Chromium launcher: one way to start the dashboard under Playwright.
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from e2e_helpers import StreamlitServer, keyed, launch_chromium, require_browser, wait_until_idle  # noqa: E402

from resnet_core.data import fashion_mnist  # noqa: E402
from resnet_core.data.registry import dataset_report, get_dataset  # noqa: E402
from resnet_core.data.synthetic import make_image_folder  # noqa: E402
from resnet_core.workspace import Workspace  # noqa: E402

LIMIT_S = 1800


def write_folder(out: Path, images: int, data: str) -> Path:
    if data == "fashion-mnist":
        try:
            return fashion_mnist.write_image_folder(out, images)
        except fashion_mnist.FashionMNISTMissing:
            print("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): generated images instead.")
    per_class = -(-images // 10)
    return make_image_folder(out, num_classes=10, per_class=per_class, size=32)


def upload_folder(page, folder: Path, count: int) -> tuple[float, float]:
    """The folder uploader; returns when the browser had the folder's file list (a person's folder
    dialog closing; Playwright's own setting of 20,000 files takes longer and is left out) and when
    every file had arrived."""
    uploader = page.frame_locator(".st-key-data_upload_folder iframe")
    uploader.locator("input[type=file]").set_input_files(str(folder))
    uploader.get_by_text(re.compile(rf"^{count:,} files .* chosen from")).wait_for()
    started = time.perf_counter()
    page.get_by_text(f"{count:,} of {count:,} files").wait_for()
    arrived = time.perf_counter()
    keyed(page, "data_upload_dir_import").get_by_role("button").click()
    page.get_by_text(re.compile(rf"^Imported {count:,} files as ")).wait_for()
    return started, arrived


def upload_zip(page, archive: Path, count: int) -> tuple[float, float]:
    """The .zip uploader; returns when it began and when the zip was on the server (Import zip enabled)."""
    from playwright.sync_api import expect  # Playwright is imported only once the browser is required
    page.get_by_role("tab", name="Upload a .zip").click()
    started = time.perf_counter()
    keyed(page, "data_upload_zip").locator("input[type=file]").set_input_files(str(archive))
    button = keyed(page, "data_zip_import").get_by_role("button")
    expect(button).to_be_enabled(timeout=LIMIT_S * 1000)
    arrived = time.perf_counter()
    button.click()
    page.get_by_text(re.compile(rf": {count:,} images from {count:,} files in the archive")).wait_for()
    return started, arrived


def add_server_folder(page, folder: Path, count: int) -> tuple[float, float]:
    """A folder on the server: nothing travels."""
    page.get_by_role("tab", name="Folder on the server").click()
    keyed(page, "data_path").locator("input").fill(str(folder))
    started = time.perf_counter()
    keyed(page, "data_path_add").get_by_role("button").click()
    page.get_by_text("Added the folder as").wait_for()
    return started, started


WAYS = {"folder": upload_folder, "zip": upload_zip, "path": add_server_folder}


def measure(way: str, folder: Path, work: Path) -> dict:
    files = [p for p in folder.rglob("*") if p.is_file()]
    count, size = len(files), sum(p.stat().st_size for p in files)
    source = folder
    if way == "zip":
        source = Path(shutil.make_archive(str(work / folder.name), "zip", folder.parent, folder.name))
    home = work / f"workspace-{way}"
    (work / "torch_home").mkdir(parents=True, exist_ok=True)
    server = StreamlitServer(home=home, torch_home=work / "torch_home", log_path=work / f"server-{way}.log")
    sync_playwright = require_browser()
    server.start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(LIMIT_S * 1000)
            page.goto(f"{server.url}/data")
            page.get_by_role("heading", name="Data", exact=True).wait_for()
            wait_until_idle(page, timeout_s=120)
            started, arrived = WAYS[way](page, source, count)
            arrive_s, imported = arrived - started, time.perf_counter()
            # The scan report of the new dataset: the page is ready for the next step.
            page.get_by_test_id("stMetric").filter(has_text="Images").get_by_text(f"{count:,}").wait_for()
            reported = time.perf_counter()
            browser.close()
    finally:
        server.stop()
    report = dataset_report(get_dataset(folder.name, Workspace.at(home)))
    return {"way": way, "files": count, "mb": size / 1e6, "arrive_s": arrive_s, "imported_s": imported - started,
            "report_s": reported - started, "images": report.num_images}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--data", choices=["fashion-mnist", "synthetic"], default="fashion-mnist")
    parser.add_argument("--ways", default="folder", help="comma-separated: folder, zip, path (default: folder)")
    args = parser.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    if unknown := [w for w in ways if w not in WAYS]:
        parser.error(f"unknown way {unknown[0]!r}: choose from {', '.join(WAYS)}")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        work = Path(tmp)
        made = time.perf_counter()
        folder = write_folder(work / "folder" / "fashion", args.images, args.data)
        print(f"Wrote {args.images:,} images in {time.perf_counter() - made:.0f} s.")
        for way in ways:
            r = measure(way, folder, work)
            arrived = (f"all arrived in {r['arrive_s']:.1f} s ({r['files'] / r['arrive_s']:,.0f} files/s), "
                       if r["arrive_s"] else "")
            print(f"{way}: {r['files']:,} files ({r['mb']:.1f} MB): {arrived}dataset imported after "
                  f"{r['imported_s']:.1f} s, scan report shown after {r['report_s']:.1f} s; "
                  f"the dataset holds {r['images']:,} images.", flush=True)
            ok = ok and r["images"] == r["files"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
