// stagegate-evaluator/openfeature (API: openfeature.d.ts): OpenFeature providers
// that evaluate locally on a live client document. No import of an OpenFeature
// SDK: a provider is a plain object to it, so one file serves the web SDK and the
// server SDK without a dependency on either.
import { LiveClient } from "./live.js";

const TYPES = { boolean: "boolean", string: "string", number: "number", object: "json" };
// How long the event stream may be away before the provider says it is stale,
// and how long a new one must stay up to count.
const STREAM_GRACE_MS = 5_000;
const LIVE_CONFIRM_MS = 1_000;

/** The flag a key names in a document's rollouts (Map: rollout → flag names); see README "Flag keys". */
export function findFlag(rollouts, key) {
  if (typeof key !== "string") return null;
  for (let dot = key.indexOf("."); dot !== -1; dot = key.indexOf(".", dot + 1)) {
    const flags = rollouts.get(key.slice(0, dot));
    const flag = key.slice(dot + 1);
    if (flags !== undefined && flags.includes(flag)) return [key.slice(0, dot), flag];
  }
  let found = null;
  for (const [rollout, flags] of rollouts) {
    if (!flags.includes(key)) continue;
    if (found !== null) return null; // ambiguous: the full key is needed
    found = [rollout, key];
  }
  return found;
}

