"""Bad input to every public function of theory/ and simulations/, drawn by hypothesis.

``SPECS`` lists, for each public function, a valid call and the kind of each of its
parameters; hypothesis swaps one parameter for a bad value of its kind (a wrong type,
NaN, an infinity, a negative or zero where the range excludes it, an empty or
ragged or mismatched array, a non-square matrix, a huge size) and the call must
raise ``ValueError`` or ``TypeError`` whose message is one line and names that
parameter, before any heavy work: no numba kernel gets compiled, nothing is
written to the simulation cache.  ``test_every_public_function_is_covered`` makes
a new public function without a case fail the suite.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulations import cache as sim_cache
from simulations import martingale_td as sim_mt
from simulations import neural_collapse as sim_nc
from simulations import random_features as sim_rf
from simulations import rng as sim_rng
from simulations import self_distillation as sim_sd
from theory import martingale_td as th_mt
from theory import neural_collapse as th_nc
from theory import random_features as th_rf
from theory import self_distillation as th_sd

MODULES = [th_mt, th_nc, th_rf, th_sd, sim_cache, sim_rng, sim_mt, sim_nc, sim_rf, sim_sd]

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: a bad call must fail at once; this only turns a hang (a huge size taken at its word) into a failure
SECONDS_PER_CALL = 20

NAN, INF = math.nan, math.inf


# --------------------------------------------------------------------------- kinds of parameters and their bad values

NOT_A_NUMBER = st.sampled_from(["1.0", "", "abc", [1.0], (1.0, 2.0), {"a": 1}, True, False, 1 + 2j])
NON_FINITE = st.sampled_from([NAN, INF, -INF, np.float64(NAN), np.float64(-INF)])
HUGE = st.integers(min_value=10**12, max_value=10**40)


def _finite(**kw):
    return st.floats(allow_nan=False, allow_infinity=False, **kw)


@dataclass(frozen=True)
class Real:
    """A finite real number in a range; ``inf``: math.inf is allowed too; ``optional``: None is allowed."""

    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    inf: bool = False
    optional: bool = False

    def bad(self, valid):
        out = [NOT_A_NUMBER, st.just(NAN), st.just(-INF)]
        if not self.inf:
            out.append(NON_FINITE)
        if not self.optional:
            out.append(st.none())
        if self.low is not None:
            out.append(_finite(max_value=self.low, exclude_max=not self.low_open))
            out.append(st.just(-1) if self.low >= 0 else st.nothing())
        if self.high is not None:
            out.append(_finite(min_value=self.high, exclude_min=not self.high_open))
        return st.one_of(out)


@dataclass(frozen=True)
class Int:
    """An integer >= low (<= high); ``size``: a count that costs memory or time, so 10**12 and up is refused."""

    low: int
    high: int | None = None
    size: bool = False
    optional: bool = False

    def bad(self, valid):
        out = [st.sampled_from(["3", "", [3], True, 2.5, 3.0 + 0.5j]), NON_FINITE,
               _finite().filter(lambda f: not f.is_integer()), st.integers(max_value=self.low - 1)]
        if not self.optional:
            out.append(st.none())
        if self.high is not None:
            out.append(st.integers(min_value=self.high + 1))
        if self.size:
            out.append(HUGE)
        return st.one_of(out)


@dataclass(frozen=True)
class Choice:
    options: tuple

    def bad(self, valid):
        return st.one_of(st.sampled_from([None, 3, "", [self.options[0]], "unknown"]),
                         st.text(max_size=6)).filter(lambda v: not (isinstance(v, str) and v in self.options))


@dataclass(frozen=True)
class Methods:
    """A method name or a sequence of distinct method names."""

    options: tuple

    def bad(self, valid):
        return st.sampled_from([None, 3, "", "sarsa", [], ["sarsa"], [self.options[0]] * 2, [3]])


@dataclass(frozen=True)
class Flag:
    optional: bool = False

    def bad(self, valid):
        return st.sampled_from(([] if self.optional else [None]) + ["yes", "True", 2, 0.5, [True]])


@dataclass(frozen=True)
class Seed:
    def bad(self, valid):
        return st.one_of(st.sampled_from([None, "1", 1.5, [1], True, NAN, INF]), st.integers(max_value=-1),
                         st.integers(min_value=2**63))


def _ragged(valid):
    a = np.asarray(valid, dtype=float)
    return [a.tolist(), a.tolist()[:-1]] if a.ndim == 1 else [[1.0, 2.0], [3.0]]


def _with(valid, value):
    """``valid`` as an array with its first entry replaced by ``value``."""
    a = np.array(valid, dtype=float)
    a.flat[0] = value
    return a


@dataclass(frozen=True)
class Vector:
    """A non-empty 1-D array of finite numbers; ``linked``: its length must match another parameter's."""

    nonneg: bool = False
    positive: bool = False
    linked: bool = False
    optional: bool = False
    low: float | None = None  # entries >= low
    high: float | None = None  # entries <= high
    none_entry: bool = False  # an entry may be None (a default)

    def bad(self, valid):
        v = np.asarray(valid, dtype=float)
        out = [st.sampled_from(["abc", {"a": 1.0}, [], np.zeros(0), ["a", "b"], [[1.0, 2.0], [3.0, 4.0]],
                                _ragged([1.0, 2.0, 3.0]), *([] if self.none_entry else [[1.0, None]])]),
               NON_FINITE.map(lambda x: _with(v, x))]
        if not self.optional:
            out.append(st.none())
        if self.nonneg or self.positive:
            out.append(_finite(max_value=0.0, exclude_max=not self.positive).map(lambda x: _with(v, x)))
        if self.low is not None:
            out.append(_finite(max_value=self.low, exclude_max=True).map(lambda x: _with(v, x)))
        if self.high is not None:
            out.append(_finite(min_value=self.high, exclude_min=True).map(lambda x: _with(v, x)))
        if self.linked:
            out.append(st.sampled_from([np.concatenate([v, v]), v[:-1] if v.size > 1 else np.ones(v.size + 2)]))
        return st.one_of(out)


