"""``ms.Molecule``: molecule files, SMILES strings and RDKit molecules.

Rules (one set, documented in the README):

- Files of the reference page's ten formats (pdb, pqr, mmcif, mcif, cif, sdf, sd, gro, mol2,
  mmtf) are stored byte for byte; the format comes from the path's extension, or from
  ``file_type=`` for a file object (which has no extension). ``format`` keeps the extension
  as given, lower-cased.
- ``from_smiles`` and ``from_rdkit`` need RDKit (``pip install "mediastore[molecule]"``). By
  default they add hydrogens, embed 3-D coordinates (ETKDGv3 with the fixed seed
  ``Molecule.RANDOM_SEED``, so the same input gives the same bytes) and optimise them with
  MMFF94 (UFF where MMFF has no parameters), then store PDB. ``smiles`` keeps the SMILES
  given to ``from_smiles``, or RDKit's canonical SMILES of the molecule given to ``from_rdkit``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any, Literal

from .._lazy import np
from .._deps import require
from ..errors import InvalidMediaError, InvalidMediaTypeError
from . import _display
from .base import Media, check_caption, is_pathlike, read_path, read_source, register

__all__ = ["Molecule"]

FileType = Literal["pdb", "pqr", "mmcif", "mcif", "cif", "sdf", "sd", "gro", "mol2", "mmtf"]

#: The ten formats of the reference page and the MIME type of their blob (aliases share one,
#: so the same bytes logged as .sd and .sdf are one object).
_MIME = {
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
#: Atom colours of the 2-D view (CPK convention); other elements are pink.
_CPK = {
    "H": (220, 220, 220), "C": (80, 80, 80), "N": (48, 80, 248), "O": (255, 13, 13),
    "S": (230, 200, 40), "P": (255, 128, 0), "F": (144, 224, 80), "Cl": (31, 240, 31),
}  # fmt: skip
_RDKIT_FILE_TYPES = ("mol", "sdf")
_RDKIT_CLASSES = ("Mol", "RWMol")
_INSTALL = 'pip install "mediastore[molecule]"'


def _is_rdkit_mol(value: Any) -> bool:
    """An RDKit molecule, told by class name so that rdkit is never imported to check."""
    cls = type(value)
    return cls.__name__ in _RDKIT_CLASSES and cls.__module__.startswith("rdkit")


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lower().lstrip(".")


def _format_of_path(path: str) -> str:
    fmt = _extension(path)
    if fmt not in _MIME:
        raise InvalidMediaError(
            f"Molecule file {path!r} has extension {('.' + fmt) if fmt else '(none)'}; supported are the ten "
            f"formats {', '.join('.' + t for t in _MIME)} — convert the file, pass file_type=, "
            "or for a SMILES string use ms.Molecule.from_smiles"
        )
    return fmt


def _rdkit(purpose: str):
    require("rdkit", "molecule", purpose)
    chem = require("rdkit.Chem", "molecule", purpose)
    all_chem = require("rdkit.Chem.AllChem", "molecule", purpose)
    rd_base = require("rdkit.rdBase", "molecule", purpose)
    return chem, all_chem, rd_base


def _check_max_iterations(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidMediaError(
            f"mmff_optimize_molecule_max_iterations is {value!r}; it must be an int >= 0 (default 200)"
        )
    return value


def _pdb_block(mol, where: str, convert: bool, max_iterations: int, seed: int, purpose: str) -> bytes:
    """PDB text of ``mol``, embedded in 3-D and optimised when ``convert``; ``mol`` is not changed."""
    chem, all_chem, rd_base = _rdkit(purpose)
    if mol.GetNumAtoms() == 0:
        raise InvalidMediaError(f"{where} has no atoms; a molecule needs at least one atom")
    if not convert:
        if mol.GetNumConformers() == 0:
            raise InvalidMediaError(
                f"{where} has no coordinates (no conformer) and convert_to_3d_and_optimize=False; "
                "pass convert_to_3d_and_optimize=True to embed it in 3-D"
            )
        return chem.MolToPDBBlock(mol).encode("ascii")
    embedded = False
    try:
        with rd_base.BlockLogs():  # the reason goes into our message, not to stderr
            mol = chem.Mol(mol)
            # An unsanitized molecule (sanitize=False) lacks the valences and rings that
            # embedding needs: compute them leniently.
            mol.UpdatePropertyCache(strict=False)
            try:
                mol.GetRingInfo().NumRings()
            except RuntimeError:
                chem.FastFindRings(mol)
            mol = chem.AddHs(mol)
            params = all_chem.ETKDGv3()
            params.randomSeed = seed
            embedded = all_chem.EmbedMolecule(mol, params) == 0
            if not embedded:  # RDKit's advice for molecules ETKDG cannot place: start from random coordinates
                params.useRandomCoords = True
                embedded = all_chem.EmbedMolecule(mol, params) == 0
            if embedded and max_iterations and all_chem.MMFFHasAllMoleculeParams(mol):
                all_chem.MMFFOptimizeMolecule(mol, maxIters=max_iterations)
            elif embedded and max_iterations and all_chem.UFFHasAllMoleculeParams(mol):
                all_chem.UFFOptimizeMolecule(mol, maxIters=max_iterations)
            pdb = chem.MolToPDBBlock(mol)
    except (RuntimeError, ValueError) as exc:  # RDKit's own errors (valence, pre-conditions)
        raise InvalidMediaError(
            f"RDKit could not embed {where} in 3-D: {exc}; fix the molecule, or give one that has 3-D coordinates "
            "and pass convert_to_3d_and_optimize=False"
        ) from None
    if not embedded:
        raise InvalidMediaError(
            f"RDKit could not embed {where} in 3-D; give a molecule that has 3-D coordinates and pass "
            "convert_to_3d_and_optimize=False"
        )
    return pdb.encode("ascii")


@register
class Molecule(Media):
    """A molecule: a structure file stored byte for byte, or a SMILES / RDKit molecule as PDB.

    Parameters
    ----------
    data_or_path : str, os.PathLike or file object
        A file of one of the ten formats ``pdb, pqr, mmcif, mcif, cif, sdf, sd, gro, mol2,
        mmtf`` (the extension tells the format), or a file object (text or binary, read from
        its start) with ``file_type=``.
    caption : str, optional
        Shown with the molecule; stored in the ``caption`` column.
    file_type : str, optional
        One of the ten formats. Required for a file object; overrides a path's extension.

    Attributes
    ----------
    format : str
        The file format (``"pdb"`` for `from_smiles` and `from_rdkit`).
    smiles : str or None
        The SMILES of molecules made by `from_smiles` or `from_rdkit`, else None.

    Raises
    ------
    InvalidMediaError
        An unsupported extension or ``file_type`` (the message lists the ten), a file object
        without ``file_type``, or an empty file.
    InvalidMediaTypeError
        Anything else than a path or a file object (an RDKit molecule: use `from_rdkit`).
    MediaFileNotFoundError
        The path does not exist.

    Examples
    --------
    >>> run.log({"protein": ms.Molecule("6lu7.pdb")})
    >>> run.log({"ligand": ms.Molecule(io.StringIO(sdf_text), file_type="sdf")})
    """

    kind = "molecules"
    #: The formats stored byte for byte (W&B's ``Molecule.SUPPORTED_TYPES``).
    SUPPORTED_TYPES = tuple(_MIME)
    #: The files `from_rdkit` reads.
    SUPPORTED_RDKIT_TYPES = _RDKIT_FILE_TYPES
    #: Seed of the 3-D embedding: fixed so that the same molecule gives the same stored bytes.
    RANDOM_SEED = 42

    def __init__(self, data_or_path: Any, caption: str | None = None, *, file_type: FileType | None = None):
        self.caption = check_caption(caption)
        if _is_rdkit_mol(data_or_path):
            raise InvalidMediaTypeError(
                "Molecule got an RDKit molecule; pass it to ms.Molecule.from_rdkit(mol), which embeds it in 3-D and stores PDB"
            )
        if not (is_pathlike(data_or_path) or hasattr(data_or_path, "read")):
            raise InvalidMediaTypeError(
                f"Molecule takes a file path or a file object, got {type(data_or_path).__name__} — "
                "for a SMILES string use ms.Molecule.from_smiles, for an RDKit molecule ms.Molecule.from_rdkit"
            )
        self._file, self.format, name = read_source(data_or_path, file_type, "Molecule", _MIME, _format_of_path)
        if not self._file:
            raise InvalidMediaError(f"Molecule file {name} is empty; a .{self.format} file needs content")
        self.smiles: str | None = None

    @classmethod
    def _from_pdb(cls, pdb: bytes, caption: str | None, smiles: str | None) -> "Molecule":
        self = cls.__new__(cls)
        self._file, self.format, self.caption, self.smiles = pdb, "pdb", caption, smiles
        return self

    @classmethod
    def from_smiles(
        cls,
        data: str,
        caption: str | None = None,
        *,
        sanitize: bool = True,
        convert_to_3d_and_optimize: bool = True,
        mmff_optimize_molecule_max_iterations: int = 200,
    ) -> "Molecule":
        """A molecule from a SMILES string, embedded in 3-D and stored as PDB. Needs RDKit.

        Parameters
        ----------
        data : str
            The SMILES, e.g. ``"CC(=O)Nc1ccc(O)cc1"``; kept as given in the ``smiles`` column.
        caption : str, optional
        sanitize : bool
            Let RDKit check valences and aromaticity (default True, as in RDKit and W&B).
        convert_to_3d_and_optimize : bool
            Add hydrogens, embed 3-D coordinates with the fixed seed `RANDOM_SEED` and
            optimise them (default True: a SMILES has no coordinates to show).
        mmff_optimize_molecule_max_iterations : int
            Force-field iterations (default 200, W&B's); 0 keeps the embedded coordinates.

        Returns
        -------
        Molecule

        Raises
        ------
        MissingDependencyError
            RDKit is not installed: ``pip install "mediastore[molecule]"``.
        InvalidMediaTypeError
            ``data`` is not a str.
        InvalidMediaError
            RDKit cannot parse the SMILES, or it fails sanitization (the message says why).

        Examples
        --------
        >>> run.log({"acetaminophen": ms.Molecule.from_smiles("CC(=O)Nc1ccc(O)cc1")})
        """
        chem, _, rd_base = _rdkit("ms.Molecule.from_smiles")
        caption = check_caption(caption)
        if not isinstance(data, str):
            raise InvalidMediaTypeError(f"Molecule.from_smiles takes a SMILES str, got {type(data).__name__} {data!r}"[:200])
        max_iterations = _check_max_iterations(mmff_optimize_molecule_max_iterations)
        with rd_base.BlockLogs():  # the reason goes into our message, not to stderr
            mol = chem.MolFromSmiles(data, sanitize=False)
            if mol is None:
                raise InvalidMediaError(
                    f"SMILES {data!r} could not be parsed by RDKit; check its syntax (brackets, ring closure digits, "
                    "element symbols)"
                )
            if sanitize:
                try:
                    chem.SanitizeMol(mol)
                except ValueError as exc:  # RDKit's MolSanitizeException derives from ValueError
                    raise InvalidMediaError(
                        f"SMILES {data!r} fails RDKit's sanitization: {exc}; fix the molecule, or pass sanitize=False"
                    ) from None
        pdb = _pdb_block(
            mol, f"SMILES {data!r}", convert_to_3d_and_optimize, max_iterations, cls.RANDOM_SEED, "ms.Molecule.from_smiles"
        )
        return cls._from_pdb(pdb, caption, data)

    @classmethod
    def from_rdkit(
        cls,
        data_or_path: Any,
        caption: str | None = None,
        *,
        convert_to_3d_and_optimize: bool = True,
        mmff_optimize_molecule_max_iterations: int = 200,
    ) -> "Molecule":
        """A molecule from an RDKit ``Mol`` or a ``.mol`` / ``.sdf`` file, stored as PDB. Needs RDKit.

        Parameters
        ----------
        data_or_path : rdkit.Chem.Mol, str or os.PathLike
            The molecule (not changed), or a ``.mol`` file, or a ``.sdf`` file (its first
            molecule, as in W&B).
        caption : str, optional
        convert_to_3d_and_optimize : bool
            Add hydrogens, embed 3-D coordinates with the fixed seed `RANDOM_SEED` and
            optimise them (default True). False stores the molecule's own coordinates.
        mmff_optimize_molecule_max_iterations : int
            Force-field iterations (default 200, W&B's); 0 keeps the embedded coordinates.

        Returns
        -------
        Molecule

        Raises
        ------
        MissingDependencyError
            RDKit is not installed: ``pip install "mediastore[molecule]"``.
        InvalidMediaTypeError
            Neither an RDKit molecule nor a path.
        InvalidMediaError
            Another extension than .mol / .sdf, a file RDKit cannot read, a molecule without
            atoms, or without coordinates when ``convert_to_3d_and_optimize=False``.
        MediaFileNotFoundError
            The path does not exist.

        Examples
        --------
        >>> resveratrol = rdkit.Chem.MolFromSmiles("Oc1ccc(cc1)C=Cc1cc(O)cc(c1)O")
        >>> run.log({"resveratrol": ms.Molecule.from_rdkit(resveratrol)})
        """
        purpose = "ms.Molecule.from_rdkit"
        caption = check_caption(caption)
        max_iterations = _check_max_iterations(mmff_optimize_molecule_max_iterations)
        if _is_rdkit_mol(data_or_path):
            chem, _, rd_base = _rdkit(purpose)
            mol, where = data_or_path, "the RDKit molecule"
        elif is_pathlike(data_or_path):
            path = os.fspath(data_or_path)
            ext = _extension(path)
            if ext not in _RDKIT_FILE_TYPES:
                raise InvalidMediaError(
                    f"Molecule.from_rdkit file {path!r} has extension {('.' + ext) if ext else '(none)'}; it reads "
                    f".mol and .sdf files — for the other formats use ms.Molecule(path)"
                )
            chem, _, rd_base = _rdkit(purpose)
            raw = read_path(path, "Molecule.from_rdkit file")
            with rd_base.BlockLogs():
                if ext == "mol":
                    mol = chem.MolFromMolBlock(raw.decode("utf-8", errors="replace"))
                else:
                    mol = next(iter(chem.ForwardSDMolSupplier(io.BytesIO(raw))), None)
            if mol is None:
                raise InvalidMediaError(f"RDKit could not read a molecule from {path!r}; check that it is a valid .{ext} file")
            where = repr(path)
        else:
            raise InvalidMediaTypeError(
                f"Molecule.from_rdkit takes an rdkit.Chem.Mol or the path of a .mol / .sdf file, got "
                f"{type(data_or_path).__name__} — for a SMILES string use ms.Molecule.from_smiles"
            )
        try:
            with rd_base.BlockLogs():
                smiles = chem.MolToSmiles(mol)
        except RuntimeError:  # an unsanitized molecule RDKit cannot write: store it without SMILES
            smiles = None
        pdb = _pdb_block(mol, where, convert_to_3d_and_optimize, max_iterations, cls.RANDOM_SEED, purpose)
        return cls._from_pdb(pdb, caption, smiles)

    # -- engine contract ----------------------------------------------------------------------
    def _encode(self, location) -> dict[str, Any]:
        return {
            "blob": location.put_blob(self._file, _MIME[self.format]),
            "format": self.format,
            "caption": self.caption,
            "smiles": self.smiles,
        }

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Molecule":
        self = cls.__new__(cls)
        self._file = location.get_blob(row["blob"])
        self.format = row["format"]
        caption, smiles = row.get("caption"), row.get("smiles")
        self.caption = caption if isinstance(caption, str) else None  # NULL may come back as NaN from pandas
        self.smiles = smiles if isinstance(smiles, str) else None
        return self

    def _summary(self) -> dict[str, Any]:
        return {"_kind": self.kind, "format": self.format, "smiles": self.smiles}

    # -- the original data back ---------------------------------------------------------------
    @property
    def file_bytes(self) -> bytes:
        """The stored file's bytes (PDB text for `from_smiles` and `from_rdkit`)."""
        return self._file

    # -- Jupyter display ---------------------------------------------------------------------
    def _atoms(self) -> tuple[np.ndarray, list[str]] | None:
        """Coordinates (n, 3) and elements of a PDB or PQR file's ATOM/HETATM records (their
        fixed columns); None for the other formats."""
        if self.format not in ("pdb", "pqr"):
            return None
        coords, elements = [], []
        for line in self._file.decode("utf-8", "replace").splitlines():
            if line.startswith(("ATOM", "HETATM")):
                try:
                    coords.append([float(line[30:38]), float(line[38:46]), float(line[46:54])])
                except ValueError:
                    continue  # a malformed record is left out of the picture, not fatal
                element = line[76:78].strip() or line[12:16].strip()[:1]
                elements.append(element.capitalize())
        return (np.array(coords), elements) if coords else None

    def _repr_html_(self) -> str:
        """A summary (format, size, atoms, SMILES) and, for PDB and PQR, a static 2-D view of the
        atoms (x right, y up) in CPK colours."""
        atoms = self._atoms()
        fields = {"format": self.format, "bytes": len(self._file), "atoms": None if atoms is None else len(atoms[1]), "smiles": self.smiles}
        body = _display.summary_line("Molecule", fields)
        if atoms is not None:
            coords, elements = atoms
            colours = [_CPK.get(e, (255, 20, 147)) for e in elements]
            body = _display.points_svg(coords[:, :2], colours, 4) + body
        return _display.figure(body, self.caption, css_class="ms-molecule")

    def __repr__(self) -> str:
        extra = f", smiles={self.smiles!r}" if self.smiles else ""
        extra += f", caption={self.caption!r}" if self.caption else ""
        return f"ms.Molecule({self.format}, {len(self._file)} bytes{extra})"
