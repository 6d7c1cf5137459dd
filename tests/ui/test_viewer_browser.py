"""The viewer in a real browser: what a person does on each page, checked on what the page draws."""

from __future__ import annotations

import time

from ui_store import HOSTILE, SCREENSHOTS


def wait_until(page, expression: str, timeout: float = 10.0):
    """Poll a JavaScript expression until it is truthy. (The page's CSP forbids the string
    evaluation that Playwright's wait_for_function does inside the page.)"""
    deadline = time.monotonic() + timeout
    while not (value := page.evaluate(expression)):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)
    return value


def run_hash(ids, i=0):
    return f"#/p/viewer/r/{ids[i]}"


def panel(page, key):
    return page.locator(f"section[data-key='{key}']")


def set_range(locator, value) -> None:
    """Move a slider the way a drag does: set its value and fire `input`."""
    locator.evaluate("(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true })); }", value)


def mask_alpha(page, key="val", name="predictions") -> int:
    """The summed alpha of a mask's overlay canvas: 0 when nothing is drawn."""
    return panel(page, key).locator(f"canvas[data-mask='{name}']").first.evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 3).reduce((a, b) => a + b, 0)"
    )


def test_projects_and_runs_pages_list_runs_and_chart_them(page, viewer_store):
    page.open("#/")
    assert page.locator("a", has_text="viewer").count() == 1
    page.open("#/p/viewer")
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == 2
    page.wait_for_selector(".charts[data-charted='1'] .uplot")  # the one scalar key, both runs overlaid
    assert page.locator(".chart[data-key='loss'] .u-series").count() == 3  # step + one series per run
    page.fill("input[aria-label='filter runs']", "baseline")
    wait_until(page, "document.querySelectorAll('table.runs tbody tr').length === 1")
    assert page.locator("table.runs tbody tr").first.get_attribute("data-run") == viewer_store[1][0]
    # W&B's labels: a group column and tags as chips, the hostile tag as text; a tag filters too.
    headers = page.locator("table.runs thead th").all_inner_texts()
    assert headers[5:7] == ["group", "tags"]
    row = page.locator("table.runs tbody tr").first
    assert row.locator("td").nth(5).inner_text() == "sweep-a"
    assert row.locator(".tag").all_inner_texts() == ["cpu-run", HOSTILE[:64]]
    assert headers[7:] == ["loss.min"]  # a define_metric summary's aggregate has a column of its own
    assert row.locator("td").nth(7).inner_text() == "0.3333"
    assert page.evaluate("document.title") != "pwned"
    page.fill("input[aria-label='filter runs']", "cpu-run")
    wait_until(page, "document.querySelectorAll('table.runs tbody tr').length === 1")
    assert page.locator("table.runs tbody tr").first.get_attribute("data-run") == viewer_store[1][0]


def test_step_slider_changes_the_image(page, viewer_store):
    page.open(run_hash(viewer_store[1]))
    val = panel(page, "val")
    val.locator("[data-shown-step='2']").wait_for()
    last = val.locator(".imgview img").first.get_attribute("src")
    set_range(val.locator("input[data-step-slider]"), 0)
    val.locator("[data-shown-step='0']").wait_for()
    first = val.locator(".imgview img").first.get_attribute("src")
    assert first != last
    assert val.locator(".caption").first.inner_text() == "step 0"
    # The image really is another one: its red channel follows the step.
    red = val.locator(".imgview img").first.evaluate(
        "img => { const c = new OffscreenCanvas(img.naturalWidth, img.naturalHeight); const x = c.getContext('2d');"
        " x.drawImage(img, 0, 0); return x.getImageData(0, 0, 1, 1).data[0]; }"
    )
    assert red < 60


