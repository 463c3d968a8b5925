"""A failure on a page is a sentence: a file error in words, a bug named by its kind with the details
in the server log; Python's and the libraries' own texts never reach the page."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _failing_page():
    import errno

    from ui.shared import friendly_errors

    with friendly_errors("save the run"):
        raise PermissionError(errno.EACCES, "Permission denied", "/ws/runs/7")
    with friendly_errors("draw the chart"):
        raise RuntimeError("CUDA error: device-side assert triggered")
    with friendly_errors("resume the run"):
        raise FileNotFoundError("nothing to resume from: the run has no saved epoch (last.pt)")


def test_failures_are_told_in_sentences_without_the_library_text():
    at = AppTest.from_function(_failing_page).run()
    assert not at.exception
    permission, bug, ours = (e.value for e in at.error)
    assert permission == ("Could not save the run: no permission to read or write '/ws/runs/7'; check its "
                          "permissions, then try again")
    assert bug.startswith("Could not draw the chart: an unexpected problem (RuntimeError)")
    assert "server log" in bug and "device-side" not in bug
    assert ours == "Could not resume the run: nothing to resume from: the run has no saved epoch (last.pt)"
