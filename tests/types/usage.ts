// Compiled (not run) by tests/js/types.test.mjs with `tsc --noEmit --strict`: the
// package's TypeScript types accept what the README shows and reject misuse.
import { init, bucket, evaluateOnce, Evaluator, type Evaluation, type Plan, type Context, type Reason } from "stagegate-evaluator";

export async function usage(plan: Plan): Promise<boolean> {
  await init();
  await init(new URL("https://example.com/stagegate_evaluator_bg.wasm"));
  const evaluator = new Evaluator(plan);
  const fromText = new Evaluator(JSON.stringify(plan));
  const context: Context = { targetingKey: "user-42", platform: "web", appVersion: "3.4.1", beta: true };
  const answer: Evaluation = evaluator.evaluate("domain-migration", "production", context);
  const reason: Reason = answer.reason;
  const bucketNumber: number | null = answer.bucket;
  const many: Evaluation[] = evaluator.evaluateMany("domain-migration", "production", ["a", "b"], { platform: "web" });
  const flags: boolean[] = evaluator.isEnabledMany("domain-migration", "useDomainEntities", "production", ["a"]);
  const typed = evaluator.resolve("domain-migration", "useDomainEntities", "production", context, "boolean");
  const once = evaluateOnce("{}", "r", "e");
  fromText.free();
  void [reason, bucketNumber, many, flags, typed.value, once.errorCode, bucket("s", "u"), evaluator.revision];
  return evaluator.isEnabled("domain-migration", "useDomainEntities", "production", "user-42");
}

export const plan: Plan = {
  schemaVersion: 1,
  rollouts: {
    r: {
      flags: { on: { type: "boolean", fallback: false } },
      stages: [{ id: "s1", name: "5%", percentage: 5, values: { on: true }, requiredSignoffs: ["qa-lead"] }],
      environments: {
        production: {
          activeStage: "s1",
          constraints: [{ attribute: "appVersion", operator: "semverGte", value: "3.4.0" }],
        },
      },
    },
  },
};

// Misuse the types must refuse.
// @ts-expect-error a flag type that does not exist
export const badType: Plan["rollouts"][string]["flags"][string] = { type: "bool", fallback: false };
// @ts-expect-error activeStage is required (null for none)
export const noActive: Plan["rollouts"][string]["environments"][string] = { killSwitch: true };
// @ts-expect-error a role that cannot sign off
export const badRole: Plan["rollouts"][string]["stages"][number]["requiredSignoffs"] = ["ceo"];
// @ts-expect-error reasons are a closed set
export const badReason: Reason = "MAYBE";