@dataclass(frozen=True)
class Values:
    """A number or a non-empty array of any shape of finite numbers."""

    def bad(self, valid):
        return st.one_of(st.sampled_from(["abc", None, {"a": 1.0}, [], np.zeros((0, 2)), ["a"], [[1.0], [2.0, 3.0]],
                                          [1.0, None], True]),
                         NON_FINITE, NON_FINITE.map(lambda x: _with(valid, x)))


@dataclass(frozen=True)
class Coefficients:
    """A non-empty finite array of ``ndim`` dimensions (polynomial coefficient tables)."""

    ndim: int
    optional: bool = False

    def bad(self, valid):
        out = [st.sampled_from(["abc", [], np.zeros((0,) * self.ndim), np.ones((2,) * (self.ndim - 1)),
                                np.ones((2,) * (self.ndim + 1)), [[1.0, 2.0], [3.0]]]),
               NON_FINITE.map(lambda x: _with(valid, x))]
        if not self.optional:
            out.append(st.none())
        return st.one_of(out)


@dataclass(frozen=True)
class Matrix:
    """A 2-D array of finite numbers (``square``; ``linked``: its shape must match the others')."""

    square: bool = True
    linked: bool = True
    optional: bool = False
    psd: bool = False

    def bad(self, valid):
        M = np.asarray(valid, dtype=float)
        out = [st.sampled_from(["abc", [], np.zeros((0, 0)), [1.0, 2.0], [[1.0, 2.0], [3.0]], np.ones((2, 2, 2))]),
               NON_FINITE.map(lambda x: _with(M, x))]
        if not self.optional:
            out.append(st.none())
        if self.square:
            out.append(st.just(np.ones((M.shape[0], M.shape[0] + 1))))
        if self.linked:
            out.append(st.just(np.eye(M.shape[0] + 1) if self.square else np.ones((M.shape[0] + 1, M.shape[1] + 2))))
        if self.psd:
            out.append(st.just(-np.eye(M.shape[0])))
        return st.one_of(out)


@dataclass(frozen=True)
class IntVector:
    """A sequence of integers >= low (class sizes, ks, labels); ``size``: an entry of 10**12 is refused."""

    low: int
    min_len: int = 1
    size: bool = False
    high: int | None = None
    linked: bool = False
    optional: bool = False

    def bad(self, valid):
        v = list(valid)
        out = [st.sampled_from(["abc", 8, {"a": 1}, [], [1.5] * max(self.min_len, 2), [[2, 2], [2, 2]],
                                [NAN] * max(self.min_len, 2)]),
               st.integers(max_value=self.low - 1).map(lambda x: [x] + v[1:])]
        if not self.optional:
            out.append(st.none())
        if self.min_len > 1:
            out.append(st.just(v[: self.min_len - 1]))
        if self.size:
            out.append(HUGE.map(lambda x: [x] + v[1:]))
        if self.high is not None:
            out.append(st.integers(min_value=self.high + 1).map(lambda x: [x] + v[1:]))
        if self.linked:
            out.append(st.just(v + v))
        return st.one_of(out)


@dataclass(frozen=True)
class Expr:
    """A sympy expression in t and x (a string or a number)."""

    def bad(self, valid):
        return st.sampled_from([None, "y + 1", "x +", "", "1/0", "oo", "nan", [1], True, "t(x)", "x == 1"])


@dataclass(frozen=True)
class ExprList:
    optional: bool = False

    def bad(self, valid):
        return st.sampled_from(([] if self.optional else [None]) + [[], "x", ["y"], ["x +"], [None], 3, ["x", "oo"],
                                                                     ["sin(x)"]])


@dataclass(frozen=True)
class ProblemKind:
    def bad(self, valid):
        return st.sampled_from([None, "BM", 3, {"drift": "0"}, [th_mt.Problem("0", "1")]])


@dataclass(frozen=True)
class UFMParamsKind:
    """A UFMParams; ``problem``: it must also fit the class sizes (N columns of features)."""

    problem: bool = True

    def bad(self, valid):
        H, Ws, b = valid
        return st.sampled_from([None, "abc", (H,), *([sim_nc.UFMParams(H[:, :-1], Ws, b)] if self.problem else []),
                                sim_nc.UFMParams(H, (Ws[0][:, :-1],) + tuple(Ws[1:]), b),
                                sim_nc.UFMParams(_with(H, NAN), Ws, b), sim_nc.UFMParams(H, (), b),
                                sim_nc.UFMParams(H, Ws, np.zeros(7)), sim_nc.UFMParams("abc", Ws, b)])


@dataclass(frozen=True)
class PathKind:
    """A file or folder path; ``folder``: an existing folder is wanted."""

    folder: bool = False
    optional: bool = False

    def bad(self, valid):
        out = [st.sampled_from([3, 2.5, [Path(".")], b"\x00", "bad\x00name", ""])]
        if not self.optional:
            out.append(st.none())
        if self.folder:
            out.append(st.just(Path(__file__)))  # a file, not a folder
        return st.one_of(out)


@dataclass(frozen=True)
class Blob:
    """Bytes or text to write."""

    def bad(self, valid):
        return st.sampled_from([None, 3, 2.5, [1, 2], {"a": 1}, np.zeros(3)])


@dataclass(frozen=True)
class Options:
    """A dict of solver options or None."""

    def bad(self, valid):
        return st.sampled_from(["abc", 3, [("maxiter", 1)], {"maxiter": -1}, {"no_such_option": 1}])


# --------------------------------------------------------------------------- valid arguments

