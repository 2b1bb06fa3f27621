import { test } from "node:test";
import assert from "node:assert/strict";
import { unpackArray } from "../src/arrays.js";

test("float32 bytes decode to the same values, from a DataView at an aligned offset", () => {
  const source = new Float32Array([1.5, -2, 3.25, 0, 7, 8]);
  const buffer = new ArrayBuffer(8 + source.byteLength);
  new Float32Array(buffer, 8).set(source);
  const { values, shape } = unpackArray({ dtype: "float32", shape: [2, 3], data: new DataView(buffer, 8) });
  assert.deepEqual(Array.from(values), Array.from(source));
  assert.deepEqual(shape, [2, 3]);
  assert.equal(values[1 * 3 + 2], 8, "row-major");
});

test("misaligned bytes are copied, not misread", () => {
  const source = new Float32Array([0.5, 42]);
  const buffer = new ArrayBuffer(1 + source.byteLength);
  new Uint8Array(buffer, 1).set(new Uint8Array(source.buffer));
  const { values } = unpackArray({ dtype: "float32", shape: [2], data: new DataView(buffer, 1) });
  assert.deepEqual(Array.from(values), [0.5, 42]);
});

test("a size mismatch and an unknown dtype are refused with the reason", () => {
  assert.throws(() => unpackArray({ dtype: "float32", shape: [3], data: new Uint8Array(8) }), /needs 12 bytes, got 8/);
  assert.throws(() => unpackArray({ dtype: "complex64", shape: [1], data: new Uint8Array(8) }), /unsupported dtype complex64/);
  assert.throws(() => unpackArray({ dtype: "uint8", shape: [1], data: [1] }), /must be binary/);
});

test("the three ways hosts hand bytes over decode alike: DataView (JupyterLab), Uint8Array (Colab), ArrayBuffer", () => {
  const source = new Int32Array([7, -3, 2 ** 30]);
  const buffer = source.buffer.slice(0);
  const forms = [new DataView(buffer), new Uint8Array(buffer), buffer];
  for (const data of forms) {
    assert.deepEqual(Array.from(unpackArray({ dtype: "int32", shape: [3], data }).values), [7, -3, 2 ** 30]);
  }
});
