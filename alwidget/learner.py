"""ActiveLearner: the labeling session and its cycle (train → score → query).

The learner decides; the widget and the simulation runner only call it. It owns the seed,
the label store, the model and the latest beliefs over the pool. One cycle runs at a time, on
the caller's thread (:meth:`ActiveLearner.retrain`) or on a worker thread (:meth:`ActiveLearner.retrain_async`);
labels given meanwhile are saved at once and the finished cycle is marked stale so the next one is due.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import warnings
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._threads import torch_threads, weak_callback
from .data.budget import DEFAULT_MEMORY_LIMIT, MemoryPlan, plan_memory
from .data.pool import ImagePool
from .data.store import LabelStore
from .session import LabelMethods, LabelSession, seed_for as _seed_for
from .persistence import Persistence
from .projections import PoolMaps
from .predictions import FittedModel, Predictions
from .recipes.controls import RecipeControls
from .selection import Selection
from .trust.checks import TrustChecks
from .model.backbone import AUTO, Backbone, make_trunk
from .model.classifier import Classifier
from ._deprecated import moved_settings
from ._memory import limit_malloc_arenas, out_of_memory, release_free_memory
from ._shutdown import Background, FutureWork, watch
from .engine import Engine, create_engine
from .data.tensors import PoolTensors, pool_channels
from .model.train import TrainConfig, fit
from .progress import CancelToken, CycleCancelled, ProgressCallback, report
from .recipes import Recipe, create_recipe
from .representation.cache import cache_digest
from .semi.priors import MIN_VALIDATION_PER_CLASS, estimate_priors
from .semi.propagate import confident_items
from .report import CycleReport, cycle_report
from .stopping import StoppingRule, stop_reason
from .trust.label_issues import LabelCheck
from .strategies import Strategy, create_strategy
from .uncertainty import UncertaintyEstimator

#: Largest side (pixels) of images for a network trained on this machine (the representation,
#: the from-scratch recipe): one step of the default CNN costs 128 ms at 28 px, 704 ms at 64 px
#: and 13.7 s at 224 px on one core here, so photos are shrunk to what a CPU learns from in
#: the minutes a person spends on the validation set. Pretrained trunks get their own size.
TRAIN_IMAGE_SIZE = 32



class ActiveLearner(LabelMethods, Selection, Predictions, TrustChecks, Persistence, RecipeControls, PoolMaps):
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
        ``"auto"`` (the default): a pretrained EfficientNet-Lite0 when its ImageNet weights can be
        had (a file, timm's or Hugging Face's cache, the hub within 3 s), and ``"alwidget_cnn"``
        learned from the pool in every case (``backbone_message`` says what was found); or a timm
        name, or a module mapping images to features ``[B, D]``. With its own settings:
        :class:`~alwidget.model.backbone.Backbone`, e.g. ``Backbone("auto", weights="lite0.pth")``.
    mode : {"semi", "finetune", "embed"} or Recipe
        How each cycle learns (:mod:`alwidget.recipes`: a registered name, or a recipe object with
        its own settings). ``semi`` (the default, :class:`~alwidget.recipes.SemiRecipe`) learns
        representations of the pool in the background, lets the labels choose among them, and
        propagates the labels over a kNN graph each cycle (about a second); ``finetune`` trains
        the whole network from scratch each cycle; ``embed`` trains a head on frozen features.
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
        torch threads during a cycle (default: the recipe's ``default_threads``: one for a small
        head, all cores but one for ``finetune``, as threads that compete for busy cores slow a
        cycle several times over). Background builds, and the graph solve and posterior of pools of
        :data:`~alwidget._threads.ALL_CORES_FROM` items or more, use every core unless it is given.
    seed : int
        The one seed: validation set, cold start, initialisation, batch order, dropout masks.
    memory_limit : int, str or None
        Budget for the learner's resident memory (``"2GB"`` by default; ``None``: no limit).
        Pool-sized arrays that do not fit (resized images, features) live on disk in
        ``cache_dir`` in chunks, filled by a streaming, resumable pass; passes over the pool run
        in chunks. In ``semi`` mode a candidate representation whose kNN graph does not fit is
        judged and learned on with a linear classifier only. See :mod:`alwidget.data.budget` and
        :attr:`memory_plan`.
    engine : {"local", "ray"} or Engine
        Where the passes over the pool run (the features of every item, the scores): this
        process, or a Ray cluster through Ray Data (``pip install 'alwidget[ray]'``; the running
        Ray, or ``RayEngine(address=..., workers=...)``). Training, the widget and the label
        store stay here.
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
        self.strategy = self._compatible_strategy(create_strategy(strategy or self.recipe.default_strategy))

        self.in_memory = store is None
        self.store = store = LabelSession.open_store(store)
        self.session = LabelSession(pool, classes, store, validation_size=validation_size, seed=self.seed)
        """The labels, the classes and the validation set (:class:`~alwidget.session.LabelSession`)."""
        self.classes: List[str] = self.session.classes
        self._class_index, self._pos = self.session.class_index, self.session.positions
        self._validation_ids = self.session.validation_ids
        if validation_from_truth:
            self.session.label_validation_from_truth()

        # the trunk, created once to learn its input needs ("auto": pretrained when weights are at hand)
        made = make_trunk(backbone, *pool_channels(pool), choose=self.recipe.choose_trunk,
                          seed=_seed_for(self.seed, 7), max_size=TRAIN_IMAGE_SIZE)
        self.auto, self.backbone_message = made.auto, "" if made.auto is None else made.auto.message
        self._trunk, self.backbone_info, self.image_size = made.module, made.info, made.image_size
        self._backbone_spec, self._pretrained, self._weights = made.name, made.pretrained, made.weights
        info = self.backbone_info
        self.engine = create_engine(engine)
        if self.engine.name != "local" and self.recipe.local_engine_only:
            raise ValueError(f"engine={self.engine.name!r} runs the passes of mode='embed' and 'semi'; in "
                             f"mode={self.mode!r} use engine='local'")
        self.memory_plan: MemoryPlan = plan_memory(
            len(pool), image_bytes=info.in_chans * self.image_size ** 2,
            feature_bytes=4 * int(info.num_features or 0), n_classes=len(self.classes),
            sample_bytes=4 * self.mc_samples * len(self.classes), limit=memory_limit,
            graphs=self.recipe.graphs_kept(self.auto is not None and self.auto.pretrained is not None))
        self.memory_plan.warn_if_over(stacklevel=2)  # at the line that made the learner
        self._chunked = self.memory_plan.on_disk or self.engine.name != "local"
        # a folder on disk only for what goes there: images past the budget, the recipe's chunks
        need_disk = not self.memory_plan.images_in_memory or self.recipe.needs_disk(self)
        self._disk = self._disk_dir() if need_disk else None
        self._tensors = PoolTensors(
            pool, self.image_size, info.in_chans, info.mean, info.std, chunk_rows=self.memory_plan.chunk_rows,
            folder=None if self.memory_plan.images_in_memory else self._disk / "images-{}".format(cache_digest(
                {"pool": pool.fingerprint(), "size": self.image_size, "in_chans": info.in_chans})))
        self._custom_initial = None if isinstance(made.name, str) else copy.deepcopy(self._trunk)
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
        self._model: Optional[FittedModel] = None
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
    def mc_samples(self) -> int:
        """``T``, posterior samples per cycle: the estimator's ``n_samples``."""
        return int(self.estimator.n_samples)

    @property
    def train_config(self) -> TrainConfig:
        """How a cycle trains its head: the recipe's (settable, e.g. between cycles)."""
        return self.recipe.train_config

    @train_config.setter
    def train_config(self, config: TrainConfig) -> None:
        self.recipe.train_config = config

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
                self._model = FittedModel(classifier, estimate, scores, uncertainty, sample_seed,
                                          self.recipe.model_inputs(self), class_weights)
                self._trained_version = version
                rep.stale = self.session.version != version
                self.history.append(rep)
            prog("done", 1.0)
            return rep
        except BaseException as exc:
            cancelled = isinstance(exc, CycleCancelled)
            if cancelled:
                msg = "the cycle was cancelled"
            elif out_of_memory(exc):
                msg = (f"out of memory while {current['step']} ({type(exc).__name__}: {exc}); lower "
                       "Backbone(image_size=...), or train={'batch_size': 16}, or use mode='embed'")
            else:
                msg = f"{type(exc).__name__}: {exc}"
            rep = CycleReport(cycle=cycle_no, error=msg, cancelled=cancelled, strategy=self.strategy.name,
                              estimator=self.estimator.name, labels_version=version,
                              timings={"total": time.perf_counter() - t_start})
            with self._lock:
                self.history.append(rep)
            prog("failed", 1.0)
            raise

    def _train(self, pos_l, y_l, pos_v, y_v, previous: Optional[FittedModel], cycle_no: int, prog, cancel):
        """One cycle's training, as the recipe lays it out: ``(classifier, result, features [N, D],
        timings)``, ``timings`` with ``features`` (waiting for them, their pass, the choice of
        representation), ``train`` and the recipe's own steps (``graph`` in ``semi`` mode, part of
        ``train``)."""
        cfg = self.train_config
        pos_fit, y_fit = pos_l, y_l
        threshold = self.recipe.pseudo_label_threshold
        if threshold is not None and previous is not None:
            extra, y_extra = confident_items(previous.estimate.probs_N_C, self._selectable_mask(), threshold,
                                             limit=10 * len(pos_l))
            pos_fit, y_fit = np.concatenate([pos_l, extra]), np.concatenate([y_l, y_extra])
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

    def _logits_of(self, out: torch.Tensor) -> torch.Tensor:
        """Head outputs as logits for the validation loss (estimators may output something else)."""
        to_logits = getattr(self.estimator, "logits", None)
        return to_logits(out) if callable(to_logits) else out

    # ------------------------------------------------------------------ stopping, lifecycle
    def stop_reason(self) -> Optional[str]:
        """Why stopping is suggested now (budget, target, plateau), or ``None``."""
        return stop_reason(self.history, self.stopping)

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
