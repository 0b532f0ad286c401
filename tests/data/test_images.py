"""Tests for alwidget.data.images: normalising arrays, PIL images and files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image, ImageFile

from alwidget.data.images import (
    MAX_IMAGE_SIDE,
    ImageReadError,
    check_image_file,
    load_image_file,
    to_uint8_hwc,
)

# ----------------------------------------------------------------------------- arrays


def test_uint8_grey_gets_a_channel_axis_and_keeps_values():
    image = np.array([[0, 7], [200, 255]], dtype=np.uint8)
    out = to_uint8_hwc(image)
    assert out.shape == (2, 2, 1)
    assert out.dtype == np.uint8
    assert out[..., 0].tolist() == [[0, 7], [200, 255]]


@pytest.mark.parametrize("channels", [1, 3])
def test_uint8_with_one_or_three_channels_is_unchanged_but_copied(channels):
    image = np.arange(2 * 3 * channels, dtype=np.uint8).reshape(2, 3, channels)
    out = to_uint8_hwc(image)
    assert out.shape == (2, 3, channels)
    np.testing.assert_array_equal(out, image)
    assert not np.shares_memory(out, image) and out.flags.writeable


def test_rgba_array_is_composited_on_white():
    image = np.array([[[0, 0, 0, 0], [100, 50, 0, 255], [0, 0, 0, 128]]], dtype=np.uint8)
    out = to_uint8_hwc(image)
    assert out.shape == (1, 3, 3)
    assert out[0, 0].tolist() == [255, 255, 255]  # fully transparent -> white
    assert out[0, 1].tolist() == [100, 50, 0]  # opaque -> unchanged
    assert out[0, 2].tolist() == [127, 127, 127]  # half black on white


def test_grey_alpha_array_becomes_grey():
    out = to_uint8_hwc(np.array([[[10, 255], [10, 0]]], dtype=np.uint8))
    assert out.shape == (1, 2, 1)
    assert out[0, :, 0].tolist() == [10, 255]


def test_float_in_unit_range_is_scaled_by_255():
    out = to_uint8_hwc(np.array([[0.0, 0.2, 1.0]]))
    assert out[0, :, 0].tolist() == [0, 51, 255]


def test_float_in_byte_range_is_kept_and_rounded():
    out = to_uint8_hwc(np.array([[0.0, 2.0, 200.4, 254.6]], dtype=np.float32))
    assert out[0, :, 0].tolist() == [0, 2, 200, 255]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_floats_are_refused_naming_the_item(bad):
    image = np.zeros((4, 4))
    image[1, 2] = bad
    with pytest.raises(ValueError, match=r"image 'img_7' contains NaN or infinite"):
        to_uint8_hwc(image, item="img_7")


def test_normalised_floats_are_refused_with_advice():
    with pytest.raises(ValueError, match=r"\[-1, 1\].*Normalize"):
        to_uint8_hwc(np.array([[-1.0, 1.0]]), item="x")


def test_uint16_is_scaled_from_its_full_range():
    out = to_uint8_hwc(np.array([[0, 257, 32768, 65535]], dtype=np.uint16))
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]


def test_other_integers_are_kept_in_byte_range_and_scaled_as_16_bit_above():
    assert to_uint8_hwc(np.array([[0, 255]], dtype=np.int64))[0, :, 0].tolist() == [0, 255]
    # 1000 / 65535 * 255 = 3.89
    assert to_uint8_hwc(np.array([[0, 1000]], dtype=np.int32))[0, :, 0].tolist() == [0, 4]
    with pytest.raises(ValueError, match=r"image 'neg' has integer pixel values in \[-3, 5\]"):
        to_uint8_hwc(np.array([[-3, 5]]), item="neg")


def test_bool_becomes_0_and_255():
    assert to_uint8_hwc(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]


@pytest.mark.parametrize(
    "image",
    [
        np.array([[object(), object()]], dtype=object),
        np.array([[1 + 2j]]),
        np.array([["a", "b"]]),
    ],
    ids=["object", "complex", "str"],
)
def test_non_numeric_dtypes_are_refused(image):
    with pytest.raises(ValueError, match=r"image 'q' has dtype .*pass numeric pixel values"):
        to_uint8_hwc(image, item="q")


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2), ()])
def test_wrong_number_of_dimensions_is_refused(shape):
    with pytest.raises(ValueError, match=r"expected \[H, W\] or \[H, W, C\]"):
        to_uint8_hwc(np.zeros(shape, np.uint8))


def test_channels_first_gets_a_hint():
    with pytest.raises(ValueError, match=r"28 channels.*channels seem to come first"):
        to_uint8_hwc(np.zeros((3, 28, 28), np.uint8))


def test_empty_image_is_refused():
    with pytest.raises(ValueError, match="is empty"):
        to_uint8_hwc(np.zeros((0, 4), np.uint8), item="e")


def test_one_pixel_image_works():
    assert to_uint8_hwc(np.array([[9]], np.uint8)).tolist() == [[[9]]]


# ----------------------------------------------------------------------------- PIL modes


def test_pil_grey_stays_one_channel():
    image = Image.fromarray(np.array([[1, 2], [3, 4]], np.uint8))
    out = to_uint8_hwc(image)
    assert out.shape == (2, 2, 1)
    assert out[..., 0].tolist() == [[1, 2], [3, 4]]


def test_pil_bilevel_gives_0_and_255():
    image = Image.new("1", (2, 1))
    image.putpixel((1, 0), 1)
    assert to_uint8_hwc(image)[0, :, 0].tolist() == [0, 255]


def test_pil_la_is_composited_to_grey():
    image = Image.new("LA", (2, 1), (0, 0))
    image.putpixel((1, 0), (40, 255))
    out = to_uint8_hwc(image)
    assert out.shape == (1, 2, 1)
    assert out[0, :, 0].tolist() == [255, 40]


def test_pil_rgba_is_composited_to_rgb():
    image = Image.new("RGBA", (2, 1), (10, 20, 30, 0))
    image.putpixel((1, 0), (10, 20, 30, 255))
    out = to_uint8_hwc(image)
    assert out.shape == (1, 2, 3)
    assert out[0].tolist() == [[255, 255, 255], [10, 20, 30]]


def test_pil_palette_becomes_rgb_and_honours_transparency():
    image = Image.new("P", (3, 1))
    image.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * (256 * 3 - 9))
    image.putdata([0, 1, 2])
    assert to_uint8_hwc(image)[0].tolist() == [[255, 0, 0], [0, 0, 255], [0, 255, 0]]
    image.info["transparency"] = 1  # palette entry 1 (blue) is transparent
    assert to_uint8_hwc(image)[0].tolist() == [[255, 0, 0], [255, 255, 255], [0, 255, 0]]


def test_pil_cmyk_becomes_rgb():
    image = Image.new("CMYK", (1, 1), (0, 255, 255, 0))  # magenta + yellow = red
    assert to_uint8_hwc(image).tolist() == [[[255, 0, 0]]]


def test_pil_16_bit_is_scaled_not_clipped():
    image = Image.fromarray(np.array([[0, 257, 32768, 65535]], np.uint16))
    assert image.mode.startswith("I;16")
    assert to_uint8_hwc(image)[0, :, 0].tolist() == [0, 1, 128, 255]


def test_pil_32_bit_integer_and_float_modes():
    i_image = Image.fromarray(np.array([[0, 65535]], np.int32))
    assert i_image.mode == "I"
    assert to_uint8_hwc(i_image)[0, :, 0].tolist() == [0, 255]
    f_image = Image.fromarray(np.array([[0.0, 0.5]], np.float32))
    assert f_image.mode == "F"
    assert to_uint8_hwc(f_image)[0, :, 0].tolist() == [0, 128]


# ----------------------------------------------------------------------------- files


def test_rgb_png_round_trips(save_image):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = save_image("rgb.png", pixels)
    out = load_image_file(path)
    np.testing.assert_array_equal(out, pixels)
    assert check_image_file(path) == (5, 7)


def test_grey_png_has_one_channel(save_image):
    path = save_image("grey.png", np.full((3, 4), 77, np.uint8))
    out = load_image_file(path)
    assert out.shape == (3, 4, 1) and int(out[0, 0, 0]) == 77


def test_16_bit_png_is_scaled_properly(save_image):
    pixels = np.array([[0, 257, 32768, 65535]], np.uint16)
    path = save_image("deep.png", Image.fromarray(pixels))
    assert Image.open(path).mode.startswith("I;16")
    assert load_image_file(path)[0, :, 0].tolist() == [0, 1, 128, 255]


def test_cmyk_jpeg_becomes_rgb(save_image):
    path = save_image("cmyk.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)))
    assert Image.open(path).mode == "CMYK"
    out = load_image_file(path)
    assert out.shape == (8, 8, 3)
    red = out.reshape(-1, 3).mean(axis=0)
    assert red[0] > 240 and red[1] < 15 and red[2] < 15


def test_rgba_png_is_composited_on_white(save_image):
    image = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    image.putpixel((0, 0), (0, 128, 0, 255))
    out = load_image_file(save_image("rgba.png", image))
    assert out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [0, 128, 0]
    assert out[1, 1].tolist() == [255, 255, 255]


def test_palette_png_with_transparency(save_image):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 255, 9, 9, 9] + [0] * (256 * 3 - 6))
    image.putdata([0, 1])
    path = save_image("palette.png", image, transparency=1)
    out = load_image_file(path)
    assert out.shape == (1, 2, 3)
    assert out[0].tolist() == [[0, 0, 255], [255, 255, 255]]


def test_one_by_one_png(save_image):
    out = load_image_file(save_image("dot.png", np.array([[200]], np.uint8)))
    assert out.shape == (1, 1, 1) and int(out[0, 0, 0]) == 200


def test_exif_orientation_is_applied(save_image):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = save_image("rotated.jpg", Image.new("RGB", (4, 2), (200, 0, 0)), exif=exif)
    assert load_image_file(path).shape == (4, 2, 3)


def test_zero_byte_file_is_refused(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError) as info:
        load_image_file(path, item="empty")
    error = info.value
    assert error.reason == "empty file (0 bytes)"
    assert error.path == str(path) and error.item == "empty"
    assert str(path) in str(error) and "re-export the file as PNG or JPEG, or remove it" in str(error)
    with pytest.raises(ImageReadError, match="0 bytes"):
        check_image_file(path)


def test_text_named_jpg_is_refused(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n")
    with pytest.raises(ImageReadError, match=r"notes\.jpg.*not an image file Pillow can read"):
        load_image_file(path)
    with pytest.raises(ImageReadError, match="not an image"):
        check_image_file(path)


def test_truncated_png_passes_the_header_check_but_fails_to_load(truncated_png):
    assert check_image_file(truncated_png) == (64, 64)
    with pytest.raises(ImageReadError, match=r"truncated\.png.*truncated or corrupt image data"):
        load_image_file(truncated_png)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist"):
        load_image_file(tmp_path / "gone.png")


def test_huge_image_is_refused_from_its_header_without_decoding(huge_png, monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageReadError) as info:  # no_decoding fails the test if the pixels are read
        load_image_file(huge_png)
    with pytest.raises(ImageReadError):
        check_image_file(huge_png)
    assert "10000 x 10000 px, larger than the 8192 px per side allowed" in str(info.value)
    assert f"downscale it to at most {MAX_IMAGE_SIDE} px per side" in str(info.value)


def test_side_limit_is_a_parameter(save_image):
    path = save_image("wide.png", np.zeros((2, 50), np.uint8))
    assert load_image_file(path, max_side=50).shape == (2, 50, 1)
    with pytest.raises(ImageReadError, match="50 x 2 px"):
        load_image_file(path, max_side=49)


def test_decompression_bomb_is_refused(tmp_path, make_png):
    path = tmp_path / "bomb.png"
    path.write_bytes(make_png(20_000, 20_000, rows=False))  # 400 Mpx > 2 x Pillow's limit
    with pytest.raises(ImageReadError, match="too large to decode safely"):
        load_image_file(path, max_side=10**6)


def test_image_read_error_is_a_value_error_and_pickles():
    error = ImageReadError("a/b.png", "/data/a/b.png", "empty file (0 bytes)")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.item, copy.path, copy.reason) == (error.item, error.path, error.reason)
    assert str(copy) == str(error)


def test_jpeg_draft_decodes_only_the_scale_a_model_needs(tmp_path):
    """A 2000×1500 JPEG for a 224 px model decodes at 1/4 scale (500×375: the smallest whose
    sides stay ≥ 224; 1/8 would give 188 px), through the pool's ``image_for_size`` too; PNGs
    decode whole."""
    from PIL import Image

    from alwidget import ImagePool
    from alwidget.data.images import load_image_file

    rng = np.random.default_rng(0)
    photo = (rng.random((1500, 2000, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "a.jpg", quality=90)
    Image.fromarray(photo[:300, :400]).save(tmp_path / "b.png")
    assert load_image_file(tmp_path / "a.jpg").shape == (1500, 2000, 3)
    assert load_image_file(tmp_path / "a.jpg", draft=224).shape == (375, 500, 3)
    assert load_image_file(tmp_path / "a.jpg", draft=600).shape == (750, 1000, 3)
    assert load_image_file(tmp_path / "b.png", draft=224).shape == (300, 400, 3)
    pool = ImagePool.from_paths([tmp_path / "a.jpg", tmp_path / "b.png"])
    first, second = pool.ids
    assert pool.image_for_size(first, 224).shape == (375, 500, 3)
    assert pool.image_for_size(second, 224).shape == (300, 400, 3)
    assert pool.image(first).shape == (1500, 2000, 3)  # thumbnails and the grid still get the whole image
