"""Performance profiles and the AlgoPerf score against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from optviz.experiments.profiles import (
    as_times,
    performance_profile,
    performance_ratios,
    profile_breakpoints,
    profile_figure,
    profile_score,
    profile_table,
    study_times,
    trapezoid_score,
)

INF = np.inf
# 3 methods × 4 tasks; task 3 solved by nobody, a tie on task 1
TIMES = np.array([[10.0, 30.0, 40.0, INF],
                  [20.0, 30.0, INF, INF],
                  [40.0, 90.0, 10.0, INF]])


def test_ratios_by_hand():
    expected = np.array([[1.0, 1.0, 4.0, INF],
                         [2.0, 1.0, INF, INF],
                         [4.0, 3.0, 1.0, INF]])
    np.testing.assert_array_equal(performance_ratios(TIMES), expected)


def test_profile_by_hand():
    rho = performance_profile(TIMES, [1.0, 2.0, 3.0, 4.0, INF])
    expected = np.array([[2, 2, 2, 3, 3], [1, 2, 2, 2, 2], [1, 1, 2, 3, 3]]) / 4
    np.testing.assert_allclose(rho, expected)
    # ρ(1) sums to 3/4 + ties: both method 0 and 1 win task 1; task 3 is unsolved by everybody
    assert rho[:, 0].sum() == pytest.approx(1.0)


def test_score_by_hand_and_trapezoid():
    # B = (1/P) Σ (τmax − r)/(τmax − 1) over r ≤ τmax, τmax = 4
    expected = np.array([(1 + 1 + 0) / 4, (2 / 3 + 1) / 4, (0 + 1 / 3 + 1) / 4])
    np.testing.assert_allclose(profile_score(TIMES, 4.0), expected)
    for n in (11, 301):
        h = 3.0 / (n - 1)
        assert np.abs(trapezoid_score(TIMES, 4.0, points=n) - expected).max() <= h / (2 * 3.0) + 1e-12
    # a bigger τ_max rewards the slow-but-solving method 2 more than method 1
    s10 = profile_score(TIMES, 10.0)
    assert s10[2] > s10[1]


def test_score_limits():
    best_everywhere = np.array([[1.0, 5.0], [2.0, 50.0]])
    assert profile_score(best_everywhere)[0] == 1.0
    assert profile_score(best_everywhere)[1] == pytest.approx((2 / 3) / 2)
    assert profile_score(np.array([[1.0], [INF]]))[1] == 0.0


def test_nan_is_a_failure_and_errors_are_russian():
    np.testing.assert_array_equal(as_times([[1.0, np.nan]]), [[1.0, INF]])
    with pytest.raises(ValueError, match="положительным"):
        as_times([[0.0, 1.0]])
    with pytest.raises(ValueError, match="двумерной"):
        as_times([1.0, 2.0])
    with pytest.raises(ValueError, match="tau_max"):
        profile_score(TIMES, 1.0)
    with pytest.raises(ValueError, match="Названий методов"):
        profile_table(TIMES, ["a", "b"])


def test_study_times_median_of_minima():
    trials = np.array([[30, 12, INF], [25, INF, 40], [18, 60, 50]], dtype=float)   # studies × trials
    assert study_times(trials) == 18.0
    assert study_times(trials.T, trials_axis=0, studies_axis=1) == 18.0
    # two of three studies fail → the median fails
    assert study_times([[1.0, INF], [INF, INF], [INF, INF]]) == INF
    batched = np.stack([trials, 2 * trials])            # (methods, studies, trials)
    np.testing.assert_array_equal(study_times(batched), [18.0, 36.0])


def test_table_and_figure():
    rows = profile_table(TIMES, ["A", "B", "C"])
    assert [r["Метод"] for r in rows] == ["A", "B", "C"]
    assert rows[0]["ρ(1): доля побед"] == 0.5 and rows[1]["доля решённых задач"] == 0.5
    fig = profile_figure(TIMES, ["A", "B", "C"], tau_max=4.0)
    assert len(fig.data) == 3
    np.testing.assert_allclose(fig.data[0].x, profile_breakpoints(TIMES, 4.0))
    assert fig.data[0].y[-1] == 0.75 and "0.500" in fig.data[0].name
