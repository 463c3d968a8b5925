"""Which folders on the server the dashboard may read, by where the server listens.

On localhost only the person at this machine can reach the dashboard, and any folder they can read
is theirs to use. A server listening on any other address may be reached by others: then only
folders under the data roots can be read, named in RESNET_PILOT_DATA_ROOTS (paths separated by the
system's path separator, ':' on Linux and macOS) or, when that is unset, as `data_roots` under
`[resnet_pilot]` in the workspace's config.toml. With no roots, no server folder can be read.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from resnet_core.data.scan import DatasetError
from resnet_core.workspace import Workspace

ROOTS_ENV = "RESNET_PILOT_DATA_ROOTS"
CONFIG_FILE = "config.toml"  # in the workspace; section [resnet_pilot]
_LOCAL = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


class FolderNotAllowedError(DatasetError):
    """The folder lies outside the data roots of a server others can reach."""


@dataclass(frozen=True)
class FolderPolicy:
    address: str  # where the server listens ('' = every address)
    local: bool  # True: every folder may be read
    roots: tuple[Path, ...]  # otherwise only folders under these
    source: str  # where the roots were named, in words

    def describe(self) -> str:
        """What the Data page says about reading folders on the server."""
        if self.local:
            return ""
        where = f"on {self.address}" if self.address else "on every network address"
        if not self.roots:
            return (f"This server listens {where}, so others may reach it: reading folders on the server "
                    f"is off until data roots are named in {ROOTS_ENV} or as data_roots under "
                    "[resnet_pilot] in the workspace's config.toml.")
        listed = ", ".join(f"`{root}`" for root in self.roots)
        return (f"This server listens {where}, so others may reach it: only folders under {listed} "
                f"can be read (set in {self.source}).")


def is_local_address(address: str | None) -> bool:
    value = (address or "").strip().lower().strip("[]")
    return value in _LOCAL or value.startswith("127.")


def folder_policy(address: str | None, workspace: Workspace) -> FolderPolicy:
    """The reading rule for a server listening on `address` (Streamlit's server.address)."""
    address = (address or "").strip()
    if is_local_address(address):
        return FolderPolicy(address, True, (), "")
    roots, source = data_roots(workspace)
    return FolderPolicy(address, False, roots, source)


def data_roots(workspace: Workspace) -> tuple[tuple[Path, ...], str]:
    """The data roots and where they were named; the environment variable wins over the file."""
    env = os.environ.get(ROOTS_ENV, "").strip()
    if env:
        return _resolved(env.split(os.pathsep)), ROOTS_ENV
    path = workspace.root / CONFIG_FILE
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8")).get("resnet_pilot", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return (), ""
    value = settings.get("data_roots") if isinstance(settings, dict) else None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return (), ""
    return _resolved(str(v) for v in value), str(path)


def check_server_folder(path: str | os.PathLike, policy: FolderPolicy) -> None:
    """Raise FolderNotAllowedError when the policy does not let this folder be read."""
    if policy.local:
        return
    if not policy.roots:
        raise FolderNotAllowedError(policy.describe())
    # Resolved, links followed: a link under a root that leads elsewhere is judged by where it leads.
    target = Path(path).expanduser().resolve()
    if not any(target == root or target.is_relative_to(root) for root in policy.roots):
        listed = ", ".join(str(root) for root in policy.roots)
        raise FolderNotAllowedError(f"{path} is not under the data roots ({listed}): this server may be "
                                    "reached by others, so only folders under them can be read")


def _resolved(paths) -> tuple[Path, ...]:
    return tuple(Path(p.strip()).expanduser().resolve() for p in paths if p and p.strip())