X4 = np.linspace(0.0, 1.0, 4)
X3 = np.array([0.1, 0.55, 0.9])
GRAM = np.exp(-10.0 * (X4[:, None] - X4[None, :]) ** 2)
CROSS = np.exp(-10.0 * (X3[:, None] - X4[None, :]) ** 2)
Y4 = np.sin(2 * np.pi * X4)
F3 = np.sin(2 * np.pi * X3)
EIG = np.array([1.0, 0.5, 0.25, 0.125])
COEF = np.array([1.0, 0.7, 0.5, 0.3])
SIZES = [3, 2, 2]
PROBLEM = th_mt.Problem("0", "1", 0, "x**2", 0.0, 1.0, 0.5)
OU = th_mt.Problem("-x", "1", "x**2", 0, 1.0, math.inf, 0.5)
FEATS = ["1", "x**2"]
UFM_PARAMS = sim_nc.unflatten_ufm(np.linspace(-1.0, 1.0, 3 * 7 + 2 * 3 * 3), SIZES, 2, 3, False)
SPHERE = np.eye(4)[:3]
H_FEATURES = np.arange(12.0).reshape(2, 6) / 7.0
LABELS = [0, 0, 1, 1, 2, 2]
MT_SIM = dict(drift=(0.0, -1.0), diffusion=(1.0, 0.0), running_reward=[0.0, 0.0, 1.0], terminal_reward=[0.0],
              discount=1.0, horizon=1.0, x0=0.5, features=np.array([[[1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]]]),
              steps=4, paths=8, seed=0, methods=("ml", "gtd"), lam=0.5,
              test_functions=np.array([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]]),
              transition="euler", replicates=4, td_step=(0.1, 10.0), reference=np.array([[0.0, 0.0, 1.0]]),
              truncation=None)
MT_SIM_KINDS = dict(drift=Vector(linked=True), diffusion=Vector(linked=True), running_reward=Vector(),
                    terminal_reward=Vector(optional=True), discount=Real(low=0.0),
                    horizon=Real(low=0.0, low_open=True, inf=True), x0=Real(),
                    features=Coefficients(3), steps=Int(1, size=True), paths=Int(4, size=True),
                    seed=Seed(), methods=Methods(sim_mt.METHODS), lam=Real(0.0, True, 1.0, True),
                    test_functions=Coefficients(3, optional=True), transition=Choice(("euler", "exact")),
                    replicates=Int(2, size=True), td_step=Vector(positive=True, linked=True, none_entry=True),
                    reference=Coefficients(2, optional=True),
                    truncation=Real(low=0.0, low_open=True, optional=True))
RF_SIM = dict(eigenvalues=EIG, target_coefficients=COEF, noise_variance=0.1, n=4, features=3, ridges=[0.1, 1.0],
              draws=4, seed=0, n_chunks=2)
RF_SIM_KINDS = dict(eigenvalues=Vector(nonneg=True, linked=True), target_coefficients=Vector(linked=True),
                    noise_variance=Real(low=0.0), n=Int(1, size=True), features=Real(low=1.0, inf=True),
                    ridges=Vector(nonneg=True), draws=Int(2, size=True), seed=Seed(), n_chunks=Int(1, size=True))
SD_SIM = dict(n=4, alphas=[0.2, 0.5], steps=2, ridge=0.1, gamma=10.0, noise=0.1, replicates=4, seed=0,
              design="uniform", n_test=5, n_chunks=2)
SD_SIM_KINDS = dict(n=Int(2, size=True), alphas=Vector(), steps=Int(0, size=True), ridge=Real(0.0, True),
                    gamma=Real(0.0, True), noise=Real(low=0.0), replicates=Int(2, size=True), seed=Seed(),
                    design=Choice(("uniform", "grid")), n_test=Int(1, size=True), n_chunks=Int(1, size=True))
UFM = dict(class_sizes=SIZES, depth=2, width=3, weight_decay=1e-3, feature_decay=1e-3, loss="mse", bias=False)
UFM_KINDS = dict(class_sizes=IntVector(1, min_len=2, size=True), depth=Int(1, size=True), width=Int(3, size=True),
                 weight_decay=Real(low=0.0), feature_decay=Real(low=0.0), loss=Choice(("mse", "ce")), bias=Flag())
NC_DECAYS = dict(weight_decay=Real(0.0, True), feature_decay=Real(0.0, True))


@dataclass
class Spec:
    func: object
    valid: dict
    kinds: dict
    #: parameters not drawn, each with the reason
    fixed: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"


def S(func, valid, fixed=None, **kinds):
    return Spec(func, valid, kinds, fixed or {})


