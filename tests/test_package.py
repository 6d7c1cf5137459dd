"""The package surface: what `import mediastore` pulls in, and what it exposes."""

from __future__ import annotations

import subprocess
import sys

import mediastore as ms


def test_import_does_not_load_optional_heavy_dependencies():
    code = "import sys, mediastore; print(sorted(m for m in ('av', 'soundfile', 'rdkit', 's3fs', 'torch', 'moto') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_run_that_logs_scalars_and_texts_never_imports_pandas_nor_fsspec(tmp_path):
    """pandas costs 0.2 s to import; pyarrow's ``pa.array`` and ``to_numpy`` import it (_arrow.py).
    A training script that logs numbers and strings and never touches pandas must not pay it."""
    code = (
        "import sys, mediastore as ms\n"
        f"run = ms.init(project='p', store={str(tmp_path)!r}, run_id='r', config={{'lr': 0.1}})\n"
        "for i in range(50):\n"
        "    run.log({'loss': 1.0 / (i + 1), 'acc': i})\n"
        "    run.log({'note': f'step {i}'}) if i % 10 == 0 else run.log({'loss': 0.5, 'other': 1})\n"
        "run.finish()\n"
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code.replace("'pandas' in", "'pandas' in sys.modules, 'fsspec' in")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"  # nor fsspec (40 ms), which a local folder does not need
    store = ms.open(str(tmp_path))
    frame = store.history("r")
    assert len(frame) == 95 and frame["loss"].iloc[0] == 1.0  # 5 of the 100 steps logged only a text
    assert store.sql("SELECT count(*) FROM texts").fetchall() == [(5,)]


def test_public_names_exist():
    for name in ms.__all__:
        assert hasattr(ms, name), name


def test_errors_derive_from_builtins():
    assert issubclass(ms.InvalidMediaError, ValueError) and issubclass(ms.InvalidMediaError, ms.MediaStoreError)
    assert issubclass(ms.InvalidMediaTypeError, TypeError)
    assert issubclass(ms.BlobNotFoundError, FileNotFoundError)
    assert issubclass(ms.MissingDependencyError, ImportError)
    assert issubclass(ms.MediaFileNotFoundError, FileNotFoundError)


def test_the_wheel_carries_the_schemas_and_the_viewer(tmp_path):
    """What `pip install mediastore` gets: the schema files, and the viewer's page and vendored
    JavaScript with its licences (an editable install would find them in the checkout anyway)."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(root)], check=True)
    (wheel,) = tmp_path.glob("mediastore-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mediastore/_schemas/images.v1.json" in names
    for name in ("index.html", "app.js", "views.js", "three-views.js", "dom.js", "app.css",
                 "vendor/three.min.js", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css", "vendor/LICENSES.txt"):
        assert f"mediastore/ui/static/{name}" in names, name


def test_an_empty_run_loads_no_query_or_compute_library(tmp_path):
    """Start-up (issue 16): import + ms.init + finish of an empty run on a folder needs neither
    numpy nor pyarrow (records are written by _plain_parquet.py) nor DuckDB, pandas, Pillow or
    fsspec: importing numpy and pyarrow.parquet alone took 0.10 s, the target for the whole."""
    code = (
        "import sys, mediastore as ms; run = ms.init(project='p', store=sys.argv[1], run_id='r'); run.finish(); "
        "print(sorted(m for m in ('numpy', 'pyarrow', 'duckdb', 'pandas', 'PIL', 'fsspec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "store")], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert ms.open(str(tmp_path / "store")).runs()["state"].tolist() == ["finished"]


def test_lazy_modules_become_the_modules_at_first_use():
    """_lazy.py: after the first read, mediastore's modules name numpy itself, not the stand-in
    (attribute reads of a real module are specialized; through the stand-in W1 was 10-20 % slower)."""
    code = (
        "import sys, types, mediastore, mediastore._lazy as lazy; run = sys.modules['mediastore.run']; "
        "before = type(run.np) is types.ModuleType; run.np.float64; import mediastore.writer as w; "
        "print(before, run.np is sys.modules['numpy'], lazy.np is sys.modules['numpy'], w.np is sys.modules['numpy'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True", "True"]
