// Attribution graph: the image, then one column per layer (lowest first) of the units that carry
// the decision (icon and label; hovered, the icon large with its dataset exemplars), then the target. An edge's width is its weight, its colour its sign. Hovering a
// node shows its code over the image and brings forward every path through it; "off" and "×2"
// ask the kernel to run the model with the unit changed and show the actual change beside the
// predicted one. A cell hovered in a linked view outlines the nodes active there.

import { BLUE, ORANGE, css, heat } from "../colors.js";
import { clear, fmt, h } from "../dom.js";
import { unpackArray } from "../arrays.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { Picture } from "../picture.js";

const SVG = "http://www.w3.org/2000/svg";
const COLUMN = 132; // px between columns
const NODE = 70; // px between nodes of a column
const TOP = 22; // room for the layer names
const ICON = 40;
const BOX = 124; // px: a node's box, as wide as the style sheet makes it

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const pct = (v) => `${Math.round(100 * v)}%`;

// Every node reachable from `start` along the edges, both ways: the paths through it.
export function pathsThrough(start, edges) {
  const seen = new Set([start]);
  for (const [from, to] of [[0, 1], [1, 0]]) {
    const stack = [start];
    const reached = new Set([start]);
    while (stack.length) {
      const n = stack.pop();
      for (const e of edges) {
        if (e[from] === n && !reached.has(e[to])) {
          reached.add(e[to]);
          stack.push(e[to]);
        }
      }
    }
    for (const n of reached) seen.add(n);
  }
  return seen;
}

// The summary the status line gives: how much the graph explains, how much leaks through error
// nodes, and whether its predictions order the real effects of switching units off.
export function summaryText(summary) {
  if (!summary || !summary.explained) return "";
  const shares = Object.values(summary.explained);
  const parts = [
    `kept units carry ≥ ${pct(Math.min(...shares))} of the target's attribution at every layer`,
    `influence through error nodes ${pct(summary.error_share)}, through units left out ${pct(summary.other_share)}`,
  ];
  if (summary.faithfulness && summary.faithfulness.verdict) parts.push(summary.faithfulness.verdict);
  if (Math.min(...shares) < 0.5) parts.push("this graph explains little of the decision");
  return parts.join(" · ");
}

