// The live client (stagegate-evaluator/live) behind a proxy that does to it what
// networks do: refuses the event stream, or mangles a download. The server
// behind the proxy is a real `stagegate serve`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { root, startServer } from "./harness.mjs";

const pkgDir = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const { createLiveClient } = await import(pathToFileURL(join(pkgDir, "live.js")));
const { StagegateServerProvider } = await import(pathToFileURL(join(pkgDir, "openfeature.js")));
const { OpenFeature, ProviderEvents, ProviderStatus } = await import("@openfeature/server-sdk");

let stagegate, proxy, proxyUrl;
/** The event streams the proxy is passing on now. */
const openStreams = new Set();
/** What the proxy does; the tests set it. */
const mode = { refuseStreams: false, mangleNext: false, unavailable: false, cutStreams: false, splitEvent: false, hang: false, streams: 0, documents: 0, conditional: 0, notModified: 0 };

before(async () => {
  stagegate = await startServer();
  proxy = createServer(async (request, response) => {
    if (request.url.endsWith("/events")) mode.streams++;
    else mode.documents++;
    if (mode.unavailable) return response.writeHead(503).end();
    if (mode.hang && request.url.endsWith(".json")) return; // never answers
    if (request.url.endsWith("/events") && mode.cutStreams) {
      // A stream that opens and ends at once, over and over.
      return response.writeHead(200, { "content-type": "text/event-stream" }).end("retry: 1000\n\n");
    }
    if (request.url.endsWith("/events") && mode.splitEvent) {
      // One event with two data lines, its CRLF split across two chunks.
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write('retry: 1000\r\n\r\nid: "x"\r\ndata: {"type":"refetchEvaluation",\r');
      setTimeout(() => response.write('\ndata: "etag":"\\"x\\"","revision":0}\r\n\r\n'), 50);
      return;
    }
    if (request.url.endsWith("/events") && mode.refuseStreams) {
      return response.writeHead(403, { "content-type": "text/plain" }).end("streams are not allowed here");
    }
    if (request.headers["if-none-match"]) mode.conditional++;
    const upstream = await fetch(stagegate.url + request.url, {
      headers: Object.fromEntries(["if-none-match", "last-event-id", "accept"].filter((h) => request.headers[h]).map((h) => [h, request.headers[h]])),
    });
    if (upstream.status === 304) mode.notModified++;
    if (mode.mangleNext && request.url.endsWith(".json") && upstream.status === 200) {
      mode.mangleNext = false;
      await upstream.arrayBuffer();
      // A new ETag with a plan the evaluator must refuse: a stage above 100 %.
      const bad = { schemaVersion: 1, rollouts: { "domain-migration": { flags: {}, stages: [{ id: "s", name: "s", percentage: 120, values: {} }], environments: { staging: { activeStage: "s" } } } } };
      return response.writeHead(200, { "content-type": "application/json", etag: '"mangled"' }).end(JSON.stringify(bad));
    }
    response.writeHead(upstream.status, Object.fromEntries(["content-type", "etag", "cache-control"].filter((h) => upstream.headers.get(h)).map((h) => [h, upstream.headers.get(h)])));
    if (upstream.body === null) return response.end();
    if (request.url.endsWith("/events")) {
      openStreams.add(response);
      response.on("close", () => openStreams.delete(response));
    }
    for await (const chunk of upstream.body) response.write(chunk);
    response.end();
  });
  await new Promise((done) => proxy.listen(0, "127.0.0.1", done));
  proxyUrl = `http://127.0.0.1:${proxy.address().port}`;
});

after(async () => {
  proxy?.closeAllConnections();
  await new Promise((done) => proxy?.close(done));
  await stagegate?.stop();
});

