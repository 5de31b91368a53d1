import json

import pytest
import yaml
from synthetic import model_config

from sclong.errors import ConfigError
from sclong.train.pretrain import read_model_config


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
    with pytest.raises(ConfigError, match="n_genes"):
        read_model_config(json.dumps(data), None, 48, "sclong")
