// OFREP in a browser the way a web app would use it: the real
// @openfeature/web-sdk with the real @openfeature/ofrep-web-provider, bundled
// from node_modules by esbuild, on a page of another origin than the server
// (so CORS is exercised), authenticated by an SDK key. A kill switch written
// through the API reaches the page over the bulk answer's event stream
// (GET /client/{env}/events): PROVIDER_CONFIGURATION_CHANGED and the new value.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { build } from "esbuild";
import { launchBrowser, root, startServer } from "./harness.mjs";

const ENTRY = `
  export { OpenFeature, ProviderEvents } from "@openfeature/web-sdk";
  export { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
`;

let stagegate, pages, browser, origin, key;

before(async () => {
  stagegate = await startServer();
  const response = await fetch(stagegate.url + "/api/sdk-keys", {
    method: "POST",
    headers: { authorization: `Bearer ${stagegate.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ environment: "staging", name: "web app" }),
  });
  assert.equal(response.status, 201);
  key = (await response.json()).key;
  const bundle = await build({
    stdin: { contents: ENTRY, resolveDir: root, loader: "js" },
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "silent",
  });
  const script = bundle.outputFiles[0].contents;
  pages = createServer((request, reply) => {
    if (request.url === "/openfeature.js") {
      reply.writeHead(200, { "content-type": "text/javascript" }).end(script);
    } else {
      reply.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>OFREP</title>");
    }
  });
  await new Promise((done) => pages.listen(0, "127.0.0.1", done));
  origin = `http://127.0.0.1:${pages.address().port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await new Promise((done) => (pages ? pages.close(done) : done()));
  await stagegate?.stop();
});

test("the OFREP web provider evaluates in Chromium and follows a kill switch over the event stream", { timeout: 60_000 }, async (t) => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(origin + "/");
  const first = await page.evaluate(async ({ baseUrl, key }) => {
    const { OpenFeature, ProviderEvents, OFREPWebProvider } = await import("/openfeature.js");
    window.changes = [];
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (details) =>
      window.changes.push({ at: performance.now(), flagsChanged: details.flagsChanged }));
    await OpenFeature.setContext({ targetingKey: "user-42" });
    // No polling (pollInterval 0, the default made plain): only the event stream can bring a change.
    const options = { baseUrl, headers: [["Authorization", `Bearer ${key}`]], pollInterval: 0 };
    await OpenFeature.setProviderAndWait(new OFREPWebProvider(options));
    window.client = OpenFeature.getClient();
    const details = window.client.getBooleanDetails("domain-migration.enableMigration", false);
    return {
      value: window.client.getBooleanValue("domain-migration.enableMigration", false),
      details: { value: details.value, variant: details.variant, reason: details.reason, flagMetadata: details.flagMetadata },
      dual: window.client.getBooleanValue("domain-migration.enableDualProviders", true),
      // The bulk answer is keyed ROLLOUT.FLAG only: the web provider looks keys up there.
      bare: window.client.getBooleanDetails("enableDualProviders", true).errorCode,
      missing: window.client.getBooleanDetails("nothing", true).errorCode,
    };
  }, { baseUrl: stagegate.url, key });
  assert.equal(first.value, true);
  assert.equal(first.details.variant, "on");
  assert.equal(first.details.reason, "SPLIT");
  assert.equal(first.details.flagMetadata.rollout, "domain-migration");
  assert.equal(first.details.flagMetadata.stage, "stage-4");
  assert.equal(typeof first.details.flagMetadata.bucket, "number");
  assert.equal(first.dual, false); // stage-4's value; the fallback is true
  assert.equal(first.bare, "FLAG_NOT_FOUND");
  assert.equal(first.missing, "FLAG_NOT_FOUND");

  // The kill switch, written as an operator would.
  const killedAt = Date.now();
  const response = await fetch(stagegate.url + "/api/rollouts/domain-migration/environments/staging/kill-switch", {
    method: "POST",
    headers: { authorization: `Bearer ${stagegate.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ on: true, comment: "ofrep e2e" }),
  });
  assert.equal(response.status, 200);
  await page.waitForFunction(() => window.changes.length > 0, null, { timeout: 10_000 });
  const tookMs = Date.now() - killedAt;
  const after = await page.evaluate(() => {
    const details = window.client.getBooleanDetails("domain-migration.enableMigration", true);
    return { changes: window.changes, value: details.value, variant: details.variant, reason: details.reason };
  });
  t.diagnostic(`the kill switch reached the page in ${tookMs} ms`);
  assert.ok(after.changes[0].flagsChanged.includes("domain-migration.enableMigration"), JSON.stringify(after.changes));
  assert.deepEqual([after.value, after.variant, after.reason], [false, "off", "DISABLED"]);
  assert.ok(tookMs < 5_000, `${tookMs} ms`);
  assert.deepEqual(errors, []);
});