SPECS = [
    # ------------------------------------------------------------------ theory.martingale_td
    S(th_mt.Problem, dict(drift="0", diffusion="1", running_reward=0, terminal_reward="x**2", discount=0.0,
                          horizon=1.0, x0=0.5),
      drift=Expr(), diffusion=Expr(), running_reward=Expr(), terminal_reward=Expr(), discount=Real(low=0.0),
      horizon=Real(low=0.0, low_open=True, inf=True), x0=Real()),
    S(th_mt.value_function, dict(problem=PROBLEM), problem=ProblemKind()),
    S(th_mt.feynman_kac_residual, dict(problem=PROBLEM, J="x**2 + 1 - t"), problem=ProblemKind(), J=Expr()),
    S(th_mt.moments, dict(problem=PROBLEM, degree=2), problem=ProblemKind(), degree=Int(0, size=True)),
    S(th_mt.default_truncation, dict(discount=1.0), discount=Real(0.0, True)),
    *[S(f, dict(problem=PROBLEM, features=FEATS, method="gtd", steps=4, lam=0.5, test_functions=["1", "x", "x**2"],
                transition="euler", dt=None, truncation=None),
        {"dt": "an infinite-horizon option: drawn in the OU case below",
         "truncation": "an infinite-horizon option: drawn in the OU case below"},
        problem=ProblemKind(), features=ExprList(), method=Choice(th_mt.METHODS),
        steps=Int(1, size=True, optional=True), lam=Real(0.0, True, 1.0, True, optional=True),
        test_functions=ExprList(optional=True), transition=Choice(th_mt.TRANSITIONS))
      for f in (th_mt.linear_system, th_mt.solve)],
    *[S(f, dict(problem=OU, features=FEATS, method="td0", dt=0.1),
        {"steps": "drawn in the finite-horizon case above", "lam": "drawn above",
         "test_functions": "drawn above", "transition": "drawn above", "truncation": "drawn with steps below"},
        problem=ProblemKind(), features=ExprList(), method=Choice(th_mt.METHODS), dt=Real(0.0, True, optional=True))
      for f in (th_mt.linear_system, th_mt.solve)],
    *[S(f, dict(problem=OU, features=FEATS, method="td0", steps=8, truncation=5.0),
        {"dt": "drawn above", "lam": "drawn above", "test_functions": "drawn above", "transition": "drawn above"},
        problem=ProblemKind(), features=ExprList(), method=Choice(th_mt.METHODS), steps=Int(1),
        truncation=Real(0.0, True, optional=True))
      for f in (th_mt.linear_system, th_mt.solve)],
    S(th_mt.convergence_rate, dict(problem=PROBLEM, features=FEATS, method="gtd", ks=(4, 8), lam=0.5,
                                   test_functions=["1", "x", "x**2"], transition="euler"),
      problem=ProblemKind(), features=ExprList(), method=Choice(th_mt.METHODS),
      ks=IntVector(1, min_len=2, size=True), lam=Real(0.0, True, 1.0, True, optional=True),
      test_functions=ExprList(optional=True), transition=Choice(th_mt.TRANSITIONS)),
    # ------------------------------------------------------------------ theory.neural_collapse
    S(th_nc.collapse_threshold, dict(depth=3), depth=Int(1)),
    S(th_nc.root_threshold, dict(depth=3), depth=Int(1)),
    S(th_nc.regularization_constant, dict(class_sizes=SIZES, depth=2, weight_decay=1e-3, feature_decay=1e-3),
      class_sizes=IntVector(1, min_len=2), depth=Int(1), weight_decay=Real(low=0.0),
      feature_decay=Real(low=0.0)),
    S(th_nc.zero_solution_regularization, dict(class_sizes=SIZES, depth=2), class_sizes=IntVector(1, min_len=2),
      depth=Int(1)),
    S(th_nc.class_objective, dict(x=0.5, n_k=3, beta=0.2, depth=2), x=Real(low=0.0), n_k=Real(0.0, True),
      beta=Real(low=0.0), depth=Int(1)),
    S(th_nc.largest_root, dict(ratio=0.3, depth=2), ratio=Real(0.0, True), depth=Int(1)),
    S(th_nc.naive_largest_root, dict(ratio=0.3, depth=2), ratio=Real(0.0, True), depth=Int(1)),
    S(th_nc.class_root, dict(ratio=0.3, depth=2), ratio=Real(0.0, True), depth=Int(1)),
    S(th_nc.deep_linear_ufm_minimum, dict(class_sizes=SIZES, depth=2, weight_decay=1e-3, feature_decay=1e-3,
                                          loss="mse", bias=False),
      class_sizes=IntVector(1, min_len=2), depth=Int(1), loss=Choice(("mse", "ce")), bias=Flag(), **NC_DECAYS),
    S(th_nc.ce_objective, dict(rho=0.5, depth=2, weight_decay=1e-3, feature_decay=1e-3, n_samples=9,
                               num_classes=3),
      rho=Real(low=0.0), depth=Int(1), n_samples=Real(0.0, True), num_classes=Int(2), **NC_DECAYS),
    S(th_nc.ce_scale, dict(depth=2, weight_decay=1e-3, feature_decay=1e-3, n_samples=9, num_classes=3),
      depth=Int(1), n_samples=Real(0.0, True), num_classes=Int(2), **NC_DECAYS),
    S(th_nc.simplex_etf_gram, dict(num_classes=3), num_classes=Int(2, size=True)),
    S(th_nc.mixup_objective_gradient_hessian, dict(a=0.5, b=0.2, mix=0.3, lam=1e-2, K=3),
      a=Real(), b=Real(), mix=Real(0.0, high=1.0), lam=Real(low=0.0), K=Int(2)),
    S(th_nc.mixup_same_class_scale, dict(num_classes=3, feature_decay=1e-2), num_classes=Int(2),
      feature_decay=Real(0.0, True)),
    S(th_nc.mixup_optimal_feature, dict(num_classes=3, feature_decay=1e-2, mix=0.3, same_class=False),
      num_classes=Int(2), feature_decay=Real(0.0, True), mix=Real(0.0, high=1.0), same_class=Flag()),
    S(th_nc.mixup_mse_feature, dict(num_classes=3, feature_decay=1e-2, mix=0.3), num_classes=Int(2, size=True),
      feature_decay=Real(0.0, True), mix=Real(0.0, high=1.0)),
    S(th_nc.mixup_logit_margin, dict(num_classes=3, a=0.5, b=0.2), num_classes=Int(2), a=Real(), b=Real()),
    *[S(f, dict(features=H_FEATURES, labels=LABELS, num_classes=3),
        features=Matrix(square=False), labels=IntVector(0, high=2, linked=True), num_classes=Int(3, optional=True,
                                                                                                 size=True))
      for f in (th_nc.class_means, th_nc.within_class_covariance)],
    S(th_nc.nc1, dict(within_cov=np.eye(2), means=H_FEATURES[:, :3], global_mean=[0.1, 0.2]),
      within_cov=Matrix(), means=Matrix(square=False), global_mean=Vector(linked=True, optional=True)),
    S(th_nc.nc2, dict(gram=np.eye(3) + 0.1, target=np.eye(3)), gram=Matrix(), target=Matrix()),
    S(th_nc.frame_target, dict(kind="general", num_classes=3, lengths=[1.0, 2.0, 0.5]),
      kind=Choice(("etf", "orthogonal", "general")), num_classes=Int(2, size=True),
      lengths=Vector(nonneg=True, linked=True, optional=True)),
    S(th_nc.nc3, dict(product=H_FEATURES[:, :3].T, means=H_FEATURES[:, 3:], scaling=[1.0, 2.0, 3.0]),
      product=Matrix(square=False), means=Matrix(square=False), scaling=Vector(linked=True, optional=True)),
    # ------------------------------------------------------------------ theory.random_features
    *[S(f, dict(eigenvalues=EIG, target_coefficients=COEF, noise_variance=0.1, n=4, features=8, ridge=0.1,
                multiplicities=[1, 2, 1, 3]),
        eigenvalues=Vector(nonneg=True, linked=True), target_coefficients=Vector(linked=True),
        noise_variance=Real(low=0.0), n=Real(low=1.0), features=Real(low=1.0, inf=True), ridge=Real(low=0.0),
        multiplicities=Vector(positive=True, linked=True, optional=True))
      for f in (th_rf.eigenframework, th_rf.test_risk, th_rf.train_risk)],
    S(th_rf.effective_regularization, dict(eigenvalues=EIG, n=4, features=8, ridge=0.1, multiplicities=[1, 2, 1, 3]),
      eigenvalues=Vector(nonneg=True, linked=True), n=Real(low=1.0), features=Real(low=1.0, inf=True),
      ridge=Real(low=0.0), multiplicities=Vector(positive=True, linked=True, optional=True)),
    S(th_rf.optimal_ridge, dict(eigenvalues=EIG, target_coefficients=COEF, noise_variance=0.1, n=4, features=8,
                                multiplicities=[1, 2, 1, 3], full=True),
      eigenvalues=Vector(nonneg=True, linked=True), target_coefficients=Vector(linked=True),
      noise_variance=Real(low=0.0), n=Real(low=1.0), features=Real(low=1.0, inf=True),
      multiplicities=Vector(positive=True, linked=True, optional=True), full=Flag()),
    S(th_rf.power_law, dict(alpha=1.5, beta=1.5, modes=10, tail=True), alpha=Real(0.0, True), beta=Real(),
      modes=Int(1, size=True), tail=Flag()),
    S(th_rf.powerlaw_risk, dict(s=0.5, alpha=1.5, beta=1.5, n=10.0, noise_variance=0.1),
      s=Real(0.0, high=1.0, high_open=True), alpha=Real(1.0, True), beta=Real(1.0, True), n=Real(low=1.0),
      noise_variance=Real(low=0.0)),
    S(th_rf.powerlaw_optimal_fitting_ratio, dict(alpha=1.5, beta=1.5, noise_variance=0.1, n=10.0),
      alpha=Real(1.0, True), beta=Real(1.0, True), noise_variance=Real(low=0.0), n=Real(low=1.0)),
    # ------------------------------------------------------------------ theory.self_distillation
    *[S(f, dict(eigenvalues=EIG, ridge=0.1, alpha=0.3, step=2), eigenvalues=Vector(nonneg=True),
        ridge=Real(low=0.0), alpha=Real(), step=Int(0))
      for f in (th_sd.student_multipliers, th_sd.target_multipliers)],
    S(th_sd.limit_multipliers, dict(eigenvalues=EIG, ridge=0.1, alpha=0.3), eigenvalues=Vector(nonneg=True),
      ridge=Real(low=0.0), alpha=Real()),
    S(th_sd.amplified_ridge, dict(ridge=0.1, alpha=0.3), ridge=Real(low=0.0), alpha=Real()),
    S(th_sd.rbf_kernel, dict(x=X3, z=X4, gamma=10.0), x=Vector(), z=Vector(), gamma=Real(0.0, True)),
    S(th_sd.gram_eigh, dict(gram=GRAM), gram=Matrix(linked=False, psd=True)),
    S(th_sd.smoother, dict(gram=GRAM, ridge=0.1, alpha=0.3, step=2, cross_gram=CROSS),
      gram=Matrix(psd=True), ridge=Real(low=0.0), alpha=Real(), step=Int(0),
      cross_gram=Matrix(square=False, optional=True)),
    S(th_sd.distilled_fit, dict(gram=GRAM, y=Y4, ridge=0.1, alpha=0.3, step=2, cross_gram=CROSS),
      gram=Matrix(psd=True), y=Vector(linked=True), ridge=Real(low=0.0), alpha=Real(), step=Int(0),
      cross_gram=Matrix(square=False, optional=True)),
    S(th_sd.limit_fit, dict(gram=GRAM, y=Y4, ridge=0.1, alpha=0.3, cross_gram=CROSS),
      gram=Matrix(psd=True), y=Vector(linked=True), ridge=Real(low=0.0), alpha=Real(),
      cross_gram=Matrix(square=False, optional=True)),
    S(th_sd.expected_risk, dict(gram=GRAM, cross_gram=CROSS, f_train=Y4, f_test=F3, noise_variance=0.1, ridge=0.1,
                                alpha=0.3, step=2),
      gram=Matrix(psd=True), cross_gram=Matrix(square=False), f_train=Vector(linked=True),
      f_test=Vector(linked=True), noise_variance=Real(low=0.0), ridge=Real(low=0.0), alpha=Real(),
      step=Int(0)),
    S(th_sd.expected_risks, dict(gram=GRAM, cross_gram=CROSS, f_train=Y4, f_test=F3, noise_variance=0.1,
                                 ridge=0.1, alphas=[0.2, 0.5], steps=2),
      gram=Matrix(psd=True), cross_gram=Matrix(square=False), f_train=Vector(linked=True),
      f_test=Vector(linked=True), noise_variance=Real(low=0.0), ridge=Real(0.0, True), alphas=Vector(),
      steps=Int(0, size=True)),
    S(th_sd.optimal_alpha, dict(gram=GRAM, y=Y4, reference=Y4 + 0.1, ridge=0.1, previous_fit=Y4 * 0.5),
      gram=Matrix(psd=True), y=Vector(linked=True), reference=Vector(linked=True), ridge=Real(0.0, True),
      previous_fit=Vector(linked=True, optional=True)),
    S(th_sd.expected_optimal_alpha, dict(gram=GRAM, f_train=Y4, noise_variance=0.1, ridge=0.1, cross_gram=CROSS,
                                         f_test=F3),
      gram=Matrix(psd=True), f_train=Vector(linked=True), noise_variance=Real(low=0.0), ridge=Real(0.0, True),
      cross_gram=Matrix(square=False, optional=True), f_test=Vector(linked=True)),
    S(th_sd.constraint_ridge, dict(eigenvalues=EIG, coordinates=COEF, n_points=4, epsilon=0.01),
      eigenvalues=Vector(nonneg=True, linked=True), coordinates=Vector(linked=True), n_points=Int(1),
      epsilon=Real(0.0, True)),
    S(th_sd.constrained_rounds, dict(eigenvalues=EIG, coordinates=COEF, n_points=4, epsilon=0.01, max_rounds=5),
      eigenvalues=Vector(nonneg=True, linked=True), coordinates=Vector(linked=True), n_points=Int(1),
      epsilon=Real(0.0, True), max_rounds=Int(1)),
    S(th_sd.collapse_round_bounds, dict(initial_norm=2.0, n_points=4, epsilon=0.01), initial_norm=Real(low=0.0),
      n_points=Int(1), epsilon=Real(0.0, True)),
    # ------------------------------------------------------------------ simulations.cache
    S(sim_cache.atomic_write, dict(path="report.md", data="text"), path=PathKind(), data=Blob()),
    S(sim_cache.info, dict(folder=None), folder=PathKind(folder=True, optional=True)),
    S(sim_cache.clear, dict(folder=None), folder=PathKind(folder=True, optional=True)),
    # ------------------------------------------------------------------ simulations.rng
    S(sim_rng.check_seed, dict(seed=3), seed=Seed()),
    S(sim_rng.generators, dict(seed=3, n_chunks=2, stream=1), seed=Seed(), n_chunks=Int(1, size=True),
      stream=Int(0)),
    S(sim_rng.chunk_sizes, dict(n_samples=10, n_chunks=3), n_samples=Int(3), n_chunks=Int(1, size=True)),
    # ------------------------------------------------------------------ simulations.martingale_td
    S(sim_mt.transition_coefficients, dict(drift=(0.0, -1.0), diffusion=(1.0, 0.0), dt=0.1, transition="exact"),
      drift=Vector(linked=True), diffusion=Vector(linked=True), dt=Real(0.0, True),
      transition=Choice(("euler", "exact"))),
    S(sim_mt.draw_floor, dict(paths=8, steps=4, seed=0, replicates=4), paths=Int(4, size=True),
      steps=Int(1, size=True), seed=Seed(), replicates=Int(2, size=True)),
    *[S(f, MT_SIM, **MT_SIM_KINDS) for f in (sim_mt.run_algorithms, sim_mt.run_algorithms_numpy)],
    # ------------------------------------------------------------------ simulations.neural_collapse
    S(sim_nc.flatten_ufm, dict(params=UFM_PARAMS), params=UFMParamsKind(problem=False)),
    S(sim_nc.unflatten_ufm, dict(theta=sim_nc.flatten_ufm(UFM_PARAMS), class_sizes=SIZES, depth=2, width=3,
                                 bias=False),
      theta=Vector(linked=True), class_sizes=IntVector(1, min_len=2, size=True), depth=Int(1, size=True),
      width=Int(3, size=True), bias=Flag()),
    *[S(f, dict(params=UFM_PARAMS, class_sizes=SIZES, weight_decay=1e-3, feature_decay=1e-3, loss="mse",
                bias=False),
        params=UFMParamsKind(), class_sizes=IntVector(1, min_len=2, size=True, linked=True),
        weight_decay=Real(low=0.0), feature_decay=Real(low=0.0), loss=Choice(("mse", "ce")), bias=Flag(optional=True))
      for f in (sim_nc.ufm_objective, sim_nc.ufm_gradient)],
    S(sim_nc.default_learning_rate, {k: v for k, v in UFM.items() if k != "width"},
      **{k: v for k, v in UFM_KINDS.items() if k not in ("width", "depth")}, depth=Int(1)),
    S(sim_nc.minimize_ufm_from, dict(params0=UFM_PARAMS, class_sizes=SIZES, weight_decay=1e-3, feature_decay=1e-3,
                                     loss="mse", bias=False, options={"maxiter": 3}),
      params0=UFMParamsKind(), class_sizes=IntVector(1, min_len=2, size=True, linked=True),
      weight_decay=Real(low=0.0), feature_decay=Real(low=0.0), loss=Choice(("mse", "ce")), bias=Flag(optional=True),
      options=Options()),
    S(sim_nc.train_ufm, dict(UFM, seeds=2, seed=0, steps=3, lr=0.01, init_scale=0.5, polish=False, record_every=1),
      seeds=Int(1, size=True), seed=Seed(), steps=Int(1, size=True), lr=Real(0.0, True, optional=True),
      init_scale=Real(0.0, True, optional=True), polish=Flag(), record_every=Int(1), **UFM_KINDS),
    S(sim_nc.brute_force_ufm, dict(UFM, starts=2, seed=0, init_scales=(0.1, 1.0)),
      starts=Int(1, size=True), seed=Seed(), init_scales=Vector(positive=True), **UFM_KINDS),
    S(sim_nc.simplex_etf, dict(num_classes=3), num_classes=Int(2, size=True)),
    S(sim_nc.mixup_targets, dict(num_classes=3, mixes=[0.2, 0.7], pairs="cross"), num_classes=Int(2, size=True),
      mixes=Vector(low=0.0, high=1.0), pairs=Choice(("cross", "same"))),
    S(sim_nc.mixup_gd, dict(h0=np.ones((2, 3)), targets=np.full((2, 3), 1 / 3), feature_decay=1e-2, lr=0.1,
                            steps=2, loss="ce", backend="numpy"),
      h0=Matrix(square=False), targets=Matrix(square=False), feature_decay=Real(low=0.0), lr=Real(0.0, True),
      steps=Int(0, size=True), loss=Choice(("ce", "mse")), backend=Choice(("numba", "numpy"))),
    S(sim_nc.mixup_learning_rate, dict(num_classes=3, feature_decay=1e-2, loss="ce"), num_classes=Int(2),
      feature_decay=Real(low=0.0), loss=Choice(("ce", "mse"))),
    S(sim_nc.train_mixup_features, dict(num_classes=3, feature_decay=1e-2, mixes=[0.2, 0.7], pairs="cross",
                                        loss="ce", seed=0, steps=2, lr=0.1, backend="numpy"),
      num_classes=Int(2, size=True), feature_decay=Real(0.0, True), mixes=Vector(low=0.0, high=1.0),
      pairs=Choice(("cross", "same")), loss=Choice(("ce", "mse")), seed=Seed(), steps=Int(0, size=True),
      lr=Real(0.0, True, optional=True), backend=Choice(("numba", "numpy"))),
    S(sim_nc.train_mlp_mixture, dict(class_sizes=SIZES, input_dim=3, relu_width=4, relu_depth=1, linear_depth=2,
                                     width=3, weight_decay=1e-3, loss="mse", bias=False, steps=2, lr=1e-3, seed=0,
                                     record_every=1, separation=4.0, optimizer="gd"),
      class_sizes=IntVector(1, min_len=2, size=True), input_dim=Int(1, size=True), relu_width=Int(1, size=True),
      relu_depth=Int(1, size=True), linear_depth=Int(1, size=True), width=Int(3, size=True),
      weight_decay=Real(low=0.0), loss=Choice(("mse", "ce")), bias=Flag(), steps=Int(1, size=True),
      lr=Real(0.0, True), seed=Seed(), record_every=Int(1), separation=Real(),
      optimizer=Choice(("adam", "gd"))),
    # ------------------------------------------------------------------ simulations.random_features
    *[S(f, RF_SIM, **RF_SIM_KINDS) for f in (sim_rf.rf_risk, sim_rf.rf_risk_numpy)],
    S(sim_rf.arccos_kernel, dict(t=[0.5, -0.2]), t=Values()),
    S(sim_rf.relu_target, dict(x=SPHERE, target=(1.0, 0.5)), x=Matrix(square=False, linked=False),
      target=Vector(linked=True)),
    S(sim_rf.harmonic_dimension, dict(d=3, k=2), d=Int(2), k=Int(0)),
    S(sim_rf.relu_spectrum, dict(d=3, max_degree=4), d=Int(3, size=True), max_degree=Int(0, size=True)),
    S(sim_rf.relu_eigensystem, dict(d=3, max_degree=4, target=(1.0, 0.5)), d=Int(3, size=True),
      max_degree=Int(2, size=True), target=Vector(linked=True)),
    S(sim_rf.relu_rf_risk, dict(d=3, n=4, features=3, ridges=[0.1], draws=4, seed=0, target=(1.0, 0.5),
                                noise_variance=0.1, n_test=5, n_chunks=2),
      d=Int(3, size=True), n=Int(1, size=True), features=Real(low=1.0, inf=True), ridges=Vector(nonneg=True),
      draws=Int(2, size=True), seed=Seed(), target=Vector(linked=True), noise_variance=Real(low=0.0),
      n_test=Int(1, size=True), n_chunks=Int(1, size=True)),
    # ------------------------------------------------------------------ simulations.self_distillation
    S(sim_sd.target_function, dict(x=X4), x=Values()),
    *[S(f, SD_SIM, **SD_SIM_KINDS) for f in (sim_sd.distillation_risk, sim_sd.distillation_risk_numpy)],
    S(sim_sd.iterate_distillation, dict(gram=GRAM, y=Y4, ridge=0.1, alphas=[0.2, 0.5], steps=3),
      gram=Matrix(psd=True), y=Vector(linked=True), ridge=Real(low=0.0), alphas=Vector(), steps=Int(0, size=True)),
    S(sim_sd.constrained_distillation, dict(gram=GRAM, y=Y4, epsilon=0.01, max_rounds=3),
      gram=Matrix(psd=True), y=Vector(linked=True), epsilon=Real(0.0, True), max_rounds=Int(1, size=True)),
]

