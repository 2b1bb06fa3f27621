import assert from "node:assert/strict";
import test from "node:test";

import { pathsThrough, summaryText } from "../src/views/attribution_graph.js";

test("the paths through a node reach every node above and below it, and no side branch", () => {
  // 0 → 1 → 3, 0 → 2 → 3, 4 → 2: the paths through 1 are 0, 1, 3; through 2 also 4.
  const edges = [[0, 1], [1, 3], [0, 2], [2, 3], [4, 2]];
  assert.deepEqual([...pathsThrough(1, edges)].sort(), [0, 1, 3]);
  assert.deepEqual([...pathsThrough(2, edges)].sort(), [0, 2, 3, 4]);
  assert.deepEqual([...pathsThrough(4, edges)].sort(), [2, 3, 4], "up from a source, not back down into its siblings");
});

test("the status line says what a graph explains, what leaks, whether it predicts, and when it explains little", () => {
  const faithfulness = { verdict: "the graph predicts what switching its top 8 units off does (rank correlation 0.95)" };
  const good = summaryText({ explained: { a: 0.9, b: 0.75 }, error_share: 0.05, other_share: 0.1, faithfulness });
  assert.equal(good, `kept units carry ≥ 75% of the target's attribution at every layer · influence through error nodes 5%, through units left out 10% · ${faithfulness.verdict}`);
  assert.match(summaryText({ explained: { a: 0.3 }, error_share: 0.6, other_share: 0, faithfulness: {} }), /this graph explains little of the decision$/);
  assert.equal(summaryText({}), "", "nothing before the graph is computed");
});
