"""Exact side of theorycheck: sympy derivations, closed forms and deterministic solvers."""
