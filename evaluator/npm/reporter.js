// stagegate-evaluator/reporter (API: reporter.d.ts): counts exposures and named
// events per rollout, stage and cohort, and sends them to a stagegate server's
// POST /api/metrics (SPEC.md, "Guardrails → Reports"). It imports nothing, so it
// adds nothing to the evaluator's wasm or glue.

/** The most items one request carries (the server refuses more). */
export const MAX_ITEMS = 1000;
/** The most one item's count may be: 2³² − 1. */
export const MAX_COUNT = 0xffffffff;
/** What browsers let all of a page's keepalive requests carry at once. */
const KEEPALIVE_BYTES = 64 * 1024;
const MAX_BACKOFF_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;
const EVENT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const encoder = new TextEncoder();

/** Why a report did not arrive, and what became of its counts. */
export class ReportError extends Error {
  constructor(message, { status = null, action, counts, body = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ReportError";
    this.status = status;
    this.action = action;
    this.counts = counts;
    this.body = body;
  }
}

export function createReporter(options) {
  return new Reporter(options);
}

class Reporter {
  #url;
  #authorization;
  #environment;
  #intervalMs;
  #maxKeys;
  #maxUnits;
  #onError;
  #fetch;
  // "rollout\0stage\0in\0event" → the wire item, its count growing.
  #counts = new Map();
  // Hashes of (rollout, stage, cohort, unit) already exposed, oldest first.
  #seen = new Set();
  #inFlight = new Set();
  #dropped = 0;
  #failures = 0;
  // Bytes of this reporter's keepalive requests not yet answered.
  #keepaliveBytes = 0;
  #timer;
  #stopped = false;
  #closed = false;
  #onHidden;

  constructor({
    url,
    ingestKey,
    environment,
    intervalMs = 5000,
    maxKeys = 10_000,
    maxUnits = 100_000,
    onError = warn,
    fetch = globalThis.fetch,
  } = {}) {
    if (typeof url !== "string" && !(url instanceof URL)) throw new TypeError("createReporter: url must be a string or URL");
    if (typeof ingestKey !== "string" || ingestKey === "") throw new TypeError("createReporter: ingestKey must be a non-empty string");
    if (typeof environment !== "string" || environment === "") throw new TypeError("createReporter: environment must be a non-empty string");
    for (const [name, value] of [["intervalMs", intervalMs], ["maxKeys", maxKeys], ["maxUnits", maxUnits]]) {
      if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`createReporter: ${name} must be a positive integer`);
    }
    if (typeof fetch !== "function") throw new TypeError("createReporter: no fetch (pass one as options.fetch)");
    if (typeof onError !== "function") throw new TypeError("createReporter: onError must be a function");
    this.#url = String(url).replace(/\/+$/, "") + "/api/metrics";
    this.#authorization = `Bearer ${ingestKey}`;
    this.#environment = environment;
    this.#intervalMs = intervalMs;
    this.#maxKeys = maxKeys;
    this.#maxUnits = maxUnits;
    this.#onError = onError;
    // Called as a plain function: a browser's fetch refuses any other `this`.
    this.#fetch = (input, init) => fetch(input, init);
    this.#schedule(intervalMs);
    // A hidden page may never run another timer (it can be frozen or closed):
    // send at once, with requests that outlive the page.
    const document = globalThis.document;
    if (document?.addEventListener && globalThis.addEventListener) {
      this.#onHidden = (event) => {
        if (event.type === "pagehide" || document.visibilityState === "hidden") this.#send(true);
      };
      document.addEventListener("visibilitychange", this.#onHidden);
      globalThis.addEventListener("pagehide", this.#onHidden);
    }
  }

  /** Counted events lost: beyond maxKeys, refused by the server, or unsent at close. */
  get dropped() {
    return this.#dropped;
  }

