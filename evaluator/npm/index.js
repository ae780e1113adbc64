// stagegate-evaluator (API: index.d.ts) for browsers and bundlers; Node loads
// node.js. The rule lives in the wasm module; this file loads it, passes JSON
// text both ways, and keeps handles for fast paths.
import initWasm, {
  initSync,
  bucket as wasmBucket,
  evaluateOnce as wasmEvaluateOnce,
  Evaluator as WasmEvaluator,
} from "./stagegate_evaluator.js";

let ready;

// Browsers (and bundlers) fetch the .wasm next to this file; Node's entry point,
// node.js, reads it from disk and passes the bytes here.
export function init(source) {
  ready ??= initWasm(source === undefined ? undefined : { module_or_path: source });
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
  // JSON of the names → gate handle, or { attributes its constraints read, id }
  // (known ones only); the last ones asked for (asked for again in a row) first.
  #gates = new Map();
  #places = new Map();
  #placed = 0;
  // Outcomes of packed answers (all but the bucket), fetched once each.
  #outcomes = [];
  #lastGate = [{}];
  #lastPlace = [{}];
  // The wasm's key buffer (#write): where, its size, where the last text ended.
  #keyAt = 0;
  #keyRoom = 0;
  #keyEnd = 0;

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
      const place = this.#place(rollout, environment).id;
      return JSON.parse(this.#inner.evaluate(place, this.#write(contextJson(context))));
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
    const [f, c, t] = this.#texts(flag, contextJson(context), type ?? "");
    return JSON.parse(this.#inner.resolve(place, f, c, type == null ? -1 : t));
  }

  isEnabled(rollout, flag, environment, targetingKey) {
    if (typeof targetingKey !== "string") return false;
    const gate = this.#gate(rollout, flag, environment);
    return gate >= 0 && this.#inner.isEnabledAt(gate, this.#write(targetingKey));
  }

  isEnabledMany(rollout, flag, environment, targetingKeys) {
    const gate = this.#gate(rollout, flag, environment);
    return keys(targetingKeys).map((key) => gate >= 0 && this.#inner.isEnabledAt(gate, this.#write(key)));
  }

  free() {
    this.#inner.free();
  }

  // The packed answer, or NOT_PACKED where only the general path can answer.
  #packed(rollout, environment, context) {
    if (typeof context !== "object" || context === null || Array.isArray(context)) return NOT_PACKED;
    const key = hasOwn.call(context, "targetingKey") ? context.targetingKey : undefined;
    if (typeof key !== "string") return NOT_PACKED;
    const place = this.#place(rollout, environment);
    const names = place.attributes;
    if (names.length === 0) return this.#inner.evaluateKey(place.id, this.#write(key));
    if (names.length <= STRING_ATTRIBUTES) {
      // Strings (or nothing: -1) cross in the key buffer; anything else as JSON.
      let lengths = [this.#write(key), -1, -1, -1];
      for (let i = 0, end = lengths[0]; i < names.length && lengths; i++) {
        const value = hasOwn.call(context, names[i]) ? context[names[i]] : undefined;
        if (typeof value === "string") lengths[i + 1] = -end + (end = this.#write(value, end));
        else if (value !== undefined && value !== null) lengths = undefined;
      }
      if (lengths) return this.#inner.evaluateStrings(place.id, ...lengths);
    }
    const json = contextJson(context);
    return json === "" ? NOT_PACKED : this.#inner.evaluateJson(place.id, this.#write(json));
  }

  // The wasm numbers known pairs in the order it first sees them. Unknown ones
  // are not kept: names may come from anywhere.
  #place(rollout, environment) {
    const last = this.#lastPlace;
    if (last[0] === rollout && last[1] === environment) return last[2];
    const name = JSON.stringify([rollout, environment]);
    let place = this.#places.get(name);
    if (place === undefined) {
      const attributes = JSON.parse(this.#inner.place(...this.#texts(rollout, environment)));
      place = attributes === null ? UNKNOWN_PLACE : { attributes, id: this.#placed++ };
      if (attributes !== null) this.#places.set(name, place);
    }
    this.#lastPlace = [rollout, environment, place];
    return place;
  }

  #outcome(id) {
    const outcome = JSON.parse(this.#inner.outcome(id));
    outcome.deep = Object.values(outcome.values).some((value) => typeof value === "object" && value !== null);
    return outcome;
  }

  #gate(rollout, flag, environment) {
    const last = this.#lastGate;
    if (last[0] === rollout && last[1] === flag && last[2] === environment) return last[3];
    const name = JSON.stringify([rollout, flag, environment]);
    const gate = this.#gates.get(name) ?? this.#inner.gate(...this.#texts(rollout, flag, environment));
    if (gate >= 0) this.#gates.set(name, gate);
    this.#lastGate = [rollout, flag, environment, gate];
    return gate;
  }

  // Writes texts one after another into the key buffer; answers their lengths.
  #texts(...texts) {
    let end = 0;
    return texts.map((text) => -end + (end = this.#write(text, end)));
  }

  // Writes text at byte `at` of the key buffer as TextEncoder does (as ASCII,
  // cheaper than a call, then again by encodeInto if it was not), zeros the rest
  // of older text (the wasm reads UTF-8); answers where it ends.
  #write(text, at = 0) {
    const room = at + text.length * 3;
    if (room > this.#keyRoom) this.#keyAt = this.#inner.keyBuffer((this.#keyRoom = Math.max(room, 64)));
    // Growing memory detaches views; initSync answers the exports init() made.
    if (bytes.byteLength === 0) bytes = new Uint8Array((memory ??= initSync().memory).buffer);
    const base = this.#keyAt;
    let end = at + text.length;
    let codes = 0;
    for (let i = 0; i < text.length; i++) codes |= bytes[base + at + i] = text.charCodeAt(i);
    if (codes > 0x7f) end = at + encoder.encodeInto(text, bytes.subarray(base + at, base + room)).written;
    if (end < this.#keyEnd) bytes.fill(0, base + end, base + this.#keyEnd);
    return (this.#keyEnd = end);
  }
}

let memory;
let bytes = new Uint8Array();
// Own properties only, as JSON.stringify reads them (cheaper than Object.hasOwn).
const hasOwn = Object.prototype.hasOwnProperty;
const encoder = new TextEncoder();

// The wasm takes a number no pair has as the unknown pair it saw last.
const UNKNOWN_PLACE = { attributes: [], id: -1 };
const NOT_PACKED = 0xffffffff;
const BUCKET_BITS = 14;
// How many attribute values evaluateStrings takes (STRING_ATTRIBUTES in wasm.rs).
const STRING_ATTRIBUTES = 3;
const BUCKET_MASK = (1 << BUCKET_BITS) - 1;

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
