"""Refuse to build the book from notebooks whose stored outputs are not one clean, successful run.

The book renders the outputs stored in notebooks/*.ipynb (`execute_notebooks: off`), so a notebook that
raised, or was run out of order, or was never run, would silently become a broken page. `make book`
runs this first. A notebook passes when:

- its first cell is a markdown cell whose first line is a `# Title`;
- every code cell with source was executed (execution_count set);
- execution counts are 1, 2, ..., n from top to bottom (one clean run of the whole notebook);
- no output is an error, except in cells tagged `raises-exception` (an error shown on purpose);
- no line of code, and no line of printed text output, is longer than the book's code column
  (`MAX_LINE` characters), so that nothing scrolls sideways (tests/test_book_browser.py checks the
  rendered pages themselves);
- its prose lets the tables carry the numbers and speaks of the subject (`prose_problems`): at most
  `MAX_DECIMALS` decimal numbers in the chapter's body (the markdown before `## Exercises`, code blocks and
  math left out), at most `MAX_PLUS_MINUS` "±" in one paragraph, and none of `WORKSHOP_WORDS` in any
  prose, exercises included (how the book is made belongs on the reproduce page; code may use the API).

Usage: python scripts/check_notebooks.py [NOTEBOOK_OR_DIR ...]   (default: notebooks/)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
# Characters of monospace text that fit in a code block of the book at a 1280-pixel-wide window: the
# block is 684 px wide with 32 px of padding, and a character of the theme's 14 px monospace is 8.4 px.
MAX_LINE = 77
MAX_DECIMALS, MAX_PLUS_MINUS = 60, 4
WORKSHOP_WORDS = ("design log", "README", ".csv", "make bench", "_RESULTS", "COMMITTED_", "earlier version",
                  "session")


def prose_problems(nb) -> list[str]:
    """What the chapter's prose does against the book's rules (see the module docstring); empty if none."""
    problems, decimals, body = [], 0, True
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        # code blocks and inline code may name the API; the words count in prose only
        prose = re.sub(r"^```\w*\n.*?^```$|`[^`\n]*`", "", cell.source, flags=re.DOTALL | re.MULTILINE)
        words = [w for w in WORKSHOP_WORDS if w.lower() in prose.lower()]
        if words:
            problems.append(f"{cell_label(i, cell)}: speaks of how the book is made: {', '.join(words)}")
        body = body and not cell.source.lstrip().startswith("## Exercises")
        if not body:
            continue
        text = re.sub(r"`{3,}.*?`{3,}|\$\$.*?\$\$|\$[^$\n]*\$", "", cell.source, flags=re.DOTALL)
        decimals += len(re.findall(r"\d+\.\d+", text))
        for paragraph in text.split("\n\n"):
            if paragraph.count("±") > MAX_PLUS_MINUS:
                problems.append(f"{cell_label(i, cell)}: a paragraph with {paragraph.count('±')} '±' (at most "
                                f"{MAX_PLUS_MINUS}; let a table carry them): {paragraph.strip()[:50]!r}")
    if decimals > MAX_DECIMALS:
        problems.append(f"the body quotes {decimals} decimal numbers (at most {MAX_DECIMALS}; tables carry the "
                        f"numbers, the prose names the few that make the point)")
    return problems


def text_outputs(cell) -> list[str]:
    """The lines of a code cell's printed text that the book shows: streams, and plain-text results shown
    as text (a result that also has HTML, an image or a widget is shown as that instead; a cell tagged
    `remove-output` shows nothing)."""
    if "remove-output" in cell.get("metadata", {}).get("tags", []):
        return []
    lines = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            lines += out.get("text", "").splitlines()
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = out.get("data", {})
            shown_as = ("text/html", "image/png", "image/svg+xml", "application/vnd.jupyter.widget-view+json")
            if "text/plain" in data and not any(k in data for k in shown_as):
                lines += data["text/plain"].splitlines()
    return lines


def shown(path: Path) -> str:
    """The path relative to the working directory when it lies below it, for short messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def cell_label(index: int, cell) -> str:
    first_line = next((line for line in cell.source.splitlines() if line.strip()), "").strip()
    if len(first_line) > 60:
        first_line = first_line[:57] + "..."
    return f"cell {index} ({cell.cell_type}: {first_line!r})"


def check_notebook(path: Path) -> list[str]:
    """Problems found in one notebook, each naming the notebook and the cell; empty if it is fine."""
    name = shown(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # unreadable JSON or not a notebook
        return [f"{name}: cannot read notebook: {e}"]
    problems = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        problems.append(f"{name}: invalid notebook format: {e.message}")

    if not nb.cells:
        return problems + [f"{name}: the notebook has no cells"]
    first = nb.cells[0]
    title = first.source.strip().splitlines()[0] if first.source.strip() else ""
    if first.cell_type != "markdown" or not title.startswith("# ") or not title[2:].strip():
        problems.append(f"{name}: cell 0 must be a markdown cell starting with a '# Title' line")

    expected = 1
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"{name}: {cell_label(i, cell)}"
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and "raises-exception" not in tags:
                problems.append(f"{where}: error output {out.get('ename')}: {out.get('evalue')}")
        for kind, lines in (("code", cell.source.splitlines()), ("output", text_outputs(cell))):
            for n, line in enumerate(lines, 1):
                if len(line) > MAX_LINE:
                    problems.append(f"{where}: {kind} line {n} has {len(line)} characters, more than the "
                                    f"{MAX_LINE} the book's code column shows: {line[:40]!r}...")
        if not cell.source.strip():
            continue  # Jupyter does not execute empty cells
        count = cell.get("execution_count")
        if count is None:
            problems.append(f"{where}: never executed")
        elif count != expected:
            problems.append(
                f"{where}: execution_count {count}, expected {expected} "
                "(cells must come from one clean top-to-bottom run)"
            )
        expected += 1
    return problems + [f"{name}: {p}" for p in prose_problems(nb)]


def main(argv: list[str]) -> int:
    targets = [Path(a) for a in argv] or [ROOT / "notebooks"]
    notebooks: list[Path] = []
    for target in targets:
        if target.is_dir():
            notebooks += sorted(p for p in target.glob("*.ipynb"))
        elif target.exists():
            notebooks.append(target)
        else:
            print(f"check_notebooks: {target} does not exist", file=sys.stderr)
            return 2
    if not notebooks:
        print(f"check_notebooks: no notebooks found in {', '.join(map(str, targets))}", file=sys.stderr)
        return 2

    problems = [p for nb in notebooks for p in check_notebook(nb)]
    if problems:
        print("check_notebooks: the notebooks are not ready for the book:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        print("Fix the notebook, then regenerate outputs with `make notebooks`.", file=sys.stderr)
        return 1
    print(f"check_notebooks: {len(notebooks)} notebook(s) OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
