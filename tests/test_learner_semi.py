"""The default ``semi`` mode: representation in the background, graph + head fast cycle."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alwidget import LabelStore

FAST_REPR = {"steps": 20, "batch_size": 64, "checkpoint_every": 5}
WRITER = Path(__file__).with_name("representation_writer.py")


@pytest.fixture
def semi_learner(small_pool, learners):
    """``semi_learner(pool=None, **kwargs)``: a semi-mode learner with a 20-step self-supervised
    representation as the only candidate (``representation="auto"``, the default, is tested on its own)."""

    def make(pool=None, **kwargs):
        defaults = dict(mode="semi", image_size=16, mc_samples=8, validation_size=30, representation_config=FAST_REPR,
                        train={"max_steps": 60}, validation_from_truth=True, representation="contrastive")
        return learners(pool if pool is not None else small_pool, defaults, **kwargs)

    return make


def test_default_mode_is_semi_with_the_budget_aware_strategy(semi_learner, oracle):
    learner = semi_learner(representation="auto")
    assert learner.mode == "semi" and learner.strategy.name == "budget_aware"
    rep = learner.representation.result()
    assert rep.features_N_D.shape == (300, 128)
    first = learner.query(20)  # cold start on the representation: typical points of 20 clusters
    assert len(set(first)) == 20 and not set(first) & set(learner.validation_ids)
    oracle(learner, first)
    report = learner.retrain()
    # the labels (30 validation + 20) chose between the contrastive trunk and the pixels' PCA
    assert report.ok and report.representation in ("contrastive", "pca")
    assert set(report.representation_scores) == {"contrastive graph", "contrastive linear", "pca graph", "pca linear"}
    assert "5-fold" in report.representation_reason
    assert report.selection == "typiclust" and "20 training labels < 30" in report.selection_reason
    # the graph's pseudo-labels train the head when the labels chose the graph, none with the linear classifier
    assert (report.pseudo_labels > 0) == (learner.representation_choice.classifier == "graph")
    assert report.timings["total"] < 10
    probs = learner.predict_proba(learner.pool.ids[:5])
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    oracle(learner, learner.query(20))
    report = learner.retrain()
    assert report.selection == "badge" and report.n_labels == 40


def test_learning_from_the_pool_beats_the_labels_alone(digits_pool, semi_learner, oracle):
    """Real numbers on digits (seed 0, 2 random labels per class, the pixels as a frozen
    representation): the graph's pseudo-labels lift the head's test accuracy by ten points."""
    from alwidget.simulate import balanced_start

    test, pool = digits_pool.split(0.25, seed=0)
    accs = {}
    for fraction in (0.0, 0.5):
        learner = semi_learner(pool, pseudo_fraction=fraction, backbone=torch.nn.Flatten(), representation="frozen",
                               image_size=8, strategy="random", validation_size=100, train={"max_steps": 300})
        ids = balanced_start(learner, 2, 0)
        oracle(learner, ids)
        learner.retrain()
        accs[fraction] = learner.evaluate(test)
    assert accs[0.5] > accs[0.0] + 0.10, accs
    assert accs[0.5] > 0.78, accs  # measured: 68.2 % labels only, 82.2 % with pseudo-labels


def test_cache_is_reused_and_keyed_by_seed(tmp_path, semi_learner):
    a = semi_learner(cache_dir=tmp_path)
    feats = a.representation.result().features_N_D
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].startswith("representation-") and files[0].endswith(".pt")
    b = semi_learner(cache_dir=tmp_path)
    rep_b = b.representation.result()
    assert rep_b.from_cache and torch.equal(rep_b.features_N_D, feats)
    assert "loaded from the cache" in b.representation.status()
    c = semi_learner(cache_dir=tmp_path, seed=1)
    assert not c.representation.result().from_cache
    assert any("another pool or other settings" in m for m in c.representation.cache.messages)
    assert len(list(tmp_path.iterdir())) == 2


def test_corrupted_cache_is_rebuilt_not_fatal(tmp_path, semi_learner):
    a = semi_learner(cache_dir=tmp_path)
    a.representation.result()
    path = next(tmp_path.iterdir())
    path.write_bytes(b"not a torch file")
    # the build (and so the cache read) runs on its own thread: the warning it raises may come
    # while the fixture silences warnings, so the test reads the cache's message log
    b = semi_learner(cache_dir=tmp_path)
    rep = b.representation.result()
    assert any("cannot be read" in m for m in b.representation.cache.messages)
    assert not rep.from_cache and rep.features_N_D.shape[0] == 300


def test_cancelled_representation_resumes_at_the_next_cycle(tmp_path, semi_learner, oracle):
    learner = semi_learner(cache_dir=tmp_path, representation_config={"steps": 400, "batch_size": 64,
                                                                      "checkpoint_every": 5})
    rep = learner.representation
    while rep.step != "represent" or rep.fraction < 0.02:
        assert rep.running, rep.status()
        rep.wait(0.05)
    assert rep.cancel()
    rep.wait(30)
    assert "cancelled" in rep.status(), (rep.status(), rep.step, rep.fraction, list(tmp_path.iterdir()))
    assert learner.representation.cache.partial_path.exists()
    done_steps = torch.load(learner.representation.cache.partial_path, weights_only=True)["state"]["step"]
    assert done_steps >= 5
    # the next cycle starts it again, resuming from the checkpoint (not from step 0)
    seen = []
    learner.progress_callbacks.append(lambda step, f: seen.append(f) if step == "represent" else None)
    oracle(learner, learner.query(20))
    assert learner.retrain().ok
    assert rep.ready and not learner.representation.cache.partial_path.exists()
    assert seen and min(seen) >= (done_steps // 10 * 10) / 400


def test_one_labelled_class_and_a_tiny_pool_work(digits_pool, semi_learner, oracle):
    tiny = digits_pool.subset(digits_pool.ids[:25])
    learner = semi_learner(tiny, validation_size=5)
    zeros = [i for i in learner.selectable_ids() if tiny.truth[i] == tiny.truth[learner.selectable_ids()[0]]][:2]
    oracle(learner, zeros)
    report = learner.retrain()
    assert report.ok and report.pseudo_labels == 0  # one class: nothing to propagate
    oracle(learner, learner.query(10))
    report = learner.retrain()
    assert report.ok and report.n_labels == 12


def test_model_export_and_inductive_prediction(tmp_path, digits_pool, semi_learner, oracle):
    test, pool = digits_pool.split(0.2, seed=1)
    learner = semi_learner(pool.subset(pool.ids[:400]), representation_config={"steps": 30})
    oracle(learner, learner.query(30))
    learner.retrain()
    probs = learner.predict_pool(test)  # images never in the graph: trunk -> standardise -> head
    assert probs.shape == (len(test), 10)
    acc = learner.evaluate(test)
    assert acc > 0.3
    weights, cfg = learner.save_model(tmp_path / "model.pt")
    learner.load_model(weights)
    assert learner.evaluate(test) == pytest.approx(acc, abs=0.02)


def test_frozen_representation_uses_the_trunk_as_is(semi_learner, oracle):
    learner = semi_learner(representation="frozen")
    before = {k: v.clone() for k, v in learner._trunk.state_dict().items()}
    rep = learner.representation.result()
    for k, v in rep.trunk.state_dict().items():
        torch.testing.assert_close(v, before[k])
    oracle(learner, learner.query(20))
    assert learner.retrain().representation == "frozen"


def test_bad_settings_say_what_to_do(small_pool, learners):
    with pytest.raises(ValueError, match="representation must be"):
        learners(small_pool, {"mode": "semi"}, representation="vae")
    with pytest.raises(ValueError, match="propagation must be"):
        learners(small_pool, {"mode": "semi"}, propagation="spread")
    with pytest.raises(ValueError, match="pseudo_fraction"):
        learners(small_pool, {"mode": "semi"}, pseudo_fraction=2)
    learner = learners(small_pool, {"mode": "semi"}, representation_config=FAST_REPR, image_size=16)
    learner.refine_every, learner.slow_cycle = None, "inline"  # settable; the slow cycle follows
    slow = learner.recipe.slow_cycles.trunk
    assert slow.every is None and slow.where == "inline" and not slow.due(10**6)
    with pytest.raises(ValueError, match="positive number of labels or None"):
        learner.refine_every = 0
    with pytest.raises(ValueError, match="'background' or 'inline'"):
        learner.slow_cycle = "later"
    assert learner.refine_every is None and learner.slow_cycle == "inline"


@pytest.mark.slow
def test_kill_during_the_representation_loses_no_label_and_resumes(tmp_path, small_pool, learners,
                                                                   label_then_kill):
    store, cache = tmp_path / "labels.db", tmp_path / "cache"
    acked = label_then_kill([sys.executable, str(WRITER), str(store), str(cache)], 25)
    with LabelStore(store) as reopened:
        saved = reopened.labels()
    assert {i: saved.get(i) for i in acked} == acked
    # the cache holds checkpoints and finished candidates (the pixels' PCA is built first, in
    # seconds), never a half-written file: every file reads back whole. A kill in the middle of a
    # write leaves its temporary file (``.tmp<pid>``), which the next run removes.
    files = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    names = [n for n in files if ".tmp" not in n]
    assert names and all(n.startswith("representation-") and n.endswith(".pt") for n in names), files
    for name in names:
        assert isinstance(torch.load(cache / name, weights_only=False), dict), name
    learner = learners(small_pool, dict(mode="semi", store=store, cache_dir=cache, validation_size=30, image_size=16, seed=0,
                                        representation_config={"steps": 60, "batch_size": 64, "checkpoint_every": 5}))
    assert set(acked) <= set(learner.labels)
    rep = learner.representation.result()
    assert rep.features_N_D.shape[0] == 300
    assert learner.retrain().ok
    assert not [p.name for p in cache.iterdir() if ".tmp" in p.name]


def test_every_strategy_selects_on_the_semi_features(semi_learner, oracle):
    """The strategy contract on a real semi-mode estimate (representation features, MC-dropout head)."""
    from alwidget.strategies import available_strategies, create_strategy

    learner = semi_learner()
    oracle(learner, learner.query(30))
    learner.retrain()
    estimate = learner._model.estimate
    assert estimate.features_N_D.shape == (300, 128) and estimate.samples_T_N_C.shape == (8, 300, 10)
    selectable = learner._selectable_mask()
    for name in available_strategies():
        strategy = create_strategy(name)
        if "alpha" in strategy.requires:  # needs uncertainty="evidential"
            continue
        picked = strategy.select(estimate, 10, selectable, np.random.default_rng(0))
        assert len(set(picked.tolist())) == len(picked), name
        assert np.all(selectable[picked]), name
        if strategy.fills_batch:
            assert len(picked) == 10, name


def test_a_cancelled_slow_cycle_keeps_the_previous_representation(semi_learner, oracle):
    learner = semi_learner(refine_every=20, refine_config={"steps": 5000})
    oracle(learner, learner.query(20))
    learner.retrain()  # the first model: the slow cycle needs its pseudo-labels
    oracle(learner, learner.query(20))
    learner.retrain()  # 40 labels >= 20: the slow cycle starts in the background
    assert learner.refining and "running" in learner.refine_status
    assert learner.recipe.slow_cycles.trunk.cancel(wait=30) and not learner.refining
    assert "cancelled" in learner.refine_status and learner.recipe.slow_cycles.trunk.result is None
    report = learner.retrain()
    assert report.ok and report.representation == "contrastive"


def test_the_slow_cycle_refines_the_representation_inline(semi_learner, learners, small_pool, oracle):
    learner = semi_learner(refine_every=20, slow_cycle="inline", refine_config={"steps": 30})
    oracle(learner, learner.query(20))
    assert learner.retrain().representation == "contrastive"
    oracle(learner, learner.query(20))
    report = learner.retrain()
    assert report.representation == "contrastive+refined on 40 labels"
    assert "slow cycle done on 40 labels" in learner.refine_status
    base = learner.representation.result()
    slow = learner.recipe.slow_cycles.trunk
    assert slow.labels == 40 and not torch.equal(slow.result.raw_N_D, base.raw_N_D)
    with pytest.raises(RuntimeError, match="mode='semi'"):
        learners(small_pool, dict(mode="finetune")).refine()


def test_pretrained_weights_are_the_representation_at_their_own_size(tmp_path, semi_learner, oracle):
    """``pretrained=True`` with a local weights file: no self-supervised training, the trunk's own
    input size for the one feature pass, the features are exactly the pretrained trunk's."""
    import timm

    from alwidget.model.backbone import create_backbone

    src = timm.create_model("test_resnet", in_chans=3, num_classes=1000)
    path = tmp_path / "weights.pth"
    torch.save(src.state_dict(), path)
    learner = semi_learner(backbone="test_resnet", pretrained=True, weights=path, image_size=None,
                           representation_config=None, representation="frozen")
    size = src.pretrained_cfg["input_size"][-1]
    assert learner.image_size == size and learner.representation.method == "frozen"
    rep = learner.representation.result()
    trunk, _ = create_backbone("test_resnet", in_chans=1, pretrained=True, weights=path)
    with torch.no_grad():
        expected = trunk.eval()(learner.model_inputs(learner.pool.ids[:4]))
    torch.testing.assert_close(rep.raw_N_D[:4], expected, rtol=1e-4, atol=1e-5)
    oracle(learner, learner.query(20))
    assert learner.retrain().representation == "frozen"


