// Renderers for one logged item of each kind, the histogram heat map, and scalar charts.
import { api, asMap, colour, el, errorBox, fmt, rgb } from "./dom.js";

const BACKGROUND = /^(background|bg|class_0|none|void|unlabeled|unlabelled)$/i;

// -- images with masks and boxes -------------------------------------------------------------
// Overlays are drawn here from the stored masks and boxes: one canvas per mask, one SVG for
// every box, so each can be toggled, faded and filtered without touching the pixels.
export function imageView(item, { controls = true, width = 320 } = {}) {
  const w = item.width, h = item.height;
  // Small images are enlarged by a whole factor (crisp pixels); large ones are shown smaller.
  const fit = width / Math.max(w, h);
  const scale = fit >= 1 ? Math.min(8, Math.floor(fit)) : fit;
  const box = el("div", { class: "imgview", style: `width:${w * scale}px;height:${h * scale}px` });
  box.append(el("img", { src: item.blob.url, alt: item.caption || item.key, width: w, height: h, draggable: "false" }));

  const classes = new Map(); // id -> label, from the masks and the box sets
  const state = { hidden: new Set(), maskOn: new Map(), opacity: new Map(), setOn: new Map(), threshold: 0, scoreKey: null };
  const masks = (item.masks || []).map((mask) => {
    for (const [id, label] of asMap(mask.class_labels)) classes.set(Number(id), label);
    const canvas = el("canvas", { width: w, height: h, dataset: { mask: mask.name } });
    box.append(canvas);
    state.maskOn.set(mask.name, true);
    state.opacity.set(mask.name, 0.5);
    return { mask, canvas, ids: null };
  });
  for (const set of item.box_sets || []) for (const [id, label] of asMap(set.class_labels)) classes.set(Number(id), label);
  const boxes = item.boxes || [];
  for (const b of boxes) {
    if (b.class_id !== null && !classes.has(b.class_id)) classes.set(b.class_id, b.label || `class ${b.class_id}`);
    if (!state.setOn.has(b.name)) state.setOn.set(b.name, true);
  }
  for (const [id, label] of classes) if (id === 0 && BACKGROUND.test(label)) state.hidden.add(id);
  const scoreKeys = [...new Set(boxes.flatMap((b) => [...asMap(b.scores).keys()]))];
  state.scoreKey = scoreKeys[0] || null;

  const svg = el("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none" });
  box.append(svg);
  const counter = el("span", { class: "box-count" });

  function drawMask(m) {
    const ctx = m.canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    if (!m.ids || !state.maskOn.get(m.mask.name)) return;
    const image = ctx.createImageData(w, h);
    const alpha = Math.round(255 * state.opacity.get(m.mask.name));
    const lut = new Map();
    for (let i = 0; i < m.ids.length; i++) {
      const id = m.ids[i];
      if (state.hidden.has(id)) continue;
      let c = lut.get(id);
      if (!c) { c = rgb(id); lut.set(id, c); }
      image.data[4 * i] = c[0]; image.data[4 * i + 1] = c[1]; image.data[4 * i + 2] = c[2]; image.data[4 * i + 3] = alpha;
    }
    ctx.putImageData(image, 0, 0);
  }

  function drawBoxes() {
    svg.replaceChildren();
    let drawn = 0;
    for (const b of boxes) {
      if (!state.setOn.get(b.name) || state.hidden.has(b.class_id)) continue;
      const scores = asMap(b.scores);
      const score = state.scoreKey !== null && scores.has(state.scoreKey) ? scores.get(state.scoreKey) : null;
      if (score !== null && score < state.threshold) continue;
      const fx = b.domain === "pixel" ? 1 : w, fy = b.domain === "pixel" ? 1 : h;
      const x = b.min_x * fx, y = b.min_y * fy, bw = (b.max_x - b.min_x) * fx, bh = (b.max_y - b.min_y) * fy;
      const stroke = colour(b.class_id ?? 0);
      const text = b.caption || [b.label, score === null ? null : score.toFixed(2)].filter((t) => t !== null && t !== undefined).join(" ");
      svg.append(el("g", { class: "box", dataset: { set: b.name } },
        el("rect", { x, y, width: bw, height: bh, fill: "none", stroke, "stroke-width": 2, "vector-effect": "non-scaling-stroke" }),
        text ? el("text", { x: x + 1 / scale, y: Math.max(11 / scale, y - 1 / scale), "font-size": 11 / scale, style: `stroke-width:${2 / scale}px` }, text) : null,
        el("title", {}, `${b.name}: ${text}`)));
      drawn++;
    }
    svg.dataset.drawn = String(drawn);
    counter.textContent = boxes.length ? `${drawn} of ${boxes.length} boxes shown` : "";
  }
  function redraw() { masks.forEach(drawMask); drawBoxes(); }

  for (const m of masks) {
    loadClassIds(m.mask.blob.url, w, h).then((ids) => { m.ids = ids; drawMask(m); m.canvas.dataset.loaded = "1"; })
      .catch((error) => box.after(errorBox(error)));
  }
  drawBoxes();

  const parts = [box];
  if (item.caption) parts.push(el("div", { class: "caption" }, item.caption));
  if (controls && (masks.length || boxes.length)) parts.push(overlayControls());
  return el("div", { class: "item image-item" }, parts);

  function overlayControls() {
    const rows = [];
    for (const m of masks) {
      rows.push(el("div", {},
        el("label", {}, el("input", { type: "checkbox", checked: true, dataset: { toggleMask: m.mask.name },
          onchange: (e) => { state.maskOn.set(m.mask.name, e.target.checked); drawMask(m); } }), `mask ${m.mask.name}`),
        el("label", {}, "opacity", el("input", { type: "range", min: 0, max: 1, step: 0.05, value: 0.5, dataset: { opacity: m.mask.name },
          oninput: (e) => { state.opacity.set(m.mask.name, Number(e.target.value)); drawMask(m); } }))));
    }
    const sets = [...state.setOn.keys()];
    if (sets.length) {
      rows.push(el("div", {}, ...sets.map((name) => el("label", {}, el("input", { type: "checkbox", checked: true, dataset: { toggleBoxes: name },
        onchange: (e) => { state.setOn.set(name, e.target.checked); drawBoxes(); } }), `boxes ${name}`))));
    }
    if (classes.size) {
      rows.push(el("div", {}, ...[...classes].sort((a, b) => a[0] - b[0]).map(([id, label]) => el("label", {},
        el("input", { type: "checkbox", checked: !state.hidden.has(id), dataset: { toggleClass: String(id) },
          onchange: (e) => { e.target.checked ? state.hidden.delete(id) : state.hidden.add(id); redraw(); } }),
        el("span", { class: "swatch", style: `background:${colour(id)}` }), label))));
    }
    if (scoreKeys.length) {
      const shown = el("output", {}, "0.00");
      const pick = scoreKeys.length > 1
        ? el("select", { onchange: (e) => { state.scoreKey = e.target.value; drawBoxes(); } }, ...scoreKeys.map((k) => el("option", { value: k }, k)))
        : el("span", {}, scoreKeys[0]);
      rows.push(el("div", {}, el("label", {}, pick, "≥", el("input", { type: "range", min: 0, max: 1, step: 0.01, value: 0, dataset: { threshold: "1" },
        oninput: (e) => { state.threshold = Number(e.target.value); shown.textContent = state.threshold.toFixed(2); drawBoxes(); } }), shown)));
    }
    rows.push(counter);
    return el("div", { class: "controls" }, rows);
  }
}

