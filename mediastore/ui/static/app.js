// The viewer's pages, routed by the URL's hash:
//   #/                                   projects
//   #/p/<project>?q=...                  runs of a project, filterable, with scalar charts
//   #/p/<project>/r/<run>                one run: charts and media by key with a step slider
//   #/p/<project>/compare?kind=&key=&runs=&step=   one key across runs at the same step
import { api, el, errorBox, fmt, latest } from "./dom.js";
import { chartView, heatmapView, itemView } from "./views.js";

const app = document.getElementById("app");
const crumbs = document.getElementById("crumbs");
const busy = document.getElementById("busy");
const PAGE = 50;
const CHARTS = 24; // scalar keys charted at most on one page; a filter box narrows them
const DEFAULT_SELECTED = 10;
const LIVE_MS = 5000; // how often a page with running runs asks for what they logged since

// Refreshers of the current page while it shows running runs; a route change drops them.
const live = new Set();
setInterval(() => {
  if (document.visibilityState !== "visible" || document.body.dataset.ready !== "1") return;
  for (const refresh of live) refresh().catch(() => {}); // a failed poll is retried at the next tick
}, LIVE_MS);

function link(text, hash) { return el("a", { href: hash }, text); }
function projectHash(p) { return `#/p/${encodeURIComponent(p)}`; }
function runHash(p, r) { return `${projectHash(p)}/r/${encodeURIComponent(r)}`; }
function compareHash(p, params) { return `${projectHash(p)}/compare?${new URLSearchParams(params)}`; }

async function route() {
  const [path, query = ""] = location.hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  app.replaceChildren();
  live.clear();
  busy.hidden = false;
  document.body.dataset.ready = "0";
  try {
    if (parts[0] === "p" && parts.length === 2) await runsPage(parts[1], params);
    else if (parts[0] === "p" && parts[2] === "r" && parts.length === 4) await runPage(parts[1], parts[3]);
    else if (parts[0] === "p" && parts[2] === "compare") await comparePage(parts[1], params);
    else await projectsPage();
  } catch (error) {
    app.append(errorBox(error));
  } finally {
    busy.hidden = true;
    document.body.dataset.ready = "1";
  }
}
window.addEventListener("hashchange", route);
route();

function setCrumbs(...items) { crumbs.replaceChildren(...items); }

// -- projects --------------------------------------------------------------------------------
async function projectsPage() {
  setCrumbs();
  const projects = await api("projects");
  app.append(el("h1", {}, "Projects"));
  if (!projects.length) { app.append(el("p", { class: "muted" }, "No runs in this store yet. Log one with ms.init(...), or run `mediastore demo`.")); return; }
  app.append(el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, el("th", {}, "project"), el("th", {}, "runs"), el("th", {}, "running"), el("th", {}, "last started"))),
    el("tbody", {}, projects.map((p) => el("tr", {}, el("td", {}, link(p.project, projectHash(p.project))),
      el("td", { class: "num" }, p.runs), el("td", { class: "num" }, p.running), el("td", {}, fmt(p.last_started)))))));
}

