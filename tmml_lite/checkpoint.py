"""Atomic, safe checkpoint files: safetensors for tensors, JSON for the rest, no pickle anywhere; and run folders
whose files are committed together (`save_checkpoint`, `read_checkpoint`), for training and for pretraining."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file


def atomic_write(path: str | Path, write) -> None:
    """Call `write(tmp_path)`, then rename over `path`: a crash mid-write never leaves a broken `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes owner-only files; give the usual permissions
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Write tensors as safetensors, atomically. `metadata` values are stored as strings."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def _unreadable(path: Path, error: Exception) -> ValueError:
    return ValueError(f"{path} is not a readable safetensors checkpoint ({error}); it may be corrupt or a "
                      f"pickle file. Delete it and re-run the command that writes it.")


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, with a clear error when it is missing or not a safetensors file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise _unreadable(path, e) from e


def differing_tensors(path_a: str | Path, path_b: str | Path) -> list[str]:
    """Names of the tensors that are not equal (missing, another shape or another value) in two safetensors
    files, sorted; the files' header metadata is not compared."""
    a, b = load_tensors(path_a), load_tensors(path_b)
    return sorted(name for name in set(a) | set(b)
                  if name not in a or name not in b or not torch.equal(a[name], b[name]))


def load_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata in a safetensors file's header (empty if none); reads only the header."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with safe_open(path, framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise _unreadable(path, e) from e


def save_json(path: str | Path, obj) -> None:
    """Write JSON atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True)))


STATE_FILE = "state.json"


def save_checkpoint(run_dir: str | Path, files: dict[str, tuple[dict, dict]], state: dict, counter: str) -> None:
    """Write one checkpoint of a run folder: safetensors `files`, {name: (tensors, header metadata)}, and
    state.json holding `state`, whose `state[counter]` numbers the checkpoint (an epoch, a step).

    The files must change together. Each goes to `<name>.next` first, with the number in its header; then
    state.json, the commit point, names the new number; then the `.next` files are renamed into place. A kill
    anywhere leaves a folder that `read_checkpoint` rolls back or forward to one consistent checkpoint."""
    run_dir, number = Path(run_dir), state[counter]
    for name, (tensors, metadata) in files.items():
        save_tensors(run_dir / f"{name}.next", tensors, {**metadata, counter: number})
    save_json(run_dir / STATE_FILE, state)
    complete_checkpoint(run_dir, files, counter, number)


def complete_checkpoint(run_dir: Path, names, counter: str, number: int) -> None:
    """Rename the `.next` files of the committed checkpoint `number` into place; delete those of a checkpoint
    that was never committed."""
    for name in names:
        pending = run_dir / f"{name}.next"
        if pending.exists():
            if int(load_metadata(pending).get(counter, -1)) == number:
                os.replace(pending, run_dir / name)
            else:
                pending.unlink()


def read_checkpoint(run_dir: str | Path, names, counter: str) -> dict | None:
    """The committed state.json of a run folder written by `save_checkpoint` (None if there is none yet), after
    finishing the save that a kill interrupted, so that the `names` files belong to it."""
    run_dir = Path(run_dir)
    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is corrupt ({e}); delete {run_dir} to start the run again") from e
    complete_checkpoint(run_dir, names, counter, state[counter])
    return state


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state_dict into tensors (for safetensors) and plain JSON-able values."""
    state = optimizer.state_dict()
    tensors, plain = {}, {"param_groups": state["param_groups"], "scalars": {}}
    for pid, slots in state["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value
            else:
                plain["scalars"][f"{pid}.{key}"] = value
    return tensors, plain


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], plain: dict) -> None:
    """Inverse of `optimizer_tensors`."""
    state: dict[int, dict] = {}
    for name, value in list(tensors.items()) + list(plain["scalars"].items()):
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": plain["param_groups"]})