#: public names that take no user input, each with the reason
EXCLUDED = {
    "theory.martingale_td.ConvergenceFit": "a result record returned by convergence_rate",
    "theory.neural_collapse.UFMMinimum": "a result record returned by deep_linear_ufm_minimum",
    "theory.random_features.Eigenframework": "a result record returned by eigenframework",
    "theory.random_features.powerlaw_symbolic": "takes no arguments (the symbolic derivation)",
    "theory.random_features.krr_limit": "takes no arguments (the symbolic derivation)",
    "theory.self_distillation.ConstrainedRounds": "a result record returned by constrained_rounds",
    "simulations.cache.cache_dir": "takes no arguments (reads $THEORYCHECK_CACHE)",
    "simulations.cache.entry_key": "internal to cached: keys the wrapped function's own bound arguments",
    "simulations.cache.store": "internal to cached: stores the wrapped function's own result",
    "simulations.cache.load": "internal to cached: loads an entry under a key it derived",
    "simulations.cache.cached": "a decorator applied to the simulation functions at import",
    "simulations.cache.tree_version": "internal: called with the package names of this project",
    "simulations.cache.get_files": "internal: keys derived by the command line from a SHA-256",
    "simulations.cache.put_files": "internal: keys derived by the command line from a SHA-256",
    "simulations.martingale_td.TDRun": "a result record returned by run_algorithms",
    "simulations.neural_collapse.UFMParams": "a plain container of arrays, checked where it is used (params)",
    "simulations.neural_collapse.UFMRun": "a result record returned by train_ufm",
    "simulations.neural_collapse.UFMPoint": "a result record returned by minimize_ufm_from",
    "simulations.neural_collapse.UFMBruteForce": "a result record returned by brute_force_ufm",
    "simulations.neural_collapse.MixupRun": "a result record returned by train_mixup_features",
    "simulations.neural_collapse.MLPRun": "a result record returned by train_mlp_mixture",
    "simulations.random_features.RFRisk": "a result record returned by rf_risk",
    "simulations.self_distillation.DistillationRisk": "a result record returned by distillation_risk",
}


