"""The command line starts light: `--help` and the commands that neither train nor predict never
load torch (which alone takes seconds and hundreds of MB), and every command still shows in --help.
`recommend` loads torch only to detect this machine's GPU and look for torchvision's ImageNet weight
files: told both (--cpu or --gpu-mem, and --weights), it stays light."""
from __future__ import annotations

import pytest
from cli_helpers import run_cli

from resnet_core.cli import COMMANDS
from resnet_core.data.synthetic import make_image_folder


def test_help_lists_every_command_without_loading_torch(env):
    result = run_cli(["--help"], env)
    assert result["code"] == 0 and result["heavy"] == []
    for name, command in COMMANDS.items():
        assert name in result["out"] and command.summary[:40] in result["out"].replace("\n", " ").replace("  ", " ")


@pytest.mark.parametrize("command", ["scan", "import", "recommend", "runs"])
def test_commands_that_neither_train_nor_predict_do_not_load_torch(command, env, tmp_path):
    folder = make_image_folder(tmp_path / "pets", num_classes=2, per_class=4, size=32)
    args = {"scan": ["scan", str(folder), "--json"],
            "import": ["import", str(folder), "--name", "pets", "--json"],
            "recommend": ["recommend", "--data", str(folder), "--cpu", "--weights", "none", "--json"],
            "runs": ["runs", "--json"]}[command]
    result = run_cli(args, env)
    assert result["code"] == 0, result
    assert result["heavy"] == [], f"{command} loaded {result['heavy']}"


def test_a_training_command_still_gets_its_full_options(env):
    result = run_cli(["train", "--help"], env)
    assert result["code"] == 0 and "--epochs" in result["out"]
