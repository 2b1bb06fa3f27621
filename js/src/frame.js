// The shell every view draws into: a title, a status line for busy states (what is being
// computed, how far, how many icons are in and at which budget, with a Stop for the icons
// refining to the full budget), and an error box that says what went wrong and what to do. A view tells
// the kernel when it is drawn and when the pointer enters it, so its work goes first.

import { h } from "./dom.js";

export function frame(scope, el, title) {
  const heading = h("div", { class: "nb-title", text: title });
  const status = h("div", { class: "nb-status" });
  const statusText = h("span", {});
  const stop = h("button", { class: "nb-stop-refining", text: "Stop", title: "Stop rendering icons at the full budget; those refined stay" });
  status.append(statusText, stop);
  const error = h("div", { class: "nb-error" });
  const body = h("div", { class: "nb-body" });
  const root = h("div", { class: "nb-view" }, heading, status, error, body);
  el.append(root);
  const model = scope.model;
  let note = ""; // what a view says in the status line when nothing is computing
  const show = () => {
    const busy = model.get("busy");
    const icons = iconStatus(model.get("icon_count"), model.get("icon_budget"), model.get("refining"), !!model.offline);
    statusText.textContent = [busy || note, icons].filter(Boolean).join(" · ");
    stop.style.display = model.get("refining") === "on" && !model.offline ? "" : "none";
    root.classList.toggle("nb-busy", !!busy);
    error.textContent = model.get("error") || "";
    error.style.display = model.get("error") ? "block" : "none";
  };
  scope.on("change:busy", show);
  scope.on("change:icon_count", show);
  scope.on("change:refining", show);
  scope.listen(stop, "click", () => model.send({ action: "stop_refining" }));
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

// What the status line says of the icons: how many are in at the quick budget, then how many
// are at the full budget, each with its budget, so a reader knows what a picture cost. An
// exported page (`offline`) says what was missing when it was written.
export function iconStatus(count, budget, refining, offline = false) {
  const [ready, wanted, full] = [...(count || []), 0, 0, 0].slice(0, 3);
  if (!wanted) return "";
  const { quick = "", full: fullBudget = "" } = budget || {};
  if (ready < wanted && offline) return `${wanted - ready} of ${wanted} icons were not rendered when this page was written`;
  if (ready < wanted) return `icons ${ready} / ${wanted}${quick ? ` (quick: ${quick})` : ""}`;
  if (full >= wanted) return `all ${wanted} icons at full quality${fullBudget ? ` (${fullBudget})` : ""}`;
  if (offline) return `full quality ${full} / ${wanted}${fullBudget ? ` (${fullBudget})` : ""}; the others at the quick budget${quick ? ` (${quick})` : ""}`;
  const state = refining === "on" ? "refining" : refining === "stopped" ? "stopped" : "refine on view";
  return `full quality ${full} / ${wanted}${fullBudget ? ` (${fullBudget})` : ""}, ${state}`;
}
