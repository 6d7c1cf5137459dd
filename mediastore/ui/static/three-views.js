// Interactive 3D: point clouds with boxes and vectors, and molecules as balls and sticks.
import * as THREE from "./vendor/three.min.js";
import { colour, el, errorBox } from "./dom.js";

// The reference page's limit: at most this many points are drawn; larger clouds are thinned evenly.
export const MAX_POINTS = 300000;
const RANGE = 4 << 20; // bytes per range request while a cloud streams in

function scene3d(canvas) {
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x111111);
  const camera = new THREE.PerspectiveCamera(50, 1, 0.01, 1e6);
  camera.up.set(0, 0, 1); // z up, as lidar and the reference page's scenes have it
  const controls = new THREE.OrbitControls(camera, canvas);
  const render = () => {
    const { clientWidth: w, clientHeight: h } = canvas;
    if (canvas.width !== w || canvas.height !== h) { renderer.setSize(w, h, false); camera.aspect = w / h || 1; camera.updateProjectionMatrix(); }
    renderer.render(scene, camera);
    const azimuth = controls.getAzimuthalAngle(), polar = controls.getPolarAngle();
    canvas.dataset.azimuth = azimuth.toFixed(4);
    canvas.dataset.polar = polar.toFixed(4);
  };
  controls.addEventListener("change", render);
  const frame = (object) => {
    const sphere = new THREE.Box3().setFromObject(object).getBoundingSphere(new THREE.Sphere());
    const r = sphere.radius || 1;
    controls.target.copy(sphere.center);
    camera.position.copy(sphere.center).add(new THREE.Vector3(r * 1.6, -r * 1.6, r * 1.2));
    camera.near = r / 100; camera.far = r * 100; camera.updateProjectionMatrix();
    controls.update();
    render();
  };
  new ResizeObserver(render).observe(canvas);
  return { scene, render, frame };
}

