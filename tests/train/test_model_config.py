import json

import numpy as np
import pytest
import yaml
from synthetic import model_config

from sclong.errors import ConfigError, InputError
from sclong.train.pretrain import build_model, read_model_config


def test_inline_json_gets_corpus_genes_and_variant_switches():
    config = read_model_config(model_config(), None, n_genes=48, variant="wo_leg")
    assert config.n_genes == 48 and not config.use_leg and config.use_go
    assert not read_model_config(model_config(), None, 48, "wo_go").use_go


def test_yaml_file_with_dotted_key(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"pretrain": {"model": json.loads(model_config())}}))
    config = read_model_config(str(path), "pretrain.model", n_genes=48, variant="sclong")
    assert config.gene_dim == 16 and config.use_leg and config.use_go
    with pytest.raises(ConfigError, match="pretrain.nothing"):
        read_model_config(str(path), "pretrain.nothing", 48, "sclong")


def test_gene_count_must_match_the_corpus():
    data = {**json.loads(model_config()), "n_genes": 50}
    with pytest.raises(ConfigError, match="'model.n_genes'"):
        read_model_config(json.dumps(data), None, 48, "sclong")


def test_a_switch_against_the_variant_is_refused():
    data = {**json.loads(model_config()), "use_leg": True}
    with pytest.raises(ConfigError, match="'model.use_leg': is True, but variant wo_leg needs False"):
        read_model_config(json.dumps(data), None, 48, "wo_leg")


@pytest.mark.parametrize(("top_k", "variant"), [(48, "sclong"), (60, "sclong"), (49, "wo_leg")])
def test_top_k_must_leave_genes_to_the_mini_encoder(top_k, variant):
    """Was silently clamped to the gene count (the mini encoder then saw nothing)."""
    data = {**json.loads(model_config()), "top_k": top_k}
    with pytest.raises(ConfigError) as err:
        read_model_config(json.dumps(data), None, 48, variant)
    assert err.value.key == "model.top_k" and len(str(err.value).splitlines()) == 1
    assert read_model_config(json.dumps({**data, "top_k": 48}), None, 48, "wo_leg").top_k == 48  # no mini encoder


def test_gene2vec_width_must_be_gene_dim(knowledge, tmp_path):
    config = read_model_config(model_config(dim=16), None, 48, "wo_go")
    wide = tmp_path / "gene2vec.npy"
    np.save(wide, np.zeros((48, 20), dtype=np.float32))
    with pytest.raises(ConfigError) as err:
        build_model(config, str(wide), None)
    assert str(err.value) == (f"config key 'model.gene_dim': is 16, but the Gene2vec matrix {wide} has 20 columns "
                              "(gene2vec.dim): they must be equal")  # fmt: skip
    np.save(wide, np.zeros((47, 16), dtype=np.float32))
    with pytest.raises(InputError, match="expected 48 rows"):
        build_model(config, str(wide), None)
    assert build_model(config, str(knowledge.gene2vec), None).config.gene_dim == 16
