"""Image tensors: sizes, channel conversion, normalisation, shifts, unreadable images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alwidget import ImagePool
from alwidget.data.augment import random_shift
from alwidget.data.tensors import PoolTensors, choose_image_size, pool_channels


def test_choose_image_size():
    assert choose_image_size(8, 28, pretrained=False) == 28  # digits enlarged
    assert choose_image_size(28, 28, pretrained=False) == 28
    assert choose_image_size(500, 28, pretrained=False) == 224  # photos shrunk for a CPU
    assert choose_image_size(28, 224, pretrained=True) == 224  # pretrained: its own size


def test_pool_tensors_resize_and_normalise():
    imgs = np.zeros((2, 8, 8), np.uint8)
    imgs[1] = 255
    pool = ImagePool.from_arrays(imgs)
    t = PoolTensors(pool, 16, 1, (0.5,), (0.5,))
    x = t.batch([0, 1])
    assert x.shape == (2, 1, 16, 16)
    torch.testing.assert_close(x[0], torch.full((1, 16, 16), -1.0))
    torch.testing.assert_close(x[1], torch.full((1, 16, 16), 1.0))


def test_rgb_to_grey_uses_luma_and_grey_to_rgb_repeats():
    rgb = np.zeros((1, 4, 4, 3), np.uint8)
    rgb[..., 0] = 100
    rgb[..., 1] = 200
    t = PoolTensors(ImagePool.from_arrays(rgb), 4, 1, (0.0,), (1.0,))
    expected = round(0.299 * 100 + 0.587 * 200) / 255
    assert t.batch([0])[0, 0, 0, 0].item() == pytest.approx(expected, abs=1e-6)
    grey = np.full((1, 4, 4), 51, np.uint8)
    t3 = PoolTensors(ImagePool.from_arrays(grey), 4, 3, (0, 0, 0), (1, 1, 1))
    torch.testing.assert_close(t3.batch([0])[0], torch.full((3, 4, 4), 0.2))


def test_random_shift_moves_content_within_bounds():
    x = torch.zeros(64, 1, 20, 20)
    x[:, :, 10, 10] = 1.0
    y = random_shift(x, max_frac=0.1, generator=torch.Generator().manual_seed(0))
    rows, cols = (y[:, 0] == 1).nonzero()[:, 1], (y[:, 0] == 1).nonzero()[:, 2]
    assert len(rows) == 64  # the dot survives every shift
    assert rows.min() >= 8 and rows.max() <= 12 and cols.min() >= 8 and cols.max() <= 12
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5  # and really moves


def test_pool_channels_of_arrays():
    assert pool_channels(ImagePool.from_arrays(np.zeros((3, 10, 12), np.uint8))) == (1, 10)
    assert pool_channels(ImagePool.from_arrays(np.zeros((3, 10, 12, 3), np.uint8))) == (3, 10)


def test_random_affine_is_mild_label_safe_and_seeded():
    from alwidget.data.augment import augment_batch, random_affine

    x = torch.zeros(200, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0  # a bar in the middle
    g = lambda: torch.Generator().manual_seed(0)
    y = random_affine(x, generator=g())
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1 + 1e-6
    torch.testing.assert_close(random_affine(x, generator=g()), y)  # seeded
    # ink is (nearly) preserved: zoom is at most ±10 %, so the area changes by at most about 21 %
    ratio = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert float(ratio.min()) > 0.7 and float(ratio.max()) < 1.35
    # the centre of mass of a centred bar moves by at most the shift (10 % of 28 = 2.8 px per axis,
    # 4 px diagonally) plus a little from shear
    coords = torch.arange(28.0)
    com = lambda t: torch.stack([(t.sum(3)[:, 0] * coords).sum(1), (t.sum(2)[:, 0] * coords).sum(1)], 1) / t.sum((1, 2, 3))[:, None]
    moved = (com(y) - com(x)).norm(dim=1)
    assert float(moved.max()) < 5.0 and float(moved.mean()) > 0.5  # it moves, but not far
    # no parameters: the identity (up to interpolation)
    same = random_affine(x, max_degrees=0, max_scale=0, max_shear=0, max_translate=0, generator=g())
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    # names: True is affine, False/none the identity, shift the shift
    torch.testing.assert_close(augment_batch(x, True, g()), y)
    assert augment_batch(x, False) is x and augment_batch(x, "none") is x
    torch.testing.assert_close(augment_batch(x, "shift", g()), random_shift(x, generator=g()))
    with pytest.raises(ValueError, match="augment must be"):
        augment_batch(x, "rotate")


def test_a_pass_over_a_lazy_pool_does_not_fill_the_pools_image_cache():
    """The resized copy the model keeps is the only one: reading every image of a dataset pool
    for it once left a second copy of each in the pool's LRU cache (3 KB an item at 32 px)."""
    from alwidget.data.tensors import load_pool_rows

    class Generated(torch.utils.data.Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            return torch.full((3, 8, 8), i / 40.0), i % 2

    pool = ImagePool.from_torch(Generated())
    cache = pool._source.cache
    tensors = PoolTensors(pool, 8, 3, (0.0,) * 3, (1.0,) * 3)
    tensors.ensure(range(40))
    rows, failed = load_pool_rows(pool, 0, 40, 8, 3)
    assert cache._bytes == 0 and not failed
    torch.testing.assert_close(rows, tensors._u8)
    assert int(rows[10, 0, 0, 0]) == round(10 / 40 * 255)  # the images themselves
    pool.image(pool.ids[3])  # the grid's thumbnails still use the cache
    assert cache._bytes == 8 * 8 * 3
