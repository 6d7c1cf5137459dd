"""The README's section "Training frameworks: Lightning and Transformers": its two snippets run as
written, given the objects they leave to the reader (a model and its data), in a fresh folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mediastore as ms

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Training frameworks: Lightning and Transformers"


def snippets() -> list[str]:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    blocks = re.findall(r"```python\n(.*?)```", text[start:end], re.DOTALL)
    assert len(blocks) == 2, "the section should hold one Lightning and one Transformers snippet"
    return blocks


def test_section_sits_just_before_the_viewer():
    text = README.read_text()
    after = text[text.index(SECTION) + len(SECTION):]
    assert re.search(r"\n## ", after).start() == after.index("\n## Viewer")


def test_lightning_snippet(tmp_path, monkeypatch, capsys):
    L = pytest.importorskip("lightning", reason='needs lightning: pip install "mediastore[lightning]"')
    import torch
    from torch import nn

    class Model(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = nn.functional.mse_loss(self.layer(x), y)
            self.log("train/loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=2)
    monkeypatch.chdir(tmp_path)
    namespace = {"model": Model(), "train_loader": loader}
    exec(snippets()[0], namespace)
    s = ms.open(str(tmp_path / "mediastore-data"))
    # 128 steps, Lightning logs every 50th; watch logs every 100th gradient
    assert s.sql("SELECT step FROM scalars WHERE key = 'train/loss' ORDER BY step").fetchall() == [(49,), (99,)]
    assert s.sql("SELECT key, step FROM histograms ORDER BY key").fetchall() == [
        ("gradients/layer.bias", 99), ("gradients/layer.weight", 99)]
    assert s.sql("SELECT config, state FROM runs").fetchall() == [('{"batch_size":64}', "finished")]
    assert s.sql("SELECT run_id FROM runs").fetchall() == [(namespace["logger"].version,)]
    printed = capsys.readouterr().out.splitlines()
    assert printed[-3].split() == ["step", "value"]  # the DataFrame it printed last
    assert [line.split()[1] for line in printed[-2:]] == ["49", "99"]


def test_transformers_snippet(tmp_path, monkeypatch, capsys):
    pytest.importorskip("transformers", reason='needs transformers: pip install "mediastore[transformers]"')
    pytest.importorskip("accelerate", reason='the Trainer needs accelerate: pip install "mediastore[transformers]"')
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    class Sequences(torch.utils.data.Dataset):
        def __init__(self, n):
            self.ids = torch.randint(1, 40, (n, 8), generator=torch.Generator().manual_seed(0))

        def __len__(self):
            return len(self.ids)

        def __getitem__(self, i):
            return {"input_ids": self.ids[i], "labels": (self.ids[i] == 7).any().long()}

    torch.manual_seed(0)
    bert = BertForSequenceClassification(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                    intermediate_size=32, max_position_embeddings=8))
    monkeypatch.chdir(tmp_path)
    exec(snippets()[1], {"bert": bert, "train_dataset": Sequences(80)})
    s = ms.open(str(tmp_path / "mediastore-data"))
    # 80 samples / 8 per batch = 10 steps per epoch, 3 epochs (the default), a row every 10 steps
    assert s.sql("SELECT step FROM scalars WHERE key = 'train/loss' ORDER BY step").fetchall() == [(10,), (20,), (30,)]
    assert s.sql("SELECT project, name, state, json_extract(config, '$.logging_steps') FROM runs").fetchall() == [
        ("bert", "tiny-bert", "finished", "10")]
    printed = capsys.readouterr().out
    assert [line.split()[1] for line in printed.splitlines()[-3:]] == ["10", "20", "30"]  # the printed steps
