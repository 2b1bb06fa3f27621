import assert from "node:assert/strict";
import { test } from "node:test";

import { cellUnder, density, indexLevel, placeOf } from "../src/atlas_cells.js";
import { matches, order } from "../src/unit_order.js";

const rows = [
  { unit: 0, label: "texture:stripes", iou: 0.2, peak: 3 },
  { unit: 1, label: "", iou: null, peak: 9 },
  { unit: 2, label: "shape:circle", iou: 0.4, peak: 1 },
];

test("units sort by IoU or activation, unlabelled last, ties by unit", () => {
  assert.deepEqual(order(rows, "iou").map((r) => r.unit), [2, 0, 1]);
  assert.deepEqual(order(rows, "peak").map((r) => r.unit), [1, 0, 2]);
  assert.deepEqual(order(rows, "unit").map((r) => r.unit), [0, 1, 2]);
});

test("search finds labels case-insensitively and units by number", () => {
  assert.deepEqual(rows.filter((r) => matches(r, "STRIPES")).map((r) => r.unit), [0]);
  assert.deepEqual(rows.filter((r) => matches(r, "2")).map((r) => r.unit), [2]);
  assert.equal(rows.filter((r) => matches(r, " ")).length, 3);
});


test("an atlas level finds the kept cell under a point, and none elsewhere", () => {
  const level = {
    size: 4,
    where: { values: new Int16Array([0, 0, 3, 2]), shape: [2, 2] },
    counts: { values: new Int32Array([6, 60]), shape: [2] },
    top: { index: { values: new Int32Array([1, 2]), shape: [2, 1] }, value: { values: new Float32Array([0.5, 0.1]), shape: [2, 1] } },
    examples: { values: new Int32Array([0, 1]), shape: [2, 1] },
  };
  const lv = indexLevel(level, (p) => p);
  assert.equal(lv.max, 60);
  assert.equal(cellUnder(lv, 10, 10, 400), 0);
  assert.equal(cellUnder(lv, 250, 350, 400), 1); // row 3, column 2
  assert.equal(cellUnder(lv, 350, 350, 400), -1); // a dropped cell
  assert.equal(cellUnder(lv, 400, 10, 400), -1); // outside
  assert.ok(density(6, 60) < density(60, 60) && density(60, 60) === 1);
});

test("a placed position reads its (x, y) from the places array", () => {
  const places = { shape: [2, 3, 2], values: new Float32Array([0, 0, 0.1, 0.2, 0, 0, 0, 0, 0, 0, 0.7, 0.9]) };
  assert.deepEqual(Array.from(placeOf(places, [0, 1]), (v) => +v.toFixed(2)), [0.1, 0.2]);
  assert.deepEqual(Array.from(placeOf(places, [1, 2]), (v) => +v.toFixed(2)), [0.7, 0.9]);
  assert.equal(placeOf(places, [2, 0]), null);
  assert.equal(placeOf(null, [0, 0]), null);
});