// -- point clouds ----------------------------------------------------------------------------
// An .npy blob streams in by range requests; a pts.json scene comes in one piece.
async function fetchRange(url, first, last) {
  const response = await fetch(url, { headers: { Range: `bytes=${first}-${last}` } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function loadNpy(url, length, onProgress) {
  const head = await fetchRange(url, 0, Math.min(length, 4096) - 1);
  const headerLength = head[8] | (head[9] << 8);
  const header = new TextDecoder().decode(head.slice(10, 10 + headerLength));
  const descr = /'descr':\s*'([<>|]?)(\w)(\d+)'/.exec(header);
  const shape = /'shape':\s*\((\d+),\s*(\d+)\)/.exec(header);
  if (!descr || !shape || /True/.test(/'fortran_order':\s*(\w+)/.exec(header)[1])) throw new Error(`unreadable .npy header: ${header}`);
  const [, , type, size] = descr;
  const rows = Number(shape[1]), cols = Number(shape[2]);
  const start = 10 + headerLength, bytes = rows * cols * Number(size);
  const data = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += RANGE) {
    data.set(await fetchRange(url, start + at, start + Math.min(bytes, at + RANGE) - 1), at);
    onProgress(Math.min(bytes, at + RANGE) / bytes);
  }
  const Typed = { f4: Float32Array, f8: Float64Array, i4: Int32Array, i8: null, u1: Uint8Array, i2: Int16Array }[type + size];
  if (!Typed) throw new Error(`point dtype ${type}${size} is not drawn here`);
  return { rows, cols, values: new Typed(data.buffer) };
}

function pointsFromScene(scene) {
  const points = scene.points || [];
  const cols = points.length ? points[0].length : 3;
  return { rows: points.length, cols, values: Float64Array.from(points.flat()), boxes: scene.boxes || [], vectors: scene.vectors || [] };
}

export function pointCloudView(item) {
  const canvas = el("canvas", { class: "view3d", dataset: { kind: "pointcloud" } });
  const status = el("div", { class: "caption" }, "streaming points…");
  const holder = el("div", {}, canvas, status);
  if (item.format !== "npy" && item.format !== "pts.json") {
    return el("div", { class: "muted" }, `A .${item.format} model file: the viewer draws point clouds; `,
      el("a", { href: item.blob.url, download: "" }, "download it"), " to open it in a 3D program.");
  }
  const view = scene3d(canvas);
  (async () => {
    const cloud = item.format === "npy"
      ? await loadNpy(item.blob.url, item.blob.length, (f) => { status.textContent = `streaming points… ${Math.round(f * 100)}%`; })
      : pointsFromScene(await (await fetch(item.blob.url)).json());
    const stride = Math.max(1, Math.ceil(cloud.rows / MAX_POINTS));
    const count = Math.ceil(cloud.rows / stride);
    const positions = new Float32Array(count * 3), colours = new Float32Array(count * 3);
    let zmin = Infinity, zmax = -Infinity;
    for (let i = 0; i < cloud.rows; i += stride) { const z = cloud.values[i * cloud.cols + 2]; zmin = Math.min(zmin, z); zmax = Math.max(zmax, z); }
    const rgbScale = cloud.cols === 6 && Math.max(...cloud.values.slice(3, Math.min(cloud.values.length, 6000)).filter((_, j) => j % 6 < 3)) > 1 ? 255 : 1;
    for (let p = 0, i = 0; i < cloud.rows; i += stride, p++) {
      const row = i * cloud.cols;
      positions.set([cloud.values[row], cloud.values[row + 1], cloud.values[row + 2]], 3 * p);
      let c;
      if (cloud.cols === 6) c = [cloud.values[row + 3] / rgbScale, cloud.values[row + 4] / rgbScale, cloud.values[row + 5] / rgbScale];
      else if (cloud.cols === 4) c = new THREE.Color(colour(Math.round(cloud.values[row + 3]))).toArray();
      else { const t = zmax > zmin ? (cloud.values[row + 2] - zmin) / (zmax - zmin) : 0.5; c = [0.2 + 0.8 * t, 0.5 + 0.3 * Math.sin(3 * t), 1 - 0.8 * t]; }
      colours.set(c, 3 * p);
    }
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.BufferAttribute(positions, 3));
    geometry.setAttribute("color", new THREE.BufferAttribute(colours, 3));
    const points = new THREE.Points(geometry, new THREE.PointsMaterial({ size: 2, sizeAttenuation: false, vertexColors: true }));
    view.scene.add(points);
    canvas.dataset.lines = String(addBoxesAndVectors(view.scene, cloud.boxes || item.boxes || [], cloud.vectors || item.vectors || []));
    canvas.dataset.pointsDrawn = String(count);
    status.textContent = `${count.toLocaleString()} of ${cloud.rows.toLocaleString()} points drawn` + (stride > 1 ? ` (1 in ${stride}: at most ${MAX_POINTS.toLocaleString()} are drawn)` : "") + "; drag to rotate, scroll to zoom";
    view.frame(view.scene); // the points with their boxes and vectors
  })().catch((error) => holder.replaceChildren(errorBox(error)));
  return holder;
}

// Returns the number of line segments drawn.
function addBoxesAndVectors(scene, boxes, vectors) {
  let lines = 0;
  for (const b of boxes) {
    const corners = (b.corners || []).map((c) => new THREE.Vector3(...c));
    if (corners.length !== 8) continue;
    // Each corner joins its three nearest: the 12 edges whatever order the corners come in.
    const segments = [];
    corners.forEach((a, i) => {
      corners.map((c, j) => [a.distanceTo(c), j]).filter(([, j]) => j !== i).sort((x, y) => x[0] - y[0]).slice(0, 3)
        .forEach(([, j]) => { if (i < j) segments.push(a, corners[j]); });
    });
    const c = b.color ? new THREE.Color(b.color[0] / 255, b.color[1] / 255, b.color[2] / 255) : new THREE.Color(0x00ff88);
    scene.add(new THREE.LineSegments(new THREE.BufferGeometry().setFromPoints(segments), new THREE.LineBasicMaterial({ color: c })));
    lines += segments.length / 2;
  }
  for (const v of vectors) {
    const c = v.color ? new THREE.Color(v.color[0] / 255, v.color[1] / 255, v.color[2] / 255) : new THREE.Color(0xffffff);
    scene.add(new THREE.LineSegments(new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(...(v.start || [0, 0, 0])), new THREE.Vector3(...v.end)]),
      new THREE.LineBasicMaterial({ color: c })));
    lines += 1;
  }
  return lines;
}