def public_callables():
    """``module.name`` of every public function or class defined in the theory and simulations modules."""
    out = set()
    for mod in MODULES:
        for name, obj in vars(mod).items():
            if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == mod.__name__:
                out.add(f"{mod.__name__}.{name}")
    return out


def test_every_public_function_is_covered():
    covered = {s.name for s in SPECS}
    assert covered.isdisjoint(EXCLUDED)
    assert public_callables() == covered | set(EXCLUDED)
    assert all(EXCLUDED.values())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_parameter_has_a_kind(spec):
    params = [p for p in inspect.signature(spec.func).parameters]
    assert set(spec.kinds) | set(spec.fixed) == set(params)
    assert set(spec.kinds).isdisjoint(spec.fixed) and all(spec.fixed.values())
    assert set(spec.kinds) <= set(spec.valid) | {"dt", "truncation"}


# --------------------------------------------------------------------------- the harness

def _numba_signatures():
    """Compiled signatures of every numba dispatcher in the simulation modules."""
    out = {}
    for mod in (sim_mt, sim_nc, sim_rf, sim_sd):
        for name, obj in vars(mod).items():
            if hasattr(obj, "signatures") and hasattr(obj, "py_func"):
                out[f"{mod.__name__}.{name}"] = len(obj.signatures)
    return out


