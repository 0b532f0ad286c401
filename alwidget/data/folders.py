"""Reading a folder of images: which files are images, and which sub-folders are classes."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Tuple

from alwidget.data.images import IMAGE_EXTENSIONS

__all__ = ["list_folder", "normalise_extensions"]


def list_folder(root: Path, extensions: Optional[Iterable[str]] = None
                ) -> Tuple[List[Tuple[str, Path, Optional[str]]], Optional[List[str]], List[Tuple[str, str]]]:
    """``(entries, classes, skipped)`` of the image files in folder ``root`` (the rules of
    :meth:`~alwidget.data.pool.ImagePool.from_folder`).

    ``entries`` holds ``(id, file, class name or None)`` sorted by id (the POSIX path relative to
    ``root``); ``classes`` the sorted class sub-folders holding images (``None``: no classes);
    ``skipped`` ``(name, reason)`` for image files outside the class sub-folders. Raises
    ``FileNotFoundError``, ``NotADirectoryError`` or ``ValueError`` (no image files), each saying
    what to pass instead.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(
            f"image folder {str(root)!r} does not exist; pass the folder that holds the "
            "images (or one sub-folder of images per class)"
        )
    if not root.is_dir():
        raise NotADirectoryError(
            f"{str(root)!r} is a file, not a folder; pass its folder to from_folder, "
            "or use ImagePool.from_paths([...]) for single files"
        )
    exts = normalise_extensions(extensions)

    def visible(p: Path) -> bool:
        return not p.name.startswith(".") and p.name != "__MACOSX"

    def images_in(folder: Path, recursive: bool) -> List[Path]:
        found = folder.rglob("*") if recursive else folder.iterdir()
        return [
            p
            for p in found
            if p.suffix.lower() in exts
            and not any(part.startswith(".") or part == "__MACOSX"
                        for part in p.relative_to(root).parts)
            and p.is_file()
        ]

    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and visible(p))
    class_files = {d.name: images_in(d, recursive=True) for d in subfolders}
    class_files = {name: files for name, files in class_files.items() if files}
    skipped: List[Tuple[str, str]] = []
    if class_files:
        classes: Optional[List[str]] = sorted(class_files)
        labelled = [(p, name) for name in classes for p in class_files[name]]
        for p in images_in(root, recursive=False):
            skipped.append((p.name, "not inside a class sub-folder; move it into one"))
    else:
        classes = None
        labelled = [(p, None) for p in images_in(root, recursive=False)]
    entries = sorted(((p.relative_to(root).as_posix(), p, c) for p, c in labelled),
                     key=lambda e: e[0])
    if not entries:
        raise ValueError(
            f"no image files in folder {str(root)!r} (looked for {', '.join(sorted(exts))}); "
            "pass extensions=[...] if your images have other extensions"
        )
    return entries, classes, skipped


def normalise_extensions(extensions: Optional[Iterable[str]]) -> Tuple[str, ...]:
    if extensions is None:
        return IMAGE_EXTENSIONS
    if isinstance(extensions, str):
        extensions = [extensions]
    out = []
    for ext in extensions:
        if not isinstance(ext, str) or not ext.strip("."):
            raise ValueError(f"extension {ext!r} is not a file extension such as '.png'")
        out.append("." + ext.lower().lstrip("."))
    return tuple(out)
