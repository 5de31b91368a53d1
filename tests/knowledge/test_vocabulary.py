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
from sclong.knowledge.vocabulary import COLUMNS, build_vocabulary, read_vocabulary


def test_union_flags_counts_and_report(small_inputs, small_table):
    vocab, report = build_vocabulary(
        small_table, small_inputs["gaf"], small_inputs["counts"], 1, small_inputs["gene2vec"]
    )
    assert list(vocab.columns) == list(COLUMNS)
    flags = vocab.set_index("ensembl_id")[["nonzero_cells", *vocabulary.SOURCES]]
    assert flags.to_dict("index") == {
        "ENSG00000000001": dict(nonzero_cells=10, top_expressed=1, protein_coding=1, go=1, gene2vec=0),
        "ENSG00000000002": dict(nonzero_cells=0, top_expressed=0, protein_coding=0, go=1, gene2vec=1),
        "ENSG00000000004": dict(nonzero_cells=5, top_expressed=0, protein_coding=1, go=1, gene2vec=0),
        "ENSG00000000005": dict(nonzero_cells=0, top_expressed=0, protein_coding=1, go=1, gene2vec=0),
        "ENSG00000000006": dict(nonzero_cells=0, top_expressed=0, protein_coding=0, go=1, gene2vec=1),
        "ENSG00000000007": dict(nonzero_cells=0, top_expressed=0, protein_coding=1, go=1, gene2vec=0),
    }  # ENSG00000000003 is protein-coding but on an alternate haplotype
    assert vocab["symbol"].tolist()[:2] == ["AAA1", "BBB2"]
    assert report[["source", "query", "how"]].values.tolist() == [
        ["top_expressed", "NOPE", "unmapped"],
        ["gene2vec", "ZZZ9", "unmapped"],
    ]
    assert report["reason"].str.contains("no current, previous or alias symbol").all()


def test_top_n_ties_break_by_lower_id():
    counts = pd.Series({"ENSG3": 5, "ENSG1": 5, "ENSG2": 9, "ENSG4": 0})
    assert vocabulary.top_genes(counts, 3) == ["ENSG2", "ENSG1", "ENSG3"]
    assert vocabulary.top_genes(counts, 10) == ["ENSG2", "ENSG1", "ENSG3"]


def test_cli_round_trip_and_reader_validation(small_inputs, tmp_path: Path):
    out, report = tmp_path / "vocabulary.tsv", tmp_path / "mapping_report.tsv"
    argv = ["--gene-table", str(small_inputs["gene_table"]), "--gaf", str(small_inputs["gaf"]),
            "--counts", str(small_inputs["counts"]), "--top-n", "2",
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
            "--top-n", "2", "--out", str(out), "--report", str(tmp_path / "report.tsv")]  # fmt: skip
    with pytest.raises(InputError, match="counts_bad.tsv: .*lacks column.*feature_name, nonzero_cells"):
        vocabulary.main(argv)
    assert not out.exists() and not list(tmp_path.glob(".vocabulary*"))


def test_real_files_with_celltypist_genes(shared_data: Path, real_table, tmp_path: Path):
    cells = ad.read_h5ad(shared_data / "cells" / "celltypist_sample_counts.h5ad")
    counts = tmp_path / "counts.tsv"
    nonzero = np.asarray((cells.X > 0).sum(axis=0)).ravel()
    pd.DataFrame({"feature_id": cells.var_names, "feature_name": cells.var_names, "nonzero_cells": nonzero}).to_csv(
        counts, sep="\t", index=False
    )
    vocab, report = build_vocabulary(real_table, shared_data / "go" / "goa_human_2019-01-29.gaf.gz", counts, 5000)
    assert vocab["top_expressed"].sum() == 5000 and vocab["ensembl_id"].is_unique
    assert 19000 < vocab["protein_coding"].sum() < 20500 and vocab["go"].sum() > 19000
    expressed = report[report["source"] == "top_expressed"]
    assert 0.25 < (expressed["how"] == "unmapped").sum() / len(cells.var_names) < 0.4
    assert vocab.set_index("symbol").loc["CD74", "top_expressed"] == 1


def test_module_cli_reports_one_line_error(small_inputs, tmp_path: Path):
    missing = tmp_path / "absent.tsv"
    argv = ["--gene-table", str(missing), "--gaf", str(small_inputs["gaf"]), "--counts", str(small_inputs["counts"]),
            "--top-n", "2", "--out", str(tmp_path / "v.tsv"), "--report", str(tmp_path / "r.tsv")]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "sclong.knowledge.vocabulary", *argv], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {missing}: cannot read gene table "
                                                f"([Errno 2] No such file or directory: '{missing}')"]  # fmt: skip
    assert not (tmp_path / "v.tsv").exists()
