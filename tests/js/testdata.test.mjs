// Runs every file under tests/testdata against the npm package in Node, as
// tests/it/testdata.rs does against the native crate (and tests/e2e/npm-browser.test.mjs
// in Chromium).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { bucketMismatches, evaluationMismatches, validationMismatches } from "./cases.mjs";

const root = new URL("../../", import.meta.url).pathname;
const pkgDir = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const pkg = await import(pathToFileURL(join(pkgDir, "node.js")));
await pkg.init();

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const caseFiles = (folder) =>
  readdirSync(join(root, "tests/testdata", folder))
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => [name, readJson(join(root, "tests/testdata", folder, name))]);
const defaultPlan = readJson(join(root, "static/default-plan.json"));

test("bucket vectors", () => {
  assert.deepEqual(bucketMismatches(pkg, readJson(join(root, "tests/testdata/bucket-vectors.json"))), []);
});

for (const [name, file] of caseFiles("evaluation")) {
  test(`evaluation: ${name}`, () => {
    assert.ok(file.cases.length > 0);
    assert.deepEqual(evaluationMismatches(pkg, file, defaultPlan), []);
  });
}

for (const [name, file] of caseFiles("validation")) {
  test(`validation: ${name}`, () => {
    assert.ok(file.cases.length > 0);
    assert.deepEqual(validationMismatches(pkg, file), []);
  });
}
