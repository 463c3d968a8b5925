"""'Folder on the server' on a server others can reach reads only under the data roots, and says so;
on localhost any folder can be read, as before."""
from __future__ import annotations

import pytest
from page_helpers import APP, texts
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from resnet_core.data.registry import list_datasets
from resnet_core.data.synthetic import make_image_folder


@pytest.fixture
def listening(request):
    """Streamlit's server.address for one test (the app's own config says localhost)."""
    before = st_config.get_option("server.address")

    def listen(address: str) -> None:
        st_config.set_option("server.address", address)

    yield listen
    st_config.set_option("server.address", before)


@pytest.fixture
def folders(tmp_path):
    inside = make_image_folder(tmp_path / "shared" / "pets", num_classes=2, per_class=4, size=32)
    outside = make_image_folder(tmp_path / "private" / "photos", num_classes=2, per_class=4, size=32)
    return inside, outside


def add_folder(path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/data.py").run()
    at.text_input(key="data_path").input(str(path))
    return at.button(key="data_path_add").click().run()


def test_exposed_server_reads_only_under_the_data_roots(env, folders, listening, monkeypatch, tmp_path):
    inside, outside = folders
    listening("0.0.0.0")
    monkeypatch.setenv("RESNET_PILOT_DATA_ROOTS", str(tmp_path / "shared"))
    at = add_folder(outside)
    assert not at.exception
    assert "not under the data roots" in texts(at.error)
    assert list_datasets(env) == []
    # The tab says the rule before anyone types a path.
    assert f"only folders under `{tmp_path / 'shared'}` can be read" in texts(at.caption)
    for secret in ("/etc", str(tmp_path / "shared" / ".." / "private" / "photos")):
        at.text_input(key="data_path").input(secret)
        at.button(key="data_path_add").click().run()
        assert "not under the data roots" in texts(at.error) and list_datasets(env) == []

    at = add_folder(inside)
    assert not at.exception and not at.error
    assert [d.name for d in list_datasets(env)] == ["pets"]


def test_exposed_server_without_roots_reads_no_folder(env, folders, listening, monkeypatch):
    listening("0.0.0.0")
    monkeypatch.delenv("RESNET_PILOT_DATA_ROOTS", raising=False)
    at = add_folder(folders[0])
    assert "reading folders on the server is off" in texts(at.error)
    assert list_datasets(env) == []


def test_roots_can_come_from_the_workspace_config(env, folders, listening, monkeypatch, tmp_path):
    listening("192.168.1.20")
    monkeypatch.delenv("RESNET_PILOT_DATA_ROOTS", raising=False)
    (env.root / "config.toml").write_text(f'[resnet_pilot]\ndata_roots = ["{tmp_path / "shared"}"]\n')
    assert "not under the data roots" in texts(add_folder(folders[1]).error)
    at = add_folder(folders[0])
    assert not at.error and [d.name for d in list_datasets(env)] == ["pets"]


def test_localhost_reads_any_folder_as_before(env, folders, listening, monkeypatch, tmp_path):
    listening("localhost")
    monkeypatch.setenv("RESNET_PILOT_DATA_ROOTS", str(tmp_path / "shared"))
    at = add_folder(folders[1])  # outside the roots: they only matter to an exposed server
    assert not at.exception and not at.error
    assert [d.name for d in list_datasets(env)] == ["photos"]
    assert "can be read" not in texts(at.caption)