// The class id of every pixel of a mask PNG (8-bit grayscale: the id is the gray value).
async function loadClassIds(url, w, h) {
  const blob = await (await fetch(url)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const ids = new Uint8Array(w * h);
  for (let i = 0; i < ids.length; i++) ids[i] = rgba[4 * i];
  return ids;
}

// -- every other kind ------------------------------------------------------------------------
export function itemView(kind, item, options = {}) {
  const caption = item.caption ? el("div", { class: "caption" }, item.caption) : null;
  switch (kind) {
    case "images":
      return imageView(item, options);
    case "videos":
      if (item.format === "gif") return el("div", { class: "item" }, el("img", { src: item.blob.url, alt: item.key, width: Math.max(item.width, 160) }), caption);
      return el("div", { class: "item" }, el("video", { src: item.blob.url, controls: true, preload: "metadata", width: Math.min(480, Math.max(item.width || 320, 240)) }),
        el("div", { class: "caption" }, `${item.format}, ${item.frames ?? "?"} frames at ${fmt(item.fps)} fps`), caption);
    case "audio":
      return el("div", { class: "item" }, el("audio", { src: item.blob.url, controls: true, preload: "metadata" }),
        el("div", { class: "caption" }, `${item.format}, ${item.sample_rate} Hz, ${item.channels} ch, ${fmt(item.duration_s)} s`), caption);
    case "html":
      // No allow-same-origin: the frame gets an opaque origin, so its scripts cannot reach the viewer.
      return el("div", { class: "item", style: "width:100%" }, el("iframe", { class: "html", sandbox: "allow-scripts", src: item.blob.url, title: item.key, referrerpolicy: "no-referrer" }));
    case "objects3d":
    case "molecules": {
      const holder = el("div", { class: "item", style: "width:100%" }, el("div", { class: "muted" }, "loading 3D view…"));
      import("./three-views.js")
        .then((m) => holder.replaceChildren(kind === "objects3d" ? m.pointCloudView(item) : m.moleculeView(item), ...(caption ? [caption] : [])))
        .catch((error) => holder.replaceChildren(errorBox(error)));
      return holder;
    }
    case "tables":
      return tableView(item, options.chart);
    default:
      return el("div", { class: "muted" }, `no view for ${kind}`);
  }
}

// -- tables with media cells -----------------------------------------------------------------
// `chart`: the spec of the ms.plot chart the table is the data of (the run's summary keeps it),
// drawn above the table.
export function tableView(item, chart) {
  const grid = tableGrid(item);
  if (!chart || !chart.spec_name) return grid;
  return el("div", { class: "item", style: "width:100%" }, plotView(item, chart), grid);
}

function tableGrid(item) {
  const holder = el("div", { class: "item", style: "width:100%;overflow:auto" });
  let offset = 0;
  async function load() {
    try {
      const page = await api("table", { project: item.project, run: item.run_id, key: item.key, step: item.step, offset });
      const head = el("tr", {}, page.columns.map((c) => el("th", {}, c)));
      const rows = page.rows.map((cells) => el("tr", {}, cells.map((cell) => el("td", { class: typeof cell === "number" ? "num" : null }, cellView(cell)))));
      const pager = el("div", { class: "pager" },
        el("button", { disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - 100); load(); } }, "previous"),
        `rows ${page.num_rows ? offset + 1 : 0}–${offset + page.rows.length} of ${page.num_rows}`,
        el("button", { disabled: offset + page.rows.length >= page.num_rows, onclick: () => { offset += 100; load(); } }, "next"));
      holder.replaceChildren(el("table", { class: "grid" }, el("thead", {}, head), el("tbody", {}, rows)), pager);
    } catch (error) { holder.replaceChildren(errorBox(error)); }
  }
  load();
  return holder;
}

