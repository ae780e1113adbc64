// The npm package's API as a web app or Node service meets it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const { init, bucket, evaluateOnce, Evaluator } = await import(pathToFileURL(join(pkg, "node.js")));

const plan = JSON.parse(readFileSync(join(root, "static/default-plan.json"), "utf8"));
plan.rollouts["domain-migration"].environments.production.activeStage = "stage-2";

test("init can be awaited more than once", async () => {
  await Promise.all([init(), init()]);
  await init();
});

test("package.json names the module and its types", () => {
  const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  assert.equal(manifest.name, "stagegate-evaluator");
  assert.equal(manifest.type, "module");
  assert.equal(manifest.exports["."].types, "./index.d.ts");
  for (const file of manifest.files) assert.ok(readFileSync(join(pkg, file)).length > 0, file);
});

test("bucket gives the spec's reference values and rejects non-strings", () => {
  assert.equal(bucket("domain-migration", "user-42"), 7035);
  assert.equal(bucket("salt", "😀"), 8217);
  // A lone surrogate crosses as U+FFFD, as TextEncoder encodes it.
  assert.equal(bucket("s", "\uD800"), bucket("s", "\uFFFD"));
  assert.throws(() => bucket("s", 42), TypeError);
});

test("Evaluator takes a JSON string or a plain object alike", () => {
  const fromObject = new Evaluator(plan);
  const fromString = new Evaluator(JSON.stringify(plan));
  const context = { targetingKey: "user-42", platform: "web" };
  assert.deepEqual(
    fromObject.evaluate("domain-migration", "production", context),
    fromString.evaluate("domain-migration", "production", context),
  );
});

test("evaluate returns a plain object with every field", () => {
  const evaluator = new Evaluator(plan);
  const answer = evaluator.evaluate("domain-migration", "production", { targetingKey: "user-42" });
  assert.equal(Object.getPrototypeOf(answer), Object.prototype);
  assert.deepEqual(Object.keys(answer).sort(), ["bucket", "errorCode", "errorMessage", "inRollout", "reason", "revision", "stage", "values"]);
  assert.equal(answer.bucket, 7035);
  assert.equal(answer.inRollout, false);
  assert.deepEqual(answer.values, { enableMigration: false, useDomainEntities: false, enableDualProviders: true });
});

test("an invalid plan throws an Error listing every problem", () => {
  const broken = structuredClone(plan);
  broken.rollouts["domain-migration"].stages[1].percentage = 250;
  broken.rollouts["domain-migration"].environments.production.activeStage = "stage-9";
  assert.throws(
    () => new Evaluator(broken),
    (error) =>
      error instanceof Error &&
      error.message.includes("/rollouts/domain-migration/stages/1/percentage") &&
      error.message.includes("/rollouts/domain-migration/environments/production/activeStage"),
  );
});

test("isEnabled agrees with evaluate and is false for anything unknown", () => {
  const evaluator = new Evaluator(plan);
  for (let i = 0; i < 2000; i++) {
    const key = `user-${i}`;
    const { values } = evaluator.evaluate("domain-migration", "production", { targetingKey: key });
    assert.equal(evaluator.isEnabled("domain-migration", "useDomainEntities", "production", key), values.useDomainEntities, key);
    assert.equal(evaluator.isEnabled("domain-migration", "enableDualProviders", "production", key), values.enableDualProviders, key);
  }
  assert.equal(evaluator.isEnabled("nope", "useDomainEntities", "production", "user-1"), false);
  assert.equal(evaluator.isEnabled("domain-migration", "nope", "production", "user-1"), false);
  assert.equal(evaluator.isEnabled("domain-migration", "useDomainEntities", "nope", "user-1"), false);
  assert.equal(evaluator.isEnabled("domain-migration", "useDomainEntities", "production", undefined), false);
  // Unknown names, one after another, each answered about itself (they are not cached).
  for (const rollout of ["nope-1", "nope-2", "nope-1"]) {
    const answer = evaluator.evaluate(rollout, "production", { targetingKey: "user-1" });
    assert.equal(answer.errorCode, "FLAG_NOT_FOUND");
    assert.match(answer.errorMessage, new RegExp(`rollout '${rollout}' not found`));
  }
  const noEnv = evaluator.resolve("domain-migration", "useDomainEntities", "nope", { targetingKey: "user-1" });
  assert.match(noEnv.errorMessage, /environment 'nope' not found/);
  // Known pairs numbered after unknown ones still answer from their own place.
  const fresh = new Evaluator(plan);
  for (const environment of ["staging", "production"]) {
    const context = { targetingKey: "user-7", platform: "web" };
    assert.deepEqual(evaluator.evaluate("domain-migration", environment, context), fresh.evaluate("domain-migration", environment, context));
  }
});