// -- runs of a project -----------------------------------------------------------------------
async function runsPage(project, params) {
  setCrumbs(el("span", {}, project));
  const state = { q: params.get("q") || "", offset: 0, selected: new Set((params.get("runs") || "").split(",").filter(Boolean)), names: new Map(), keyFilter: "" };
  const filter = el("input", { type: "search", placeholder: "filter runs: id, name, state, config, tags, group…", value: state.q, size: 40, "aria-label": "filter runs" });
  const keyFilter = el("input", { type: "search", placeholder: "filter charts by key", size: 24, "aria-label": "filter charts" });
  const compareButton = el("button", { onclick: () => location.hash = compareHash(project, { runs: [...state.selected].join(",") }) }, "compare media of selected runs");
  const tableHolder = el("div", {}), chartHolder = el("div", { class: "charts" }), chartNote = el("p", { class: "muted" });
  app.append(el("h1", {}, `Runs of ${project}`), el("div", { class: "toolbar" }, filter, compareButton), tableHolder,
    el("h2", {}, "Scalars over steps"), el("div", { class: "toolbar" }, keyFilter, chartNote), chartHolder);

  const loadRuns = latest((q, offset) => api("runs", { project, q, limit: PAGE, offset }));
  async function showRuns(firstLoad) {
    const page = await loadRuns(state.q, state.offset);
    if (!page) return;
    state.running = page.runs.some((r) => r.state === "running");
    page.runs.forEach((r) => state.names.set(r.run_id, r.name || r.run_id));
    if (firstLoad && !state.selected.size) page.runs.slice(0, DEFAULT_SELECTED).forEach((r) => state.selected.add(r.run_id));
    // Numbers of the summary, and a define_metric summary's aggregates as "key.min", "key.max", ...
    const numbers = (r) => Object.entries(r.summary).flatMap(([k, v]) => typeof v === "number" ? [[k, v]]
      : v && typeof v === "object" && !Array.isArray(v) && !v._kind ? Object.entries(v).filter(([, x]) => typeof x === "number").map(([a, x]) => [`${k}.${a}`, x]) : []);
    const summaries = new Map(page.runs.map((r) => [r.run_id, new Map(numbers(r))]));
    const summaryKeys = [...new Set([...summaries.values()].flatMap((m) => [...m.keys()]))].sort().slice(0, 6);
    // W&B's run labels, as columns only when a run on the page has them.
    const labels = [["group", "group"], ["job_type", "job type"], ["tags", "tags"]].filter(([f]) => page.runs.some((r) => r[f] && r[f].length));
    const label = (r, f) => f === "tags" ? el("td", { class: "tags" }, ...(r.tags || []).map((t) => el("span", { class: "tag" }, t))) : el("td", {}, r[f] || "");
    const rows = page.runs.map((r) => el("tr", { dataset: { run: r.run_id } },
      el("td", {}, el("input", { type: "checkbox", checked: state.selected.has(r.run_id), "aria-label": `select ${r.run_id}`,
        onchange: (e) => { e.target.checked ? state.selected.add(r.run_id) : state.selected.delete(r.run_id); chartsSoon(); } })),
      el("td", { title: r.notes || "" }, link(r.name || r.run_id, runHash(project, r.run_id))), el("td", {}, r.run_id),
      el("td", { class: `state-${r.state}` }, r.state), el("td", {}, fmt(r.started_at).replace("T", " ").slice(0, 19)),
      ...labels.map(([f]) => label(r, f)),
      ...summaryKeys.map((k) => el("td", { class: "num" }, fmt(summaries.get(r.run_id).get(k))))));
    tableHolder.replaceChildren(
      el("table", { class: "grid runs" }, el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "name"), el("th", {}, "run"), el("th", {}, "state"), el("th", {}, "started"),
        ...labels.map(([, title]) => el("th", {}, title)),
        ...summaryKeys.map((k) => el("th", {}, k)))), el("tbody", {}, rows)),
      el("div", { class: "pager" },
        el("button", { disabled: state.offset === 0, onclick: () => { state.offset -= PAGE; showRuns(false); } }, "previous"),
        el("span", { class: "run-count" }, `${page.total ? state.offset + 1 : 0}–${state.offset + page.runs.length} of ${page.total} runs`),
        el("button", { disabled: state.offset + PAGE >= page.total, onclick: () => { state.offset += PAGE; showRuns(false); } }, "next")));
  }

  const loadCharts = latest(async (runs) => {
    const keys = runs.length ? await api("scalar_keys", { project, runs }) : [];
    const wanted = keys.filter((k) => k.toLowerCase().includes(state.keyFilter.toLowerCase()));
    const shown = wanted.slice(0, CHARTS);
    const series = await Promise.all(shown.map((key) => api("series", { project, key, runs })));
    return { keys, wanted, series };
  });
  async function showCharts() {
    const runs = [...state.selected];
    compareButton.disabled = !runs.length;
    if (runs.length > 100) { chartNote.textContent = `${runs.length} runs selected: charts overlay at most 100 — select fewer.`; return; }
    const result = await loadCharts(runs);
    if (!result) return;
    chartNote.textContent = !runs.length ? "Select runs to chart them." :
      `${runs.length} runs, ${result.wanted.length} of ${result.keys.length} keys` + (result.wanted.length > CHARTS ? ` (first ${CHARTS} charted; filter to see others)` : "");
    const width = Math.max(320, Math.min(560, chartHolder.clientWidth / 2 - 30));
    chartHolder.replaceChildren(...result.series.map((s) => chartView(s.key, s.runs, state.names, width)));
    chartHolder.dataset.charted = String(result.series.length);
  }

  // Several checkboxes ticked in a row make one chart reload, not one each.
  let chartTimer;
  function chartsSoon() { clearTimeout(chartTimer); chartTimer = setTimeout(() => showCharts().catch(showError), 250); }
  function selectPage(on) {
    for (const box of tableHolder.querySelectorAll("tbody input[type=checkbox]")) {
      const run = box.closest("tr").dataset.run;
      box.checked = on;
      on ? state.selected.add(run) : state.selected.delete(run);
    }
    chartsSoon();
  }
  compareButton.before(el("button", { onclick: () => selectPage(true) }, "select this page"),
    el("button", { onclick: () => { state.selected.clear(); selectPage(false); } }, "clear selection"));

  let timer;
  filter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { state.q = filter.value; state.offset = 0; showRuns(false).catch(showError); }, 200); });
  keyFilter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { state.keyFilter = keyFilter.value; showCharts().catch(showError); }, 200); });
  function showError(error) { tableHolder.prepend(errorBox(error)); }
  await showRuns(true);
  await showCharts();
  live.add(async () => { if (state.running) { await showRuns(false); await showCharts(); } });
}

