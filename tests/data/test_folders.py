"""Folder datasets of the drug tasks: members of a repository archive copied under the file set's names."""

from __future__ import annotations

import gzip
import tarfile
import zipfile
from pathlib import Path

import pytest

from sclong.data.datasets import DatasetFile
from sclong.data.file_sets import FILE_SETS, check_roles, dataset_layout, folder_files
from sclong.data.folders import main, write_folder
from sclong.errors import ConfigError, InputError
from sclong.settings import to_json

MEMBERS = {
    "ic50": "DeepCDR-master/data/CCLE/GDSC_IC50.csv",
    "drug_list": "DeepCDR-master/data/GDSC/1.Drug_listMon Jun 24 09_00_55 2019.csv",
    "smiles": "DeepCDR-master/data/223drugs_pubchem_smiles.txt",
    "annotations": "DeepCDR-master/data/CCLE/Cell_lines_annotations_20181226.txt",
    "expression": "DeepCDR-master/data/CCLE/genomic_expression_561celllines_697genes_demap_features.csv",
}


@pytest.fixture
def deepcdr_zip(tmp_path: Path, shared_data: Path) -> tuple[Path, dict[str, bytes]]:
    """A DeepCDR-like archive: the real IC50, SMILES and annotation files, small stand-ins for the other two."""
    real = shared_data / "drug_response"
    content = {
        "ic50": gzip.decompress((real / "GDSC_IC50.csv.gz").read_bytes()),
        "drug_list": b"drug_id,Name,Synonyms,Targets,Target pathway,PubCHEM,Sample Size,Count\n"
        b"1,Erlotinib,,,,176870,1,1\n",
        "smiles": (real / "223drugs_pubchem_smiles.txt").read_bytes(),
        "annotations": (real / "Cell_lines_annotations_20181226.txt").read_bytes(),
        "expression": b",TP53 (7157)\nACH-000001,3.5\n",
    }
    archive = tmp_path / "DeepCDR.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for role, member in MEMBERS.items():
            handle.writestr(member, content[role])
    return archive, content


def test_members_are_copied_byte_for_byte_under_the_file_set_names(tmp_path: Path, deepcdr_zip) -> None:
    archive, content = deepcdr_zip
    out = write_folder("deepcdr", {r: DatasetFile(archive, m) for r, m in MEMBERS.items()}, tmp_path / "cdr")
    files = folder_files(out, "deepcdr")
    assert {role: path.read_bytes() for role, path in files.items()} == content
    assert {path.name for path in out.iterdir()} == set(FILE_SETS["deepcdr"].values())


def test_the_command_line_reads_members_from_a_tar_too(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "sig.gct").write_text("#1.3\n")
    (source / "smiles.csv").write_text("BRD-K1,CCO\n")
    archive = tmp_path / "l1000.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(source / "sig.gct", "data/sig.gct")
        handle.add(source / "smiles.csv", "data/smiles.csv")
    settings = {"format": "l1000", "files": {"signatures": {"source": "a", "member": "data/sig.gct"},
                                             "smiles": {"source": "a", "member": "data/smiles.csv"}}}  # fmt: skip
    out = tmp_path / "l1000"
    argv = ["--name", "chem", "--file", f"signatures={archive}", "--file", f"smiles={archive}",
            "--settings", to_json(settings), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert (out / "signatures.gct").read_text() == "#1.3\n" and (out / "drugs_smiles.csv").read_text() == "BRD-K1,CCO\n"


def test_a_missing_member_names_the_archive_and_leaves_no_folder(tmp_path: Path, deepcdr_zip) -> None:
    archive, _ = deepcdr_zip
    files = {r: DatasetFile(archive, m) for r, m in MEMBERS.items()}
    files["expression"] = DatasetFile(archive, "DeepCDR-master/data/CCLE/missing.csv")
    with pytest.raises(InputError, match=r"DeepCDR\.zip: archive has no member 'DeepCDR-master/data/CCLE/missing"):
        write_folder("deepcdr", files, tmp_path / "cdr")
    assert list(tmp_path.iterdir()) == [archive]  # neither the folder nor a temporary


def test_a_folder_without_one_of_its_files_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "labels_0_10.csv").write_text("drug1,drug2,cell,label\n")
    with pytest.raises(InputError, match="lacks the deepdds file"):
        folder_files(tmp_path, "deepdds")
    with pytest.raises(InputError, match="is not a folder of l1000 files"):
        folder_files(tmp_path / "absent", "l1000")


def test_roles_must_be_the_formats_and_layouts_are_named() -> None:
    with pytest.raises(ConfigError, match=r"missing role\(s\) smiles; unknown role\(s\) smile"):
        check_roles("l1000", {"signatures", "smile"}, "datasets.x.files")
    assert dataset_layout({"builtin": "deepdds"}) == "deepdds"
    assert dataset_layout({"format": "l1000", "files": {}}) == "l1000"
    assert dataset_layout({"folder": "mine", "format": "deepcdr"}) == "deepcdr"
    assert dataset_layout({"format": "beeline", "files": {}}) == dataset_layout({"path": "x.h5ad"}) == "h5ad"
