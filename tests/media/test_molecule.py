"""``ms.Molecule``: the ten file formats, SMILES and RDKit molecules, the page's 2-D view, and
every documented error, through run.log -> SQL -> store.decode."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import fsspec
import numpy as np
import pytest

import mediastore as ms

NEEDS_RDKIT = "RDKit is the optional extra mediastore[molecule]"

# -- one small file per format (water), made here ----------------------------------------------

PDB = (
    b"HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\n"
    b"HETATM    2  H1  HOH A   1       0.957   0.000   0.000  1.00  0.00           H\n"
    b"HETATM    3  H2  HOH A   1      -0.240   0.927   0.000  1.00  0.00           H\n"
    b"END\n"
)
PQR = (
    b"ATOM      1  OW  HOH     1       0.000   0.000   0.000 -0.8340 1.5200\n"
    b"ATOM      2  HW1 HOH     1       0.957   0.000   0.000  0.4170 0.6000\n"
    b"ATOM      3  HW2 HOH     1      -0.240   0.927   0.000  0.4170 0.6000\n"
)
MMCIF = (
    b"data_water\nloop_\n_atom_site.group_PDB\n_atom_site.id\n_atom_site.type_symbol\n"
    b"_atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\n"
    b"HETATM 1 O 0.000 0.000 0.000\nHETATM 2 H 0.957 0.000 0.000\nHETATM 3 H -0.240 0.927 0.000\n"
)
CIF = b"data_water\n_cell_length_a 10.0\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nO1 0 0 0\n"
SDF = (
    b"water\n  handmade\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n"
    b"    0.0000    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0\n"
    b"    0.9570    0.0000    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0\n"
    b"   -0.2400    0.9270    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0\n"
    b"  1  2  1  0\n  1  3  1  0\nM  END\n$$$$\n"
)
GRO = b"water\n    3\n    1SOL     OW    1   0.000   0.000   0.000\n    1SOL    HW1    2   0.096   0.000   0.000\n    1SOL    HW2    3  -0.024   0.093   0.000\n   1.00000   1.00000   1.00000\n"
MOL2 = (
    b"@<TRIPOS>MOLECULE\nwater\n 3 2 0 0 0\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n"
    b"      1 O     0.0000    0.0000    0.0000 O.3     1  HOH       0.0000\n"
    b"      2 H1    0.9570    0.0000    0.0000 H       1  HOH       0.0000\n"
    b"      3 H2   -0.2400    0.9270    0.0000 H       1  HOH       0.0000\n"
    b"@<TRIPOS>BOND\n     1     1     2    1\n     2     1     3    1\n"
)
MMTF = b"\x8a\xabmmtfVersion\xa51.0.0\xa9numAtoms\x03\xff\x00\x80binary"  # msgpack: not text
FILES = {
    "pdb": PDB,
    "pqr": PQR,
    "mmcif": MMCIF,
    "mcif": MMCIF,
    "cif": CIF,
    "sdf": SDF,
    "sd": SDF,
    "gro": GRO,
    "mol2": MOL2,
    "mmtf": MMTF,
}
MIME = {
    "pdb": "chemical/x-pdb",
    "pqr": "chemical/x-pqr",
    "mmcif": "chemical/x-mmcif",
    "mcif": "chemical/x-mmcif",
    "cif": "chemical/x-cif",
    "sdf": "chemical/x-mdl-sdfile",
    "sd": "chemical/x-mdl-sdfile",
    "gro": "chemical/x-gro",
    "mol2": "chemical/x-mol2",
    "mmtf": "chemical/x-mmtf",
}
ACETAMINOPHEN = "CC(=O)Nc1ccc(O)cc1"
RESVERATROL = "Oc1ccc(cc1)C=Cc1cc(O)cc(c1)O"


def _write_path(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _write(tmp_path, name: str, data: bytes) -> str:
    return str(_write_path(tmp_path, name, data))


def _log(store_uri, values):
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log(values)


def _rows(store_uri, view="molecules"):
    """The rows as pandas Series and as Arrow dicts, and the store to decode them."""
    query = f"SELECT * FROM {view} ORDER BY step, key, idx"
    store = ms.open(store_uri)
    frame = store.sql(query).df()
    return store, [frame.iloc[i] for i in range(len(frame))], store.sql(query).to_arrow_table().to_pylist()


def _blob_files(store_uri) -> list[str]:
    fs, root = fsspec.core.url_to_fs(store_uri)
    return fs.find(f"{root}/blobs") if fs.exists(f"{root}/blobs") else []


def _pdb_xyz(pdb: bytes) -> np.ndarray:
    lines = [line for line in pdb.decode().splitlines() if line.startswith(("ATOM", "HETATM"))]
    return np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])] for line in lines])


# -- files: every format, by path and by file object --------------------------------------------

FILE_FORMS = {
    **{f".{fmt} path": (lambda t, fmt=fmt: ms.Molecule(_write(t, f"water.{fmt}", FILES[fmt])), fmt) for fmt in FILES},
    **{
        f".{fmt} binary file object": (lambda t, fmt=fmt: ms.Molecule(io.BytesIO(FILES[fmt]), file_type=fmt), fmt)
        for fmt in FILES
    },
    "page Molecule('6lu7.pdb')": (lambda t: ms.Molecule(_write(t, "6lu7.pdb", PDB)), "pdb"),
    "text file object": (lambda t: ms.Molecule(io.StringIO(MOL2.decode()), file_type="mol2"), "mol2"),
    "open file read from its start": (lambda t: _read_after_seek(_write_path(t, "w.gro", GRO)), "gro"),
    "upper-case extension": (lambda t: ms.Molecule(_write(t, "WATER.SDF", SDF)), "sdf"),
    "pathlib path": (lambda t: ms.Molecule(_write_path(t, "w.cif", CIF)), "cif"),
    "path with file_type override": (lambda t: ms.Molecule(_write(t, "water.txt", PDB), file_type=".PDB"), "pdb"),
}


def _read_after_seek(path):
    with open(path, "rb") as fh:
        fh.seek(5)
        return ms.Molecule(fh, file_type="gro")


@pytest.mark.parametrize("form", list(FILE_FORMS))
def test_files_are_stored_byte_for_byte(store_uri, tmp_path, form):
    make, fmt = FILE_FORMS[form]
    _log(store_uri, {"molecule": make(tmp_path), "other": ms.Molecule(io.BytesIO(PDB), caption="water", file_type="pdb")})
    store, frame_rows, arrow_rows = _rows(store_uri)
    row = frame_rows[0]
    assert (row["key"], row["format"], row["blob"]["mime"]) == ("molecule", fmt, MIME[fmt])
    assert store.location.get_blob(row["blob"]) == FILES[fmt]
    for source in (row, arrow_rows[0]):  # the pandas and the Arrow path give the same object
        molecule = store.decode(source)
        assert isinstance(molecule, ms.Molecule)
        assert (molecule.file_bytes, molecule.format, molecule.caption, molecule.smiles) == (FILES[fmt], fmt, None, None)
    other = store.decode(frame_rows[1])
    assert (other.caption, other.file_bytes) == ("water", PDB)


def test_a_list_under_one_key_keeps_its_order(store_uri, tmp_path):
    formats = list(FILES)
    _log(store_uri, {"molecules": [ms.Molecule(_write(tmp_path, f"m.{f}", FILES[f]), caption=f) for f in formats]})
    store, rows, _ = _rows(store_uri)
    assert [r["idx"] for r in rows] == list(range(len(formats)))
    assert [store.decode(r).caption for r in rows] == formats
    assert [store.decode(r).file_bytes for r in rows] == [FILES[f] for f in formats]


def test_aliases_share_one_blob(store_uri, tmp_path):
    """.sd and .sdf (and .mmcif and .mcif) are one format: the same bytes are one object."""
    _log(store_uri, {"a": ms.Molecule(_write(tmp_path, "a.sd", SDF)), "b": ms.Molecule(_write(tmp_path, "b.sdf", SDF))})
    store, rows, _ = _rows(store_uri)
    assert [r["format"] for r in rows] == ["sd", "sdf"]
    assert rows[0]["blob"]["uri"] == rows[1]["blob"]["uri"]
    assert len(_blob_files(store_uri)) == 1


def test_files_never_import_rdkit(tmp_path):
    path = _write(tmp_path, "w.pdb", PDB)
    code = (
        "import sys, mediastore as ms\n"
        "assert 'rdkit' not in sys.modules, 'import mediastore imported rdkit'\n"
        f"m = ms.Molecule({path!r})\n"
        "assert 'rdkit' not in sys.modules, 'ms.Molecule(path) imported rdkit'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- SMILES and RDKit ---------------------------------------------------------------------------


@pytest.fixture
def chem():
    pytest.importorskip("rdkit", reason=NEEDS_RDKIT)
    import rdkit.Chem

    return rdkit.Chem


def _mol_file(chem, tmp_path, name, *smiles):
    path = tmp_path / name
    if name.endswith(".mol"):
        chem.MolToMolFile(chem.MolFromSmiles(smiles[0]), str(path))
    else:
        with chem.SDWriter(str(path)) as writer:
            for s in smiles:
                writer.write(chem.MolFromSmiles(s))
    return str(path)


RDKIT_FORMS = {
    "from_smiles": (lambda chem, t: ms.Molecule.from_smiles(ACETAMINOPHEN), ACETAMINOPHEN, 20),
    "from_smiles(sanitize=False)": (lambda chem, t: ms.Molecule.from_smiles("c1ccccc1O", sanitize=False), "c1ccccc1O", 13),
    "from_rdkit(Mol)": (lambda chem, t: ms.Molecule.from_rdkit(chem.MolFromSmiles(RESVERATROL)), RESVERATROL, 29),
    "from_rdkit(RWMol)": (lambda chem, t: ms.Molecule.from_rdkit(chem.RWMol(chem.MolFromSmiles("CCO"))), "CCO", 9),
    "from_rdkit(.mol)": (lambda chem, t: ms.Molecule.from_rdkit(_mol_file(chem, t, "2b3p.mol", ACETAMINOPHEN)), ACETAMINOPHEN, 20),
    "from_rdkit(.sdf): its first molecule": (
        lambda chem, t: ms.Molecule.from_rdkit(_mol_file(chem, t, "two.sdf", "CCO", ACETAMINOPHEN)),
        "CCO",
        9,
    ),
}


@pytest.mark.parametrize("form", list(RDKIT_FORMS))
def test_smiles_and_rdkit_are_embedded_in_3d_and_stored_as_pdb(store_uri, tmp_path, chem, form):
    make, smiles, atoms_with_h = RDKIT_FORMS[form]
    _log(store_uri, {"m": make(chem, tmp_path)})
    store, frame_rows, arrow_rows = _rows(store_uri)
    row = frame_rows[0]
    assert (row["format"], row["smiles"], row["blob"]["mime"]) == ("pdb", chem.CanonSmiles(smiles) if "rdkit" in form else smiles, "chemical/x-pdb")
    for source in (row, arrow_rows[0]):
        molecule = store.decode(source)
        assert molecule.format == "pdb" and molecule.smiles == row["smiles"]
        xyz = _pdb_xyz(molecule.file_bytes)
        assert xyz.shape == (atoms_with_h, 3)  # hydrogens added
        assert np.ptp(xyz, axis=0).min() > 0.5  # 3-D: spread on every axis, not a flat drawing
        parsed = chem.MolFromPDBBlock(molecule.file_bytes.decode(), removeHs=False)
        assert parsed is not None and parsed.GetNumAtoms() == atoms_with_h


def test_page_example_logs_three_molecules_at_once(store_uri, tmp_path, chem):
    import rdkit.Chem

    _mol_file(chem, tmp_path, "2b3p.mol", "CC1=NC(=Cc2ccc(O)cc2)C(=O)N1C")  # the GFP chromophore, small
    resveratrol = rdkit.Chem.MolFromSmiles("Oc1ccc(cc1)C=Cc1cc(O)cc(c1)O")
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log(
            {
                "resveratrol": ms.Molecule.from_rdkit(resveratrol),
                "green fluorescent protein": ms.Molecule.from_rdkit(str(tmp_path / "2b3p.mol")),
                "acetaminophen": ms.Molecule.from_smiles("CC(=O)Nc1ccc(O)cc1"),
            }
        )
        run.log({"protein": ms.Molecule(_write(tmp_path, "6lu7.pdb", PDB))})
    store = ms.open(store_uri)
    rows = store.sql("SELECT step, key, format, smiles FROM molecules ORDER BY ALL").fetchall()
    assert rows == [
        (0, "acetaminophen", "pdb", "CC(=O)Nc1ccc(O)cc1"),
        (0, "green fluorescent protein", "pdb", chem.CanonSmiles("CC1=NC(=Cc2ccc(O)cc2)C(=O)N1C")),
        (0, "resveratrol", "pdb", chem.MolToSmiles(resveratrol)),
        (1, "protein", "pdb", None),
    ]
    found = store.sql("SELECT * FROM molecules WHERE smiles IS NOT NULL ORDER BY key").df()
    assert [store.decode(r).smiles for _, r in found.iterrows()] == [rows[0][3], rows[1][3], rows[2][3]]


def test_embedding_is_deterministic_and_force_field_optimised(store_uri, chem):
    first = ms.Molecule.from_smiles(ACETAMINOPHEN)
    again = ms.Molecule.from_smiles(ACETAMINOPHEN)
    embedded_only = ms.Molecule.from_smiles(ACETAMINOPHEN, mmff_optimize_molecule_max_iterations=0)
    assert first.file_bytes == again.file_bytes  # fixed seed: the same input gives the same bytes
    assert first.file_bytes != embedded_only.file_bytes  # the force field moved the atoms
    _log(store_uri, {"a": first, "b": again})
    store, rows, _ = _rows(store_uri)
    assert rows[0]["blob"]["sha256"] == rows[1]["blob"]["sha256"]
    assert len(_blob_files(store_uri)) == 1


def test_from_rdkit_keeps_the_callers_molecule_and_its_coordinates(store_uri, chem):
    from rdkit.Chem import AllChem

    mol = chem.AddHs(chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    before = (mol.GetNumAtoms(), mol.GetNumConformers(), mol.GetConformer().GetPositions().copy())
    _log(store_uri, {"kept": ms.Molecule.from_rdkit(mol, "ethanol", convert_to_3d_and_optimize=False)})
    ms.Molecule.from_rdkit(mol)  # embedding a copy leaves the caller's molecule alone
    assert (mol.GetNumAtoms(), mol.GetNumConformers()) == before[:2]
    assert np.array_equal(mol.GetConformer().GetPositions(), before[2])
    store, rows, _ = _rows(store_uri)
    molecule = store.decode(rows[0])
    assert molecule.caption == "ethanol"
    assert np.allclose(_pdb_xyz(molecule.file_bytes), before[2], atol=5e-4)  # PDB keeps 3 decimals


def test_page_2d_view_logs_as_an_image(store_uri, chem):
    import rdkit.Chem
    import rdkit.Chem.AllChem
    import rdkit.Chem.Draw

    molecule = rdkit.Chem.MolFromSmiles("CC(=O)O")
    rdkit.Chem.AllChem.Compute2DCoords(molecule)
    rdkit.Chem.AllChem.GenerateDepictionMatching2DStructure(molecule, molecule)
    pil_image = rdkit.Chem.Draw.MolToImage(molecule, size=(300, 300))
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        run.log({"acetic_acid": ms.Image(pil_image)})
    store, rows, _ = _rows(store_uri, view="images")
    assert (rows[0]["key"], rows[0]["width"], rows[0]["height"], rows[0]["format"]) == ("acetic_acid", 300, 300, "png")
    pixels = store.decode(rows[0]).to_numpy()
    assert np.array_equal(pixels, np.asarray(pil_image.convert(pixels.ndim == 3 and "RGB" or "L")))
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 2  # a drawing, not a blank


def test_summary_records_the_molecule(local_store, chem):
    _log(local_store, {"m": ms.Molecule.from_smiles("CCO")})
    summary = json.loads(ms.open(local_store).runs()["summary"][0])
    assert summary["m"] == {"_kind": "molecules", "format": "pdb", "smiles": "CCO"}


# -- every documented error ---------------------------------------------------------------------


class _BadReader:
    def read(self):
        return 42


ERRORS = {
    "unknown extension": (lambda t: ms.Molecule(_write(t, "w.xyz", b"3\n")), ms.InvalidMediaError, r"Molecule file '.*w.xyz' has extension .xyz; supported are the ten formats .pdb, .pqr, .mmcif, .mcif, .cif, .sdf, .sd, .gro, .mol2, .mmtf — convert the file, pass file_type="),
    "a SMILES string": (lambda t: ms.Molecule("CCO"), ms.InvalidMediaError, r"Molecule file 'CCO' has extension \(none\); .* for a SMILES string use ms.Molecule.from_smiles"),
    "missing file": (lambda t: ms.Molecule(str(t / "6lu7.pdb")), ms.MediaFileNotFoundError, r"Molecule file '.*6lu7.pdb' does not exist or is not a file; check the path"),
    "file object without file_type": (lambda t: ms.Molecule(io.BytesIO(PDB)), ms.InvalidMediaError, r"Molecule got a file object \(BytesIO\) without file_type; .* pass file_type= one of \['pdb', 'pqr', 'mmcif', 'mcif', 'cif', 'sdf', 'sd', 'gro', 'mol2', 'mmtf'\]"),
    "unknown file_type": (lambda t: ms.Molecule(io.BytesIO(PDB), file_type="xyz"), ms.InvalidMediaError, r"Molecule file_type 'xyz' is not supported; use one of \['pdb', 'pqr'"),
    "not a path": (lambda t: ms.Molecule(42), ms.InvalidMediaTypeError, r"Molecule takes a file path or a file object, got int — for a SMILES string use ms.Molecule.from_smiles"),
    "read() gives an int": (lambda t: ms.Molecule(_BadReader(), file_type="pdb"), ms.InvalidMediaTypeError, r"\.read\(\) returned int; expected bytes or str"),
    "empty file": (lambda t: ms.Molecule(_write(t, "e.pdb", b"")), ms.InvalidMediaError, r"Molecule file '.*e.pdb' is empty; a .pdb file needs content"),
    "caption": (lambda t: ms.Molecule(_write(t, "w.pdb", PDB), caption=["x"]), ms.InvalidMediaTypeError, r"caption must be a str or None, got list"),
    "from_rdkit of another file": (lambda t: ms.Molecule.from_rdkit(_write(t, "w.pdb", PDB)), ms.InvalidMediaError, r"from_rdkit file '.*w.pdb' has extension .pdb; it reads .mol and .sdf files — for the other formats use ms.Molecule\(path\)"),
    "from_rdkit of a SMILES": (lambda t: ms.Molecule.from_rdkit(42), ms.InvalidMediaTypeError, r"from_rdkit takes an rdkit.Chem.Mol or the path of a .mol / .sdf file, got int"),
    "max iterations": (lambda t: ms.Molecule.from_rdkit(_write(t, "w.mol", b""), mmff_optimize_molecule_max_iterations=-1), ms.InvalidMediaError, r"mmff_optimize_molecule_max_iterations is -1; it must be an int >= 0"),
}
RDKIT_ERRORS = {
    "rdkit Mol to Molecule()": (lambda chem, t: ms.Molecule(chem.MolFromSmiles("CCO")), ms.InvalidMediaTypeError, r"Molecule got an RDKit molecule; pass it to ms.Molecule.from_rdkit\(mol\)"),
    "unparsable SMILES": (lambda chem, t: ms.Molecule.from_smiles("C1CC(("), ms.InvalidMediaError, r"SMILES 'C1CC\(\(' could not be parsed by RDKit; check its syntax"),
    "SMILES fails sanitization": (lambda chem, t: ms.Molecule.from_smiles("C(C)(C)(C)(C)C"), ms.InvalidMediaError, r"SMILES 'C\(C\)\(C\)\(C\)\(C\)C' fails RDKit's sanitization: Explicit valence .*; fix the molecule, or pass sanitize=False"),
    "impossible valence, unsanitized": (lambda chem, t: ms.Molecule.from_smiles("C(C)(C)(C)(C)C", sanitize=False), ms.InvalidMediaError, r"RDKit could not embed SMILES 'C\(C\)\(C\)\(C\)\(C\)C' in 3-D: Explicit valence .*; fix the molecule"),
    "empty SMILES": (lambda chem, t: ms.Molecule.from_smiles(""), ms.InvalidMediaError, r"SMILES '' has no atoms; a molecule needs at least one atom"),
    "SMILES not a str": (lambda chem, t: ms.Molecule.from_smiles(b"CCO"), ms.InvalidMediaTypeError, r"from_smiles takes a SMILES str, got bytes"),
    "missing .mol file": (lambda chem, t: ms.Molecule.from_rdkit(str(t / "2b3p.mol")), ms.MediaFileNotFoundError, r"from_rdkit file '.*2b3p.mol' does not exist"),
    "unreadable .mol": (lambda chem, t: ms.Molecule.from_rdkit(_write(t, "bad.mol", b"not a mol block")), ms.InvalidMediaError, r"RDKit could not read a molecule from '.*bad.mol'; check that it is a valid .mol file"),
    "unreadable .sdf": (lambda chem, t: ms.Molecule.from_rdkit(_write(t, "bad.sdf", b"garbage\n$$$$\n")), ms.InvalidMediaError, r"could not read a molecule from '.*bad.sdf'; check that it is a valid .sdf file"),
    "no coordinates and no embedding": (lambda chem, t: ms.Molecule.from_rdkit(chem.MolFromSmiles("CCO"), convert_to_3d_and_optimize=False), ms.InvalidMediaError, r"the RDKit molecule has no coordinates \(no conformer\) and convert_to_3d_and_optimize=False; pass convert_to_3d_and_optimize=True"),
    "empty RDKit molecule": (lambda chem, t: ms.Molecule.from_rdkit(chem.Mol()), ms.InvalidMediaError, r"the RDKit molecule has no atoms"),
}


def _check_error(make, error, match):
    with pytest.raises(error, match=match) as info:
        make()
    assert isinstance(info.value, ms.MediaStoreError)
    assert isinstance(info.value, (ValueError, TypeError, FileNotFoundError))


@pytest.mark.parametrize("case", list(ERRORS))
def test_documented_errors(tmp_path, case):
    make, error, match = ERRORS[case]
    _check_error(lambda: make(tmp_path), error, match)


@pytest.mark.parametrize("case", list(RDKIT_ERRORS))
def test_documented_rdkit_errors(tmp_path, chem, case):
    make, error, match = RDKIT_ERRORS[case]
    _check_error(lambda: make(chem, tmp_path), error, match)


def test_a_molecule_rdkit_cannot_embed(chem, monkeypatch):
    from rdkit.Chem import AllChem

    monkeypatch.setattr(AllChem, "EmbedMolecule", lambda *args, **kwargs: -1)
    with pytest.raises(ms.InvalidMediaError, match=r"RDKit could not embed SMILES 'CCO' in 3-D; give a molecule that has 3-D coordinates"):
        ms.Molecule.from_smiles("CCO")


@pytest.mark.parametrize(
    "call, purpose",
    [
        (lambda t: ms.Molecule.from_smiles(ACETAMINOPHEN), "ms.Molecule.from_smiles"),
        (lambda t: ms.Molecule.from_rdkit(_write(t, "2b3p.mol", b"mol")), "ms.Molecule.from_rdkit"),
    ],
)
def test_without_rdkit_the_error_names_the_extra(tmp_path, monkeypatch, call, purpose):
    monkeypatch.setitem(sys.modules, "rdkit", None)  # makes `import rdkit` fail
    with pytest.raises(ms.MissingDependencyError, match=rf"{purpose} needs the optional dependency 'rdkit', which is not installed; install it with: pip install \"mediastore\[molecule\]\"") as info:
        call(tmp_path)
    assert isinstance(info.value, ImportError)
    # Files need no RDKit.
    assert ms.Molecule(_write(tmp_path, "w.pdb", PDB)).file_bytes == PDB


@pytest.mark.parametrize("case", ["unknown extension", "file object without file_type", "missing file"])
def test_nothing_is_stored_after_an_error(store_uri, tmp_path, case):
    make, error, match = ERRORS[case]
    good = _write(tmp_path, "good.pdb", PDB)
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        with pytest.raises(error, match=match):
            run.log({"good": ms.Molecule(good), "bad": make(tmp_path)})
        with pytest.raises(ms.InvalidLogError):
            run.log({"good": ms.Molecule(good), "bad": {1, 2}})
        assert run.step == 0
    store = ms.open(store_uri)
    assert store.sql("SELECT count(*) FROM molecules").fetchall() == [(0,)]
    assert _blob_files(store_uri) == []


def test_nothing_is_stored_after_a_smiles_error(store_uri, chem):
    with ms.init(project="p", store=store_uri, run_id="r") as run:
        with pytest.raises(ms.InvalidMediaError, match="could not be parsed"):
            run.log({"good": ms.Molecule.from_smiles("CCO"), "bad": ms.Molecule.from_smiles("C1CC((")})
    assert ms.open(store_uri).sql("SELECT count(*) FROM media").fetchall() == [(0,)]
    assert _blob_files(store_uri) == []


def test_a_row_of_the_media_view_decodes(store_uri, tmp_path):
    _log(store_uri, {"m": ms.Molecule(_write(tmp_path, "w.mmtf", MMTF), caption="binary")})
    store = ms.open(store_uri)
    rows = store.sql("SELECT * FROM media").df()
    assert rows["kind"].tolist() == ["molecules"]
    molecule = store.decode(rows.iloc[0])
    assert (molecule.file_bytes, molecule.format, molecule.caption) == (MMTF, "mmtf", "binary")