// -- one run ---------------------------------------------------------------------------------
async function runPage(project, runId) {
  const info = await api("run", { project, run: runId });
  const run = info.run;
  setCrumbs(link(project, projectHash(project)), el("span", {}, run.name || runId));
  app.append(el("h1", {}, run.name || runId, " ", el("span", { class: `state-${run.state} muted` }, `(${run.run_id}, ${run.state})`)),
    el("details", {}, el("summary", {}, "config and summary"), el("pre", { class: "json" }, JSON.stringify({ config: run.config, summary: run.summary }, null, 2))));
  const panels = [];
  if (run.state === "running") {
    // Follow the run: new steps extend the charts and the sliders (a slider at its end moves on),
    // and a new key or the run's end redraws the page.
    app.querySelector("h1").append(el("span", { class: "muted live" }, ` live, every ${LIVE_MS / 1000} s`));
    const keysOf = (i) => JSON.stringify([i.scalar_keys, i.media.map((m) => [m.kind, m.key])]);
    live.add(async () => {
      const now = await api("run", { project, run: runId });
      if (now.run.state !== "running" || keysOf(now) !== keysOf(info)) return route();
      await Promise.all([drawCharts(), ...panels.map((p) => p.refresh())]);
    });
  }
  const charts = el("div", { class: "charts" });
  const names = new Map([[runId, run.name || runId]]);
  async function drawCharts() {
    const all = await Promise.all(info.scalar_keys.slice(0, CHARTS).map((key) => api("series", { project, key, runs: [runId] })));
    charts.replaceChildren(...all.map((s) => chartView(s.key, s.runs, names, 420)));
  }
  if (info.scalar_keys.length) {
    app.append(el("h2", {}, "Scalars"), charts);
    drawCharts().catch((error) => charts.replaceChildren(errorBox(error)));
  }
  if (!info.media.length) { app.append(el("p", { class: "muted" }, "No media logged in this run.")); return; }
  app.append(el("h2", {}, "Media"));
  const grid = el("div", { class: "panels" });
  app.append(grid);
  for (const m of info.media) {
    const card = el("section", { class: "card", dataset: { kind: m.kind, key: m.key } },
      el("h3", {}, m.key, " ", el("span", { class: "muted" }, `${m.kind}, ${m.items} items over ${m.steps} steps`)));
    if (m.kind === "histograms") {
      heatmapView(project, runId, m.key).then((view) => card.append(view)).catch((error) => card.append(errorBox(error)));
    } else {
      card.append(link("compare across runs", compareHash(project, { kind: m.kind, key: m.key, runs: runId })));
      // A table that is an ms.plot chart's data: the run's summary keeps the chart's spec.
      const chart = m.kind === "tables" ? (run.summary || {})[m.key]?.chart : undefined;
      const stepper = stepPanel(project, m.kind, m.key, [runId], (byRun) => itemsView(m.kind, byRun[runId] || [], { chart }));
      panels.push(stepper);
      card.append(stepper);
    }
    if (m.kind === "tables" || m.kind === "html" || m.kind === "objects3d" || m.kind === "molecules") card.style.gridColumn = "1 / -1";
    grid.append(card);
  }
}

function itemsView(kind, items, options = {}) {
  if (!items.length) return el("div", { class: "muted" }, "nothing logged at or before this step");
  return el("div", { class: "items" }, items.map((item) => itemView(kind, item, options)));
}

