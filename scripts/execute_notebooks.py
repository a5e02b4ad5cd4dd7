"""Re-execute notebooks in place from a clean kernel and store their outputs (what `make notebooks` runs).

Each notebook is cleared first (outputs, execution counts, per-cell timing), then run top to bottom in a
fresh kernel started from *this* Python (so the project's virtual environment is used whatever kernels
are installed elsewhere), with the notebook's folder as working directory, as `pytest --nbval` does.
The stored result is what nbval compares against and what the book renders. A cell that raises stops
the run and leaves the notebook file untouched.

Usage: python scripts/execute_notebooks.py [--timeout SECONDS] [NOTEBOOK_OR_DIR ...]   (default: notebooks/)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]


class CurrentPythonKernelSpecs(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel running in sys.executable."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (ipykernel)",
            language="python",
            resource_dir=str(ROOT),
        )


def notebook_paths(targets) -> list[Path]:
    """The notebooks named by `targets`: files as given, folders as their *.ipynb in name order."""
    notebooks: list[Path] = []
    for target in targets:
        notebooks += sorted(target.glob("*.ipynb")) if target.is_dir() else [target]
    return notebooks


def kernel_manager() -> KernelManager:
    """A manager for a fresh IPython kernel in this Python (`CurrentPythonKernelSpecs`)."""
    return KernelManager(kernel_name="python3", kernel_spec_manager=CurrentPythonKernelSpecs())


def clear(nb) -> None:
    """Remove everything a previous run left in the notebook."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)


def execute(path: Path, timeout: int) -> None:
    nb = nbformat.read(path, as_version=4)
    clear(nb)
    client = NotebookClient(
        nb,
        km=kernel_manager(),
        timeout=timeout,
        record_timing=False,  # timestamps in cell metadata would change the file on every run
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    # Widget state would make every book page load require.js and a widget manager from a CDN, which fails
    # offline; the static book cannot run a widget anyway (each explorer also leaves a static figure).
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[ROOT / "notebooks"])
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)

    notebooks = notebook_paths(args.paths)
    if not notebooks:
        print("execute_notebooks: no notebooks found", file=sys.stderr)
        return 2

    total = time.perf_counter()
    for path in notebooks:
        start = time.perf_counter()
        print(f"executing {path} ...", flush=True)
        try:
            execute(path, args.timeout)
        except CellExecutionError as e:
            print(f"execute_notebooks: {path} failed; the file was left as it was.\n{e}", file=sys.stderr)
            return 1
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"executed {len(notebooks)} notebook(s) in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
