"""Where ResNet Pilot keeps its things: one folder holding datasets, runs, caches and the run database.

Default ~/.resnet_pilot; the environment variable RESNET_PILOT_HOME moves it, so tests and
parallel users stay apart.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "RESNET_PILOT_HOME"


def default_root() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".resnet_pilot"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def default(cls) -> "Workspace":
        return cls.at(default_root())

    @classmethod
    def at(cls, root: str | os.PathLike) -> "Workspace":
        ws = cls(Path(root).expanduser().resolve())
        for d in (ws.root, ws.datasets_dir, ws.runs_dir, ws.cache_dir, ws.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def tmp_dir(self) -> Path:
        """Scratch space on the same disk, so finished files can be renamed into place."""
        return self.root / "tmp"

    def scratch_dir(self, kind: str) -> Path:
        """A new private folder under tmp/, named '<kind>-pid<pid>-...' so start-up can tell
        whether the process that made it is still alive (and remove it when not)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{kind}-pid{os.getpid()}-", dir=self.tmp_dir))

    @property
    def db_path(self) -> Path:
        return self.root / "runs.sqlite"

    def run_dir(self, run_id: int | str) -> Path:
        return self.runs_dir / str(run_id)

    def contains(self, path: str | os.PathLike) -> bool:
        """True when path (resolved, links followed) lies inside the workspace."""
        try:
            Path(path).resolve().relative_to(self.root)
            return True
        except ValueError:
            return False


