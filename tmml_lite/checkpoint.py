"""Atomic, safe checkpoint files: safetensors for tensors, JSON for the rest. No pickle anywhere."""

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
