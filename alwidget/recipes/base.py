"""What every recipe answers: the interface between the learner and a mode.

A *recipe* is how a learner turns labels into a model — what it trains each cycle, on which
features, what it computes once for the pool, what the label check reads. The learner
(:class:`~alwidget.ActiveLearner`) orchestrates the cycle — labels, scoring, reports, trust,
persistence — and asks its recipe at each point where modes differ. A recipe keeps its own state
(a feature cache, candidate representations, slow cycles) but never a reference to the learner:
the learner is passed to each call, so background threads that hold a recipe never keep a
dropped learner alive.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, Iterator, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..model.train import TrainConfig
from ..progress import CancelToken, ProgressCallback

if TYPE_CHECKING:  # pragma: no cover
    from ..learner import ActiveLearner
    from ..semi import KNNGraph
    from ..strategies import PoolEstimate

__all__ = ["FitPlan", "Recipe"]


@dataclass
class FitPlan:
    """What one cycle trains, as a recipe lays it out for :func:`~alwidget.model.train.fit`.

    Attributes
    ----------
    trunk : nn.Module
        The network that maps images to features (the model's trunk).
    head : nn.Module
        The estimator's head, mapping features ``[B, D]`` to outputs.
    module : nn.Module
        What the optimiser updates (the head alone, or trunk and head).
    forward : callable
        ``forward(idx, training)``: outputs for the training items at rows ``idx`` of ``y_fit``.
    val_outputs : callable
        Outputs for the validation items (for the validation loss).
    y_fit : ndarray of int, shape (M,)
        Classes of the training items: the labels, then pseudo-labels.
    n_pseudo : int
        How many of them are pseudo-labels.
    features : Tensor or None
        Features ``[N, D]`` of the whole pool the head reads (``None``: computed by the trained
        trunk after training, see :meth:`Recipe.features_after`).
    norm : nn.Module or None
        The standardisation between trunk and head (kept with the model).
    """

    trunk: nn.Module
    head: nn.Module
    module: nn.Module
    forward: Callable[[np.ndarray, bool], torch.Tensor]
    val_outputs: Callable[[], torch.Tensor]
    y_fit: np.ndarray
    n_pseudo: int = 0
    features: Optional[torch.Tensor] = None
    norm: Optional[nn.Module] = None
    timings: Dict[str, float] = field(default_factory=dict)
    """Seconds of steps of the plan that belong to training (``{"graph": s}`` in ``semi`` mode:
    the propagation and the pseudo-labels), reported beside ``train``."""


class Recipe:
    """One mode of the learner. Subclasses set :attr:`name` and register with
    :func:`~alwidget.recipes.register_recipe`; the learner calls :meth:`setup` once, then the
    other methods.

    The defaults here are those of a recipe that trains on the labels alone, without a
    representation learned beforehand: no background work, no slow cycle, no candidates.
    """

    name: ClassVar[str] = ""
    """The ``mode=`` name."""
    default_train: ClassVar[TrainConfig] = TrainConfig()
    """Training settings when the learner is given none."""
    default_strategy: ClassVar[str] = "margin"
    """The strategy when the learner is given none."""
    local_engine_only: ClassVar[bool] = False
    """Whether the passes over the pool must run in this process (no Ray)."""

    candidates = None
    """The candidate representations (a :class:`~alwidget.representation.candidates.RepresentationSet`; ``None``: none)."""
    representation = None
    """The trunk learned on this machine (a :class:`~alwidget.representation.PoolRepresentation`; ``None``: none)."""
    slow_cycles = None
    """The slow cycles (a :class:`~alwidget.representation.SlowCycles`; ``None``: none)."""
    pretrained_info = None
    """The pretrained candidate's :class:`~alwidget.model.backbone.BackboneInfo` (``None``: none)."""
    choice = None
    """The labels' latest choice of representation (``None``: no choice)."""
    used = ""
    """What the latest cycle trained on, for its report."""
    bound = False
    """Whether a learner has set this recipe up (its state then belongs to that learner)."""
    pseudo_label_threshold: Optional[float] = None
    """See :meth:`__init__` (a recipe whose ``__init__`` does not call this one gets the defaults)."""
    cold_start: str = "random"
    """See :meth:`__init__`."""

    # ------------------------------------------------------------------ construction
    def __init__(self, *, train: Union[TrainConfig, Mapping[str, Any], None] = None,
                 pseudo_label_threshold: Optional[float] = None, cold_start: str = "random") -> None:
        """Settings every mode takes (a subclass passes them on: ``super().__init__(**common)``).

        Parameters
        ----------
        train : TrainConfig or dict, optional
            How a cycle trains its head (a dict overrides fields of :attr:`default_train`).
        pseudo_label_threshold : float, optional
            Off by default. When set, unlabelled items whose previous predicted probability is at
            least this value are added to training with the predicted class (at most 10 per
            label, most confident first; in ``semi`` mode beside the graph's pseudo-labels, whose
            class wins where both name an item); never stored, never counted as labels.
        cold_start : {"random", "kmeans"}
            How the learner picks before any model exists, when the strategy has no cold start
            of its own.
        """
        if cold_start not in ("random", "kmeans"):
            raise ValueError(f"cold_start must be 'random' or 'kmeans', got {cold_start!r}")
        if pseudo_label_threshold is not None and not 0.5 <= float(pseudo_label_threshold) <= 1.0:
            raise ValueError(f"pseudo_label_threshold must be in [0.5, 1], got {pseudo_label_threshold}")
        if train is not None and not isinstance(train, (TrainConfig, Mapping)):
            raise TypeError(f"train must be a TrainConfig or a dict of its fields, got {type(train).__name__}")
        self.train_config = train if isinstance(train, TrainConfig) else replace(self.default_train, **dict(train or {}))
        self.pseudo_label_threshold = None if pseudo_label_threshold is None else float(pseudo_label_threshold)
        self.cold_start = cold_start

    @property
    def train_config(self) -> TrainConfig:
        """How a cycle trains its head: :attr:`default_train` with ``train``'s fields (settable)."""
        return getattr(self, "_train_config", None) or self.default_train

    @train_config.setter
    def train_config(self, config: TrainConfig) -> None:
        self._train_config = config

    def settings(self) -> Dict[str, Any]:
        """This recipe's own settings (shown by ``repr``): those every mode takes, where not the defaults."""
        out: Dict[str, Any] = {}
        if self.train_config != self.default_train:
            out["train"] = self.train_config
        if self.pseudo_label_threshold is not None:
            out["pseudo_label_threshold"] = self.pseudo_label_threshold
        if self.cold_start != "random":
            out["cold_start"] = self.cold_start
        return out

    def default_threads(self, cores: int) -> int:
        """torch threads of a cycle when the learner is given none, on a machine of ``cores``."""
        return 1

    def choose_trunk(self, auto) -> Optional[Tuple[Any, bool, Any]]:
        """With ``backbone="auto"`` (:class:`~alwidget.model.backbone.AutoBackbone` ``auto``):
        ``(backbone, pretrained, weights)`` for the learner's trunk, or ``None`` for the trunk
        learned on this machine."""
        return None

    def graphs_kept(self, pretrained: bool) -> int:
        """kNN graphs this recipe keeps in memory (for the memory plan)."""
        return 0

    def needs_disk(self, learner: "ActiveLearner") -> bool:
        """Whether this recipe puts pool-sized arrays on disk beyond the resized images."""
        return False

    def setup(self, learner: "ActiveLearner", *, threads: int, notify: ProgressCallback) -> None:
        """Make this recipe's state for ``learner`` (its pool, trunk, tensors and memory plan are
        set). ``threads``: torch threads of background builds; ``notify``: their progress."""

    def background(self) -> Iterator[Tuple[str, Any]]:
        """``(name, work)`` pairs of background work the learner cancels on close and exit."""
        return iter(())

    def start(self, learner: "ActiveLearner") -> None:
        """Start background work (after the learner is whole)."""

    def close(self, wait: float) -> None:
        """Cancel background work, waiting up to ``wait`` seconds for each piece."""

    def after_cycle(self) -> None:
        """Work due once a cycle has ended (off the cycle, so that the two do not share the cores)."""

    # ------------------------------------------------------------------ the cycle
    def prepare(self, learner: "ActiveLearner", progress: Optional[ProgressCallback],
                cancel: Optional[CancelToken]) -> None:
        """The pass over the pool, now (see :meth:`ActiveLearner.prepare`): read and resize every image."""
        learner._tensors.fill(progress=progress, cancel=cancel)

    def before_fit(self, learner: "ActiveLearner", pos_l: np.ndarray, y_l: np.ndarray, previous, prog,
                   cancel: CancelToken) -> None:
        """Background work the cycle waits for before it seeds its generators."""

    def plan(self, learner: "ActiveLearner", pos_l: np.ndarray, y_l: np.ndarray, pos_v: np.ndarray,
             pos_fit: np.ndarray, y_fit: np.ndarray, gen: torch.Generator, prog, cancel: CancelToken) -> FitPlan:
        """What this cycle trains (under the cycle's seeded generators). ``pos_fit``/``y_fit`` are
        the labels plus ``pseudo_label_threshold``'s items."""
        raise NotImplementedError

    def features_after(self, learner: "ActiveLearner", plan: FitPlan, prog, cancel: CancelToken) -> torch.Tensor:
        """Features ``[N, D]`` of the pool for scoring, once the plan is trained."""
        assert plan.features is not None
        return plan.features

    def model_inputs(self, learner: "ActiveLearner") -> Optional[Dict[str, Any]]:
        """How the latest model's trunk reads images, when not at the learner's own size
        (``None``: the learner's)."""
        return None

    def start_estimate(self, learner: "ActiveLearner") -> "Optional[PoolEstimate]":
        """Before any model: an estimate the strategy can select from (``None``: the cold start)."""
        return None

    def cold_start_features(self, learner: "ActiveLearner") -> Optional[np.ndarray]:
        """Features ``[N, D]`` a k-means cold start spreads over (``None``: the shrunk pixels)."""
        return None

    def describe(self, learner: "ActiveLearner", report) -> None:
        """Add what this recipe knows about the cycle to its :class:`~alwidget.report.CycleReport`."""

    # ------------------------------------------------------------------ the label check
    def check_features(self, learner: "ActiveLearner", prog, cancel: CancelToken) -> Tuple[torch.Tensor, str]:
        """Features ``[N, D]`` for the label check and where they come from: by default the
        latest model's trunk, which was trained on these labels (the check is then less sharp)."""
        model = learner._model
        if model is None:
            raise RuntimeError(f"no model yet: in mode={self.name!r} the label check uses the latest model's "
                               "features; call retrain() first")
        return torch.as_tensor(model.estimate.features_N_D), "latest model (trained on these labels)"

    def check_graph(self, learner: "ActiveLearner", prog, cancel: CancelToken) -> "Optional[KNNGraph]":
        """The kNN graph whose pseudo-labels the label check's folds add (``None``: none)."""
        return None

    def check_train_config(self, learner: "ActiveLearner") -> TrainConfig:
        """How the label check trains its fold heads on :meth:`check_features`."""
        return learner.train_config

    # ------------------------------------------------------------------ the slow cycle
    def refine(self, learner: "ActiveLearner", progress: Optional[ProgressCallback]):
        """Run the slow cycle now (see :meth:`ActiveLearner.refine`)."""
        raise RuntimeError(f"refine() belongs to mode='semi'; mode={self.name!r} has no representation to fine-tune")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"