def test_mask_toggles_and_fades(page, viewer_store):
    page.open(run_hash(viewer_store[1]))
    val = panel(page, "val")
    val.locator("canvas[data-mask='predictions'][data-loaded='1']").first.wait_for()
    drawn = mask_alpha(page)
    assert drawn > 0
    # class 0 is "background": off by default, so only the car and person pixels are coloured
    assert drawn == round(255 * 0.5) * (20 * 25 + 20 * 20)
    val.locator("input[data-opacity='predictions']").first.evaluate(
        "el => { el.value = '1'; el.dispatchEvent(new Event('input')); }")
    assert mask_alpha(page) == 255 * (20 * 25 + 20 * 20)
    val.locator("input[data-toggle-class='2']").first.uncheck()
    assert mask_alpha(page) == 255 * 20 * 25
    val.locator("input[data-toggle-mask='predictions']").first.uncheck()
    assert mask_alpha(page) == 0


def test_score_threshold_drops_boxes(page, viewer_store):
    page.open(run_hash(viewer_store[1]))
    val = panel(page, "val")
    boxes = val.locator(".imgview svg").first
    val.locator(".imgview svg[data-drawn]").first.wait_for()
    assert boxes.get_attribute("data-drawn") == "3"
    set_range(val.locator("input[data-threshold]").first, 0.5)
    assert boxes.get_attribute("data-drawn") == "2"
    assert boxes.locator("rect").count() == 2
    set_range(val.locator("input[data-threshold]").first, 0.95)
    assert boxes.get_attribute("data-drawn") == "0"
    set_range(val.locator("input[data-threshold]").first, 0)
    val.locator("input[data-toggle-class='1']").first.uncheck()  # both car boxes go
    assert boxes.get_attribute("data-drawn") == "1"


def test_audio_plays(page, viewer_store):
    page.open(run_hash(viewer_store[1]))
    audio = panel(page, "tone").locator("audio")
    audio.wait_for()
    audio.evaluate("a => a.play()")
    wait_until(page, "document.querySelector(\"section[data-key='tone'] audio\").currentTime > 0.2")
    assert audio.evaluate("a => a.duration") == 1.0


def test_video_plays_from_range_requests(page, viewer_store):
    partial = []
    page.on("response", lambda r: partial.append(r.url) if r.status == 206 and "/blob/" in r.url else None)
    page.open(run_hash(viewer_store[1]))
    video = panel(page, "clip").locator("video")
    video.wait_for()
    wait_until(page, "document.querySelector(\"section[data-key='clip'] video\").readyState >= 1")
    assert video.evaluate("v => v.duration") == 3.0  # 24 frames at 8 fps
    video.evaluate("v => v.play()")
    wait_until(page, "document.querySelector(\"section[data-key='clip'] video\").currentTime > 0.3")
    assert video.evaluate("v => v.videoWidth") == 48
    assert any(url.endswith(".webm") for url in partial)  # the browser streamed it by range


def test_point_cloud_is_thinned_to_the_limit_and_rotates(page, viewer_store):
    ranges = []
    page.on("request", lambda r: ranges.append(r.headers.get("range")) if r.url.endswith(".npy") else None)
    page.open(run_hash(viewer_store[1]))
    canvas = panel(page, "cloud").locator("canvas[data-kind='pointcloud']")
    canvas.scroll_into_view_if_needed()
    page.wait_for_selector("canvas[data-kind='pointcloud'][data-points-drawn]", timeout=30_000)
    assert int(canvas.get_attribute("data-points-drawn")) == 200_000  # 400,000 thinned to every 2nd
    assert "at most 300,000" in panel(page, "cloud").inner_text()
    assert len([r for r in ranges if r]) == 3  # the header, then 4.8 MB of points in two 4 MiB ranges
    before, shot = canvas.get_attribute("data-azimuth"), canvas.screenshot()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 150, box["y"] + box["height"] / 2 + 20, steps=10)
    page.mouse.up()
    assert canvas.get_attribute("data-azimuth") != before
    assert canvas.screenshot() != shot


