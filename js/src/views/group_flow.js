// Group flow: a Sankey diagram of neuron groups across layers, lowest on the left. A band's
// width is how much a lower group feeds a higher one; hovering a group shows its mask over
// the image and brings its bands forward, as does choosing a group of the highest layer in a
// linked view (neuron groups of that layer).

import { css, groupMasks } from "../colors.js";
import { clear, h } from "../dom.js";
import { unpackArray } from "../arrays.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { Picture } from "../picture.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 420;
const HEIGHT = 300;
const NODE = 14;

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function groupFlow(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  const iconBox = h("div", { class: "nb-flow-icon" });
  let s = null;

  // The hovered node; else the highest layer's group chosen in a linked view (`group`).
  const shownNode = () => {
    const group = model.get("group");
    return model.get("node") || (group != null ? [s.columns.length - 1, group] : null);
  };

  const showNode = () => {
    if (!s) return;
    const node = shownNode();
    clear(iconBox);
    for (const band of s.bands) band.el.classList.toggle("nb-band-active", !!node && band.ends.some(([l, g]) => l === node[0] && g === node[1]));
    if (!node || !s.columns[node[0]]) {
      s.picture.setHeat(null);
      return;
    }
    const column = s.columns[node[0]];
    const [k, rows, cols] = column.masks.shape;
    s.picture.setHeat(groupMasks(column.masks.values, k, column.colors.values, node[1]), rows, cols);
    const key = `${column.layer}:g${node[1]}`;
    iconBox.append(icons.tile(key, `${column.layer} group ${node[1]}`, 72), icons.exemplars(key), h("div", { class: "nb-caption" }, `${column.layer} · group ${node[1]} · `, icons.label(key)));
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    const columns = (model.get("columns") || []).map((c) => ({ layer: c.layer, masks: unpackArray(c.masks), colors: unpackArray(c.colors) }));
    if (!columns.length) return;
    const flows = model.get("flows").map(unpackArray);
    f.setTitle(`Group flow · ${columns.map((c) => c.layer).join(" → ")}`);
    const chart = svg("svg", { width: WIDTH, height: HEIGHT, class: "nb-sankey" });
    const x = (i) => 20 + (i * (WIDTH - 40 - NODE)) / (columns.length - 1);
    const y = (k, g) => 24 + (g * (HEIGHT - 40)) / k;
    const nodeHeight = (k) => (HEIGHT - 40) / k - 8;
    const bands = [];
    const peak = Math.max(1e-30, ...flows.flatMap((m) => Array.from(m.values)));
    flows.forEach((m, i) => {
      const [hi, lo] = m.shape;
      for (let a = 0; a < hi; a++) {
        for (let b = 0; b < lo; b++) {
          const v = m.values[a * lo + b];
          if (v <= 0) continue;
          const [x0, x1] = [x(i) + NODE, x(i + 1)];
          const [y0, y1] = [y(lo, b) + nodeHeight(lo) / 2, y(hi, a) + nodeHeight(hi) / 2];
          const mid = (x0 + x1) / 2;
          const path = svg("path", { d: `M${x0},${y0} C${mid},${y0} ${mid},${y1} ${x1},${y1}`, class: "nb-band", "stroke-width": Math.max(1, (24 * v) / peak), stroke: css(Array.from(columns[i].colors.values.subarray(b * 3, b * 3 + 3)), 0.45) });
          chart.append(path);
          bands.push({ el: path, ends: [[i, b], [i + 1, a]] });
        }
      }
    });
    columns.forEach((column, i) => {
      const k = column.masks.shape[0];
      // Labels align with their column: the first from its left edge, the last to its right edge, so none runs off the chart.
      const anchor = i === 0 ? "start" : i === columns.length - 1 ? "end" : "middle";
      const label = svg("text", { x: x(i) + (anchor === "start" ? 0 : anchor === "end" ? NODE : NODE / 2), y: 12, "text-anchor": anchor, class: "nb-sankey-label" });
      label.textContent = column.layer;
      chart.append(label);
      for (let g = 0; g < k; g++) {
        const rect = svg("rect", { x: x(i), y: y(k, g), width: NODE, height: nodeHeight(k), fill: css(Array.from(column.colors.values.subarray(g * 3, g * 3 + 3))), class: "nb-node", "data-node": `${i},${g}` });
        // The highest layer's groups are the view's `group`, shared with linked views.
        const top = i === columns.length - 1;
        scope.listen(rect, "mouseenter", () => (scope.select("node", [i, g]), top && scope.select("group", g)));
        scope.listen(rect, "mouseleave", () => (scope.select("node", null), top && scope.select("group", null)));
        chart.append(rect);
      }
    });
    s = { columns, bands, picture: new Picture(scope, model.get("picture"), { width: 200 }) };
    f.body.append(chart, h("div", { class: "nb-panel" }, s.picture.el, iconBox));
    showNode();
  };

  scope.on("change:columns", build);
  scope.on("change:node", showNode);
  scope.on("change:group", showNode);
  build();
}
