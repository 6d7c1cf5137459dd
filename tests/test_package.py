"""The package surface: what `import mediastore` pulls in, and what it exposes."""

from __future__ import annotations

import subprocess
import sys

import mediastore as ms


def test_import_does_not_load_optional_heavy_dependencies():
    code = "import sys, mediastore; print(sorted(m for m in ('av', 'soundfile', 'rdkit', 's3fs', 'torch', 'moto') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names_exist():
    for name in ms.__all__:
        assert hasattr(ms, name), name


def test_errors_derive_from_builtins():
    assert issubclass(ms.InvalidMediaError, ValueError) and issubclass(ms.InvalidMediaError, ms.MediaStoreError)
    assert issubclass(ms.InvalidMediaTypeError, TypeError)
    assert issubclass(ms.BlobNotFoundError, FileNotFoundError)
    assert issubclass(ms.MissingDependencyError, ImportError)
    assert issubclass(ms.MediaFileNotFoundError, FileNotFoundError)
