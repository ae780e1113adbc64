// Types of stagegate-evaluator/openfeature: OpenFeature providers that evaluate
// locally on a live client document. Structurally compatible with the Provider
// interfaces of @openfeature/web-sdk and @openfeature/server-sdk (neither is imported).
// Types come from @openfeature/core, which either SDK brings along (a type-only
// import: nothing of it is loaded at run time).
import type { ErrorCode, EvaluationContext, FlagMetadata, JsonValue, ProviderEventEmitter, ResolutionDetails, TrackingEventDetails } from "@openfeature/core";
import type { LiveClient, LiveClientOptions } from "./live.js";
import type { Reporter } from "./reporter.js";

export interface ProviderOptions extends Partial<LiveClientOptions> {
  /** A live client to share; otherwise the provider makes its own from url and environment. */
  client?: LiveClient;
  /** Counts exposures of the flags resolved (SPLIT answers) and the events passed to `track`. */
  reporter?: Reporter;
  /** How long initialize() waits for the first document before the SDK sees an error (default 10,000 ms); the provider becomes ready when it arrives. */
  initializeTimeoutMs?: number;
}

/**
 * What every resolution carries: variant "on" (the active stage's value) or "off"
 * (the fallback), absent on errors; the reason and error code as the evaluator
 * gives them (OpenFeature's own); flagMetadata `{ rollout, revision, stage?, bucket? }`.
 */
export type StagegateResolution<T> = ResolutionDetails<T> & { errorCode?: ErrorCode; flagMetadata?: FlagMetadata };

declare abstract class StagegateProvider {
  constructor(options: ProviderOptions);
  readonly metadata: { name: "stagegate" };
  readonly hooks: [];
  readonly events: ProviderEventEmitter<any>;
  readonly client: LiveClient;
  initialize(context?: EvaluationContext): Promise<void>;
  onClose(): Promise<void>;
  /** Counts the event once, or `details.count` times (a whole number), for each rollout's cohort of the context. */
  track(eventName: string, context?: EvaluationContext, details?: TrackingEventDetails & { count?: number }): void;
}

/** For @openfeature/web-sdk: synchronous answers from the local evaluator. */
export class StagegateWebProvider extends StagegateProvider {
  readonly runsOn: "client";
  onContextChange(oldContext: EvaluationContext, newContext: EvaluationContext): void;
  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): StagegateResolution<boolean>;
  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): StagegateResolution<string>;
  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): StagegateResolution<number>;
  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): StagegateResolution<T>;
}

/** For @openfeature/server-sdk (Node): the same answers, as promises. */
export class StagegateServerProvider extends StagegateProvider {
  readonly runsOn: "server";
  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<StagegateResolution<boolean>>;
  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<StagegateResolution<string>>;
  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<StagegateResolution<number>>;
  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<StagegateResolution<T>>;
}

/** The `[rollout, flag]` a flag key names among a document's rollouts, or null (README, "Flag keys"). */
export function findFlag(rollouts: ReadonlyMap<string, string[]>, key: string): [string, string] | null;
