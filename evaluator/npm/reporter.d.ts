// Types of stagegate-evaluator/reporter: counts for a stagegate server's guardrails
// (SPEC.md, "Guardrails → Reports"). It loads no WebAssembly.
import type { Answer } from "./index.js";

/** What the reporter reads of an evaluation: its stage, cohort and reason. */
export type Counted = Pick<Answer, "stage" | "inRollout" | "reason">;

/** The most items one request carries. */
export const MAX_ITEMS: 1000;
/** The most one item's count may be: 2³² − 1. */
export const MAX_COUNT: 4294967295;

export interface ReporterOptions {
  /** The stagegate server, e.g. "https://flags.example.com"; counts go to `${url}/api/metrics`. */
  url: string | URL;
  /** The environment's ingest key (`sgi_…`): it can only report. */
  ingestKey: string;
  /** The ingest key's environment. */
  environment: string;
  /** How often counts are sent, in milliseconds (default 5000); retries back off from it up to 60 s. */
  intervalMs?: number;
  /** Distinct (rollout, stage, cohort, event) keys held between sends (default 10,000); counts for new keys beyond it are dropped. */
  maxKeys?: number;
  /** Units remembered so each exposure counts once (default 100,000, about 40 bytes each); the oldest is forgotten first. */
  maxUnits?: number;
  /** Told of every failed request (default: console.warn unless it will be retried). */
  onError?: (error: ReportError) => void;
  /** The fetch to send with (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
}

/** What became of a failed request's counts. */
export type ReportAction =
  /** Kept and sent again with backoff (network error, 408, 429, 5xx). */
  | "retry"
  /** Dropped: the server refused the batch (400 and other 4xx), or the reporter closed with them unsent. */
  | "drop"
  /** Dropped, and the reporter sends nothing more: the ingest key was refused (401, 403). */
  | "stop";

export class ReportError extends Error {
  readonly name: "ReportError";
  /** The HTTP status, or null when no answer came. */
  readonly status: number | null;
  readonly action: ReportAction;
  /** How many counted events the failure concerns. */
  readonly counts: number;
  /** The server's JSON error ({error, message, details}), when it sent one. */
  readonly body: { error?: string; message?: string; details?: unknown; [field: string]: unknown } | null;
}

export interface Reporter {
  /**
   * Counts `exposure` once per unit per (rollout, stage, cohort). Pass the evaluation
   * the app used. Only units the hash split placed count (reason "SPLIT"): no stage,
   * kill switch, error, include/exclude lists and constraints do not. True if counted.
   */
  expose(rollout: string, evaluation: Counted, targetingKey: string): boolean;
  /**
   * Counts `count` (an integer 0..2³²−1, default 1) of a named event ("crash", "session",
   * "syncFailure", "syncOperation", …) for the evaluation's stage and cohort. True if counted.
   */
  track(rollout: string, evaluation: Counted, event: string, count?: number): boolean;
  /** Sends what is counted now; resolves once every request under way has settled. Never rejects. */
  flush(): Promise<void>;
  /** Stops the timer and page listeners and sends what is left; counts it cannot send are dropped. */
  close(): Promise<void>;
  /** Counted events lost: beyond maxKeys, refused by the server, after a refused key, or unsent at close. */
  readonly dropped: number;
}

/** Starts a reporter: it sends every `intervalMs`, and at once when a browser page is hidden. */
export function createReporter(options: ReporterOptions): Reporter;
