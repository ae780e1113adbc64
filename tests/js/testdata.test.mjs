// Runs every file under tests/testdata against the npm package, as tests/testdata.rs
// does against the native crate.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const { init, bucket, Evaluator, evaluateOnce } = await import(pathToFileURL(join(pkg, "index.js")));
await init();

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const caseFiles = (folder) =>
  readdirSync(join(root, "tests/testdata", folder))
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => [name, readJson(join(root, "tests/testdata", folder, name))]);
const defaultPlan = () => readJson(join(root, "static/default-plan.json"));

/** The file's plan with the file's and then the case's `set` applied (JSON Pointer → value). */
function casePlan(file, kase) {
  let plan = file.plan === "default" ? defaultPlan() : structuredClone(file.plan);
  for (const set of [file.set, kase.set]) {
    for (const [pointer, value] of Object.entries(set ?? {})) {
      const parts = pointer.split("/").slice(1).map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
      const last = parts.pop();
      const parent = parts.reduce((node, part) => node[part], plan);
      assert.ok(parent && last in parent, `set: no value at ${pointer}`);
      parent[last] = value;
    }
  }
  return plan;
}

test("bucket vectors", () => {
  const { cases } = readJson(join(root, "tests/testdata/bucket-vectors.json"));
  assert.ok(cases.length >= 1000);
  for (const { salt, unit, bucket: want } of cases) {
    assert.equal(bucket(salt, unit), want, `${JSON.stringify(salt)} + ${JSON.stringify(unit).slice(0, 40)}`);
  }
});

for (const [name, file] of caseFiles("evaluation")) {
  test(`evaluation: ${name}`, () => {
    for (const kase of file.cases) {
      let actual;
      if (kase.planText !== undefined) {
        actual = evaluateOnce(kase.planText, kase.rollout, kase.environment, kase.context);
      } else {
        const evaluator = new Evaluator(casePlan(file, kase));
        actual =
          kase.flag === undefined
            ? evaluator.evaluate(kase.rollout, kase.environment, kase.context)
            : evaluator.resolve(kase.rollout, kase.flag, kase.environment, kase.context, kase.type);
      }
      for (const [field, want] of Object.entries(kase.expect)) {
        assert.deepEqual(actual[field], want, `${kase.name}: ${field}\nwhole answer: ${JSON.stringify(actual)}`);
      }
    }
  });
}

for (const [name, file] of caseFiles("validation")) {
  test(`validation: ${name}`, () => {
    for (const kase of file.cases) {
      const text = kase.planText ?? JSON.stringify(kase.plan, null, 2);
      let message = "";
      try {
        new Evaluator(text);
      } catch (error) {
        assert.ok(error instanceof Error, `${kase.name}: throws an Error`);
        message = error.message;
      }
      if (kase.problems.length === 0) {
        assert.equal(message, "", `${kase.name}: no problems expected`);
        continue;
      }
      assert.match(message, new RegExp(`^invalid plan: ${kase.problems.length} problems?`), kase.name);
      for (const problem of kase.problems) {
        const where = problem.path === "" ? "/" : problem.path;
        const lines = message.split("\n").filter((line) => line.trim().startsWith(`${where}`));
        assert.ok(lines.length > 0, `${kase.name}: no problem at ${where} in\n${message}`);
        if (problem.messageContains) {
          assert.ok(lines.some((line) => line.includes(problem.messageContains)), `${kase.name}: ${problem.messageContains}`);
        }
        if (problem.line !== undefined) {
          assert.ok(lines.some((line) => line.includes(`(line ${problem.line}, column ${problem.column})`)), kase.name);
        }
      }
    }
  });
}
