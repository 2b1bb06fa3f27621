// Microscope: a built microscope's layers, a paged grid of its units (icon and label), searched
// here by label or number, and the selected unit's page. Selecting a unit sets the linked
// `unit`; the kernel sends the icons of the cards shown (`showing` → `cards`) and the selected
// unit's page (`detail`), read from the store on disk.

import { clear, fmt, h } from "../dom.js";
import { frame } from "../frame.js";

const PAGE = 60;

export function microscope(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "Microscope");
  const tabs = h("div", { class: "nb-controls nb-microscope-layers" });
  const search = h("input", { class: "nb-unit-search", type: "search", placeholder: "search: label or unit number" });
  const pager = h("div", { class: "nb-caption nb-microscope-pager" });
  const grid = h("div", { class: "nb-microscope-grid" });
  const page = h("div", { class: "nb-microscope-unit" });
  f.body.append(h("div", { class: "nb-microscope" }, tabs, h("div", { class: "nb-controls" }, search, pager), grid, page));
  let first = 0;
  const urls = new Map(); // unit → [byteLength, url] of its card's icon

  const url = (bytes) => scope.url(bytes);

  const matching = () => {
    const q = search.value.trim().toLowerCase();
    return (model.get("labels") || []).map((label, u) => [u, label]).filter(([u, label]) => !q || String(u) === q || (label || "no clear label").toLowerCase().includes(q));
  };

  const drawTabs = () => {
    clear(tabs);
    for (const layer of model.get("layers") || []) {
      const button = h("button", { class: `nb-button ${layer.name === model.get("layer") ? "nb-selected" : ""}`, "data-layer": layer.name, text: `${layer.name} (${layer.finished} / ${layer.count} ${layer.noun}s)` });
      scope.listen(button, "click", () => {
        if (layer.name === model.get("layer")) return;
        first = 0;
        model.set("unit", null);
        scope.recompute("layer", layer.name, f.note);
      });
      tabs.append(button);
    }
    f.note(model.get("model_note"));
  };

  const drawGrid = () => {
    clear(grid);
    const found = matching();
    first = Math.min(first, Math.max(0, found.length - 1));
    const shown = found.slice(first, first + PAGE);
    grid.dataset.count = String(found.length);
    const cards = model.get("cards") || {};
    for (const [u, label] of shown) {
      const bytes = cards[String(u)];
      let src = "";
      if (bytes) {
        const known = urls.get(u);
        if (!known || known[0] !== bytes.byteLength) urls.set(u, [bytes.byteLength, url(bytes)]);
        src = urls.get(u)[1];
      }
      const card = h("div", { class: `nb-microscope-card ${u === model.get("unit") ? "nb-selected" : ""}`, "data-unit": String(u) },
        h("img", { class: "nb-icon", alt: "", src: src || null, "data-stage": bytes ? "full" : "placeholder" }),
        h("div", { class: "nb-caption", text: `${u} · ${label || "no clear label"}` }));
      scope.listen(card, "click", () => scope.select("unit", model.get("unit") === u ? null : u));
      grid.append(card);
    }
    clear(pager);
    const back = h("button", { class: "nb-button", text: "◀", disabled: first === 0 ? "" : null });
    const next = h("button", { class: "nb-button", text: "▶", disabled: first + PAGE >= found.length ? "" : null });
    scope.listen(back, "click", () => { first = Math.max(0, first - PAGE); drawGrid(); });
    scope.listen(next, "click", () => { first += PAGE; drawGrid(); });
    pager.append(back, ` ${found.length ? first + 1 : 0}–${first + shown.length} of ${found.length} `, next);
    const wanted = shown.map(([u]) => u);
    const asked = model.get("showing") || [];
    if (!model.offline && wanted.some((u) => !cards[String(u)]) && wanted.join() !== asked.join()) scope.select("showing", wanted);
  };

  const picture = (bytes, caption, cls = "") => h("figure", { class: `nb-microscope-figure ${cls}` }, h("img", { alt: caption, src: bytes ? url(bytes) : null }), h("figcaption", { text: caption }));

  const feeds = (d, side, title) => {
    const found = d[side];
    if (!found || !found.units) return h("div", { class: "nb-caption", text: `${title}: no chosen layer ${side}` });
    const icons = (d.feed_icons || {})[side] || {};
    return h("div", { class: "nb-microscope-feeds" }, h("div", { class: "nb-caption", text: `${title} (${found.layer}, attribution averaged over images)` }),
      ...found.units.map(([u, v]) => h("div", { class: "nb-entry", "data-unit": String(u) }, icons[String(u)] ? h("img", { class: "nb-icon", alt: "", src: url(icons[String(u)]) }) : "", h("span", { text: `unit ${u} ${fmt(v)}` }))));
  };

  const drawPage = () => {
    clear(page);
    const d = model.get("detail") || {};
    if (d.unit == null) {
      page.append(h("div", { class: "nb-hint", text: "Click a unit to see its page." }));
      return;
    }
    const p = d.pictures || {};
    const s = d.stats;
    page.append(
      h("div", { class: "nb-title", text: `${d.layer} · ${d.noun} ${d.unit}: ${d.label || "no clear label"}` }),
      h("div", { class: "nb-caption nb-unit-evidence", text: `${d.source ? `labelled by ${d.source}` : "no evidence strong enough for a label"} — ${d.evidence}` }),
      h("div", { class: "nb-microscope-pictures" },
        picture(p.icon, `icon (${d.budget})`), picture(p["icon-input"], "icon, seen at the input's scale"),
        picture(p.diversity, `diversity set (${d.diversity_budget})`), picture(p.exemplars, "top dataset crops, darker where it fires less", "nb-microscope-exemplars")),
      h("div", { class: "nb-caption", text: `mean activation ${fmt(s.mean)} · std ${fmt(s.std)} · peak activation ${fmt(s.peak)} · on at ${(100 * s.active).toFixed(1)}% of positions` }),
      h("div", { class: "nb-caption", text: `supports strongly: ${d.classes.map(([c, v]) => `${c} ${fmt(v)}`).join(", ") || "no class"} · largest class supports: ${d.top_classes.map(([c, v]) => `${c} ${fmt(v)}`).join(", ")}` }),
      feeds(d, "below", "fed most by"), feeds(d, "above", "feeds most"));
  };

  scope.listen(search, "input", () => { first = 0; drawGrid(); });
  scope.on("change:layers", drawTabs);
  scope.on("change:layer", drawTabs);
  scope.on("change:labels", drawGrid);
  scope.on("change:cards", drawGrid);
  scope.on("change:unit", drawGrid);
  scope.on("change:detail", drawPage);
  drawTabs();
  drawGrid();
  drawPage();
}
