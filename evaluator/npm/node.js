// stagegate-evaluator in Node: the browser build (index.js), with an init() that
// reads the .wasm from disk (Node's fetch has no file: URLs). Kept apart so that
// no bundler sees `node:fs`.
import { readFile } from "node:fs/promises";
import { init as initWasm } from "./index.js";

export * from "./index.js";

let ready;

export function init(source) {
  ready ??= (async () => {
    await initWasm(source ?? (await readFile(new URL("./stagegate_evaluator_bg.wasm", import.meta.url))));
  })();
  return ready;
}
