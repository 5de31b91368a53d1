"""SMILES -> molecular graphs with the atom features each drug baseline defines, cached; Morgan fingerprints.

Atom feature schemes (read off the baselines' public code; each is a sequence of named blocks, in order):

* ``deepce`` (62-d, DeepCE's neural-fingerprint features, Duvenaud et al.): symbol (44, the last slot
  ``Unknown`` takes any other element), degree 0-5 (6; a degree outside is refused, as its code raises),
  total H 0-4 (5; more -> the last slot), implicit valence 0-5 (6; more -> the last slot), aromatic (1).
  Bonds (``edge_attr``, 6-d): single, double, triple, aromatic, conjugated, in a ring.
* ``deepcdr`` (75-d, deepchem's ``ConvMolFeaturizer`` as DeepCDR uses it): symbol (44), degree 0-10 (11;
  refused outside), implicit valence 0-6 (7; more -> the last slot), formal charge (1, the integer),
  radical electrons (1, the count), hybridisation SP, SP2, SP3, SP3D, SP3D2 (5; any other, e.g. S or
  unspecified, -> the last slot, as deepchem does), aromatic (1), total H 0-4 (5; more -> the last slot).
* ``deepdds`` (78-d, DeepDDS' ``creat_data_DC.py``): symbol (44), degree 0-10 (11; refused outside),
  total H 0-10 (11; more -> the last slot), implicit valence 0-10 (11; more -> the last slot), aromatic
  (1); the vector is then divided by its sum (each atom's features sum to 1).

Graphs: ``torch_geometric.data.Data`` with ``x`` [atoms, dim] float32, ``edge_index`` [2, 2 x bonds] int64
(each bond as i->j then j->i, bonds in rdkit order), and for ``deepce`` ``edge_attr`` [2 x bonds, 6]
float32. Hydrogens stay implicit (rdkit's default parse) and every fragment of a salt is kept, as the
baselines do. Invalid entries (a SMILES rdkit cannot parse, an empty one, or an atom a scheme refuses)
are counted and named in a WARNING with the reason, and listed in :attr:`Molecules.invalid`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from sclong.io.atomic import atomic_path

if TYPE_CHECKING:
    from rdkit import Chem
    from torch_geometric.data import Data

log = logging.getLogger(__name__)

AtomScheme = Literal["deepce", "deepcdr", "deepdds"]
ATOM_DIMS: dict[AtomScheme, int] = {"deepce": 62, "deepcdr": 75, "deepdds": 78}
BOND_DIM = 6
CACHE_FORMAT = 1

SYMBOLS = (
    "C", "N", "O", "S", "F", "Si", "P", "Cl", "Br", "Mg", "Na", "Ca", "Fe", "As", "Al", "I", "B", "V", "K", "Tl",
    "Yb", "Sb", "Sn", "Ag", "Pd", "Co", "Se", "Ti", "Zn", "H", "Li", "Ge", "Cu", "Au", "Ni", "Cd", "In", "Mn",
    "Zr", "Cr", "Pt", "Hg", "Pb", "Unknown",
)  # fmt: skip
HYBRIDISATIONS = ("SP", "SP2", "SP3", "SP3D", "SP3D2")


class UnencodableAtom(ValueError):
    """An atom property outside a block whose baseline refuses such values."""


@dataclass(frozen=True)
class Block:
    """One named block of an atom feature vector.

    ``choices`` None: the property's value itself (one number). Otherwise a one-hot over ``choices``; a
    value outside them takes the last slot (``out_of_set="last"``) or is refused (``"refuse"``).
    """

    name: str
    read: Callable[[Chem.Atom], object]
    choices: tuple | None
    out_of_set: Literal["last", "refuse"] = "last"

    @property
    def width(self) -> int:
        return 1 if self.choices is None else len(self.choices)

    @cached_property
    def slots(self) -> dict[object, int]:
        return {choice: slot for slot, choice in enumerate(self.choices or ())}

    def slot(self, value: object, atom: Chem.Atom) -> int:
        """The one-hot position of ``value`` (a value outside the choices: the last slot, or refused)."""
        if value in self.slots:
            return self.slots[value]
        if self.out_of_set == "refuse":
            raise UnencodableAtom(
                f"atom {atom.GetIdx()} ({atom.GetSymbol()}) has {self.name} {value}, outside "
                f"{self.choices[0]}-{self.choices[-1]}"
            )
        return self.width - 1


def _symbol(atom: Chem.Atom) -> str:
    return atom.GetSymbol()


def _degree(atom: Chem.Atom) -> int:
    return atom.GetDegree()


def _total_h(atom: Chem.Atom) -> int:
    return atom.GetTotalNumHs()


@cache
def _implicit() -> object:
    from rdkit import Chem

    return Chem.ValenceType.IMPLICIT


def _implicit_valence(atom: Chem.Atom) -> int:
    return atom.GetValence(_implicit())


def _aromatic(atom: Chem.Atom) -> bool:
    return atom.GetIsAromatic()


def _formal_charge(atom: Chem.Atom) -> int:
    return atom.GetFormalCharge()


def _radicals(atom: Chem.Atom) -> int:
    return atom.GetNumRadicalElectrons()


def _hybridisation(atom: Chem.Atom) -> str:
    return str(atom.GetHybridization())


def _range(stop: int) -> tuple[int, ...]:
    return tuple(range(stop + 1))


SCHEMES: dict[AtomScheme, tuple[Block, ...]] = {
    "deepce": (
        Block("symbol", _symbol, SYMBOLS),
        Block("degree", _degree, _range(5), "refuse"),
        Block("total_h", _total_h, _range(4)),
        Block("implicit_valence", _implicit_valence, _range(5)),
        Block("aromatic", _aromatic, None),
    ),
    "deepcdr": (
        Block("symbol", _symbol, SYMBOLS),
        Block("degree", _degree, _range(10), "refuse"),
        Block("implicit_valence", _implicit_valence, _range(6)),
        Block("formal_charge", _formal_charge, None),
        Block("radical_electrons", _radicals, None),
        Block("hybridisation", _hybridisation, HYBRIDISATIONS),
        Block("aromatic", _aromatic, None),
        Block("total_h", _total_h, _range(4)),
    ),
    "deepdds": (
        Block("symbol", _symbol, SYMBOLS),
        Block("degree", _degree, _range(10), "refuse"),
        Block("total_h", _total_h, _range(10)),
        Block("implicit_valence", _implicit_valence, _range(10)),
        Block("aromatic", _aromatic, None),
    ),
}
SUM_NORMALISED: frozenset[AtomScheme] = frozenset({"deepdds"})


def block_slices(scheme: AtomScheme) -> dict[str, slice]:
    """Where each named block of ``scheme`` lies in the atom feature vector."""
    slices, start = {}, 0
    for block in SCHEMES[scheme]:
        slices[block.name] = slice(start, start + block.width)
        start += block.width
    return slices


def atom_matrix(atoms: Sequence[Chem.Atom], scheme: AtomScheme) -> np.ndarray:
    """The atoms x ``ATOM_DIMS[scheme]`` float32 features of ``atoms`` (blocks in the module docstring).

    Raises :class:`UnencodableAtom` for a value outside a block the baseline refuses (a degree too high).
    """
    matrix = np.zeros((len(atoms), ATOM_DIMS[scheme]), dtype=np.float32)
    rows, start = np.arange(len(atoms)), 0
    for block in SCHEMES[scheme]:
        values = [block.read(atom) for atom in atoms]
        if block.choices is None:
            matrix[:, start] = values
        else:
            matrix[rows, [start + block.slot(value, atom) for value, atom in zip(values, atoms, strict=True)]] = 1
        start += block.width
    if scheme in SUM_NORMALISED:
        matrix /= matrix.sum(axis=1, keepdims=True)
    return matrix


def atom_features(atom: Chem.Atom, scheme: AtomScheme) -> np.ndarray:
    """The ``ATOM_DIMS[scheme]``-d float32 features of one atom (see :func:`atom_matrix`)."""
    return atom_matrix([atom], scheme)[0]


def bond_matrix(bonds: Sequence[Chem.Bond]) -> np.ndarray:
    """DeepCE's 6-d bond features, one row per bond: single, double, triple, aromatic, conjugated, in a ring."""
    from rdkit import Chem

    kinds = {Chem.BondType.SINGLE: 0, Chem.BondType.DOUBLE: 1, Chem.BondType.TRIPLE: 2, Chem.BondType.AROMATIC: 3}
    matrix = np.zeros((len(bonds), BOND_DIM), dtype=np.float32)
    for row, bond in enumerate(bonds):
        kind = kinds.get(bond.GetBondType())
        if kind is not None:
            matrix[row, kind] = 1
        matrix[row, 4:] = bond.GetIsConjugated(), bond.IsInRing()
    return matrix


