"""The recipe registry, and a new mode made of one class: registered, used by name, run end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from alwidget.model.features import Standardize
from alwidget.model.train import TrainConfig
from alwidget.uncertainty import MCDropout
from alwidget.recipes import (EmbedRecipe, FinetuneRecipe, FitPlan, Recipe, SemiRecipe, available_recipes,
                              create_recipe, register_recipe)
from alwidget.recipes import registry


class PixelRecipe(Recipe):
    """A mode in a dozen lines: the head reads the images shrunk to 8×8 pixels (computed once)."""

    name = "test_pixels"
    default_train = TrainConfig(max_steps=150, max_epochs=1000, batch_size=64, lr=3e-3, augment=False, patience=0)

    def setup(self, learner, *, threads, notify):
        self.trunk = nn.Sequential(nn.AdaptiveAvgPool2d(8), nn.Flatten())
        with torch.no_grad():
            raw = self.trunk(learner._tensors.batch(np.arange(len(learner.pool))))
        self.norm = Standardize.fit(raw)
        with torch.no_grad():
            self.features = self.norm(raw)
        self.setups = getattr(self, "setups", 0) + 1

    def plan(self, learner, pos_l, y_l, pos_v, pos_fit, y_fit, gen, prog, cancel):
        head = learner.estimator.build_head(self.features.shape[1], len(learner.classes))
        feats = self.features
        return FitPlan(self.trunk, head, head, forward=lambda idx, training: head(feats[torch.as_tensor(pos_fit[idx])]),
                       val_outputs=lambda: head(feats[torch.as_tensor(pos_v)]), y_fit=y_fit,
                       n_pseudo=len(pos_fit) - len(pos_l), features=feats, norm=self.norm)

    def check_features(self, learner, prog, cancel):
        return self.features, "8x8 pixels"


@pytest.fixture
def pixels_mode():
    register_recipe(PixelRecipe)
    yield PixelRecipe
    registry._REGISTRY.pop(PixelRecipe.name, None)


def test_the_built_in_modes_are_registered():
    assert {"semi", "embed", "finetune"} <= set(available_recipes())
    assert isinstance(create_recipe("semi"), SemiRecipe) and isinstance(create_recipe("embed"), EmbedRecipe)
    assert isinstance(create_recipe("finetune"), FinetuneRecipe)
    recipe = create_recipe("semi", refine_every=None, representation="pca")
    assert recipe.refine_every is None and recipe.representation_name == "pca"
    assert create_recipe(recipe) is recipe


def test_bad_recipes_and_settings_say_what_is_wrong():
    with pytest.raises(ValueError, match="mode must be one of"):
        create_recipe("semisupervised")
    with pytest.raises(TypeError, match="pass them to the recipe itself"):
        create_recipe(SemiRecipe(), refine_every=10)
    with pytest.raises(TypeError, match="expects a Recipe subclass"):
        register_recipe(dict)

    class Nameless(Recipe):
        pass

    with pytest.raises(ValueError, match="non-empty lower-case name"):
        register_recipe(Nameless)

    class Impostor(Recipe):
        name = "semi"

    with pytest.raises(ValueError, match="already registered"):
        register_recipe(Impostor)
    assert registry._REGISTRY["semi"] is SemiRecipe


def test_settings_of_another_mode_are_refused_by_name(small_pool, learners):
    with pytest.raises(TypeError, match=r"settings of mode='embed': refine_every"):
        learners(small_pool, dict(mode="embed"), refine_every=10)
    with pytest.raises(TypeError, match="pass them to the recipe itself"):
        learners(small_pool, dict(mode=SemiRecipe()), propagation="laplace")


def test_the_settings_every_mode_takes_belong_to_the_recipe(small_pool, learners):
    learner = learners(small_pool, dict(mode="embed"), train={"max_steps": 7}, pseudo_label_threshold=0.9,
                       cold_start="kmeans", validation_size=10)
    assert learner.recipe.train_config.max_steps == 7 and learner.train_config is learner.recipe.train_config
    assert learner.train_config.lr == EmbedRecipe.default_train.lr  # the mode's defaults, one field changed
    learner.train_config = TrainConfig(max_steps=3)  # settable between cycles: the recipe's changes
    assert learner.recipe.train_config.max_steps == 3
    assert (learner.recipe.pseudo_label_threshold, learner.recipe.cold_start) == (0.9, "kmeans")
    assert "cold_start='kmeans'" in repr(learner.recipe) and "pseudo_label_threshold=0.9" in repr(learner.recipe)
    with pytest.raises(ValueError, match="cold_start must be"):
        SemiRecipe(cold_start="typical")
    with pytest.raises(ValueError, match=r"pseudo_label_threshold must be in \[0.5, 1\]"):
        EmbedRecipe(pseudo_label_threshold=0.3)
    with pytest.raises(TypeError, match="train must be a TrainConfig"):
        SemiRecipe(train=300)


def test_the_learner_takes_at_most_15_parameters_and_moved_ones_still_work(small_pool):
    """``pretrained``, ``weights``, ``image_size`` are the backbone's and ``mc_samples`` the
    estimator's; given flat they still work, with a FutureWarning that says what to write."""
    import inspect

    from alwidget import ActiveLearner, Backbone

    named = [p for p in inspect.signature(ActiveLearner.__init__).parameters.values()
             if p.name != "self" and p.kind is not p.VAR_KEYWORD]
    assert len(named) <= 15, [p.name for p in named]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = ActiveLearner(small_pool, mode="finetune", image_size=16, mc_samples=3, validation_size=10)
    future = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert len(future) == 2, future
    assert "backbone=Backbone('auto', image_size=16)" in future[0]
    assert "create_estimator('mc_dropout', n_samples=3)" in future[1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new = ActiveLearner(small_pool, mode="finetune", backbone=Backbone(image_size=16),
                            uncertainty=MCDropout(n_samples=3), validation_size=10)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]
    for learner in (old, new):
        assert (learner.image_size, learner.mc_samples, learner.estimator.n_samples) == (16, 3, 3)
        learner.close()
    with pytest.raises(TypeError, match="give them in Backbone only"):
        ActiveLearner(small_pool, backbone=Backbone(image_size=16), image_size=32)
    with pytest.raises(ValueError, match="n_samples must be at least 1"):
        MCDropout(n_samples=0)
    with pytest.raises(ValueError, match="image_size must be a positive"):
        Backbone(image_size=0)


