"""A command that fails says so in a sentence: a file error in words, a bug by its kind with
--debug for the details; Python's and the libraries' own texts stay out of the message."""
from __future__ import annotations

import errno

import pytest

from resnet_core.cli import main


def _failing_scan(monkeypatch, error: Exception) -> None:
    def fails(_args):
        raise error

    monkeypatch.setattr("resnet_core.cli.scan.run", fails)


@pytest.mark.parametrize(("error", "said", "code"), [
    (PermissionError(errno.EACCES, "Permission denied", "/data/pets"),
     "error: no permission to read or write '/data/pets'; check its permissions, then try again", 2),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/pets"),
     "error: '/data/pets' does not exist (it may have been moved or deleted)", 2),
    (RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"),
     "error: an unexpected problem (RuntimeError); run the command again with --debug for the details", 1),
])
def test_a_failing_command_says_what_went_wrong_in_words(monkeypatch, capsys, workspace, error, said, code):
    _failing_scan(monkeypatch, error)
    assert main(["scan", "anything"]) == code
    err = capsys.readouterr().err
    assert err.startswith(said) and "Errno" not in err and "CUDNN" not in err


def test_with_debug_the_details_are_printed(monkeypatch, capsys, workspace):
    _failing_scan(monkeypatch, RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"))
    assert main(["--debug", "scan", "anything"]) == 1
    assert "CUDNN_STATUS_INTERNAL_ERROR" in capsys.readouterr().err  # the traceback, asked for
