import json

import pytest

from sclong.errors import ConfigError
from sclong.model import ModelConfig, paper_model_config
from tests.model.helpers import tiny_config


def test_json_round_trip():
    config = tiny_config(decoder="gene_specific", use_go=False)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_paper_config_sizes():
    config = paper_model_config()
    assert (config.n_genes, config.top_k, config.gene_dim) == (27_874, 4096, 200)
    assert (config.large.depth, config.large.heads, config.large.hidden) == (42, 32, 1280)
    assert (config.mini.depth, config.full.heads, config.large.nb_features) == (2, 8, 266)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"top_k": 0}, "model.top_k"),
        ({"top_k": 12}, "model.top_k"),  # as many as the genes: the mini encoder would get none
        ({"top_k": 13, "use_leg": False}, "model.top_k"),
        ({"decoder": "mlp"}, "model.decoder"),
        ({"use_go": "yes"}, "model.use_go"),
        ({"large": {"depth": 1, "heads": 2, "dim_head": 8, "hidden": 8, "attention": "x"}}, "model.large.attention"),
        ({"mini": {"depth": 1, "heads": 2, "dim_head": 8, "hidden": 8}}, "model.mini.hidden"),
        ({"full": {"depth": 1, "heads": 2, "dim_head": 8, "hidden": 16, "colour": 1}}, "model.full.colour"),
        ({"dropout": 0.1}, "model.dropout"),
    ],
)
def test_invalid_key_is_named(change, key):
    data = {**tiny_config().to_dict(), **change}
    with pytest.raises(ConfigError) as err:
        ModelConfig.from_dict(data)
    assert err.value.key == key


def test_top_k_may_be_every_gene_without_the_mini_encoder():
    assert tiny_config(top_k=12, use_leg=False).top_k == 12
