import numpy as np
import pytest

from codecprobe.features import accumulated_features, pool, shorter_than_frame, word_frames


def test_accumulated_features_hand_values():
    lv = np.array([[[1.0, 0.0]], [[0.5, 2.0]], [[-1.0, 1.0]]])  # K=3, F=1, D=2
    acc = accumulated_features(lv)
    np.testing.assert_array_equal(acc[:, 0], [[1.0, 0.0], [1.5, 2.0], [0.5, 3.0]])
    # float16 layer vectors are summed in float32: 2048 + 1 is not a float16 number
    half = accumulated_features(np.array([2048.0, 1.0, 1.0], np.float16))
    assert half.dtype == np.float32 and half.tolist() == [2048.0, 2049.0, 2050.0]
    assert accumulated_features(lv).dtype == np.float64  # wider input stays wide


def test_word_frames():
    # 10 Hz frames centred at 0.05, 0.15, ...; word [0.1, 0.3) holds centres 0.15 and 0.25
    centres = (np.arange(10) + 0.5) / 10.0
    idx, near = word_frames(0.1, 0.3, centres)
    assert idx.tolist() == [1, 2] and not near
    # a word shorter than a frame, between centres: nearest to its midpoint 0.21 -> frame 2 (0.25)
    idx, near = word_frames(0.20, 0.22, centres)
    assert idx.tolist() == [2] and near
    # a codec whose frames are not centred at (i + 0.5) / rate (MiMo: 0.04 i + 0.01)
    idx, _ = word_frames(0.0, 0.1, 0.04 * np.arange(5) + 0.01)
    assert idx.tolist() == [0, 1, 2]
    assert word_frames(0.0, 1.0, np.zeros(0))[0].size == 0


def test_pool_methods_hand_values():
    f = np.array([[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]])  # K=1, F=3
    np.testing.assert_allclose(pool(f, "mean"), [[1.9 / 3, 1.1 / 3]])
    np.testing.assert_array_equal(pool(f, "center"), [[0.9, 0.1]])
    # frame 1 is most similar on average to the others
    np.testing.assert_array_equal(pool(f, "centroid"), [[0.9, 0.1]])
    np.testing.assert_array_equal(pool(f[:, :1], "centroid"), [[1.0, 0.0]])
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(f, "max")
    with pytest.raises(ValueError, match="expected"):
        pool(np.zeros((2, 0, 3)), "mean")


def test_word_frames_interval_is_closed_at_start_and_open_at_end():
    # 4 Hz frames centred at 0.125, 0.375, 0.625, 0.875 s (exact in binary)
    centres = (np.arange(4) + 0.5) / 4.0
    idx, near = word_frames(0.375, 0.875, centres)  # a centre on each bound: [start, end)
    assert idx.tolist() == [1, 2] and not near
    idx, near = word_frames(0.125, 0.375, centres)
    assert idx.tolist() == [0] and not near


def _centroid_reference(f: np.ndarray) -> np.ndarray:
    """Choi et al.'s centroid frame, by its definition, one layer and frame at a time."""
    out = []
    for layer in f:
        scores = []
        for i, a in enumerate(layer):
            cos = [a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) for j, b in enumerate(layer) if j != i]
            scores.append(np.mean(cos))
        out.append(layer[int(np.argmax(scores))])
    return np.array(out)


def test_centroid_pooling_uses_cosine_similarity_per_layer():
    rng = np.random.default_rng(3)
    # frames of very different norms, so that cosine and dot product pick different frames
    f = rng.standard_normal((3, 7, 5)) * rng.uniform(0.1, 20.0, size=(3, 7, 1))
    np.testing.assert_array_equal(pool(f, "centroid"), _centroid_reference(f))
    # the data tell the two apart: the dot product's pick differs in at least one layer
    dots = np.einsum("kfd,kgd->kfg", f, f)
    by_dot = (dots.sum(-1) - np.einsum("kff->kf", dots)).argmax(1)
    assert np.any(f[np.arange(3), by_dot] != pool(f, "centroid"))


def test_short_word_takes_the_frame_nearest_to_its_midpoint_not_to_an_edge():
    # 10 Hz frames centred at 0.05, 0.15, 0.25, ...; neither word holds a centre
    centres = (np.arange(10) + 0.5) / 10.0
    # [0.16, 0.245): midpoint 0.2025 is nearer 0.25 (frame 2); its start is nearer 0.15 (frame 1)
    idx, near = word_frames(0.16, 0.245, centres)
    assert idx.tolist() == [2] and near
    # [0.155, 0.24): midpoint 0.1975 is nearer 0.15 (frame 1); its end is nearer 0.25 (frame 2)
    idx, near = word_frames(0.155, 0.24, centres)
    assert idx.tolist() == [1] and near


def test_center_pooling_of_an_even_number_of_frames_takes_frame_n_over_2():
    # F = 4: frame 4 // 2 = 2 (the later of the two middle frames), in every layer
    f = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)
    np.testing.assert_array_equal(pool(f, "center"), [[6.0, 7.0, 8.0], [18.0, 19.0, 20.0]])
    # F = 2: frame 1
    np.testing.assert_array_equal(pool(f[:, :2], "center"), [[3.0, 4.0, 5.0], [15.0, 16.0, 17.0]])


def test_a_word_after_the_last_frame_centre_is_not_shorter_than_one_frame():
    """Every word with no frame centre inside was counted "shorter than one frame", also a
    100 ms word after the audio's last frame (words may end 0.05 s after the audio)."""
    rate = 75.0
    centres = (np.arange(10) + 0.5) / rate  # 10 frames: the last centre at 0.1267 s
    idx, near = word_frames(0.2, 0.3, centres)
    assert idx.tolist() == [9] and near  # the nearest frame is still taken ...
    assert not shorter_than_frame(0.2, 0.3, rate)  # ... but the word is not short
    # a 5 ms word between the centres 0.0467 and 0.06 s: short, nearest frame 3 (0.0467 s)
    idx, near = word_frames(0.048, 0.053, centres)
    assert idx.tolist() == [3] and near and shorter_than_frame(0.048, 0.053, rate)
    # one frame period exactly is not short, though 0.02 + 1 / 75 - 0.02 < 1 / 75 in floats
    assert not shorter_than_frame(0.02, 0.02 + 1 / rate, rate) and shorter_than_frame(0.02, 0.02 + 0.9 / rate, rate)


def test_centroid_ties_go_to_the_frame_nearest_the_middle():
    """Two frames always score the same (each one's cosine to the other): argmax picked by
    float rounding, differently from layer to layer of one word. Ties now take the frame
    nearest F // 2, center's frame, in every layer and in float32 as in float64."""
    rng = np.random.default_rng(0)
    two = rng.standard_normal((32, 2, 512)).astype(np.float32)
    np.testing.assert_array_equal(pool(two, "centroid"), two[:, 1])
    np.testing.assert_array_equal(pool(two.astype(np.float64), "centroid"), two[:, 1])
    # four frames, two of them (1 and 3) equally near the middle (2) and tied: the earlier
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    f = np.stack([b, a, -a, a])[None]  # frames 1 and 3 are one vector; frame 2 its opposite
    np.testing.assert_array_equal(pool(f, "centroid"), [a])
