"""The one folder where datasets keep what is costly to rebuild (rendered scenes, decompressed members)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$DISGU_CACHE_DIR, else ~/.cache/disgu."""
    return Path(os.environ.get("DISGU_CACHE_DIR", Path.home() / ".cache" / "disgu"))
