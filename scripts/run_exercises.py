"""Run the worked solutions of a chapter's CPU exercises after the chapter itself (what `make exercises` runs).

A chapter's exercises are `**Exercise N** (CPU, about N minutes)` paragraphs followed by a collapsed `Hint`
and a collapsed `Solution`; this script takes the ```python blocks of each CPU exercise's Solution, appends
them to a copy of the chapter and executes it in a fresh kernel (the chapter's cells first, since the
solutions reuse its variables, then the solutions in order, as a reader would run them). The notebook file
is not changed. It prints one line per exercise: whether its solution ran, and how long it took; a solution
that prints a line wider than the book's code column counts as failed. Exercises
marked `(Colab GPU)` are listed and skipped.

Usage: python scripts/run_exercises.py [--timeout SECONDS] [--save DIR] [NOTEBOOK_OR_DIR_OR_PAGE.md ...]
(default: notebooks/ and the book pages with exercises: background, method, reproduce)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).parent))
from check_notebooks import MAX_LINE, text_outputs  # noqa: E402
from execute_notebooks import ROOT, clear, kernel_manager, notebook_paths  # noqa: E402

EXERCISE = re.compile(r"^\*\*Exercise (\d+)\*\* \(([^)]*)\)", re.MULTILINE)
SOLUTION = re.compile(r"`{3,}\{admonition\} Solution\n(.*?)\n`{4}", re.DOTALL)
BLOCK = re.compile(r"```(python|bash)\n(.*?)\n```", re.DOTALL)


def runnable(language: str, code: str) -> str:
    """A solution block as Python: a bash block (the reproduce page's command lines) runs in a shell."""
    if language == "python":
        return code
    return f"import subprocess\nsubprocess.run({code!r}, shell=True, executable='/bin/bash', check=True)"


def exercises(nb) -> list[dict]:
    """[{"number", "where" ("CPU, about 1 minute"), "code" (the Solution's python and bash blocks, in order, as
    one piece of Python)}]."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        starts = list(EXERCISE.finditer(cell.source))
        for k, match in enumerate(starts):
            end = starts[k + 1].start() if k + 1 < len(starts) else len(cell.source)
            text = cell.source[match.start():end]
            solution = SOLUTION.search(text)
            code = "\n\n".join(runnable(*block) for block in BLOCK.findall(solution.group(1))) if solution else ""
            found.append({"number": int(match.group(1)), "where": match.group(2), "code": code})
    return found


def read(path: Path):
    """A chapter notebook as it is, or a book page (`.md`, e.g. the reproduce page's exercises on the
    machinery) as a notebook of one markdown cell, whose solutions then run in a kernel of their own."""
    if path.suffix == ".md":
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(path.read_text())])
    nb = nbformat.read(path, as_version=4)
    clear(nb)
    return nb


def workdir(path: Path) -> str:
    """Where the solutions run: beside a chapter (its relative paths), in a scratch folder for a book page
    (its command lines write result files)."""
    return tempfile.mkdtemp(prefix="exercises-") if path.suffix == ".md" else str(path.parent)


def run(path: Path, timeout: int, save: Path | None = None) -> bool:
    nb = read(path)
    todo = [e for e in exercises(nb) if e["where"].startswith("CPU")]
    for e in exercises(nb):
        if not e["where"].startswith("CPU"):
            print(f"{path.name} exercise {e['number']}: skipped ({e['where']})")
    first = len(nb.cells)
    for e in todo:
        nb.cells.append(nbformat.v4.new_code_cell(e["code"]))
    client = NotebookClient(nb, km=kernel_manager(), timeout=timeout, allow_errors=True, record_timing=True,
                            resources={"metadata": {"path": workdir(path)}})
    start = time.perf_counter()
    client.execute()
    print(f"{path.name}: chapter and solutions ran in {time.perf_counter() - start:.0f} s")
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.with_suffix(".ipynb").name)
    ok = True
    for cell in nb.cells[:first]:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if errors:
            print(f"{path.name}: the chapter itself failed: {errors[0].ename}: {errors[0].evalue}")
            return False
    for e, cell in zip(todo, nb.cells[first:]):
        timing = cell.metadata.get("execution", {})
        seconds = ""
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            from datetime import datetime
            began, ended = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                            for k in ("iopub.execute_input", "shell.execute_reply"))
            seconds = f", {(ended - began).total_seconds():.0f} s"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if not e["code"]:
            print(f"{path.name} exercise {e['number']}: NO SOLUTION CODE ({e['where']})")
            ok = False
        elif errors:
            print(f"{path.name} exercise {e['number']}: FAILED ({e['where']}{seconds}): "
                  f"{errors[0].ename}: {errors[0].evalue}")
            ok = False
        else:
            wide = [line for line in text_outputs(cell) if len(line) > MAX_LINE]
            if wide:
                print(f"{path.name} exercise {e['number']}: ran but printed {len(wide)} lines wider than "
                      f"{MAX_LINE} characters ({e['where']}{seconds}), e.g. {wide[0][:40]!r}...")
                ok = False
            else:
                print(f"{path.name} exercise {e['number']}: ran ({e['where']}{seconds})")
    return ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        default=[ROOT / "notebooks", *(ROOT / "book" / f"{page}.md"
                                                       for page in ("background", "method", "reproduce"))])
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell")
    parser.add_argument("--save", type=Path, default=None,
                        help="also write each executed notebook, solutions and their outputs included, here")
    args = parser.parse_args(argv)
    # command lines in the solutions ("python -m tmml_lite ...") must find this Python, e.g. the project's venv
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    results = [run(path, args.timeout, args.save) for path in notebook_paths(args.paths)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
