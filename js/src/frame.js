// The shell every view draws into: a title, a status line for busy states (what is being
// computed, how far, how many icons are in), and an error box that says what went wrong and what to do. A view tells
// the kernel when it is drawn and when the pointer enters it, so its work goes first.

import { h } from "./dom.js";

export function frame(scope, el, title) {
  const heading = h("div", { class: "nb-title", text: title });
  const status = h("div", { class: "nb-status" });
  const error = h("div", { class: "nb-error" });
  const body = h("div", { class: "nb-body" });
  const root = h("div", { class: "nb-view" }, heading, status, error, body);
  el.append(root);
  const model = scope.model;
  let note = ""; // what a view says in the status line when nothing is computing
  const show = () => {
    const busy = model.get("busy");
    const [ready, wanted] = model.get("icon_count") || [0, 0];
    const icons = ready < wanted ? `icons ${ready} / ${wanted}` : "";
    status.textContent = [busy || note, icons].filter(Boolean).join(" · ");
    root.classList.toggle("nb-busy", !!busy);
    error.textContent = model.get("error") || "";
    error.style.display = model.get("error") ? "block" : "none";
  };
  scope.on("change:busy", show);
  scope.on("change:icon_count", show);
  scope.on("change:error", show);
  show();
  const look = (rendered = false) => model.send({ action: "look", rendered });
  root.addEventListener("pointerenter", () => look());
  look(true); // drawn: the kernel may resend the state a host lost (host.py)
  scope.undo.push(() => root.remove());
  return {
    root,
    body,
    setTitle: (text) => (heading.textContent = text),
    note: (text) => {
      note = text;
      show();
    },
  };
}
