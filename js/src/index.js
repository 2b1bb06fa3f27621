// Entry point of the bundle every widget loads: the view named by the model's `kind` draws
// into `el`; the returned function removes its listeners, URLs and elements.

import { Scope } from "./dom.js";
import { activationAtlas } from "./views/activation_atlas.js";
import { activationGrid } from "./views/activation_grid.js";
import { attributionGraph } from "./views/attribution_graph.js";
import { channelAttribution } from "./views/channel_attribution.js";
import { dissection } from "./views/dissection.js";
import { featureVis } from "./views/feature_vis.js";
import { groupFlow } from "./views/group_flow.js";
import { microscope } from "./views/microscope.js";
import { modelComparison } from "./views/model_comparison.js";
import { neuronGroups } from "./views/neuron_groups.js";
import { semanticDictionary } from "./views/semantic_dictionary.js";
import { spatialAttribution } from "./views/spatial_attribution.js";
import { unitBrowser } from "./views/unit_browser.js";

export const VIEWS = {
  semantic_dictionary: semanticDictionary,
  activation_grid: activationGrid,
  spatial_attribution: spatialAttribution,
  channel_attribution: channelAttribution,
  class_comparison: (scope, el) => channelAttribution(scope, el, { teaser: true }),
  neuron_groups: neuronGroups,
  group_flow: groupFlow,
  feature_vis: featureVis,
  dissection,
  model_comparison: modelComparison,
  activation_atlas: activationAtlas,
  unit_browser: unitBrowser,
  microscope,
  attribution_graph: attributionGraph,
};

function render({ model, el }) {
  const scope = new Scope(model);
  const view = VIEWS[model.get("kind")];
  if (!view) {
    el.textContent = `neuroblocks: no view named ${JSON.stringify(model.get("kind"))}`;
    return () => {};
  }
  view(scope, el);
  return () => scope.dispose();
}

// anywidget's module format: a default export holding the lifecycle (a bare `render` export is deprecated).
export default { render };
