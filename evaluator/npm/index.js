// stagegate-evaluator (API: index.d.ts). The rule lives in the wasm module; this
// file loads it, passes JSON text both ways, and keeps handles for fast paths.
import initWasm, {
  bucket as wasmBucket,
  evaluateOnce as wasmEvaluateOnce,
  Evaluator as WasmEvaluator,
} from "./stagegate_evaluator.js";

let ready;

// Browsers fetch the .wasm next to this file; Node reads it from disk.
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

export function bucket(salt, unit) {
  if (typeof salt !== "string" || typeof unit !== "string") {
    throw new TypeError("bucket(salt, unit): both must be strings");
  }
  return wasmBucket(salt, unit);
}

export function evaluateOnce(plan, rollout, environment, context = {}) {
  return JSON.parse(wasmEvaluateOnce(planText(plan), rollout, environment, contextJson(context)));
}

export class Evaluator {
  #inner;
  #revision;
  // rollout → flag → environment → gate handle (known triples only)
  #gates = new Map();
  // rollout → environment → { attributes its constraints read, id } (known pairs)
  #places = new Map();
  #placed = 0;
  // Outcomes of packed answers (all but the bucket), fetched once each.
  #outcomes = [];

  constructor(plan) {
    const text = planText(plan);
    const inner = WasmEvaluator.load(text);
    // Unusable: the answer about it says why (every problem, one per line).
    if (inner === undefined) throw new Error(JSON.parse(wasmEvaluateOnce(text, "", "", "{}")).errorMessage);
    this.#inner = inner;
    this.#revision = inner.revision;
  }

  get revision() {
    return this.#revision;
  }

  evaluate(rollout, environment, context = {}) {
    const packed = this.#packed(rollout, environment, context);
    if (packed === NOT_PACKED) {
      return JSON.parse(this.#inner.evaluate(this.#place(rollout, environment).id, contextJson(context)));
    }
    const outcome = (this.#outcomes[packed >>> BUCKET_BITS] ??= this.#outcome(packed >>> BUCKET_BITS));
    const bucket = (packed & BUCKET_MASK) - 1;
    return {
      values: outcome.deep ? structuredClone(outcome.values) : { ...outcome.values },
      stage: outcome.stage,
      bucket: bucket < 0 ? null : bucket,
      inRollout: outcome.inRollout,
      reason: outcome.reason,
      errorCode: null,
      errorMessage: null,
      revision: this.#revision,
    };
  }

  // The batch forms loop here: a call per key on the fast path costs less than
  // marshalling arrays across the wasm boundary.
  evaluateMany(rollout, environment, targetingKeys, attributes = {}) {
    const shared = attributes ?? {};
    if (typeof shared !== "object" || Array.isArray(shared)) {
      return keys(targetingKeys).map(() => this.evaluate(rollout, environment, shared));
    }
    return keys(targetingKeys).map((targetingKey) => this.evaluate(rollout, environment, { ...shared, targetingKey }));
  }

  resolve(rollout, flag, environment, context = {}, type = undefined) {
    const place = this.#place(rollout, environment).id;
    return JSON.parse(this.#inner.resolve(place, flag, contextJson(context), type));
  }

  isEnabled(rollout, flag, environment, targetingKey) {
    if (typeof targetingKey !== "string") return false;
    const gate = this.#gate(rollout, flag, environment);
    return gate >= 0 && this.#inner.isEnabledAt(gate, targetingKey);
  }

  isEnabledMany(rollout, flag, environment, targetingKeys) {
    const gate = this.#gate(rollout, flag, environment);
    return keys(targetingKeys).map((key) => gate >= 0 && this.#inner.isEnabledAt(gate, key));
  }

  free() {
    this.#inner.free();
  }

  // The packed answer, or NOT_PACKED where only the general path can answer.
  #packed(rollout, environment, context) {
    if (typeof context !== "object" || context === null || Array.isArray(context)) return NOT_PACKED;
    // Own properties only, as JSON.stringify reads them.
    const key = Object.hasOwn(context, "targetingKey") ? context.targetingKey : undefined;
    if (typeof key !== "string") return NOT_PACKED;
    const place = this.#place(rollout, environment);
    const names = place.attributes;
    if (names.length === 0) return this.#inner.evaluateKey(place.id, key);
    if (names.length <= STRING_ATTRIBUTES) {
      // Strings (or nothing) cross as they are; anything else goes as JSON.
      const values = [undefined, undefined, undefined];
      let strings = true;
      for (let i = 0; i < names.length && strings; i++) {
        const value = Object.hasOwn(context, names[i]) ? context[names[i]] : undefined;
        if (typeof value === "string") values[i] = value;
        else if (value !== undefined && value !== null) strings = false;
      }
      if (strings) return this.#inner.evaluateStrings(place.id, key, values[0], values[1], values[2]);
    }
    const json = contextJson(context);
    return json === "" ? NOT_PACKED : this.#inner.evaluateJson(place.id, json);
  }

  // The wasm numbers known pairs in the order it first sees them. Unknown ones
  // are not kept: names may come from anywhere.
  #place(rollout, environment) {
    const cached = this.#places.get(rollout)?.get(environment);
    if (cached !== undefined) return cached;
    const attributes = JSON.parse(this.#inner.place(rollout, environment));
    if (attributes === null) return UNKNOWN_PLACE;
    const place = { attributes, id: this.#placed++ };
    return nested(this.#places, rollout, environment, () => place);
  }

  #outcome(id) {
    const outcome = JSON.parse(this.#inner.outcome(id));
    outcome.deep = Object.values(outcome.values).some((value) => typeof value === "object" && value !== null);
    return outcome;
  }

  #gate(rollout, flag, environment) {
    const cached = this.#gates.get(rollout)?.get(flag)?.get(environment);
    if (cached !== undefined) return cached;
    const gate = this.#inner.gate(rollout, flag, environment);
    if (gate >= 0) nested(this.#gates, rollout, flag, () => new Map()).set(environment, gate);
    return gate;
  }
}

// The wasm takes a number no pair has as the unknown pair it saw last.
const UNKNOWN_PLACE = { attributes: [], id: -1 };
const NOT_PACKED = 0xffffffff;
const BUCKET_BITS = 14;
// How many attribute values evaluateStrings takes (STRING_ATTRIBUTES in wasm.rs).
const STRING_ATTRIBUTES = 3;
const BUCKET_MASK = (1 << BUCKET_BITS) - 1;

function nested(map, outer, inner, make) {
  let level = map.get(outer);
  if (level === undefined) map.set(outer, (level = new Map()));
  let value = level.get(inner);
  if (value === undefined) level.set(inner, (value = make()));
  return value;
}

function keys(targetingKeys) {
  if (!Array.isArray(targetingKeys) || !targetingKeys.every((key) => typeof key === "string")) {
    throw new TypeError("targetingKeys must be an array of strings");
  }
  return targetingKeys;
}

function planText(plan) {
  return typeof plan === "string" ? plan : JSON.stringify(plan);
}

// "" when it cannot be written as JSON: the wasm answers INVALID_CONTEXT.
function contextJson(context) {
  if (context === undefined || context === null) return "{}";
  try {
    return JSON.stringify(context) ?? "";
  } catch {
    return "";
  }
}
