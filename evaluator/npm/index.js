// stagegate-evaluator: the JavaScript face of the Rust evaluator (see README.md).
// The rule itself lives in the wasm module; this file only loads it and keeps
// per-(rollout, flag, environment) handles so that isEnabled passes one string.
import initWasm, {
  bucket as wasmBucket,
  evaluateOnce as wasmEvaluateOnce,
  Evaluator as WasmEvaluator,
} from "./stagegate_evaluator.js";

let ready;

/**
 * Loads the WebAssembly module once. In browsers it is fetched next to this file
 * (or from `source`: a URL, Response, BufferSource or WebAssembly.Module); in Node
 * it is read from disk.
 */
export function init(source) {
  ready ??= (async () => {
    let input = source;
    if (input === undefined && globalThis.process?.versions?.node) {
      const { readFile } = await import("node:fs/promises");
      input = await readFile(new URL("./stagegate_evaluator_bg.wasm", import.meta.url));
    }
    await initWasm(input === undefined ? undefined : { module_or_path: input });
  })();
  return ready;
}

/** The bucket (0..=9999) of `unit` under `salt` (spec version 1). */
export function bucket(salt, unit) {
  if (typeof salt !== "string" || typeof unit !== "string") {
    throw new TypeError("bucket(salt, unit): both must be strings");
  }
  return wasmBucket(salt, unit);
}

/** Evaluates against a plan without preparing it; never throws for bad data. */
export function evaluateOnce(plan, rollout, environment, context = {}) {
  return wasmEvaluateOnce(planText(plan), rollout, environment, context);
}

export class Evaluator {
  #inner;
  /** rollout → flag → environment → gate handle (-1: no such boolean flag) */
  #gates = new Map();

  /** `plan`: the plan document as a JSON string or a plain object. Throws an Error listing every problem. */
  constructor(plan) {
    this.#inner = new WasmEvaluator(planText(plan));
  }

  get revision() {
    return this.#inner.revision;
  }

  evaluate(rollout, environment, context = {}) {
    return this.#inner.evaluate(rollout, environment, context);
  }

  evaluateMany(rollout, environment, targetingKeys, attributes = {}) {
    return this.#inner.evaluateMany(rollout, environment, targetingKeys, attributes);
  }

  resolve(rollout, flag, environment, context = {}, type = undefined) {
    return this.#inner.resolve(rollout, flag, environment, context, type);
  }

  isEnabled(rollout, flag, environment, targetingKey) {
    if (typeof targetingKey !== "string") return false;
    const gate = this.#gate(rollout, flag, environment);
    return gate >= 0 && this.#inner.isEnabledAt(gate, targetingKey);
  }

  isEnabledMany(rollout, flag, environment, targetingKeys) {
    const gate = this.#gate(rollout, flag, environment);
    if (gate < 0) return targetingKeys.map(() => false);
    return Array.from(this.#inner.isEnabledMany(gate, targetingKeys), (on) => on === 1);
  }

  /** Releases the wasm memory now rather than when garbage-collected. */
  free() {
    this.#inner.free();
  }

  #gate(rollout, flag, environment) {
    let flags = this.#gates.get(rollout);
    if (flags === undefined) this.#gates.set(rollout, (flags = new Map()));
    let environments = flags.get(flag);
    if (environments === undefined) flags.set(flag, (environments = new Map()));
    let gate = environments.get(environment);
    if (gate === undefined) {
      gate = this.#inner.gate(rollout, flag, environment);
      environments.set(environment, gate);
    }
    return gate;
  }
}

function planText(plan) {
  return typeof plan === "string" ? plan : JSON.stringify(plan);
}