def test_the_background_build_never_touches_the_global_generator(semi_learner, oracle):
    """The representation is built on its own thread while the cycle thread seeds and draws from
    torch's global generator. Regression (CI, 2026-12-01): the build wrapped itself in
    ``fork_rng`` and, on finishing, restored the global state it had found, undoing a seed the
    cycle had set meanwhile, so a seeded run depended on what ran before it."""
    import threading

    probs = []
    for before in (1, 2):  # what the global generator holds when the learner is made
        torch.manual_seed(before)
        training, go = threading.Event(), threading.Event()

        def hold(step, fraction):  # called on the build's thread: pause it once it is training
            if step == "represent" and fraction > 0 and not go.is_set():
                training.set()
                go.wait(60)

        # 200 steps: seconds of training, so the hook is in place long before the build ends
        learner = semi_learner(representation_config=dict(FAST_REPR, steps=200), strategy="random")
        learner.representation.callbacks.append(hold)
        assert training.wait(60), learner.representation.status()  # the build is under way ...
        torch.manual_seed(77)  # ... when this thread seeds the global generator
        expected = torch.get_rng_state()
        go.set()
        learner.representation.wait()
        assert torch.equal(torch.get_rng_state(), expected)
        oracle(learner, learner.query(20))
        learner.retrain()
        probs.append(learner.predict_proba(learner.pool.ids))
    np.testing.assert_array_equal(probs[0], probs[1])


