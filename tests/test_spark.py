"""The README's Spark snippet, as written, reads a store's ``scalars`` and ``images`` files and gets
the rows DuckDB gets through ``ms.open``: column by column, with the same types.

Spark starts slowly (a JVM), so one subprocess, which never imports mediastore, runs the snippet on
two stores (before and after ``mediastore compact``) and writes what it read as Parquet; the tests
compare those files with DuckDB's rows."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mediastore as ms
from mediastore.compact import compact_store
from mediastore.storage import StoreLocation
from readme_snippets import python_snippet, replace_once

VIEWS = ("scalars", "images")
# The one line of the README's snippet the test changes: the bucket becomes a local store.
README_ROOT = 'root = "s3a://team-bucket/mediastore"'


def java_major() -> int | None:
    """The major version of the ``java`` on PATH, or None without one."""
    if shutil.which("java") is None:
        return None
    out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2)) if major == 1 else major  # "1.8.0" is Java 8


# Only the subprocess imports pyspark (about 90 modules).
if importlib.util.find_spec("pyspark") is None:
    pytest.skip('reading a store with Spark needs pyspark: pip install -e ".[dev]"', allow_module_level=True)
if (JAVA := java_major()) is None or JAVA < 17:
    pytest.skip(
        f"PySpark 4 needs Java 17 or newer on PATH (found: {JAVA}): apt-get install -y default-jre-headless",
        allow_module_level=True,
    )


# Runs in a fresh interpreter so that nothing of mediastore can help: the script checks that it
# never imported it. One SparkSession for every read (a JVM starts in seconds, not milliseconds);
# the snippet's own getOrCreate() returns it. A session time zone other than UTC: a timestamp
# read as zone-aware would move by its offset. The JVM's quick JIT tier and serial GC start it in
# about 5 s instead of 8 on a 2-core machine; they change no result.
READ_WITH_SPARK = textwrap.dedent(
    """
    import json
    import sys

    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("mediastore-readme")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
             .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
             .config("spark.sql.session.timeZone", "America/New_York").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for snippet, out in json.loads(sys.argv[1]):
        namespace = {}
        exec(snippet, namespace)
        for view in ("scalars", "images"):
            namespace[view].coalesce(1).write.parquet(f"{out}/{view}")
    spark.stop()
    assert "mediastore" not in sys.modules, sorted(m for m in sys.modules if m.startswith("mediastore"))
    """
)


class Crash(Exception):
    pass


# Run ids that Spark's partition type inference would read as numbers (7, 1000.0, ...).
R3, R3_STEPS, R3_PUBLISH_ROWS = "30", 23, 10  # the run that is not compacted at its end


def log_runs(store: str) -> None:
    """Several runs of two projects, compacted at their end (one of them resumed, one crashed,
    one in several batches), and one that is not compacted at its end, so that before
    ``mediastore compact`` only its batches of ``publish_rows`` rows are published."""
    rng = np.random.default_rng(0)
    mask = np.zeros((16, 16), np.uint8)
    mask[2:9, 3:12] = 1

    def image(step: int, decorated: bool) -> ms.Image:
        pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        if not decorated:
            return ms.Image(pixels)  # no caption, masks or boxes: NULLs and empty lists
        boxes = {"box_data": [{"position": {"minX": 1, "maxX": 5, "minY": 2, "maxY": 7}, "class_id": 1,
                               "box_caption": "car", "scores": {"conf": 0.9, "iou": 0.5}},
                              {"position": {"middle": [8, 8], "width": 4, "height": 2}, "domain": "pixel",
                               "class_id": 2}],
                 "class_labels": {1: "car", 2: "tree"}}
        return ms.Image(pixels, caption=f"step {step}", boxes={"predictions": boxes},
                        masks={"pred": {"mask_data": mask, "class_labels": {1: "car", 2: "tree"}}})

    def log(project: str, run_id: str, steps: int, settings: ms.Settings | None = None, resume: bool = False,
            extra: bool = False) -> None:
        with ms.init(project=project, store=store, run_id=run_id, settings=settings, resume=resume) as run:
            for step in range(steps):
                row = {"loss": 1.0 / (step + 1), "acc": step / steps}
                if extra and step == 3:
                    row.update({"nan": float("nan"), "inf": float("inf"), "flag": True})
                if step % 5 == 0:
                    row["sample"] = image(step, decorated=step % 10 == 0)
                if extra and step == 10:
                    row["pair"] = [image(step, True), image(step, False)]  # idx 0 and 1
                run.log(row)

    log("vision", "0001", 23, extra=True)
    log("vision", "0001", 6, resume=True)  # a second published file in the run's folder
    log("vision", "007", 12, ms.Settings(flush_rows=5))  # several batches, merged at the end
    log("vision", R3, R3_STEPS, ms.Settings(compact_on_finish=False, flush_rows=R3_PUBLISH_ROWS,
                                            publish_rows=R3_PUBLISH_ROWS))
    with pytest.raises(Crash):
        with ms.init(project="audio", store=store, run_id="1e3") as run:
            for step in range(7):
                run.log({"loss": 0.5 ** step, "sample": image(step, decorated=True)})
            raise Crash  # the run ends crashed, and is compacted all the same
    assert {r: s for r, s in ms.open(store).runs()[["run_id", "state"]].itertuples(index=False)} == {
        "0001": "finished", "007": "finished", R3: "finished", "1e3": "crashed"}


@pytest.fixture(scope="module")
def spark_read(tmp_path_factory) -> dict:
    """Two stores ("before" and "after" ``mediastore compact``) and, for each, the folder where
    the Spark subprocess wrote the README snippet's ``scalars`` and ``images`` as Parquet; and
    the UTC wall clock before and after the logging."""
    base = tmp_path_factory.mktemp("spark")
    after = str(base / "after")
    logging_began = datetime.now(timezone.utc).replace(tzinfo=None)
    log_runs(after)
    logging_ended = datetime.now(timezone.utc).replace(tzinfo=None)
    before = str(base / "before")
    shutil.copytree(after, before)
    compact_store(StoreLocation(after))

    snippet = python_snippet("Reading without mediastore", "spark")
    jobs = [(replace_once(snippet, README_ROOT, f"root = {store!r}"), str(base / f"spark-{name}"))
            for name, store in (("before", before), ("after", after))]
    done = subprocess.run([sys.executable, "-c", READ_WITH_SPARK, json.dumps(jobs)], capture_output=True,
                          text=True, timeout=600, cwd=base)
    assert done.returncode == 0, done.stderr[-5000:]
    return {"before": before, "after": after, "spark-before": jobs[0][1], "spark-after": jobs[1][1],
            "logged": (logging_began, logging_ended)}


def plain_type(t: pa.DataType):
    """A type without the names Arrow gives list items and map entries (DuckDB says ``l`` and
    ``entries``, Parquet ``element`` and ``key_value``) or nullability; struct fields keep names."""
    if pa.types.is_large_string(t):
        return "string"
    if pa.types.is_map(t):
        return ("map", plain_type(t.key_type), plain_type(t.item_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return ("list", plain_type(t.value_type))
    if pa.types.is_struct(t):
        return ("struct", tuple((f.name, plain_type(f.type)) for f in t))
    return str(t)


def plain_value(v):
    """A hashable value; NaN equal to NaN. Maps (lists of pairs) keep their stored order."""
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, dict):
        return tuple((k, plain_value(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return tuple(plain_value(x) for x in v)
    return v


def assert_same_rows(spark: pa.Table, duck: pa.Table, view: str) -> None:
    """The same columns with the same types, and the same multiset of rows, column by column."""
    # A media view adds `kind`, its own name: mediastore's column, not in the files.
    media = view != "scalars"
    assert set(duck.column_names) - set(spark.column_names) == ({"kind"} if media else set())
    if media:
        assert set(duck.column("kind").to_pylist()) == {view}
        duck = duck.drop_columns(["kind"])
    assert sorted(spark.column_names) == sorted(duck.column_names)
    assert {c: plain_type(spark.schema.field(c).type) for c in duck.column_names} == {
        c: plain_type(duck.schema.field(c).type) for c in duck.column_names}
    assert spark.num_rows == duck.num_rows
    names = duck.column_names  # project, run_id, step, key, (idx,) ...: a row's identity comes first
    rows = {}
    for side, table in (("spark", spark), ("duckdb", duck)):
        columns = [[plain_value(v) for v in table.column(c).to_pylist()] for c in names]
        rows[side] = sorted(zip(*columns), key=repr)
    for i, column in enumerate(names):  # a difference names its column
        assert [r[i] for r in rows["spark"]] == [r[i] for r in rows["duckdb"]], f"{view}.{column}"
    assert Counter(rows["spark"]) == Counter(rows["duckdb"])


def duckdb_table(store: str, view: str, where: str = "true") -> pa.Table:
    return ms.open(store).sql(f"SELECT * FROM {view} WHERE {where}").to_arrow_table()


@pytest.mark.parametrize("view", VIEWS)
def test_spark_reads_the_rows_duckdb_reads_after_compaction(spark_read, view):
    spark = pq.read_table(f"{spark_read['spark-after']}/{view}")
    duck = duckdb_table(spark_read["after"], view)
    assert set(duck.column("run_id").to_pylist()) == {"0001", "007", R3, "1e3"}
    assert_same_rows(spark, duck, view)


@pytest.mark.parametrize("view", VIEWS)
def test_before_compaction_spark_reads_only_the_published_files(spark_read, view):
    """Run 30 was not compacted at its end: Spark sees only its batches of ``publish_rows`` rows
    (two scalars a step, so the first whole batches; its few images are in no such batch)."""
    spark = pq.read_table(f"{spark_read['spark-before']}/{view}")
    published_steps = (2 * R3_STEPS // R3_PUBLISH_ROWS) * R3_PUBLISH_ROWS // 2
    hidden = f"step >= {published_steps}" if view == "scalars" else "true"
    duck = duckdb_table(spark_read["before"], view, f"NOT (run_id = '{R3}' AND {hidden})")
    assert duckdb_table(spark_read["before"], view).num_rows > duck.num_rows  # mediastore sees all of run 30's rows
    assert_same_rows(spark, duck, view)


def test_the_snippet_keeps_run_ids_strings_and_timestamps_in_utc(spark_read):
    """What the snippet's option and Spark's TIMESTAMP_NTZ reading are for, asked directly."""
    spark = pq.read_table(f"{spark_read['spark-after']}/scalars")
    assert set(spark.column("run_id").to_pylist()) == {"0001", "007", R3, "1e3"}
    assert spark.schema.field("logged_at").type == pa.timestamp("us")  # no time zone, as in the files
    began, ended = spark_read["logged"]  # UTC; the Spark session's zone was New York's
    assert all(began <= t <= ended for t in spark.column("logged_at").to_pylist())