def drawn_3d(page, ids, key: str, kind: str, done: str):
    """The 3D canvas of a key on the first run's page, once its `done` attribute is set."""
    page.open(run_hash(ids))
    canvas = panel(page, key).locator(f"canvas[data-kind='{kind}']")
    canvas.scroll_into_view_if_needed()
    page.wait_for_selector(f"section[data-key='{key}'] canvas[{done}]")
    return canvas


def test_a_pts_json_scene_in_3d(page, viewer_store):
    canvas = drawn_3d(page, viewer_store[1], "scene", "pointcloud", "data-points-drawn")
    assert canvas.get_attribute("data-points-drawn") == "50"
    assert canvas.get_attribute("data-lines") == "13"  # the box's 12 edges and the vector


def test_molecule_in_3d(page, viewer_store):
    canvas = drawn_3d(page, viewer_store[1], "water", "molecule", "data-atoms")
    assert canvas.get_attribute("data-atoms") == "3"
    assert canvas.get_attribute("data-bonds") == "2"


def test_histogram_heat_map(page, viewer_store):
    page.open(run_hash(viewer_store[1]))
    heat = panel(page, "weights").locator(".heatmap canvas")
    heat.wait_for()
    assert heat.get_attribute("data-steps") == "3"
    assert heat.get_attribute("data-bins") == "64"


def test_logged_html_is_sandboxed(page, viewer_store):
    page.open(run_hash(viewer_store[1]))
    frame_el = panel(page, "report").locator("iframe")
    assert frame_el.get_attribute("sandbox") == "allow-scripts"
    frame = frame_el.element_handle().content_frame()
    # Null-safe: until the frame has loaded the logged page, it holds about:blank, without #p.
    wait_until(frame, "document.getElementById('p')?.textContent.startsWith('sandboxed')")
    assert page.title() == "mediastore"


def test_table_with_image_cells(page, viewer_store):
    page.open(run_hash(viewer_store[1]))
    table = panel(page, "samples")
    table.locator("table.grid tbody tr").first.wait_for()
    assert table.locator("tbody tr").count() == 3
    assert table.locator("tbody .imgview img").count() == 3
    assert table.locator("tbody .imgview svg rect").count() == 9  # the cells' boxes are drawn too
    assert table.locator("tbody td", has_text="<b>bold</b>").count() == 1  # shown as text, not markup


def test_w_and_b_charts_are_drawn_above_their_tables(page, viewer_store):
    page.open(run_hash(viewer_store[1]))
    roc = panel(page, "roc_table").locator(".plot[data-spec='wandb/area-under-curve/v0'] svg.plot-svg")
    roc.wait_for()
    assert roc.get_attribute("data-series") == "2"  # a curve per class, named by labels
    assert sorted(roc.locator("path").evaluate_all("ps => ps.map(p => p.dataset.group)")) == ["neg", "pos"]
    assert panel(page, "roc_table").locator("table.grid:not(.matrix) tbody tr").count() > 0  # the table, below
    cm = panel(page, "cm_table").locator("table.matrix")
    cm.wait_for()
    assert cm.get_attribute("data-cells") == "4"
    assert cm.locator("tbody td").all_inner_texts() == ["2", "1", "1", "2"]  # each class: 2 right, 1 wrong
    bars = panel(page, "bars_table").locator(".bars")
    bars.wait_for()
    assert bars.get_attribute("data-bars") == "9"
    assert bars.locator(".bar-label", has_text="<b>odd</b>").count() == 4  # text, not markup
    spread = panel(page, "spread_table").locator("svg.plot-svg")
    spread.wait_for()
    assert spread.get_attribute("data-values") == "9" and spread.locator("rect").count() == int(spread.get_attribute("data-bins"))
    dots = panel(page, "dots_table").locator("svg.plot-svg")
    dots.wait_for()
    assert dots.locator("circle").count() == 9
    custom = panel(page, "custom_table")
    custom.locator(".plot", has_text="chart team/own/v1: not drawn here").wait_for()
    assert custom.locator("table.grid tbody tr").count() == 9