def test_a_recipe_object_carries_its_own_settings(small_pool, learners, oracle):
    learner = learners(small_pool, dict(mode=SemiRecipe(representation="pca", refine_every=None), image_size=16,
                                        validation_size=30, validation_from_truth=True, mc_samples=8))
    assert learner.mode == "semi" and learner.refine_every is None and learner.strategy.name == "budget_aware"
    assert list(learner.representations.members) == ["pca"]
    oracle(learner, learner.query(20))
    assert learner.retrain().representation == "pca"
    with pytest.raises(ValueError, match="already serves another learner"):
        learners(small_pool, dict(mode=learner.recipe))


def test_a_new_mode_is_one_registered_class(digits_pool, learners, oracle, pixels_mode):
    """Registered, the toy mode runs the whole session by name: queries, cycles with reports,
    the label check, predictions on images outside the pool (test accuracy 0.885 here)."""
    test, pool = digits_pool.split(0.3, seed=0)
    learner = learners(pool, dict(mode="test_pixels", validation_size=50, validation_from_truth=True, seed=0))
    assert learner.mode == "test_pixels" and learner.strategy.name == "margin"
    assert learner.train_config == PixelRecipe.default_train and learner.recipe.setups == 1
    assert learner.refine_every is None and learner.representations is None
    with pytest.raises(AttributeError, match="has no slow cycle"):
        learner.refine_every = 10
    with pytest.raises(RuntimeError, match="mode='semi'"):
        learner.refine()
    oracle(learner, learner.query(30))
    first = learner.retrain()
    oracle(learner, learner.query(70))
    report = learner.retrain()
    assert first.ok and report.ok and report.n_labels == 100
    # logistic regression on the same 8x8 pixels of these 100 labels reaches about 0.9 on digits
    acc = learner.evaluate(test)
    assert acc > 0.8, acc
    assert report.accuracy > 0.75
    check = learner.label_issues(n_folds=3)
    assert check.n_checked == 150 and "features: 8x8 pixels" in check.notes


def test_a_new_candidate_representation_is_one_registered_entry(small_pool, learners, oracle):
    """A kind of candidate added to the registry is built with the others under
    ``representation="auto"``, selectable by its own name, judged by the labels, and counted in
    the memory plan's graphs."""
    from alwidget.recipes import candidates as registry_of_candidates
    from alwidget.representation import PoolRepresentation, RepresentationCache

    def build(recipe, learner, threads, engine):
        trunk = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten())
        chans = learner.backbone_info.in_chans
        return "pixels4", PoolRepresentation(learner._tensors, trunk, 16 * chans, method="frozen", name="pixels4",
                                             cache=RepresentationCache({"what": "test pixels4"}), seed=learner.seed,
                                             num_threads=threads)

    entry = registry_of_candidates.Candidate("pixels4", ("auto", "pixels4"), build, preference=5, build_rank=0.5,
                                             graphs=lambda pretrained: 1)
    before = registry_of_candidates.graphs_kept("auto", False)
    registry_of_candidates.register_candidate(entry)
    try:
        assert "pixels4" in registry_of_candidates.representations()
        assert registry_of_candidates.graphs_kept("auto", False) == before + 1
        alone = learners(small_pool, dict(mode="semi", representation="pixels4", image_size=16, validation_size=30,
                                          validation_from_truth=True, mc_samples=8))
        assert list(alone.representations.members) == ["pixels4"]
        oracle(alone, alone.query(20))
        assert alone.retrain().representation == "pixels4"
        every = learners(small_pool, dict(mode="semi", image_size=16, validation_size=30, validation_from_truth=True,
                                          mc_samples=8, representation_config={"steps": 5}))
        assert list(every.representations.members) == ["contrastive", "pca", "pixels4"]  # by preference
        assert every.representations.build_order == ["pca", "pixels4", "contrastive"]
        every.representations.wait_all()
        oracle(every, every.query(20))
        report = every.retrain()
        assert any(key.startswith("pixels4 ") for key in report.representation_scores), report.representation_scores
    finally:
        registry_of_candidates._REGISTRY.pop("pixels4", None)
    assert "pixels4" not in registry_of_candidates.representations()


def test_a_recipe_that_skips_the_common_settings_gets_their_defaults():
    class Bare(EmbedRecipe):
        def __init__(self) -> None:  # does not call Recipe.__init__
            self.features = None

    bare = Bare()
    assert bare.train_config == EmbedRecipe.default_train
    assert (bare.cold_start, bare.pseudo_label_threshold, bare.settings()) == ("random", None, {})
    bare.train_config = TrainConfig(max_steps=4)
    assert bare.train_config.max_steps == 4 and Bare().train_config == EmbedRecipe.default_train
