import { test } from "node:test";
import assert from "node:assert/strict";
import { barelyResponds } from "../src/icons.js";

test("an icon whose render could not raise its objective is marked as barely responding", () => {
  assert.equal(barelyResponds([0, 0]), true, "a unit off on every image the render tried");
  assert.equal(barelyResponds([0.5, 0.4]), true, "the objective fell");
  assert.equal(barelyResponds([0.0, 0.3]), false, "raised: the icon shows what the unit detects");
  assert.equal(barelyResponds(null), false, "unknown (an icon cached before responses were kept): no mark");
});