def test_a_dropped_learner_stops_learning_the_pool(small_pool):
    """A notebook cell run again drops the old learner without close(): its representation
    build must not go on using the cores (the thread holds the learner only weakly)."""
    import gc
    import threading
    import warnings

    from alwidget import ActiveLearner, Backbone

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        learner = ActiveLearner(small_pool, backbone=Backbone(image_size=16), representation_config=dict(FAST_REPR, steps=100000),
                                representation="contrastive")
    threads = [learner.representations._thread, learner.representation._thread]
    assert all(t is not None and t.is_alive() for t in threads)  # the candidates' driver and the SimCLR build
    del learner
    gc.collect()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("alwidget-")]


def test_the_labels_switch_to_the_clearly_better_representation(semi_learner, oracle):
    """A case built so that one candidate is clearly better: a 2-step self-supervised trunk (no
    better than chance) against the pixels' principal components (digits separate well in them).
    The labels choose the PCA, say so with the cross-validated figures, and queries use it."""
    learner = semi_learner(representation="auto", representation_config={"steps": 2, "batch_size": 64},
                           validation_size=100)  # enough held-out labels to tell the two apart
    learner.prepare()
    assert set(learner.representations.ready()) == {"contrastive", "pca"}
    oracle(learner, learner.query(20))
    report = learner.retrain()
    assert report.representation == "pca", report.representation_reason
    scores = report.representation_scores
    assert scores["pca graph"] == max(scores.values()) and scores["pca graph"] > scores["contrastive graph"] + 0.2, scores
    assert report.representation_reason.startswith("pca ") and "contrastive" in report.representation_reason
    assert learner.representation_choice.name == "pca"
    assert learner._model.estimate.features_N_D.shape[1] == 50  # the head learned on the chosen features


