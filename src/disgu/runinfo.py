"""What every run writes beside its outputs so that it can be reproduced: config, seed, versions, revision."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from disgu.atomic import write_json

_PACKAGES = ("disgu", "torch", "numpy", "scipy", "scikit-learn", "h5py", "pillow", "safetensors")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_revision() -> str:
    """The git commit of the disgu source tree (with '+dirty' if it has local changes), or 'unknown'."""
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=src, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def invoked_command() -> list[str]:
    """This process's command line, with `python -m disgu.cli` shown as the `disgu` it stands for."""
    path = Path(sys.argv[0])
    ours = path.name == "__main__.py" and path.parent.parts[-2:] == ("disgu", "cli")
    return ["disgu" if ours else path.name, *sys.argv[1:]]


def run_info(config: Any, seed: int | None, command: list[str] | None = None) -> dict[str, Any]:
    """Everything needed to rerun: resolved config, seed, command line, versions and revision."""
    cfg = asdict(config) if is_dataclass(config) else dict(config)
    return {
        "config": cfg,
        "seed": seed,
        "command": command if command is not None else invoked_command(),
        "versions": package_versions(),
        "git_revision": git_revision(),
        "platform": platform.platform(),
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_run_info(out_dir: str | os.PathLike, config: Any, seed: int | None, name: str = "run_info.json") -> Path:
    path = Path(out_dir) / name
    write_json(path, run_info(config, seed))
    return path