// -- molecules -------------------------------------------------------------------------------
const ELEMENT_COLOURS = { H: 0xffffff, C: 0x909090, N: 0x3050f8, O: 0xff0d0d, S: 0xffff30, P: 0xff8000, F: 0x90e050, CL: 0x1ff01f, BR: 0xa62929, I: 0x940094 };
const RADIUS = { H: 0.25 };

function parsePdb(text) {
  const atoms = [], bonds = [], serials = new Map();
  for (const line of text.split("\n")) {
    const record = line.slice(0, 6).trim();
    if (record === "ATOM" || record === "HETATM") {
      const element = (line.slice(76, 78).trim() || line.slice(12, 16).trim().replace(/[^A-Za-z]/g, "").slice(0, 1)).toUpperCase();
      serials.set(Number(line.slice(6, 11)), atoms.length);
      atoms.push({ element, x: Number(line.slice(30, 38)), y: Number(line.slice(38, 46)), z: Number(line.slice(46, 54)) });
    } else if (record === "CONECT") {
      const ids = line.slice(6).trim().split(/\s+/).map(Number);
      for (const other of ids.slice(1)) if (serials.has(ids[0]) && serials.has(other)) bonds.push([serials.get(ids[0]), serials.get(other)]);
    }
  }
  return { atoms, bonds };
}

function parseMolfile(text) {
  const lines = text.split(/\r?\n/);
  const counts = lines[3] || "";
  const nAtoms = Number(counts.slice(0, 3)), nBonds = Number(counts.slice(3, 6));
  const atoms = [], bonds = [];
  for (let i = 0; i < nAtoms; i++) {
    const l = lines[4 + i];
    atoms.push({ x: Number(l.slice(0, 10)), y: Number(l.slice(10, 20)), z: Number(l.slice(20, 30)), element: l.slice(31, 34).trim().toUpperCase() });
  }
  for (let i = 0; i < nBonds; i++) {
    const l = lines[4 + nAtoms + i];
    bonds.push([Number(l.slice(0, 3)) - 1, Number(l.slice(3, 6)) - 1]);
  }
  return { atoms, bonds };
}

function parseMol2(text) {
  const atoms = [], bonds = [];
  let section = "";
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("@<TRIPOS>")) { section = line.slice(9).trim(); continue; }
    const f = line.trim().split(/\s+/);
    if (section === "ATOM" && f.length >= 6) atoms.push({ x: Number(f[2]), y: Number(f[3]), z: Number(f[4]), element: f[5].split(".")[0].toUpperCase() });
    if (section === "BOND" && f.length >= 3) bonds.push([Number(f[1]) - 1, Number(f[2]) - 1]);
  }
  return { atoms, bonds };
}

function parseGro(text) {
  const lines = text.split(/\r?\n/);
  const n = Number(lines[1]);
  const atoms = [];
  for (let i = 0; i < n; i++) {
    const l = lines[2 + i];
    // nm to ångström, so the bond lengths below apply
    atoms.push({ element: l.slice(10, 15).trim().replace(/[^A-Za-z]/g, "").slice(0, 1).toUpperCase(), x: 10 * Number(l.slice(20, 28)), y: 10 * Number(l.slice(28, 36)), z: 10 * Number(l.slice(36, 44)) });
  }
  return { atoms, bonds: [] };
}

