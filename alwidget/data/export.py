"""Writing labels to files whole or not at all: CSV and JSON exports of a label store."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

__all__ = ["write_csv", "write_json"]

PathLike = Union[str, "os.PathLike[str]"]
FIELDS = ["item_id", "label", "split", "source", "time"]
"""The columns (keys) of an export, in order; ``time`` is in Unix seconds."""


def write_csv(records: List[Dict[str, Any]], path: PathLike) -> Path:
    """``records`` (dicts of :data:`FIELDS`) as a CSV file at ``path``, written atomically."""

    def write(handle: Any) -> None:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "time": repr(record["time"])})

    return _atomic_write(path, write, newline="")


def write_json(records: List[Dict[str, Any]], path: PathLike) -> Path:
    """``records`` as a JSON list at ``path`` (UTF-8, one-space indent), written atomically."""
    return _atomic_write(path, lambda handle: json.dump(records, handle, ensure_ascii=False, indent=1))


def _atomic_write(path: PathLike, write: Any, newline: Optional[str] = None) -> Path:
    target = Path(os.fspath(path))
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(target)!r}: folder {str(target.parent)!r} does not exist"
        )
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
