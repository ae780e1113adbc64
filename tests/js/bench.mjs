// The npm package's speed in Node: ns per call of bucket, isEnabled and evaluate
// over 1,000,000 distinct ids built before timing, and the same ids through
// @openfeature/flagd-core on an equivalent flagd flag, in the same process, for
// the ratios. Run by `cargo xtask bench`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { FlagdCore } from "@openfeature/flagd-core";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const { init, bucket, Evaluator } = await import(pathToFileURL(join(pkg, "node.js")));
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

// flagd's form of stage 2 of domain-migration's useDomainEntities (25 %): the
// same murmur3 of salt ‖ targeting key, split 2,500 / 7,500 of 10,000 buckets.
const flagd = new FlagdCore();
const FLAGD_KEY = "domain-migration.useDomainEntities";
flagd.setConfigurations(
  JSON.stringify({
    flags: {
      [FLAGD_KEY]: {
        state: "ENABLED",
        variants: { on: true, off: false },
        defaultVariant: "off",
        targeting: {
          fractional: [{ cat: ["domain-migration", { var: "targetingKey" }] }, ["on", 2500], ["off", 7500]],
        },
      },
    },
  }),
);

// Each pass counts the units that get the flag: the result is used, and the
// three must agree on every id.
const contenders = {
  isEnabled: () => {
    let on = 0;
    for (let i = 0; i < N; i++) if (evaluator.isEnabled("domain-migration", "useDomainEntities", "production", ids[i])) on++;
    return on;
  },
  evaluate: () => {
    let on = 0;
    for (let i = 0; i < N; i++) if (evaluator.evaluate("domain-migration", "production", contexts[i]).values.useDomainEntities) on++;
    return on;
  },
  "flagd-core": () => {
    let on = 0;
    for (let i = 0; i < N; i++) if (flagd.resolveBooleanEvaluation(FLAGD_KEY, false, contexts[i]).value) on++;
    return on;
  },
};

/** ns per call of each contender, one pass each per round, in an order that
 * rotates between rounds; the median of the rounds, after a warm-up pass each. */
function compare(rounds) {
  const names = Object.keys(contenders);
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  const counts = new Set();
  for (let round = -1; round < rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + Math.max(round, 0)) % names.length];
      const start = process.hrtime.bigint();
      counts.add(contenders[name]());
      if (round >= 0) samples[name].push(Number(process.hrtime.bigint() - start) / N);
    }
  }
  if (counts.size !== 1) throw new Error(`the contenders disagree on how many get the flag: ${[...counts]}`);
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  return Object.fromEntries(names.map((name) => [name, median(samples[name])]));
}

const ROUNDS = 5;
const medians = compare(ROUNDS);
const flagdNs = medians["flagd-core"];
console.log(`against @openfeature/flagd-core: same 1,000,000 ids, median of ${ROUNDS} rounds, order rotated`);
console.log(`node flagd-core resolveBooleanEvaluation (fractional 25%, per call): ${flagdNs.toFixed(1)} ns`);
for (const [name, target] of [["isEnabled", 5], ["evaluate", 3]]) {
  const ratio = flagdNs / medians[name];
  const verdict = ratio >= target ? "✔" : "✘";
  console.log(
    `node ${name} (25% stage, per call): ${medians[name].toFixed(1)} ns, ${ratio.toFixed(2)}× flagd-core's speed (target ≥ ${target}× ${verdict})`,
  );
}

time("bucket (per call)", 5, () => {
  let sum = 0;
  for (let i = 0; i < N; i++) sum += bucket("domain-migration", ids[i]);
  return sum;
});
time("isEnabled (25% stage, per call)", 5, contenders.isEnabled);
time("evaluate (25% stage, per call)", 3, contenders.evaluate);
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
