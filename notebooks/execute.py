"""Execute the notebooks in place, outputs saved, so that the committed ones show fresh results:

    python notebooks/execute.py                    # all of them
    python notebooks/execute.py quickstart.ipynb   # some

Each runs in a ``python3`` kernel (``pip install -e ".[all,dev]"`` installs ipykernel and its
kernelspec). ``quickstart`` and ``sql_boxes_masks`` write to ``$MEDIASTORE_NOTEBOOK_STORE``, else
a fresh temporary folder each. ``team_s3`` writes to ``$MEDIASTORE_TEAM_STORE``; when that is not
set, this script starts a moto S3 server on loopback with fake credentials, points the AWS_*
variables at it and creates the bucket of the default store, so no real bucket is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ("quickstart.ipynb", "sql_boxes_masks.ipynb", "team_s3.ipynb")
S3_NOTEBOOKS = ("team_s3.ipynb",)
DEFAULT_TEAM_STORE = "s3://my-team-bucket/mediastore"
#: Seconds one cell may run: the S3 notebook's writers take about 10 s, the rest much less.
CELL_TIMEOUT = 120


def execute(path: Path, *, timeout: int = CELL_TIMEOUT):
    """Run every cell of the notebook at ``path`` in a fresh ``python3`` kernel whose working
    folder is the notebook's; returns the executed notebook (raises at the first failing cell).
    The kernel inherits this process's environment: set the store variables before calling."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", record_timing=False,  # no timestamps: small diffs
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


@contextlib.contextmanager
def loopback_s3(store: str):
    """A moto S3 server on 127.0.0.1 with fake credentials in the AWS_* variables, and the
    bucket of ``store`` created; the variables are restored afterwards."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request on stderr

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        # patch.dict puts the environment back as it was on exit, the popped variables included.
        with mock.patch.dict(os.environ):
            host, port = server.get_host_and_port()
            for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
                os.environ.pop(k, None)
            os.environ.update(
                AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                AWS_ENDPOINT_URL=f"http://{host}:{port}",
            )
            boto3.client("s3").create_bucket(Bucket=store.removeprefix("s3://").split("/", 1)[0])
            yield
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=list(NOTEBOOKS), help="notebooks to run (default: all)")
    args = parser.parse_args(argv)
    for name in args.names:
        path = HERE / Path(name).name
        s3 = path.name in S3_NOTEBOOKS and "MEDIASTORE_TEAM_STORE" not in os.environ
        with loopback_s3(DEFAULT_TEAM_STORE) if s3 else contextlib.nullcontext():
            print(f"executing {path.name}{' against a loopback S3 server' if s3 else ''} ...", file=sys.stderr)
            notebook = execute(path)
        nbformat.write(notebook, path)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