// OpenFeature's ProviderEventEmitter, as much of it as the SDKs call.
class Events {
  #handlers = new Map();
  addHandler(type, handler) {
    if (!this.#handlers.has(type)) this.#handlers.set(type, new Set());
    this.#handlers.get(type).add(handler);
  }
  removeHandler(type, handler) {
    this.#handlers.get(type)?.delete(handler);
  }
  removeAllHandlers(type) {
    if (type === undefined) this.#handlers.clear();
    else this.#handlers.delete(type);
  }
  getHandlers(type) {
    return [...(this.#handlers.get(type) ?? [])];
  }
  setLogger() {
    return this;
  }
  emit(type, details = {}) {
    for (const handler of this.getHandlers(type)) {
      try {
        const result = handler(details);
        result?.catch?.(() => {});
      } catch {
        // The SDK's handlers report their own errors.
      }
    }
  }
}

class StagegateProvider {
  metadata = { name: "stagegate" };
  hooks = [];
  events = new Events();
  #client;
  #owned;
  #reporter;
  #timeoutMs;
  #stale = false;
  // initialize() failed: the SDK shows an error until READY follows.
  #failed = false;
  #closed = false;
  #stops = [];
  #grace;
  #confirm;
  // flag key → [rollout, flag] or null, for the current document
  #keys = new Map();

  constructor(options) {
    if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
    this.#owned = !(options.client instanceof LiveClient);
    this.#client = this.#owned ? new LiveClient(options) : options.client;
    this.#reporter = options.reporter ?? null;
    this.#timeoutMs = options.initializeTimeoutMs ?? 10_000;
    if (!(this.#timeoutMs >= 0 && this.#timeoutMs <= 2 ** 31 - 1)) {
      throw new TypeError("options.initializeTimeoutMs must be from 0 to 2147483647 milliseconds");
    }
    this.#stops.push(
      this.#client.on("change", ({ flagsChanged, revision }) => {
        this.#keys.clear();
        this.events.emit("PROVIDER_CONFIGURATION_CHANGED", { flagsChanged, metadata: { revision } });
      }),
      this.#client.on("status", (status) => this.#onStatus(status)),
    );
  }

  // STALE when the server is out of reach, or when the event stream stays away
  // past a grace; READY again once the client is healthy: its stream up for a
  // moment (one that ends at once is no better than none), or, for a client that
  // only polls, a poll answered.
  #onStatus(status) {
    clearTimeout(this.#confirm);
    if (status === "stale") {
      this.#stopGrace();
      this.#markStale("lost contact with the stagegate server; answering from the last document");
      return;
    }
    const healthy = this.#client.streaming ? "live" : "polling";
    if (status === healthy) {
      const settle = () => {
        this.#stopGrace();
        this.#markReady();
      };
      if (status === "live") this.#confirm = setTimeout(settle, LIVE_CONFIRM_MS);
      else settle();
    } else if (status === "polling" && this.#grace === undefined && this.#client.evaluator !== null) {
      this.#grace = setTimeout(() => {
        this.#grace = undefined;
        this.#markStale("lost the live event stream; polling for changes");
      }, STREAM_GRACE_MS);
    }
  }

  #stopGrace() {
    clearTimeout(this.#grace);
    this.#grace = undefined;
  }

  #markReady() {
    if ((this.#stale || this.#failed) && this.#client.evaluator !== null) {
      this.#stale = this.#failed = false;
      this.events.emit("PROVIDER_READY", {});
    }
  }

  #markStale(message) {
    if (this.#stale || this.#failed) return;
    this.#stale = true;
    this.events.emit("PROVIDER_STALE", { message });
  }

  /** The live client the provider evaluates on. */
  get client() {
    return this.#client;
  }

  async initialize() {
    if (this.#closed) throw new Error("this stagegate provider was closed: make a new one");
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no client document from the stagegate server within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    try {
      await Promise.race([this.#client.ready, timeout]);
    } catch (error) {
      // The client keeps trying: its first document (status polling or live) emits READY.
      this.#failed = true;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    // The SDK marks the provider READY when this resolves: a client already
    // stale says so just after, or READY would hide it.
    if (this.#client.status === "stale") {
      this.#stale = true;
      setTimeout(() => this.events.emit("PROVIDER_STALE", {}), 0);
    }
  }

  async onClose() {
    this.#closed = true;
    this.#stopGrace();
    clearTimeout(this.#confirm);
    for (const stop of this.#stops) stop();
    if (this.#owned) this.#client.close();
  }

  /**
   * Counts the event once (or `details.count` times: OpenFeature's `value` is a
   * measure such as a price, not a count) for the context's cohort in each rollout.
   */
  track(eventName, context = {}, details = {}) {
    if (this.#reporter === null || this.#client.evaluator === null) return;
    const count = Number.isInteger(details?.count) && details.count >= 0 ? details.count : 1;
    try {
      for (const rollout of this.#client.rollouts.keys()) {
        this.#reporter.track(rollout, this.#client.evaluate(rollout, context ?? {}), eventName, count);
      }
    } catch (error) {
      // The SDK logs a throwing track only at debug level: say it where it is seen.
      console.warn(`stagegate: track("${eventName}") not counted: ${error.message}`);
    }
  }

  resolve(flagKey, type, defaultValue, context) {
    const evaluator = this.#client.evaluator;
    if (evaluator === null) return failure(defaultValue, "PROVIDER_NOT_READY", "no client document yet", undefined);
    let found = this.#keys.get(flagKey);
    if (found === undefined) {
      found = findFlag(this.#client.rollouts, flagKey);
      if (this.#keys.size < 10_000) this.#keys.set(flagKey, found);
    }
    if (found === null) {
      return failure(defaultValue, "FLAG_NOT_FOUND", `no flag '${flagKey}' in environment '${this.#client.environment}' (keys are ROLLOUT.FLAG)`, { revision: evaluator.revision });
    }
    const [rollout, flag] = found;
    context ??= {};
    const answer = evaluator.resolve(rollout, flag, this.#client.environment, context, TYPES[type]);
    const flagMetadata = { rollout, revision: answer.revision };
    if (answer.stage !== null) flagMetadata.stage = answer.stage;
    if (answer.bucket !== null) flagMetadata.bucket = answer.bucket;
    if (answer.errorCode !== null) return failure(defaultValue, answer.errorCode, answer.errorMessage, flagMetadata);
    if (this.#reporter !== null && answer.reason === "SPLIT") this.#reporter.expose(rollout, answer, context.targetingKey);
    return { value: answer.value, variant: answer.inRollout ? "on" : "off", reason: answer.reason, flagMetadata };
  }
}

function failure(value, errorCode, errorMessage, flagMetadata) {
  return { value, reason: "ERROR", errorCode, errorMessage, flagMetadata };
}

/** For @openfeature/web-sdk: answers synchronously from the local document. */
export class StagegateWebProvider extends StagegateProvider {
  runsOn = "client";

  // The context is evaluated locally at each resolution: nothing to fetch.
  onContextChange() {}

  resolveBooleanEvaluation(flagKey, defaultValue, context) {
    return this.resolve(flagKey, "boolean", defaultValue, context);
  }
  resolveStringEvaluation(flagKey, defaultValue, context) {
    return this.resolve(flagKey, "string", defaultValue, context);
  }
  resolveNumberEvaluation(flagKey, defaultValue, context) {
    return this.resolve(flagKey, "number", defaultValue, context);
  }
  resolveObjectEvaluation(flagKey, defaultValue, context) {
    return this.resolve(flagKey, "object", defaultValue, context);
  }
}

/** For @openfeature/server-sdk (Node): the same local answers, as promises. */
export class StagegateServerProvider extends StagegateProvider {
  runsOn = "server";

  async resolveBooleanEvaluation(flagKey, defaultValue, context) {
    return this.resolve(flagKey, "boolean", defaultValue, context);
  }
  async resolveStringEvaluation(flagKey, defaultValue, context) {
    return this.resolve(flagKey, "string", defaultValue, context);
  }
  async resolveNumberEvaluation(flagKey, defaultValue, context) {
    return this.resolve(flagKey, "number", defaultValue, context);
  }
  async resolveObjectEvaluation(flagKey, defaultValue, context) {
    return this.resolve(flagKey, "object", defaultValue, context);
  }
}
