"""The candidate representations of ``mode="semi"``, as a registry: one entry per kind.

An entry says which ``representation=`` values build it, how (a function of the recipe and the
learner returning a :class:`~alwidget.representation.PoolRepresentation` not built yet, or
``None`` where it does not apply), where it ranks when the labels cannot decide yet
(``preference``) and in the build order (``build_rank``, cheapest first), and how many kNN graphs
it keeps (itself, and a slow cycle's successor). The built-in entries are the pretrained trunk's
features, the trunk learned on this machine (self-supervised, or a given trunk as it is) and the
pixels' principal components; :func:`register_candidate` adds another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Mapping, Optional, Tuple, Union

from ..engine import embed_batch
from ..model.backbone import create_backbone
from ..model.features import weights_digest
from ..data.tensors import PoolTensors, choose_image_size, pool_channels
from ..representation import PoolRepresentation, RepresentationCache, default_contrastive_config, representation_key
from ..representation.pca import PCA_COMPONENTS, PCAEmbedder

if TYPE_CHECKING:  # pragma: no cover
    from ..learner import ActiveLearner
    from .semi import SemiRecipe

__all__ = ["Candidate", "register_candidate", "candidates", "representations", "graphs_kept",
           "STREAM_CHUNK_PIXELS"]

#: Input pixels per chunk of a streamed pretrained pass (32 images at 224 px): a chunk is read and
#: resized in full before its batches go through the trunk.
STREAM_CHUNK_PIXELS = 32 * 224 * 224

Build = Callable[["SemiRecipe", "ActiveLearner", int, object], Optional[Tuple[str, PoolRepresentation]]]


@dataclass(frozen=True)
class Candidate:
    """A kind of candidate representation.

    Attributes
    ----------
    key : str
        The registry key.
    selected_by : tuple of str
        The ``representation=`` values that build it (``"auto"`` builds every entry that applies).
    build : callable
        ``build(recipe, learner, threads, engine)`` → ``(name, PoolRepresentation)`` not built
        yet, or ``None`` where it does not apply (no weights, say).
    preference : float, or a mapping of the built name to one
        Lower first when the labels cannot decide yet.
    build_rank : float, or a mapping of the built name to one
        Lower built first.
    graphs : callable
        ``graphs(pretrained)`` → kNN graphs kept for it (its own and a slow cycle's successor's;
        0 where it does not apply).
    """

    key: str
    selected_by: Tuple[str, ...]
    build: Build
    preference: Union[float, Mapping[str, float]]
    build_rank: Union[float, Mapping[str, float]]
    graphs: Callable[[bool], int]

    def rank(self, name: str) -> Tuple[float, float]:
        """``(preference, build_rank)`` of the representation called ``name`` it built."""
        pick = lambda v: float(v[name]) if isinstance(v, Mapping) else float(v)  # noqa: E731
        return pick(self.preference), pick(self.build_rank)


_REGISTRY: Dict[str, Candidate] = {}


def register_candidate(candidate: Candidate) -> Candidate:
    """Add a kind of candidate (replacing an entry with the same key); returns it."""
    if not candidate.selected_by:
        raise ValueError(f"candidate {candidate.key!r} must name the representation= values that build it")
    _REGISTRY[candidate.key] = candidate
    return candidate


def candidates() -> Dict[str, Candidate]:
    """The registered kinds of candidate, by key."""
    return dict(_REGISTRY)


def representations() -> Tuple[str, ...]:
    """The valid ``representation=`` values: ``"auto"`` and every value an entry is selected by."""
    values = ["auto"]
    for entry in _REGISTRY.values():
        values += [v for v in entry.selected_by if v not in values]
    return tuple(values)


def graphs_kept(representation: str, pretrained: bool) -> int:
    """How many kNN graphs a ``semi`` learner keeps at most: one per candidate the labels may
    choose (the judge keeps the graphs of every candidate at hand), counting a slow cycle's result
    (``"<own>+refined"``, ``"pretrained+adapted"``) beside the candidate it started from.

    ``representation`` is the learner's setting; ``pretrained``: whether pretrained weights were found.
    """
    if representation not in representations():
        raise ValueError(f"unknown representation {representation!r}")
    return sum(entry.graphs(pretrained) for entry in _REGISTRY.values() if representation in entry.selected_by)


# ---------------------------------------------------------------------- the built-in candidates
def _pretrained(recipe: "SemiRecipe", learner: "ActiveLearner", threads: int, engine):
    """The pretrained trunk's features at its own input size, one streamed pass (nothing
    pool-sized but the features is kept)."""
    auto = learner.auto
    if auto is None or not auto.pretrained:
        if recipe.representation_name == "pretrained":
            raise ValueError("representation='pretrained' needs pretrained weights, and there are none: "
                             + (learner.backbone_message or "pass backbone=Backbone(weights='path/to/file.pth')"))
        return None
    chans, native = pool_channels(learner.pool)
    trunk, info = create_backbone(auto.pretrained, in_chans=chans, pretrained=True, weights=auto.weights)
    for p in trunk.parameters():
        p.requires_grad_(False)
    recipe.pretrained_info = info
    size = choose_image_size(native, info.image_size, pretrained=True)
    # 32 images at 224 px per chunk (was 512): the quickstart's kernel peaked at 2.8 GB with 512
    rows = max(embed_batch(size), min(learner.memory_plan.chunk_rows, STREAM_CHUNK_PIXELS // size ** 2))
    tensors = PoolTensors(learner.pool, size, chans, info.mean, info.std, chunk_rows=rows)
    key = representation_key(pool_fingerprint=learner.pool.fingerprint(), backbone=info.name,
                             weights=weights_digest(trunk), image_size=size, in_chans=chans, method="frozen",
                             config=None, seed=learner.seed)
    return "pretrained", PoolRepresentation(tensors, trunk, info.num_features, method="frozen", name="pretrained",
                                            cache=RepresentationCache(key, learner.cache_dir), seed=learner.seed,
                                            num_threads=threads, engine=engine, stream=True,
                                            keep_raw=learner.memory_plan.features_in_memory)


def _own(recipe: "SemiRecipe", learner: "ActiveLearner", threads: int, engine):
    """The learner's own trunk: learned from the pool without labels (SimCLR), or used as it is
    (``frozen``: a given pretrained or trained trunk)."""
    wanted = recipe.representation_name
    own = "frozen" if wanted == "frozen" or (wanted == "auto" and learner._pretrained) else "contrastive"
    info = learner.backbone_info
    config = default_contrastive_config(len(learner.pool), **recipe.representation_config)
    key = representation_key(pool_fingerprint=learner.pool.fingerprint(), backbone=info.name,
                             weights=weights_digest(learner._trunk), image_size=learner.image_size,
                             in_chans=info.in_chans, method=own, config=config, seed=learner.seed)
    rep = PoolRepresentation(learner._tensors, learner._trunk, info.num_features, method=own, config=config,
                             cache=RepresentationCache(key, learner.cache_dir), seed=learner.seed, num_threads=threads,
                             engine=engine, keep_raw=learner.memory_plan.features_in_memory)
    recipe.representation = rep  # the slow cycle fine-tunes this one
    return own, rep


def _pca(recipe: "SemiRecipe", learner: "ActiveLearner", threads: int, engine):
    """The pixels' principal components (seconds to build: the cheap floor)."""
    info = learner.backbone_info
    key = representation_key(pool_fingerprint=learner.pool.fingerprint(), backbone=f"pca{PCA_COMPONENTS}",
                             weights="", image_size=learner.image_size, in_chans=info.in_chans, method="pca",
                             config=None, seed=learner.seed)
    return "pca", PoolRepresentation(
        learner._tensors, PCAEmbedder(info.in_chans * learner.image_size ** 2, PCA_COMPONENTS), PCA_COMPONENTS,
        method="pca", cache=RepresentationCache(key, learner.cache_dir), seed=learner.seed, num_threads=threads,
        engine=engine, keep_raw=learner.memory_plan.features_in_memory)


# preferred: pretrained, contrastive, frozen, pca; built cheapest first: pca (seconds), frozen (a
# feature pass), pretrained (a pass at 224 px), contrastive (minutes of self-supervised training)
register_candidate(Candidate("pretrained", ("auto", "pretrained"), _pretrained, preference=0, build_rank=2,
                             graphs=lambda pretrained: 2 if pretrained else 0))
register_candidate(Candidate("own", ("auto", "contrastive", "frozen"), _own,
                             preference={"contrastive": 1, "frozen": 2}, build_rank={"contrastive": 3, "frozen": 1},
                             graphs=lambda pretrained: 2))
register_candidate(Candidate("pca", ("auto", "pca"), _pca, preference=3, build_rank=0, graphs=lambda pretrained: 1))
