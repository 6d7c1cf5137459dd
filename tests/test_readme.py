"""The README's set-up lines are what CI runs, and they are the lines a new user needs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_setup_lines() -> list[str]:
    """The first ```bash block of the README, as .ci/run extracts it (with the same awk line)."""
    script = (ROOT / ".ci" / "run").read_text()
    awk = re.search(r"^awk '(.+)' README\.md", script, re.MULTILINE)
    assert awk, ".ci/run no longer extracts the README's first bash block with awk"
    out = subprocess.run(["awk", awk.group(1), str(ROOT / "README.md")], capture_output=True, text=True, check=True)
    return [line.split("#", 1)[0].strip() for line in out.stdout.splitlines() if line.split("#", 1)[0].strip()]


def test_ci_runs_the_readme_block_and_nothing_else():
    script = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    # Only the extraction and its execution: nothing installed before the README's lines.
    assert not any(re.search(r"\bpip\b", line) for line in commands), commands
    assert any(line.startswith('bash -euo pipefail "$lines"') for line in commands), commands


def test_the_block_installs_runs_the_demo_and_tests():
    lines = readme_setup_lines()
    assert lines[0] == "python -m venv .venv && . .venv/bin/activate"
    assert 'pip install -e ".[all,dev]"' in lines
    assert "mediastore demo" in lines
    assert lines[-1] == "pytest"
    # The pip a new virtualenv ships must do: upgrading it here would hide a resolver failure.
    assert not any(re.search(r"(-U|--upgrade) pip", line) for line in lines), lines
    # Nothing in the block waits for input or runs forever (the viewer is mentioned after it).
    assert not any(line.startswith("mediastore ui") for line in lines), lines


def test_the_block_installs_the_debian_packages_the_tests_need():
    """Chromium for the viewer's browser tests, a Java runtime (17 or newer, Debian 12's default)
    for the Spark test: without them those tests are skipped, so CI would not run them."""
    apt = [line for line in readme_setup_lines() if "apt-get install" in line]
    assert len(apt) == 1 and apt[0].startswith("apt-get update && apt-get install -y "), apt
    assert set(apt[0].split("apt-get install -y ", 1)[1].split()) == {"chromium", "default-jre-headless"}, apt


def test_requirements_keep_the_resolver_out_of_old_releases():
    """pip 23 (a new venv's) backtracked through years of s3fs releases to ResolutionImpossible
    when boto3 was listed unbounded; the lower bounds keep it near today's releases."""
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"fsspec>=20(2[5-9])', text) and re.search(r'"s3fs>=20(2[5-9])', text), "fsspec/s3fs lower bounds"
    assert not re.search(r'^\s*"boto3"', text, re.MULTILINE), "boto3 unbounded in an extra sends pip 23 backtracking"
