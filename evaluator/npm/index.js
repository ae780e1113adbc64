// stagegate-evaluator: the JavaScript face of the Rust evaluator (see README.md).
// The rule itself lives in the wasm module; this file only loads it, hands it
// contexts as JSON text and reads its JSON answers, and keeps per-(rollout, flag,
// environment) handles so that isEnabled passes one string.
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
  return JSON.parse(wasmEvaluateOnce(planText(plan), rollout, environment, contextJson(context)));
}

export class Evaluator {
  #inner;
  #revision;
  /** rollout → flag → environment → gate handle (-1: no such boolean flag) */
  #gates = new Map();
  /** rollout → environment → { id, attributes: names its constraints read } */
  #places = new Map();
  /** Outcomes of packed answers (everything but the bucket), fetched once each. */
  #outcomes = [];

  /** `plan`: the plan document as a JSON string or a plain object. Throws an Error listing every problem. */
  constructor(plan) {
    this.#inner = new WasmEvaluator(planText(plan));
    this.#revision = this.#inner.revision;
  }

  get revision() {
    return this.#revision;
  }

  evaluate(rollout, environment, context = {}) {
    const packed = this.#packed(rollout, environment, context);
    if (packed === NOT_PACKED) return JSON.parse(this.#inner.evaluate(rollout, environment, contextJson(context)));
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

  evaluateMany(rollout, environment, targetingKeys, attributes = {}) {
    return JSON.parse(
      this.#inner.evaluateMany(rollout, environment, JSON.stringify(targetingKeys), contextJson(attributes)),
    );
  }

  resolve(rollout, flag, environment, context = {}, type = undefined) {
    return JSON.parse(this.#inner.resolve(rollout, flag, environment, contextJson(context), type));
  }

  isEnabled(rollout, flag, environment, targetingKey) {
    if (typeof targetingKey !== "string") return false;
    const gate = this.#gate(rollout, flag, environment);
    return gate >= 0 && this.#inner.isEnabledAt(gate, targetingKey);
  }

  isEnabledMany(rollout, flag, environment, targetingKeys) {
    const gate = this.#gate(rollout, flag, environment);
    if (gate < 0) return targetingKeys.map(() => false);
    return Array.from(this.#inner.isEnabledMany(gate, JSON.stringify(targetingKeys)), (on) => on === 1);
  }

  /** Releases the wasm memory now rather than when garbage-collected. */
  free() {
    this.#inner.free();
  }

  /** The packed answer, or NOT_PACKED where only the general path can answer (errors, odd contexts). */
  #packed(rollout, environment, context) {
    if (typeof context !== "object" || context === null || Array.isArray(context)) return NOT_PACKED;
    const key = context.targetingKey;
    if (typeof key !== "string") return NOT_PACKED;
    const place = nested(this.#places, rollout, environment, () => {
      const id = this.#inner.place(rollout, environment);
      return { id, attributes: JSON.parse(this.#inner.attributeNames(id)) };
    });
    const names = place.attributes;
    if (names.length === 0) return this.#inner.evaluateKey(place.id, key);
    if (names.length <= STRING_ATTRIBUTES) {
      // Attributes that are strings (or absent) cross as they are; anything else
      // goes through JSON, where numbers keep the exact text JSON gives them.
      const values = [undefined, undefined, undefined, undefined];
      let strings = true;
      for (let i = 0; i < names.length && strings; i++) {
        const value = Object.hasOwn(context, names[i]) ? context[names[i]] : undefined;
        if (typeof value === "string") values[i] = value;
        else if (value !== undefined && value !== null) strings = false;
      }
      if (strings) return this.#inner.evaluateStrings(place.id, key, values[0], values[1], values[2], values[3]);
    }
    let json;
    try {
      json = JSON.stringify(context);
    } catch {
      return NOT_PACKED;
    }
    return this.#inner.evaluateJson(place.id, json);
  }

  #outcome(id) {
    const outcome = JSON.parse(this.#inner.outcome(id));
    outcome.deep = Object.values(outcome.values).some((value) => typeof value === "object" && value !== null);
    return outcome;
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

const NOT_PACKED = 0xffffffff;
const BUCKET_BITS = 14;
/** How many attribute values evaluateStrings takes (STRING_ATTRIBUTES in wasm.rs). */
const STRING_ATTRIBUTES = 4;
const BUCKET_MASK = (1 << BUCKET_BITS) - 1;

function nested(map, outer, inner, make) {
  let level = map.get(outer);
  if (level === undefined) map.set(outer, (level = new Map()));
  let value = level.get(inner);
  if (value === undefined) level.set(inner, (value = make()));
  return value;
}

function planText(plan) {
  return typeof plan === "string" ? plan : JSON.stringify(plan);
}

/** A context as JSON text; undefined when it cannot be written (wasm answers INVALID_CONTEXT). */
function contextJson(context) {
  if (context === undefined || context === null) return "{}";
  try {
    return JSON.stringify(context);
  } catch {
    return undefined;
  }
}