def _snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def names_parameter(message: str, name: str) -> bool:
    """The message names ``name`` as a word; a one-letter name must be the subject (``x must``, ``x=``, ...)."""
    pattern = rf"(?<![\w.]){re.escape(name)}(?![\w])"
    if len(name) == 1:
        pattern += r"(?=\s+must|\s+may|\s*=|\[|\s+and\b|\s+has\b|\s+is\b|:|\s*\()"
    return re.search(pattern, message) is not None


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"a bad call ran for over {SECONDS_PER_CALL} s instead of failing at once")


@pytest.fixture
def sandbox(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "0123.json").write_text("{}")
    monkeypatch.setenv("THEORYCHECK_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check_bad_call(sandbox: Path, spec: Spec, name: str, value):
    kwargs = dict(spec.valid, **{name: value})
    before_files, before_jit = _snapshot(sandbox), _numba_signatures()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_CALL, 1)  # repeats: an alarm inside a gc callback is lost
    try:
        with pytest.raises((ValueError, TypeError)) as info:
            spec.func(**kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    message = str(info.value)
    assert message.strip() and "\n" not in message, (spec.name, name, value, message)
    assert names_parameter(message, name), (spec.name, name, value, message)
    assert _numba_signatures() == before_jit, (spec.name, name, value, "a numba kernel was compiled")
    assert _snapshot(sandbox) == before_files, (spec.name, name, value, "files were written")


CASES = [(spec, name) for spec in SPECS for name in spec.kinds]


@pytest.mark.parametrize("spec,name", CASES, ids=[f"{s.name}:{n}" for s, n in CASES])
@SETTINGS
@given(data=st.data())
def test_bad_value_is_refused_naming_the_parameter(sandbox, spec, name, data):
    value = data.draw(spec.kinds[name].bad(spec.valid.get(name)), label=name)
    check_bad_call(sandbox, spec, name, value)


THEORY_SPECS = [s for s in SPECS if s.func.__module__.startswith("theory.")]


@pytest.mark.parametrize("spec", THEORY_SPECS, ids=lambda s: s.name)
def test_the_valid_theory_calls_succeed(spec):
    """The calls the bad values are substituted into are themselves valid (so a refusal is the bad value's)."""
    spec.func(**spec.valid)


def test_the_two_argument_check_modules_stay_twins():
    """theory/_checks.py and simulations/_checks.py carry the same helpers (the packages do not import each
    other): every function they share has the same source, so a fix to one cannot drift from the other."""
    import inspect as _inspect

    from simulations import _checks as sim_checks
    from theory import _checks as th_checks

    shared = [n for n, f in vars(th_checks).items() if _inspect.isfunction(f) and f.__module__ == th_checks.__name__]
    assert shared
    for name in shared:
        assert _inspect.getsource(getattr(sim_checks, name)) == _inspect.getsource(getattr(th_checks, name)), name