  expose(rollout, evaluation, targetingKey) {
    checkRollout(rollout);
    if (typeof targetingKey !== "string") throw new TypeError("expose: targetingKey must be a string");
    if (!isCounted(evaluation) || this.#closed || this.#stopped) return false;
    const unit = hash53(`${rollout}\0${evaluation.stage}\0${evaluation.inRollout ? 1 : 0}\0${targetingKey}`);
    if (this.#seen.has(unit)) return false;
    if (!this.#add(rollout, evaluation.stage, Boolean(evaluation.inRollout), "exposure", 1)) return false;
    // The oldest unit goes first: it may be counted again if it comes back.
    if (this.#seen.size >= this.#maxUnits) this.#seen.delete(this.#seen.values().next().value);
    this.#seen.add(unit);
    return true;
  }

  track(rollout, evaluation, event, count = 1) {
    checkRollout(rollout);
    if (typeof event !== "string" || !EVENT_NAME.test(event)) {
      throw new TypeError("track: event must be 1 to 64 letters, digits, '_', '-' or '.'");
    }
    if (event === "exposure") throw new TypeError('track: "exposure" is counted by expose(), once per unit');
    if (!Number.isSafeInteger(count) || count < 0 || count > MAX_COUNT) {
      throw new TypeError("track: count must be an integer from 0 to 2^32 - 1");
    }
    if (!isCounted(evaluation) || this.#closed || this.#stopped || count === 0) return false;
    return this.#add(rollout, evaluation.stage, Boolean(evaluation.inRollout), event, count);
  }

  /** Sends what is counted now; resolves once every request under way has settled. */
  async flush() {
    if (!this.#closed) this.#send(false);
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** Stops the timer and the page listeners, sends what is left once. */
  async close() {
    if (this.#closed) return this.flush();
    this.#send(false);
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#onHidden) {
      globalThis.document.removeEventListener("visibilitychange", this.#onHidden);
      globalThis.removeEventListener("pagehide", this.#onHidden);
    }
    await this.flush();
    // Whatever failed to go is lost with the reporter.
    const left = this.#take();
    if (left.length > 0) {
      const lost = sum(left);
      this.#dropped += lost;
      this.#report(new ReportError(`stagegate reporter closed with ${lost} counts unsent`, { action: "drop", counts: lost }));
    }
  }

  #add(rollout, stage, inRollout, event, count) {
    const key = `${rollout}\0${stage}\0${inRollout ? 1 : 0}\0${event}`;
    const item = this.#counts.get(key);
    if (item !== undefined) {
      item.count += count;
      return true;
    }
    if (this.#counts.size >= this.#maxKeys) {
      this.#dropped += count;
      return false;
    }
    this.#counts.set(key, { rollout, environment: this.#environment, stage, inRollout, event, count });
    return true;
  }

  // Every aggregated item, which then belong to the request that sends them.
  #take() {
    const items = [...this.#counts.values()];
    this.#counts.clear();
    return items;
  }

  // Counts whose request may be retried join the ones counted since (or are
  // dropped after a refused key: nothing would send them).
  #putBack(items) {
    for (const item of items) {
      if (this.#stopped) this.#dropped += item.count;
      else this.#add(item.rollout, item.stage, item.inRollout, item.event, item.count);
    }
  }

  #schedule(delay) {
    clearTimeout(this.#timer);
    if (this.#closed || this.#stopped) return;
    this.#timer = setTimeout(() => this.#send(false), delay);
    // Node: a reporter alone does not keep the process running.
    this.#timer?.unref?.();
  }

  // Sends everything counted in requests of at most MAX_ITEMS items. With
  // `keepalive` (the page is going away) the first 64 KiB go as keepalive
  // requests, which the browser completes even after the page is gone; it
  // refuses more than 64 KiB of them in flight, so the rest go as plain ones.
  #send(keepalive) {
    if (this.#stopped) return Promise.resolve();
    const items = this.#take();
    if (items.length === 0) {
      if (!keepalive) this.#schedule(this.#intervalMs);
      return Promise.resolve();
    }
    const requests = batches(items, keepalive ? KEEPALIVE_BYTES : Infinity).map(async ({ items, body }) => {
      const bytes = encoder.encode(body).length;
      if (!keepalive || this.#keepaliveBytes + bytes > KEEPALIVE_BYTES) return this.#post(items, body, false);
      this.#keepaliveBytes += bytes;
      try {
        return await this.#post(items, body, true);
      } finally {
        this.#keepaliveBytes -= bytes;
      }
    });
    const sent = Promise.all(requests).then((outcomes) => {
      this.#inFlight.delete(sent);
      if (outcomes.some((outcome) => outcome.retry)) {
        this.#failures++;
        const backoff = Math.min(MAX_BACKOFF_MS, this.#intervalMs * 2 ** this.#failures);
        const retryAfter = Math.max(0, ...outcomes.map((outcome) => outcome.retryAfterMs ?? 0));
        // Equal jitter: at least half the backoff, so retries spread without bunching near zero.
        this.#schedule(Math.min(MAX_BACKOFF_MS, Math.max(retryAfter, backoff / 2 + Math.random() * (backoff / 2))));
      } else {
        this.#failures = 0;
        this.#schedule(this.#intervalMs);
      }
    });
    this.#inFlight.add(sent);
    return sent;
  }

  // One request; never throws. Its counts go back when it may be retried.
  async #post(items, body, keepalive) {
    const counts = sum(items);
    let response;
    try {
      response = await this.#fetch(this.#url, {
        method: "POST",
        headers: { authorization: this.#authorization, "content-type": "application/json" },
        body,
        keepalive,
        signal: AbortSignal.timeout?.(REQUEST_TIMEOUT_MS),
      });
    } catch (cause) {
      this.#putBack(items);
      this.#report(new ReportError(`stagegate metrics: ${cause?.message ?? cause}`, { action: "retry", counts, cause }));
      return { retry: true };
    }
    const status = response.status;
    let text = "";
    try {
      text = await response.text();
    } catch {
      // The status decides; a body cut short changes nothing.
    }
    if (status >= 200 && status < 300) return { retry: false };
    const error = parseError(text);
    const message = `stagegate metrics: ${status}${error?.message ? ` ${error.message}` : ""}`;
    if (status === 401 || status === 403) {
      // The key is wrong or revoked: nothing sent with it can succeed.
      this.#stopped = true;
      clearTimeout(this.#timer);
      const lost = counts + sum(this.#take());
      this.#dropped += lost;
      this.#report(new ReportError(message, { status, action: "stop", counts: lost, body: error }));
      return { retry: false };
    }
    if (status === 408 || status === 429 || status >= 500) {
      this.#putBack(items);
      this.#report(new ReportError(message, { status, action: "retry", counts, body: error }));
      return { retry: true, retryAfterMs: retryAfterMs(response.headers.get("retry-after")) };
    }
    // Any other answer says this batch is wrong: sending it again cannot help.
    this.#dropped += counts;
    this.#report(new ReportError(message, { status, action: "drop", counts, body: error }));
    return { retry: false };
  }

  #report(error) {
    try {
      this.#onError(error);
    } catch {
      // A failing handler must not stop the reporter.
    }
  }
}

function warn(error) {
  if (error.action !== "retry") console.warn(error);
}

// Only a unit the hash split placed is in a cohort: include and exclude lists
// and constraints pick units by hand, which would bias the control and the
// sample-ratio check.
function isCounted(evaluation) {
  return (
    typeof evaluation === "object" &&
    evaluation !== null &&
    evaluation.reason === "SPLIT" &&
    typeof evaluation.stage === "string" &&
    evaluation.stage !== ""
  );
}

function checkRollout(rollout) {
  if (typeof rollout !== "string" || rollout === "") throw new TypeError("rollout must be a non-empty string");
}

function sum(items) {
  return items.reduce((total, item) => total + item.count, 0);
}

// Requests' bodies, each at most MAX_ITEMS items and (but for a single huge
// item) at most `maxBytes`; a count above MAX_COUNT goes as several items.
function batches(items, maxBytes) {
  const out = [];
  let current = [];
  let parts = [];
  let bytes = 0;
  const overhead = '{"counts":[]}'.length;
  const close = () => {
    if (current.length === 0) return;
    out.push({ items: current, body: `{"counts":[${parts.join(",")}]}` });
    current = [];
    parts = [];
    bytes = 0;
  };
  for (const item of items) {
    let left = item.count;
    do {
      const piece = { ...item, count: Math.min(left, MAX_COUNT) };
      left -= piece.count;
      const json = JSON.stringify(piece);
      const size = encoder.encode(json).length + 1;
      if (current.length === MAX_ITEMS || (current.length > 0 && overhead + bytes + size > maxBytes)) close();
      current.push(piece);
      parts.push(json);
      bytes += size;
    } while (left > 0);
  }
  close();
  return out;
}

function parseError(text) {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

// Retry-After in seconds (the form servers send for 429 and 503); dates are ignored.
function retryAfterMs(header) {
  const seconds = Number(header);
  return header !== null && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

// cyrb53 (bryc, public domain): a 53-bit hash, so a seen set of numbers stays
// small whatever the keys' length, with collisions negligible at its size.
function hash53(text) {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
