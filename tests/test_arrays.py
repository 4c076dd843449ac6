import numpy as np

from codecprobe.arrays import group_positions, group_sums, offsets


def test_offsets_known_answer():
    np.testing.assert_array_equal(offsets([3, 0, 2, 5]), [0, 3, 3, 5])
    assert offsets([]).dtype == np.int64 and offsets([]).size == 0
    assert offsets(np.array([7], np.int32)).tolist() == [0]


def test_group_positions_known_answer():
    got = group_positions([2, 0, 2, 1, 0, 2])
    assert [g.tolist() for g in got] == [[1, 4], [3], [0, 2, 5]]
    assert [g.tolist() for g in group_positions([1, 1], n_groups=3)] == [[], [0, 1], []]  # absent codes: empty
    assert group_positions([]) == [] and group_positions(np.zeros(0, int), n_groups=0) == []


def test_group_sums_known_answer():
    x = np.array([[1.0, 10], [2.0, 20], [4.0, 40], [8.0, 80]], np.float32)
    sums, counts, order = group_sums(x, [1, 0, 1, 1])
    np.testing.assert_array_equal(sums, [[2, 20], [13, 130]])
    assert sums.dtype == np.float64 and counts.tolist() == [1, 3] and order.tolist() == [1, 0, 2, 3]
    assert order[offsets(counts)].tolist() == [1, 0]  # each group's first row
