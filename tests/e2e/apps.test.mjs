// Apps on the package, against a real server: a web app bundled by esbuild and
// loaded in Chromium, and a Node process, each with a live client and an
// OpenFeature provider (the real @openfeature/web-sdk and server-sdk). A kill
// switch must reach both within a second, and both must keep answering while
// the server is down.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { OpenFeature, ProviderEvents } from "@openfeature/server-sdk";
import { launchBrowser, root, startServer } from "./harness.mjs";

const pkgDir = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const { createLiveClient } = await import(pathToFileURL(join(pkgDir, "live.js")));
const { StagegateServerProvider } = await import(pathToFileURL(join(pkgDir, "openfeature.js")));

const ROLLOUT = "domain-migration";
const FLAG = "enableMigration"; // staging serves stage-4 (100 %): true unless the kill switch is on

let stagegate, site, origin, browser, out, bundle;

before(async () => {
  stagegate = await startServer();
  // The package as an app installs it: under node_modules, found by name.
  out = mkdtempSync(join(tmpdir(), "stagegate-app-"));
  mkdirSync(join(out, "node_modules"));
  symlinkSync(pkgDir, join(out, "node_modules/stagegate-evaluator"), "dir");
  const result = await build({
    entryPoints: [join(root, "tests/e2e/app/main.js")],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    define: { "process.env.NODE_ENV": '"production"' },
    nodePaths: [join(out, "node_modules"), join(root, "node_modules")],
    outdir: join(out, "site"),
    logLevel: "silent",
    metafile: true,
  });
  bundle = { result, text: readFileSync(join(out, "site/main.js"), "utf8") };
  // esbuild leaves `new URL("….wasm", import.meta.url)` alone: the .wasm goes beside the bundle.
  copyFileSync(join(pkgDir, "stagegate_evaluator_bg.wasm"), join(out, "site/stagegate_evaluator_bg.wasm"));
  const types = { ".js": "text/javascript", ".wasm": "application/wasm" };
  // Another origin than the server's: the client document and its stream are read cross-origin.
  site = createServer((request, response) => {
    const path = new URL(request.url, "http://x").pathname;
    if (path === "/") return response.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><title>app</title><script type="module" src="/main.js"></script>');
    if (!/^\/[\w.-]+$/.test(path)) return response.writeHead(404).end();
    let body;
    try {
      body = readFileSync(join(out, "site", path));
    } catch {
      return response.writeHead(404).end();
    }
    response.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" }).end(body);
  });
  await new Promise((done) => site.listen(0, "127.0.0.1", done));
  origin = `http://127.0.0.1:${site.address().port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await new Promise((done) => site?.close(done));
  await stagegate?.stop();
  await OpenFeature.close();
  if (out) rmSync(out, { recursive: true, force: true });
});

async function api(method, path, body) {
  const response = await fetch(stagegate.url + path, {
    method,
    headers: { authorization: `Bearer ${stagegate.adminToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

function killSwitch(on) {
  return api("POST", `/api/rollouts/${ROLLOUT}/environments/staging/kill-switch`, { on, comment: "apps.test" });
}

async function openApp() {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(origin + "/");
  await page.waitForFunction(() => window.app !== undefined);
  return { page, errors };
}

/** Resolves with the milliseconds until `check()` holds, polling every 5 ms; rejects after `limit`. */
async function within(limit, check) {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > limit) throw new Error(`not within ${limit} ms`);
    await new Promise((done) => setTimeout(done, 5));
  }
  return performance.now() - start;
}

test("a production bundle of an app sees no Node-only code and runs in Chromium", async () => {
  assert.deepEqual(bundle.result.warnings, [], "esbuild warned");
  assert.doesNotMatch(bundle.text, /node:fs|readFile\(/, "the browser bundle holds Node-only code");
  const inputs = Object.keys(bundle.result.metafile.inputs).join("\n");
  for (const file of ["index.js", "live.js", "openfeature.js", "reporter.js"]) assert.match(inputs, new RegExp(`stagegate-evaluator/${file}|evaluator/${file}`));
  assert.doesNotMatch(inputs, /evaluator\/node\.js/, "the browser build must not take the node entry");
  const { page, errors } = await openApp();
  const answer = await page.evaluate(async (url) => {
    await window.app.init();
    const plan = await (await fetch(`${url}/client/staging.json`)).text();
    return new window.app.Evaluator(plan).evaluate("domain-migration", "staging", { targetingKey: "user-1" });
  }, stagegate.url);
  assert.equal(answer.values.enableMigration, true);
  assert.equal(answer.reason, "SPLIT");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a browser page and a Node process see a kill switch within a second, and answer while the server is down", { timeout: 60_000 }, async () => {
  const node = createLiveClient({ url: stagegate.url, environment: "staging" });
  const nodeStatuses = [];
  node.on("status", (status) => nodeStatuses.push(status));
  await node.ready;
  const { page, errors } = await openApp();
  await page.evaluate(async (url) => {
    window.statuses = [];
    window.changes = [];
    window.live = window.app.createLiveClient({ url, environment: "staging" });
    window.live.on("status", (status) => window.statuses.push(status));
    window.live.on("change", (change) => window.changes.push(change));
    await window.live.ready;
  }, stagegate.url);
  const browserSays = () => page.evaluate(([r, f]) => window.live.isEnabled(r, f, "user-1"), [ROLLOUT, FLAG]);
  const nodeSays = () => node.isEnabled(ROLLOUT, FLAG, "user-1");
  assert.equal(nodeSays(), true);
  assert.equal(await browserSays(), true);
  await within(5_000, async () => node.status === "live" && (await page.evaluate(() => window.live.status)) === "live");

  // Timed from sending the write, so the server's part counts too.
  const [pulled, nodeMs, browserMs] = await Promise.all([
    killSwitch(true),
    within(1_000, () => !nodeSays()),
    within(1_000, async () => !(await browserSays())),
  ]);
  console.log(`kill switch seen after the write was sent: Node ${nodeMs.toFixed(0)} ms, Chromium ${browserMs.toFixed(0)} ms`);
  assert.equal(node.revision, pulled.revision);
  const [change] = await page.evaluate(() => window.changes);
  assert.deepEqual(change.flagsChanged.sort(), ["domain-migration.enableDualProviders", "domain-migration.enableMigration", "domain-migration.useDomainEntities"]);

  // The server goes away: both keep the last good document and say they are stale.
  await stagegate.halt();
  await within(10_000, async () => node.status === "stale" && (await page.evaluate(() => window.live.status)) === "stale");
  assert.equal(nodeSays(), false);
  assert.equal(await browserSays(), false);
  assert.equal(node.evaluate(ROLLOUT, { targetingKey: "user-2" }).reason, "DISABLED");

  // It comes back: both reconnect by themselves and follow the next write.
  await stagegate.resume();
  await within(20_000, async () => node.status === "live" && (await page.evaluate(() => window.live.status)) === "live");
  await killSwitch(false);
  await Promise.all([within(1_000, () => nodeSays()), within(1_000, browserSays)]);
  assert.deepEqual(nodeStatuses.slice(0, 2), ["polling", "live"]);
  assert.ok(nodeStatuses.includes("stale"));
  assert.deepEqual(errors, []);
  node.close();
  assert.equal(node.status, "closed");
  await page.close();
});

test("the OpenFeature web SDK in Chromium answers from the stagegate provider and hears changes", { timeout: 60_000 }, async () => {
  const { key } = await api("POST", "/api/ingest-keys", { environment: "staging", name: "apps.test" });
  const { page, errors } = await openApp();
  const first = await page.evaluate(async ({ url, ingestKey }) => {
    const { OpenFeature, ProviderEvents, StagegateWebProvider, createReporter } = window.app;
    window.reporter = createReporter({ url, ingestKey, environment: "staging" });
    window.events = [];
    for (const type of [ProviderEvents.ConfigurationChanged, ProviderEvents.Stale, ProviderEvents.Ready]) {
      OpenFeature.addHandler(type, (details) => window.events.push({ type, flagsChanged: details?.flagsChanged }));
    }
    await OpenFeature.setContext({ targetingKey: "user-1", appVersion: "2.0.0" });
    await OpenFeature.setProviderAndWait(new StagegateWebProvider({ url, environment: "staging", reporter: window.reporter }));
    const client = OpenFeature.getClient();
    window.client = client;
    const full = client.getBooleanDetails("domain-migration.enableMigration", false);
    const bare = client.getBooleanDetails("useDomainEntities", false);
    const mismatch = client.getStringDetails("enableMigration", "default");
    const missing = client.getBooleanDetails("domain-migration.nope", true);
    client.track("crash", { count: 3, value: 9.99 }); // value is a measure (a price), count a count
    await window.reporter.flush();
    return { full, bare, mismatch, missing };
  }, { url: stagegate.url, ingestKey: key });
  const { revision } = await api("GET", "/api/plan");
  assert.equal(first.full.value, true);
  assert.equal(first.full.variant, "on");
  assert.equal(first.full.reason, "SPLIT");
  assert.deepEqual(Object.keys(first.full.flagMetadata).sort(), ["bucket", "revision", "rollout", "stage"]);
  assert.equal(first.full.flagMetadata.stage, "stage-4");
  assert.equal(first.full.flagMetadata.rollout, ROLLOUT);
  assert.equal(first.full.flagMetadata.revision, revision);
  assert.equal(first.bare.value, true);
  assert.equal(first.mismatch.value, "default");
  assert.equal(first.mismatch.errorCode, "TYPE_MISMATCH");
  assert.equal(first.missing.value, true);
  assert.equal(first.missing.errorCode, "FLAG_NOT_FOUND");
  // `track` counted the crashes for the user's cohort, and the resolution its exposure.
  const report = await api("GET", `/api/guardrails/${ROLLOUT}/staging`);
  const crashes = report.triggers.find((trigger) => trigger.metric === "crashRate");
  assert.equal(crashes.cohorts[0].events, 3);
  assert.equal(report.exposures[0], 1);

  await killSwitch(true);
  await page.waitForFunction(() => window.events.some((event) => event.type === "PROVIDER_CONFIGURATION_CHANGED"), null, { timeout: 1_000 });
  const after = await page.evaluate(() => ({ events: window.events, details: window.client.getBooleanDetails("enableMigration", true) }));
  assert.equal(after.details.value, false);
  assert.equal(after.details.reason, "DISABLED");
  assert.equal(after.details.variant, "off");
  const changed = after.events.find((event) => event.type === "PROVIDER_CONFIGURATION_CHANGED");
  assert.ok(changed.flagsChanged.includes("domain-migration.enableMigration"));

  await stagegate.halt();
  await page.waitForFunction(() => window.events.some((event) => event.type === "PROVIDER_STALE"), null, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.client.getBooleanValue("enableMigration", true)), false, "answers from the last document");
  await stagegate.resume();
  await page.waitForFunction(() => window.events.at(-1).type === "PROVIDER_READY", null, { timeout: 20_000 });
  await killSwitch(false);
  await page.evaluate(() => window.app.OpenFeature.close());
  assert.deepEqual(errors, []);
  await page.close();
});

test("the OpenFeature server SDK in Node answers from the stagegate provider", { timeout: 60_000 }, async () => {
  const events = [];
  for (const type of [ProviderEvents.ConfigurationChanged, ProviderEvents.Stale, ProviderEvents.Ready]) {
    OpenFeature.addHandler(type, (details) => events.push({ type, flagsChanged: details?.flagsChanged }));
  }
  const production = new StagegateServerProvider({ url: stagegate.url, environment: "production" });
  await OpenFeature.setProviderAndWait("production", production);
  const staging = new StagegateServerProvider({ url: stagegate.url, environment: "staging" });
  await OpenFeature.setProviderAndWait(staging);
  const client = OpenFeature.getClient();

  for (const targetingKey of ["user-1", "user-2", "ユーザー"]) {
    const details = await client.getBooleanDetails(`${ROLLOUT}.${FLAG}`, false, { targetingKey });
    assert.equal(details.value, true);
    assert.equal(details.variant, "on");
    assert.equal(details.flagMetadata.bucket, staging.client.evaluator.evaluate(ROLLOUT, "staging", { targetingKey }).bucket);
  }
  // Production has no active stage: everyone gets the fallback, by default.
  const idle = await OpenFeature.getClient("production").getBooleanDetails("enableDualProviders", false, { targetingKey: "user-1" });
  assert.deepEqual([idle.value, idle.variant, idle.reason], [true, "off", "DEFAULT"]);
  assert.equal(idle.flagMetadata.stage, undefined);
  const noKey = await client.getBooleanDetails(FLAG, false, {});
  assert.deepEqual([noKey.value, noKey.errorCode], [false, "TARGETING_KEY_MISSING"]);
  const mismatch = await client.getNumberDetails(FLAG, 7, { targetingKey: "user-1" });
  assert.deepEqual([mismatch.value, mismatch.errorCode], [7, "TYPE_MISMATCH"]);

  await killSwitch(true);
  await within(1_000, async () => (await client.getBooleanValue(FLAG, true, { targetingKey: "user-1" })) === false);
  await within(1_000, () => events.some((event) => event.type === "PROVIDER_CONFIGURATION_CHANGED"));
  await stagegate.halt();
  await within(10_000, () => events.some((event) => event.type === "PROVIDER_STALE"));
  assert.equal(await client.getBooleanValue(FLAG, true, { targetingKey: "user-1" }), false, "answers from the last document");
  await stagegate.resume();
  await within(20_000, () => events.at(-1).type === "PROVIDER_READY");
  await killSwitch(false);
  await within(1_000, async () => (await client.getBooleanValue(FLAG, false, { targetingKey: "user-1" })) === true);
});
