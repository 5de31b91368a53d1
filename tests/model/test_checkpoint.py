import pytest
import torch
import yaml

from sclong.errors import ConfigError
from sclong.model import load_model, paper_model_config, save_model
from sclong.model.checkpoint import CONFIG, WEIGHTS
from sclong.model.size import count_parameters
from sclong.model.size import main as size_main
from tests.model.helpers import tiny_cells, tiny_model

PAPER_TOTAL = 1.006e9
PAPER_LARGE = 991e6


def test_round_trip_gives_bitwise_equal_outputs(tmp_path):
    model = tiny_model(decoder="gene_specific", extra_gene_terms=True)
    save_model(tmp_path / "ckpt", model)
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {WEIGHTS, CONFIG}
    loaded = load_model(tmp_path / "ckpt", map_location="cpu").eval()
    assert loaded.config == model.config
    values = tiny_cells()
    mask = values > 6
    with torch.no_grad():
        a, b = model(values, mask), loaded(values, mask)
    assert torch.equal(a.reconstruction, b.reconstruction)
    assert torch.equal(a.representations, b.representations)
    assert all(not p.is_meta and p.requires_grad for p in loaded.parameters())


def test_round_trip_without_leg_or_go(tmp_path):
    model = tiny_model(use_leg=False, use_go=False)
    save_model(tmp_path, model)
    loaded = load_model(tmp_path).eval()
    values = tiny_cells()
    assert torch.equal(model(values).reconstruction, loaded(values).reconstruction)


def test_load_switches_attention_backend(tmp_path):
    model = tiny_model()
    save_model(tmp_path, model)
    exact = load_model(tmp_path, attention="sdpa")
    assert all(cfg.attention == "sdpa" for cfg in (exact.config.large, exact.config.mini, exact.config.full))
    assert torch.equal(exact.decoder.linear.weight, model.decoder.linear.weight)
    save_model(tmp_path / "sdpa", exact)
    back = load_model(tmp_path / "sdpa", attention="performer")
    assert torch.equal(back.full.net.layers[0][0].fn.to_q.weight, model.full.net.layers[0][0].fn.to_q.weight)


def test_paper_model_has_a_billion_parameters_on_meta():
    counts = count_parameters(paper_model_config())
    assert abs(counts["total"] - PAPER_TOTAL) / PAPER_TOTAL < 0.01, counts
    assert abs(counts["large"] - PAPER_LARGE) / PAPER_LARGE < 0.01, counts


def test_size_command_reads_a_yaml_section(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": tiny_model().config.to_dict()}))
    assert size_main(["--config", str(config), "--key", "model"]) == 0
    total = int(capsys.readouterr().out.splitlines()[-1].split()[-1].replace(",", ""))
    assert total == sum(p.numel() for p in tiny_model().parameters())


def test_size_command_names_a_missing_key(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("scale: demo\n")
    with pytest.raises(ConfigError, match="model"):
        size_main(["--config", str(config), "--key", "model"])
