"""Many processes, one run (`ms.init(run_id=R, mode="shared")`): every process of a job logs
into one run, each row attributed to its process, steps per process; the run is running while
any process is, finished when all are, crashed if one crashed and none runs. On a local folder
and on the loopback S3 server, with a reader querying throughout; then torch.distributed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mediastore as ms
from looping_reader import read_while_writing
from mediastore.recover import recover
from mediastore.storage import StoreLocation

WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import mediastore as ms
    store, label, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = ms.Settings(flush_rows=40, flush_seconds=0.3)
    with ms.init(project="job", store=store, run_id="R", mode="shared", label=label, config={"world": 8}, settings=settings) as run:
        for _ in range(steps):
            data = {"loss": 1.0 / (run.step + 1), "lr": 0.1}
            if run.step % 10 == 0:
                data["img"] = ms.Image(np.full((8, 8, 3), len(label) + run.step % 256, np.uint8), caption=label)
            run.log(data)
            time.sleep(0.003)  # a training step: the writes span seconds, the reader queries meanwhile
    """
)


def test_eight_processes_log_into_one_run_while_a_reader_queries(shared_store_uri, tmp_path):
    store, steps, processes = shared_store_uri, 150, 8
    ms.init(project="job", store=store, run_id="setup").finish()  # the store exists before the race
    report = read_while_writing(
        store, tmp_path,
        ["SELECT count(*), count(DISTINCT (process, step, key)), count(*) FILTER (WHERE process IS NULL) FROM scalars",
         "SELECT count(*) FROM images"],
        [[WRITER, store, f"rank{i}", str(steps)] for i in range(processes)],
    )
    assert report["errors"] == []
    assert len(report["results"]) >= 5
    for total, distinct, unattributed, images in report["results"]:
        assert total == distinct, "a reader saw a row twice"
        assert unattributed == 0
        assert total <= processes * steps * 2 and images <= processes * steps // 10
    s = ms.open(store)
    labels = [f"rank{i}" for i in range(processes)]
    assert s.sql("SELECT process, count(*), count(DISTINCT (step, key)), min(step), max(step) FROM scalars "
                 "WHERE run_id = 'R' GROUP BY 1 ORDER BY 1").fetchall() == [(p, steps * 2, steps * 2, 0, steps - 1) for p in labels]
    assert s.sql("SELECT process, count(*) FROM images GROUP BY 1 ORDER BY 1").fetchall() == [(p, steps // 10) for p in labels]
    assert s.sql("SELECT DISTINCT process = caption FROM images").fetchall() == [(True,)]  # each row its own process's
    runs = s.runs().set_index("run_id")
    assert runs.loc["R", "state"] == "finished" and runs.loc["R", "last_step"] == steps - 1
    assert json.loads(runs.loc["R", "config"]) == {"world": 8}


def test_the_runs_state_follows_every_process(local_store):
    store = local_store
    a = ms.init(project="job", store=store, run_id="R", mode="shared", label="a")
    b = ms.init(project="job", store=store, run_id="R", mode="shared", label="b")
    a.log({"loss": 1.0})
    b.log({"loss": 2.0})
    b.log({"loss": 3.0})

    def state():
        return ms.open(store).runs().set_index("run_id").loc["R", "state"]

    assert state() == "running"
    a.finish(crashed=True)
    assert state() == "running"  # b still runs
    b.finish()
    assert state() == "crashed"  # one crashed, none runs
    assert ms.open(store).runs()["last_step"].tolist() == [1]  # the highest of any process
    again = ms.init(project="job", store=store, run_id="R", mode="shared", label="a")  # a process rejoins
    assert again.step == 1  # after its own last step (0), not the run's
    again.log({"loss": 4.0})
    assert state() == "running"
    again.finish()
    assert state() == "finished"
    rows = ms.open(store).sql("SELECT process, step, value FROM scalars ORDER BY ALL").fetchall()
    assert rows == [("a", 0, 1.0), ("a", 1, 4.0), ("b", 0, 2.0), ("b", 1, 3.0)]


def test_a_plain_init_still_refuses_a_running_shared_run_and_bad_arguments(local_store):
    shared = ms.init(project="job", store=local_store, run_id="R", mode="shared", label="0")
    try:
        with pytest.raises(ms.RunExistsError, match="running"):
            ms.init(project="job", store=local_store, run_id="R", resume=True)
    finally:
        shared.finish()
    with pytest.raises(ms.InvalidArgumentError, match="mode='shared'"):
        ms.init(project="job", store=local_store, run_id="S", label="0")
    with pytest.raises(ms.InvalidArgumentError, match="run_id"):
        ms.init(project="job", store=local_store, mode="shared")
    with pytest.raises(ms.InvalidArgumentError, match="'both'"):  # W&B's 'online' and 'offline' are taken (test_wandb_init)
        ms.init(project="job", store=local_store, run_id="S", mode="both")
    with pytest.raises(ms.InvalidArgumentError, match="label"):
        ms.init(project="job", store=local_store, run_id="S", mode="shared", label="")
    assert ms.open(local_store).runs()["run_id"].tolist() == ["R"]  # nothing of S was stored


def test_the_label_defaults_to_the_rank(local_store, monkeypatch):
    monkeypatch.setenv("RANK", "3")
    with ms.init(project="job", store=local_store, run_id="R", mode="shared") as run:
        run.log({"loss": 1.0})
    monkeypatch.delenv("RANK")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with ms.init(project="job", store=local_store, run_id="R", mode="shared") as run:
        run.log({"loss": 2.0})
    assert ms.open(local_store).sql("SELECT process, value FROM scalars ORDER BY 1").fetchall() == [("1", 2.0), ("3", 1.0)]


KILLED = textwrap.dedent(
    """
    import sys, time
    import mediastore as ms
    run = ms.init(project="job", store=sys.argv[1], run_id="R", mode="shared", label="killed",
                  settings=ms.Settings(spool_seconds=0.2, flush_seconds=3600, heartbeat_seconds=0.5))
    for _ in range(50):
        run.log({"loss": 1.0})
    print("logged", flush=True)
    time.sleep(60)
    """
)


def test_a_killed_process_keeps_its_rows_up_to_the_spool_and_the_run_ends_crashed(local_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIASTORE_SPOOL", str(tmp_path / "spool"))
    other = ms.init(project="job", store=local_store, run_id="R", mode="shared", label="alive")
    other.log({"loss": 2.0})
    proc = subprocess.Popen([sys.executable, "-c", KILLED, local_store], stdout=subprocess.PIPE, text=True,
                            env={**os.environ})
    assert proc.stdout.readline().strip() == "logged"
    time.sleep(1.0)  # past a spool tick
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    other.finish()
    assert recover(StoreLocation(local_store)) == [("job", "R")]
    s = ms.open(local_store)
    assert s.sql("SELECT process, count(*) FROM scalars GROUP BY 1 ORDER BY 1").fetchall() == [("alive", 1), ("killed", 50)]
    assert s.runs().set_index("run_id").loc["R", "state"] == "crashed"


DDP = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from torch.utils.data import DistributedSampler, TensorDataset

    def main(rank, store, port):
        os.environ["RANK"] = str(rank)  # as torchrun sets it: the process label's default
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
        import mediastore as ms
        images = torch.arange(12 * 3 * 8 * 8, dtype=torch.float32).reshape(12, 3, 8, 8) % 251 / 250
        dataset = TensorDataset(images, torch.arange(12))
        with ms.init(project="ddp", store=store, run_id="job", mode="shared") as run:
            for index in DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=False):
                image, i = dataset[index]
                loss = image.mean().reshape(1)
                dist.all_reduce(loss)  # the ranks work together
                run.log({"sample": ms.Image(image, caption=f"sample {int(i)}"), "loss": float(loss)})
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.spawn(main, args=(sys.argv[1], int(sys.argv[2])), nprocs=2)
    """
)


def test_torch_distributed_ranks_log_their_shards_into_one_run(shared_store_uri, tmp_path):
    pytest.importorskip("torch", reason="the DDP test needs torch (the dev extra installs its CPU build)")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "ddp.py"
    script.write_text(DDP)
    done = subprocess.run([sys.executable, str(script), shared_store_uri, str(port)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MEDIASTORE_SPOOL": str(tmp_path / "spool")})
    assert done.returncode == 0, done.stderr[-3000:]
    s = ms.open(shared_store_uri)
    rows = s.sql("SELECT process, step, caption FROM images ORDER BY process, step").fetchall()
    assert rows == [(str(rank), step, f"sample {rank + 2 * step}") for rank in (0, 1) for step in range(6)]
    pixels = s.decode(s.sql("SELECT * FROM images WHERE caption = 'sample 5'").df().iloc[0]).to_numpy()
    assert pixels.shape == (8, 8, 3)
    assert s.runs().set_index("run_id").loc["job", "state"] == "finished"
    # all_reduce: both ranks logged the same loss at each step
    assert s.sql("SELECT count(DISTINCT value) FROM scalars GROUP BY step").fetchall() == [(1,)] * 6
