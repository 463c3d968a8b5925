"""How long a folder upload takes in the browser, from choosing the folder to the imported dataset.

    python scripts/bench_folder_upload.py [--images 20000] [--data fashion-mnist|synthetic] [--out FILE]

Writes the folder (Fashion-MNIST PNGs when the Debian package dataset-fashion-mnist is installed,
generated 32 px PNGs otherwise), starts the dashboard on a free port with a private workspace, and
drives Debian's Chromium as a person does on the Data page: choose the folder, wait until every file
has arrived, click Import folder, wait for the imported dataset. Prints the times and checks that the
dataset holds every image of the folder.
"""
from __future__ import annotations

import argparse
import platform
import re
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


def measure(folder: Path, work: Path) -> dict:
    files = [p for p in folder.rglob("*") if p.is_file()]
    count, size = len(files), sum(p.stat().st_size for p in files)
    (work / "torch_home").mkdir(parents=True, exist_ok=True)
    server = StreamlitServer(home=work / "workspace", torch_home=work / "torch_home", log_path=work / "server.log")
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
            uploader = page.frame_locator(".st-key-data_upload_folder iframe").locator("input[type=file]")
            started = time.perf_counter()
            uploader.set_input_files(str(folder))
            page.get_by_text(f"{count:,} of {count:,} files").wait_for()
            arrived = time.perf_counter()
            keyed(page, "data_upload_dir_import").get_by_role("button").click()
            page.get_by_text(re.compile(rf"^Imported {count:,} files as ")).wait_for()
            imported = time.perf_counter()
            browser.close()
    finally:
        server.stop()
    name = folder.name
    report = dataset_report(get_dataset(name, Workspace.at(work / "workspace")))
    return {"files": count, "mb": size / 1e6, "arrive_s": arrived - started, "import_s": imported - arrived,
            "total_s": imported - started, "images": report.num_images}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--data", choices=["fashion-mnist", "synthetic"], default="fashion-mnist")
    parser.add_argument("--out", type=Path, help="also append the result line to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        work = Path(tmp)
        made = time.perf_counter()
        folder = write_folder(work / "folder" / "fashion", args.images, args.data)
        print(f"Wrote {args.images:,} images in {time.perf_counter() - made:.0f} s; uploading through the Data page…")
        r = measure(folder, work)
    line = (f"{r['files']:,} files ({r['mb']:.1f} MB): all arrived in {r['arrive_s']:.1f} s "
            f"({r['files'] / r['arrive_s']:,.0f} files/s), imported in {r['import_s']:.1f} s, "
            f"{r['total_s']:.1f} s from choosing the folder to the dataset; the dataset holds {r['images']:,} images.")
    print(f"Machine: {platform.machine()}, {platform.python_version()}; {line}")
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    return 0 if r["images"] == r["files"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
