"""A file error reaches the user as a sentence, never as Python's "[Errno N] ...: 'path'" text."""
from __future__ import annotations

import errno

import pytest

from resnet_core.fsutil import os_error_sentence


@pytest.mark.parametrize(("error", "said"), [
    (PermissionError(errno.EACCES, "Permission denied", "/data/cats"), "no permission to read or write '/data/cats'"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/x.png"), "'/data/x.png' does not exist"),
    (OSError(errno.ENOSPC, "No space left on device", "/ws/run.pt"), "the disk is full (writing '/ws/run.pt')"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/data/a.png"), "'/data/a.png' is not a folder"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro"), "'/mnt/ro' is on a read-only disk"),
    (OSError(errno.EIO, "Input/output error", "/data/b.png"), "could not read or write '/data/b.png' (input/output error)"),
    (OSError(errno.EIO, "Input/output error"), "could not read or write a file"),
])
def test_file_errors_read_as_sentences(error, said):
    sentence = os_error_sentence(error)
    assert said in sentence and "Errno" not in sentence


def test_an_error_this_program_raised_with_a_message_keeps_it():
    message = "nothing to resume from: the run has no saved epoch (last.pt)"
    assert os_error_sentence(FileNotFoundError(message)) == message
