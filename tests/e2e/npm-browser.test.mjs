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

test("the reporter's counts arrive from Chromium: on its timer, and as keepalive requests when the page goes away", { timeout: 60_000 }, async () => {
  // The stagegate server is another origin, as in production: the browser asks
  // (preflight) before it sends the Authorization header.
  const requests = [];
  const receiver = createServer((request, response) => {
    const cors = {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": "POST",
      "access-control-allow-headers": "authorization, content-type",
    };
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      requests.push({ method: request.method, authorization: request.headers.authorization, body });
      response.writeHead(request.method === "OPTIONS" ? 204 : 200, cors).end();
    });
  });
  await new Promise((done) => receiver.listen(0, "127.0.0.1", done));
  const receiverUrl = `http://127.0.0.1:${receiver.address().port}`;
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(origin + "/");
    const keys = await page.evaluate(async (receiverUrl) => {
      const pkg = await import("/pkg/index.js");
      const { createReporter } = await import("/pkg/reporter.js");
      await pkg.init();
      const plan = await (await fetch("/static/default-plan.json")).json();
      plan.rollouts["domain-migration"].environments.production.activeStage = "stage-2";
      const evaluator = new pkg.Evaluator(plan);
      const options = { url: receiverUrl, ingestKey: "sgi_browser", environment: "production" };
      // The browser's own fetch, on the timer.
      const reporter = createReporter({ ...options, intervalMs: 200 });
      const answer = (key) => evaluator.evaluate("domain-migration", "production", { targetingKey: key });
      let inKey = "user-0";
      for (let i = 1; !answer(inKey).inRollout; i++) inKey = `user-${i}`;
      reporter.expose("domain-migration", answer(inKey), inKey);
      reporter.track("domain-migration", answer(inKey), "session");
      window.stagegateClose = () => reporter.close();
      // One that only the page going away makes send; what its fetches asked
      // for is kept where the next page can read it.
      const recording = (url, init) => {
        sessionStorage.setItem("keepalive", JSON.stringify([...JSON.parse(sessionStorage.getItem("keepalive") ?? "[]"), init.keepalive]));
        return fetch(url, init);
      };
      window.stagegateReporter = createReporter({ ...options, intervalMs: 600_000, fetch: recording });
      window.stagegateAnswer = answer(inKey);
      return { inKey };
    }, receiverUrl);
    const posts = () => requests.filter((r) => r.method === "POST").map((r) => JSON.parse(r.body).counts);
    const deadline = Date.now() + 10_000;
    while (posts().length < 1 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
    assert.deepEqual(posts()[0]?.map((item) => [item.stage, item.inRollout, item.event, item.count]), [
      ["stage-2", true, "exposure", 1],
      ["stage-2", true, "session", 1],
    ]);
    // Counted just before the page goes: sent as it unloads (visibilitychange →
    // hidden, pagehide), by a request that outlives it.
    await page.evaluate(() => window.stagegateClose());
    await page.evaluate(() => window.stagegateReporter.track("domain-migration", window.stagegateAnswer, "crash", 2));
    await page.goto(origin + "/?after");
    while (posts().length < 2 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
    assert.deepEqual(posts()[1]?.map((item) => [item.stage, item.inRollout, item.event, item.count]), [["stage-2", true, "crash", 2]]);
    assert.equal(posts().length, 2);
    const keepalive = await page.evaluate(() => JSON.parse(sessionStorage.getItem("keepalive")));
    assert.deepEqual(keepalive, [true]);
    assert.ok(requests.some((r) => r.method === "OPTIONS"), "the browser sent a preflight");
    assert.ok(requests.filter((r) => r.method === "POST").every((r) => r.authorization === "Bearer sgi_browser"));
    assert.ok(keys.inKey);
    assert.deepEqual(errors, []);
  } finally {
    await new Promise((done) => receiver.close(done));
  }
});
