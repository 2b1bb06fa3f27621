// Channel attribution, and the teaser built on it: the channels that most support and most
// oppose a class (or class A over class B) as icons with values. Hovering a channel shows its
// activation over the image and the classes it supports most; clicking one (channel
// attribution only) asks the kernel which channels below fed it and which above it feeds. Given
// other units (a trained dictionary's latents, …) the entries are those (`unit`, their noun),
// their icons keyed by `unit_key`.

import { unpackArray } from "../arrays.js";
import { BLUE, ORANGE, heat } from "../colors.js";
import { deletionReadout } from "../deletion.js";
import { clear, fmt, h, name } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { logitRows } from "../logits.js";
import { Picture, read, readTop, className } from "../picture.js";
import { entries, slice } from "../ranking.js";

export function channelAttribution(scope, el, { teaser = false } = {}) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  const classes = h("div", { class: "nb-legend" });
  const drill = h("div", { class: "nb-drill" });
  let s = null;

  const classLabel = (i) => className(model, i);

  // The noun of the view's own entries ("channel", "latent", …) and their icons' key; the drill
  // lists channels of other layers, keyed by their layer.
  const unit = () => model.get("noun") || "channel";
  const unitKey = () => model.get("unit_key") || model.get("layer");

  const entry = (layer, c, value, peak, onClick, toggle = null, noun = "channel", key = layer) => {
    const item = h("div", { class: "nb-entry nb-clickable", "data-channel": String(c), "data-layer": layer },
      icons.tile(`${key}:${c}`, `${noun} ${c}`),
      icons.exemplars(`${key}:${c}`),
      h("div", { class: "nb-entry-text" },
        h("div", {}, `${noun} ${c} `, toggle),
        h("div", { class: "nb-bar-track" }, h("div", { class: `nb-bar ${value < 0 ? "nb-bar-negative" : ""}`, style: { width: `${(100 * Math.abs(value)) / peak}%` } })),
        h("div", { class: "nb-value", text: fmt(value), title: "its attribution to the target" })));
    if (onClick) scope.listen(item, "click", onClick);
    return item;
  };

  // A switch that ablates the channel (the kernel recomputes with it off).
  const toggle = (c) => {
    const off = (model.get("ablated") || []).includes(c);
    const button = h("button", { class: `nb-toggle ${off ? "nb-off" : ""}`, "data-ablate": String(c), title: off ? "switch back on" : "switch off (ablate)", text: off ? "off" : "on" });
    scope.listen(button, "click", (event) => {
      event.stopPropagation();
      const now = model.get("ablated") || [];
      scope.recompute("ablated", off ? now.filter((k) => k !== c) : [...now, c], f.note);
    });
    return button;
  };

  const showChannel = () => {
    if (!s) return;
    clear(classes);
    const c = model.get("unit");
    const i = c == null ? -1 : s.shown.indexOf(c);
    for (const item of f.body.querySelectorAll(".nb-entry")) item.classList.toggle("nb-selected", item.dataset.channel === String(c) && item.dataset.layer === model.get("layer"));
    if (i < 0) {
      s.picture.setHeat(null);
      classes.append(h("div", { class: "nb-hint", text: `Hover a ${unit()} to see where it fires; click it to trace it down and up.` }));
      return;
    }
    s.picture.setHeat(heat(slice(s.maps, i), s.values.values[c] < 0 ? BLUE : ORANGE));
    classes.append(h("div", { class: "nb-legend-title", text: `${unit()} ${c} supports` }));
    if (!s.classes) {
      classes.append(h("div", { class: "nb-hint", text: `The classes each ${unit()} supports are still being computed.` }));
      return;
    }
    for (const e of entries(s.classes, i)) classes.append(h("div", { class: "nb-legend-row" }, name(classLabel(e.index)), h("span", { class: "nb-value", text: fmt(e.value) })));
  };

  const showDrill = () => {
    clear(drill);
    const d = model.get("drill") || {};
    if (d.channel == null) return;
    drill.append(h("div", { class: "nb-legend-title", text: `${unit()} ${d.channel} of ${d.layer}` }));
    for (const [side, title] of [["below", "was fed most by"], ["above", "feeds most"]]) {
      if (!d[side]) continue;
      const channels = unpackArray(d[side].channels);
      const values = unpackArray(d[side].values);
      const peak = Math.max(...Array.from(values.values, Math.abs)) || 1;
      const items = Array.from(channels.values, (k, j) => entry(d[side].layer, k, values.values[j], peak, () => scope.request({ action: "goto", layer: d[side].layer, channel: k }, f.note)));
      drill.append(h("div", { class: "nb-drill-side", "data-side": side }, h("div", { class: "nb-caption", text: `${title} (${d[side].layer})` }), h("div", { class: "nb-list nb-row-list" }, ...items)));
    }
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    const values = read(model, "values");
    if (!values) return;
    const layer = model.get("layer");
    const label = model.get("target_label");
    const given = model.get("found_by") ? ` · ${unit()}s of ${model.get("found_by")}` : "";
    const noun = unit()[0].toUpperCase() + unit().slice(1);
    f.setTitle(teaser ? `Why ${label.replace(" − ", " and not ")}? · ${layer}` : `${noun} attribution to ${label} · ${layer}${given}`);
    s = { values, shown: Array.from(read(model, "shown").values), maps: read(model, "maps"), classes: readTop(model, "channel_classes") };
    s.picture = new Picture(scope, model.get("picture"), { width: 240 });
    const [, rows, cols] = s.maps.shape;
    s.picture.setGrid(rows, cols);
    const peak = Math.max(...s.shown.map((c) => Math.abs(values.values[c]))) || 1;
    const column = (title, channels) => {
      const items = channels.map((c) => entry(layer, c, values.values[c], peak, teaser ? null : () => scope.recompute("focus", c, f.note), teaser ? null : toggle(c), unit(), unitKey()));
      for (const item of items) {
        scope.listen(item, "mouseenter", () => scope.select("unit", Number(item.dataset.channel)));
      }
      return h("div", { class: "nb-column" }, h("div", { class: "nb-caption", text: title }), h("div", { class: "nb-list" }, ...items));
    };
    const [a, b] = label.split(" − ");
    const ablated = model.get("ablated") || [];
    const positive = s.shown.filter((c) => values.values[c] > 0 && !ablated.includes(c));
    const negative = s.shown.filter((c) => values.values[c] < 0 && !ablated.includes(c));
    s.readout = h("div", {});
    f.body.append(
      h("div", { class: "nb-panel" }, s.picture.el, h("div", { class: "nb-logits" }, ...logitRows(model, model.get("target_classes") || [], classLabel)), classes,
        model.get("integration") ? h("div", { class: "nb-caption nb-integration", text: model.get("integration") }) : null, s.readout),
      column(teaser ? `for ${a}` : "most for", positive),
      column(teaser ? `for ${b}` : "most against", negative),
    );
    if (ablated.length) f.body.append(column("switched off", ablated.filter((c) => s.shown.includes(c))));
    if (!teaser) f.body.append(drill);
    s.picture.mark(model.get("position"));
    showChannel();
    showDrill();
    showReadout();
  };

  const showReadout = () => {
    if (!s) return;
    clear(s.readout);
    s.readout.append(deletionReadout(model.get("faithfulness"), [ORANGE]));
  };

  scope.on("change:values", build);
  scope.on("change:unit", showChannel);
  scope.on("change:position", () => s && s.picture.mark(model.get("position"))); // a cell chosen in a linked view
  scope.on("change:channel_classes", () => {
    if (!s) return;
    s.classes = readTop(model, "channel_classes");
    showChannel();
  });
  scope.on("change:drill", showDrill);
  scope.on("change:faithfulness", showReadout);
  scope.on("change:unit_key", build); // a host that sends one trait at a time (marimo)
  build();
}