function cellView(cell) {
  if (cell && typeof cell === "object" && cell.kind) {
    if (cell.kind === "images") return imageView(cell, { controls: false, width: 96 });
    if (cell.kind === "audio") return el("audio", { src: cell.blob.url, controls: true, preload: "none" });
    if (cell.kind === "videos" && cell.format !== "gif") return el("video", { src: cell.blob.url, controls: true, preload: "none", width: 160 });
    if (cell.kind === "videos") return el("img", { src: cell.blob.url, alt: "video", class: "thumb" });
    return cell.blob ? el("a", { href: cell.blob.url, target: "_blank", rel: "noopener" }, `${cell.kind} (${cell.blob.mime})`) : cell.kind;
  }
  return fmt(cell);
}

// -- ms.plot charts (W&B's chart specs) -------------------------------------------------------
// Drawn from the chart's table: lines and curves, points, bars, a histogram of a column, a
// confusion matrix. Another spec (ms.plot_table's own) is named, and its table shown as it is.
// Each spec gives [x, y, group, lines] from the chart's fields.
const XY_SPECS = {
  "wandb/line/v0": (f) => [f.x, f.y, f.stroke, true],
  "wandb/lineseries/v0": () => ["step", "lineVal", "lineKey", true],
  "wandb/area-under-curve/v0": (f) => [f.x, f.y, f.class, true],
  "wandb/scatter/v0": (f) => [f.x, f.y, null, false],
};