function killSwitch(on) {
  return fetch(`${stagegate.url}/api/rollouts/domain-migration/environments/staging/kill-switch`, {
    method: "POST",
    headers: { authorization: `Bearer ${stagegate.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ on }),
  }).then((response) => assert.equal(response.status, 200));
}

async function until(limit, check) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > limit) throw new Error(`not within ${limit} ms`);
    await new Promise((done) => setTimeout(done, 10));
  }
}

test("when the event stream is refused, the client polls with If-None-Match and still follows the kill switch", { timeout: 30_000 }, async () => {
  mode.refuseStreams = true;
  const client = createLiveClient({ url: proxyUrl, environment: "staging", pollIntervalMs: 1_000 });
  try {
    await client.ready;
    assert.equal(client.isEnabled("domain-migration", "enableMigration", "user-1"), true);
    const before = { conditional: mode.conditional, notModified: mode.notModified };
    await new Promise((done) => setTimeout(done, 2_500));
    assert.equal(client.status, "polling");
    assert.ok(mode.notModified - before.notModified >= 2, "unchanged polls are answered 304");
    await killSwitch(true);
    await until(2_500, () => !client.isEnabled("domain-migration", "enableMigration", "user-1"));
    assert.ok(mode.conditional > before.conditional);
  } finally {
    client.close();
    mode.refuseStreams = false;
    await killSwitch(false);
  }
});

test("a document that does not load is refused, and the last good one keeps answering", { timeout: 30_000 }, async () => {
  const client = createLiveClient({ url: proxyUrl, environment: "staging", stream: false, pollIntervalMs: 60_000 });
  const errors = [];
  const changes = [];
  client.on("error", (error) => errors.push(error.message));
  client.on("change", (change) => changes.push(change));
  try {
    await client.ready;
    const { revision, etag } = client;
    mode.mangleNext = true;
    // A changed ETag makes the client download; `load()` is what an event or a poll calls.
    await killSwitch(true);
    assert.equal(await client.load(), "rejected");
    assert.match(errors.at(-1), /kept revision \d+: the new client document does not load: .*percentage 120/s);
    assert.equal(client.revision, revision);
    assert.equal(client.etag, etag);
    assert.equal(client.isEnabled("domain-migration", "enableMigration", "user-1"), true, "still the last good document");
    assert.deepEqual(changes, []);
    // The next download is whole again: it is taken, and listeners hear what changed.
    assert.equal(await client.load(), "loaded");
    assert.equal(client.isEnabled("domain-migration", "enableMigration", "user-1"), false);
    assert.equal(changes.length, 1);
    assert.equal(changes[0].flagsChanged.length, 3);
    assert.equal(await client.load(), "unchanged");
  } finally {
    client.close();
    await killSwitch(false);
  }
});

test("an environment the server does not have rejects ready with a clear error", { timeout: 10_000 }, async () => {
  const client = createLiveClient({ url: stagegate.url, environment: "nowhere" });
  await assert.rejects(client.ready, /no environment 'nowhere'/);
  client.close();
  assert.throws(() => createLiveClient({ url: stagegate.url, environment: "" }), /environment/);
  assert.throws(() => createLiveClient({ url: stagegate.url, environment: "staging", pollIntervalMs: 10 }), /pollIntervalMs/);
});

test("a document given up front answers while the server cannot be reached", { timeout: 20_000 }, async () => {
  mode.unavailable = true;
  const document = await (await fetch(`${stagegate.url}/client/staging.json`)).text();
  const client = createLiveClient({ url: proxyUrl, environment: "staging", document });
  try {
    await client.ready;
    assert.equal(client.isEnabled("domain-migration", "enableMigration", "user-1"), true);
    await until(5_000, () => client.status === "stale");
  } finally {
    client.close();
    mode.unavailable = false;
  }
  assert.throws(() => client.evaluate("domain-migration", { targetingKey: "u" }), /closed/);
});

test("a stream that keeps ending at once is retried with backoff, not in a loop", { timeout: 20_000 }, async () => {
  mode.cutStreams = true;
  const client = createLiveClient({ url: proxyUrl, environment: "staging" });
  try {
    await client.ready;
    const before = mode.streams;
    await new Promise((done) => setTimeout(done, 3_000));
    // Backoff from 1 s: a handful in 3 s (a loop made hundreds).
    assert.ok(mode.streams - before <= 4, `${mode.streams - before} stream requests in 3 s`);
  } finally {
    client.close();
    mode.cutStreams = false;
  }
});

test("an event whose CRLF is split across chunks is read once, whole", { timeout: 20_000 }, async () => {
  mode.splitEvent = true;
  const client = createLiveClient({ url: proxyUrl, environment: "staging" });
  const errors = [];
  client.on("error", (error) => errors.push(error.message));
  try {
    await client.ready;
    const before = mode.documents;
    await until(5_000, () => mode.documents > before); // the event's ETag differs: one download
    await new Promise((done) => setTimeout(done, 300));
    assert.equal(mode.documents - before, 1);
    assert.deepEqual(errors, []);
  } finally {
    client.close();
    mode.splitEvent = false;
  }
});

test("close() ends a download that hangs", { timeout: 20_000 }, async () => {
  const client = createLiveClient({ url: proxyUrl, environment: "staging", stream: false });
  await client.ready;
  mode.hang = true;
  try {
    const pending = client.load();
    await new Promise((done) => setTimeout(done, 100));
    const closed = Date.now();
    client.close();
    assert.equal(await pending, "failed");
    assert.ok(Date.now() - closed < 1_000);
  } finally {
    mode.hang = false;
  }
});

test("a provider whose first document came late becomes ready when it arrives", { timeout: 30_000 }, async () => {
  mode.unavailable = true;
  const provider = new StagegateServerProvider({ url: proxyUrl, environment: "staging", initializeTimeoutMs: 300 });
  const events = [];
  OpenFeature.addHandler(ProviderEvents.Ready, () => events.push("ready"));
  OpenFeature.addHandler(ProviderEvents.Error, () => events.push("error"));
  try {
    await assert.rejects(OpenFeature.setProviderAndWait("late", provider));
    const client = OpenFeature.getClient("late");
    assert.equal(client.providerStatus, ProviderStatus.ERROR);
    mode.unavailable = false;
    await until(10_000, () => client.providerStatus === ProviderStatus.READY);
    assert.equal(await client.getBooleanValue("enableMigration", false, { targetingKey: "user-1" }), true);
    assert.deepEqual(events, ["error", "ready"]);
  } finally {
    mode.unavailable = false;
    await OpenFeature.close();
  }
  // A closed provider says so rather than answering nothing.
  await assert.rejects(provider.initialize(), /closed/);
});

test("a provider says it is stale when the event stream stays away, and ready when it is back", { timeout: 40_000 }, async () => {
  const provider = new StagegateServerProvider({ url: proxyUrl, environment: "staging" });
  const events = [];
  const handlers = [ProviderEvents.Stale, ProviderEvents.Ready].map((type) => {
    const handler = () => events.push({ type, at: Date.now() });
    OpenFeature.addHandler(type, handler);
    return [type, handler];
  });
  try {
    await OpenFeature.setProviderAndWait("streams", provider);
    await until(5_000, () => provider.client.status === "live");
    events.length = 0;
    // The stream is cut, and every new one ends at once: documents still come.
    mode.cutStreams = true;
    const cut = Date.now();
    for (const response of openStreams) response.destroy();
    await until(10_000, () => events.some((event) => event.type === "PROVIDER_STALE"));
    const stale = events.find((event) => event.type === "PROVIDER_STALE");
    assert.ok(stale.at - cut >= 4_500, `stale after ${stale.at - cut} ms: the grace is 5 s`);
    assert.equal(provider.client.status, "polling");
    assert.equal(await OpenFeature.getClient("streams").getBooleanValue("enableMigration", false, { targetingKey: "user-1" }), true);
    mode.cutStreams = false;
    await until(20_000, () => events.at(-1).type === "PROVIDER_READY");
    assert.equal(provider.client.status, "live");
  } finally {
    mode.cutStreams = false;
    for (const [type, handler] of handlers) OpenFeature.removeHandler(type, handler);
    await OpenFeature.close();
  }
});
