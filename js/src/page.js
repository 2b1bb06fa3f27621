// The runtime of an exported page (neuroblocks.to_html): models that hold the saved state,
// links between them, and the layout, with no kernel. Views are the same as in a notebook.

import { h } from "./dom.js";
import widget from "./index.js";

// The part of the anywidget model interface the views use, over saved state.
export class LocalModel {
  constructor(state) {
    this.state = { ...state };
    this.handlers = new Map();
    this.offline = true; // views say what needs the notebook
  }

  get(name) {
    return this.state[name];
  }

  set(name, value) {
    if (JSON.stringify(this.state[name]) === JSON.stringify(value)) return;
    this.state[name] = value;
    for (const fn of [...(this.handlers.get(`change:${name}`) || [])]) fn();
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
  }

  off(event, fn) {
    const list = this.handlers.get(event) || [];
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  }

  save_changes() {}

  send() {}
}

// Put binary buffers back where ipywidgets took them from, as DataViews like a kernel sends.
export function restore({ state, buffers }) {
  for (const { path, base64 } of buffers) {
    const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
    let node = state;
    for (const key of path.slice(0, -1)) node = node[key];
    node[path[path.length - 1]] = new DataView(bytes.buffer);
  }
  return state;
}

// Linked traits kept equal, as neuroblocks.link and link_traits do in a notebook: each link is
// a list of [view index, trait] members.
export function connect(models, links) {
  for (const { members } of links) {
    for (const [i, trait] of members) {
      models[i].on(`change:${trait}`, () => {
        for (const [j, other] of members) if (j !== i || other !== trait) models[j].set(other, models[i].get(trait));
      });
    }
  }
}

function place(node, models) {
  if ("view" in node) {
    const el = h("div", { class: "nb-page-view" });
    widget.render({ model: models[node.view], el });
    return el;
  }
  const direction = "row" in node ? "row" : "column";
  return h("div", { class: `nb-page-${direction}` }, ...node[direction].map((child) => place(child, models)));
}

export function start(document) {
  const data = JSON.parse(document.getElementById("neuroblocks-data").textContent);
  const models = data.views.map((v) => new LocalModel(restore(v)));
  connect(models, data.links);
  document.getElementById("neuroblocks-root").append(place(data.layout, models));
}

if (typeof document !== "undefined" && document.getElementById("neuroblocks-data")) start(document);
