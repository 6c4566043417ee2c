"""Stochastic side of theorycheck: seeded numba kernels returning estimates with standard errors."""
