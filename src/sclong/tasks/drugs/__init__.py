"""Shared helpers and models of the three drug tasks (chemical perturbation, drug response, drug combination)."""