// A step slider over the steps at which `runs` logged `key`; `render` draws the items at a step.
function stepPanel(project, kind, key, runs, render, initialStep) {
  const slider = el("input", { type: "range", min: 0, max: 0, step: 1, value: 0, "aria-label": `step of ${key}`, dataset: { stepSlider: key } });
  const shown = el("output", {}, "");
  const body = el("div", { class: "step-body" });
  const panel = el("div", {}, el("div", { class: "stepper" },
    el("button", { "aria-label": "previous step", onclick: () => move(-1) }, "◀"), slider,
    el("button", { "aria-label": "next step", onclick: () => move(1) }, "▶"), shown), body);
  let steps = [];
  const load = latest((step) => api("items", { project, kind, key, step, runs }));
  async function show() {
    const step = steps[Number(slider.value)];
    shown.textContent = `step ${step} (${Number(slider.value) + 1}/${steps.length})`;
    panel.dataset.step = String(step);
    try {
      const answer = await load(step);
      if (!answer) return;
      body.replaceChildren(render(answer.runs, step));
      panel.dataset.shownStep = String(step);
    } catch (error) { body.replaceChildren(errorBox(error)); }
  }
  function move(delta) { slider.value = String(Math.max(0, Math.min(steps.length - 1, Number(slider.value) + delta))); show(); }
  slider.addEventListener("input", show);
  function setSteps(found, at, redraw = true) {
    steps = found;
    slider.max = String(Math.max(0, steps.length - 1));
    slider.value = String(at);
    for (const control of panel.querySelectorAll(".stepper button, .stepper input")) control.hidden = steps.length <= 1;
    if (!steps.length) body.replaceChildren(el("div", { class: "muted" }, "not logged"));
    else if (redraw) show();
    else shown.textContent = `step ${steps[at]} (${at + 1}/${steps.length})`;
  }
  api("steps", { project, kind, key, runs }).then((found) => {
    setSteps(found, initialStep === undefined ? found.length - 1 : Math.max(0, found.findLastIndex((s) => s <= initialStep)));
  }).catch((error) => body.replaceChildren(errorBox(error)));
  // New steps of a running run: a slider at its last step follows them, one elsewhere stays.
  panel.refresh = async () => {
    const found = await api("steps", { project, kind, key, runs });
    if (found.length === steps.length) return;
    const atEnd = Number(slider.value) === steps.length - 1;
    const current = steps[Number(slider.value)];
    // The item shown stays as it is (with its overlay settings) unless the slider follows.
    setSteps(found, atEnd ? found.length - 1 : Math.max(0, found.indexOf(current)), atEnd);
  };
  return panel;
}

// -- one key across runs ---------------------------------------------------------------------
async function comparePage(project, params) {
  const runs = (params.get("runs") || "").split(",").filter(Boolean);
  setCrumbs(link(project, projectHash(project)), el("span", {}, "compare"));
  app.append(el("h1", {}, "Compare across runs"));
  if (!runs.length) { app.append(el("p", { class: "muted" }, "Select runs on the project's page first.")); return; }
  // The keys to pick from: every media key any of the runs logged.
  const infos = await Promise.all(runs.map((r) => api("run", { project, run: r })));
  const names = new Map(infos.map((i) => [i.run.run_id, i.run.name || i.run.run_id]));
  const keys = new Map();
  for (const info of infos) for (const m of info.media) if (m.kind !== "histograms") keys.set(`${m.kind}\u0000${m.key}`, m);
  let kind = params.get("kind"), key = params.get("key");
  if (!kind || !keys.has(`${kind}\u0000${key}`)) [kind, key] = keys.size ? [...keys.keys()][0].split("\u0000") : [null, null];
  const picker = el("select", { "aria-label": "media key", onchange: (e) => {
    const [k, name] = e.target.value.split("\u0000");
    location.hash = compareHash(project, { kind: k, key: name, runs: runs.join(",") });
  } }, [...keys.values()].map((m) => el("option", { value: `${m.kind}\u0000${m.key}`, selected: m.kind === kind && m.key === key }, `${m.key} (${m.kind})`)));
  app.append(el("div", { class: "toolbar" }, "key", picker, el("span", { class: "muted" }, `${runs.length} runs; each shows its latest item at or before the step`)));
  if (!kind) { app.append(el("p", { class: "muted" }, "These runs logged no media.")); return; }
  const initial = params.has("step") ? Number(params.get("step")) : undefined;
  app.append(stepPanel(project, kind, key, runs, (byRun) => el("div", { class: "compare" }, runs.map((r) => el("section", { class: "card", dataset: { run: r } },
    el("h3", {}, names.get(r) || r, " ", el("span", { class: "muted" }, byRun[r] && byRun[r][0] ? `step ${byRun[r][0].step}` : "")),
    itemsView(kind, byRun[r] || [], { width: 256 })))), initial));
}
