"""Shared parts of the three drug tasks (chemical perturbation, cancer drug response, drug combination).

``molecules`` (SMILES -> rdkit molecular graphs with each baseline's atom features, cached; Morgan
fingerprints), and each task's own data, metric and model modules.
"""
