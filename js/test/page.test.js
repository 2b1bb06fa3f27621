import assert from "node:assert/strict";
import { test } from "node:test";

import { unpackArray } from "../src/arrays.js";
import { LocalModel, connect, restore } from "../src/page.js";

test("LocalModel: get, set, change events, off", () => {
  const model = new LocalModel({ position: null });
  const seen = [];
  const fn = () => seen.push(model.get("position"));
  model.on("change:position", fn);
  model.set("position", [1, 2]);
  model.set("position", [1, 2]); // unchanged: no event
  model.off("change:position", fn);
  model.set("position", [3, 4]);
  assert.deepEqual(seen, [[1, 2]]);
  assert.ok(model.offline, "views learn that no kernel is there");
});

test("restore puts base64 buffers back as DataViews at their paths", () => {
  const bytes = Buffer.from(Float32Array.from([1.5, -2]).buffer).toString("base64");
  const state = restore({ state: { acts: { dtype: "float32", shape: [2] }, icons: { a: { stage: "final" } } }, buffers: [
    { path: ["acts", "data"], base64: bytes },
    { path: ["icons", "a", "png"], base64: Buffer.from([137, 80]).toString("base64") },
  ] });
  assert.deepEqual(Array.from(unpackArray(state.acts).values), [1.5, -2]);
  assert.ok(state.icons.a.png instanceof DataView);
  assert.equal(state.icons.a.png.getUint8(0), 137);
});

test("connect keeps linked traits equal in every direction, and only those", () => {
  const models = [0, 1, 2].map(() => new LocalModel({ position: null, unit: null }));
  connect(models, [{ members: [[0, "position"], [1, "position"], [2, "position"]] }]);
  models[2].set("position", [5, 6]);
  assert.deepEqual(models.map((m) => m.get("position")), [[5, 6], [5, 6], [5, 6]]);
  models[0].set("unit", 3);
  assert.equal(models[1].get("unit"), null);
});

test("connect links differently named traits", () => {
  const models = [new LocalModel({ unit_b: null }), new LocalModel({ unit: null })];
  connect(models, [{ members: [[0, "unit_b"], [1, "unit"]] }]);
  models[0].set("unit_b", 7);
  assert.equal(models[1].get("unit"), 7);
  models[1].set("unit", 2);
  assert.equal(models[0].get("unit_b"), 2);
});
