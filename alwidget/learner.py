"""ActiveLearner: the labeling session and its cycle (train → score → query).

The learner decides; the widget and the simulation runner only call it. It owns the seed,
the label store, the model and the latest beliefs over the pool. One cycle runs at a time,
on the caller's thread (:meth:`ActiveLearner.retrain`) or on a worker thread
(:meth:`ActiveLearner.retrain_async`); labels given meanwhile are saved at once and the
finished cycle is marked stale so the next one is due.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import warnings
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._threads import ALL_CORES_FROM, torch_threads, weak_callback
from .data.budget import DEFAULT_MEMORY_LIMIT, GRAPH_BYTES_PER_ITEM, MemoryPlan, plan_memory
from .data.pool import ImagePool
from .data.store import LabelStore
from .session import LabelSession, seed_for
from .persistence import checkpoint_config, load_classifier
from .model.backbone import (AUTO, DEFAULT_BACKBONE, AutoBackbone, Backbone, BackboneInfo, create_backbone,
                             resolve_auto)
from .model.classifier import Classifier, save_checkpoint
from ._deprecated import moved_settings
from ._memory import limit_malloc_arenas, release_free_memory
from ._shutdown import Background, FutureWork, watch
from .engine import Engine, ScoreTask, create_engine
from .engine.scoring import score_pool
from .model.features import compute_features
from .data.tensors import PoolTensors, choose_image_size, pool_channels
from .model.train import TrainConfig, fit
from .progress import CancelToken, CycleCancelled, ProgressCallback, report
from .recipes import Recipe, create_recipe
from .representation.cache import cache_digest
from .representation import PoolRepresentation, Representation, SlowCycles
from .representation.candidates import RepresentationSet
from .semi.choice import RepresentationChoice
from .semi.priors import MIN_VALIDATION_PER_CLASS, estimate_priors
from .report import CycleReport, cycle_report, normalized_entropy
from .stopping import StoppingRule, stop_reason
from .trust.calibration import ForecastCalibration
from .trust.forecast import DEFAULT_CURVE, Forecast, forecast_labels
from .trust.label_issues import LabelCheck, check_inputs, label_issues_of, out_of_sample_probs
from .trust.fold_classifier import fast_cycle_fit_predict
from .strategies import PoolEstimate, Strategy, create_strategy
from .uncertainty import Posterior, UncertaintyEstimator

#: Largest side (pixels) of images for a network trained on this machine (the representation,
#: the from-scratch recipe): one step of the default CNN costs 128 ms at 28 px, 704 ms at 64 px
#: and 13.7 s at 224 px on one core here, so photos are shrunk to what a CPU learns from in
#: the minutes a person spends on the validation set. Pretrained trunks get their own size.
TRAIN_IMAGE_SIZE = 32


@dataclass
class _Model:
    """A trained classifier and the estimate it gave over the pool."""

    classifier: Classifier
    estimate: PoolEstimate
    scores_N: np.ndarray
    uncertainty_N: np.ndarray
    sample_seed: int
    """Seed of the posterior samples: new images are scored with the same dropout masks."""
    inputs: Optional[Tuple[int, int, Tuple[float, ...], Tuple[float, ...]]] = None
    """``(size, in_chans, mean, std)`` of the trunk's inputs (``None``: the learner's own)."""
    class_weights_C: Optional[np.ndarray] = None
    """Per-class factors on the head's beliefs: the label priors over the head's uniform training
    priors (``C * prior``; ``None``: none)."""


def _out_of_memory(exc: BaseException) -> bool:
    """A failed allocation: Python's MemoryError or torch's CPU allocator error."""
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def _streamed_features(trunk: nn.Module, pool: ImagePool, spec: Mapping[str, Any]) -> torch.Tensor:
    """Raw trunk features ``[len(pool), D]`` of any pool read at ``spec``'s size, channels and
    normalisation: one streamed pass, no resized copy of the pool kept."""
    from .representation.builder import embed_pool

    tensors = PoolTensors(pool, spec["size"], spec["in_chans"], spec["mean"], spec["std"], chunk_rows=512)
    return embed_pool(trunk, tensors, stream=True)[0]


_seed_for = seed_for


class ActiveLearner:
    """An active-learning session over an :class:`~alwidget.ImagePool`.

    Parameters
    ----------
    pool : ImagePool
        The images to label. ``pool.truth`` (if any) is used only by simulations
        (``validation_from_truth`` and :mod:`alwidget.simulate`), never for training.
    classes : sequence of str, optional
        Class names; defaults to ``pool.classes``.
    store : LabelStore, str or Path, optional
        Where labels are journaled. A path opens (or resumes) a SQLite store; ``None`` keeps
        labels in memory only and warns once.
    backbone : str, torch.nn.Module or Backbone
        ``"auto"`` (the default): a pretrained EfficientNet-Lite0
        (:data:`~alwidget.model.backbone.PRETRAINED_BACKBONE`) when its ImageNet weights can be had
        (a weights file, timm's or Hugging Face's cache, or the hub when it answers within 3 s),
        and ``"alwidget_cnn"`` learned from the pool in every case; ``backbone_message`` says
        what was found. Or a timm model name, or a module mapping images to features ``[B, D]``.
        Its own settings (pretrained weights, a weights file, the input size) go in a
        :class:`~alwidget.model.backbone.Backbone`, e.g.
        ``Backbone("auto", weights="lite0.pth")`` or ``Backbone("resnet18", pretrained=True)``.
    mode : {"semi", "finetune", "embed"} or Recipe
        How each cycle learns (:mod:`alwidget.recipes`; a registered name or a recipe object
        with its own settings). ``semi`` (the default, :class:`~alwidget.recipes.SemiRecipe`)
        learns representations of the pool once, in the background, and lets the labels choose
        among them; each cycle propagates the labels over a kNN graph of the chosen features
        (Poisson learning) and trains a head on the labels plus the graph's confident
        pseudo-labels: cycles of about a second. ``finetune`` (the old recipe) trains the whole
        network from scratch each cycle; ``embed`` freezes the backbone, caches its features once
        and retrains only the head on the labels.
    strategy : str or Strategy
        Acquisition strategy (see :func:`alwidget.strategies.available_strategies`). The
        default, ``"budget_aware"``, picks typical points of uncovered clusters of the
        representation (TypiClust) while labels are few and the smallest-margin items once
        every class is covered; each report says which rule picked and why. In ``finetune``
        and ``embed`` mode the default is ``"margin"``.
    uncertainty : str or UncertaintyEstimator
        Posterior estimator (``"mc_dropout"`` by default, ``"softmax"``, ...), with its own
        settings when an object, e.g. ``MCDropout(n_samples=30)`` (``T``, posterior samples per
        cycle; 20 by default).
    validation_size : int, optional
        Size of the random validation set (default ``min(100, max(10, N // 10))``).
    validation_from_truth : bool
        Label the validation set from ``pool.truth`` (simulations).
    stopping : StoppingRule, optional
        When :meth:`stop_reason` suggests stopping.
    cache_dir : path, optional
        Folder for the cached representation (``semi`` mode: trunk, features, training
        checkpoints, so a restarted kernel resumes) or features (``embed`` mode).
    num_threads : int, optional
        torch threads during a cycle. By default ``embed`` cycles use one thread (a small
        head trains fastest without threading overhead) and ``finetune`` cycles use all cores
        but one, which stays free for the kernel and the browser: on a busy machine, torch
        threads that compete for cores slow a cycle down several times over (measured here:
        a 500-label Fashion-MNIST cycle took 102 s with two threads on two busy cores, 18 s
        with one). The graph solve and the posterior of a pool of :data:`ALL_CORES_FROM` items or
        more, large products, use every core unless ``num_threads`` is given.
    seed : int
        The one seed: validation set, cold start, initialisation, batch order, dropout masks.
    memory_limit : int, str or None
        Budget for the learner's resident memory (``"2GB"`` by default; ``None``: no limit).
        Pool-sized arrays that do not fit (resized images, features) live on disk in
        ``cache_dir`` in chunks, filled by a streaming, resumable pass; passes over the pool run
        in chunks. See :mod:`alwidget.data.budget` and :attr:`memory_plan`.
    engine : {"local", "ray"} or Engine
        Where the heavy passes over the pool run (the features of every item, the scores):
        this process, or a Ray cluster through Ray Data (``pip install 'alwidget[ray]'``; the
        running Ray is used, ``ray.init(address=...)`` is yours; or pass
        ``RayEngine(address=..., workers=...)``). The widget and the label store stay here.
        ``embed`` mode: the features of the frozen trunk and the scores; ``semi`` mode: the
        representation's features of the pool, their refresh after each slow cycle, and the
        scores (the contrastive and fine-tuning training stay here).
    **recipe_settings
        Settings of the recipe named by ``mode``: those every mode takes (``train``,
        ``pseudo_label_threshold``, ``cold_start``: :class:`~alwidget.recipes.Recipe`) and its own
        (``semi``: ``representation``, ``representation_config``, ``propagation``,
        ``pseudo_fraction``, ``refine_every``, ``slow_cycle``, ``refine_config``: see
        :class:`~alwidget.recipes.SemiRecipe`). ``pretrained``, ``weights`` and ``image_size``
        (now :class:`~alwidget.model.backbone.Backbone`'s) and ``mc_samples`` (now the
        estimator's ``n_samples``) are still accepted here, with a ``FutureWarning``.
    """

    def __init__(
        self,
        pool: ImagePool,
        classes: Optional[Sequence[str]] = None,
        *,
        store: Union[LabelStore, str, Path, None] = None,
        backbone: Union[str, nn.Module, Backbone] = AUTO,
        mode: Union[str, Recipe] = "semi",
        strategy: Union[str, Strategy, None] = None,
        uncertainty: Union[str, UncertaintyEstimator] = "mc_dropout",
        validation_size: Optional[int] = None,
        validation_from_truth: bool = False,
        stopping: Optional[StoppingRule] = None,
        cache_dir: Optional[Union[str, Path]] = None,
        num_threads: Optional[int] = None,
        seed: int = 0,
        memory_limit: Union[int, str, None] = DEFAULT_MEMORY_LIMIT,
        engine: Union[str, Engine] = "local",
        **recipe_settings: Any,
    ) -> None:
        if not isinstance(pool, ImagePool):
            raise TypeError(f"pool must be an alwidget.ImagePool, got {type(pool).__name__}; "
                            "build one with ImagePool.from_arrays/from_folder/from_paths/from_torch")
        if len(pool) == 0:
            raise ValueError("the pool is empty; add images before creating a learner")
        backbone, estimator = moved_settings(recipe_settings, backbone, uncertainty)  # flat ones, deprecated
        try:  # how each cycle learns (alwidget.recipes): learner.recipe
            self.recipe: Recipe = create_recipe(mode, **recipe_settings)
        except TypeError as exc:
            raise TypeError(f"{exc} (settings of mode={mode!r}: {', '.join(sorted(recipe_settings)) or 'none'}; "
                            "ActiveLearner takes no other keyword arguments)") from exc
        limit_malloc_arenas()  # before the first background thread allocates (see alwidget._memory)
        classes = LabelSession.check_classes(classes, pool)  # before the store file is opened
        self.pool = pool
        self.seed = int(seed)
        self.mode = self.recipe.name
        self.stopping = stopping or StoppingRule()
        self.cache_dir = cache_dir
        # background builds use every core, unless told otherwise
        repr_threads = int(num_threads) if num_threads is not None else max(1, os.cpu_count() or 1)
        # the graph solve and the posterior of a large pool are big products, which every core
        # speeds up (unlike a small head's training steps): all cores for them unless num_threads was given
        self._all_cores = int(num_threads) if num_threads is not None else repr_threads
        if num_threads is None:
            num_threads = self.recipe.default_threads(os.cpu_count() or 2)
        self.num_threads = int(num_threads)
        self.estimator = estimator
        self.mc_samples = int(self.estimator.n_samples)
        self.strategy = self._compatible_strategy(create_strategy(strategy or self.recipe.default_strategy))

        self.in_memory = store is None
        if store is None:
            warnings.warn("labels live in memory only and are lost when the kernel stops; "
                          "pass store='labels.db' to keep them", UserWarning, stacklevel=2)
            store = LabelStore(None)
        elif not isinstance(store, LabelStore):
            store = LabelStore(store)
        self.store = store
        self.session = LabelSession(pool, classes, store, validation_size=validation_size, seed=self.seed)
        """The labels, the classes and the validation set (:class:`~alwidget.session.LabelSession`)."""
        self.classes: List[str] = self.session.classes
        self._class_index, self._pos = self.session.class_index, self.session.positions
        self._validation_ids = self.session.validation_ids
        if validation_from_truth:
            self.session.label_validation_from_truth()

        # the backbone: "auto" looks for pretrained weights (bounded by the hub probe) and always
        # keeps the trunk learned on this machine; created once to learn its input needs
        self.auto: Optional[AutoBackbone] = None
        self.backbone_message = ""
        chans, native = pool_channels(pool)
        spec = backbone
        backbone, pretrained, weights, image_size = spec.name, spec.pretrained, spec.weights, spec.image_size
        if isinstance(backbone, str) and backbone == AUTO:
            if pretrained is False:
                self.auto = AutoBackbone(None, None, "pretrained=False: learning the pool from scratch", 0.0)
            else:
                self.auto = resolve_auto(weights)
            self.backbone_message = self.auto.message
            backbone, pretrained, weights = self.recipe.choose_trunk(self.auto) or (DEFAULT_BACKBONE, False, None)
        pretrained = bool(pretrained)
        self._backbone_spec = backbone
        self._pretrained, self._weights = pretrained, weights
        with torch.random.fork_rng(devices=[]):  # a frozen random trunk (embed, no weights) is seeded too
            torch.manual_seed(_seed_for(self.seed, 7))
            self._trunk, self.backbone_info = create_backbone(backbone, in_chans=chans, pretrained=pretrained,
                                                              weights=weights)
        self.image_size = int(image_size) if image_size else choose_image_size(
            native, self.backbone_info.image_size, pretrained=bool(pretrained), max_size=TRAIN_IMAGE_SIZE)
        info = self.backbone_info
        self.engine = create_engine(engine)
        if self.engine.name != "local" and self.recipe.local_engine_only:
            raise ValueError(f"engine={self.engine.name!r} runs the passes of mode='embed' and 'semi'; in "
                             f"mode={self.mode!r} use engine='local'")
        self.memory_plan: MemoryPlan = plan_memory(
            len(pool), image_bytes=info.in_chans * self.image_size ** 2,
            feature_bytes=4 * int(info.num_features or 0), n_classes=len(self.classes),
            sample_bytes=4 * self.mc_samples * len(self.classes), limit=memory_limit,
            graph_bytes=GRAPH_BYTES_PER_ITEM * self.recipe.graphs_kept(
                self.auto is not None and self.auto.pretrained is not None))
        if self.memory_plan.over_budget:
            warnings.warn(f"{self.memory_plan.describe()}: the learner will use more than memory_limit. Raise "
                          "memory_limit, or hold fewer kNN graphs (representation='pca': one; mode='embed': none)",
                          UserWarning, stacklevel=2)
        self._chunked = self.memory_plan.on_disk or self.engine.name != "local"
        # a folder on disk only for what goes there: images past the budget, the recipe's chunks
        need_disk = not self.memory_plan.images_in_memory or self.recipe.needs_disk(self)
        self._disk = self._disk_dir() if need_disk else None
        self._tensors = PoolTensors(
            pool, self.image_size, info.in_chans, info.mean, info.std, chunk_rows=self.memory_plan.chunk_rows,
            folder=None if self.memory_plan.images_in_memory else self._disk / "images-{}".format(cache_digest(
                {"pool": pool.fingerprint(), "size": self.image_size, "in_chans": info.in_chans})))
        self._custom_initial = None if isinstance(backbone, str) else copy.deepcopy(self._trunk)
        self._prior_C: Optional[np.ndarray] = None  # class shares from the labels, and how many labels
        self._prior_n = 0
        self._foreign: Optional[Tuple[Any, ...]] = None  # (key, trunk, raw features) of the last other pool
        self.recipe.setup(self, threads=repr_threads, notify=weak_callback(self._notify))
        self.recipe.bound = True  # its state is this learner's now

        self._lock = self.session.lock
        self._cycle_lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None
        self._future: Optional[Future] = None
        self._token: Optional[CancelToken] = None
        self._model: Optional[_Model] = None
        self._trained_version = -1
        self._last_k: Optional[int] = None
        self._last_topk: Optional[np.ndarray] = None
        self.history: List[CycleReport] = []
        self.last_label_check: Optional[LabelCheck] = None
        self.progress_callbacks: List[ProgressCallback] = []
        # a learner dropped without close() (a notebook cell run again) stops its background work:
        # those threads hold the learner only weakly, and this finalizer cancels them
        self.background = Background()
        """The learner's background work (representation builds, slow cycles, a ``retrain_async``
        cycle, a widget's label check): cancelled together by :meth:`close`, when the learner is
        collected, and when the interpreter exits (:mod:`alwidget._shutdown`)."""
        for name, work in self.recipe.background():
            self.background.add(name, work)
        self._finalizer = weakref.finalize(self, self.background.cancel)
        watch(self.background)
        self.recipe.start(self)

    @property
    def train_config(self) -> TrainConfig:
        """How a cycle trains its head: the recipe's (settable, e.g. between cycles)."""
        return self.recipe.train_config

    @train_config.setter
    def train_config(self, config: TrainConfig) -> None:
        self.recipe.train_config = config

    # ------------------------------------------------------------------ representations (semi mode)
    @property
    def representations(self) -> Optional[RepresentationSet]:
        """The candidate representations (``semi`` mode; ``None`` otherwise): ``.status()``,
        ``.ready()``, ``.members``, ``.cancel()``."""
        return self.recipe.candidates

    @property
    def representation_choice(self) -> Optional[RepresentationChoice]:
        """Which representation the labels chose last, with the cross-validated figures and why."""
        return self.recipe.choice

    @property
    def pretrained_info(self) -> Optional[BackboneInfo]:
        """The pretrained candidate's backbone (``semi`` mode with weights; ``None`` otherwise)."""
        return self.recipe.pretrained_info

    # ------------------------------------------------------------------ memory
    def _disk_dir(self) -> Path:
        """Where pool-sized arrays that do not fit the memory budget live: ``cache_dir``, or a
        temporary folder (with a warning: it does not survive the session)."""
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="alwidget-cache-"))
        warnings.warn(f"{self.memory_plan.describe()}; with no cache_dir the arrays go to {folder}, which a new "
                      "session cannot reuse: pass cache_dir='cache' to keep them", UserWarning, stacklevel=3)
        return folder

    def _estimate(self, head: nn.Module, features: torch.Tensor, sample_seed: int, prog, cancel: CancelToken,
                  class_weights: Optional[np.ndarray]) -> Tuple[PoolEstimate, np.ndarray, np.ndarray]:
        """The pool scored by ``head`` on ``features`` ``[N, D]``: the estimate the strategy reads,
        the normalised entropy ``[N]`` and the strategy's scores ``[N]`` (the entropy when it has none).
        The one place a model's beliefs about the pool are made: each cycle, and a loaded model."""
        n = len(self.pool)
        # samples only where they fit the budget or the strategy reads them
        keep = self.memory_plan.keep_samples or "samples" in self.strategy.requires
        task = ScoreTask(head, self.estimator, self.mc_samples, sample_seed, keep_samples=keep,
                         class_weights=None if class_weights is None else [float(w) for w in class_weights])
        probs, samples, alpha = score_pool(
            task, features, n, engine=self.engine, chunk_rows=self.memory_plan.chunk_rows,
            in_one_call=isinstance(features, torch.Tensor) and not self._chunked,
            threads=self._all_cores if n >= ALL_CORES_FROM else None, progress=prog, cancel=cancel)
        estimate = PoolEstimate(probs_N_C=probs, samples_T_N_C=samples, features_N_D=features.numpy(),
                                alpha_N_C=alpha, **self._label_fields())
        if not np.all(np.isfinite(estimate.probs_N_C)):
            raise FloatingPointError("the model produced non-finite probabilities; the previous model is kept")
        uncertainty = normalized_entropy(estimate.probs_N_C)
        scores = self.strategy.score(estimate)
        return estimate, uncertainty, (uncertainty if scores is None else np.asarray(scores, dtype=np.float64))

    # ------------------------------------------------------------------ store and validation
    @property
    def validation_ids(self) -> List[str]:
        """Ids of the validation set (labelled first; never queried for training)."""
        return list(self._validation_ids)

    def pending_validation(self) -> List[str]:
        """Validation items that still need a label."""
        return self.session.pending_validation()

    # ------------------------------------------------------------------ labels
    def teach(self, ids: Union[str, Sequence[str]], labels: Union[str, int, Sequence[Union[str, int]]],
              source: str = "human") -> list:
        """Label items; each label is on disk when this returns.

        Parameters
        ----------
        ids : str or sequence of str
            Pool ids (one, or several).
        labels : class name or index, or a sequence of them
            One per id.
        source : str
            ``"human"`` (typed), ``"suggestion"`` (an accepted model suggestion), ``"oracle"``,
            or ``"review"`` (a correction made while checking labels: see :meth:`label_issues`).

        Returns
        -------
        list of LabelEvent
            The stored events. Items of the validation set go to the validation split.
        Every label is checked before any is written, so a bad one stores nothing.
        """
        return self.session.teach(ids, labels, source=source)

    def undo(self, item_id: Optional[str] = None):
        """Undo the latest label (or the latest label of ``item_id``); returns the undone event or None."""
        return self.session.undo(item_id)

    @property
    def labels(self) -> Dict[str, str]:
        """Current training labels ``{id: class}``."""
        return self.session.labels

    @property
    def labels_version(self) -> int:
        """Increases with every label or undo in this session."""
        return self.session.version

    # ------------------------------------------------------------------ queries
    def _selectable_mask(self) -> np.ndarray:
        return self.session.selectable_N(self._tensors.failed)

    def selectable_ids(self) -> List[str]:
        """Ids :meth:`query` may return: unlabelled, not in the validation set, readable."""
        mask = self._selectable_mask()
        return [self.pool.ids[i] for i in np.flatnonzero(mask)]

    def query(self, k: int, exclude: Sequence[str] = ()) -> List[str]:
        """The ``k`` most informative unlabelled items, most informative first.

        Never returns labelled or validation items, unreadable images, nor the ids in
        ``exclude`` (e.g. images the person skipped): they are removed before selection, so
        batch-aware strategies build their batch without them. Before the first cycle this
        is the cold start (``random`` or ``kmeans``). Returns fewer than ``k`` ids when fewer
        are left.
        """
        k = int(k)
        if k < 0:
            raise ValueError(f"k must be non-negative, got {k}")
        with self._lock:
            model, version, n_cycles = self._model, self.session.version, len(self.history)
        selectable = self._selectable_mask()
        for item in exclude:
            if item in self._pos:
                selectable[self._pos[item]] = False
        rng = np.random.default_rng(_seed_for(self.seed, 2, n_cycles, version))
        start = self.recipe.start_estimate(self) if model is None else None
        if start is not None:
            picked = self.strategy.select(start, k, selectable, rng)
        elif model is None:
            picked = self._cold_start(k, selectable, rng)
        else:
            picked = self.strategy.select(model.estimate, k, selectable, rng)
        picked = np.asarray(picked, dtype=np.int64)
        with self._lock:
            self._last_k = k
        return [self.pool.ids[i] for i in picked]

    def _labeled_mask(self) -> np.ndarray:
        """``[N]`` bool: which pool items have a training label."""
        return self._training_labels() >= 0

    def _label_fields(self) -> Dict[str, np.ndarray]:
        """``labeled_N`` and ``labels_N`` of a :class:`PoolEstimate`."""
        given = self._training_labels()
        return dict(labeled_N=given >= 0, labels_N=given)

    def _training_labels(self) -> np.ndarray:
        """``[N]`` int: the class index of each pool item's training label, ``-1`` for none."""
        return self.session.training_labels_N()

    def prepare(self, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> None:
        """Run the pass over the pool now, on this thread, instead of inside the first cycle:
        ``embed`` mode computes the frozen trunk's features of every item (a streaming pass in
        chunks when the pool is planned past memory: see :attr:`memory_plan`; cancelled or
        killed, it resumes where it stopped); ``semi`` mode builds every candidate representation.
        ``finetune`` mode reads and resizes every image.

        ``progress(step, fraction)`` reports it; ``cancel`` stops it between chunks (raises
        :class:`~alwidget.progress.CycleCancelled`)."""
        with torch_threads(self.num_threads):
            self.recipe.prepare(self, progress, cancel)

    @property
    def representation(self) -> Optional[PoolRepresentation]:
        """The trunk learned on this machine (``semi`` mode, the self-supervised or given trunk;
        ``None`` otherwise or when ``representation`` names another candidate): ``.status()``,
        ``.ready``, ``.cancel()``, ``.result()``. Every candidate: :attr:`representations`."""
        return self.recipe.representation

    def _cold_start(self, k: int, selectable: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        candidates = np.flatnonzero(selectable)
        if self.recipe.cold_start == "random" or k == 0 or len(candidates) <= k:
            return rng.permutation(candidates)[:k]
        feats = self.recipe.cold_start_features(self)
        if feats is None:  # pixels, shrunk to 8×8, are features enough to spread the first labels out
            x = self._tensors.batch(np.arange(len(self.pool)))
            feats = F.adaptive_avg_pool2d(x, 8).flatten(1).numpy()
        estimate = PoolEstimate(probs_N_C=np.full((len(self.pool), len(self.classes)), 1.0 / len(self.classes)),
                                features_N_D=feats)
        return create_strategy("kmeans").select(estimate, k, selectable, rng)

    @property
    def scores(self) -> Optional[np.ndarray]:
        """The strategy's score of every pool item ``[N]`` (aligned with ``pool.ids``; higher =
        more informative; normalised entropy for batch-only strategies); ``None`` before the
        first cycle."""
        with self._lock:
            return None if self._model is None else self._model.scores_N.copy()

    @property
    def uncertainty(self) -> Optional[np.ndarray]:
        """Normalised predictive entropy of every pool item ``[N]`` in ``[0, 1]``."""
        with self._lock:
            return None if self._model is None else self._model.uncertainty_N.copy()

    def predict_proba(self, ids: Union[str, Sequence[str]]) -> np.ndarray:
        """Predictive probabilities ``[n, C]`` (columns in :attr:`classes` order) of pool items
        from the latest cycle's model."""
        model = self._latest_model()
        if isinstance(ids, str):
            ids = [ids]
        pos = []
        for item in ids:
            if item not in self._pos:
                raise KeyError(f"item {item!r} is not in the pool")
            pos.append(self._pos[item])
        return model.estimate.probs_N_C[np.asarray(pos, dtype=np.int64)].copy()

    def predict(self, ids: Union[str, Sequence[str]]) -> np.ndarray:
        """Deprecated name of :meth:`predict_proba` (probabilities ``[n, C]``).

        In scikit-learn ``predict`` gives classes and ``predict_proba`` probabilities; this
        method gave probabilities, and does so still, with a ``FutureWarning``: a later release
        makes it return class names.
        """
        warnings.warn("learner.predict(ids) returns probabilities, which is predict_proba's job in scikit-learn; "
                      "use learner.predict_proba(ids) (a later release makes predict return class names)",
                      FutureWarning, stacklevel=2)
        return self.predict_proba(ids)

    def evaluate(self, pool: ImagePool) -> float:
        """Accuracy in ``[0, 1]`` of the latest model on another pool with known ``truth``."""
        self._latest_model()
        if not pool.truth:
            raise ValueError("evaluate needs a pool with known truth")
        probs = self.predict_pool(pool)
        y = np.array([self._class_index[pool.truth[i]] for i in pool.ids])
        return float(np.mean(probs.argmax(1) == y))

    def predict_pool(self, pool: ImagePool) -> np.ndarray:
        """Predictive probabilities ``[len(pool), C]`` of the latest model on any pool."""
        return self.posterior(pool).probs_N_C.numpy().astype(np.float64)

    def _latest_model(self) -> _Model:
        with self._lock:
            model = self._model
        if model is None:
            raise RuntimeError("no model yet: label some items and call retrain() first")
        return model

    @property
    def classifier(self) -> Classifier:
        """The latest cycle's trained network, in eval mode: ``classifier(x)`` maps model inputs
        ``[B, C_in, S, S]`` (see :meth:`model_inputs`) to head outputs (logits ``[B, C]``);
        ``classifier.embedder()`` maps them to features ``[B, D]`` and ``classifier.head`` the
        features to outputs. Shared with the learner: copy it (``copy.deepcopy``) before changing
        it. Raises ``RuntimeError`` before the first cycle."""
        return self._latest_model().classifier

    @property
    def class_weights(self) -> Optional[np.ndarray]:
        """Per-class factors ``[C]`` the latest model's beliefs carry on top of its head: the label
        priors over the head's uniform training priors (``C * prior``). ``softmax(classifier(x)) *
        class_weights``, renormalised, is the dropout-free prediction; ``None`` before a cycle."""
        with self._lock:
            model = self._model
        return None if model is None or model.class_weights_C is None else model.class_weights_C.copy()

    def model_inputs(self, ids: Optional[Sequence[str]] = None) -> torch.Tensor:
        """The normalised float inputs ``[n, C_in, S, S]`` the network sees for pool items ``ids``
        (all of the pool, in ``pool.ids`` order, when ``None``): resized, channel-converted and
        normalised exactly as in training and scoring, without augmentation."""
        if ids is None:
            positions = np.arange(len(self.pool))
        else:
            if isinstance(ids, str):
                ids = [ids]
            missing = [i for i in ids if i not in self._pos]
            if missing:
                raise KeyError(f"{len(missing)} item(s) not in the pool, e.g. {missing[0]!r}")
            positions = np.array([self._pos[i] for i in ids], dtype=np.int64)
        return self._tensors.batch(positions)

    def posterior(self, pool: Optional[ImagePool] = None, *, n_samples: Optional[int] = None,
                  seed: Optional[int] = None) -> Posterior:
        """The latest model's posterior over ``pool`` (the learner's own pool when ``None``): the
        trunk runs once, the head ``n_samples`` times (default ``mc_samples``), with the
        cycle's dropout masks unless another ``seed`` is given. Returns a
        :class:`~alwidget.uncertainty.Posterior` (``probs_N_C``, ``samples_T_N_C``, ...)."""
        model = self._latest_model()
        if pool is None or pool is self.pool:  # the cycle's own features of the pool
            feats = torch.as_tensor(np.asarray(model.estimate.features_N_D), dtype=torch.float32)
        else:
            feats = self._features_of(model, pool)
        gen = torch.Generator().manual_seed(model.sample_seed if seed is None else int(seed))
        post = self.estimator.posterior(model.classifier.head, feats,
                                        n_samples=self.mc_samples if n_samples is None else int(n_samples),
                                        generator=gen)
        return post.with_class_weights(model.class_weights_C)

    def _features_of(self, model: _Model, pool: ImagePool) -> torch.Tensor:
        """The head's inputs ``[len(pool), D]`` for another pool: its images read, resized and
        embedded chunk by chunk by the model's trunk (cached for the last pool and trunk, so a
        simulation that evaluates a test pool every cycle embeds it once per representation)."""
        spec = model.inputs or dict(size=self.image_size, in_chans=self.backbone_info.in_chans,
                                    mean=self.backbone_info.mean, std=self.backbone_info.std)
        trunk = model.classifier.trunk
        key = (pool.fingerprint(), spec["size"], spec["in_chans"])
        cached = self._foreign
        if cached is not None and cached[0] == key and cached[1] is trunk:
            raw = cached[2]
        else:
            raw = _streamed_features(trunk, pool, spec)
            self._foreign = (key, trunk, raw)
        with torch.no_grad():
            return model.classifier.norm(raw)

    # ------------------------------------------------------------------ the cycle
    def _notify(self, step: str, fraction: float) -> None:
        for cb in list(self.progress_callbacks):
            try:
                cb(step, fraction)
            except Exception:  # a broken display must not break training
                pass

    def retrain(self, progress: Optional[ProgressCallback] = None,
                cancel: Optional[CancelToken] = None) -> CycleReport:
        """Run one cycle now, on this thread: train, score the pool, report.

        Raises the cycle's exception (after recording a failed :class:`CycleReport`).
        """
        try:
            with self._cycle_lock, torch_threads(self.num_threads):
                return self._cycle(progress, cancel or CancelToken())
        finally:
            release_free_memory()  # the cycle's buffers are free: hand their pages back
            self.recipe.after_cycle()

    def retrain_async(self, progress: Optional[ProgressCallback] = None) -> "Future[CycleReport]":
        """Run one cycle on a worker thread; returns its Future.

        If a cycle is already running, its Future is returned (labels given meanwhile make it
        stale and :attr:`cycle_due` true). Labelling while it runs is allowed and durable.
        """
        with self._lock:
            if self._future is not None and not self._future.done():
                return self._future
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alwidget-cycle")
            self._token = CancelToken()
            self._future = self._executor.submit(self.retrain, progress, self._token)
            self.background.add("cycle", FutureWork(self._future, self._token))
            return self._future

    def cancel(self) -> bool:
        """Ask the running background cycle to stop; returns whether one was running."""
        with self._lock:
            if self._future is None or self._future.done() or self._token is None:
                return False
            self._token.cancel()
            return True

    @property
    def running(self) -> bool:
        """Whether a background cycle is running."""
        with self._lock:
            return self._future is not None and not self._future.done()

    @property
    def cycle_due(self) -> bool:
        """Labels changed since the model was trained (or there is no model yet)."""
        with self._lock:
            return self._trained_version != self.session.version

    def _training_set(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pos_l, y_l = self.session.arrays("train")
        pos_v, y_v = self.session.arrays("validation")
        self._tensors.ensure(np.concatenate([pos_l, pos_v]).tolist())
        keep_l, keep_v = self._tensors.ok(pos_l), self._tensors.ok(pos_v)
        return pos_l[keep_l], y_l[keep_l], pos_v[keep_v], y_v[keep_v]

    def _cycle(self, progress: Optional[ProgressCallback], cancel: CancelToken) -> CycleReport:
        current = {"step": "preparing"}

        def prog(step: str, fraction: float) -> None:
            current["step"] = step
            report(progress, step, fraction)
            self._notify(step, fraction)

        with self._lock:
            version = self.session.version
            cycle_no = len(self.history) + 1
            previous = self._model
        timings: Dict[str, float] = {}
        t_start = time.perf_counter()
        failed_before = set(self._tensors.failed)
        try:
            pos_l, y_l, pos_v, y_v = self._training_set()
            if len(pos_l) == 0:
                raise ValueError("no training labels yet: label the items from query(k) first")
            self._prior_C = estimate_priors(y_v, y_l, len(self.classes))
            self._prior_n = len(y_v) if len(y_v) >= MIN_VALIDATION_PER_CLASS * len(self.classes) else len(y_v) + len(y_l)
            classifier, result, features, timings = self._train(pos_l, y_l, pos_v, y_v, previous, cycle_no, prog,
                                                                cancel)
            t0 = time.perf_counter()
            cancel.raise_if_cancelled()
            prog("score", 0.0)
            sample_seed = _seed_for(self.seed, 3, cycle_no)
            # the head learned from class-balanced batches, as if every class were equally common:
            # Bayes' rule with the label priors gives the beliefs for the pool as it is
            class_weights = self._prior_C * len(self.classes)
            estimate, uncertainty, scores = self._estimate(classifier.head, features, sample_seed, prog, cancel,
                                                           class_weights)
            prog("score", 1.0)
            timings["score"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            labeled = np.zeros(len(self.pool), dtype=bool)
            labeled[pos_l] = True
            rep, self._last_topk = cycle_report(
                cycle=cycle_no, labels_version=version, classes=self.classes, probs_N_C=estimate.probs_N_C,
                uncertainty_N=uncertainty, scores_N=scores, labeled_N=labeled, selectable_N=self._selectable_mask(),
                validation_V=pos_v, y_validation_V=y_v, k=self._last_k or 10, previous_top=self._last_topk,
                strategy=self.strategy.name, estimator=self.estimator.name, train_steps=result.steps,
                train_epochs=result.epochs)
            timings["report"] = time.perf_counter() - t0
            timings["total"] = time.perf_counter() - t_start
            rep.timings = timings
            rep.selection, rep.selection_reason = self.strategy.rule(estimate)
            rep.pseudo_labels = result.pseudo_labels
            self.recipe.describe(self, rep)
            rep.class_priors = {c: float(p) for c, p in zip(self.classes, self._prior_C)}
            rep.unreadable = [(self.pool.ids[p], reason) for p, reason in sorted(self._tensors.failed.items())
                              if p not in failed_before]
            with self._lock:
                self._model = _Model(classifier, estimate, scores, uncertainty, sample_seed,
                                     self.recipe.model_inputs(self),
                                     class_weights)
                self._trained_version = version
                rep.stale = self.session.version != version
                self.history.append(rep)
            prog("done", 1.0)
            return rep
        except BaseException as exc:
            cancelled = isinstance(exc, CycleCancelled)
            if cancelled:
                msg = "the cycle was cancelled"
            elif _out_of_memory(exc):
                msg = (f"out of memory while {current['step']} ({type(exc).__name__}: {exc}); lower image_size, "
                       "or train={'batch_size': 16}, or use mode='embed'")
            else:
                msg = f"{type(exc).__name__}: {exc}"
            rep = CycleReport(cycle=cycle_no, error=msg, cancelled=cancelled, strategy=self.strategy.name,
                              estimator=self.estimator.name, labels_version=version,
                              timings={"total": time.perf_counter() - t_start})
            with self._lock:
                self.history.append(rep)
            prog("failed", 1.0)
            raise

    def _train(self, pos_l, y_l, pos_v, y_v, previous: Optional[_Model], cycle_no: int, prog, cancel):
        """One cycle's training, as the recipe lays it out: ``(classifier, result, features [N, D],
        timings)``, ``timings`` with ``features`` (waiting for them, their pass, the choice of
        representation), ``train`` and the recipe's own steps (``graph`` in ``semi`` mode, part of
        ``train``)."""
        cfg = self.train_config
        pos_fit, y_fit = pos_l, y_l
        threshold = self.recipe.pseudo_label_threshold
        if threshold is not None and previous is not None:
            conf = previous.estimate.probs_N_C.max(1)
            cand = self._selectable_mask() & (conf >= threshold)
            extra = np.flatnonzero(cand)
            extra = extra[np.argsort(-conf[extra], kind="stable")][: 10 * len(pos_l)]
            pos_fit = np.concatenate([pos_l, extra])
            y_fit = np.concatenate([y_l, previous.estimate.probs_N_C[extra].argmax(1)])
        t0 = time.perf_counter()
        # wait for the background work before seeding: it may not touch our generator
        self.recipe.before_fit(self, pos_l, y_l, previous, prog, cancel)
        wait = time.perf_counter() - t0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed_for(self.seed, 5, cycle_no))
            gen = torch.Generator().manual_seed(_seed_for(self.seed, 6, cycle_no))
            t0 = time.perf_counter()
            plan = self.recipe.plan(self, pos_l, y_l, pos_v, pos_fit, y_fit, gen, prog, cancel)
            wait += time.perf_counter() - t0 - sum(plan.timings.values())
            cancel.raise_if_cancelled()
            t0 = time.perf_counter()
            y_v_t = torch.as_tensor(y_v)
            validation = ((lambda: float(F.cross_entropy(self._logits_of(plan.val_outputs()), y_v_t)))
                          if len(pos_v) else None)
            loss_fn = lambda out, y, frac: self.estimator.loss(out, y, progress=frac)  # classes balanced by sampling
            result = fit(plan.module, plan.forward, loss_fn, plan.y_fit, cfg, generator=gen, validation=validation,
                         progress=prog, cancel=cancel)
        timings = dict(plan.timings, train=time.perf_counter() - t0 + sum(plan.timings.values()))
        result.pseudo_labels = plan.n_pseudo
        t0 = time.perf_counter()
        features = self.recipe.features_after(self, plan, prog, cancel)
        timings["features"] = wait + time.perf_counter() - t0
        self.estimator.fit_posterior(plan.head, features[torch.as_tensor(pos_l)], torch.as_tensor(y_l))
        return Classifier(plan.trunk, plan.head, plan.norm).eval(), result, features, timings

    def refine(self, progress: Optional[ProgressCallback] = None) -> Representation:
        """Run the slow cycle now, on this thread: fine-tune the trunk on the current labels (and
        the latest model's confident pseudo-labels), re-embed the pool; the next fast cycle uses
        it. ``semi`` mode only. Returns the new :class:`~alwidget.representation.Representation`."""
        return self.recipe.refine(self, progress)

    @property
    def refine_every(self) -> Optional[int]:
        """Training labels between slow cycles (``None``: off, or a mode without one); settable
        in ``semi`` mode."""
        return None if self.recipe.slow_cycles is None else self.recipe.slow_cycles.every

    @refine_every.setter
    def refine_every(self, value: Optional[int]) -> None:
        self._slow_cycles().every = value

    @property
    def slow_cycle(self) -> str:
        """Where a due slow cycle runs, ``"background"`` or ``"inline"``; settable in ``semi`` mode."""
        return "background" if self.recipe.slow_cycles is None else self.recipe.slow_cycles.where

    @slow_cycle.setter
    def slow_cycle(self, value: str) -> None:
        self._slow_cycles().where = value

    def _slow_cycles(self) -> SlowCycles:
        if self.recipe.slow_cycles is None:
            raise AttributeError(f"mode={self.mode!r} has no slow cycle (mode='semi' has)")
        return self.recipe.slow_cycles

    @property
    def refining(self) -> bool:
        """Whether a background slow cycle (fine-tuning or adapting) is running."""
        return self.recipe.slow_cycles is not None and self.recipe.slow_cycles.running

    @property
    def refine_status(self) -> str:
        """One line: what the slow cycle(s) did last (or why one failed)."""
        return "" if self.recipe.slow_cycles is None else self.recipe.slow_cycles.status

    def _logits_of(self, out: torch.Tensor) -> torch.Tensor:
        """Head outputs as logits for the validation loss (estimators may output something else)."""
        to_logits = getattr(self.estimator, "logits", None)
        return to_logits(out) if callable(to_logits) else out

    # ------------------------------------------------------------------ trust: mislabels, forecast
    def confirm(self, ids: Union[str, Sequence[str]]) -> list:
        """Confirm items' current labels as checked (a ``"review"`` event repeating the label):
        :meth:`label_issues` leaves them out from now on. The training set does not change.

        Returns the stored events. Raises ``KeyError`` for an unknown or unlabelled item
        (nothing is written then)."""
        return self.session.confirm(ids)

    def label_issues(self, n_folds: int = 5, *, method: str = "self_confidence", include_reviewed: bool = False,
                     progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> LabelCheck:
        """Rank the given labels (train and validation) by how likely they are wrong.

        Every labelled item gets probabilities from the fast cycle's head trained on the other
        ``n_folds - 1`` folds (stratified), on the pool's features, with the graph's
        pseudo-labels in ``semi`` mode. cleanlab ranks them (:mod:`alwidget.trust.label_issues`).
        Takes seconds; runs on the calling thread and waits for a running cycle.

        Parameters
        ----------
        n_folds : int
            Folds (at least 2; at most the number of labels).
        method : str
            cleanlab's label-quality score: ``"self_confidence"`` (default),
            ``"normalized_margin"`` or ``"confidence_weighted_entropy"``.
        include_reviewed : bool
            Also list labels already confirmed or corrected in a review (source ``"review"``).
        progress, cancel
            As for :meth:`retrain`.

        Returns
        -------
        LabelCheck
            A sequence of :class:`~alwidget.trust.LabelIssue`, most suspicious first.
        """
        cancel = cancel or CancelToken()
        t_start = time.perf_counter()
        with self._lock:
            version = self.session.version
        train, val = self.store.labels(split="train"), self.store.labels(split="validation")
        items = [i for i in list(train) + list(val) if i in self._pos]
        given = {**train, **val}
        y_N = np.array([self._class_index[given[i]] for i in items], dtype=np.int64)
        n_folds = int(n_folds)
        notes = check_inputs(y_N, n_folds, self.classes)

        def prog(step: str, fraction: float) -> None:
            report(progress, step, fraction)
            self._notify(step, fraction)

        with self._cycle_lock, torch_threads(self.num_threads):
            feats, origin = self.recipe.check_features(self, prog, cancel)
            notes.append(f"features: {origin}")
            pos_N = np.array([self._pos[i] for i in items], dtype=np.int64)
            graph = self.recipe.check_graph(self, prog, cancel)
            fit_predict = fast_cycle_fit_predict(
                feats, pos_N, len(self.classes), estimator=self.estimator, config=self.recipe.check_train_config(self),
                n_samples=self.mc_samples, seed=lambda fold: _seed_for(self.seed, 17, fold), graph=graph,
                unlabelled_N=self._selectable_mask(), pseudo_fraction=getattr(self.recipe, "pseudo_fraction", 0.0),
                propagation=getattr(self.recipe, "propagation", "poisson"), prior_C=self._prior_C,
                prior_labels=self._prior_n, cancel=cancel)
            prog("check labels", 0.0)
            probs_N_C = out_of_sample_probs(y_N, fit_predict, len(self.classes), n_folds=n_folds,
                                            seed=_seed_for(self.seed, 19, len(items)),
                                            cancel=cancel.raise_if_cancelled,
                                            progress=lambda f: prog("check labels", f))
        events = [self.store.get(item) for item in items]
        issues = label_issues_of(items, y_N, probs_N_C, self.classes,
                                 ["validation" if item in val else "train" for item in items],
                                 [e is not None and e.source == "review" for e in events], method=method,
                                 include_reviewed=include_reviewed)
        check = LabelCheck(issues, n_checked=len(items), n_folds=n_folds, method=method,
                           seconds=time.perf_counter() - t_start, labels_version=version, notes=notes)
        self.last_label_check = check
        return check

    def forecast(self, target: Optional[float] = None, *, curve: str = DEFAULT_CURVE, level: float = 0.8,
                 n_boot: int = 200, calibration: Union[str, ForecastCalibration, None] = "default") -> Forecast:
        """How many training labels validation accuracy ``target`` needs, from the cycles so far.

        Fits a learning curve to validation accuracy against labels
        (:func:`alwidget.trust.forecast.forecast_labels`) and solves it for ``target``. The range
        (``level``: the share it claims) comes from what such forecasts got wrong on recorded
        development runs at the same number of cycles (the shipped calibration,
        :mod:`alwidget.trust.calibration`), or, with ``calibration=None``, from a bootstrap of the
        validation set alone.

        Parameters
        ----------
        target : float, optional
            Validation accuracy in ``(0, 1]``; default: the stopping rule's
            ``target_accuracy``.
        curve, level, n_boot, calibration
            See :func:`~alwidget.trust.forecast.forecast_labels`.

        Returns
        -------
        Forecast
            ``forecast.summary()`` reads e.g. ``"≈ 420 labels to 95 % (300–650)"``; with fewer
            than three cycles it says it cannot forecast yet.
        """
        if target is None:
            target = self.stopping.target_accuracy
            if target is None:
                raise ValueError("no target: pass forecast(target=0.95), or set "
                                 "stopping=StoppingRule(target_accuracy=...) on the learner")
        ok = [r for r in list(self.history) if r.error is None and r.n_validation > 0]
        return forecast_labels([r.n_labels for r in ok], [r.accuracy for r in ok], [r.n_validation for r in ok],
                               float(target), curve=curve, level=level, n_boot=n_boot, seed=self.seed,
                               calibration=calibration)

    # ------------------------------------------------------------------ stopping, models, lifecycle
    def stop_reason(self) -> Optional[str]:
        """Why stopping is suggested now (budget, target, plateau), or ``None``."""
        return stop_reason(self.history, self.stopping)

    def save_model(self, path: Union[str, Path]) -> Tuple[Path, Path]:
        """Save the latest model: ``path`` (timm-compatible weights) and ``path`` with ``.json``."""
        with self._lock:
            model = self._model
        if model is None:
            raise RuntimeError("no model yet: call retrain() before save_model")
        cfg = checkpoint_config(model.inputs, self.backbone_info, image_size=self.image_size,
                                timm=isinstance(self._backbone_spec, str),
                                num_features=model.estimate.features_N_D.shape[1], classes=self.classes,
                                estimator=self.estimator, mode=self.mode, seed=self.seed, n_labels=len(self.labels))
        weights = None if model.class_weights_C is None else [float(w) for w in model.class_weights_C]
        return save_checkpoint(path, model.classifier, dict(cfg, sample_seed=model.sample_seed, class_weights=weights))

    def load_model(self, path: Union[str, Path], progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None) -> None:
        """Load a model saved by :meth:`save_model` and score the pool with it (as a cycle does:
        in chunks on the engine when the pool is large)."""
        cfg, classifier = load_classifier(path, self.estimator, self.classes, self.backbone_info.in_chans,
                                          custom_trunk=self._custom_initial, custom_image_size=self.image_size)
        cancel = cancel or CancelToken()
        if cfg["image_size"] == self.image_size:
            features = compute_features(classifier.embedder(), self._tensors, range(len(self.pool)))
        else:  # another input size (a pretrained trunk): one streamed pass, nothing cached
            spec = dict(size=cfg["image_size"], in_chans=cfg["in_chans"], mean=cfg["mean"], std=cfg["std"])
            with torch.no_grad():
                features = classifier.norm(_streamed_features(classifier.trunk, self.pool, spec))
        sample_seed = int(cfg.get("sample_seed", _seed_for(self.seed, 3, 0)))
        class_weights = None if cfg.get("class_weights") is None else np.asarray(cfg["class_weights"], dtype=np.float64)
        # the beliefs the saved cycle gave: its head times its priors
        estimate, unc, scores = self._estimate(classifier.head, features, sample_seed,
                                               lambda step, f: report(progress, step, f), cancel, class_weights)
        with self._lock:
            self._model = _Model(classifier, estimate, scores, unc, sample_seed,
                                 dict(size=cfg["image_size"], in_chans=cfg["in_chans"], mean=tuple(cfg["mean"]),
                                      std=tuple(cfg["std"]), backbone=cfg["backbone"], timm=cfg.get("timm", True)),
                                 class_weights)

    def _compatible_strategy(self, strategy: Strategy) -> Strategy:
        missing = set(strategy.requires) - set(self.estimator.produces) - {"features"}
        if missing:
            need = {"samples": "posterior samples (e.g. uncertainty='mc_dropout', 'ensemble' or 'laplace')",
                    "alpha": "Dirichlet concentrations (uncertainty='evidential')"}
            raise ValueError(f"strategy {strategy.name!r} needs " + " and ".join(need.get(m, m) for m in sorted(missing))
                             + f", which uncertainty={self.estimator.name!r} does not give")
        return strategy

    def set_strategy(self, strategy: Union[str, Strategy], **params: Any) -> None:
        """Switch the acquisition strategy (takes effect at the next query; scores at the next cycle)."""
        self.strategy = self._compatible_strategy(create_strategy(strategy, **params))

    def widget(self, k: int = 12, **kwargs: Any):
        """A :class:`~alwidget.ui.LabelingWidget` over this learner."""
        from .ui import LabelingWidget

        return LabelingWidget(self, k=k, **kwargs)

    def close(self) -> None:
        """Cancel a running cycle, representation build and slow cycle, stop the worker and close
        the store.

        A learner dropped without ``close()`` stops its background work once Python collects it,
        and a script that ends without it has that work cancelled and waited for before the
        interpreter exits (:mod:`alwidget._shutdown`).
        One shown in a widget lives as long as the widget (ipywidgets keeps every open widget):
        before running such a notebook cell again, call ``learner.close()`` (or ``widget.close()``
        and drop both), or the old learner keeps using the cores until its build ends."""
        self.cancel()
        self.background.cancel()  # a widget's label check too
        self.recipe.close(30)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.store.close()

    def __enter__(self) -> "ActiveLearner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ActiveLearner({len(self.pool)} items, {len(self.classes)} classes, mode={self.mode!r}, "
                f"strategy={self.strategy.name!r}, labels={len(self.labels)}, cycles={len(self.history)})")
