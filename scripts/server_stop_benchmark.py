"""How long the dashboard's server takes to stop on Ctrl-C while a run it started is training.

    python scripts/server_stop_benchmark.py [--repeats 3] [--image-size 32]

Each repeat starts `streamlit run app.py` on a private workspace with a small generated dataset,
starts a long run from the Train page in Chromium (as a person would), waits for its first stored
epoch, then sends SIGINT (what Ctrl-C in the terminal sends) and times the server's exit. It prints
one line a repeat and the median, and checks that the run was stored as interrupted (resumable), not
left running. Needs Playwright and Debian's chromium, as the browser tests do.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from e2e_helpers import StreamlitServer, keyed, launch_chromium, set_number, wait_until_idle  # noqa: E402

from resnet_core.data.importing import import_dataset  # noqa: E402
from resnet_core.data.synthetic import make_image_folder  # noqa: E402
from resnet_core.runs.store import RunStore  # noqa: E402
from resnet_core.workspace import Workspace  # noqa: E402

LOAD_S = 90
EXIT_LIMIT_S = 120  # give up (and say so) rather than wait for ever


def first_stored_epoch(workspace: Workspace, timeout_s: float) -> int:
    store = RunStore(workspace)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = next((r.id for r in store.list_runs() if store.epochs(r.id)), None)
            if run is not None:
                return run
            time.sleep(0.05)
    finally:
        store.close()
    raise SystemExit(f"no epoch was stored within {timeout_s:.0f} s")


def one_stop(browser, folder: Path, image_size: int) -> tuple[float, str]:
    """(seconds from SIGINT to exit, the run's stored status)."""
    from playwright.sync_api import expect

    with tempfile.TemporaryDirectory() as tmp:
        home, torch_home = Path(tmp) / "workspace", Path(tmp) / "torch_home"
        torch_home.mkdir()
        workspace = Workspace.at(home)
        import_dataset(folder, "shapes", workspace)
        server = StreamlitServer(home=home, torch_home=torch_home, log_path=Path(tmp) / "server.log")
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(LOAD_S * 1000)
        expect.set_options(timeout=LOAD_S * 1000)
        try:
            server.start()
            page = context.new_page()
            page.goto(f"{server.url}/train")
            expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
            wait_until_idle(page, LOAD_S)
            set_number(page, "train_image_size", image_size)
            set_number(page, "train_epochs", 200)
            set_number(page, "train_batch_size", 4)
            keyed(page, "train_start").get_by_role("button").click()
            expect(page.get_by_role("heading", name=re.compile(r"Run #\d+"))).to_be_visible()
            run_id = first_stored_epoch(workspace, 300)
            # Ctrl-C in a terminal sends SIGINT to the foreground process group.
            os.killpg(server.process.pid, signal.SIGINT)
            asked = time.perf_counter()
            try:
                server.process.wait(timeout=EXIT_LIMIT_S)
                seconds = time.perf_counter() - asked
            except subprocess.TimeoutExpired:
                seconds = float("inf")
        finally:
            context.close()
            server.stop()
        store = RunStore(workspace)
        try:
            status = store.get_run(run_id).status
        finally:
            store.close()
        return seconds, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        folder = make_image_folder(Path(tmp) / "shapes", num_classes=2, per_class=16, size=args.image_size, seed=5)
        browser = launch_chromium(p)
        times = []
        for i in range(args.repeats):
            seconds, status = one_stop(browser, folder, args.image_size)
            times.append(seconds)
            print(f"repeat {i + 1}: Ctrl-C to exit {seconds:.2f} s; the run was stored as '{status}'", flush=True)
            if status != "interrupted":
                print("  expected 'interrupted': the run would not be offered for resuming", flush=True)
        browser.close()
    print(f"median over {len(times)}: {statistics.median(times):.2f} s from Ctrl-C to the server's exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