export function plotView(item, chart) {
  const f = chart.fields || {}, strings = chart.string_fields || {}, spec = chart.spec_name;
  const holder = el("div", { class: "plot", dataset: { spec } }, el("div", { class: "muted" }, "drawing the chart…"));
  const xy = XY_SPECS[spec] && XY_SPECS[spec](f);
  const columns = xy ? xy.slice(0, 3).filter(Boolean)
    : spec === "wandb/bar/v0" ? [f.label, f.value]
    : spec === "wandb/histogram/v0" ? [f.value]
    : spec === "wandb/confusion_matrix/v1" ? ["Actual", "Predicted", "nPredictions"]
    : null;
  if (!columns) {
    holder.replaceChildren(el("div", { class: "muted" }, `chart ${spec}: not drawn here; its table is below`));
    return holder;
  }
  api("chart", { project: item.project, run: item.run_id, key: item.key, step: item.step, columns })
    .then((data) => {
      const at = (name) => data.columns.indexOf(name);
      const missing = columns.filter((c) => at(c) < 0);
      if (missing.length) throw new Error(`chart ${spec}: the table has no column ${missing.join(", ")}`);
      let view;
      if (xy) {
        const [x, y, group, lines] = xy;
        const xName = strings["x-axis-title"] || (spec === "wandb/lineseries/v0" ? strings.xname : x) || "x";
        view = xyChart(data.rows, at(x), at(y), group ? at(group) : -1, lines, xName, strings["y-axis-title"] || y);
      } else if (spec === "wandb/bar/v0") {
        view = barChart(data.rows.map((r) => [fmt(r[at(f.label)]), r[at(f.value)]]));
      } else if (spec === "wandb/histogram/v0") {
        view = histogramChart(data.rows.map((r) => r[0]).filter((v) => typeof v === "number" && Number.isFinite(v)));
      } else {
        view = matrixView(data.rows);
      }
      holder.replaceChildren(...(strings.title ? [el("h4", {}, strings.title)] : []), view);
    })
    .catch((error) => holder.replaceChildren(errorBox(error)));
  return holder;
}

const PLOT_W = 480, PLOT_H = 260, PAD = 40;

function bounds(values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  return [lo, hi];
}

function axes(xlo, xhi, ylo, yhi, xName, yName) {
  const bottom = PLOT_H - PAD, right = PLOT_W - 10;
  return el("g", { class: "axes" },
    el("line", { x1: PAD, y1: bottom, x2: right, y2: bottom, stroke: "#888" }),
    el("line", { x1: PAD, y1: 10, x2: PAD, y2: bottom, stroke: "#888" }),
    el("text", { x: PAD, y: bottom + 14, "font-size": 11 }, fmt(xlo)),
    el("text", { x: right, y: bottom + 14, "font-size": 11, "text-anchor": "end" }, fmt(xhi)),
    el("text", { x: (PAD + right) / 2, y: PLOT_H - 6, "font-size": 11, "text-anchor": "middle" }, xName),
    el("text", { x: PAD - 4, y: bottom, "font-size": 11, "text-anchor": "end" }, fmt(ylo)),
    el("text", { x: PAD - 4, y: 18, "font-size": 11, "text-anchor": "end" }, fmt(yhi)),
    el("text", { x: 12, y: (10 + bottom) / 2, "font-size": 11, "text-anchor": "middle", transform: `rotate(-90 12 ${(10 + bottom) / 2})` }, yName));
}

