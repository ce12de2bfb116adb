"""A Hugging Face hub cache laid out by hand, so that hub code paths run offline on files the project already has.

The layout is huggingface_hub's own (``models--owner--name/snapshots/<commit>/...`` and ``refs/<branch>``), so
``from_pretrained(repo_id, local_files_only=True)`` and ``snapshot_download(..., local_files_only=True)`` find the
files exactly as they would after a real download.
"""
from __future__ import annotations

import re
from pathlib import Path

STAND_IN_COMMIT = "0" * 40  # for a branch name such as "main": the commit its ref points to


def add_to_hub_cache(cache: Path, repo_id: str, files: Path, revision: str = "main") -> Path:
    """Link every file under the folder ``files`` into ``cache`` as ``repo_id`` at ``revision``; returns the snapshot."""
    commit = revision if re.fullmatch(r"[0-9a-f]{40}", revision) else STAND_IN_COMMIT
    repo = Path(cache) / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    for path in Path(files).rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            link = snapshot / path.relative_to(files)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
    if commit != revision:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / revision).write_text(commit)
    return snapshot


def use_hub_cache(monkeypatch, cache: Path) -> None:
    """Offline, with ``cache`` as this process's hub cache (huggingface_hub reads it at each call)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))


def hide_wheels(monkeypatch, *modules: str) -> None:
    """Make ``importlib`` report ``modules`` as not installed, as on a machine without their wheels.

    ``importlib.util.find_spec`` returns ``None``, and ``import`` raises ``ModuleNotFoundError``, for a name whose
    ``sys.modules`` entry is ``None``.
    """
    import sys

    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