test("batch forms answer like one call per key", () => {
  const evaluator = new Evaluator(plan);
  const keys = Array.from({ length: 500 }, (_, i) => `user-${i}`);
  const many = evaluator.evaluateMany("domain-migration", "production", keys, { platform: "web" });
  assert.equal(many.length, keys.length);
  keys.forEach((key, i) =>
    assert.deepEqual(many[i], evaluator.evaluate("domain-migration", "production", { targetingKey: key, platform: "web" })),
  );
  const enabled = evaluator.isEnabledMany("domain-migration", "useDomainEntities", "production", keys);
  assert.deepEqual(enabled, keys.map((key) => evaluator.isEnabled("domain-migration", "useDomainEntities", "production", key)));
  assert.ok(enabled.some(Boolean) && !enabled.every(Boolean));
});

test("contexts JSON cannot carry are INVALID_CONTEXT answers; batch arguments are checked", () => {
  const evaluator = new Evaluator(plan);
  const cyclic = { targetingKey: "user-1" };
  cyclic.self = cyclic;
  // Where no constraint reads an attribute, the targeting key alone decides.
  const byKey = evaluator.evaluate("domain-migration", "production", { targetingKey: "user-1" });
  assert.deepEqual(evaluator.evaluate("domain-migration", "production", cyclic), byKey);
  // Where the whole context is read, it must be JSON.
  for (const context of [cyclic, { targetingKey: "user-1", big: 10n }]) {
    const answer = evaluator.resolve("domain-migration", "useDomainEntities", "production", context);
    assert.equal(answer.reason, "ERROR");
    assert.equal(answer.errorCode, "INVALID_CONTEXT");
    assert.match(answer.errorMessage, /cannot be written as JSON/);
    assert.equal(answer.value, null);
    const once = evaluateOnce(plan, "domain-migration", "production", context);
    assert.equal(once.errorCode, "INVALID_CONTEXT");
  }
  // Only own properties count, on every path (JSON.stringify reads no others).
  const inherited = evaluator.evaluate("domain-migration", "production", Object.create({ targetingKey: "user-1" }));
  assert.equal(inherited.errorCode, "TARGETING_KEY_MISSING");
  const notObject = evaluator.evaluateMany("domain-migration", "production", ["a", "b"], "web");
  assert.deepEqual(notObject.map((answer) => answer.errorCode), ["INVALID_CONTEXT", "INVALID_CONTEXT"]);
  const none = evaluator.evaluateMany("domain-migration", "production", ["user-1"], null);
  assert.deepEqual(none[0], evaluator.evaluate("domain-migration", "production", { targetingKey: "user-1" }));
  assert.throws(() => evaluator.evaluateMany("domain-migration", "production", "user-1"), TypeError);
  assert.throws(() => evaluator.isEnabledMany("domain-migration", "useDomainEntities", "production", [1]), TypeError);
});

test("about a quarter of users are in at 25%", () => {
  const evaluator = new Evaluator(plan);
  let inside = 0;
  for (let i = 0; i < 100_000; i++) {
    if (evaluator.isEnabled("domain-migration", "useDomainEntities", "production", `user-${i}`)) inside++;
  }
  assert.equal(inside, 24_988);
});

test("revision is the plan's", () => {
  assert.equal(new Evaluator({ ...plan, revision: 12 }).revision, 12);
});