def test_compare_one_key_across_runs(page, viewer_store):
    ids = viewer_store[1]
    page.open(f"#/p/viewer/compare?kind=images&key=val&runs={ids[0]},{ids[1]}")
    page.wait_for_selector(".compare [data-run] .imgview img")
    assert page.locator(".compare [data-run]").count() == 2
    set_range(page.locator("input[data-step-slider]"), 1)
    page.wait_for_selector("[data-shown-step='1']")
    assert page.locator(".compare .caption", has_text="step 1").count() == 2


def test_user_text_is_never_markup(page, viewer_store):
    page.open("#/p/viewer")
    page.wait_for_selector(".charts .uplot")  # the chart's legend names the runs too
    assert page.locator("table.runs", has_text=HOSTILE).count() == 1  # the name, as text
    assert page.locator(".chart", has_text=HOSTILE).count() == 1
    assert page.locator("img[src='x']").count() == 0
    page.open(run_hash(viewer_store[1], 1))
    assert page.locator("h1", has_text=HOSTILE).count() == 1
    assert page.locator("img[src='x']").count() == 0
    assert page.title() == "mediastore"


def test_a_store_on_s3(browser, s3_bucket, rgb, request):
    """The same pages over a bucket: runs, and an image with its mask, streamed from S3."""
    import uuid

    import numpy as np

    import mediastore as ms
    from mediastore.ui import ViewerServer

    store = f"s3://{s3_bucket}/viewer-{uuid.uuid4().hex[:8]}"
    mask = np.zeros(rgb.shape[:2], np.uint8)
    mask[4:12, 4:20] = 1
    with ms.init(project="team", store=store, name="on-s3") as run:
        run.log({"loss": 0.5, "img": ms.Image(rgb, masks={"m": {"mask_data": mask, "class_labels": {1: "car"}}})})
    server = ViewerServer(store, port=0)
    server.start()
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(server.url + f"#/p/team/r/{run.run_id}")
        page.wait_for_selector("canvas[data-mask='m'][data-loaded='1']")
        assert page.locator(".imgview img").evaluate("img => img.naturalWidth") == rgb.shape[1]
        alpha = page.locator("canvas[data-mask='m']").evaluate(
            "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 3 && _ > 0).length")
        assert alpha == 8 * 16
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
        server.shutdown()
        server.server_close()


def test_a_running_run_is_followed(browser, tmp_path, rgb, request):
    """While a run is being written, its page picks up new steps: the slider at its end moves on."""
    import mediastore as ms
    from mediastore.ui import ViewerServer

    store = str(tmp_path / "store")
    run = ms.init(project="live", store=store, settings=ms.Settings(flush_seconds=0.2, spool_seconds=0.1))
    server = ViewerServer(store, port=0)
    server.start()
    context = browser.new_context()
    page = context.new_page()
    try:
        for step in range(3):  # W&B semantics: a step is committed when a later one is logged
            run.log({"loss": 1.0 / (step + 1), "img": ms.Image(rgb)}, step=step)
        wait = time.monotonic() + 10
        while ms.open(store).sql("SELECT count(*) FROM images").fetchall()[0][0] < 2:
            assert time.monotonic() < wait
            time.sleep(0.1)
        page.goto(server.url + f"#/p/live/r/{run.run_id}")
        page.wait_for_selector("[data-shown-step='1']")
        assert page.locator("h1 .live").count() == 1
        run.log({"loss": 0.1, "img": ms.Image(rgb[::-1].copy())}, step=3)  # commits step 2
        page.wait_for_selector("[data-shown-step='2']", timeout=20_000)  # one or two 5-second polls
        run.finish()
        page.wait_for_selector("h1:not(:has(.live))", timeout=20_000)  # finished: the page stops polling
        page.wait_for_selector("[data-shown-step='3']")  # and shows the last step, written at finish
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    finally:
        run.finish()  # a second finish does nothing
        context.close()
        server.shutdown()
        server.server_close()
