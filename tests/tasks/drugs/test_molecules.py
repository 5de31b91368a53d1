"""Drug molecules: each baseline's atom features as named blocks on hand-built molecules (the expected
vectors written out by hand from the molecules' chemistry), graph edges, invalid SMILES, the cache,
Morgan fingerprints, the demo drug table and the real L1000 SMILES."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

from sclong.tasks.drugs import molecules
from sclong.tasks.drugs.molecules import ATOM_DIMS, SYMBOLS, atom_features, block_slices, featurize, load_molecules

REPO = Path(__file__).resolve().parents[3]


def atom(smiles: str, index: int) -> Chem.Atom:
    return Chem.MolFromSmiles(smiles).GetAtomWithIdx(index)


def one_hot(dim: int, ones: dict[int, float]) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    for position, value in ones.items():
        vector[position] = value
    return vector


def test_block_layouts_match_the_baselines():
    widths = {scheme: {name: s.stop - s.start for name, s in block_slices(scheme).items()} for scheme in ATOM_DIMS}
    assert widths["deepce"] == {"symbol": 44, "degree": 6, "total_h": 5, "implicit_valence": 6, "aromatic": 1}
    assert widths["deepcdr"] == {
        "symbol": 44, "degree": 11, "implicit_valence": 7, "formal_charge": 1, "radical_electrons": 1,
        "hybridisation": 5, "aromatic": 1, "total_h": 5,
    }  # fmt: skip
    assert widths["deepdds"] == {"symbol": 44, "degree": 11, "total_h": 11, "implicit_valence": 11, "aromatic": 1}
    for scheme, dim in ATOM_DIMS.items():
        assert sum(widths[scheme].values()) == dim
    assert SYMBOLS[:4] == ("C", "N", "O", "S") and SYMBOLS[29] == "H" and SYMBOLS[-1] == "Unknown"


def test_deepce_ethanol_ch2():
    # CH2 of ethanol: C, 2 heavy neighbours, 2 H, implicit valence 2, not aromatic
    expected = one_hot(62, {0: 1, 44 + 2: 1, 50 + 2: 1, 55 + 2: 1})
    np.testing.assert_array_equal(atom_features(atom("CCO", 1), "deepce"), expected)


def test_deepce_benzene_and_acetic_acid():
    # benzene C: degree 2, 1 H, implicit valence 1, aromatic (last position)
    np.testing.assert_array_equal(
        atom_features(atom("c1ccccc1", 0), "deepce"), one_hot(62, {0: 1, 46: 1, 51: 1, 56: 1, 61: 1})
    )
    # carbonyl O of acetic acid: O (slot 2), degree 1, no H, implicit valence 0
    np.testing.assert_array_equal(atom_features(atom("CC(=O)O", 2), "deepce"), one_hot(62, {2: 1, 45: 1, 50: 1, 55: 1}))
    # methane: 4 H; a 5-H value cannot occur, so check the highest slots: total H 4 = position 54, valence 4 = 59
    np.testing.assert_array_equal(atom_features(atom("C", 0), "deepce"), one_hot(62, {0: 1, 44: 1, 54: 1, 59: 1}))


def test_deepcdr_benzene_and_acetate():
    # benzene C: symbol 0, degree 2 (44+2), implicit valence 1 (55+1), charge 0, radicals 0, SP2 (64+1),
    # aromatic (69), total H 1 (70+1)
    np.testing.assert_array_equal(
        atom_features(atom("c1ccccc1", 0), "deepcdr"), one_hot(75, {0: 1, 46: 1, 56: 1, 65: 1, 69: 1, 71: 1})
    )
    # the charged O of acetate: O (2), degree 1 (45), implicit valence 0 (55), formal charge -1 (62),
    # SP2 in rdkit's perception (65), not aromatic, no H (70)
    np.testing.assert_array_equal(
        atom_features(atom("CC(=O)[O-]", 3), "deepcdr"), one_hot(75, {2: 1, 45: 1, 55: 1, 62: -1, 65: 1, 70: 1})
    )
    # methyl C of ethanol: SP3 (66), degree 1 (45), implicit valence 3 (58), 3 H (73)
    np.testing.assert_array_equal(
        atom_features(atom("CCO", 0), "deepcdr"), one_hot(75, {0: 1, 45: 1, 58: 1, 66: 1, 73: 1})
    )


def test_deepcdr_radical_and_unknown_element():
    # a methyl radical: 3 H, implicit valence 3, one radical electron (63)
    features = atom_features(atom("[CH3]", 0), "deepcdr")
    assert features[63] == 1 and features[0] == 1 and features[73] == 1
    # gallium is not in the 43 named symbols: the Unknown slot (43)
    assert atom_features(atom("[Ga]", 0), "deepcdr")[43] == 1


def test_deepdds_divides_by_the_sum():
    # hydroxyl O of acetic acid: O (2), degree 1 (45), 1 H (55+1), implicit valence 1 (66+1): four ones / 4
    np.testing.assert_array_equal(
        atom_features(atom("CC(=O)O", 3), "deepdds"), one_hot(78, {2: 0.25, 45: 0.25, 56: 0.25, 67: 0.25})
    )
    # benzene C adds the aromatic flag: five ones / 5
    np.testing.assert_allclose(
        atom_features(atom("c1ccccc1", 0), "deepdds"), one_hot(78, {0: 0.2, 46: 0.2, 56: 0.2, 67: 0.2, 77: 0.2})
    )


def test_out_of_set_values_take_the_last_slot_or_are_refused():
    # the S of SF6 has degree 6: outside DeepCE's degree block 0-5 (its code raises), so refused; inside
    # DeepCDR's 0-10; its SP3D2 hybridisation is DeepCDR's last hybridisation slot (68)
    sf6 = atom("FS(F)(F)(F)(F)F", 1)
    with pytest.raises(molecules.UnencodableAtom, match="degree 6"):
        atom_features(sf6, "deepce")
    assert atom_features(sf6, "deepcdr")[44 + 6] == 1 and atom_features(sf6, "deepcdr")[68] == 1
    # an S-hybridised atom (a lone H+ ion) is outside SP..SP3D2: deepchem puts it in the last slot too
    proton = atom("[H+]", 0)
    assert str(proton.GetHybridization()) == "S" and atom_features(proton, "deepcdr")[68] == 1


def test_graph_edges_both_directions_and_bond_features():
    graphs = featurize({"ethanol": "CCO", "benzene": "c1ccccc1", "methane": "C"}, "deepce", "test").graphs
    ethanol = graphs["ethanol"]
    assert ethanol.x.dtype == torch.float32 and ethanol.x.shape == (3, 62)
    assert ethanol.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    np.testing.assert_array_equal(ethanol.edge_attr.numpy(), np.tile([1, 0, 0, 0, 0, 0], (4, 1)))
    benzene = graphs["benzene"]
    assert benzene.edge_index.shape == (2, 12)
    pairs = set(map(tuple, benzene.edge_index.t().tolist()))
    assert all((j, i) in pairs for i, j in pairs)
    np.testing.assert_array_equal(benzene.edge_attr.numpy(), np.tile([0, 0, 0, 1, 1, 1], (12, 1)))
    assert graphs["methane"].edge_index.shape == (2, 0) and graphs["methane"].edge_attr.shape == (0, 6)
    for scheme in ("deepcdr", "deepdds"):
        data = featurize({"ethanol": "CCO"}, scheme, "test").graphs["ethanol"]
        assert data.x.shape == (3, ATOM_DIMS[scheme]) and data.edge_attr is None
        assert data.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]


def test_salts_keep_every_fragment():
    cisplatin = featurize({"cisplatin": "N.N.Cl[Pt]Cl"}, "deepdds", "test").graphs["cisplatin"]
    assert cisplatin.x.shape == (5, 78) and cisplatin.edge_index.shape == (2, 4)
    assert cisplatin.x[3, SYMBOLS.index("Pt")] > 0


def test_invalid_smiles_counted_named_and_dropped(caplog):
    caplog.set_level(logging.INFO, logger="sclong.tasks.drugs.molecules")
    result = featurize(
        {"ok": "CCO", "ring": "C1CC", "valence": "C(C)(C)(C)(C)C", "empty": "", "sf6": "FS(F)(F)(F)(F)F"},
        "deepce",
        "drugs.csv",
    )
    assert list(result.graphs) == ["ok"]
    assert result.invalid == {"ring": "C1CC", "valence": "C(C)(C)(C)(C)C", "empty": "", "sf6": "FS(F)(F)(F)(F)F"}
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and warning[0].startswith("drugs.csv: 4 invalid SMILES")
    assert all(name in warning[0] for name in ("ring", "valence", "empty", "sf6", "degree 6"))
    assert "1 of 5 drugs featurised" in caplog.text


def test_cache_reads_the_file_and_a_changed_input_invalidates_it(tmp_path, monkeypatch):
    smiles = {"ethanol": "CCO", "benzene": "c1ccccc1", "bad": "C1CC"}
    first = load_molecules(smiles, "deepce", tmp_path, "test")
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [molecules.cache_file(tmp_path, smiles, "deepce").name]

    def no_featurize(*args, **kwargs):
        raise AssertionError("featurised although the cache holds this input")

    monkeypatch.setattr(molecules, "featurize", no_featurize)
    second = load_molecules(dict(reversed(smiles.items())), "deepce", tmp_path, "test")
    assert second.invalid == {"bad": "C1CC"}
    for key, data in first.graphs.items():
        for name in ("x", "edge_index", "edge_attr"):
            assert torch.equal(data[name], second.graphs[key][name])
    monkeypatch.undo()

    changed = {**smiles, "ethanol": "CCCO"}
    third = load_molecules(changed, "deepce", tmp_path, "test")
    assert third.graphs["ethanol"].x.shape[0] == 4 and len(list(tmp_path.iterdir())) == 2
    load_molecules(smiles, "deepdds", tmp_path, "test")
    assert len(list(tmp_path.iterdir())) == 3


def test_cache_with_another_key_is_redone_and_writes_are_atomic(tmp_path, monkeypatch):
    smiles = {"ethanol": "CCO"}
    path = molecules.cache_file(tmp_path, smiles, "deepce")
    torch.save({"key": "other", "graphs": {}, "invalid": {}}, path)
    assert list(load_molecules(smiles, "deepce", tmp_path, "test").graphs) == ["ethanol"]
    assert torch.load(path, weights_only=True)["key"] == molecules.cache_key(smiles, "deepce")

    def failing_save(obj, target):
        Path(target).write_bytes(b"partial")
        raise OSError("disk full")

    other = {"benzene": "c1ccccc1"}
    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        load_molecules(other, "deepce", tmp_path, "test")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_cache_key_depends_on_scheme_and_items_not_order():
    a = molecules.cache_key({"x": "CCO", "y": "C"}, "deepce")
    assert a == molecules.cache_key({"y": "C", "x": "CCO"}, "deepce")
    assert a != molecules.cache_key({"x": "CCO", "y": "C"}, "deepcdr")
    assert a != molecules.cache_key({"x": "CCO", "z": "C"}, "deepce")


def test_morgan_fingerprints(caplog):
    from rdkit.Chem import rdFingerprintGenerator

    table = molecules.fingerprints({"ethanol": "CCO", "bad": "C1CC", "benzene": "c1ccccc1"}, n_bits=256, radius=2)
    assert list(table.index) == ["ethanol", "benzene"] and table.shape == (2, 256)
    assert table.dtypes.unique().tolist() == [np.uint8] and list(table.columns[:2]) == ["morgan_0", "morgan_1"]
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=256)
    reference = generator.GetFingerprint(Chem.MolFromSmiles("CCO"))
    assert sorted(np.flatnonzero(table.loc["ethanol"].to_numpy())) == list(reference.GetOnBits())
    # benzene's six equivalent carbons: radius 0, 1 and 2 environments = at most 3 distinct bits
    assert 1 <= table.loc["benzene"].sum() <= 3
    assert "bad" in caplog.text


def test_demo_drug_table():
    table = pd.read_csv(REPO / "resources" / "demo" / "drugs.tsv", sep="\t")
    assert list(table.columns) == ["name", "smiles", "source"]
    assert len(table) >= 40 and table["name"].is_unique and table["smiles"].is_unique
    for scheme in ATOM_DIMS:
        assert featurize(dict(zip(table["name"], table["smiles"], strict=True)), scheme, "drugs.tsv").invalid == {}
    for smiles in table["smiles"]:
        assert Chem.MolToSmiles(Chem.MolFromSmiles(smiles)) == smiles  # stored in rdkit's canonical form


def test_real_l1000_smiles(shared_data):
    table = pd.read_csv(shared_data / "l1000" / "drugs_smiles.csv", header=None, names=["pert_id", "smiles"])
    assert len(table) == 1794
    result = featurize(dict(zip(table["pert_id"], table["smiles"], strict=True)), "deepce", "drugs_smiles.csv")
    assert len(result.graphs) + len(result.invalid) == 1794 and len(result.graphs) > 1700
    sizes = [data.x.shape[0] for data in result.graphs.values()]
    assert min(sizes) >= 1 and all(
        data.edge_index.max() < data.x.shape[0] for data in result.graphs.values() if data.edge_index.numel()
    )
