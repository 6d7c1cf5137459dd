"""The importers' optional dependencies: loaded only by an import, named when missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True).stdout.strip()


def test_the_package_and_the_cli_do_not_load_wandb_or_tensorboardx():
    out = run("""
        import sys, mediastore, mediastore.cli, mediastore.importers
        print(sorted(m for m in ('wandb', 'tensorboardX', 'google.protobuf') if m in sys.modules))
    """)
    assert out == "[]"


def test_a_missing_dependency_names_the_extra(tmp_path):
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "run-x").mkdir()
    (tmp_path / "wandb" / "run-x" / "run-x.wandb").write_bytes(b":W&B\xe1\xbe\x00")
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "events.out.tfevents.1.host").write_bytes(b"")
    out = run(f"""
        import sys
        sys.modules["wandb"] = None          # as if not installed
        sys.modules["tensorboardX"] = None
        import mediastore as ms
        from mediastore.importers import import_tensorboard, import_wandb
        for call in (lambda: import_wandb({str(tmp_path / "wandb")!r}, {str(tmp_path / "s")!r}),
                     lambda: import_tensorboard({str(tmp_path / "tb")!r}, {str(tmp_path / "s")!r})):
            try:
                call()
            except ms.MissingDependencyError as exc:
                print(exc)
    """)
    assert not (tmp_path / "s").exists()  # refused before the store was touched
    assert out.splitlines() == [
        "Importing W&B runs needs the optional dependency 'wandb', which is not installed; "
        'install it with: pip install "mediastore[wandb]"',
        "Importing TensorBoard event files needs the optional dependency 'tensorboardX', which is not "
        'installed; install it with: pip install "mediastore[tensorboard]"',
    ]