const PARSERS = { pdb: parsePdb, pqr: parsePdb, sdf: parseMolfile, sd: parseMolfile, mol: parseMolfile, mol2: parseMol2, gro: parseGro };

// Atoms closer than 1.9 Å (1.2 Å with a hydrogen) are bonded, when the file lists no bonds.
function inferBonds(atoms) {
  const bonds = [];
  if (atoms.length > 5000) return bonds;
  for (let i = 0; i < atoms.length; i++) for (let j = i + 1; j < atoms.length; j++) {
    const a = atoms[i], b = atoms[j];
    const d = Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);
    if (d > 0.4 && d < (a.element === "H" || b.element === "H" ? 1.2 : 1.9)) bonds.push([i, j]);
  }
  return bonds;
}

export function moleculeView(item) {
  const parse = PARSERS[item.format];
  if (!parse) {
    return el("div", { class: "muted" }, `A .${item.format} file: the viewer draws pdb, pqr, sdf, mol2 and gro; `,
      el("a", { href: item.blob.url, download: "" }, "download it"), item.smiles ? ` (SMILES ${item.smiles})` : "");
  }
  const canvas = el("canvas", { class: "view3d", dataset: { kind: "molecule" } });
  const status = el("div", { class: "caption" }, item.smiles ? `SMILES ${item.smiles}` : "");
  const holder = el("div", {}, canvas, status);
  const view = scene3d(canvas);
  (async () => {
    const { atoms, bonds: listed } = parse(await (await fetch(item.blob.url)).text());
    const bonds = listed.length ? listed : inferBonds(atoms);
    const group = new THREE.Group();
    const sphere = new THREE.SphereGeometry(1, 16, 12);
    const balls = new THREE.InstancedMesh(sphere, new THREE.MeshPhongMaterial(), atoms.length);
    const m = new THREE.Matrix4();
    atoms.forEach((a, i) => {
      const r = RADIUS[a.element] || 0.35;
      balls.setMatrixAt(i, m.makeScale(r, r, r).setPosition(a.x, a.y, a.z));
      balls.setColorAt(i, new THREE.Color(ELEMENT_COLOURS[a.element] ?? 0xff69b4));
    });
    group.add(balls);
    const stick = new THREE.CylinderGeometry(0.12, 0.12, 1, 8);
    const sticks = new THREE.InstancedMesh(stick, new THREE.MeshPhongMaterial({ color: 0xbbbbbb }), Math.max(1, bonds.length));
    const up = new THREE.Vector3(0, 1, 0);
    bonds.forEach(([i, j], k) => {
      const a = new THREE.Vector3(atoms[i].x, atoms[i].y, atoms[i].z), b = new THREE.Vector3(atoms[j].x, atoms[j].y, atoms[j].z);
      const direction = b.clone().sub(a);
      const q = new THREE.Quaternion().setFromUnitVectors(up, direction.clone().normalize());
      sticks.setMatrixAt(k, new THREE.Matrix4().compose(a.clone().add(b).multiplyScalar(0.5), q, new THREE.Vector3(1, direction.length(), 1)));
    });
    sticks.count = bonds.length;
    group.add(sticks);
    view.scene.add(group, new THREE.AmbientLight(0xffffff, 1.2));
    const light = new THREE.DirectionalLight(0xffffff, 2.0);
    light.position.set(5, -5, 10);
    view.scene.add(light);
    canvas.dataset.atoms = String(atoms.length);
    canvas.dataset.bonds = String(bonds.length);
    status.textContent = `${atoms.length} atoms, ${bonds.length} bonds` + (item.smiles ? ` — SMILES ${item.smiles}` : "") + "; drag to rotate";
    view.frame(group);
  })().catch((error) => holder.replaceChildren(errorBox(error)));
  return holder;
}