@dataclass(frozen=True)
class Molecules:
    """Featurised drugs: ``graphs`` (drug key -> Data) and ``invalid`` (drug key -> its unusable SMILES)."""

    graphs: dict[str, Data]
    invalid: dict[str, str]


def parse(smiles: object) -> tuple[Chem.Mol | None, str]:
    """rdkit molecule of a SMILES, or None and why not (rdkit's own messages are silenced)."""
    from rdkit import Chem, rdBase

    if not isinstance(smiles, str) or not smiles.strip():
        return None, "empty SMILES"
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None, "rdkit cannot parse it"
    if mol.GetNumAtoms() == 0:
        return None, "no atoms"
    return mol, ""


def graph(mol: Chem.Mol, scheme: AtomScheme) -> Data:
    """The molecular graph of one parsed molecule (format in the module docstring)."""
    import torch
    from torch_geometric.data import Data

    atoms, bonds = list(mol.GetAtoms()), list(mol.GetBonds())
    x = torch.from_numpy(atom_matrix(atoms, scheme))
    pairs = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in bonds], dtype=np.int64).reshape(-1, 2)
    edges = np.stack([pairs, pairs[:, ::-1]], axis=1).reshape(-1, 2)  # bond k: rows 2k (i->j) and 2k+1 (j->i)
    edge_index = torch.from_numpy(np.ascontiguousarray(edges.T))
    if scheme != "deepce":
        return Data(x=x, edge_index=edge_index)
    return Data(x=x, edge_index=edge_index, edge_attr=torch.from_numpy(np.repeat(bond_matrix(bonds), 2, axis=0)))


