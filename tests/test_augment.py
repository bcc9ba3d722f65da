"""nnkit.data.augment: padding, shifting and mirroring images for data augmentation."""
import numpy as np
import pytest

from nnkit.data.augment import hflip, pad, random_shift, shift


def naive_shift(image, dr, dc):
    """One image moved by (dr, dc), pixel by pixel, zeros where nothing moved in."""
    H, W = image.shape[-2:]
    out = np.zeros_like(image)
    for y in range(H):
        for x in range(W):
            if 0 <= y - dr < H and 0 <= x - dc < W:
                out[..., y, x] = image[..., y - dr, x - dc]
    return out


def test_pad_adds_a_zero_border_and_keeps_the_image():
    images = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4) + 1
    out = pad(images, 2)
    assert out.shape == (2, 7, 8)
    assert np.array_equal(out[:, 2:5, 2:6], images)
    assert out.sum() == images.sum()
    assert pad(images[:, None], 1).shape == (2, 1, 5, 6)


def test_shift_matches_the_pixel_by_pixel_definition():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 2, 5, 7))
    rows, cols = np.array([0, 1, -2, 3, -1, 0]), np.array([0, -3, 2, 1, 0, 6])
    out = shift(images, rows, cols)
    assert out.shape == images.shape
    for n in range(6):
        assert np.array_equal(out[n], naive_shift(images[n], rows[n], cols[n])), n


def test_shift_keeps_a_digit_that_stays_inside_and_undoes_itself():
    images = np.zeros((1, 10, 10))
    images[0, 3:7, 2:8] = np.arange(24).reshape(4, 6) + 1.0
    moved = shift(images, [2], [-2])
    assert moved.sum() == images.sum()                       # nothing fell off the edge
    assert np.array_equal(moved[0, 5:9, 0:6], images[0, 3:7, 2:8])
    assert np.array_equal(shift(moved, [-2], [2]), images)


def test_shift_rejects_a_wrong_number_of_offsets():
    with pytest.raises(ValueError, match=r"one row and one column offset per image \(3\)"):
        shift(np.zeros((3, 4, 4)), [1, 2], [0, 0, 0])
    with pytest.raises(ValueError, match="expected images of shape"):
        shift(np.zeros((4, 4)), [1], [1])


def test_random_shift_draws_every_offset_in_range_and_is_reproducible():
    images = np.zeros((2000, 5, 5))
    images[:, 2, 2] = 1.0                                    # one bright pixel at the centre
    out = random_shift(images, 2, seed=3)
    rows, cols = np.nonzero(out.sum(axis=0))
    assert set(rows) == set(cols) == {0, 1, 2, 3, 4}        # offsets -2..2 all occur
    assert np.all(out.reshape(2000, -1).sum(axis=1) == 1)   # each pixel moved, none lost
    assert np.array_equal(out, random_shift(images, 2, seed=3))
    assert np.array_equal(random_shift(images, 0, seed=1), images)
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(images, -1)


def test_hflip_mirrors_columns_and_is_its_own_inverse():
    images = np.random.default_rng(1).normal(size=(3, 1, 4, 6))
    out = hflip(images)
    assert np.array_equal(out[..., 0], images[..., 5]) and np.array_equal(out[..., 5], images[..., 0])
    assert np.array_equal(hflip(out), images)
