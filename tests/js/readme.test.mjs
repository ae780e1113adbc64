// The README's Node example runs, against the package that was built, and prints
// what the README says it prints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");

test("the README's Node example runs and prints what it says", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### In Node"));
  const example = section.slice(section.indexOf("```js") + 5, section.indexOf("```", section.indexOf("```js") + 5));
  const dir = mkdtempSync(join(tmpdir(), "stagegate-readme-"));
  mkdirSync(join(dir, "static"));
  copyFileSync(join(root, "static/default-plan.json"), join(dir, "static/default-plan.json"));
  const script = join(dir, "example.mjs");
  writeFileSync(script, example.replaceAll('"stagegate-evaluator"', JSON.stringify(pathToFileURL(join(pkg, "node.js")).href)));
  const printed = execFileSync("node", [script], { encoding: "utf8" }).trim().split("\n");
  const promised = [...example.matchAll(/^\/\/ (.+)$/gm)].map((m) => m[1]);
  assert.deepEqual(printed, promised);
  assert.equal(printed.length, 3);
});
