"""Run a lecture notebook headless, the way the static site and the lecture tests see it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat

__all__ = ["NotebookExecutionError", "execute_notebook", "kernel_env", "output_problems"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookExecutionError(RuntimeError):
    """A lecture notebook failed to run; the message (Russian) shows the cell and the error.

    Attributes: ``path``, ``cell_index`` (0-based position among all cells, ``None`` if unknown),
    ``source`` (the cell's code), ``ename``, ``evalue``.
    """

    def __init__(self, message: str, *, path: Path, cell_index: int | None, source: str,
                 ename: str = "", evalue: str = ""):
        super().__init__(message)
        self.path, self.cell_index, self.source = path, cell_index, source
        self.ename, self.evalue = ename, evalue


def kernel_env(static: bool = True, extra: dict | None = None) -> dict:
    """Environment of the kernel: this process's, plus the site switches.

    ``OPTVIZ_STATIC=1`` makes explorers display their static plotly stand-in; ``PLOTLY_RENDERER``
    makes every plotly figure a plain JSON mimebundle (the page builder turns it into HTML).
    """
    env = dict(os.environ)
    if static:
        env["OPTVIZ_STATIC"] = "1"
        env["PLOTLY_RENDERER"] = "plotly_mimetype"
    else:
        env.pop("OPTVIZ_STATIC", None)
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # the debugger's frozen-modules note on stderr
    env.update(extra or {})
    return env


def _cell_label(nb, index: int) -> str:
    code_no = sum(1 for c in nb.cells[: index + 1] if c.cell_type == "code")
    return f"ячейка {index + 1} (код №{code_no})"


def execute_notebook(path, timeout: float = 300, *, static: bool = True, kernel_name: str = "python3",
                     env: dict | None = None) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` headless and return the executed copy (the file is untouched).

    Parameters
    ----------
    path : notebook file; it runs with its own folder as the working directory.
    timeout : seconds allowed for *each* cell.
    static : set ``OPTVIZ_STATIC=1`` in the kernel (explorers show static plotly stand-ins, as
        on the site); ``False`` runs them as live widgets would be built.
    kernel_name : Jupyter kernel; ``python3`` resolves to the interpreter running this function.
    env : extra environment variables for the kernel.

    Raises
    ------
    NotebookExecutionError
        with a Russian message naming the notebook, the failing cell (number and code) and the
        error (or the timeout / the dead kernel).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    current = {"index": None}

    def on_cell_start(cell, cell_index, **_):
        current["index"] = cell_index

    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, allow_errors=False, store_widget_state=False,
        record_timing=False, resources={"metadata": {"path": str(path.parent.resolve())}},
        on_cell_start=on_cell_start,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # not the kernel's transport notice
    )
    try:
        client.execute(env=kernel_env(static, env))
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        idx = current["index"]
        src = nb.cells[idx].source if idx is not None else ""
        where = _cell_label(nb, idx) if idx is not None else "ячейка неизвестна"
        if isinstance(err, CellTimeoutError):
            what = f"превышено время выполнения ячейки ({timeout:g} с)"
            ename, evalue = "CellTimeoutError", what
        elif isinstance(err, DeadKernelError):
            what = "ядро Python завершилось аварийно (не хватило памяти?)"
            ename, evalue = "DeadKernelError", what
        else:
            ename, evalue = err.ename, err.evalue
            tb = _ANSI.sub("", str(err))
            tail = tb.strip().splitlines()[-12:]
            what = f"{ename}: {evalue}\n\nКонец трассировки:\n" + "\n".join(tail)
        msg = (f"Ноутбук {path} не выполнился — ошибка: {where}.\n"
               f"--- код ячейки ---\n{src}\n--- ошибка ---\n{what}")
        raise NotebookExecutionError(msg, path=path, cell_index=idx, source=src, ename=ename,
                                     evalue=evalue) from None
    return nb


_BAD_STDERR = re.compile(r"Traceback|Warning|Error|Exception", re.IGNORECASE)


def output_problems(nb: nbformat.NotebookNode) -> list[str]:
    """What a finished lecture must not show: error outputs, warnings/tracebacks on stderr.

    Returns Russian descriptions (empty list: clean). Used by the site build (``strict``) and by
    the lecture tests.
    """
    problems = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"{_cell_label(nb, i)}: ошибка {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr" and _BAD_STDERR.search(out.text):
                first = _ANSI.sub("", out.text).strip().splitlines()[0][:200]
                problems.append(f"{_cell_label(nb, i)}: предупреждение/ошибка в stderr: {first}")
            elif out.output_type in ("display_data", "execute_result"):
                text = out.get("data", {}).get("text/plain", "")
                if isinstance(text, str) and text.startswith("Traceback"):
                    problems.append(f"{_cell_label(nb, i)}: трассировка в выводе")
    return problems


