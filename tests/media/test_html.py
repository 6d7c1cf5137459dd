"""ms.Html: every input form of the reference page, byte for byte, the injected stylesheet, and
every documented error."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

import mediastore as ms
from mediastore.media.html import DEFAULT_HEAD

# Non-ASCII text and CRLF line ends: a lossy round trip (re-encoding, newline translation)
# would change these bytes.
PAGE = '<!DOCTYPE html>\r\n<html lang="ja">\r\n<head><title>結果</title></head>\r\n<body><p>精度 0.93 ✓</p></body>\r\n</html>\r\n'
PAGE_BYTES = PAGE.encode("utf-8")
PAGE_INJECTED = PAGE.replace("<head>", "<head>" + DEFAULT_HEAD, 1)
SEED_LINK = '<a href="https://mysite">Link</a>'


def log_and_decode(uri, *pages, key="page"):
    """Log Html items under one key, read them back through SQL, decode each row."""
    with ms.init(project="p", store=uri) as run:
        run.log({key: list(pages)})
    store = ms.open(uri)
    rows = store.sql("SELECT * FROM html ORDER BY idx").df()
    assert rows["idx"].tolist() == list(range(len(pages)))
    return store, rows, [store.decode(row) for _, row in rows.iterrows()]


@pytest.fixture
def page_file(tmp_path):
    path = tmp_path / "some.html"
    path.write_bytes(PAGE_BYTES)
    return path


# Every form reads the same bytes: file objects in binary mode and with newline="" (text mode
# without newline translation), paths byte for byte.
INPUTS = {
    "str": lambda path: PAGE,
    "path-str": lambda path: str(path),
    "pathlib": lambda path: path,
    "text-file": lambda path: open(path, encoding="utf-8", newline=""),
    "binary-file": lambda path: open(path, "rb"),
    "StringIO": lambda path: io.StringIO(PAGE, newline=""),
    "BytesIO": lambda path: io.BytesIO(PAGE_BYTES),
}


@pytest.mark.parametrize("form", list(INPUTS))
@pytest.mark.parametrize(("inject", "expected"), [(False, PAGE), (True, PAGE_INJECTED)], ids=["inject=False", "inject=True"])
def test_every_input_form_round_trips_byte_for_byte(store_uri, page_file, form, inject, expected):
    source = INPUTS[form](page_file)
    store, rows, (back,) = log_and_decode(store_uri, ms.Html(source, inject=inject))
    if hasattr(source, "close"):
        assert not source.closed  # the caller's file stays the caller's
        source.close()
    assert back.html == expected
    assert back.to_bytes() == expected.encode("utf-8")
    assert back.inject is inject and rows.loc[0, "inject"] == inject
    blob = rows.loc[0, "blob"]
    assert blob["mime"] == "text/html"
    assert store.location.get_blob(blob) == expected.encode("utf-8")  # the stored object itself


def test_text_mode_file_stores_what_read_returns(store_uri, page_file):
    # open(path) translates "\r\n" to "\n": the text read is what is stored.
    with open(page_file, encoding="utf-8") as fh:
        _, _, (back,) = log_and_decode(store_uri, ms.Html(fh, inject=False))
    assert back.html == PAGE.replace("\r\n", "\n")


def test_reference_page_examples(store_uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pathlib.Path("some.html").write_text("<html><body><h1>Report</h1></body></html>", encoding="utf-8")
    with ms.init(project="p", store=store_uri) as run:
        run.log({"custom_file": ms.Html(open("some.html"))})
        run.log({"custom_string": ms.Html('<a href="https://mysite">Link</a>')})
        run.log({"custom_file": ms.Html(open("some.html"), inject=False)})
    store = ms.open(store_uri)
    rows = store.sql("SELECT * FROM html ORDER BY step").df()
    assert list(zip(rows["step"], rows["key"], rows["inject"])) == [
        (0, "custom_file", True),
        (1, "custom_string", True),
        (2, "custom_file", False),
    ]
    assert [store.decode(row).html for _, row in rows.iterrows()] == [
        f"<html><head>{DEFAULT_HEAD}</head><body><h1>Report</h1></body></html>",
        DEFAULT_HEAD + SEED_LINK,
        "<html><body><h1>Report</h1></body></html>",
    ]


# -- injection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("<html><head><title>t</title></head><body>b</body></html>", "<html><head>{D}<title>t</title></head><body>b</body></html>"),
        ('<HTML lang="en"><HEAD id="h"></HEAD></HTML>', '<HTML lang="en"><HEAD id="h">{D}</HEAD></HTML>'),
        ("<html><body>b</body></html>", "<html><head>{D}</head><body>b</body></html>"),
        ("<!DOCTYPE html>\n<p>x</p>", "<!DOCTYPE html>{D}\n<p>x</p>"),
        ("<header>not a head</header>", "{D}<header>not a head</header>"),
        (SEED_LINK, "{D}" + SEED_LINK),
        ("", "{D}"),
        ("<head>{D}</head><p>logged twice</p>", "<head>{D}</head><p>logged twice</p>"),  # not injected again
    ],
    ids=["head", "case-and-attributes", "html-only", "doctype", "header-is-not-head", "fragment", "empty", "already-injected"],
)
def test_inject_places_the_default_head(store_uri, given, expected):
    given = given.replace("{D}", DEFAULT_HEAD)
    _, _, (back,) = log_and_decode(store_uri, ms.Html(given))
    assert back.html == expected.replace("{D}", DEFAULT_HEAD)


def test_default_head_loads_nothing_from_the_network():
    lowered = DEFAULT_HEAD.lower()
    for loader in ("http", "//", "url(", "@import", "src=", "href=", "<link", "<script"):
        assert loader not in lowered, loader
    assert lowered.startswith('<base target="_blank"><style') and lowered.endswith("</style>")


# -- SQL, lists, summary ------------------------------------------------------------------------


def test_view_columns_and_media_union(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"page": ms.Html(SEED_LINK, inject=False)})
    store = ms.open(store_uri)
    types = {name: type_ for name, type_, *_ in store.sql("DESCRIBE html").fetchall()}
    assert types["inject"] == "BOOLEAN" and types["blob"].startswith("STRUCT(uri VARCHAR")
    assert store.sql("SELECT kind, key, blob.mime, blob.length FROM media").fetchall() == [
        ("html", "page", "text/html", len(SEED_LINK))
    ]
    (row,) = store.sql("SELECT * FROM media").df().to_dict("records")
    assert store.decode(row).html == SEED_LINK  # a row of the media union decodes too


def test_a_list_under_one_key_keeps_its_order(store_uri):
    pages = [f"<p>page {i}</p>" for i in range(4)]
    _, rows, back = log_and_decode(store_uri, *(ms.Html(p, inject=False) for p in pages), key="pages")
    assert rows["key"].tolist() == ["pages"] * 4
    assert [h.html for h in back] == pages


def test_same_html_is_stored_once(store_uri):
    store, rows, _ = log_and_decode(store_uri, ms.Html(SEED_LINK), ms.Html(SEED_LINK))
    assert rows.loc[0, "blob"]["uri"] == rows.loc[1, "blob"]["uri"]


def test_summary(store_uri):
    with ms.init(project="p", store=store_uri) as run:
        run.log({"page": ms.Html(SEED_LINK, inject=False)})
        run.summary["report"] = ms.Html("<p>é</p>", inject=False)
    summary = json.loads(ms.open(store_uri).runs().loc[0, "summary"])
    assert summary["page"] == {"_kind": "html", "inject": False, "bytes": len(SEED_LINK)}
    assert summary["report"] == {"_kind": "html", "inject": False, "bytes": 9}


# -- errors -----------------------------------------------------------------------------------


class ReadsNumbers:
    def read(self):
        return 42


def closed_file(tmp_path):
    fh = open(tmp_path / "closed.html", "w")
    fh.close()
    return fh


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        pytest.param(lambda tmp: ms.Html(42), ms.InvalidMediaTypeError, r"takes a str of HTML, a file object or the path of an \.html file, got int", id="int"),
        pytest.param(lambda tmp: ms.Html(b"<p>x</p>"), ms.InvalidMediaTypeError, r"got bytes", id="bytes"),
        pytest.param(lambda tmp: ms.Html(str(tmp / "missing.html")), ms.MediaFileNotFoundError, r"missing\.html' does not exist .*check the path", id="missing-path"),
        pytest.param(lambda tmp: ms.Html(tmp / "notes.txt"), ms.InvalidMediaError, r"notes\.txt' does not end in \.html or \.htm; .*pass its text as a str", id="not-html-suffix"),
        pytest.param(lambda tmp: ms.Html(io.BytesIO(b"<p>caf\xe9</p>")), ms.InvalidMediaError, r"is not UTF-8 \(byte 0xe9 at offset 6\); .*decode\('latin-1'\)", id="latin-1-bytes"),
        pytest.param(lambda tmp: ms.Html(ReadsNumbers()), ms.InvalidMediaTypeError, r"read\(\) returned int; expected str or bytes", id="read-returns-int"),
        pytest.param(lambda tmp: ms.Html(closed_file(tmp)), ms.InvalidMediaError, r"could not read the file object .*closed file.* pass an open file", id="closed-file"),
        pytest.param(lambda tmp: ms.Html(SEED_LINK, inject="yes"), ms.InvalidMediaTypeError, r"inject is 'yes'; it must be True or False", id="inject-not-bool"),
    ],
)
def test_errors_name_the_value_and_the_fix(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        make(tmp_path)


def test_a_non_utf8_file_by_path_is_refused(tmp_path):
    path = tmp_path / "latin.html"
    path.write_bytes(b"<p>\xe9</p>")
    with pytest.raises(ms.InvalidMediaError, match=r"file '.*latin\.html' is not UTF-8 \(byte 0xe9 at offset 3\)"):
        ms.Html(path)


def test_a_str_with_markup_is_html_even_when_it_ends_in_html(store_uri):
    text = "<p>see</p> report.html"
    _, _, (back,) = log_and_decode(store_uri, ms.Html(text, inject=False))
    assert back.html == text


@pytest.mark.parametrize(
    "bad_call",
    [
        lambda run: run.log({"ok": ms.Html(SEED_LINK), "bad": ms.Html(42)}),  # fails building the dict
        lambda run: run.log({"ok": ms.Html(SEED_LINK), "bad": object()}),  # fails inside run.log
    ],
    ids=["bad-html", "bad-value"],
)
def test_a_failed_log_call_stores_nothing(store_uri, bad_call):
    with ms.init(project="p", store=store_uri) as run:
        with pytest.raises((ms.InvalidMediaTypeError, ms.InvalidLogError)):
            bad_call(run)
    store = ms.open(store_uri)
    assert store.sql("SELECT count(*) FROM html").fetchall() == [(0,)]
    assert store.location.fs.glob(store.location.path("blobs", "**")) == []  # no blob either
