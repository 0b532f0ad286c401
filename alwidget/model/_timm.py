"""Import timm lazily, and register alwidget's models in it whenever timm is imported.

Importing timm costs seconds (it pulls in torchvision and parts of ``torch._dynamo``), so
``import alwidget`` does not import it; :func:`load_timm` does, on the first backbone created.
alwidget's own models (:mod:`alwidget.model.cnn`) still appear in timm's registry as soon as
timm is imported by anyone — a user's ``import timm; timm.create_model("alwidget_cnn", ...)``
after ``import alwidget`` keeps working — through an import hook, installed by
:func:`register_on_timm_import`, that removes itself once timm is imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import warnings
from types import ModuleType
from typing import Optional, Sequence

_REGISTRY_MODULE = "alwidget.model.cnn"
_hook_lock = threading.Lock()


def load_timm() -> ModuleType:
    """Import timm with alwidget's models (``alwidget_cnn``, ``alwidget_cnn_wide``) registered.

    Returns
    -------
    types.ModuleType
        The ``timm`` module.
    """
    import timm

    importlib.import_module(_REGISTRY_MODULE)
    return timm


def _register_models() -> None:
    """Register alwidget's models once timm has been imported; never break ``import timm``."""
    try:
        importlib.import_module(_REGISTRY_MODULE)
    except Exception as exc:  # noqa: BLE001 - reported, and raised again by load_timm() when used
        warnings.warn(f"alwidget could not register its models in timm: {exc!r}", RuntimeWarning, stacklevel=2)


class _RegisteringLoader(importlib.abc.Loader):
    """Runs timm's own loader, then registers alwidget's models; leaves no trace on the module."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[ModuleType]:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # the module keeps timm's loader (importlib.resources, reload and pickling read it)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _remove_hook()
        _register_models()


class _TimmImportHook(importlib.abc.MetaPathFinder):
    """A meta-path finder that only answers for ``timm``: it wraps the loader the rest of the
    import system finds. It stays until timm is actually imported (a mere
    ``importlib.util.find_spec("timm")``, as libraries do to test for timm, does not end it)."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != "timm":
            return None
        spec = None
        for finder in list(sys.meta_path):  # the import system's own search, without this hook
            find = getattr(finder, "find_spec", None)
            if find is not None and not isinstance(finder, _TimmImportHook):
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


def _remove_hook() -> None:
    with _hook_lock:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TimmImportHook)]


def register_on_timm_import() -> None:
    """Make alwidget's models appear in timm's registry whenever timm is imported.

    If timm is already imported, this registers them now (cheap: timm is loaded). Otherwise
    it installs an import hook that registers them right after timm's first import (and then
    removes itself), so ``import alwidget`` itself never imports timm. Calling it again is
    harmless.
    """
    if "timm" in sys.modules:
        _register_models()
        return
    with _hook_lock:
        if not any(isinstance(f, _TimmImportHook) for f in sys.meta_path):
            sys.meta_path.insert(0, _TimmImportHook())
