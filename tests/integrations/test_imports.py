"""The integrations stay out of `import mediastore`, and say which extra they need."""

from __future__ import annotations

import subprocess
import sys


def test_import_mediastore_loads_no_framework():
    code = ("import sys, mediastore, mediastore.integrations; "
            "print(sorted(m for m in ('torch', 'lightning', 'pytorch_lightning', 'transformers', 'accelerate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_framework_names_the_extra():
    """With lightning and transformers hidden from import, each module raises MissingDependencyError
    naming its extra."""
    code = """
import sys
sys.modules['lightning'] = None; sys.modules['lightning.pytorch'] = None
sys.modules['pytorch_lightning'] = None; sys.modules['transformers'] = None
import mediastore as ms
for name in ('lightning', 'pytorch_lightning', 'transformers'):
    try:
        __import__('mediastore.integrations.' + name)
    except ms.MissingDependencyError as exc:
        print(name, '|', exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == 3, out
    assert 'pip install "mediastore[lightning]"' in out[0] and out[0].startswith("lightning |")
    assert 'pip install "mediastore[lightning]"' in out[1] and out[1].startswith("pytorch_lightning |")
    assert 'pip install "mediastore[transformers]"' in out[2] and out[2].startswith("transformers |")
