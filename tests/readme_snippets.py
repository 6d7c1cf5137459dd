"""The README's code snippets as written, for the tests that run them (tests/test_dask.py,
tests/test_spark.py): a snippet that changes changes what is tested."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_snippet(section: str, word: str) -> str:
    """The one ```python block of the README's ``## <section>`` that contains ``word``."""
    text = README.read_text()
    assert f"\n## {section}\n" in text, f"the README has no section {section!r}"
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"^```python\n(.*?)^```", body, re.DOTALL | re.MULTILINE) if word in b]
    assert len(blocks) == 1, f"expected one ```python block with {word!r} in {section!r}, found {len(blocks)}"
    return blocks[0]


def replace_once(snippet: str, old: str, new: str) -> str:
    """``snippet`` with its one ``old`` (a bucket's path) replaced by ``new`` (a local one)."""
    assert snippet.count(old) == 1, f"the README's snippet no longer holds {old!r} once:\n{snippet}"
    return snippet.replace(old, new)