export function attributionGraph(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  const caption = h("div", { class: "nb-caption nb-graph-caption" });
  const result = h("div", { class: "nb-graph-result" });
  const detail = h("div", { class: "nb-flow-icon nb-graph-detail" }); // the hovered unit: its icon large, its exemplars, its label
  let s = null;

  const showNode = () => {
    if (!s) return;
    const id = model.get("node");
    const active = id == null ? null : pathsThrough(id, s.edges.map((e) => e.ends));
    for (const e of s.edges) e.el.classList.toggle("nb-edge-active", !!active && active.has(e.ends[0]) && active.has(e.ends[1]));
    s.chart.classList.toggle("nb-graph-focus", id != null);
    for (const [n, box] of s.boxes) box.classList.toggle("nb-graph-on-path", !!active && active.has(n));
    const found = id == null ? null : s.byId.get(id);
    clear(detail);
    if (found && found.node.kind === "unit") detail.append(icons.tile(found.node.key, found.title, 72), icons.exemplars(found.node.key), h("div", { class: "nb-caption" }, icons.label(found.node.key)));
    if (!found || !found.map) {
      s.picture.setHeat(null);
      caption.textContent = found ? found.title : "";
      return;
    }
    s.picture.setHeat(heat(found.map, ORANGE), found.rows, found.cols);
    caption.textContent = `${found.title}: attribution to the target ${fmt(found.node.attribution)}, summed code ${fmt(found.node.value)}`;
  };

  // A cell chosen in a linked view (in the grid of `layer`): outline the nodes active there.
  const showPosition = () => {
    if (!s) return;
    const position = model.get("position");
    const [rows, cols] = s.layerGrid;
    for (const found of s.byId.values()) {
      let here = false;
      if (position && found.map) {
        const y = Math.min(found.rows - 1, Math.floor(((position[0] + 0.5) * found.rows) / rows));
        const x = Math.min(found.cols - 1, Math.floor(((position[1] + 0.5) * found.cols) / cols));
        here = found.map[y * found.cols + x] > 0.3 * found.peak && found.peak > 0;
      }
      s.boxes.get(found.node.id).classList.toggle("nb-graph-here", here);
    }
  };

  const showIntervention = () => {
    const r = model.get("intervention");
    if (!s || !r || r.node == null) {
      result.textContent = "";
      return;
    }
    const found = s.byId.get(r.node);
    const what = r.scale === 0 ? "switched off" : `scaled ×${r.scale}`;
    result.textContent = `${found ? found.title : `node ${r.node}`} ${what}: the graph predicted ${fmt(r.predicted)}, the model gives ${fmt(r.actual)}`;
  };

  const nodeBox = (node, title, x, y, map) => {
    const box = h("div", { class: `nb-graph-node nb-graph-${node.kind}`, "data-node": node.id, style: { left: `${x}px`, top: `${y}px` } });
    if (node.kind === "unit") {
      const off = h("button", { "data-scale": "0", title: "Switch this unit off and run the model" }, "off");
      const twice = h("button", { "data-scale": "2", title: "Double this unit and run the model" }, "×2");
      for (const b of [off, twice]) scope.listen(b, "click", () => scope.request({ action: "intervene", node: node.id, scale: Number(b.dataset.scale) }, f.note));
      box.append(icons.tile(node.key, title, ICON), h("div", { class: "nb-graph-text" }, h("div", {}, `${node.unit}`), icons.label(node.key), h("div", { class: "nb-graph-buttons" }, off, twice)));
    } else {
      box.append(h("div", { class: "nb-graph-text" }, title));
    }
    scope.listen(box, "mouseenter", () => scope.select("node", node.id));
    scope.listen(box, "mouseleave", () => scope.select("node", null));
    return box;
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    const columns = model.get("columns") || [];
    if (!columns.length) return;
    f.setTitle(`Attribution graph · ${model.get("target_label")} · ${columns.map((c) => c.layer).join(" → ")}`);
    const tallest = Math.max(1, ...columns.map((c) => c.nodes.length));
    const width = COLUMN * (columns.length + 1) + 90;
    const height = TOP + NODE * tallest;
    const chart = h("div", { class: "nb-graph", style: { width: `${width}px`, height: `${height}px` } });
    const lines = svg("svg", { width, height, class: "nb-graph-edges" });
    chart.append(lines);
    const at = new Map(); // node id → [x, y] of its box's centre
    const byId = new Map();
    const boxes = new Map();
    const place = (node, title, column, row, count, map) => {
      const x = column * COLUMN;
      const y = TOP + ((tallest - count) * NODE) / 2 + row * NODE;
      const box = nodeBox(node, title, x, y, map);
      boxes.set(node.id, box);
      chart.append(box);
      at.set(node.id, [x, y + NODE / 2 - 8]);
    };
    place({ id: 0, kind: "input" }, "the image", 0, 0, 1);
    columns.forEach((column, i) => {
      const maps = unpackArray(column.maps);
      const [, rows, cols] = maps.shape;
      const text = `${column.layer} (${column.kept} kept)`;
      const label = h("div", { class: "nb-graph-layer", title: text, style: { left: `${(i + 1) * COLUMN}px`, width: `${COLUMN - 8}px` } }, text);
      chart.append(label);
      column.nodes.forEach((node, j) => {
        const title = node.kind === "unit" ? `${column.layer} unit ${node.unit}` : `${column.layer}: ${node.kind === "other" ? "other units" : "error"}`;
        const map = node.kind === "unit" ? maps.values.subarray(j * rows * cols, (j + 1) * rows * cols) : null;
        let peak = 0;
        if (map) for (const v of map) peak = Math.max(peak, v);
        byId.set(node.id, { node, title, map, rows, cols, peak });
        place(node, title, i + 1, j, column.nodes.length, map);
      });
    });
    const edgeRows = unpackArray(model.get("edges"));
    place({ id: model.get("summary").target, kind: "target" }, model.get("target_label"), columns.length + 1, 0, 1);
    let peak = 1e-30;
    for (let r = 0; r < edgeRows.shape[0]; r++) peak = Math.max(peak, Math.abs(edgeRows.values[r * 3 + 2]));
    const edges = [];
    for (let r = 0; r < edgeRows.shape[0]; r++) {
      const [from, to, w] = [edgeRows.values[r * 3], edgeRows.values[r * 3 + 1], edgeRows.values[r * 3 + 2]];
      if (!at.has(from) || !at.has(to)) continue; // an end not drawn (beyond a column's shown nodes)
      const [x0, y0] = at.get(from);
      const [x1, y1] = at.get(to);
      const [sx, ex] = [x0 + BOX, x1];
      const mid = (sx + ex) / 2;
      const path = svg("path", {
        d: `M${sx},${y0} C${mid},${y0} ${mid},${y1} ${ex},${y1}`, class: "nb-graph-edge",
        "stroke-width": Math.max(0.75, (8 * Math.abs(w)) / peak), stroke: css(w >= 0 ? ORANGE : BLUE, 0.55), "data-weight": w,
      });
      lines.append(path);
      edges.push({ el: path, ends: [from, to] });
    }
    const faith = (model.get("summary") || {}).faithfulness || {};
    const checks = h("div", { class: "nb-graph-checks" });
    if (faith.nodes && faith.nodes.length) {
      checks.append(h("div", { class: "nb-caption" }, "switched off one at a time: predicted → actual change of the target"));
      faith.nodes.forEach((n, i) => {
        const found = byId.get(n);
        checks.append(h("div", { class: "nb-graph-check" }, `${found ? found.title : `node ${n}`}: ${fmt(faith.predicted[i])} → ${fmt(faith.actual[i])}`));
      });
    }
    s = { edges, boxes, byId, chart, layerGrid: layerGrid(columns), picture: new Picture(scope, model.get("picture"), { width: 200 }) };
    f.note(summaryText(model.get("summary")));
    f.body.append(h("div", { class: "nb-graph-panel" }, h("div", { class: "nb-graph-side" }, s.picture.el, caption, detail, result, checks), h("div", { class: "nb-graph-scroll" }, chart)));
    showNode();
    showPosition();
    showIntervention();
  };

  // The grid `position` is given in: the view's `layer`'s, else the highest column's.
  const layerGrid = (columns) => {
    const named = columns.find((c) => c.layer === model.get("layer")) || columns[columns.length - 1];
    const shape = unpackArray(named.maps).shape;
    return [shape[1], shape[2]];
  };

  scope.on("change:columns", build);
  scope.on("change:node", showNode);
  scope.on("change:position", showPosition);
  scope.on("change:intervention", showIntervention);
  scope.on("change:summary", () => f.note(summaryText(model.get("summary"))));
  build();
}
