"""create_backbone: timm names, custom modules, pretrained weights from a local file, offline failure."""

from __future__ import annotations

import socket
import time

import pytest
import timm
import torch

from alwidget.model.backbone import PretrainedWeightsUnavailable, create_backbone


def test_default_backbone_is_a_timm_model():
    trunk, info = create_backbone("alwidget_cnn", in_chans=1)
    assert timm.is_model("alwidget_cnn")
    assert info.num_features == 128 and info.in_chans == 1 and info.image_size == 28
    assert trunk(torch.zeros(3, 1, 28, 28)).shape == (3, 128)
    assert trunk(torch.zeros(3, 1, 8, 8)).shape == (3, 128)  # any size >= 4 px
    assert sum(p.numel() for p in trunk.parameters()) < 200_000


def test_other_timm_model_and_rgb():
    trunk, info = create_backbone("test_resnet", in_chans=3)
    assert trunk(torch.zeros(2, 3, 32, 32)).shape == (2, info.num_features)


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match="not a timm model name.*resnet18"):
        create_backbone("resnet18x")
    with pytest.raises(ValueError, match="in_chans"):
        create_backbone("alwidget_cnn", in_chans=2)


def test_custom_module_measures_its_features():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 5, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    trunk, info = create_backbone(net, in_chans=1)
    assert trunk is net and info.num_features == 5
    bad = torch.nn.Conv2d(1, 5, 3)
    with pytest.raises(ValueError, match=r"features \[B, D\]"):
        create_backbone(bad, in_chans=1)


def test_pretrained_from_local_file_adapts_grey_input(tmp_path):
    src = timm.create_model("test_resnet", in_chans=3, num_classes=1000)
    path = tmp_path / "weights.pth"
    torch.save(src.state_dict(), path)
    trunk, info = create_backbone("test_resnet", in_chans=1, pretrained=True, weights=path)
    assert info.pretrained and info.image_size == src.pretrained_cfg["input_size"][-1]
    assert info.mean == (sum(src.pretrained_cfg["mean"]) / 3,)
    # timm sums the RGB filters of the first convolution for a grey input; the rest is copied
    first = src.pretrained_cfg["first_conv"]
    sd, tsd = src.state_dict(), trunk.state_dict()
    torch.testing.assert_close(tsd[first + ".weight"], sd[first + ".weight"].sum(1, keepdim=True))
    same = [k for k in tsd if k != first + ".weight"]
    assert same and all(torch.equal(tsd[k], sd[k]) for k in same)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_backbone("alwidget_cnn", pretrained=True, weights=tmp_path / "missing.pth")


def test_pretrained_offline_fails_fast_and_clearly(monkeypatch):
    """Offline (``HF_HUB_OFFLINE``, as in every test): a clear error at once, no connection tried."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tried = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: tried.append(a) or (_ for _ in ()).throw(OSError))
    t0 = time.perf_counter()
    with pytest.raises(PretrainedWeightsUnavailable, match="weights='path/to/file'"):
        create_backbone("resnet18", in_chans=3, pretrained=True)
    assert time.perf_counter() - t0 < 10 and not tried
    with pytest.raises(PretrainedWeightsUnavailable, match="no pretrained weights"):
        create_backbone("alwidget_cnn", pretrained=True)
