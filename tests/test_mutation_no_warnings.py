"""Valid input produces no warnings: the theory functions and agreement tests run clean with every
warning turned into an error (numpy's divide/invalid warnings, deprecations)."""

import math
import warnings

import numpy as np
import pytest

from paper_checks import stats
from theory import neural_collapse as nc
from theory import random_features as rf
from theory import self_distillation as th


def _clean(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, -0.5, 1.5])
def test_self_distillation_runs_without_warnings(alpha):
    d = np.array([2.0, 0.5, 0.0])
    for step in (0, 1, 4):
        out = _clean(lambda: th.student_multipliers(d, 0.3, alpha, step))
        assert np.all(np.isfinite(out))
    K = th.rbf_kernel(np.array([[0.0], [0.0], [1.0]]), np.array([[0.0], [0.0], [1.0]]), 1.0)  # singular Gram
    C = th.rbf_kernel(np.array([[0.5]]), np.array([[0.0], [0.0], [1.0]]), 1.0)
    y = np.array([1.0, 2.0, 0.5])
    _clean(lambda: th.gram_eigh(K))
    if 0 < alpha < 2:
        _clean(lambda: th.limit_fit(K, y, 0.2, alpha, C))
        _clean(lambda: th.limit_fit(K, y, 0.2, alpha))
    _clean(lambda: th.distilled_fit(K, y, 0.2, alpha, 3, C))
    _clean(lambda: th.student_multipliers([1.0], 0.1, 60.0, 10))


def test_stats_and_other_theory_modules_run_without_warnings():
    _clean(lambda: stats.argmin_tolerance(0.0, parameters=3))
    _clean(lambda: stats.fp_tolerance(0.0))
    _clean(lambda: stats.condition_number(np.eye(3)))
    _clean(lambda: nc.mixup_optimal_feature(3, 0.1, 0.3))
    _clean(lambda: nc.mixup_optimal_feature(2, 0.1, 0.3))
    _clean(lambda: nc.deep_linear_ufm_minimum([3, 3], 2, 1e-3, 1e-3, loss="ce"))
    _clean(lambda: nc.nc1(np.eye(2), np.array([[1.0, -1.0], [0.0, 0.0]])))
    _clean(lambda: rf.optimal_ridge([1.0, 0.1, 0.0], [1.0, 0.5, 0.5], 0.1, 10, math.inf))
    _clean(lambda: rf.test_risk([1.0, 0.5], [1.0, 0.5], 0.1, 2, 2, 0.0))
