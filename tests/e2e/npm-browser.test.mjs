// The npm package works unchanged in a browser: headless Chromium imports
// dist/evaluator/index.js as an ES module from a page, init() fetches the wasm next
// to it, and the same test data as in Node (tests/js/cases.mjs) must agree.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join, normalize, extname } from "node:path";
import { launchBrowser, root } from "./harness.mjs";

const pkgDir = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".wasm": "application/wasm", ".html": "text/html" };
/** URL prefix → folder served under it. */
const mounts = { "/pkg/": pkgDir, "/testdata/": join(root, "tests/testdata"), "/js/": join(root, "tests/js"), "/static/": join(root, "static") };

let server, browser, origin;

before(async () => {
  server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://x").pathname);
    if (path === "/") {
      response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>npm package</title>");
      return;
    }
    const prefix = Object.keys(mounts).find((p) => path.startsWith(p));
    const relative = prefix && normalize(path.slice(prefix.length));
    if (!relative || relative.startsWith("..")) return response.writeHead(404).end();
    try {
      const body = await readFile(join(mounts[prefix], relative));
      response.writeHead(200, { "content-type": types[extname(relative)] ?? "application/octet-stream" }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await new Promise((done) => server?.close(done));
});

test("the npm package runs the test data in Chromium", { timeout: 60_000 }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(origin + "/");
  const report = await page.evaluate(async () => {
    const pkg = await import("/pkg/index.js");
    const cases = await import("/js/cases.mjs");
    const json = async (path) => (await fetch(path)).json();
    await pkg.init();
    const defaultPlan = await json("/static/default-plan.json");
    const wrong = cases.bucketMismatches(pkg, await json("/testdata/bucket-vectors.json"));
    let ran = 0;
    for (const name of ["default-plan-stages", "reasons", "targeting", "unusable-plans"]) {
      const file = await json(`/testdata/evaluation/${name}.json`);
      ran += file.cases.length;
      wrong.push(...cases.evaluationMismatches(pkg, file, defaultPlan));
    }
    wrong.push(...cases.validationMismatches(pkg, await json("/testdata/validation/problems.json")));
    const evaluator = new pkg.Evaluator(defaultPlan);
    return {
      wrong,
      ran,
      reference: pkg.bucket("domain-migration", "user-42"),
      isEnabled: evaluator.isEnabled("domain-migration", "enableDualProviders", "production", "user-42"),
      userAgent: navigator.userAgent,
    };
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(report.wrong, []);
  assert.ok(report.ran >= 40, `ran ${report.ran} evaluation cases`);
  assert.equal(report.reference, 7035);
  assert.equal(report.isEnabled, true); // the fallback: production has no active stage
  assert.match(report.userAgent, /Chrome/);
});
