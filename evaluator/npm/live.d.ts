// Types of stagegate-evaluator/live: one environment's client document, kept
// current over the server's event stream, with polling as the fallback.
import type { Context, Evaluation, Evaluator, FlagType, Plan, Resolution } from "./index.js";

export interface LiveClientOptions {
  /** The stagegate server, e.g. "https://flags.example.com" (the document is `${url}/client/${environment}.json`). */
  url: string | URL;
  environment: string;
  /** How often to poll when the event stream is unavailable, in milliseconds (default 30,000; at least 1,000). Retries back off from 1 s up to it. */
  pollIntervalMs?: number;
  /** false: poll only, never open the event stream (default true). */
  stream?: boolean;
  /** A document to answer from until the server's arrives (e.g. one saved from a previous run). */
  document?: string | Plan;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
}

/** "live": the event stream is open; "polling": no stream, but the last poll answered; "stale": the server did not answer (the last good document still answers). */
export type LiveStatus = "connecting" | "live" | "polling" | "stale" | "closed";

export interface LiveChange {
  revision: number;
  etag: string | null;
  /** `ROLLOUT.FLAG` of every flag whose answers may differ (definition, stage, percentage, targeting, kill switch), including flags added or removed. */
  flagsChanged: string[];
}

export class LiveClient {
  constructor(options: LiveClientOptions);
  /** Resolves once a document is loaded; rejects if the server has no such environment, or on close() before. */
  readonly ready: Promise<void>;
  readonly environment: string;
  /** Whether it uses the event stream (false: `stream: false`, it only polls). */
  readonly streaming: boolean;
  /** The current evaluator, or null before the first document. Read it at each use: it is freed when replaced. */
  readonly evaluator: Evaluator | null;
  readonly revision: number | null;
  readonly etag: string | null;
  readonly status: LiveStatus;
  /** Each rollout of the document with its flag names. */
  readonly rollouts: ReadonlyMap<string, string[]>;
  /** Throws until a document is loaded. */
  evaluate(rollout: string, context?: Context): Evaluation;
  /** Throws until a document is loaded. */
  resolve(rollout: string, flag: string, context?: Context, type?: FlagType): Resolution;
  /** false until a document is loaded. */
  isEnabled(rollout: string, flag: string, targetingKey: string): boolean;
  /** Fetches the document now (with If-None-Match). */
  load(): Promise<"loaded" | "unchanged" | "rejected" | "missing" | "failed">;
  on(event: "change", listener: (change: LiveChange) => void): () => void;
  on(event: "status", listener: (status: LiveStatus) => void): () => void;
  /** Fetch failures, refused documents (the last good one stays), a missing environment. */
  on(event: "error", listener: (error: Error) => void): () => void;
  /** Stops the stream and timers and frees the evaluator. Node keeps running until it is called. */
  close(): void;
}

export function createLiveClient(options: LiveClientOptions): LiveClient;
