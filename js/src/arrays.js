// Arrays arrive from the kernel as {dtype, shape, data}: `data` is the raw little-endian bytes
// (a DataView, ArrayBuffer or Uint8Array, depending on the transport). Views read them as typed
// arrays without copying when the bytes are aligned, and with one copy when they are not.

const TYPED = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
};

export function isBinary(data) {
  return data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}

function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`array data must be binary (DataView, ArrayBuffer or typed array), got ${typeof data}`);
}

export function unpackArray(payload) {
  const { dtype, shape } = payload;
  const Typed = TYPED[dtype];
  if (!Typed) throw new TypeError(`unsupported dtype ${dtype}; expected one of ${Object.keys(TYPED).join(", ")}`);
  const bytes = bytesOf(payload.data);
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== count * Typed.BYTES_PER_ELEMENT) {
    throw new RangeError(`${dtype} array of shape [${shape}] needs ${count * Typed.BYTES_PER_ELEMENT} bytes, got ${bytes.byteLength}`);
  }
  const aligned = bytes.byteOffset % Typed.BYTES_PER_ELEMENT === 0;
  const values = aligned
    ? new Typed(bytes.buffer, bytes.byteOffset, count)
    : new Typed(bytes.slice().buffer, 0, count);
  return { dtype, shape: [...shape], values };
}
