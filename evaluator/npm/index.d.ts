// Types of the stagegate-evaluator package. The plan document's field names are
// fixed by the spec; see SPEC.md and the JSON Schema in the stagegate repository.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type FlagType = "boolean" | "string" | "number" | "json";

export interface Flag {
  type: FlagType;
  /** What everyone outside the rollout, and everyone under the kill switch, gets. */
  fallback: JsonValue;
  description?: string;
}

export interface Stage {
  id: string;
  name: string;
  /** 0–100, at most two decimals. */
  percentage: number;
  plannedFor?: string;
  values: Record<string, JsonValue>;
  requiredSignoffs?: SignoffRole[];
  monitoring?: string[];
  /** Hours the stage must be live before the next one. */
  soakHours?: number;
  /** Whether the server advances to the next stage by itself after the soak. */
  autoAdvance?: boolean;
}

export type Operator = "in" | "notIn" | "semverEq" | "semverGt" | "semverGte" | "semverLt" | "semverLte";

export interface Constraint {
  attribute: string;
  operator: Operator;
  /** For "in" and "notIn". */
  values?: string[];
  /** For the semver operators. */
  value?: string;
}

export interface Environment {
  activeStage: string | null;
  killSwitch?: boolean;
  include?: string[];
  exclude?: string[];
  constraints?: Constraint[];
}

/** A guardrail the server watches (SPEC.md, "Triggers"). The package reads a
 * plan's triggers as any list and ignores them: client documents carry none. */
export interface RollbackTrigger {
  metric: string;
  /** The counted event, e.g. "crash". */
  event: string;
  /** A rate's denominator event, e.g. "session"; absent for a count. */
  per?: string;
  compare?: "control" | "ceiling";
  threshold: number;
  unit?: "points" | "percent";
  minSample?: number;
  action: "rollback" | "hold";
  description?: string;
}

export interface ChecklistItem {
  phase: string;
  group?: string;
  item: string;
  done?: boolean;
}

export interface Rollout {
  description?: string;
  salt?: string;
  flags: Record<string, Flag>;
  stages: Stage[];
  environments: Record<string, Environment>;
  rollbackTriggers?: RollbackTrigger[];
  checklist?: ChecklistItem[];
}

export type SignoffRole = "engineering-lead" | "product-manager" | "qa-lead" | "devops-lead";

export interface Signoff {
  id: string;
  rollout: string;
  stage: string;
  role: SignoffRole;
  by: string;
  at: string;
  stageDigest: string;
  comment?: string;
}

export interface Plan {
  schemaVersion: 1;
  revision?: number;
  rollouts: Record<string, Rollout>;
  signoffs?: Signoff[];
}

/** Flat, as in OpenFeature. */
export interface Context {
  targetingKey?: string;
  [attribute: string]: JsonValue | undefined;
}

export type Reason = "SPLIT" | "TARGETING_MATCH" | "DISABLED" | "DEFAULT" | "ERROR";

export type ErrorCode =
  | "FLAG_NOT_FOUND"
  | "PARSE_ERROR"
  | "TYPE_MISMATCH"
  | "TARGETING_KEY_MISSING"
  | "INVALID_CONTEXT"
  | "GENERAL";

/** What every answer says besides its values. */
export interface Answer {
  /** The active stage, when one applies. */
  stage: string | null;
  /** 0..=9999, when there is a targeting key and an active stage. */
  bucket: number | null;
  inRollout: boolean;
  reason: Reason;
  errorCode: ErrorCode | null;
  errorMessage: string | null;
  revision: number;
}

export interface Evaluation extends Answer {
  /** Every flag of the rollout (empty when the rollout is unknown). */
  values: Record<string, JsonValue>;
}

export interface Resolution extends Answer {
  /** null on an error: use your own default. */
  value: JsonValue | null;
}

/** Loads the WebAssembly module; call (and await) once before anything else. */
export function init(source?: RequestInfo | URL | Response | BufferSource | WebAssembly.Module): Promise<void>;

/** The bucket (0..=9999) of `unit` under `salt`. */
export function bucket(salt: string, unit: string): number;

/** Evaluates against a plan without preparing it; never throws for bad data (PARSE_ERROR, GENERAL). */
export function evaluateOnce(plan: string | Plan, rollout: string, environment: string, context?: Context): Evaluation;

export class Evaluator {
  /** Parses, validates and prepares a plan; throws an Error whose message lists every problem. */
  constructor(plan: string | Plan);
  readonly revision: number;
  evaluate(rollout: string, environment: string, context?: Context): Evaluation;
  /** The same attributes for each key; one evaluation per key, in order. */
  evaluateMany(rollout: string, environment: string, targetingKeys: string[], attributes?: Context): Evaluation[];
  /** One flag; `type` turns a flag of another type into TYPE_MISMATCH. */
  resolve(rollout: string, flag: string, environment: string, context?: Context, type?: FlagType): Resolution;
  /** The fast path: a boolean flag for a targeting key alone; false on any error. */
  isEnabled(rollout: string, flag: string, environment: string, targetingKey: string): boolean;
  isEnabledMany(rollout: string, flag: string, environment: string, targetingKeys: string[]): boolean[];
  free(): void;
}
