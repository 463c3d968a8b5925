"""Which server folders may be read: anything on localhost; elsewhere only under the data roots,
judged after links are followed."""
from __future__ import annotations

import pytest

from resnet_core.data.server_roots import (
    FolderNotAllowedError,
    check_server_folder,
    folder_policy,
    is_local_address,
)


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1", "127.0.1.1", "::1", "[::1]", " LOCALHOST "])
def test_local_addresses(address):
    assert is_local_address(address)


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "::", "192.168.1.20", "pilot.example.org"])
def test_addresses_others_may_reach(address):
    assert not is_local_address(address)


def test_a_link_under_a_root_is_judged_by_where_it_leads(workspace, tmp_path, monkeypatch):
    root, outside = tmp_path / "shared", tmp_path / "private"
    (root / "pets").mkdir(parents=True)
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("RESNET_PILOT_DATA_ROOTS", f"{tmp_path / 'elsewhere'}:{root}")
    policy = folder_policy("0.0.0.0", workspace)
    check_server_folder(root / "pets", policy)
    check_server_folder(root, policy)
    for path in (root / "escape", outside, "/etc", root / ".." / "private"):
        with pytest.raises(FolderNotAllowedError, match="not under the data roots"):
            check_server_folder(path, policy)
    check_server_folder("/etc", folder_policy("localhost", workspace))  # localhost: unchanged
