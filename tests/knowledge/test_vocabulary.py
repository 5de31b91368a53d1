"""Vocabulary: union of sources with flags, mapping report, reader validation, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.knowledge import vocabulary
from sclong.knowledge.gaf import read_gaf
from sclong.knowledge.vocabulary import COLUMNS, build_vocabulary, read_vocabulary

from .conftest import GAF_SETTINGS, gaf_line


def test_union_flags_counts_and_report(small_inputs, small_table):
    vocab, report = build_vocabulary(
        small_table, read_gaf(small_inputs["gaf"], 0.25), small_inputs["counts"], 1, small_inputs["gene2vec"]
    )
    assert list(vocab.columns) == list(COLUMNS)
    flags = vocab.set_index("ensembl_id")[["nonzero_cells", *vocabulary.SOURCES]]
    assert flags.to_dict("index") == {
        "ENSG00000000001": dict(nonzero_cells=10, top_expressed=1, protein_coding=1, go=1, gene2vec=0),
        "ENSG00000000003": dict(nonzero_cells=0, top_expressed=0, protein_coding=0, go=1, gene2vec=1),
        "ENSG00000000004": dict(nonzero_cells=5, top_expressed=0, protein_coding=1, go=1, gene2vec=0),
        "ENSG00000000005": dict(nonzero_cells=0, top_expressed=0, protein_coding=1, go=1, gene2vec=0),
        "ENSG00000000006": dict(nonzero_cells=0, top_expressed=0, protein_coding=0, go=1, gene2vec=1),
        "ENSG00000000007": dict(nonzero_cells=0, top_expressed=0, protein_coding=1, go=1, gene2vec=0),
    }  # ENSG00000000003 is protein-coding but on an alternate haplotype; BBB2 (GAF, Gene2vec) maps to it
    assert vocab["symbol"].tolist()[:2] == ["AAA1", "BBB2"]
    assert report[["source", "query", "how"]].values.tolist() == [
        ["top_expressed", "NOPE", "unmapped"],
        ["go", "BBB2", "ambiguous"],
        ["gene2vec", "BBB2", "ambiguous"],
        ["gene2vec", "ZZZ9", "unmapped"],
    ]
    reasons = report["reason"].tolist()
    conflict = ("HGNC gives this symbol to ENSG00000000002, Ensembl's display name to ENSG00000000003; chose "
                "ENSG00000000003 (protein-coding > primary assembly > lowest ID)")  # fmt: skip
    assert reasons[1:3] == [f"UniProtKB:P_BBB2: {conflict}", conflict]
    assert "no current, previous or alias symbol" in reasons[0] and "no current, previous or alias" in reasons[3]


def test_report_lists_real_conflicts_and_colliding_gaf_genes(tmp_path: Path, real_table):
    # COX1 is MT-CO1's NCBI name and an alias of PTGS1; keyed by a UniProt accession (not in the Ensembl table)
    # it falls back on the alias and lands on PTGS1 next to PTGS1's own GAF gene. CCDC39 is a symbol conflict.
    lines = [gaf_line("COX1", "GO:0004129", "F", gene_id="UniProtKB:P00395"),
             gaf_line("PTGS1", "GO:0004666", "F", gene_id="NCBIGene:5742"),
             gaf_line("CCDC39", "GO:0005930", "C", gene_id="UniProtKB:Q9UFE4")]  # fmt: skip
    gaf = tmp_path / "goa.gaf"
    gaf.write_text("!gaf-version: 2.1\n" + "\n".join(lines) + "\n")
    counts = tmp_path / "counts.tsv"
    counts.write_text("feature_id\tfeature_name\tnonzero_cells\n\tSLFN12L\t4\n")
    _, report = build_vocabulary(real_table, read_gaf(gaf, 0.0), counts, 10)
    rows = report.groupby(["source", "query"])["reason"].agg(list).to_dict()
    assert rows["top_expressed", "SLFN12L"] == [
        "HGNC gives this symbol to ENSG00000286065, Ensembl's display name to ENSG00000205045; chose "
        "ENSG00000205045 (protein-coding > primary assembly > lowest ID)"
    ]
    assert rows["go", "CCDC39"][0].startswith("UniProtKB:Q9UFE4: HGNC gives this symbol to ENSG00000145075")
    merged = "GAF genes UniProtKB:P00395 (COX1), NCBIGene:5742 (PTGS1) all map to ENSG00000095303"
    assert rows["go", "PTGS1"] == [f"NCBIGene:5742: {merged}; their annotations are merged"]
    assert rows["go", "COX1"] == [  # ambiguous alias, and merged
        "UniProtKB:P00395: 2 genes share this alias symbol; chose ENSG00000095303 (protein-coding > primary "
        "assembly > lowest ID)", f"UniProtKB:P00395: {merged}; their annotations are merged"
    ]  # fmt: skip


def test_top_n_ties_break_by_lower_id():
    counts = pd.Series({"ENSG3": 5, "ENSG1": 5, "ENSG2": 9, "ENSG4": 0})
    assert vocabulary.top_genes(counts, 3) == ["ENSG2", "ENSG1", "ENSG3"]
    assert vocabulary.top_genes(counts, 10) == ["ENSG2", "ENSG1", "ENSG3"]


def test_cli_round_trip_and_reader_validation(small_inputs, tmp_path: Path):
    out, report = tmp_path / "vocabulary.tsv", tmp_path / "mapping_report.tsv"
    argv = ["--gene-table", str(small_inputs["gene_table"]), "--gaf", str(small_inputs["gaf"]),
            "--counts", str(small_inputs["counts"]),
            "--settings", '{"top_n_expressed": 2}', "--gaf-settings", GAF_SETTINGS,
            "--out", str(out), "--report", str(report)]  # fmt: skip
    assert vocabulary.main(argv) == 0
    vocab = read_vocabulary(out)
    assert vocab["index"].tolist() == list(range(6)) and vocab["gene2vec"].sum() == 0
    assert vocab["entrez"].tolist()[2] == "4; 5"
    broken = tmp_path / "broken.tsv"
    vocab.drop(index=2).to_csv(broken, sep="\t", index=False)
    with pytest.raises(InputError, match="broken.tsv: column index must number"):
        read_vocabulary(broken)


def test_counts_without_required_columns_leave_no_output(small_inputs, tmp_path: Path):
    bad = tmp_path / "counts_bad.tsv"
    bad.write_text("feature_id\tcells\nENSG00000000001\t3\n")
    out = tmp_path / "vocabulary.tsv"
    argv = ["--gene-table", str(small_inputs["gene_table"]), "--gaf", str(small_inputs["gaf"]), "--counts", str(bad),
            "--settings", '{"top_n_expressed": 2}', "--gaf-settings", GAF_SETTINGS, "--out", str(out),
            "--report", str(tmp_path / "report.tsv")]  # fmt: skip
    with pytest.raises(InputError, match="counts_bad.tsv: .*lacks column.*feature_name, nonzero_cells"):
        vocabulary.main(argv)
    assert not out.exists() and not list(tmp_path.glob(".vocabulary*"))


def test_real_files_with_celltypist_genes(shared_data: Path, real_table, real_gaf, tmp_path: Path):
    cells = ad.read_h5ad(shared_data / "cells" / "celltypist_sample_counts.h5ad")
    counts = tmp_path / "counts.tsv"
    nonzero = np.asarray((cells.X > 0).sum(axis=0)).ravel()
    pd.DataFrame({"feature_id": cells.var_names, "feature_name": cells.var_names, "nonzero_cells": nonzero}).to_csv(
        counts, sep="\t", index=False
    )
    vocab, report = build_vocabulary(real_table, real_gaf, counts, 5000)
    assert vocab["top_expressed"].sum() == 5000 and vocab["ensembl_id"].is_unique
    assert 19000 < vocab["protein_coding"].sum() < 20500 and vocab["go"].sum() > 19000
    expressed = report[report["source"] == "top_expressed"]
    assert 0.25 < (expressed["how"] == "unmapped").sum() / len(cells.var_names) < 0.4
    assert vocab.set_index("symbol").loc["CD74", "top_expressed"] == 1


def test_module_cli_reports_one_line_error(small_inputs, tmp_path: Path):
    missing = tmp_path / "absent.tsv"
    argv = ["--gene-table", str(missing), "--gaf", str(small_inputs["gaf"]), "--counts", str(small_inputs["counts"]),
            "--settings", '{"top_n_expressed": 2}', "--gaf-settings", GAF_SETTINGS, "--out", str(tmp_path / "v.tsv"),
            "--report", str(tmp_path / "r.tsv")]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "sclong.knowledge.vocabulary", *argv], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {missing}: cannot read gene table "
                                                f"([Errno 2] No such file or directory: '{missing}')"]  # fmt: skip
    assert not (tmp_path / "v.tsv").exists()
