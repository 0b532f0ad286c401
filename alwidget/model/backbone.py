"""Create the feature trunk: a timm model (by name) or a user's own ``nn.Module``.

The trunk maps images ``[B, in_chans, H, W]`` to features ``[B, D]``; alwidget owns the
classification head on top (see :mod:`alwidget.uncertainty`), so a timm model is created with
``num_classes=0``.
"""

from __future__ import annotations

import difflib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Tuple, Union
from urllib.parse import urlparse

import torch
from torch import nn

from ._timm import load_timm, register_on_timm_import

# timm is imported on the first backbone created, not here (it costs seconds); alwidget_cnn
# is registered in timm's registry whenever timm gets imported (see alwidget.model._timm)
register_on_timm_import()

DEFAULT_BACKBONE = "alwidget_cnn"
"""The trunk trained on this machine (self-supervised, or from scratch); see :mod:`alwidget.model.cnn`."""

AUTO = "auto"
"""``backbone="auto"`` (the learner's default): :data:`PRETRAINED_BACKBONE` with its ImageNet
weights when they can be had, :data:`DEFAULT_BACKBONE` learned from the pool otherwise."""

PRETRAINED_BACKBONE = "tf_efficientnet_lite0"
"""The pretrained model ``backbone="auto"`` uses: EfficientNet-Lite0 (4.7 M parameters, 0.4
GFLOPs at 224 px, 1,280 features). Chosen for CPU speed (24 photos/s on one core here at 224 px,
decoding included: benchmarks/pretrained_path.py; ResNet-50 is about 10x the compute) and for
its ImageNet top-1 of 75 %, the best accuracy per FLOP among the small models timm has
(MobileNetV3 is faster but weaker as a frozen feature extractor, and Lite0 has no
squeeze-excitation or swish, so it runs well on any CPU backend). See the README's "Which backbone you get"."""

HUB_PROBE_TIMEOUT_S = 3.0
"""Seconds to wait for the weights host before declaring the machine offline."""


@dataclass(frozen=True)
class Backbone:
    """Which trunk a learner uses, with its own settings (``ActiveLearner(backbone=...)``).

    A plain name or module is the same as ``Backbone(name)``: ``backbone="resnet18"`` and
    ``backbone=Backbone("resnet18")`` are one thing.

    Parameters
    ----------
    name : str or nn.Module
        ``"auto"`` (the default: the pretrained :data:`PRETRAINED_BACKBONE` when its weights can be
        had, else :data:`DEFAULT_BACKBONE` learned from the pool), a timm model name, or a user's
        own module mapping images ``[B, C, H, W]`` to features ``[B, D]``.
    pretrained : bool, optional
        Load ImageNet weights (``None``: yes for ``"auto"`` when they can be had, no for a name;
        ``False`` with ``"auto"``: learn the pool from scratch, never look for weights).
    weights : str or Path, optional
        A checkpoint file for the pretrained weights (no hub needed).
    image_size : int, optional
        Side in pixels images are resized to (default: the model's own input size when
        pretrained, else the images' native size clamped to 28-32 px; see
        :func:`~alwidget.data.tensors.choose_image_size`).
    """

    name: Union[str, nn.Module] = AUTO
    pretrained: Optional[bool] = None
    weights: Optional[Union[str, Path]] = None
    image_size: Optional[int] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, (str, nn.Module)):
            raise TypeError(f"a backbone is a timm model name, 'auto' or an nn.Module, got {type(self.name).__name__}")
        if self.image_size is not None and int(self.image_size) < 1:
            raise ValueError(f"image_size must be a positive number of pixels, got {self.image_size}")

    @classmethod
    def of(cls, value: Union[str, nn.Module, "Backbone", dict]) -> "Backbone":
        """``value`` as a :class:`Backbone` (a name, a module, a dict of the fields, or one already)."""
        if isinstance(value, Backbone):
            return value
        if isinstance(value, dict):
            return cls(**value)
        return cls(value)


class PretrainedWeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but are neither on disk nor downloadable."""


@dataclass
class BackboneInfo:
    """What the rest of the model needs to know about a trunk.

    Attributes
    ----------
    name : str
        timm model name, or the class name of a user's module.
    num_features : int
        ``D``, the width of the trunk's output features.
    in_chans : int
        Channels the trunk expects (1 grey, 3 RGB).
    image_size : int or None
        The side (pixels) the model was designed or pretrained for; ``None`` if unknown.
    mean, std : tuple of float
        Per-channel normalisation of inputs scaled to ``[0, 1]``.
    pretrained : bool
        Whether pretrained weights were loaded.
    timm_kwargs : dict
        Keyword arguments that recreate the trunk with ``timm.create_model``.
    """

    name: str
    num_features: int
    in_chans: int
    image_size: Optional[int]
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    pretrained: bool
    timm_kwargs: dict = field(default_factory=dict)


PROBE_MEMORY_S = 300.0
"""A host that did not answer is not probed again for this many seconds (a simulation creates
many learners; each would otherwise wait the probe's 3 s)."""

_PROBE_CACHE: dict = {}


def _probe_host(url_or_host: str, timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether ``host:443`` accepts a connection within ``timeout`` seconds, name lookup included
    (a socket's own timeout does not bound the DNS lookup, so the probe runs on a daemon thread
    that is abandoned when the time is up). A failed probe is remembered for
    :data:`PROBE_MEMORY_S` seconds."""
    import threading
    import time

    host = urlparse(url_or_host).hostname or url_or_host
    failed_at = _PROBE_CACHE.get(host)
    if failed_at is not None and time.monotonic() - failed_at < PROBE_MEMORY_S:
        return False
    answer: list = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="alwidget-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    ok = bool(answer and answer[0])
    if not ok:
        _PROBE_CACHE[host] = time.monotonic()
    return ok


def _cached_weights(pretrained_cfg: dict) -> Optional[str]:
    """Path of already-downloaded weights for a timm pretrained config, if any."""
    hf_id = pretrained_cfg.get("hf_hub_id")
    if hf_id:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - huggingface_hub ships with timm
            return None
        repo, _, revision = hf_id.partition("@")
        for filename in (pretrained_cfg.get("hf_hub_filename") or "model.safetensors", "pytorch_model.bin"):
            hit = try_to_load_from_cache(repo, filename, revision=revision or None)
            if isinstance(hit, str) and os.path.exists(hit):
                return hit
    url = pretrained_cfg.get("url")
    if url:
        hub_dir = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
        if hub_dir.exists():
            return str(hub_dir)
    return None


def _bad_weights_message(name: str, weights: Union[str, Path], exc: BaseException) -> str:
    """One clear line for a weights file timm could not load into ``name``."""
    text = str(exc)
    if "size mismatch" in text or "Missing key" in text or "Unexpected key" in text:
        why = "its tensors do not fit that architecture (it was saved from another model)"
    else:
        why = "it is not a readable checkpoint (truncated or corrupt?)"
    first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    return (f"the weights file {str(weights)!r} could not be loaded into {name!r}: {why} ({first}). "
            f"Pass the file saved from {name!r}, or another backbone name")


def _resolve_pretrained_file(name: str, weights: Optional[Union[str, Path]]) -> Optional[str]:
    """Find a local weights file, or check the hub is reachable; fail fast otherwise."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"weights file {str(path)!r} does not exist; pass the path of a .pth, .bin or "
                ".safetensors file saved from a timm model"
            )
        return str(path)
    timm = load_timm()
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise PretrainedWeightsUnavailable(
            f"timm has no pretrained weights for {name!r}; use pretrained=False or pass "
            "weights='path/to/weights'"
        )
    cfg_dict = cfg.to_dict()
    cached = _cached_weights(cfg_dict)
    if cached:
        return cached
    target = "huggingface.co" if cfg.hf_hub_id else (cfg.url or "")
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "TRUE", "yes"):
        raise PretrainedWeightsUnavailable(
            f"pretrained weights for {name!r} are not on this machine and HF_HUB_OFFLINE is set. "
            "Download them elsewhere and pass weights='path/to/file', or use pretrained=False")
    if not _probe_host(target):
        raise PretrainedWeightsUnavailable(
            f"pretrained weights for {name!r} are not on this machine and cannot be downloaded "
            f"(no connection to {urlparse(target).hostname or target} within "
            f"{HUB_PROBE_TIMEOUT_S:g} s). Download them elsewhere and pass weights='path/to/file', "
            "or use pretrained=False"
        )
    return None  # online: timm downloads as usual


