"""Reading a store: DuckDB views over the Parquet files, pandas frames, and decoding rows back
into media objects.

Every table of ``schemas/`` is a view with its full schema, also before anything of its kind
was logged. ``media`` is the union of every view that has a ``blob``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._lazy import np
from .errors import InvalidMediaError, InvalidQueryError, RunNotFoundError
from .catalog import Catalog, project_of_index
from .media.base import media_type, registered_kinds
from .schema import PARTITION_DIRS, schema_for, schema_versions, table_names
from .storage import StoreLocation, partition_of, validate_name

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pandas as pd

    from .frames import MediaFrame, QueryResult

__all__ = ["Store", "open_store"]

_COMMON = ("project", "run_id", "step", "key", "idx", "logged_at")
#: Words of a query that lists views rather than reading one: every view is made for it.
_INTROSPECTION = frozenset({"show", "information_schema", "duckdb_views", "duckdb_tables", "duckdb_columns", "pragma"})


def _quote(text: str) -> str:
    """A SQL string literal; used only for names the store itself made (paths, validated names)."""
    return "'" + text.replace("'", "''") + "'"


def _padded(arguments: str, columns) -> str:
    """``FROM`` read_parquet(``arguments``, union_by_name = true) with every one of ``columns``:
    union_by_name leaves out a column no file has (all of them of an older schema), so a
    row-less relation of every column, unioned by name, brings it in as NULL."""
    nulls = ", ".join(f'CAST(NULL AS {t}) AS "{n}"' for n, t in columns)
    return f"FROM (SELECT * FROM read_parquet({arguments}, union_by_name = true) UNION ALL BY NAME SELECT {nulls} WHERE false)"


def _ident(text: str) -> str:
    """The inside of a double-quoted SQL identifier."""
    return text.replace('"', '""')


class Store:
    """A store opened for reading (`ms.open`). Cheap to make; holds one DuckDB connection.

    Parameters
    ----------
    uri : str or os.PathLike
        The store's local folder or fsspec URI.
    storage_options : dict, optional
        Passed to fsspec.
    cache : bool, str or os.PathLike, optional
        Object stores only: the local file cache queries read through (cache.py). None
        (default) follows ``$MEDIASTORE_CACHE`` (``off``, or a folder), else
        ``~/.cache/mediastore/cache``; False turns it off; a path places it.
    """

    def __init__(self, uri: str | os.PathLike, storage_options: Mapping[str, Any] | None = None, *,
                 cache: bool | str | os.PathLike | None = None):
        self.location = StoreLocation(uri, storage_options, cache=cache)
        self.uri = self.location.uri
        # The DuckDB connection and its views are made at the first query that needs them:
        # opening a store to read a run's history (pyarrow alone) makes neither.
        self._connection: "duckdb.DuckDBPyConnection | None" = None
        self._catalog = Catalog(self.location)
        # Object stores without the local cache: pyarrow datasets over fsspec (the cache, when
        # on, hands DuckDB local copies to read exactly as it reads a local store).
        self._arrow_datasets = not self.location.is_local and self.location.protocol != "memory" and self.location.cache is None
        if self._arrow_datasets:
            import pyarrow.fs as pafs

            self._arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(self.location.fs))
        self._view_files: dict[str, Any] = {}  # the live files each view was made from
        self._defined: set[str] = set()  # views made so far (the others are made when first named)
        self._blob_tables = [t for t in table_names() if "blob" in schema_for(t).column_names]
        self._media_tables = set(registered_kinds())  # views that get a constant `kind` column

    @property
    def _con(self) -> "duckdb.DuckDBPyConnection":
        """The connection, made at first use."""
        if self._connection is None:
            import duckdb

            con = duckdb.connect()
            # A library does not draw on stdout. In Jupyter without ipywidgets the bar is off
            # already and DuckDB refuses the SET (an error at ms.open), so set it only when on.
            if con.sql("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]:
                con.execute("SET enable_progress_bar = false")
            if not self.location.is_local:
                con.register_filesystem(self.location.fs)
            con.execute('CREATE SCHEMA IF NOT EXISTS "tables"')
            self._connection = con
        return self._connection

    # -- views ------------------------------------------------------------------------------
    def _define_view(self, table: str, files: list[str], index: list[str] = (), project_files: list[tuple] = (),
                     complete: list[bool] | None = None) -> None:
        """(Re)define a view over ``files`` (paths DuckDB can open: local files, cached copies,
        or memory:// URLs). ``index``: for ``runs``, the live runs index files, read on top.
        ``project_files``: for the data tables, (path DuckDB opens, project, run_ids to leave
        out, whether it has every column) of each live project file, read on top (catalog.py).
        ``complete``: for each of ``files``, whether it is known to have every column of the
        newest schema (None: none is known to)."""
        schema = schema_for(table)
        columns = schema.duckdb_columns()
        has_kind = table in self._media_tables and "kind" not in schema.column_names
        kind = [f"{_quote(table)} AS kind"] if has_kind else []
        select = [
            f'"{PARTITION_DIRS[name]}" AS "{name}"' if name in schema.partition else f'CAST("{name}" AS {type_}) AS "{name}"'
            for name, type_ in columns
        ]
        if files and self._arrow_datasets:
            # Object stores: a pyarrow dataset over the catalog's list, registered in DuckDB. It
            # reads each file with one HEAD and ranged GETs, where read_parquet would glob and
            # stat every path through fsspec on every query (FACTS.md: 26 ms against 67 ms).
            self._con.register(f"__ms_files_{table}", self._dataset(table, files))
            source = f'FROM "__ms_files_{table}"'
        elif files:
            hive_types = ", ".join(f"{_quote(d)}: 'VARCHAR'" for d in PARTITION_DIRS.values())
            # No union_by_name over files known to have every column: it would open every
            # footer at every query (+45 % on a query over 500 small files). Files of an older
            # schema version may lack the newer columns (NULL in the view): those, and files
            # whose columns are not known, are read with it.
            if len(schema_versions(table)) == 1:
                complete = [True] * len(files)
            elif complete is None:
                complete = [False] * len(files)
            sources = []
            for whole in (True, False):
                group = [f for f, c in zip(files, complete) if c is whole]
                if not group:
                    continue
                arguments = f"[{', '.join(_quote(f) for f in group)}], hive_partitioning = true, hive_types = {{{hive_types}}}"
                sources.append(f"FROM read_parquet({arguments})" if whole else
                               _padded(arguments, [(n, t) for n, t in columns if n not in schema.partition]))
            source = sources[0]
            if len(sources) > 1:
                source = f"{sources[0]} UNION ALL SELECT {', '.join(select + kind)} {sources[1]}"
        else:
            select = [f'CAST(NULL AS {type_}) AS "{name}"' for name, type_ in columns]
            source = "WHERE false"
        body = f"SELECT {', '.join(select + kind)} {source}"
        if index:
            # The index holds project and run_id as columns (catalog.py): no hive columns.
            listed = ", ".join(_quote(f) for f in index)
            cast = ", ".join(f'CAST("{name}" AS {type_}) AS "{name}"' for name, type_ in columns)
            body = f"{body} UNION ALL SELECT {cast} {_padded(f'[{listed}], hive_partitioning = false', columns)}"
        for path, project, skip, whole in project_files:
            # run_id is a column, the project the directory (a constant here); the runs the
            # catalog reads from their own files are left out.
            cast = ", ".join(
                f"{_quote(project)} AS \"project\"" if name == "project" else f'CAST("{name}" AS {type_}) AS "{name}"'
                for name, type_ in columns
            )
            where = f" WHERE run_id NOT IN ({', '.join(_quote(r) for r in skip)})" if skip else ""
            arguments = f"[{_quote(path)}], hive_partitioning = false"
            read = f"FROM read_parquet({arguments})" if whole else _padded(arguments, [(n, t) for n, t in columns if n != "project"])
            body = f"{body} UNION ALL SELECT {', '.join([cast] + kind)} {read}{where}"
        if table == "runs":
            # One record per state change and heartbeat, per process (a shared run has several;
            # records.combined_record has the rule): each process's newest, a running one whose
            # writer stopped beating (killed, machine lost) as crashed; then the run's newest
            # record, running while any process is, else crashed if any is.
            stale = "epoch_us(now()) - epoch_us(updated_at) > 3 * coalesce(heartbeat_seconds, 30) * 1e6"
            special = {
                "state": "combined AS state",
                "last_step": "max_step AS last_step",
                "finished_at": "CASE WHEN combined = 'running' THEN NULL ELSE finished_at END AS finished_at",
            }
            shown = ", ".join(special.get(name, f'"{name}"') for name, _ in columns)
            per_process = (
                f"SELECT * EXCLUDE (rp), CASE WHEN state = 'running' AND {stale} THEN 'crashed' ELSE state END AS st FROM "
                f"(SELECT *, row_number() OVER (PARTITION BY project, run_id, process ORDER BY updated_at DESC) AS rp FROM ({body})) "
                "WHERE rp = 1"
            )
            body = (
                f"SELECT {shown} FROM (SELECT *, row_number() OVER w_new AS rn, "
                "CASE WHEN bool_or(st = 'running') OVER w THEN 'running' WHEN bool_or(st = 'crashed') OVER w THEN 'crashed' "
                "ELSE st END AS combined, max(last_step) OVER w AS max_step "
                f"FROM ({per_process}) WINDOW w AS (PARTITION BY project, run_id), "
                "w_new AS (PARTITION BY project, run_id ORDER BY updated_at DESC)) WHERE rn = 1"
            )
        self._con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {body}')
        self._defined.add(table)

    def _dataset(self, table: str, files: list[str]):
        import pyarrow as pa
        import pyarrow.dataset as ds

        schema = schema_for(table).file_schema.remove_metadata()
        for directory in PARTITION_DIRS.values():
            schema = schema.append(pa.field(directory, pa.string()))
        partitions = []
        for path in files:
            project, run_id = partition_of(path)
            partitions.append((ds.field("project") == project) & (ds.field("run") == run_id))
        return ds.FileSystemDataset.from_paths(
            files, schema=schema, format=ds.ParquetFileFormat(), filesystem=self._arrow_fs, partitions=partitions
        )

    def _define_media_view(self) -> None:
        cols = ", ".join(f'"{c}"' for c in ("kind", *_COMMON, "blob"))
        union = " UNION ALL ".join(f'SELECT {cols} FROM "{t}"' for t in self._blob_tables)
        self._con.execute(f"CREATE OR REPLACE VIEW media AS {union}")
        self._defined.add("media")

    def _refresh(self, query: str | None = None) -> None:
        """Point the views a query names at their live files (all views when ``query`` is None).
        Files come from the catalog, never from a glob: compaction and flaky listings are
        handled there, so a query sees every row exactly once."""
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query.lower())) if query is not None else None
        names = table_names()
        if words is not None:
            wanted = {t for t in names if t in words}
            if "media" in words:
                wanted.update(self._blob_tables)
            if (not wanted and "media" not in words) or words & _INTROSPECTION:
                # No view named, or the catalog asked for (SHOW TABLES, information_schema):
                # every view exists, as when views were made at open; those not made yet are empty.
                for table in names:
                    if table not in self._defined:
                        self._define_view(table, [])
                if "media" not in self._defined:
                    self._define_media_view()
            names = [t for t in names if t in wanted]
        for table in names:
            index: list[str] = []
            if table == "runs":
                index, files = self._catalog.runs_view_listing()
                project_files: list[tuple] = []
            else:
                table_listing = self._catalog.table_listing(table)
                files = table_listing.uncovered
                project_files = [(p, project_of_index(p), tuple(table_listing.skip[p])) for p in table_listing.index]
            # Versions too: a resumed run's compaction rewrites a published file under its name.
            versions = tuple(self._catalog.version(f) for f in files)
            if (files, versions, index, project_files) != self._view_files.get(table):
                readable = self._readable([p for p, _, _ in project_files])
                schema = schema_for(table)
                needed = {n for n in schema.column_names if n not in schema.partition}  # the rest are directories
                in_project_file = {n for n in schema.column_names if n != "project"}  # run_id is a column there
                whole = [c is not None and in_project_file <= c
                         for c in self._catalog.file_columns([p for p, _, _ in project_files], readable)]
                project = [(r, p, skip, w) for r, (_, p, skip), w in zip(readable, project_files, whole)]
                if self._arrow_datasets:
                    self._define_view(table, files, self._readable(index), project)
                else:
                    local = self._readable(files)
                    complete = [c is not None and needed <= c for c in self._catalog.file_columns(files, local)]
                    self._define_view(table, local, self._readable(index), project, complete)
                self._view_files[table] = (files, versions, index, project_files)
                if table == "tables":
                    self._define_table_views()
        if (words is None or "media" in words) and "media" not in self._defined:
            self._define_media_view()

    def _readable(self, paths: list[str]) -> list[str]:
        """Paths as DuckDB opens them: local files as they are, an object store's files as their
        copies in the local cache, else (memory, or the cache off) URLs on the registered fs."""
        if self.location.is_local or self.location.cache is not None:
            return self._catalog.local_copies(paths)
        return [self.location.url(p) for p in paths]

    def _define_table_views(self) -> None:
        """``tables."<key>"``: the rows of every table logged under the key, across runs and steps,
        with ``project, run_id, step, row`` first. A table column with one of those names is
        renamed with a trailing underscore (``step_``)."""
        logged = self._con.sql(
            'SELECT key, project, run_id, step, idx, blob.uri, columns, first_row, increment_of FROM main."tables" '
            "ORDER BY key, project, run_id, step, idx, logged_at"
        ).fetchall()
        by_key: dict[str, list] = {}
        increments: dict[tuple, list] = {}  # (key, project, run_id, idx, increment_of) -> [(step, path, first_row)]
        for key, project, run_id, step, idx, uri, columns, first_row, increment_of in logged:
            path = self.location.url(self.location.path(uri))
            if increment_of is None:
                by_key.setdefault(key, []).append((project, run_id, step, path, 0, columns))
                continue
            # An INCREMENTAL table at this step is every increment up to it.
            chain = increments.setdefault((key, project, run_id, idx, increment_of), [])
            chain.append((step, path, first_row))
            by_key.setdefault(key, []).extend((project, run_id, step, p, f, columns) for _, p, f in chain)
        reserved = ("project", "run_id", "step", "row")
        for key, items in by_key.items():
            paths = sorted({item[3] for item in items})
            columns: list[str] = []
            for *_, cols in items:
                columns.extend(c for c in cols if c not in columns)
            select = ", ".join(f'r."{_ident(c)}" AS "{_ident(c + "_" if c in reserved else c)}"' for c in columns)
            values = ", ".join(f"({_quote(p)}, {_quote(r)}, {int(s)}, {_quote(path)}, {int(f)})" for p, r, s, path, f, _ in items)
            self._con.execute(
                f'CREATE OR REPLACE VIEW "tables"."{_ident(key)}" AS '
                f'SELECT t.project, t.run_id, t.step, t.first_row + r.file_row_number AS "row"{", " + select if select else ""} '
                f"FROM read_parquet([{', '.join(_quote(p) for p in paths)}], filename = true, file_row_number = true, union_by_name = true) AS r "
                f"JOIN (VALUES {values}) AS t(project, run_id, step, path, first_row) ON r.filename = t.path"
            )

    # -- public API -------------------------------------------------------------------------
    def sql(self, query: str, params: Any = None) -> "duckdb.DuckDBPyRelation":
        """Run DuckDB SQL over the views; returns a relation (``.df()``, ``.fetchall()``,
        ``.to_arrow_table()``, ...). ``params`` fills ``?`` or ``$name`` placeholders: pass user
        values that way, never by formatting them into the SQL text.

        Views: runs, scalars, texts, images, histograms, objects3d, molecules, videos, audio,
        tables, html, media.
        """
        self._refresh(query)
        return self._con.sql(query, params=params)

    def show(self, query: str, params: Any = None, limit: int = 50) -> "QueryResult":
        """The first rows of a query, to look at in Jupyter: an HTML table where ``blob``
        structs of images are thumbnails read from the store, other blobs their mime type and
        size, and lists of masks or boxes a count with their labels.

        Parameters
        ----------
        query : str
            DuckDB SQL over the views, as for `sql`.
        params : list or dict, optional
            Values for ``?`` or ``$name`` placeholders.
        limit : int
            Rows fetched and shown. Default 50: a screenful, and each image row reads a blob.

        Returns
        -------
        QueryResult
            ``.df`` is the rows as a DataFrame (``store.sql(query).df()`` cut at ``limit``);
            ``.truncated`` says whether the query has more. Its text form is the DataFrame's.

        Raises
        ------
        InvalidQueryError
            ``limit`` is not a positive int.

        Examples
        --------
        >>> store.show("SELECT run_id, step, caption, blob, boxes FROM images WHERE step > ?", [10])
        """
        from .frames import QueryResult

        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidQueryError(f"show got limit={limit!r}; limit is the number of rows to show, an int >= 1")
        frame = self.sql(query, params).limit(limit + 1).df()
        return QueryResult(frame.head(limit), self.location, limit=limit, truncated=len(frame) > limit)

    def runs(self, project: str | None = None) -> "pd.DataFrame":
        """One row per run (newest state), ordered by start time."""
        if project is None:
            return self.sql("SELECT * FROM runs ORDER BY started_at, run_id").df()
        return self.sql("SELECT * FROM runs WHERE project = ? ORDER BY started_at, run_id", [project]).df()

    def _project_of(self, run_id: str, project: str | None, *, verify: bool = True) -> str:
        """The project of a run. One listing of ``runs/`` (a delimiter LIST on a bucket) names
        the projects; with several, the run's directory is looked for in each, in parallel.
        ``verify=False``: with one project, trust it (the caller checks the run exists when it
        finds no rows)."""
        validate_name(run_id, "run_id")
        if project is not None:
            return validate_name(project, "project")
        runs_dir = self.location.path("runs")
        fs = self.location.fs
        if not self.location.is_local:
            fs.invalidate_cache(runs_dir)
        try:
            names = [p.rstrip("/").rsplit("/", 1)[1] for p in fs.ls(runs_dir, detail=False)]
        except FileNotFoundError:
            names = []
        candidates = sorted(n.split("=", 1)[1] for n in names if n.startswith("project="))
        if len(candidates) == 1 and not verify:
            return candidates[0]
        if len(candidates) <= 1 or self.location.is_local:
            projects = [p for p in candidates if self._run_exists(p, run_id)]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(16, len(candidates))) as pool:
                found = pool.map(lambda p: self._run_exists(p, run_id), candidates)
                projects = [p for p, yes in zip(candidates, found) if yes]
        if not projects:
            raise RunNotFoundError(f"no run {run_id!r} in the store at {self.uri}; store.runs() lists the runs")
        if len(projects) > 1:
            raise RunNotFoundError(f"run {run_id!r} exists in projects {sorted(projects)}; pass project=")
        return projects[0]

    def _run_exists(self, project: str, run_id: str) -> bool:
        """Whether the run has a record directory (one LIST on a bucket, no file read)."""
        directory = self.location.partition_dir("runs", project, run_id)
        if self.location.is_local:
            return os.path.isdir(directory)
        return self._catalog.has_files(directory)

    def history(self, run_id: str, keys: list[str] | None = None, *, project: str | None = None) -> "pd.DataFrame":
        """The scalars of one run: one row per step, one column per key, NaN where a key was not logged.

        Where a key was logged twice at one step (a lower step logged later), the later value wins.
        """
        import pandas as pd
        import pyarrow as pa
        import pyarrow.dataset as ds

        project = self._project_of(run_id, project, verify=False)
        files = self._catalog.live_files("scalars", project, run_id)
        if not files:
            if not self._run_exists(project, run_id):
                raise RunNotFoundError(f"no run {run_id!r} in the store at {self.uri}; store.runs() lists the runs")
            return pd.DataFrame({"step": pd.Series([], dtype="int64")})
        filesystem = None if self.location.is_local or self.location.cache is not None else self.location.fs
        # Keys are read as the dictionary the files store them in (no string per row to make,
        # then hash again): 100,000 rows read and coded in 3.7 ms instead of 6.4.
        parquet = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=["key"]))
        dataset = ds.dataset(self._catalog.local_copies(files), format=parquet, filesystem=filesystem)
        flt = None if keys is None else ds.field("key").isin(list(keys))
        # Read into the system allocator's memory, as the writer writes (storage.parquet_bytes):
        # with pyarrow's default (mimalloc) the first read of a process's 100,000 rows took
        # 12-32 ms in half the fresh processes measured, against 4-8.5 ms every time.
        table = dataset.to_table(columns=["step", "key", "value", "logged_at"], filter=flt,
                                 memory_pool=pa.system_memory_pool())
        steps = table.column("step").to_numpy()
        logged = table.column("logged_at").cast(pa.int64()).to_numpy()
        values = table.column("value").to_numpy()
        if table.column("key").num_chunks > 1:
            table = table.unify_dictionaries()  # each file's dictionary: one for every chunk
        key = table.column("key")
        names = key.chunk(0).dictionary.to_pylist() if key.num_chunks else []
        codes = np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in key.chunks] or [np.empty(0, np.int32)])
        if keys is not None:
            # The dictionary holds every key of the files, the rows only those asked for: the
            # grid gets a column for each of these alone.
            asked = set(keys)
            kept = [i for i, name in enumerate(names) if name in asked]
            renumber = np.zeros(len(names), dtype=np.intp)
            renumber[kept] = np.arange(len(kept))
            codes, names = renumber[codes], [names[i] for i in kept]
        # Files are step-sorted: when the concatenation is too, the step index is one pass.
        if steps.size and np.all(steps[1:] >= steps[:-1]):
            boundaries = np.empty(steps.size, dtype=bool)
            boundaries[0] = True
            np.not_equal(steps[1:], steps[:-1], out=boundaries[1:])
            row_of = np.cumsum(boundaries) - 1
            unique_steps = steps[boundaries]
        else:
            unique_steps, row_of = np.unique(steps, return_inverse=True)
        grid = np.full((unique_steps.size, len(names)), np.nan, order="F")  # a key's column is contiguous
        if np.all(logged[1:] >= logged[:-1]):
            grid[row_of, codes] = values  # the last assignment to a cell wins: the later write
        else:
            order = np.argsort(logged, kind="stable")
            grid[row_of[order], codes[order]] = values[order]
        wanted = names if keys is None else [k for k in keys if k in names]
        columns = {"step": unique_steps}
        position = {n: i for i, n in enumerate(names)}
        for name in sorted(wanted) if keys is None else wanted:
            columns[name] = grid[:, position[name]]
        # The frame's columns are the grid's (this frame's alone): no copy into one block
        # (0.1 ms instead of 0.35 for 20,000 steps of 5 keys).
        return pd.DataFrame(columns, copy=False)

    def decode(self, row: Any):
        """A row of a media view (dict, pandas Series, or a row of ``media``) back to its object."""
        if hasattr(row, "to_dict"):
            row = row.to_dict()
        if not isinstance(row, Mapping):
            raise InvalidMediaError(f"decode takes a row as a dict or pandas Series, got {type(row).__name__}")
        kind = row.get("kind")
        if kind is None:
            raise InvalidMediaError(
                "decode needs the row's 'kind' column (every media view has it); select it with the row, e.g. SELECT * FROM images"
            )
        cls = media_type(kind)
        own = [c for c in schema_for(kind).column_names if c not in _COMMON and c != "process"]  # who wrote it: not needed
        missing = [c for c in own if c not in row]
        if missing:
            identity = ("project", "run_id", "step", "key", "idx")
            if not set(identity) <= set(row):
                raise InvalidMediaError(
                    f"decode needs a {kind} row with its columns {missing}, or {list(identity)} to look them up; "
                    f"select the whole row: SELECT * FROM {kind}"
                )
            row = self._full_row(kind, row)  # a row of `media`, or a partial selection
        return cls._from_row(row, self.location)

    def _full_row(self, kind: str, row: Mapping) -> dict:
        where = " AND ".join(f'"{c}" = ?' for c in ("project", "run_id", "step", "key", "idx"))
        rel = self.sql(f'SELECT * FROM "{kind}" WHERE {where}', [row[c] for c in ("project", "run_id", "step", "key", "idx")])
        names = [d[0] for d in rel.description]
        found = rel.fetchall()
        if not found:
            raise InvalidMediaError(f"no {kind} row for {dict((c, row[c]) for c in ('project', 'run_id', 'step', 'key', 'idx'))}")
        return dict(zip(names, found[-1]))

    def table(self, run_id: str, key: str, step: int | None = None, *, project: str | None = None) -> "MediaFrame":
        """A logged ``ms.Table`` as a DataFrame: the one at ``step``, or the latest if None.

        Media cells are dicts (the media view's columns plus ``kind``): pass one to `decode`.
        The frame is a `MediaFrame`, a ``pd.DataFrame`` that shows those cells as thumbnails
        in Jupyter.
        """
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        from .frames import MediaFrame
        from .media.table import _to_frame

        conditions, params = ["run_id = ?", "key = ?"], [run_id, key]
        if project is not None:
            conditions.append("project = ?")
            params.append(project)
        if step is not None:
            conditions.append("step = ?")
            params.append(int(step))
        found = self.sql(
            f'SELECT blob, project, step, idx, increment_of FROM main."tables" WHERE {" AND ".join(conditions)} '
            "ORDER BY step DESC, idx LIMIT 1",
            params,
        ).fetchall()
        if not found:
            at = "" if step is None else f" at step {step}"
            raise RunNotFoundError(f"no table {key!r} in run {run_id!r}{at}; SELECT run_id, key, step FROM tables lists them")
        blob, found_project, found_step, idx, increment_of = found[0]
        blobs = [blob]
        if increment_of is not None:  # an INCREMENTAL table: its increments up to this step, in order
            blobs = [b for (b,) in self.sql(
                'SELECT blob FROM main."tables" WHERE project = ? AND run_id = ? AND key = ? AND idx = ? AND increment_of = ? '
                "AND step <= ? ORDER BY step, logged_at",
                [found_project, run_id, key, idx, increment_of, found_step],
            ).fetchall()]
        parts = [pq.read_table(io.BytesIO(self.location.get_blob(b))) for b in blobs]
        arrow = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive").replace_schema_metadata(parts[-1].schema.metadata)
        return MediaFrame.of(_to_frame(arrow, self.location, decode=False), self.location)

    def export(self, query: str, out: str | os.PathLike, *, format: str = "files", params: Any = None,
               shard_size: int | str = "256MB", fps: float = 10.0, workers: int | None = None,
               overwrite: bool = False, progress: bool = True):
        """Export the media of a query's rows to a local folder, bit for bit (export.py).

        Parameters
        ----------
        query : str
            DuckDB SQL over the views whose rows hold media: a view's ``blob`` (``SELECT * FROM
            images WHERE ...``; also audio, videos, html, objects3d, molecules, media) or a
            logged table's rows with media cells (``SELECT * FROM tables."<key>"``). An image's
            ``masks`` are exported beside it.
        out : str or os.PathLike
            The folder to write (created; must be new, empty, or an export of the same query).
        format : {"files", "hf", "webdataset", "mp4"}
            ``files``: each blob as a file, ``<project>/<run_id>/<key>/<step>-<idx><ext>`` (the
            key escaped), masks as ``<same>.mask_<name>.png``, and ``metadata.parquet``: every
            column of the query plus ``file_name`` (and ``mask_file_names``). ``hf``: a Hugging
            Face dataset for ``datasets.load_from_disk``, with Image/Audio/Video features (bytes
            inside). ``webdataset``: tar shards, one sample per row (``<stem>.png`` +
            ``<stem>.json`` of its other columns). ``mp4``: one H.264 video per run of an image
            key, frames in step order.
        params : list or dict, optional
            Values for ``?`` or ``$name`` placeholders.
        shard_size : int or str
            hf and webdataset: samples per shard (an int), or bytes per shard (``"256MB"``,
            ``"1GiB"``; the default, "256MB": large enough that per-file costs vanish, small
            enough to spread over a loader's workers).
        fps : float
            mp4: frames per second. Default 10: a few hundred logged steps play in seconds.
        workers : int, optional
            Reads in flight. Default 4 on a local store, 16 on an object store (hides latency).
        overwrite : bool
            Replace an earlier export of another query in ``out``. A folder that is not an
            export is never touched.
        progress : bool
            A progress bar on stderr (tqdm if installed). Default True.

        Returns
        -------
        ExportReport
            ``written``/``skipped`` outputs (a second run of the same export skips what is
            complete), ``bytes_read``, ``seconds``; ``.summary()``.

        Raises
        ------
        NoMediaColumnError
            The query's rows have no media column.
        InvalidExportError
            An unknown format, a bad shard size, rows an mp4 cannot be made of.
        ExportExistsError
            ``out`` holds something else.
        BlobNotFoundError
            A blob is missing or does not match its sha256.

        Examples
        --------
        >>> store.export("SELECT * FROM images WHERE key = 'val/examples'", "out/val", format="files")
        """
        from .export import export

        return export(self, query, out, format=format, params=params, shard_size=shard_size, fps=fps,
                      workers=workers, overwrite=overwrite, progress=progress)

    def iter_media(self, query: str, params: Any = None, *, decode: bool = True, prefetch: int = 16,
                   shard: tuple[int, int] | None = None, workers: int | None = None):
        """The rows of a query as dicts with their media read, in order, ``prefetch`` rows read
        ahead in parallel: for a training loop (a PyTorch ``IterableDataset``).

        Parameters
        ----------
        query : str
            As for `export`: rows with a ``blob`` or a table's media cells.
        params : list or dict, optional
            Values for ``?`` or ``$name`` placeholders.
        decode : bool
            True (default): ``data`` is an array, an image ``(H, W[, C])`` as stored, audio float32
            ``(samples[, channels])``, a video uint8 ``(frames, H, W, 3)``; other kinds stay
            bytes. False: the original bytes.
        prefetch : int
            Rows read ahead. Default 16: enough to hide a bucket's round trips behind a step.
        shard : (int, int), optional
            ``(index, count)``: only rows ``index::count`` (a DataLoader worker's share).
        workers : int, optional
            Threads reading; default ``min(prefetch, 16)``.

        Returns
        -------
        iterator of dict
            Each row's columns, plus ``data`` (a view's blob), ``<column>_data`` (a table's media
            cell) and ``mask_data`` (``{mask name: array}``) where the rows have masks.

        Raises
        ------
        NoMediaColumnError
            The query's rows have no media column.
        InvalidExportError
            ``prefetch`` or ``shard`` is not allowed.
        """
        from .export import iter_media

        return iter_media(self, query, params=params, decode=decode, prefetch=prefetch, shard=shard, workers=workers)

    def delete(self, table: str, *, where: str, dry_run: bool = False) -> "DeleteReport":
        """Delete the rows of ``table`` (a view: ``images``, ``scalars``, ... or ``media``) that
        ``where`` matches, in finished or crashed runs; readers see each file before or after.

        Parameters
        ----------
        table : str
            The view the rule is written over (its columns as ``store.sql`` shows them).
        where : str
            A SQL condition, e.g. ``"kind = 'images' AND step % 10 <> 0 AND project = 'p'"``.
        dry_run : bool
            Count the rows and the bytes of the blobs they point at; change nothing.

        Returns
        -------
        delete.DeleteReport

        Raises
        ------
        RunRunningError
            A matching row is in a running run (nothing is deleted).
        InvalidQueryError
            ``where`` does not apply to the view.
        """
        import duckdb

        from .delete import check_rule, delete_rows

        con = self._con.cursor()
        runs = set()
        for view in check_rule(table, where, con):
            query = (f'SELECT DISTINCT project, run_id FROM "{view}" WHERE ({where})' if table != "media" else
                     f"SELECT DISTINCT project, run_id FROM media WHERE kind = '{view}' AND ({where})")
            try:
                runs.update(self.sql(query).fetchall())
            except duckdb.Error as exc:
                raise InvalidQueryError(f"the delete rule {where!r} does not apply to the {table} view "
                                        f"({str(exc).splitlines()[0]})") from None
        return delete_rows(self.location, table, where, runs=sorted(runs), dry_run=dry_run, con=con)

    def delete_run(self, run_id: str, *, project: str | None = None, dry_run: bool = False) -> "DeleteReport":
        """Delete a finished or crashed run: its rows of every table, then its records
        (README "Deleting rows and runs" says what readers see meanwhile). Raises
        `RunRunningError` for a running run, `RunNotFoundError` for an unknown one."""
        from .delete import delete_run

        return delete_run(self.location, run_id, project=project, dry_run=dry_run)

    def gc(self, *, dry_run: bool = False, grace_seconds: float | None = None) -> "GcReport":
        """One pass of blob garbage collection (blobgc.py): mark the blobs no row points at,
        free those marked by an earlier pass at least ``grace_seconds`` ago (default 300)."""
        from .blobgc import gc
        from .compact import GRACE_SECONDS

        return gc(self.location, dry_run=dry_run, grace_seconds=GRACE_SECONDS if grace_seconds is None else grace_seconds)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ms.Store {self.uri}>"


def open_store(uri: str | os.PathLike | None = None, storage_options: Mapping[str, Any] | None = None, *,
               cache: bool | str | os.PathLike | None = None) -> Store:
    """Open a store for querying: ``ms.open("./mediastore-data")``; ``cache`` as for `Store`."""
    from .storage import DEFAULT_STORE

    return Store(uri if uri is not None else os.environ.get("MEDIASTORE_STORE", DEFAULT_STORE), storage_options, cache=cache)
