"""Papers, claims, evidence and the registry.

A claim is one falsifiable sentence of a paper.  Its check function takes the
run's :class:`Budget` and an integer seed and returns :class:`Evidence` built
from one of the tests of :mod:`paper_checks.stats`: observed against predicted
with a derived tolerance, and the same observation against a rival prediction.
"""

from __future__ import annotations

import enum
import fnmatch
import importlib
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from . import stats


@dataclass(frozen=True)
class Paper:
    key: str
    authors: str
    title: str
    venue: str
    year: int
    arxiv: str

    @property
    def cite(self) -> str:
        first = self.authors.split(",")[0].strip()
        return f"{first} et al. {self.year}" if "," in self.authors else f"{self.authors} {self.year}"

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}"


class Budget(enum.Enum):
    """Sample sizes: ``quick`` (the whole suite in minutes on 2 cores, what CI runs) or ``full`` (paper scale)."""

    QUICK = "quick"
    FULL = "full"

    @classmethod
    def parse(cls, value) -> "Budget":
        if isinstance(value, Budget):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(f"budget must be one of quick, full; got {value!r}") from None

    def pick(self, *, quick, full):
        """The claim's sample size for this budget."""
        return quick if self is Budget.QUICK else full


@dataclass(frozen=True)
class Evidence:
    """What a check found: observation, prediction, tolerance, and the rival on the same data."""

    observed: np.ndarray
    predicted: np.ndarray
    tolerance: np.ndarray
    statistic: float
    threshold: float
    test: str
    agrees: bool
    rival: str
    rival_prediction: np.ndarray
    rival_statistic: float
    rival_rejected: bool
    sample_sizes: dict = field(default_factory=dict)
    seed: int | None = None
    runtime_s: float = float("nan")
    note: str = ""
    detail: str = ""

    @classmethod
    def from_test(cls, result: stats.TestResult, *, sample_sizes: dict | None = None, note: str = "") -> "Evidence":
        return cls(
            observed=result.observed,
            predicted=result.predicted,
            tolerance=np.asarray(result.tolerance),
            statistic=result.statistic,
            threshold=result.threshold,
            test=result.kind,
            agrees=result.agrees,
            rival=result.rival_name,
            rival_prediction=result.rival_prediction,
            rival_statistic=result.rival_statistic,
            rival_rejected=result.rival_rejected,
            sample_sizes=dict(sample_sizes or {}),
            note=note,
            detail=result.detail,
        )

    @property
    def verdict(self) -> str:
        """``pass``: theory agrees and the rival is rejected; ``no power``: both agree; ``fail`` otherwise."""
        if not self.agrees:
            return "fail"
        if not self.rival_rejected:
            return "no power"
        return "pass"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict:
        def listify(a):
            a = np.asarray(a)
            return a.tolist()

        return {
            "observed": listify(self.observed),
            "predicted": listify(self.predicted),
            "tolerance": listify(self.tolerance),
            "statistic": self.statistic,
            "threshold": self.threshold,
            "test": self.test,
            "agrees": self.agrees,
            "rival": self.rival,
            "rival_prediction": listify(self.rival_prediction),
            "rival_statistic": self.rival_statistic,
            "rival_rejected": self.rival_rejected,
            "verdict": self.verdict,
            "sample_sizes": self.sample_sizes,
            "seed": self.seed,
            "runtime_s": self.runtime_s,
            "note": self.note,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Claim:
    id: str
    paper: Paper
    where: str
    statement: str
    check: Callable[[Budget, int], Evidence]
    finding: bool = False

    def run(self, budget: Budget, seed: int) -> Evidence:
        t0 = time.perf_counter()
        ev = self.check(Budget.parse(budget), int(seed))
        if not isinstance(ev, Evidence):
            raise TypeError(f"claim {self.id} returned {type(ev).__name__}, expected Evidence")
        return replace(ev, seed=int(seed), runtime_s=time.perf_counter() - t0)


REGISTRY: dict[str, Claim] = {}

#: modules of this package that are not papers; every other module registers claims
FRAMEWORK_MODULES = frozenset({"claims", "stats", "cli", "report", "sweep", "__main__"})


def paper_modules() -> list[str]:
    """``paper_checks.<paper>`` modules: adding a paper is adding a file."""
    import pkgutil

    pkg = importlib.import_module("paper_checks")
    return sorted(f"paper_checks.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_") and m.name not in FRAMEWORK_MODULES)


def claim(id: str, *, paper: Paper, where: str, statement: str, finding: bool = False):
    """Register a check function as the claim ``id`` (``paper-key/short-name``)."""
    if "/" not in id or not id.startswith(paper.key + "/"):
        raise ValueError(f"claim id must look like '{paper.key}/<name>', got {id!r}")

    def deco(fn):
        if id in REGISTRY and REGISTRY[id].check.__qualname__ != fn.__qualname__:
            raise ValueError(f"claim {id!r} registered twice")
        REGISTRY[id] = Claim(id=id, paper=paper, where=where, statement=statement, check=fn, finding=finding)
        return fn

    return deco


def load_all() -> dict[str, Claim]:
    for mod in paper_modules():
        importlib.import_module(mod)
    return REGISTRY


def select(patterns=()) -> list[Claim]:
    """Claims whose id matches any pattern (a glob, or a prefix such as a paper key).

    Raises ``ValueError`` naming a pattern that matches nothing.
    """
    reg = load_all()
    ids = sorted(reg)
    if not patterns:
        return [reg[i] for i in ids]
    chosen: list[str] = []
    for pat in patterns:
        hits = [i for i in ids if fnmatch.fnmatchcase(i, pat) or i.startswith(pat.rstrip("/") + "/") or i == pat]
        if not hits:
            papers = sorted({c.paper.key for c in reg.values()})
            raise ValueError(f"pattern {pat!r} matches no claim; papers are {', '.join(papers)} "
                             f"(see 'theorycheck list')")
        chosen.extend(h for h in hits if h not in chosen)
    return [reg[i] for i in chosen]


def run_claims(claims, budget, seed: int, rate: float = stats.DEFAULT_FALSE_ALARM_RATE,
               family_size: int | None = None, on_done=None) -> list[tuple[Claim, Evidence]]:
    """Run claims under one family-wise false-alarm rate (Bonferroni over ``family_size``).

    ``family_size`` defaults to the number of claims run.
    """
    budget = Budget.parse(budget)
    claims = list(claims)
    out = []
    with stats.family(rate, family_size or max(1, len(claims))):
        for c in claims:
            ev = c.run(budget, seed)
            out.append((c, ev))
            if on_done is not None:
                on_done(c, ev)
    return out