// Lines (sorted by x, one per group) or points.
function xyChart(rows, xi, yi, gi, lines, xName, yName) {
  const groups = new Map();
  for (const r of rows) {
    const x = r[xi], y = r[yi];
    if (typeof x !== "number" || typeof y !== "number" || !Number.isFinite(x) || !Number.isFinite(y)) continue;
    const g = gi < 0 ? "" : fmt(r[gi]);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push([x, y]);
  }
  const all = [...groups.values()].flat();
  if (!all.length) return el("div", { class: "muted" }, "no numeric points to draw");
  const [xlo, xhi] = bounds(all.map((p) => p[0])), [ylo, yhi] = bounds(all.map((p) => p[1]));
  const sx = (x) => PAD + ((x - xlo) / (xhi - xlo)) * (PLOT_W - 10 - PAD), sy = (y) => PLOT_H - PAD - ((y - ylo) / (yhi - ylo)) * (PLOT_H - PAD - 10);
  const marks = [...groups.entries()].map(([g, points], i) => {
    if (lines) {
      const sorted = points.map((p, k) => [p, k]).sort((a, b) => a[0][0] - b[0][0] || a[1] - b[1]).map((p) => p[0]);
      const d = sorted.map(([x, y], k) => `${k ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
      return el("path", { d, fill: "none", stroke: colour(i), "stroke-width": 1.5, dataset: { group: g } }, el("title", {}, g));
    }
    return el("g", { dataset: { group: g } }, points.map(([x, y]) => el("circle", { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 2.5, fill: colour(i) })));
  });
  const svg = el("svg", { viewBox: `0 0 ${PLOT_W} ${PLOT_H}`, class: "plot-svg", dataset: { series: String(groups.size), points: String(all.length) } },
    axes(xlo, xhi, ylo, yhi, xName, yName), ...marks);
  const legend = groups.size > 1 || (groups.size === 1 && !groups.has(""))
    ? el("div", { class: "controls" }, el("div", {}, [...groups.keys()].map((g, i) => el("label", {}, el("span", { class: "swatch", style: `background:${colour(i)}` }), g))))
    : null;
  return el("div", {}, svg, legend);
}

// One bar per [label, value]: a row each, as long as the value.
function barChart(pairs) {
  const values = pairs.map((p) => (typeof p[1] === "number" && Number.isFinite(p[1]) ? p[1] : 0));
  const top = Math.max(...values.map(Math.abs), 0) || 1;
  return el("div", { class: "bars", dataset: { bars: String(pairs.length) } }, pairs.map(([label, _], i) =>
    el("div", { class: "bar-row" }, el("span", { class: "bar-label" }, label),
      el("span", { class: "bar", style: `width:${(100 * Math.abs(values[i])) / top}%;background:${values[i] < 0 ? "#b3261e" : "var(--accent)"}` }),
      el("span", { class: "bar-value" }, fmt(values[i])))));
}

// A histogram of the values: equal-width bins, as many as the square root of their number (10 to 50).
function histogramChart(values) {
  if (!values.length) return el("div", { class: "muted" }, "no numeric values to draw");
  const [lo, hi] = bounds(values);
  const n = Math.max(10, Math.min(50, Math.ceil(Math.sqrt(values.length))));
  const counts = new Array(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.floor(((v - lo) / (hi - lo)) * n))]++;
  const top = Math.max(...counts), w = (PLOT_W - 10 - PAD) / n;
  const rects = counts.map((c, i) => {
    const h = (c / top) * (PLOT_H - PAD - 10);
    return el("rect", { x: (PAD + i * w).toFixed(1), y: (PLOT_H - PAD - h).toFixed(1), width: Math.max(0, w - 1).toFixed(1), height: h.toFixed(1), fill: "var(--accent)" },
      el("title", {}, `[${fmt(lo + ((hi - lo) * i) / n)}, ${fmt(lo + ((hi - lo) * (i + 1)) / n)}): ${c}`));
  });
  return el("svg", { viewBox: `0 0 ${PLOT_W} ${PLOT_H}`, class: "plot-svg", dataset: { bins: String(n), values: String(values.length) } },
    axes(lo, hi, 0, top, "value", "count"), ...rects);
}

// A confusion matrix from rows [actual, predicted, count]: actual classes down, predicted across.
function matrixView(rows) {
  const actual = [...new Set(rows.map((r) => fmt(r[0])))], predicted = [...new Set(rows.map((r) => fmt(r[1])))];
  const counts = new Map(rows.map((r) => [`${fmt(r[0])}\u0000${fmt(r[1])}`, Number(r[2]) || 0]));
  const top = Math.max(...counts.values(), 0) || 1;
  const head = el("tr", {}, el("th", {}, "actual \\ predicted"), predicted.map((p) => el("th", {}, p)));
  const body = actual.map((a) => el("tr", {}, el("th", {}, a), predicted.map((p) => {
    const c = counts.get(`${a}\u0000${p}`) || 0;
    return el("td", { class: "num", style: `background:rgba(47,111,219,${(0.85 * c) / top})` }, fmt(c));
  })));
  return el("table", { class: "grid matrix", dataset: { cells: String(actual.length * predicted.length) } }, el("thead", {}, head), el("tbody", {}, body));
}

// -- histograms over steps -------------------------------------------------------------------
// Steps run left to right, bins bottom to top; each step's column is scaled to its own maximum.
export async function heatmapView(project, run, key) {
  const data = await api("histogram", { project, run, key });
  const nSteps = data.steps.length, nBins = data.edges.length - 1;
  const canvas = el("canvas", { width: nSteps, height: nBins, dataset: { steps: String(nSteps), bins: String(nBins) } });
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(nSteps, nBins);
  data.counts.forEach((counts, s) => {
    const top = Math.max(...counts) || 1;
    counts.forEach((count, b) => {
      const v = Math.sqrt(count / top);
      const i = 4 * ((nBins - 1 - b) * nSteps + s);
      image.data[i] = 255 * Math.min(1, 1.6 * v); image.data[i + 1] = 255 * v * v; image.data[i + 2] = 90 * (1 - v) + 60 * v; image.data[i + 3] = 255;
    });
  });
  ctx.putImageData(image, 0, 0);
  const readout = el("div", { class: "caption" }, `steps ${data.steps[0]}–${data.steps[nSteps - 1]} (${nSteps} shown), values ${fmt(data.edges[0])} to ${fmt(data.edges[nBins])}`);
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect();
    const s = Math.min(nSteps - 1, Math.floor(((e.clientX - r.left) / r.width) * nSteps));
    const b = Math.min(nBins - 1, nBins - 1 - Math.floor(((e.clientY - r.top) / r.height) * nBins));
    readout.textContent = `step ${data.steps[s]}: [${fmt(data.edges[b])}, ${fmt(data.edges[b + 1])}) holds ${fmt(data.counts[s][b])}`;
  });
  return el("div", { class: "heatmap" }, canvas, readout);
}

const STEP_INCREMENTS = [1, 2, 5].flatMap((m) => Array.from({ length: 12 }, (_, e) => m * 10 ** e)).sort((a, b) => a - b);

// -- scalar charts ---------------------------------------------------------------------------
// One uPlot chart of a key, a series per run, on the union of their (bucketed) steps.
export function chartView(title, series, names, width = 420) {
  const runs = Object.keys(series);
  const steps = [...new Set(runs.flatMap((r) => series[r].steps))].sort((a, b) => a - b);
  const position = new Map(steps.map((s, i) => [s, i]));
  const columns = runs.map((r) => {
    const column = new Array(steps.length).fill(null);
    series[r].steps.forEach((s, i) => { column[position.get(s)] = series[r].values[i]; });
    return column;
  });
  const holder = el("div", { class: "card chart", dataset: { key: title, points: String(steps.length * runs.length) } }, el("h3", {}, title));
  const options = {
    width, height: 220, legend: { show: runs.length <= 12 }, cursor: { drag: { x: true, y: false } },
    scales: { x: { time: false } },
    axes: [{ incrs: STEP_INCREMENTS }, {}], // steps are whole numbers
    series: [{ label: "step" }, ...runs.map((r, i) => ({ label: names.get(r) || r, stroke: colour(i), width: 1.5, spanGaps: true, points: { show: false } }))],
  };
  holder.append(el("div", {}));
  // eslint-disable-next-line no-undef
  new uPlot(options, [steps, ...columns], holder.lastChild);
  return holder;
}
