import json
import struct
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from sclong.cli import run_module_main
from sclong.errors import ConfigError, InputError
from sclong.io.hashing import file_sha256
from sclong.model import load_checkpoint, load_model, paper_model_config, save_model
from sclong.model.checkpoint import CONFIG, GENE_TABLE, MANIFEST, VOCABULARY, WEIGHTS
from sclong.model.size import count_parameters
from sclong.model.size import main as size_main
from tests.model.helpers import N_GENES, save_tiny, tiny_cells, tiny_model
from tests.train.synthetic import write_genes

PAPER_TOTAL = 1.006e9
PAPER_LARGE = 991e6


def test_round_trip_gives_bitwise_equal_outputs(tmp_path):
    model = tiny_model(decoder="gene_specific", extra_gene_terms=True)
    save_tiny(tmp_path / "ckpt", model)
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {WEIGHTS, CONFIG, VOCABULARY, GENE_TABLE, MANIFEST}
    loaded = load_model(tmp_path / "ckpt", map_location="cpu").eval()
    assert loaded.config == model.config
    values = tiny_cells()
    mask = values > 6
    with torch.no_grad():
        a, b = model(values, mask), loaded(values, mask)
    assert torch.equal(a.reconstruction, b.reconstruction)
    assert torch.equal(a.representations, b.representations)
    assert all(not p.is_meta and p.requires_grad for p in loaded.parameters())


def test_checkpoint_carries_its_vocabulary_and_gene_table(tmp_path):
    vocabulary, gene_table = write_genes(tmp_path / "genes", N_GENES)  # a plain TSV gene table: gzipped
    save_model(tmp_path / "ckpt", tiny_model(), vocabulary=vocabulary, gene_table=gene_table)
    bundle = load_checkpoint(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / VOCABULARY).read_bytes() == vocabulary.read_bytes()
    assert list(bundle.vocabulary["ensembl_id"]) == list(pd.read_csv(vocabulary, sep="\t")["ensembl_id"])
    assert len(bundle.gene_table) == N_GENES and bundle.gene_table.lookup["current"]["G3"] == ["ENSG00000000003"]
    assert bundle.sha256 == file_sha256(tmp_path / "ckpt" / WEIGHTS)
    manifest = json.loads((tmp_path / "ckpt" / MANIFEST).read_text())
    assert manifest["n_genes"] == N_GENES and manifest["files"][GENE_TABLE]["sha256"] == file_sha256(
        tmp_path / "ckpt" / GENE_TABLE
    )


def test_save_refuses_gene_files_of_another_model(tmp_path):
    vocabulary, gene_table = write_genes(tmp_path / "genes", N_GENES + 1)
    with pytest.raises(InputError, match=f"{vocabulary}: has 13 genes, the model"):
        save_model(tmp_path / "ckpt", tiny_model(), vocabulary=vocabulary, gene_table=gene_table)
    vocabulary, _ = write_genes(tmp_path / "genes12", N_GENES)
    _, small_table = write_genes(tmp_path / "genes6", 6)
    with pytest.raises(InputError, match=f"{small_table}: lacks 6 vocabulary gene"):
        save_model(tmp_path / "ckpt", tiny_model(), vocabulary=vocabulary, gene_table=small_table)
    assert not (tmp_path / "ckpt").exists()


def flip_byte_in_float_weight(path: Path) -> str:
    """Flip one byte in the middle of the first float32 tensor's data; returns the tensor's name."""
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    start, end = header[name]["data_offsets"]
    data[8 + length + (start + end) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    return name


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def swap_rows(path: Path) -> None:
    """Reorder the vocabulary's genes (same length, a well-formed vocabulary): another model's gene order."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame = frame.iloc[::-1].assign(index=range(len(frame)))
    frame.to_csv(path, sep="\t", index=False)


DAMAGE = {
    "truncated weights": (WEIGHTS, truncate, "truncated: "),
    "empty weights": (WEIGHTS, lambda p: p.write_bytes(b""), "empty: 0 bytes, the manifest records"),
    "flipped byte in a float weight": (WEIGHTS, flip_byte_in_float_weight, "sha256 differs from the manifest"),
    "vocabulary rows reordered": (VOCABULARY, swap_rows, "sha256 differs from the manifest"),
    "gene table missing": (GENE_TABLE, Path.unlink, "missing from the checkpoint"),
    "older checkpoint without manifest": (MANIFEST, Path.unlink, "missing: not a complete checkpoint, or one "
                                                                 "written by an older sclong"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_checkpoint_is_one_line_naming_the_file(tmp_path, capsys, case):
    name, damage, problem = DAMAGE[case]
    directory = save_tiny(tmp_path / "ckpt", tiny_model())
    damage(directory / name)
    with pytest.raises(InputError) as err:
        load_model(directory)
    assert err.value.path == str(directory / name) and problem in err.value.problem
    with pytest.raises(InputError):
        load_checkpoint(directory)
    command = ["--checkpoint", str(directory), "--seed", "0", "--out", str(tmp_path / "out")]
    assert run_module_main("sclong.model.random_leg", command) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: {err.value}"]
    print(f"{case}: {lines[0]}")


def test_round_trip_without_leg_or_go(tmp_path):
    model = tiny_model(use_leg=False, use_go=False)
    save_tiny(tmp_path / "ckpt", model)
    loaded = load_model(tmp_path / "ckpt").eval()
    values = tiny_cells()
    assert torch.equal(model(values).reconstruction, loaded(values).reconstruction)


def test_load_switches_attention_backend(tmp_path):
    model = tiny_model()
    save_tiny(tmp_path / "ckpt", model)
    exact = load_model(tmp_path / "ckpt", attention="sdpa")
    assert all(cfg.attention == "sdpa" for cfg in (exact.config.large, exact.config.mini, exact.config.full))
    assert torch.equal(exact.decoder.linear.weight, model.decoder.linear.weight)
    save_tiny(tmp_path / "sdpa", exact)
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
