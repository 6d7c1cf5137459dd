"""The ``mediastore`` command: demo, sql, runs, compact, recover, delete, gc, sync, export, import, ui."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .storage import DEFAULT_STORE

__all__ = ["main"]


def _store_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=os.environ.get("MEDIASTORE_STORE", DEFAULT_STORE),
        help="store folder or fsspec URI (default: $MEDIASTORE_STORE or ./mediastore-data)",
    )


def _print_relation(rel, max_rows: int) -> None:
    frame = rel.df()
    import pandas as pd

    with pd.option_context("display.max_rows", max_rows, "display.max_columns", 50, "display.width", 200, "display.max_colwidth", 60):
        print(frame.to_string(index=False) if len(frame) else "(no rows)")


def _cmd_demo(args) -> int:
    from .demo import EXAMPLE_QUERIES, run_demo
    from .query import Store

    print(f"Logging a synthetic training run (2 runs x {args.steps} steps: scalars, images with masks and boxes, "
          "histograms, tables, audio, video, 3D, molecules, HTML) ...")
    ids, skipped = run_demo(args.store, steps=args.steps)
    for note in skipped:
        print(f"  skipped {note}")
    store = Store(args.store)
    where = os.path.abspath(args.store) if "://" not in args.store else args.store
    print(f"Logged runs {', '.join(ids)} to {where}\n")
    for title, query in EXAMPLE_QUERIES:
        print(f"-- {title}\n{query}\n")
        _print_relation(store.sql(query), 20)
        print()
    print(f'Try: mediastore sql "SELECT key, count(*) FROM scalars GROUP BY key" --store {args.store}')
    print(f"Look at it: mediastore ui --store {args.store}   (then open http://127.0.0.1:8765/)")
    return 0


def _cmd_sql(args) -> int:
    from .query import Store

    _print_relation(Store(args.store).sql(args.query), args.max_rows)
    return 0


def _cmd_runs(args) -> int:
    from .query import Store

    frame = Store(args.store).runs(project=args.project)
    cols = ["project", "run_id", "name", "state", "started_at", "finished_at", "last_step"]
    # W&B's labels, where any run has them; tags as a comma-separated list.
    cols += [c for c in ("group", "job_type", "tags") if c in frame and frame[c].notna().any()]
    for c in ("group", "job_type"):
        if c in cols:
            frame[c] = frame[c].fillna("")
    if "tags" in cols:
        frame["tags"] = [", ".join(json.loads(t)) if isinstance(t, str) else "" for t in frame["tags"]]
    print(frame[cols].to_string(index=False) if len(frame) else "(no runs)")
    return 0


def _cmd_compact(args) -> int:
    from .compact import compact_store
    from .storage import StoreLocation

    report = compact_store(
        StoreLocation(args.store), project=args.project, run_id=args.run, grace_seconds=args.grace_seconds,
        include_running=args.include_running,
    )
    merged = ", ".join(f"{table}: {n} files" for table, n in sorted(report.merged.items())) or "nothing to merge"
    print(f"compacted ({merged}); deleted {report.deleted} replaced files; runs index: {report.indexed} runs; "
          f"project files: {report.project_files} written; blobs logged by several runs: {report.deduplicated} pointed at "
          f"one copy ({report.garbage_bytes} bytes of copies left for `mediastore gc`)")
    return 0


def _cmd_recover(args) -> int:
    from .recover import recover
    from .storage import StoreLocation

    recovered = recover(StoreLocation(args.store))
    print(f"recovered {len(recovered)} run(s) from this machine's spool" + "".join(f"\n  {p}/{r}: crashed" for p, r in recovered))
    return 0


def _cmd_delete(args) -> int:
    from .errors import InvalidArgumentError
    from .query import Store

    if (args.where is None) == (args.run is None):
        raise InvalidArgumentError("mediastore delete needs one of --where RULE (rows) or --run RUN (a whole run)")
    if args.project is not None and args.run is None:
        raise InvalidArgumentError("--project goes with --run; for rows, say the project in --where: \"project = 'p' AND ...\"")
    store = Store(args.store)
    dry_run = args.dry_run or not args.yes
    if args.run is not None:
        report = store.delete_run(args.run, project=args.project, dry_run=dry_run)
    else:
        report = store.delete(args.table, where=args.where, dry_run=dry_run)
    print(report.summary())
    if dry_run:
        print("dry run: nothing deleted; add --yes to delete")
    return 0


def _cmd_gc(args) -> int:
    from .query import Store

    print(Store(args.store).gc(dry_run=args.dry_run, grace_seconds=args.grace_seconds).summary())
    return 0


def _cmd_export(args) -> int:
    from .query import Store

    shard = int(args.shard_size) if args.shard_size.strip().isdigit() else args.shard_size
    try:
        report = Store(args.store).export(args.query, args.out, format=args.format, shard_size=shard, fps=args.fps,
                                          workers=args.workers, overwrite=args.overwrite, progress=args.progress)
    except KeyboardInterrupt:
        print("\nmediastore: export interrupted; what was written is complete — run the same command again to finish",
              file=sys.stderr)
        return 130
    print(report.summary())
    return 0


def _cmd_import(args) -> int:
    import warnings

    from .importers import import_tensorboard, import_wandb

    do = import_wandb if args.source == "wandb" else import_tensorboard
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            results = do(args.path, args.store, project=args.project, quiet=args.quiet)
        finally:
            for warning in caught:  # said plainly, without the source line Python's format adds
                print(f"mediastore: warning: {warning.message}", file=sys.stderr)
    for r in results:
        if r.skipped:
            print(f"{r.project}/{r.run_id}: imported before, skipped ({r.source})")
            continue
        rows = ", ".join(f"{n} {view}" for view, n in sorted(r.rows.items())) or "no rows"
        left = ", ".join(f"{n} {what}" for what, n in sorted(r.not_imported.items()))
        print(f"{r.project}/{r.run_id}: {rows}" + (f"; not imported: {left}" if left else "") + f" ({r.source})")
    return 0


def _cmd_ui(args) -> int:
    from .ui import serve

    serve(args.store, host=args.host, port=args.port, open_browser=args.open)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediastore", description="Columnar media dataset store.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="log a synthetic training run, then query it")
    _store_arg(demo)
    demo.add_argument("--steps", type=int, default=300, help="training steps per run (default 300)")
    demo.set_defaults(func=_cmd_demo)
    sql = sub.add_parser("sql", help="run a DuckDB SQL query over the store's views and print the result")
    sql.add_argument("query")
    _store_arg(sql)
    sql.add_argument("--max-rows", type=int, default=100, help="rows to print at most (default 100)")
    sql.set_defaults(func=_cmd_sql)
    runs = sub.add_parser("runs", help="list the runs in the store")
    _store_arg(runs)
    runs.add_argument("--project", default=None)
    runs.set_defaults(func=_cmd_runs)
    compact = sub.add_parser("compact", help="merge each finished run's small files; index finished runs; delete long-replaced files")
    _store_arg(compact)
    compact.add_argument("--project", default=None)
    compact.add_argument("--run", default=None, help="only this run id")
    compact.add_argument("--grace-seconds", type=float, default=300.0,
                         help="delete files replaced longer ago than this (default 300: longer than any query)")
    compact.add_argument("--include-running", action="store_true", help="also runs whose state is running (only if no writer is alive)")
    compact.set_defaults(func=_cmd_compact)
    recover = sub.add_parser("recover", help="write what killed runs left in this machine's spool, and mark them crashed")
    _store_arg(recover)
    recover.set_defaults(func=_cmd_recover)
    delete = sub.add_parser("delete", help="delete rows by a SQL rule, or a whole run (a dry run unless --yes)")
    _store_arg(delete)
    delete.add_argument("--where", default=None, help="SQL condition over --table, e.g. \"kind = 'images' AND step %% 10 <> 0\"")
    delete.add_argument("--table", default="media", help="the view --where is written over (default media: every table with blobs)")
    delete.add_argument("--run", default=None, help="delete this whole run instead")
    delete.add_argument("--project", default=None, help="the project of --run, when its id is in several")
    delete.add_argument("--yes", action="store_true", help="delete; without it, only say how many rows and bytes")
    delete.add_argument("--dry-run", action="store_true", help="only say how many rows and bytes (the default without --yes)")
    delete.set_defaults(func=_cmd_delete)
    gcp = sub.add_parser("gc", help="free blobs no row points at (marks them; a later pass after the grace period deletes)")
    _store_arg(gcp)
    gcp.add_argument("--dry-run", action="store_true", help="change nothing; say what would be marked and freed")
    gcp.add_argument("--grace-seconds", type=float, default=300.0,
                     help="least time between marking a blob and deleting it (default 300: longer than any query)")
    gcp.set_defaults(func=_cmd_gc)
    export = sub.add_parser("export", help="export a query's media to files, a Hugging Face dataset, WebDataset shards or mp4 videos")
    export.add_argument("query", help="SQL over a media view or a table's rows, e.g. \"SELECT * FROM images WHERE key = 'val'\"")
    export.add_argument("out", help="output folder (new, empty, or an export of the same query to resume)")
    _store_arg(export)
    export.add_argument("--format", default="files", choices=["files", "hf", "webdataset", "mp4"],
                        help="files (default): the original files + metadata.parquet; hf: datasets.load_from_disk; "
                             "webdataset: tar shards; mp4: one video per run of an image key")
    export.add_argument("--shard-size", default="256MB", help="hf/webdataset: samples per shard (1000) or bytes (256MB, the default)")
    export.add_argument("--fps", type=float, default=10.0, help="mp4: frames per second (default 10)")
    export.add_argument("--workers", type=int, default=None, help="reads in flight (default 4 local, 16 on an object store)")
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export of another query in OUT")
    export.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")
    export.set_defaults(func=_cmd_export)
    imp = sub.add_parser("import", help="import W&B run folders or TensorBoard event files as runs")
    imp_sub = imp.add_subparsers(dest="source", required=True)
    for source, what, help_text in (
        ("wandb", "PATH", "a W&B run folder (wandb/offline-run-...) or the wandb/ folder holding many"),
        ("tensorboard", "LOGDIR", "a TensorBoard log directory: each folder holding event files becomes a run"),
    ):
        one = imp_sub.add_parser(source, help=help_text)
        one.add_argument("path", metavar=what, help=help_text)
        _store_arg(one)
        one.add_argument("--project", default=None,
                         help="project of the imported runs (default: the W&B run's project; for TensorBoard the log directory's name)")
        one.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
        one.set_defaults(func=_cmd_import)
    ui = sub.add_parser("ui", help="serve a local web viewer of the store (runs, charts, media with overlays, 3D)")
    _store_arg(ui)
    ui.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    ui.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 shares it with the network)")
    ui.add_argument("--open", action="store_true", help="open the viewer in the default browser")
    ui.set_defaults(func=_cmd_ui)
    from .sync import add_parser as add_sync_parser

    add_sync_parser(sub)
    args = parser.parse_args(argv)
    import duckdb

    from .errors import MediaStoreError

    try:
        return args.func(args)
    except MediaStoreError as exc:
        print(f"mediastore: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        print(f"mediastore: SQL error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
