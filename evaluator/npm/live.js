// stagegate-evaluator/live (API: live.d.ts): one environment's client document,
// kept current over the server's event stream (GET /client/{env}/events), with
// polling as the fallback. Swaps the evaluator only for a document that loads.
import { init, Evaluator } from "#core";

const FIRST_BYTES_MS = 10_000; // a stream that sends nothing at first is held back by a proxy
const SILENCE_MS = 45_000; // three missed keep-alives: the connection is dead
const MIN_RETRY_MS = 1_000;
const STEADY_MS = 5_000; // a stream that ends sooner counts as a failure: back off
const FETCH_MS = 10_000; // a document download that takes longer is a failure
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond it

export function createLiveClient(options) {
  return new LiveClient(options);
}

export class LiveClient {
  #base;
  #environment;
  #fetch;
  #pollMs;
  #streams;
  #evaluator = null;
  #etag = null;
  #revision = null;
  #fingerprints = new Map();
  #rollouts = new Map();
  #status = "connecting";
  #listeners = { change: new Set(), status: new Set(), error: new Set() };
  #closed = false;
  #document;
  // Aborted by close(): the stream's and every download's.
  #aborts = new Set();
  #wake = null;
  #loading = null;
  #again = false;
  #ready;
  #settle;

  constructor(options) {
    if (options === null || typeof options !== "object") throw new TypeError("createLiveClient(options): options must be an object");
    const { url, environment, fetch = globalThis.fetch, pollIntervalMs = 30_000, stream = true } = options;
    if (typeof environment !== "string" || environment === "") throw new TypeError("options.environment must be a non-empty string");
    if (typeof fetch !== "function") throw new TypeError("options.fetch must be a function (globalThis.fetch is missing)");
    if (!(pollIntervalMs >= MIN_RETRY_MS && pollIntervalMs <= MAX_TIMER_MS)) {
      throw new TypeError(`options.pollIntervalMs must be from ${MIN_RETRY_MS} to ${MAX_TIMER_MS} milliseconds`);
    }
    this.#base = new URL(String(url));
    if (!this.#base.pathname.endsWith("/")) this.#base.pathname += "/";
    this.#environment = environment;
    // Called as a plain function: a browser's fetch refuses any other `this`.
    this.#fetch = (input, init) => fetch(input, init);
    this.#pollMs = pollIntervalMs;
    this.#streams = stream !== false;
    this.#ready = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
    this.#ready.catch(() => {}); // a caller that never awaits it must not see an unhandled rejection
    // Taken once the wasm is loaded (see #run).
    if (options.document !== undefined) this.#document = typeof options.document === "string" ? options.document : JSON.stringify(options.document);
    this.#run();
  }

  /** Resolves once a document is loaded; rejects if the environment does not exist or on close() before. */
  get ready() {
    return this.#ready;
  }

  get environment() {
    return this.#environment;
  }

  /** Whether the client uses the event stream (false: it only polls). */
  get streaming() {
    return this.#streams;
  }

  /** The current evaluator (null before the first document): read it at each use, it is freed when replaced. */
  get evaluator() {
    return this.#evaluator;
  }

  get revision() {
    return this.#revision;
  }

  get etag() {
    return this.#etag;
  }

  /** "connecting" | "live" (stream open) | "polling" (no stream, the last poll answered) | "stale" (the server did not answer) | "closed" */
  get status() {
    return this.#status;
  }

  /** Rollout keys with their flag names, in the current document. */
  get rollouts() {
    return this.#rollouts;
  }

  evaluate(rollout, context) {
    return this.#require().evaluate(rollout, this.#environment, context);
  }

  resolve(rollout, flag, context, type) {
    return this.#require().resolve(rollout, flag, this.#environment, context, type);
  }

  isEnabled(rollout, flag, targetingKey) {
    return this.#evaluator !== null && this.#evaluator.isEnabled(rollout, flag, this.#environment, targetingKey);
  }

  /** Listens for "change" ({revision, etag, flagsChanged}), "status" (status) or "error" (Error); returns the way to stop. */
  on(event, listener) {
    const listeners = this.#listeners[event];
    if (listeners === undefined) throw new TypeError(`unknown event '${event}' (change, status, error)`);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const abort of this.#aborts) abort.abort();
    this.#wake?.();
    this.#settle.reject(new Error("the live client was closed before a document loaded"));
    this.#setStatus("closed");
    this.#evaluator?.free();
    this.#evaluator = null;
  }

  #require() {
    if (this.#closed) throw new Error("the live client is closed");
    if (this.#evaluator === null) throw new Error("no client document yet: await client.ready");
    return this.#evaluator;
  }

  async #run() {
    try {
      await init();
    } catch (error) {
      this.#emit("error", error);
      this.#settle.reject(error);
      return;
    }
    if (this.#document !== undefined && !this.#closed) this.#accept(this.#document, null);
    this.#document = undefined;
    let failures = 0;
    while (!this.#closed) {
      const loaded = await this.load();
      if (this.#closed) break;
      let heard = false;
      const opened = Date.now();
      if (this.#streams && loaded !== "missing") heard = await this.#stream();
      if (this.#closed) break;
      // No stream now: answers are as fresh as the last download.
      if (this.#status === "live") this.#setStatus("polling");
      if (heard && Date.now() - opened > STEADY_MS) {
        // The stream ended after it worked (a restart, a proxy's timeout): reload
        // and reconnect soon, spread over a second so that every client of a
        // restarted server does not come back at the same instant; only a
        // failed reload makes the client stale.
        failures = 0;
        await this.#sleep(Math.random() * MIN_RETRY_MS);
        continue;
      }
      failures++;
      const backoff = Math.min(this.#pollMs, MIN_RETRY_MS * 2 ** Math.min(failures - 1, 16));
      await this.#sleep(this.#streams ? backoff * (0.75 + Math.random() / 2) : this.#pollMs);
    }
  }

  /** Fetches the document now (If-None-Match); "loaded", "unchanged", "rejected", "missing" or "failed". */
  load() {
    if (this.#loading !== null) {
      this.#again = true;
      return this.#loading;
    }
    this.#loading = (async () => {
      let outcome;
      do {
        this.#again = false;
        outcome = await this.#fetchDocument();
      } while (this.#again && !this.#closed);
      this.#loading = null;
      return outcome;
    })();
    return this.#loading;
  }

  async #fetchDocument() {
    const url = new URL(`client/${encodeURIComponent(this.#environment)}.json`, this.#base);
    const headers = this.#etag === null ? {} : { "if-none-match": this.#etag };
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timer = setTimeout(() => abort.abort(new Error(`no answer from ${url} within ${FETCH_MS} ms`)), FETCH_MS);
    try {
      return await this.#download(url, headers, abort.signal);
    } finally {
      clearTimeout(timer);
      this.#aborts.delete(abort);
    }
  }

  async #download(url, headers, signal) {
    let response;
    try {
      // no-store: the document is cacheable for 30 s, and the browser's cache must not answer for the server.
      response = await this.#fetch(url, { headers, cache: "no-store", signal });
    } catch (error) {
      this.#unreachable(signal.reason ?? error);
      return "failed";
    }
    if (response.status === 304) {
      this.#reached();
      return "unchanged";
    }
    if (response.status === 404) {
      const error = new Error(`the server has no environment '${this.#environment}' (404 from ${url})`);
      this.#emit("error", error);
      if (this.#evaluator === null) this.#settle.reject(error);
      this.#setStatus(this.#evaluator === null ? "stale" : this.#status);
      return "missing";
    }
    if (!response.ok) {
      this.#unreachable(new Error(`${response.status} from ${url}`));
      return "failed";
    }
    let text;
    try {
      text = await response.text();
    } catch (error) {
      this.#unreachable(signal.reason ?? error);
      return "failed";
    }
    if (this.#closed) return "failed";
    // The document first: a status listener may read the evaluator at once.
    const loaded = this.#accept(text, response.headers.get("etag"));
    this.#reached();
    return loaded ? "loaded" : "rejected";
  }

  // Swaps in the document's evaluator if it loads; listeners hear which flags changed.
  #accept(text, etag) {
    let evaluator;
    let fingerprints;
    try {
      evaluator = new Evaluator(text);
      fingerprints = flagFingerprints(JSON.parse(text));
    } catch (error) {
      evaluator?.free();
      this.#emit("error", new Error(`kept revision ${this.#revision ?? "(none)"}: the new client document does not load: ${error.message}`));
      return false;
    }
    const flagsChanged = [];
    for (const [key, print] of fingerprints.keys) if (this.#fingerprints.get(key) !== print) flagsChanged.push(key);
    for (const key of this.#fingerprints.keys()) if (!fingerprints.keys.has(key)) flagsChanged.push(key);
    const previous = this.#evaluator;
    this.#evaluator = evaluator;
    this.#etag = etag;
    this.#revision = evaluator.revision;
    this.#fingerprints = fingerprints.keys;
    this.#rollouts = fingerprints.rollouts;
    previous?.free();
    this.#settle.resolve();
    if (previous !== null) this.#emit("change", { revision: this.#revision, etag, flagsChanged });
    return true;
  }

  // One connection to the event stream; true if anything came through it.
  async #stream() {
    const url = new URL(`client/${encodeURIComponent(this.#environment)}/events`, this.#base);
    const abort = new AbortController();
    this.#aborts.add(abort);
    let heard = false;
    let watchdog;
    const arm = (ms) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), ms);
    };
    arm(FIRST_BYTES_MS);
    try {
      const headers = { accept: "text/event-stream" };
      if (this.#etag !== null) headers["last-event-id"] = this.#etag;
      const response = await this.#fetch(url, { headers, cache: "no-store", signal: abort.signal });
      if (response.status !== 200 || !(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
        await response.body?.cancel();
        return false;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let data = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        // Any bytes (the server starts with `retry:`) show the stream is not held back by a proxy.
        arm(SILENCE_MS);
        if (!heard) {
          heard = true;
          this.#setStatus("live");
        }
        buffer += value;
        // A CR at the end may be the first half of a CRLF: it waits for the next chunk.
        const cut = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
        const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
        buffer = lines.pop() + buffer.slice(cut);
        for (const line of lines) {
          if (line === "") {
            if (data.length > 0) this.#onEvent(data.join("\n"));
            data = [];
          } else if (line.startsWith("data:")) {
            data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
          }
          // "id:", "retry:" and ":" comments need nothing: the ETag is the id, and retries are ours.
        }
      }
    } catch {
      // A dropped connection or our own abort: the loop decides what next.
    } finally {
      clearTimeout(watchdog);
      this.#aborts.delete(abort);
    }
    return heard;
  }

  // Not awaited: events that arrive while a download is under way fold into one
  // more download (see load), as OFREP asks of its clients.
  #onEvent(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (event === null || typeof event !== "object" || event.type !== "refetchEvaluation") return;
    if (event.etag === null) {
      this.#emit("error", new Error(`the environment '${this.#environment}' is gone from the server; keeping revision ${this.#revision}`));
    } else if (event.etag !== this.#etag) {
      this.load();
    }
  }

  #reached() {
    if (this.#status !== "live") this.#setStatus("polling");
  }

  #unreachable(error) {
    this.#emit("error", error instanceof Error ? error : new Error(String(error)));
    this.#setStatus("stale");
  }

  #setStatus(status) {
    if (this.#status === status || this.#status === "closed") return;
    this.#status = status;
    this.#emit("status", status);
  }

  #emit(event, value) {
    for (const listener of this.#listeners[event]) {
      try {
        listener(value);
      } catch (error) {
        // A listener's bug must neither stop the client nor end the process.
        console.error("stagegate-evaluator/live: a listener threw", error);
      }
    }
  }

  #sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

// What decides each flag's answers in a client document, as text per `ROLLOUT.FLAG`:
// a flag changed when its text did.
function flagFingerprints(document) {
  const keys = new Map();
  const rollouts = new Map();
  for (const [key, rollout] of Object.entries(document.rollouts ?? {})) {
    const [environment] = Object.values(rollout.environments ?? {});
    const stage = rollout.stages?.find((s) => s.id === environment?.activeStage);
    const shared = JSON.stringify([rollout.salt ?? key, environment ?? null, stage?.percentage ?? null]);
    const flags = Object.keys(rollout.flags ?? {});
    rollouts.set(key, flags);
    for (const flag of flags) {
      keys.set(`${key}.${flag}`, JSON.stringify([shared, rollout.flags[flag], stage?.values?.[flag] ?? null]));
    }
  }
  return { keys, rollouts };
}