class AutoBackbone:
    """What ``backbone="auto"`` resolved to.

    Attributes
    ----------
    pretrained : str or None
        The pretrained model name when its weights are at hand (a file, the cache, or the hub
        answers), else ``None``.
    weights : str or None
        The weights file (``None``: timm's cache or the hub).
    message : str
        One line for the report and the progress display: what the person gets, and why.
    seconds : float
        How long the decision took (the hub probe is bounded by :data:`HUB_PROBE_TIMEOUT_S`).
    """

    def __init__(self, pretrained: Optional[str], weights: Optional[str], message: str, seconds: float) -> None:
        self.pretrained, self.weights, self.message, self.seconds = pretrained, weights, message, seconds

    def __repr__(self) -> str:
        return f"AutoBackbone(pretrained={self.pretrained!r}, weights={self.weights!r}, message={self.message!r})"


def resolve_auto(weights: Optional[Union[str, Path]] = None, *, name: str = PRETRAINED_BACKBONE) -> AutoBackbone:
    """Decide what ``backbone="auto"`` uses: the pretrained ``name`` when its weights can be had.

    ``weights`` (a file) is used when given: a missing file raises ``FileNotFoundError`` (the
    person asked for it). Otherwise timm's and Hugging Face's caches are looked at, then the hub
    is probed for at most :data:`HUB_PROBE_TIMEOUT_S` seconds (not at all when
    ``HF_HUB_OFFLINE=1``). Offline with nothing cached this returns ``pretrained=None`` and a
    message saying the pool is learned from scratch instead; it never raises for that.
    """
    import time

    t0 = time.perf_counter()
    try:
        file = _resolve_pretrained_file(name, weights)
    except PretrainedWeightsUnavailable as exc:
        why = str(exc)
        if "HF_HUB_OFFLINE" in why or "no connection" in why:
            host = why.split("no connection to ")[-1].split(" within")[0] if "no connection" in why else "the hub"
            why = ("offline: HF_HUB_OFFLINE is set" if "HF_HUB_OFFLINE" in why
                   else f"offline: {host} did not answer within {HUB_PROBE_TIMEOUT_S:g} s")
        return AutoBackbone(None, None, f"no pretrained weights for {name} ({why}); learning the pool from scratch. "
                            f"To use them, pass backbone=Backbone(weights='path/to/{name}.pth')",
                            time.perf_counter() - t0)
    where = f"weights {file}" if file else "weights from the hub"
    return AutoBackbone(name, file, f"pretrained {name} ({where})", time.perf_counter() - t0)


def create_backbone(
    backbone: Union[str, nn.Module] = DEFAULT_BACKBONE,
    *,
    in_chans: int = 1,
    pretrained: bool = False,
    weights: Optional[Union[str, Path]] = None,
) -> Tuple[nn.Module, BackboneInfo]:
    """Create a feature trunk and describe it.

    Parameters
    ----------
    backbone : str or torch.nn.Module
        A timm model name (``timm.list_models()``) or a module mapping ``[B, in_chans, H, W]``
        images to ``[B, D]`` features (its ``num_features`` attribute, if any, gives ``D``;
        otherwise one dry forward pass measures it).
    in_chans : int
        Channels of the images (1 or 3). With pretrained RGB weights and grey images timm
        adapts the first convolution (it sums the RGB filters).
    pretrained : bool
        Load pretrained weights: from ``weights`` when given, else from timm's cache, else
        from the hub. Offline with nothing cached, this raises
        :class:`PretrainedWeightsUnavailable` within a few seconds.
    weights : path, optional
        A local weights file for a timm model (state dict, ``.pth``/``.bin``/``.safetensors``).

    Returns
    -------
    trunk : torch.nn.Module
        Maps ``[B, in_chans, H, W]`` to ``[B, D]``.
    info : BackboneInfo
    """
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 (grey) or 3 (RGB), got {in_chans}")
    if isinstance(backbone, nn.Module):
        if pretrained or weights is not None:
            raise ValueError("pretrained/weights apply to timm model names; load your module's weights yourself")
        num_features = getattr(backbone, "num_features", None)
        if not isinstance(num_features, int):
            with torch.no_grad():
                was_training = backbone.training
                backbone.eval()
                out = backbone(torch.zeros(2, in_chans, 32, 32))
                backbone.train(was_training)
            if out.ndim != 2:
                raise ValueError(
                    f"a custom backbone must return features [B, D]; it returned shape {tuple(out.shape)}. "
                    "Add pooling and flattening at its end"
                )
            num_features = int(out.shape[1])
        info = BackboneInfo(type(backbone).__name__, num_features, in_chans, None, (0.5,) * in_chans, (0.5,) * in_chans, False)
        return backbone, info
    if not isinstance(backbone, str):
        raise TypeError(f"backbone must be a timm model name or an nn.Module, got {type(backbone).__name__}")

    timm = load_timm()
    if not timm.is_model(backbone):
        close = difflib.get_close_matches(backbone, timm.list_models(), n=5, cutoff=0.6)
        raise ValueError(
            f"{backbone!r} is not a timm model name" + (f"; did you mean one of {close}?" if close else "")
            + " (see timm.list_models())"
        )
    kwargs: dict = dict(num_classes=0, in_chans=in_chans)
    if pretrained:
        file = _resolve_pretrained_file(backbone, weights)
        if file is not None:
            kwargs["pretrained_cfg_overlay"] = dict(file=file)
    elif weights is not None:
        raise ValueError("weights= is only used with pretrained=True")
    try:
        trunk = timm.create_model(backbone, pretrained=pretrained, **kwargs).to(memory_format=torch.channels_last)
    except Exception as exc:  # torch.load and load_state_dict raise many kinds
        if not (pretrained and weights is not None):
            raise
        raise ValueError(_bad_weights_message(backbone, weights, exc)) from exc
    cfg = getattr(trunk, "pretrained_cfg", {}) or {}
    size = cfg.get("input_size")
    mean = tuple(cfg.get("mean", (0.5,) * 3))
    std = tuple(cfg.get("std", (0.5,) * 3))
    if len(mean) != in_chans:  # grey input to an RGB-normalised model: average the stats
        mean = (sum(mean) / len(mean),) * in_chans
        std = (sum(std) / len(std),) * in_chans
    info = BackboneInfo(
        name=backbone,
        num_features=int(trunk.num_features),
        in_chans=in_chans,
        image_size=int(size[-1]) if size else None,
        mean=mean,
        std=std,
        pretrained=pretrained,
        timm_kwargs={"in_chans": in_chans, "num_classes": 0},
    )
    return trunk, info


