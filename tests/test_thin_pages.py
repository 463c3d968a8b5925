"""Pages stay thin: every function defined in a page draws or reads widgets through Streamlit.

A function in pages/ that makes no call through `st.` (nor through a ui/ helper that does) is logic:
it belongs in resnet_core (mostly resnet_core/views/), where it can be tested without a browser.
Functions nested in a page's functions count too. Read from the source, so nothing runs.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "pages").glob("*.py"))
MAX_PAGE_LINES = 250  # "about 250": a page longer than this has logic to move out


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _calls_any(function: ast.AST, streamlit_names: set[str]) -> bool:
    """True when a call in the function goes through one of these names (`st.button(...)`,
    `st.session_state.get(...)`, `getattr(st, kind)(...)`, `friendly_errors(...)`, `slot.progress(...)`
    on a placeholder st returned), or it sets Streamlit's session state (`st.session_state[k] = v`)."""
    for n in ast.walk(function):
        if isinstance(n, ast.Call) and _names_in(n.func) & streamlit_names:
            return True
        targets = n.targets if isinstance(n, (ast.Assign, ast.Delete)) else [n.target] if isinstance(
            n, ast.AugAssign) else []
        if any("st" in _names_in(t) for t in targets):
            return True
    return False


def _streamlit_objects(tree: ast.AST, streamlit_names: set[str]) -> set[str]:
    """Names bound to what a Streamlit call returned (`slot = st.empty()`, `c1, c2 = st.columns(2)`),
    and what those return in turn."""
    names = set(streamlit_names)
    while True:
        found = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call) and _names_in(n.value.func) & names:
                found |= {t.id for target in n.targets for t in ast.walk(target) if isinstance(t, ast.Name)}
        if found <= names:
            return names
        names |= found


def _ui_helpers() -> set[str]:
    """Names of the ui/ functions that call Streamlit, directly or through another ui helper."""
    functions = {f.name: f for path in sorted((ROOT / "ui").glob("*.py"))
                 for f in _functions(ast.parse(path.read_text(encoding="utf-8")))}
    helpers: set[str] = set()
    while True:
        found = {name for name, f in functions.items() if _calls_any(f, {"st"} | helpers)} - helpers
        if not found:
            return helpers
        helpers |= found


def functions_without_streamlit(path: Path, helpers: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module and node.module.split(".")[0] == "ui" for alias in node.names}
    streamlit = _streamlit_objects(tree, {"st"} | (helpers & imported))
    return [f"{path.name}:{f.lineno} {f.name}" for f in _functions(tree)
            if not _calls_any(f, streamlit - _parameters(f))]  # a parameter hides a global of its name


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    a = function.args
    return {arg.arg for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if arg is not None}


def test_the_pages_are_found():
    assert {p.name for p in PAGES} >= {"home.py", "data.py", "wizard.py", "train.py", "compare.py",
                                       "predict.py", "study.py"}


def test_every_function_in_a_page_calls_streamlit():
    helpers = _ui_helpers()
    assert {"friendly_errors", "dataset_select", "restore_form"} <= helpers  # the helpers are seen
    logic = [name for path in PAGES for name in functions_without_streamlit(path, helpers)]
    assert not logic, ("functions in pages/ that do not call Streamlit; move them into resnet_core "
                       f"(views/) and test them there: {logic}")


def test_the_check_sees_logic_in_a_page(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("import streamlit as st\nfrom ui.shared import friendly_errors\n\n"
                    "def draw(x):\n    st.write(x)\n\n"
                    "def guarded():\n    with friendly_errors('x'):\n        pass\n\n"
                    "def flash(kind):\n    getattr(st, kind)('hi')\n\n"
                    "def label(n):\n    return f'{n} images'\n")
    assert functions_without_streamlit(page, _ui_helpers()) == ["page.py:14 label"]


def test_no_page_is_longer_than_about_250_lines():
    lengths = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PAGES}
    assert not {name: n for name, n in lengths.items() if n > MAX_PAGE_LINES}, lengths
