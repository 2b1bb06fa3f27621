// Entry point of the bundle served to every widget view.
export { decodeArray, offset } from "./arrays.js";
