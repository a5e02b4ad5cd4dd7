"""A resumable CSV of results: one row per finished run, appended as soon as the run ends.

The grids (`grid`) and the premise table (`premises`) keep their results this way, so an interrupted run
continues where it stopped: the cells already in the file are `done` and not run again. For example::

    store = CsvStore(("task", "seed", "acc"), key=("task", "seed"),
                     types={"seed": int, "acc": float})
    path = "results/x.csv"
    if ("shapes", 1) not in store.done(path):
        store.append(path, {"task": "shapes", "seed": 1, "acc": 81.25})
    rows = store.read(path)  # [{"task": "shapes", "seed": 1, "acc": 81.25}]
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class CsvStore:
    """The columns of a results CSV, the columns that name a cell (`key`) and how to read each column back
    (`types`: a column not named there stays a string)."""
    fields: tuple[str, ...]
    key: tuple[str, ...]
    types: dict[str, Callable] = field(default_factory=dict)

    def read(self, *paths) -> list[dict]:
        """The rows of one or more CSVs, typed (a missing file has none; a line cut by a kill is skipped)."""
        rows = []
        for path in paths:
            path = Path(path)
            if not path.exists():
                continue
            with path.open(newline="") as f:
                for row in csv.DictReader(f):
                    if None in row.values() or None in row:  # a partial last line
                        continue
                    try:
                        rows.append({k: self.types.get(k, str)(v) for k, v in row.items()})
                    except ValueError:
                        continue
        return rows

    def cell(self, row: dict) -> tuple:
        """The key of a row: the cell it fills."""
        return tuple(row[k] for k in self.key)

    def done(self, path) -> set[tuple]:
        """The cells that already have a row in `path`."""
        return {self.cell(r) for r in self.read(path)}

    def append(self, path, row: dict) -> None:
        """Append one row to `path` (with the header if the file is new) and flush it to disk."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            if new_file:
                writer.writeheader()
            writer.writerow(row)
