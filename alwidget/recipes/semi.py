"""``mode="semi"`` (the default): representations learned from the pool, chosen by the labels;
a fast cycle of graph semi-supervised learning on the chosen one; a slow cycle that fine-tunes
(or adapts) it now and then."""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Any, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np
import torch

from .._threads import ALL_CORES_FROM, torch_threads
from ..judge import RepresentationJudge
from ..model.train import TrainConfig
from ..progress import CancelToken
from ..representation import PoolRepresentation, RefineConfig, Representation, SlowCycle, SlowCycles
from ..representation.adapt import AdaptConfig
from ..representation.candidates import RepresentationSet
from ..representation.pca import PCA_COMPONENTS
from ..semi import KNNGraph, propagate, pseudo_labels, with_pseudo_labels
from ..semi.choice import MIN_LABELS_TO_JUDGE, RepresentationChoice
from ..session import seed_for
from ..strategies import PoolEstimate
from .base import FitPlan, Recipe
from .candidates import candidates, graphs_kept, representations
from .registry import register_recipe

if TYPE_CHECKING:  # pragma: no cover
    from ..learner import ActiveLearner

__all__ = ["SemiRecipe"]



@register_recipe
class SemiRecipe(Recipe):
    """Learn the pool once, in the background; each cycle spreads the labels over a kNN graph of
    the chosen representation (Poisson learning) and trains a head on the labels plus the graph's
    confident pseudo-labels: cycles of about a second.

    Parameters
    ----------
    representation : {"auto", "contrastive", "frozen", "pretrained", "pca"}
        The features the fast cycle learns on. ``auto`` builds every candidate at hand in the
        background — principal components of the pixels (seconds), the pretrained trunk's
        features (when ``backbone="auto"`` found weights), the trunk learned from the pool
        without labels (SimCLR) — and the labels choose: each cycle uses the candidate whose
        classifier cross-validates best on the labels (:mod:`alwidget.semi.choice`; the report
        says which and why). A single name builds only that one; ``frozen`` uses the given trunk
        as it is (a pretrained or your own trained trunk).
    representation_config : dict, optional
        Overrides of :class:`~alwidget.representation.ContrastiveConfig` (``steps``, ...).
    propagation : {"poisson", "laplace"}
        How labels spread over the kNN graph.
    pseudo_fraction : float
        Share of each predicted class's unlabelled items (the graph's most confident) the head
        also trains on; 0 trains it on the labels only.
    refine_every : int, optional
        The slow cycle (fine-tune the trunk on the labels plus the fast cycle's confident
        pseudo-labels, then re-embed the pool; :mod:`alwidget.representation.refine`) is due
        after this many new training labels; ``None`` turns it off (:meth:`ActiveLearner.refine`
        runs it on demand). With a pretrained trunk, whose fine-tuning a CPU cannot afford, the
        slow cycle adapts its features instead (:mod:`alwidget.representation.adapt`); the labels
        keep the adapted features (``"pretrained+adapted"``) only when they judge them better.
    slow_cycle : {"background", "inline"}
        Where a due slow cycle runs: on its own thread while the fast cycles go on with the
        previous representation (the widget never waits), or inside the cycle before the fast
        part (reproducible: what simulations use).
    refine_config : dict, optional
        Overrides of :class:`~alwidget.representation.RefineConfig`.
    **common
        ``train``, ``pseudo_label_threshold``, ``cold_start``: the settings every mode takes
        (:class:`~alwidget.recipes.Recipe`).
    """

    name = "semi"
    default_train = TrainConfig(max_steps=300, max_epochs=1000, batch_size=128, lr=3e-3, augment=False, patience=0)
    default_strategy = "budget_aware"

    def __init__(self, representation: str = "auto", representation_config: Optional[Mapping[str, Any]] = None,
                 propagation: str = "poisson", pseudo_fraction: float = 0.5, refine_every: Optional[int] = 50,
                 slow_cycle: str = "background", refine_config: Optional[Mapping[str, Any]] = None,
                 **common: Any) -> None:
        super().__init__(**common)  # train, pseudo_label_threshold, cold_start: every mode's (Recipe)
        if representation not in representations():
            raise ValueError(f"representation must be one of {representations()}, got {representation!r}")
        if propagation not in ("poisson", "laplace"):
            raise ValueError(f"propagation must be 'poisson' or 'laplace', got {propagation!r}")
        if not 0.0 <= float(pseudo_fraction) <= 1.0:
            raise ValueError(f"pseudo_fraction must be in [0, 1], got {pseudo_fraction}")
        self.representation_name = representation
        self.representation_config = dict(representation_config or {})
        self.propagation = propagation
        self.pseudo_fraction = float(pseudo_fraction)
        self.refine_config = RefineConfig(**dict(refine_config or {}))
        # the slow cycles (fine-tuning the trunk learned here, adapting pretrained features); validates
        # refine_every and slow_cycle. Their threads and progress are the learner's, set in setup
        self.slow_cycles = SlowCycles(every=refine_every, where=slow_cycle)
        self.candidates: Optional[RepresentationSet] = None  # made in setup
        self.representation: Optional[PoolRepresentation] = None  # the trunk learned here, if a candidate
        self.judge: Optional[RepresentationJudge] = None

    def settings(self) -> Dict[str, Any]:
        return dict(representation=self.representation_name, propagation=self.propagation,
                    pseudo_fraction=self.pseudo_fraction, refine_every=self.refine_every, slow_cycle=self.slow_cycle,
                    **super().settings())

    @property
    def refine_every(self) -> Optional[int]:
        """Training labels between slow cycles (``None``: only on demand); settable."""
        return self.slow_cycles.every

    @refine_every.setter
    def refine_every(self, value: Optional[int]) -> None:
        self.slow_cycles.every = value

    @property
    def slow_cycle(self) -> str:
        """Where a due slow cycle runs, ``"background"`` or ``"inline"``; settable."""
        return self.slow_cycles.where

    @slow_cycle.setter
    def slow_cycle(self, value: str) -> None:
        self.slow_cycles.where = value

    @property
    def choice(self) -> Optional[RepresentationChoice]:
        """The labels' latest choice of representation."""
        return None if self.judge is None else self.judge.choice

    # ------------------------------------------------------------------ construction
    def graphs_kept(self, pretrained: bool) -> int:
        return graphs_kept(self.representation_name, pretrained)

    def setup(self, learner: "ActiveLearner", *, threads: int, notify) -> None:
        self.slow_cycles.num_threads, self.slow_cycles.notify = learner.num_threads, notify
        ready = weakref.WeakMethod(self.ready)  # the judge must not keep the recipe alive
        plan = learner.memory_plan  # past memory_limit, fewer graphs than candidates (the rest: linear only)
        self.judge = RepresentationJudge(len(learner.classes), propagation=self.propagation,
                                         seed=seed_for(learner.seed, 23), alive=lambda: (ready() or dict)(),
                                         lock=learner.session.lock,
                                         max_graphs=plan.graphs_in_memory if plan.graphs_dropped else None)
        self.candidates = self._make_candidates(learner, threads)
        if self.representation is not None:
            self.slow_cycles.trunk = SlowCycle(
                self.representation, learner._tensors, len(learner.classes), self.refine_config,
                every=self.refine_every, where=self.slow_cycle, num_threads=learner.num_threads,
                engine=None if learner.engine.name == "local" else learner.engine)
        pretrained = self.candidates.members.get("pretrained")
        if pretrained is not None:  # the pretrained trunk stays frozen; its features adapt
            self.slow_cycles.adapt = SlowCycle(pretrained, pretrained.tensors, len(learner.classes), AdaptConfig(),
                                               every=self.refine_every, where=self.slow_cycle,
                                               num_threads=learner.num_threads, kind="adapt")
        for member in self.candidates.members.values():
            member.callbacks.append(notify)

    def background(self) -> Iterator[Tuple[str, Any]]:
        yield "representations", self.candidates
        for name, cycle in (("slow cycle", self.slow_cycles.trunk), ("adapter", self.slow_cycles.adapt)):
            if cycle is not None:
                yield name, cycle

    def start(self, learner: "ActiveLearner") -> None:
        """Learn the pool while the person labels the validation set; each candidate's kNN graph
        and Poisson system are built as it is ready, so that the first cycle after the validation
        set (which judges every candidate on its graph) does not build them while the person
        waits (at 60,000 images that was most of a 45 s first cycle: BENCHMARKS.md)."""
        judge, n = self.judge, len(learner.pool)
        self.candidates.on_ready.append(lambda name, rep: judge.ahead(rep, n))
        self.candidates.start()

    def close(self, wait: float) -> None:
        self.judge.join(wait)
        if self.candidates.cancel():
            self.candidates.wait(wait)
        self.slow_cycles.cancel(wait=wait)

    def after_cycle(self) -> None:
        self.judge.start_due()  # after the cycle, not beside it: the two would share the cores

    def _make_candidates(self, learner: "ActiveLearner", threads: int) -> RepresentationSet:
        """The candidate representations ``representation`` asks for (:mod:`alwidget.recipes.candidates`),
        not built yet."""
        engine = None if learner.engine.name == "local" else learner.engine
        # scikit-learn (which imports pandas) is imported here, on the caller's thread: imported for
        # the first time on a build thread, pandas can be seen half-initialised by the notebook's own
        # imports meanwhile (plotly checks pandas' types while the widget is built)
        import sklearn.decomposition  # noqa: F401
        import sklearn.linear_model  # noqa: F401
        members, ranks = {}, {}
        for entry in candidates().values():
            if self.representation_name in entry.selected_by:
                made = entry.build(self, learner, threads, engine)
                if made is not None:
                    members[made[0]] = made[1]
                    ranks[made[0]] = entry.rank(made[0])
        ordered = {name: members[name] for name in sorted(members, key=lambda n: ranks[n][0])}
        return RepresentationSet(ordered, sorted(members, key=lambda n: ranks[n][1]))

    # ------------------------------------------------------------------ which representation
    def ready(self, refined: bool = True) -> Dict[str, Representation]:
        """The candidates built so far, plus the slow cycles' latest results: the refined trunk as
        ``"<own>+refined"`` and the adapted pretrained features as ``"pretrained+adapted"``."""
        ready = self.candidates.ready() if self.candidates is not None else {}
        if not refined:
            return ready
        extra = self.slow_cycles.results(self._own_name())
        out: Dict[str, Representation] = {}
        for name, rep in ready.items():
            if name in extra:
                out[extra[name][0]] = extra[name][1]
            out[name] = rep
        return out

    def _own_name(self) -> Optional[str]:
        """The name of the trunk learned here (``None`` without one)."""
        return None if self.representation is None else self.representation.name

    @staticmethod
    def _all_labels(learner: "ActiveLearner") -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Positions and classes of every readable label, validation first, and which of them are
        scored when the representations are judged: the validation labels (a random sample of the
        pool, never used to fine-tune a trunk) once there are enough of them, else all."""
        pos_l, y_l, pos_v, y_v = learner._training_set()
        scored = None
        if len(pos_v) >= MIN_LABELS_TO_JUDGE:
            scored = np.concatenate([np.ones(len(pos_v), dtype=bool), np.zeros(len(pos_l), dtype=bool)])
        return np.concatenate([pos_v, pos_l]), np.concatenate([y_v, y_l]), scored

    def chosen(self, learner: "ActiveLearner", prog) -> Tuple[str, Representation]:
        """``(name, representation)`` the labels choose among those ready now."""
        reps = self.ready()
        pos, y, scored = self._all_labels(learner)
        choice = self.judge.judge(reps, pos, y, scored, n_items=len(learner.pool), inline=self.slow_cycle == "inline",
                                  prior_C=learner._prior_C, prog=prog)
        return choice.name, reps[choice.name]

    def model_inputs(self, learner: "ActiveLearner") -> Optional[Dict[str, Any]]:
        """How the chosen representation's trunk reads images: size, channels, normalisation, name."""
        base = self.used.split(" on ")[0].split("+")[0]
        member = self.candidates.members.get(base) if self.candidates is not None else None
        if member is None:
            return None
        t = member.tensors
        if base == "pretrained":
            backbone, timm = self.pretrained_info.name, True
        elif base == "pca":
            backbone, timm = f"pca{PCA_COMPONENTS}", False
        else:
            backbone, timm = learner.backbone_info.name, isinstance(learner._backbone_spec, str)
        return dict(size=t.size, in_chans=t.in_chans, mean=tuple(t.mean.flatten().tolist()),
                    std=tuple(t.std.flatten().tolist()), backbone=backbone, timm=timm)

    def start_estimate(self, learner: "ActiveLearner") -> Optional[PoolEstimate]:
        """Before any cycle: the features of the representation the labels so far choose (the
        validation set's, typically) and uniform beliefs (for a coverage-based cold start)."""
        if self.candidates is None or not self.candidates.ready():
            return None
        _, rep = self.chosen(learner, lambda step, fraction: None)
        n, c = len(learner.pool), len(learner.classes)
        return PoolEstimate(probs_N_C=np.full((n, c), 1.0 / c), features_N_D=rep.features_N_D.numpy(),
                            **learner._label_fields())

    def describe(self, learner: "ActiveLearner", report) -> None:
        report.representation = self.used
        choice = self.choice
        if choice is not None:
            report.representation_reason, report.representation_scores = choice.reason, dict(choice.scores)
            if learner.auto is not None and not learner.auto.pretrained:
                report.representation_reason += f" [{learner.backbone_message}]"

    # ------------------------------------------------------------------ the cycle
    def prepare(self, learner: "ActiveLearner", progress, cancel) -> None:
        """Build every candidate representation."""
        self.candidates.wait_all(progress=progress, cancel=cancel)

    def before_fit(self, learner: "ActiveLearner", pos_l, y_l, previous, prog, cancel) -> None:
        """Wait for the candidates (every one when reproducible, else the first) and start (or run,
        inline) a slow cycle that is due."""
        if self.slow_cycle == "inline":  # reproducible: every candidate, so a seed gives one curve
            self.candidates.wait_all(progress=prog, cancel=cancel)
        else:  # the person never waits for more than the first (cheapest) candidate
            self.candidates.wait_any(progress=prog, cancel=cancel)
        if previous is not None:  # a slow cycle starts from the previous model's pseudo-labels
            self.slow_cycles.step(self.judge.chosen_base, self._own_name(), len(pos_l),
                                  lambda: self._refine_set(learner, pos_l, y_l, previous), (pos_l, y_l),
                                  seeds=(seed_for(learner.seed, 29, len(pos_l)), seed_for(learner.seed, 13, len(pos_l))),
                                  progress=prog, cancel=cancel)

    def plan(self, learner: "ActiveLearner", pos_l, y_l, pos_v, pos_fit, y_fit, gen, prog, cancel) -> FitPlan:
        name, rep = self.chosen(learner, prog)
        self.used = name
        made = {v[0]: v[2] for v in self.slow_cycles.results(self._own_name()).values()}
        if name in made:  # a slow cycle's result: on how many labels
            self.used += f" on {made[name]} labels"
        feats_all = rep.features_N_D
        cancel.raise_if_cancelled()
        t_graph = time.perf_counter()
        ps_pos, ps_y = self._pseudo_labels(learner, rep, pos_l, y_l, prog)
        t_graph = time.perf_counter() - t_graph
        if len(pos_fit) > len(pos_l):  # pseudo_label_threshold's: beside the graph's (which wins a tie)
            extra, extra_y = pos_fit[len(pos_l):], y_fit[len(pos_l):]
            keep = ~np.isin(extra, ps_pos)
            ps_pos = np.concatenate([ps_pos, extra[keep]])
            ps_y = np.concatenate([ps_y, extra_y[keep]])
        if len(ps_pos):
            pos_fit, y_fit = with_pseudo_labels(pos_l, y_l, ps_pos, ps_y)
        head = learner.estimator.build_head(feats_all.shape[1], len(learner.classes))
        return FitPlan(rep.trunk, head, head, forward=lambda idx, training: head(feats_all[torch.as_tensor(pos_fit[idx])]),
                       val_outputs=lambda: head(feats_all[torch.as_tensor(pos_v)]), y_fit=y_fit,
                       n_pseudo=len(ps_pos), features=feats_all, norm=rep.norm,
                       timings={"graph": t_graph})

    def _pseudo_labels(self, learner: "ActiveLearner", rep, pos_l: np.ndarray, y_l: np.ndarray, prog
                       ) -> Tuple[np.ndarray, np.ndarray]:
        """The graph's confident pseudo-labels ``(positions, classes)`` for the fast cycle's head
        (none with fewer than two labelled classes, a pool too small for a graph, or
        ``pseudo_fraction=0``). Validation items are never pseudo-labelled."""
        empty = np.zeros(0, dtype=np.int64)
        if self.pseudo_fraction <= 0 or len(np.unique(y_l)) < 2:
            return empty, empty
        choice = self.choice
        if choice is not None and choice.classifier == "linear":  # the labels prefer no graph here
            return empty, empty
        graph = self.graph(learner, rep, prog)
        if graph is None:
            return empty, empty
        with torch_threads(learner._all_cores if len(learner.pool) >= ALL_CORES_FROM else None):
            probs = propagate(graph, pos_l, y_l, len(learner.classes), method=self.propagation,
                              prior_C=learner._prior_C, prior_labels=learner._prior_n)
        cand = learner._selectable_mask()
        cand[pos_l] = False
        return pseudo_labels(probs, cand, self.pseudo_fraction)

    def graph(self, learner: "ActiveLearner", rep: Representation, prog) -> Optional[KNNGraph]:
        """The kNN graph of a candidate representation (kept by the judge; ``None`` for a tiny pool)."""
        return self.judge.graph(rep, len(learner.pool), prog)

    # ------------------------------------------------------------------ the label check
    def _check_representation(self, prog, cancel) -> Tuple[str, Representation]:
        """The candidate the labels chose, as learned without labels (never the slow cycle's
        refinement, which has seen the labels being checked)."""
        ready = self.candidates.wait_any(progress=prog, cancel=cancel)
        name = self.judge.chosen_base or next(iter(ready))
        return (name, ready[name]) if name in ready else next(iter(ready.items()))

    def check_features(self, learner: "ActiveLearner", prog, cancel) -> Tuple[torch.Tensor, str]:
        """The representation learned without labels (not the slow cycle's refinement, which has
        seen the labels being checked)."""
        name, rep = self._check_representation(prog, cancel)
        return rep.features_N_D, f"representation ({name})"

    def check_graph(self, learner: "ActiveLearner", prog, cancel) -> Optional[KNNGraph]:
        if self.pseudo_fraction <= 0:
            return None
        return self.graph(learner, self._check_representation(prog, cancel)[1], prog)

    # ------------------------------------------------------------------ the slow cycle
    def _refine_set(self, learner: "ActiveLearner", pos_l: np.ndarray, y_l: np.ndarray, model):
        """``(positions, classes, n_pseudo)``: the labels (weighted like all pseudo-labels
        together) plus the model's confident pseudo-labels."""
        if model is None or self.refine_config.pseudo_fraction <= 0:
            return pos_l, y_l, 0
        cand = learner._selectable_mask()
        cand[pos_l] = False
        ps_pos, ps_y = pseudo_labels(model.estimate.probs_N_C, cand, self.refine_config.pseudo_fraction)
        return (*with_pseudo_labels(pos_l, y_l, ps_pos, ps_y), len(ps_pos))

    def refine(self, learner: "ActiveLearner", progress) -> Representation:
        if self.slow_cycles.trunk is None:
            raise RuntimeError("refine() fine-tunes the trunk learned from the pool; this learner has none "
                               "(representation='pca' or 'pretrained')")
        pos_l, y_l, _, _ = learner._training_set()
        if len(pos_l) == 0:
            raise ValueError("no training labels yet: label the items from query(k) first")
        pos, y, n_pseudo = self._refine_set(learner, pos_l, y_l, learner._model)
        with torch_threads(learner.num_threads):
            return self.slow_cycles.run_trunk(pos, y, n_labels=len(pos_l), n_pseudo=n_pseudo,
                                              seed=seed_for(learner.seed, 13, len(pos_l)), progress=progress,
                                              cancel=CancelToken())
