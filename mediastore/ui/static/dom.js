// Small helpers shared by the viewer's modules. Text from the store only ever reaches the page
// through textContent and attribute setters, never as markup.

export function el(tag, attrs = {}, ...children) {
  const node = tag === "svg" || SVG_TAGS.has(tag)
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node && !SVG_TAGS.has(tag) && tag !== "svg" && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const SVG_TAGS = new Set(["g", "rect", "text", "line", "path", "title", "circle"]);

export class ApiError extends Error {}

export async function api(name, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) query.set(k, Array.isArray(v) ? v.join(",") : v);
  const response = await fetch(`/api/${name}?${query}`);
  const body = await response.json();
  if (!response.ok) throw new ApiError(body.error || response.statusText);
  return body;
}

// A pair list ([[k, v], ...]) or an object, as a Map: DuckDB MAPs arrive either way.
export function asMap(value) {
  if (!value) return new Map();
  if (Array.isArray(value)) return new Map(value.map(([k, v]) => [String(k), v]));
  return new Map(Object.entries(value));
}

// Distinct colours for class ids and runs (Glasbey-like, readable on dark and light).
const PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
  "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000", "#ffd8b1",
  "#000075", "#808080"];
export function colour(i) { return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]; }
export function rgb(i) {
  const hex = colour(i);
  return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
}

export function errorBox(error) {
  return el("div", { class: "error", role: "alert" }, error && error.message ? error.message : String(error));
}

export function fmt(value) {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

// Calls `load` for the latest request only: a slider dragged fast does not paint stale answers.
export function latest(load) {
  let ticket = 0;
  return async (...args) => {
    const mine = ++ticket;
    const result = await load(...args);
    return mine === ticket ? result : undefined;
  };
}