def featurize(smiles: Mapping[str, str], scheme: AtomScheme, source: str) -> Molecules:
    """Graphs of every drug in ``smiles`` (key -> SMILES); invalid ones counted, named and set apart."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown atom scheme {scheme!r}; expected one of {sorted(SCHEMES)}")
    graphs, invalid, reasons = {}, {}, {}
    for key, text in smiles.items():
        mol, reason = parse(text)
        if mol is not None:
            try:
                graphs[key] = graph(mol, scheme)
                continue
            except UnencodableAtom as error:
                reason = f"{scheme} features cannot encode it: {error}"
        invalid[key], reasons[key] = text, reason
    log.info(
        "%s: %d of %d drugs featurised (%s atoms, %d-d)", source, len(graphs), len(smiles), scheme, ATOM_DIMS[scheme]
    )
    if invalid:
        named = "; ".join(f"{key} ({reasons[key]}: {invalid[key]!r})" for key in invalid)
        log.warning("%s: %d invalid SMILES, their drugs are dropped: %s", source, len(invalid), named)
    return Molecules(graphs=graphs, invalid=invalid)


def cache_key(smiles: Mapping[str, str], scheme: AtomScheme) -> str:
    """sha256 of the scheme and the sorted (key, SMILES) items (with the cache format and rdkit version)."""
    import rdkit

    items = sorted((str(key), str(value)) for key, value in smiles.items())
    text = json.dumps([CACHE_FORMAT, rdkit.__version__, scheme, items], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cache_file(cache: Path, smiles: Mapping[str, str], scheme: AtomScheme) -> Path:
    """The cache file of one dataset in the directory ``cache``."""
    return Path(cache) / f"molecules-{scheme}-{cache_key(smiles, scheme)[:16]}.pt"


def load_molecules(smiles: Mapping[str, str], scheme: AtomScheme, cache: Path, source: str) -> Molecules:
    """:func:`featurize`, cached in the directory ``cache`` (one file per scheme + input; written atomically).

    The file's name carries the input's :func:`cache_key` and the file stores the whole key: a changed
    SMILES, drug set, scheme or rdkit version reads another file; a file whose stored key differs is redone.
    The graphs are stored concatenated (one tensor per attribute and the per-drug atom and edge counts).
    """
    import torch

    path, key = cache_file(cache, smiles, scheme), cache_key(smiles, scheme)
    if path.is_file():
        stored = torch.load(path, weights_only=True)
        if stored.get("key") == key:
            molecules = Molecules(graphs=_split(stored), invalid=dict(stored["invalid"]))
            log.info("%s: %d drug graphs (%s) read from %s", source, len(molecules.graphs), scheme, path)
            if molecules.invalid:
                log.warning("%s: %d invalid SMILES (dropped): %s", source, len(molecules.invalid), molecules.invalid)
            return molecules
        log.info("%s: %s was written for another input; featurising again", source, path)
    molecules = featurize(smiles, scheme, source)
    with atomic_path(path) as tmp:
        torch.save({"key": key, **_concatenate(molecules.graphs, scheme), "invalid": molecules.invalid}, tmp)
    log.info("%s: drug graphs cached in %s", source, path)
    return molecules


def _concatenate(graphs: Mapping[str, Data], scheme: AtomScheme) -> dict[str, object]:
    """The graphs as concatenated tensors (for the cache)."""
    import torch

    values = list(graphs.values())
    stored = {
        "names": list(graphs),
        "atoms": torch.tensor([data.num_nodes for data in values], dtype=torch.long),
        "edges": torch.tensor([data.edge_index.shape[1] for data in values], dtype=torch.long),
        "x": torch.cat([data.x for data in values]) if values else torch.zeros((0, ATOM_DIMS[scheme])),
        "edge_index": torch.cat([data.edge_index for data in values], dim=1)
        if values
        else torch.zeros((2, 0), dtype=torch.long),
    }
    if scheme == "deepce":
        stored["edge_attr"] = torch.cat([data.edge_attr for data in values]) if values else torch.zeros((0, BOND_DIM))
    return stored


def _split(stored: Mapping[str, object]) -> dict[str, Data]:
    """The graphs of a cache file (the reverse of :func:`_concatenate`)."""
    import torch
    from torch_geometric.data import Data

    atoms, edges = stored["atoms"].tolist(), stored["edges"].tolist()
    parts = {"x": torch.split(stored["x"], atoms), "edge_index": torch.split(stored["edge_index"], edges, dim=1)}
    if "edge_attr" in stored:
        parts["edge_attr"] = torch.split(stored["edge_attr"], edges)
    return {
        name: Data(**{attribute: tensors[i] for attribute, tensors in parts.items()})
        for i, name in enumerate(stored["names"])
    }


def fingerprints(smiles: Mapping[str, str], n_bits: int, radius: int) -> pd.DataFrame:
    """Morgan (ECFP-like) bit vectors: drugs x ``n_bits`` uint8, columns ``morgan_<i>``; invalid SMILES dropped
    with a WARNING naming them."""
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    rows, invalid = {}, []
    for key, text in smiles.items():
        mol, reason = parse(text)
        if mol is None:
            invalid.append(f"{key} ({reason}: {text!r})")
            continue
        rows[key] = generator.GetFingerprintAsNumPy(mol).astype(np.uint8)
    if invalid:
        log.warning("%d invalid SMILES without a fingerprint, dropped: %s", len(invalid), "; ".join(invalid))
    columns = [f"morgan_{i}" for i in range(n_bits)]
    matrix = np.stack(list(rows.values())) if rows else np.zeros((0, n_bits), dtype=np.uint8)
    return pd.DataFrame(matrix, index=pd.Index(list(rows), name="drug"), columns=columns)
