"""What a person reads when a background job (the range test, the race, the label check) fails: the
problem in their words, or plainly a bug whose details go to the server log, never the page."""
from __future__ import annotations

import errno
import logging

from resnet_core.fsutil import os_error_sentence
from resnet_core.runs.runner import USER_PROBLEMS, disk_full_message
from resnet_core.training.engine import is_out_of_memory
from resnet_core.workspace import Workspace

log = logging.getLogger("resnet_pilot.jobs")


def plain_error(e: Exception, workspace: Workspace, activity: str = "the range test",
                known: tuple[type[Exception], ...] = ()) -> str:
    """One sentence about `e`; `activity` names the job in it ("the race"). The problems in
    USER_PROBLEMS and `known` already speak to the user: their own text is the sentence."""
    if isinstance(e, USER_PROBLEMS + known):
        return str(e)
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and is_out_of_memory(e)):
        return (f"{activity} ran out of memory: close other programs or stop a training run, "
                "then try again")
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return disk_full_message(workspace)
    if isinstance(e, FileNotFoundError):
        return (f"a file of the dataset is gone{_named(e)}; rescan the dataset (the Data page, or "
                "`python -m resnet_core scan`), then try again")
    if isinstance(e, PermissionError):
        return os_error_sentence(e)
    log.error("%s failed", activity, exc_info=e)
    return f"{activity} stopped unexpectedly ({type(e).__name__}); try again, and report it if it repeats"


def _named(e: OSError) -> str:
    return f" ({e.filename})" if e.filename else ""