@dataclass
class Trunk:
    """A learner's trunk, as :func:`make_trunk` resolved a :class:`Backbone`.

    Attributes
    ----------
    module : nn.Module
        The trunk: images ``[B, C, S, S]`` to features ``[B, D]``.
    info : BackboneInfo
        Its input needs and feature width.
    image_size : int
        ``S``, the side in pixels the pool's images are resized to.
    name : str or nn.Module
        What was created: a timm name, or the user's module.
    pretrained : bool
        Whether pretrained weights were loaded.
    weights : str or Path, optional
        Their file (``None``: timm's cache or the hub).
    auto : AutoBackbone, optional
        What ``"auto"`` found (``None`` for a named or given backbone).
    """

    module: nn.Module
    info: BackboneInfo
    image_size: int
    name: Union[str, nn.Module]
    pretrained: bool
    weights: Optional[Union[str, Path]]
    auto: Optional[AutoBackbone]


def make_trunk(spec: Backbone, chans: int, native: int, *,
               choose: Callable[[AutoBackbone], Optional[Tuple[Any, bool, Any]]], seed: int, max_size: int) -> Trunk:
    """Resolve ``spec`` for a pool of ``chans``-channel images of native side ``native`` (pixels).

    ``"auto"`` looks for pretrained weights (bounded by the hub probe) and lets ``choose`` (the
    recipe's ``choose_trunk``) pick the trunk, :data:`DEFAULT_BACKBONE` learned from the pool when
    it picks none. The module is created under ``torch.manual_seed(seed)`` (a frozen random trunk
    is reproducible) without touching the global generator. The image size is the spec's, else
    :func:`~alwidget.data.tensors.choose_image_size` (a trunk trained here: at most ``max_size``).
    """
    from ..data.tensors import choose_image_size

    name, pretrained, weights, auto = spec.name, spec.pretrained, spec.weights, None
    if isinstance(name, str) and name == AUTO:
        auto = (AutoBackbone(None, None, "pretrained=False: learning the pool from scratch", 0.0)
                if pretrained is False else resolve_auto(weights))
        name, pretrained, weights = choose(auto) or (DEFAULT_BACKBONE, False, None)
    pretrained = bool(pretrained)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        module, info = create_backbone(name, in_chans=chans, pretrained=pretrained, weights=weights)
    size = int(spec.image_size) if spec.image_size else choose_image_size(
        native, info.image_size, pretrained=pretrained, max_size=max_size)
    return Trunk(module, info, size, name, pretrained, weights, auto)
