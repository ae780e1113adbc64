// The package's TypeScript types compile against real usage (tests/types/usage.ts)
// under --strict, and refuse the misuse marked @ts-expect-error there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, copyFileSync, mkdirSync, cpSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");

test("the .d.ts files type the README's usage and rejects misuse", (t) => {
  // A throwaway project with the built package installed under node_modules.
  // Inside the repository, so that the real OpenFeature SDKs (which the providers
  // are handed to) and @types/node resolve from its node_modules.
  mkdirSync(join(root, "target"), { recursive: true });
  const dir = mkdtempSync(join(root, "target", "types-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "node_modules"));
  cpSync(pkg, join(dir, "node_modules/stagegate-evaluator"), { recursive: true });
  copyFileSync(join(root, "tests/types/usage.ts"), join(dir, "usage.ts"));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM"], skipLibCheck: false },
      files: ["usage.ts"],
    }),
  );
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  let output = "";
  try {
    output = execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", dir], { encoding: "utf8" });
  } catch (error) {
    assert.fail(`tsc failed:\n${error.stdout}${error.stderr}`);
  }
  assert.equal(output.trim(), "");
});
