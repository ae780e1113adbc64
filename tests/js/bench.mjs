// The npm package's speed in Node: ns per call of bucket, isEnabled and evaluate
// over 1,000,000 distinct ids built before timing. Run by `cargo xtask bench`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const { init, bucket, Evaluator } = await import(pathToFileURL(join(pkg, "index.js")));
await init();

const plan = JSON.parse(readFileSync(join(root, "static/default-plan.json"), "utf8"));
plan.rollouts["domain-migration"].environments.production.activeStage = "stage-2";
const evaluator = new Evaluator(plan);
const N = 1_000_000;
const ids = Array.from({ length: N }, (_, i) => `user-${i}`);
const contexts = ids.map((targetingKey) => ({ targetingKey, platform: "web" }));

/** Best of `passes` passes over all ids, in ns per call. */
function time(label, passes, pass) {
  let best = Infinity;
  let checksum = 0;
  for (let p = 0; p < passes; p++) {
    const start = process.hrtime.bigint();
    checksum += pass();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / N);
  }
  console.log(`node ${label}: ${best.toFixed(1)} ns`);
  return checksum;
}

time("bucket (per call)", 5, () => {
  let sum = 0;
  for (let i = 0; i < N; i++) sum += bucket("domain-migration", ids[i]);
  return sum;
});
time("isEnabled (25% stage, per call)", 5, () => {
  let on = 0;
  for (let i = 0; i < N; i++) if (evaluator.isEnabled("domain-migration", "useDomainEntities", "production", ids[i])) on++;
  return on;
});
time("evaluate (25% stage, per call)", 3, () => {
  let on = 0;
  for (let i = 0; i < N; i++) if (evaluator.evaluate("domain-migration", "production", contexts[i]).inRollout) on++;
  return on;
});
const constrained = structuredClone(plan);
constrained.rollouts["domain-migration"].environments.production.constraints = [
  { attribute: "platform", operator: "in", values: ["web", "ios"] },
  { attribute: "appVersion", operator: "semverGte", value: "3.0.0" },
];
const withConstraints = new Evaluator(constrained);
const versioned = ids.map((targetingKey) => ({ targetingKey, platform: "web", appVersion: "3.4.1" }));
time("evaluate (25% stage, two constraints, per call)", 3, () => {
  let on = 0;
  for (let i = 0; i < N; i++) if (withConstraints.evaluate("domain-migration", "production", versioned[i]).inRollout) on++;
  return on;
});
time("isEnabledMany (1,000,000 keys in one call, per key)", 3, () =>
  evaluator.isEnabledMany("domain-migration", "useDomainEntities", "production", ids).filter(Boolean).length,
);
