"""Build a model without allocating memory, and count its parameters per component.

``python -m sclong.model.size [--config FILE --key model] [--n-genes N]`` prints the table (default:
the paper's sizes, 1,000,772,093 parameters).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

from sclong.cli import run_module_main
from sclong.errors import ConfigError, InputError
from sclong.model.config import ModelConfig, paper_model_config
from sclong.model.sclong import ScLong


def build_meta_model(config: ModelConfig, n_edges: int = 0) -> ScLong:
    """A :class:`ScLong` on the meta device (shapes only), e.g. to size the paper's 1B model."""
    with torch.device("meta"):
        return ScLong(
            config,
            torch.empty(config.n_genes, config.gene_dim),
            torch.empty(2, n_edges, dtype=torch.long),
            torch.empty(n_edges),
        )


def count_parameters(config: ModelConfig) -> dict[str, int]:
    """Trainable parameters per top-level component and their ``total``."""
    model = build_meta_model(config)
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    counts.update({name: p.numel() for name, p in model.named_parameters(recurse=False)})
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sclong.model.size", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="YAML/JSON file with ModelConfig fields (default: the paper's sizes)")
    parser.add_argument("--key", help="dotted key of the model section inside --config, e.g. model")
    parser.add_argument("--n-genes", type=int, help="override n_genes")
    args = parser.parse_args(argv)
    if args.config:
        try:
            data = yaml.safe_load(Path(args.config).read_text())
        except (OSError, yaml.YAMLError) as err:
            raise InputError(args.config, f"cannot read model config ({err})") from err
        for part in args.key.split(".") if args.key else []:
            if not isinstance(data, dict) or part not in data:
                raise ConfigError(args.key, f"not found in {args.config}")
            data = data[part]
        if not isinstance(data, dict):
            raise ConfigError(args.key or "model", "must be a mapping of ModelConfig fields")
        if args.n_genes:
            data = {**data, "n_genes": args.n_genes}
        config = ModelConfig.from_dict(data)
    else:
        config = paper_model_config(args.n_genes or 27_874)
    for name, count in count_parameters(config).items():
        print(f"{name:<20} {count:>15,}")
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
