"""ActiveLearner: the cycle, queries, labels, background retraining, errors, determinism."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch

from alwidget import ActiveLearner, Backbone, ImagePool, LabelStore
from alwidget.progress import CycleCancelled
from alwidget.uncertainty import MCDropout


def test_cold_start_query_is_distinct_unlabeled_and_not_validation(make_learner, oracle):
    learner = make_learner(seed=3)
    first = learner.query(25)
    assert len(first) == len(set(first)) == 25
    assert not set(first) & set(learner.validation_ids)
    oracle(learner, first[:10])
    second = learner.query(200)
    assert not set(second) & set(first[:10])
    assert not set(second) & set(learner.validation_ids)
    # 300 items - 30 validation - 10 labelled = 260 left; asking for more returns what is left
    assert len(learner.query(1000)) == 260


def test_kmeans_cold_start_spreads_over_classes(make_learner):
    learner = make_learner(cold_start="kmeans", seed=0)
    picked = learner.query(20)
    classes = {learner.pool.truth[i] for i in picked}
    assert len(picked) == 20 and len(classes) >= 8  # 10 digit classes, 20 picks spread by k-means


def test_validation_from_truth_labels_the_validation_split(make_learner):
    learner = make_learner(validation_from_truth=True)
    val = learner.store.labels(split="validation")
    assert set(val) == set(learner.validation_ids) and len(val) == 30
    assert all(val[i] == learner.pool.truth[i] for i in val)
    assert learner.pending_validation() == []
    assert learner.labels == {}


def test_teach_validates_everything_before_writing(make_learner):
    learner = make_learner()
    ids = learner.query(3)
    with pytest.raises(ValueError, match="not one of the classes"):
        learner.teach(ids, ["1", "2", "cat"])
    with pytest.raises(KeyError, match="not in the pool"):
        learner.teach([ids[0], "no-such-item"], ["1", "2"])
    with pytest.raises(ValueError, match="3 ids but 2 labels"):
        learner.teach(ids, ["1", "2"])
    with pytest.raises(ValueError, match="class index"):
        learner.teach(ids[:1], [10])
    assert learner.labels == {}  # nothing half-written
    learner.teach(ids, [1, "2", np.int64(3)])
    assert learner.labels == {ids[0]: "1", ids[1]: "2", ids[2]: "3"}


def test_teach_routes_validation_items_to_the_validation_split(make_learner):
    learner = make_learner()
    v = learner.validation_ids[0]
    learner.teach(v, "4")
    assert learner.store.labels(split="validation") == {v: "4"}
    assert v not in learner.labels
    assert learner.pending_validation() == learner.validation_ids[1:]


def test_retrain_without_labels_fails_clearly_and_records_it(make_learner):
    learner = make_learner()
    with pytest.raises(ValueError, match="no training labels"):
        learner.retrain()
    assert learner.history[-1].error and "no training labels" in learner.history[-1].error


def test_cycle_report_and_entropy_query_order(make_learner, oracle):
    learner = make_learner(validation_from_truth=True, seed=1, strategy="entropy")
    oracle(learner, learner.query(40))
    rep = learner.retrain()
    assert rep.ok and rep.cycle == 1 and rep.n_labels == 40 and rep.n_validation == 30
    lo, hi = rep.accuracy_ci
    assert 0 <= lo <= rep.accuracy <= hi <= 1
    # the report's accuracy is the model's accuracy on the validation items
    probs = learner.predict_proba(learner.validation_ids)
    truth = [learner.classes.index(learner.pool.truth[i]) for i in learner.validation_ids]
    assert rep.accuracy == pytest.approx(np.mean(probs.argmax(1) == truth))
    with pytest.warns(FutureWarning, match="use learner.predict_proba"):  # the old name still answers
        np.testing.assert_array_equal(learner.predict(learner.validation_ids), probs)
    assert set(rep.per_class) == set(learner.classes)
    assert sum(c["support"] for c in rep.per_class.values()) == 30
    hist = rep.histogram
    assert sum(hist.unlabeled) == 300 - 30 - 40 and sum(hist.labeled) == 40
    assert sum(hist.bands.values()) == 230
    assert {"train", "features", "score", "report", "total"} <= set(rep.timings)
    assert rep.timings["total"] >= rep.timings["train"] > 0
    # entropy: the query is the top-k of the scores among the unlabelled, best first
    scores = learner.scores
    picked = learner.query(10)
    pos = [learner.pool.index(i) for i in picked]
    assert np.all(np.diff(scores[pos]) <= 1e-12)
    rest = np.ones(300, bool)
    rest[[learner.pool.index(i) for i in list(learner.labels) + learner.validation_ids + picked]] = False
    assert scores[pos].min() >= scores[rest].max() - 1e-12
    # entropy of the predictive mean, as the strategy defines it
    p = learner.predict_proba(picked)
    h = -(np.where(p > 0, p * np.log(p), 0)).sum(1)
    np.testing.assert_allclose(scores[pos], h, rtol=1e-6)


def test_same_seed_same_labels_same_queries(make_learner, oracle):
    def session(seed):
        learner = make_learner(validation_from_truth=True, strategy="bald", seed=seed)
        first = learner.query(30)
        oracle(learner, first)
        learner.retrain()
        second = learner.query(10)
        oracle(learner, second)
        learner.retrain()
        return first, second, learner.query(10), learner.scores

    a, b = session(7), session(7)
    assert a[0] == b[0] and a[1] == b[1] and a[2] == b[2]
    np.testing.assert_array_equal(a[3], b[3])
    c = session(8)
    assert c[0] != a[0]


def test_background_cycle_with_labels_given_meanwhile(make_learner, oracle):
    learner = make_learner(validation_from_truth=True, train={"max_steps": 150, "patience": 0})
    oracle(learner, learner.query(30))
    steps = []
    started = threading.Event()

    def progress(step, frac):
        steps.append(step)
        started.set()

    future = learner.retrain_async(progress)
    assert learner.retrain_async() is future  # one cycle at a time
    assert started.wait(30)
    late = learner.query(5)  # cold-start queries while the first model trains
    oracle(learner, late)
    rep = future.result(timeout=120)
    assert rep.ok and rep.n_labels in (30, 35)
    if rep.n_labels == 30:  # trained on the older label set: applied, stale, next cycle due
        assert rep.stale and learner.cycle_due
    assert "train" in steps and steps[-1] == "done"
    assert set(late) <= set(learner.labels) and len(learner.labels) == 35
    rep2 = learner.retrain_async().result(timeout=120)
    assert rep2.n_labels == 35 and not rep2.stale and not learner.cycle_due


class _ExplodingEstimator(MCDropout):
    name = "exploding"

    def loss(self, head_out, y_B, *, weight_C=None, progress=1.0):
        raise RuntimeError("boom in training")


class _NaNEstimator(MCDropout):
    name = "nan-loss"

    def loss(self, head_out, y_B, *, weight_C=None, progress=1.0):
        return super().loss(head_out, y_B) * float("nan")


def test_training_error_reaches_future_and_report_and_keeps_labels(make_learner, oracle):
    learner = make_learner(uncertainty=_ExplodingEstimator())
    ids = learner.query(20)
    oracle(learner, ids)
    future = learner.retrain_async()
    with pytest.raises(RuntimeError, match="boom in training"):
        future.result(timeout=60)
    assert learner.history[-1].error == "RuntimeError: boom in training"
    assert set(learner.labels) == set(ids)
    # the session continues: switch to a working estimator and train
    learner.estimator = MCDropout()
    assert learner.retrain().ok


def test_nan_loss_is_reported_and_previous_model_kept(make_learner, oracle):
    learner = make_learner(validation_from_truth=True)
    oracle(learner, learner.query(20))
    good = learner.retrain()
    before = learner.scores
    learner.estimator = _NaNEstimator()
    with pytest.raises(Exception, match="loss became nan"):
        learner.retrain()
    assert "nan" in learner.history[-1].error
    np.testing.assert_array_equal(learner.scores, before)
    assert good.ok and len(learner.labels) == 20


def test_cancel_a_background_cycle_then_continue(make_learner, oracle):
    learner = make_learner(train={"max_steps": 100000, "max_epochs": 100000, "patience": 0})
    oracle(learner, learner.query(20))
    started = threading.Event()
    future = learner.retrain_async(lambda s, f: started.set() if s == "train" else None)
    assert started.wait(60)
    assert learner.cancel()
    with pytest.raises(CycleCancelled):
        future.result(timeout=60)
    assert learner.history[-1].error == "the cycle was cancelled"
    assert not learner.cancel()
    learner.train_config = type(learner.train_config)(max_steps=20, patience=0)
    assert learner.retrain().ok


def test_in_memory_store_warns_once(small_pool):
    with pytest.warns(UserWarning, match="labels live in memory"):
        learner = ActiveLearner(small_pool, validation_size=10)
    assert learner.in_memory
    learner.close()


def test_store_resume_and_wrong_pool(tmp_path, small_pool, digits_pool, make_learner, oracle):
    path = tmp_path / "labels.db"
    learner = make_learner(store=path, seed=5)
    ids = learner.query(12)
    oracle(learner, ids)
    learner.undo()
    val = learner.validation_ids
    learner.close()
    again = make_learner(store=path, seed=99)  # the store keeps the validation set, not the seed
    assert again.validation_ids == val
    assert set(again.labels) == set(ids[:-1])
    again.close()
    other = digits_pool.subset(digits_pool.ids[300:600])
    with pytest.raises(ValueError, match="different pool"):
        make_learner(pool=other, store=path)
    assert LabelStore(path).labels() == {i: small_pool.truth[i] for i in ids[:-1]}


def test_store_with_other_classes_is_refused(tmp_path, small_pool, make_learner):
    path = tmp_path / "labels.db"
    make_learner(store=path).close()
    with pytest.raises(ValueError, match="classes"):
        make_learner(store=path, classes=[str(i) for i in range(9, -1, -1)])


def test_no_classes_and_empty_inputs_are_clear():
    pool = ImagePool.from_arrays(np.zeros((20, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="pass classes"):
        ActiveLearner(pool, store=":memory:")
    with pytest.raises(ValueError, match="mode"):
        ActiveLearner(pool, classes=["a", "b"], mode="warp", store=":memory:")
    with pytest.raises(ValueError, match="unique"):
        ActiveLearner(pool, classes=["a", "a"], store=":memory:")
    with pytest.raises(TypeError, match="ImagePool"):
        ActiveLearner(np.zeros((3, 8, 8)), classes=["a", "b"])


def test_predict_and_save_load_roundtrip(tmp_path, make_learner, oracle):
    import timm

    learner = make_learner(validation_from_truth=True, uncertainty="softmax", strategy="margin")
    oracle(learner, learner.query(30))
    learner.retrain()
    probs = learner.predict_proba(learner.pool.ids[:20])
    assert probs.shape == (20, 10)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    weights, config = learner.save_model(tmp_path / "model.pt")
    assert config.exists() and weights.exists()
    fresh = make_learner(uncertainty="softmax", strategy="margin")
    fresh.load_model(weights)
    np.testing.assert_allclose(fresh.predict_proba(fresh.pool.ids[:20]), probs, atol=1e-5)
    # the trunk weights load into a plain timm model
    trunk = timm.create_model("alwidget_cnn", num_classes=0, in_chans=1, checkpoint_path=str(weights))
    x = torch.randn(2, 1, 16, 16)
    learner_trunk = learner._model.classifier.trunk.eval()
    trunk.eval()
    torch.testing.assert_close(trunk(x), learner_trunk(x))


def test_embed_mode_caches_features(tmp_path, make_learner, oracle):
    learner = make_learner(mode="embed", validation_from_truth=True, cache_dir=tmp_path)
    oracle(learner, learner.query(30))
    r1 = learner.retrain()
    oracle(learner, learner.query(10))
    r2 = learner.retrain()
    assert r1.ok and r2.ok and r2.n_labels == 40
    assert len(list(tmp_path.glob("features-*.pt"))) == 1
    # a new session with the same cache folder reads the features instead of embedding
    again = make_learner(mode="embed", validation_from_truth=True, cache_dir=tmp_path)
    feats = again.recipe.features.get(again._trunk, again._tensors)
    torch.testing.assert_close(feats, learner.recipe.features.features_N_D)


def test_custom_module_backbone(make_learner, oracle):
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 8, 3)
            self.pool = torch.nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            return self.pool(torch.relu(self.conv(x))).flatten(1)

    learner = make_learner(backbone=Tiny(), validation_from_truth=True)
    assert learner.backbone_info.num_features == 8
    oracle(learner, learner.query(20))
    assert learner.retrain().ok
    assert len(learner.query(5)) == 5


def test_strategy_and_estimator_must_fit(make_learner):
    with pytest.raises(ValueError, match="'bald' needs posterior samples"):
        make_learner(uncertainty="softmax", strategy="bald")
    learner = make_learner(uncertainty="softmax", strategy="entropy")
    with pytest.raises(ValueError, match="needs posterior samples"):
        learner.set_strategy("variation_ratios")
    assert learner.strategy.name == "entropy"
    assert make_learner().strategy.name == "margin"  # the default, chosen in BENCHMARKS.md


def test_pseudo_labels_train_but_are_never_stored(make_learner, oracle):
    learner = make_learner(validation_from_truth=True, pseudo_label_threshold=0.6)
    oracle(learner, learner.query(40))
    learner.retrain()
    rep = learner.retrain()  # second cycle uses the first model's confident predictions
    assert rep.ok and rep.n_labels == 40
    assert len(learner.labels) == 40 and len(learner.store.labels(split=None)) == 70


def test_unreadable_image_is_skipped_not_fatal(tmp_path, digits_pool):
    from PIL import Image

    rng = np.random.default_rng(0)
    paths, truth = [], []
    for i, item in enumerate(digits_pool.ids[:60]):
        p = tmp_path / f"img{i:02d}.png"
        Image.fromarray(digits_pool.image(item)[:, :, 0]).save(p)
        paths.append(str(p))
        truth.append(digits_pool.truth[item])
    big = tmp_path / "broken.png"
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(big)
    big.write_bytes(big.read_bytes()[:300])  # header reads, pixels do not
    pool = ImagePool.from_paths(paths + [str(big)], truth=truth + ["3"], classes=digits_pool.classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner = ActiveLearner(pool, validation_size=10, validation_from_truth=True,
                                backbone=Backbone(image_size=16), train={"max_steps": 20})
    picked = learner.query(60)
    learner.teach(picked, [pool.truth[i] for i in picked])
    rep = learner.retrain()
    assert rep.ok
    assert str(big) not in learner.query(100)
    assert any(str(big) in str(s[0]) for s in pool.skipped)
    learner.close()


def test_stop_reason_budget(make_learner, oracle):
    from alwidget.stopping import StoppingRule

    learner = make_learner(validation_from_truth=True, stopping=StoppingRule(label_budget=20))
    assert learner.stop_reason() is None
    oracle(learner, learner.query(20))
    learner.retrain()
    assert "budget of 20" in learner.stop_reason()


def test_embed_mode_model_predicts_new_pools_and_roundtrips(tmp_path, make_learner, oracle, digits_pool):
    learner = make_learner(mode="embed", validation_from_truth=True)
    oracle(learner, learner.query(60))
    learner.retrain()
    # the pool's own items scored through the cache and through a fresh pass agree
    own = learner.predict_proba(learner.pool.ids[:50])
    again = learner.predict_pool(learner.pool.subset(learner.pool.ids[:50]))
    np.testing.assert_allclose(again, own, atol=1e-5)
    test = digits_pool.subset(digits_pool.ids[1000:1300])
    assert learner.evaluate(test) > 0.5  # standardised random features are informative
    weights, _ = learner.save_model(tmp_path / "embed.pt")
    fresh = make_learner(mode="embed")
    fresh.load_model(weights)
    np.testing.assert_allclose(fresh.predict_proba(fresh.pool.ids[:50]), own, atol=1e-5)


def test_load_model_gives_the_strategy_the_labels(tmp_path, make_learner, oracle):
    """After ``load_model`` the budget-aware default counts the labels as before the save (it
    once saw none: every query after a load was a cold start of typical points)."""
    store = tmp_path / "labels.db"
    learner = make_learner(mode="embed", strategy="budget_aware", validation_from_truth=True, store=store)
    oracle(learner, learner.query(40))  # 4 per class on average: past the switch at 3
    learner.retrain()
    rule = learner.strategy.rule(learner._model.estimate)
    assert rule[0] == "badge", rule
    weights, _ = learner.save_model(tmp_path / "model.pt")
    before = learner._model.estimate
    selectable = learner._selectable_mask()
    expected = learner.strategy.select(before, 10, selectable, np.random.default_rng(0))
    learner.close()
    fresh = make_learner(mode="embed", strategy="budget_aware", store=store)  # the labels come back from the store
    fresh.load_model(weights)
    after = fresh._model.estimate
    np.testing.assert_array_equal(after.labeled_N, before.labeled_N)
    np.testing.assert_array_equal(after.labels_N, before.labels_N)
    assert fresh.strategy.rule(after) == rule
    np.testing.assert_array_equal(fresh.strategy.select(after, 10, selectable, np.random.default_rng(0)), expected)


def test_query_exclude_and_selectable_ids(make_learner, oracle):
    learner = make_learner(validation_from_truth=True)
    oracle(learner, learner.query(20))
    learner.retrain()
    top = learner.query(5)
    skipped = top[:2]
    again = learner.query(5, exclude=skipped)
    assert not set(again) & set(skipped) and again[:3] == top[2:]
    sel = learner.selectable_ids()
    assert len(sel) == 300 - 30 - 20 and not set(sel) & set(learner.labels)
    assert set(learner.query(1000)) == set(sel)


def test_public_model_api_matches_the_cycle(make_learner, oracle):
    learner = make_learner(validation_from_truth=True, seed=3)
    with pytest.raises(RuntimeError, match="retrain"):
        learner.classifier
    oracle(learner, learner.query(40))
    learner.retrain()
    net = learner.classifier
    assert not net.training
    x = learner.model_inputs()
    assert x.shape == (300, 1, 16, 16) and x.dtype == torch.float32
    some = learner.pool.ids[5:9]
    torch.testing.assert_close(learner.model_inputs(some), x[5:9])
    with pytest.raises(KeyError, match="not in the pool"):
        learner.model_inputs(["nope"])
    # the cycle's own posterior: same probabilities as predict(), T samples of the mean
    post = learner.posterior()
    assert post.samples_T_N_C.shape == (learner.mc_samples, 300, 10)
    np.testing.assert_allclose(post.probs_N_C.numpy(), learner.predict_proba(learner.pool.ids), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(post.samples_T_N_C.mean(0), post.probs_N_C)
    # another seed draws other dropout masks; n_samples is honoured; the same seed repeats
    other = learner.posterior(n_samples=7, seed=123)
    assert other.samples_T_N_C.shape == (7, 300, 10)
    torch.testing.assert_close(learner.posterior(n_samples=7, seed=123).samples_T_N_C, other.samples_T_N_C)
    assert not torch.allclose(other.samples_T_N_C, post.samples_T_N_C[:7])
    # the network maps model inputs to the head's outputs; with the class-prior factors it is the
    # dropout-free counterpart of the posterior mean
    with torch.no_grad():
        logits = net(x[:8])
    assert logits.shape == (8, 10)
    weights = learner.class_weights
    assert weights.shape == (10,) and np.isclose(np.mean(weights), 1.0)  # C x priors summing to 1
    adjusted = logits.softmax(1).numpy() * weights
    assert (adjusted.argmax(1) == post.probs_N_C[:8].argmax(1).numpy()).mean() >= 0.75