def test_an_imbalanced_pool_reports_its_priors_and_balanced_accuracy(digits_pool, semi_learner, oracle):
    """One class holds 95 % of the pool and the two others have a single training label each: the
    priors follow the labels (not a uniform guess), the report gives balanced accuracy beside
    accuracy, and predictions are not forced into balance."""
    zeros = [i for i in digits_pool.ids if digits_pool.truth[i] == "0"][:171]
    rest = [i for i in digits_pool.ids if digits_pool.truth[i] == "1"][:5] + \
        [i for i in digits_pool.ids if digits_pool.truth[i] == "2"][:4]
    pool = digits_pool.subset(zeros + rest)
    learner = semi_learner(pool, classes=["0", "1", "2"], validation_size=20)
    free = learner.selectable_ids()
    singles = [next(i for i in free if pool.truth[i] == c) for c in ("1", "2")]
    oracle(learner, [i for i in free if pool.truth[i] == "0"][:10] + singles)
    report = learner.retrain()
    assert report.ok and set(report.class_priors) == {"0", "1", "2"}
    assert report.class_priors["0"] > 0.8, report.class_priors  # 95 % of the pool; a uniform guess says 33 %
    assert 0.0 <= report.balanced_accuracy <= 1.0 and "balanced" in report.summary()
    predicted = learner.predict_proba(pool.ids).argmax(1)
    assert np.mean(predicted == 0) > 0.8


