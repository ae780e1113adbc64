// The OpenFeature providers find flags by key with the same rule as the server's
// OFREP routes: tests/testdata/flag-keys.json, also run natively (tests/it/flag_keys.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const { findFlag } = await import(pathToFileURL(join(pkg, "openfeature.js")));
const cases = JSON.parse(readFileSync(join(root, "tests/testdata/flag-keys.json"), "utf8"));

test("flag keys name the same flags as on the server", () => {
  assert.ok(cases.length >= 10);
  for (const { name, rollouts, without = [], key, found } of cases) {
    // A client document holds only the rollouts that have its environment.
    const document = new Map(Object.entries(rollouts).filter(([rollout]) => !without.includes(rollout)));
    assert.deepEqual(findFlag(document, key), found, name);
  }
});
