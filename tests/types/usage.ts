// Compiled (not run) by tests/js/types.test.mjs with `tsc --noEmit --strict`: the
// package's TypeScript types accept what the README shows and reject misuse.
import { init, bucket, evaluateOnce, Evaluator, type Evaluation, type Plan, type Context, type Reason } from "stagegate-evaluator";
import { createReporter, ReportError, MAX_ITEMS, type Reporter, type ReportAction } from "stagegate-evaluator/reporter";

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

export async function reporting(evaluator: Evaluator): Promise<number> {
  const errors: ReportAction[] = [];
  const reporter: Reporter = createReporter({
    url: "https://flags.example.com",
    ingestKey: "sgi_example",
    environment: "production",
    intervalMs: 5000,
    maxKeys: 10_000,
    onError: (error) => {
      if (error instanceof ReportError && error.status === 400) console.warn(error.body?.message, error.counts);
      errors.push(error.action);
    },
    fetch: globalThis.fetch,
  });
  createReporter({ url: new URL("https://flags.example.com"), ingestKey: "k", environment: "staging" });
  const evaluation = evaluator.evaluate("domain-migration", "production", { targetingKey: "user-42" });
  const counted: boolean = reporter.expose("domain-migration", evaluation, "user-42");
  reporter.track("domain-migration", evaluation, "session");
  reporter.track("domain-migration", evaluation, "syncOperation", 12);
  reporter.track("domain-migration", { stage: "stage-1", inRollout: true, reason: "SPLIT" }, "crash");
  await reporter.flush();
  await reporter.close();
  void [counted, errors, MAX_ITEMS];
  return reporter.dropped;
}

// Misuse the types must refuse.
// @ts-expect-error a flag type that does not exist
export const badType: Plan["rollouts"][string]["flags"][string] = { type: "bool", fallback: false };
// @ts-expect-error activeStage is required (null for none)
export const noActive: Plan["rollouts"][string]["environments"][string] = { killSwitch: true };
// @ts-expect-error a role that cannot sign off
export const badRole: Plan["rollouts"][string]["stages"][number]["requiredSignoffs"] = ["ceo"];
// @ts-expect-error reasons are a closed set
export const badReason: Reason = "MAYBE";
// @ts-expect-error the reporter needs the environment its ingest key belongs to
export const noEnvironment = () => createReporter({ url: "https://flags.example.com", ingestKey: "k" });
// @ts-expect-error an evaluation's cohort is part of what is counted
export const noCohort = (reporter: Reporter) => reporter.track("r", { stage: "s", reason: "SPLIT" }, "crash");
// @ts-expect-error dropped is read only
export const resetDropped = (reporter: Reporter) => (reporter.dropped = 0);

// stagegate-evaluator/live and /openfeature, handed to the real OpenFeature SDKs:
// the providers must fit their Provider interfaces structurally.
import { createLiveClient, type LiveChange, type LiveStatus } from "stagegate-evaluator/live";
import { StagegateServerProvider, StagegateWebProvider, findFlag } from "stagegate-evaluator/openfeature";
import { OpenFeature as ServerFeature } from "@openfeature/server-sdk";
import { OpenFeature as WebFeature } from "@openfeature/web-sdk";

export async function live(reporter: Reporter): Promise<boolean> {
  const client = createLiveClient({ url: "https://flags.example.com", environment: "production", pollIntervalMs: 10_000 });
  const stop = client.on("change", (change: LiveChange) => console.log(change.flagsChanged.join(", "), change.revision));
  client.on("status", (status: LiveStatus) => console.log(status));
  client.on("error", (error: Error) => console.warn(error.message));
  await client.ready;
  const on: boolean = client.isEnabled("domain-migration", "useDomainEntities", "user-42");
  const answer: Evaluation = client.evaluate("domain-migration", { targetingKey: "user-42" });
  stop();
  // @ts-expect-error: no such event
  client.on("changed", () => {});
  await ServerFeature.setProviderAndWait(new StagegateServerProvider({ client }));
  const details = await ServerFeature.getClient().getBooleanDetails("domain-migration.useDomainEntities", false, { targetingKey: "u" });
  await WebFeature.setProviderAndWait(new StagegateWebProvider({ url: "https://flags.example.com", environment: "production", reporter }));
  const web: string = WebFeature.getClient().getStringValue("domain-migration.theme", "light");
  const found: [string, string] | null = findFlag(client.rollouts, "useDomainEntities");
  client.close();
  void [answer, details.flagMetadata, web, found];
  return on;
}