def test_pseudo_label_threshold_adds_to_the_graphs_pseudo_labels(semi_learner, oracle, monkeypatch):
    """``pseudo_label_threshold`` in ``semi`` mode: the previous model's confident predictions
    are trained on beside the graph's pseudo-labels (they were once replaced by them, never used)."""
    import alwidget.learner as learner_module

    trained_on = []
    real_fit = learner_module.fit

    def spy(module, forward, loss_fn, y, *args, **kwargs):
        trained_on.append(len(y))
        return real_fit(module, forward, loss_fn, y, *args, **kwargs)

    monkeypatch.setattr(learner_module, "fit", spy)
    runs = {}
    for threshold in (None, 0.5):
        learner = semi_learner(pseudo_label_threshold=threshold, seed=4)
        oracle(learner, learner.query(30))
        learner.retrain()
        trained_on.clear()
        runs[threshold] = (learner.retrain(), trained_on[-1])
    (plain, n_plain), (with_threshold, n_threshold) = runs[None], runs[0.5]
    assert plain.pseudo_labels > 0  # the graph gives pseudo-labels: the case that lost the others
    assert with_threshold.pseudo_labels > plain.pseudo_labels
    assert n_threshold > n_plain  # and the head trains on them


def test_a_large_pools_judgement_runs_in_the_background(semi_learner, oracle, monkeypatch):
    """Above ``JUDGE_INLINE_UP_TO`` items the cycle does not wait for the labels' judgement: the
    first cycle runs on the first candidate, marked provisional, and the next takes the verdict
    the judge thread reached on the same labels as the inline judgement would."""
    import alwidget.judge as judge_module

    inline = semi_learner(representation="auto", seed=5)
    inline.representation.result()
    inline.recipe.candidates.wait_all()
    # labels picked without a query, which would judge (on the validation labels) and so give the
    # inline learner an incumbent the other does not have
    first = inline.selectable_ids()[::7][:20]
    oracle(inline, first)
    expected = inline.retrain()
    assert not inline.representation_choice.provisional

    monkeypatch.setattr(judge_module, "JUDGE_INLINE_UP_TO", 0)
    learner = semi_learner(representation="auto", seed=5)
    learner.recipe.candidates.wait_all()
    oracle(learner, first)
    report = learner.retrain()
    choice = learner.representation_choice
    assert choice.provisional and "in the background" in report.representation_reason
    assert report.representation == next(iter(learner.recipe.ready()))
    learner.recipe.judge.join(60)
    oracle(learner, learner.query(2))  # too few new labels to call for another judgement
    again = learner.retrain()
    assert not learner.representation_choice.provisional
    assert again.representation_scores == expected.representation_scores  # the same folds, the same labels
    assert again.representation == expected.representation


