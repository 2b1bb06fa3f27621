// The faithfulness readout of an attribution view: deletion curves (the target's probability as
// the map's top regions or units are removed, against random orders) as one small plot, the area
// between the curves per map, and a warning where a map does no better than random.

import { unpackArray } from "./arrays.js";
import { BLUE, ORANGE, css } from "./colors.js";
import { h } from "./dom.js";

const WIDTH = 180;
const HEIGHT = 90;
const SVG = "http://www.w3.org/2000/svg";

// "x,y x,y …" of a curve: fractions removed (0…1) across, probability (0…top) up.
export function points(fractions, values, width = WIDTH, height = HEIGHT, top = 1) {
  return Array.from(fractions, (x, i) => `${(x * width).toFixed(1)},${((1 - Math.min(1, Math.max(0, values[i] / top))) * height).toFixed(1)}`).join(" ");
}

// One line per curve: "label (p 0.31): area +0.310 (random ±0.050)", then its verdict where it is
// no better than random, or where the class starts too low for its map to be judged.
export function verdicts(data) {
  return data.labels.map((label, i) => {
    const start = `${label} (p ${data.starts[i].toFixed(2)})`;
    if (!data.judged[i]) return { text: `${start}: too little probability to fall, so its map is not judged`, weak: false };
    const text = `${start}: area ${data.areas[i] >= 0 ? "+" : ""}${data.areas[i].toFixed(3)} (random ±${data.spreads[i].toFixed(3)})`;
    return data.beats[i] ? { text, weak: false } : { text: `${text} — no better than random: do not read much into this map`, weak: true };
  });
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

export function deletionReadout(data, colors = [ORANGE, BLUE]) {
  if (!data || !data.fractions) return h("div", { class: "nb-deletion nb-hint", text: "faithfulness: deletion curves are being computed…" });
  const fractions = unpackArray(data.fractions).values;
  const curves = unpackArray(data.curves);
  const random = unpackArray(data.random);
  const steps = fractions.length;
  const top = Math.max(0.05, ...curves.values, ...random.values); // the plot's height: the highest probability drawn
  const plot = svg("svg", { class: "nb-deletion-plot", width: String(WIDTH), height: String(HEIGHT), viewBox: `0 0 ${WIDTH} ${HEIGHT}` });
  plot.append(svg("rect", { x: "0", y: "0", width: String(WIDTH), height: String(HEIGHT), fill: "none", stroke: "#ccc" }));
  const label = svg("text", { x: String(WIDTH - 2), y: "10", "text-anchor": "end", "font-size": "9", fill: "#666" });
  label.textContent = `p ${top.toFixed(2)}`;
  plot.append(label);
  data.labels.forEach((_, i) => {
    const colour = css(colors[i % colors.length]);
    const line = (values, dashed) => svg("polyline", { points: points(fractions, values, WIDTH, HEIGHT, top), fill: "none", stroke: colour, "stroke-width": dashed ? "1" : "2", ...(dashed ? { "stroke-dasharray": "3 2", opacity: "0.7" } : {}) });
    plot.append(line(random.values.subarray(i * steps, (i + 1) * steps), true), line(curves.values.subarray(i * steps, (i + 1) * steps), false));
  });
  const lines = verdicts(data).map(({ text, weak }) => h("div", { class: weak ? "nb-deletion-weak" : "", text }));
  return h("div", { class: "nb-deletion", "data-areas": data.areas.join(",") },
    h("div", { class: "nb-caption", text: `faithfulness: the probability as ${data.what} are removed, most attributed first (solid) or in random order (dashed)` }),
    plot, ...lines);
}