def test_the_candidates_graphs_are_built_before_the_first_cycle(semi_learner, oracle, monkeypatch):
    """Each candidate's kNN graph and Poisson system are built on the representations' thread as
    it is ready; the first cycle finds them and builds none."""
    import alwidget.judge as judge_module

    learner = semi_learner(representation="auto")
    learner.recipe.candidates.wait_all()
    learner.recipe.candidates.wait(60)  # the build thread ends after its hooks
    graphs = {id(rep): graph for rep, graph in learner.recipe.judge.graphs.values()}
    assert set(graphs) == {id(rep) for rep in learner.recipe.ready().values()}
    assert all("_poisson" in g.__dict__ for g in graphs.values())
    built = []
    real = judge_module.knn_graph
    monkeypatch.setattr(judge_module, "knn_graph", lambda *a, **kw: built.append(1) or real(*a, **kw))
    oracle(learner, learner.query(20))
    assert learner.retrain().ok and built == []


def test_a_budget_without_room_for_a_graph_learns_linear_only(semi_learner, oracle):
    """A memory_limit that holds the bookkeeping of 300 items but not one kNN graph (300 × 768 B)
    nor two copies of the features: the learner says so when made, builds no graph, keeps one copy
    of each candidate's features, and the labels judge both candidates with the linear classifier
    only; cycles, queries and predictions work."""
    from alwidget.data.budget import BASELINE_BYTES, PER_ITEM_BYTES

    fixed = BASELINE_BYTES + 300 * (PER_ITEM_BYTES + 8 * 10)
    learner = semi_learner(representation="auto", memory_limit=fixed + 100_000, validation_size=40)
    plan = learner.memory_plan
    assert (plan.graphs_wanted, plan.graphs_in_memory) == (3, 0) and not plan.over_budget
    assert not plan.features_in_memory  # nor the features twice: each candidate holds one copy
    learner.prepare()  # both candidates (contrastive, pca) ready
    from alwidget.representation.builder import StandardizedRaw

    for rep in learner.representations.ready().values():
        assert isinstance(rep.raw_N_D, StandardizedRaw) and rep.raw_N_D.features_N_D is rep.features_N_D
    oracle(learner, learner.query(20))
    report = learner.retrain()
    assert report.ok and set(report.representation_scores) == {"contrastive linear", "pca linear"}
    assert learner.representation_choice.classifier == "linear" and report.pseudo_labels == 0
    assert "no kNN graph for" in report.representation_reason
    assert learner.recipe.judge.graphs == {}
    oracle(learner, learner.query(20))
    assert learner.retrain().n_labels == 40
    np.testing.assert_allclose(learner.predict_proba(learner.pool.ids[:3]).sum(1), 1, atol=1e-5)
