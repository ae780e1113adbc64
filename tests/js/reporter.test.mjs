// stagegate-evaluator/reporter against a real HTTP receiver (node:http on a free
// port) that records every request and answers as told: what arrives, how often,
// and what happens to the counts when the server fails or refuses them.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const reporterUrl = pathToFileURL(join(pkg, "reporter.js")).href;
const { createReporter, MAX_COUNT, MAX_ITEMS } = await import(reporterUrl);
const { init, Evaluator } = await import(pathToFileURL(join(pkg, "node.js")));

await init();
const plan = JSON.parse(readFileSync(join(root, "static/default-plan.json"), "utf8"));
const ROLLOUT = "domain-migration";
plan.rollouts[ROLLOUT].environments.production.activeStage = "stage-2";
plan.rollouts[ROLLOUT].environments.production.include = ["tester-1"];
const evaluator = new Evaluator(plan);
const evaluate = (targetingKey) => evaluator.evaluate(ROLLOUT, "production", targetingKey === undefined ? {} : { targetingKey });
// Units known to fall on each side of stage-2's split.
const keysIn = [], keysOut = [];
for (let i = 0; keysIn.length < 5 || keysOut.length < 5; i++) {
  const answer = evaluate(`user-${i}`);
  assert.equal(answer.reason, "SPLIT");
  (answer.inRollout ? keysIn : keysOut).push(`user-${i}`);
}
const unitIn = evaluate(keysIn[0]);
const unitOut = evaluate(keysOut[0]);

/** Answers each request with the next of `answers` (a status, or [status, body, headers]); 200 when none is left. */
let server, receiver;
before(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      receiver.requests.push({ method: request.method, url: request.url, headers: request.headers, body: JSON.parse(body), at: performance.now() });
      const next = receiver.answers.shift() ?? 200;
      const [status, json, headers] = Array.isArray(next) ? next : [next];
      response.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(json ?? {}));
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
});
after(() => new Promise((done) => server.close(done)));

/** A fresh receiver and a reporter sending to it. */
function setup(options = {}, answers = []) {
  receiver = { requests: [], answers: [...answers] };
  const errors = [];
  const reporter = createReporter({
    url: `http://127.0.0.1:${server.address().port}`,
    ingestKey: "sgi_test",
    environment: "production",
    intervalMs: 60_000,
    onError: (error) => errors.push(error),
    ...options,
  });
  return { reporter, errors };
}

/** Every item received, counts summed by key. */
function received(requests = receiver.requests) {
  const sums = {};
  for (const { body } of requests) {
    for (const item of body.counts) {
      const key = `${item.rollout}/${item.environment}/${item.stage}/${item.inRollout ? "in" : "out"}/${item.event}`;
      sums[key] = (sums[key] ?? 0) + item.count;
    }
  }
  return sums;
}

async function until(condition, what, timeoutMs = 5000) {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 5));
  }
}

test("counts are aggregated by rollout, stage, cohort and event and posted as the spec says", async () => {
  const { reporter, errors } = setup();
  for (let i = 0; i < 3; i++) reporter.track(ROLLOUT, unitIn, "crash");
  reporter.track(ROLLOUT, unitIn, "session", 40);
  reporter.track(ROLLOUT, unitOut, "session", 60);
  reporter.track(ROLLOUT, unitOut, "session");
  reporter.expose(ROLLOUT, unitIn, keysIn[0]);
  await reporter.flush();
  assert.equal(receiver.requests.length, 1);
  const [request] = receiver.requests;
  assert.equal(request.method, "POST");
  assert.equal(request.url, "/api/metrics");
  assert.equal(request.headers.authorization, "Bearer sgi_test");
  assert.equal(request.headers["content-type"], "application/json");
  assert.deepEqual(request.body.counts[0], { rollout: ROLLOUT, environment: "production", stage: "stage-2", inRollout: true, event: "crash", count: 3 });
  assert.deepEqual(received(), {
    [`${ROLLOUT}/production/stage-2/in/crash`]: 3,
    [`${ROLLOUT}/production/stage-2/in/session`]: 40,
    [`${ROLLOUT}/production/stage-2/out/session`]: 61,
    [`${ROLLOUT}/production/stage-2/in/exposure`]: 1,
  });
  // Nothing new: nothing is sent.
  await reporter.flush();
  assert.equal(receiver.requests.length, 1);
  await reporter.close();
  assert.deepEqual(errors, []);
  assert.equal(reporter.dropped, 0);
});

test("an exposure counts once per unit, stage and cohort; only the hash split's units count", async () => {
  const { reporter } = setup();
  for (const key of [...keysIn, ...keysOut]) assert.equal(reporter.expose(ROLLOUT, evaluate(key), key), true, key);
  // Again, as an app evaluates the same unit on every request.
  for (const key of [...keysIn, ...keysOut]) assert.equal(reporter.expose(ROLLOUT, evaluate(key), key), false, key);
  await reporter.flush();
  assert.deepEqual(received(), {
    [`${ROLLOUT}/production/stage-2/in/exposure`]: keysIn.length,
    [`${ROLLOUT}/production/stage-2/out/exposure`]: keysOut.length,
  });
  // The same unit at another stage is a new exposure.
  const atStage3 = { ...evaluate(keysOut[0]), stage: "stage-3" };
  assert.equal(reporter.expose(ROLLOUT, atStage3, keysOut[0]), true);
  assert.equal(reporter.expose(ROLLOUT, atStage3, keysOut[0]), false);
  // Not counted: an include list (TARGETING_MATCH), no targeting key (ERROR), no
  // active stage (DEFAULT), the kill switch (DISABLED), an unknown rollout.
  const included = evaluate("tester-1");
  assert.equal(included.reason, "TARGETING_MATCH");
  assert.equal(reporter.expose(ROLLOUT, included, "tester-1"), false);
  assert.equal(reporter.track(ROLLOUT, included, "crash"), false);
  assert.equal(evaluate(undefined).reason, "ERROR");
  assert.equal(reporter.track(ROLLOUT, evaluate(undefined), "crash"), false);
  const dark = structuredClone(plan);
  dark.rollouts[ROLLOUT].environments.production.activeStage = null;
  dark.rollouts[ROLLOUT].environments.staging.killSwitch = true;
  const other = new Evaluator(dark);
  assert.equal(reporter.track(ROLLOUT, other.evaluate(ROLLOUT, "production", { targetingKey: "u" }), "crash"), false);
  assert.equal(reporter.track(ROLLOUT, other.evaluate(ROLLOUT, "staging", { targetingKey: "u" }), "crash"), false);
  assert.equal(reporter.track(ROLLOUT, evaluator.evaluate("nope", "production", { targetingKey: "u" }), "crash"), false);
  await reporter.close();
  assert.deepEqual(received(receiver.requests.slice(1)), { [`${ROLLOUT}/production/stage-3/out/exposure`]: 1 });
});

test("more than 1,000 keys go as several requests of at most 1,000 items", async () => {
  const { reporter } = setup({ maxKeys: 5000 });
  for (let i = 0; i < 2500; i++) reporter.track(ROLLOUT, unitIn, `event-${i}`, i + 1);
  await reporter.close();
  assert.equal(MAX_ITEMS, 1000);
  assert.deepEqual(receiver.requests.map((r) => r.body.counts.length), [1000, 1000, 500]);
  const sums = received();
  assert.equal(Object.keys(sums).length, 2500);
  assert.equal(sums[`${ROLLOUT}/production/stage-2/in/event-2499`], 2500);
  assert.equal(Object.values(sums).reduce((a, b) => a + b, 0), (2500 * 2501) / 2);
});

test("a count beyond 2^32 - 1 goes as several items, none above it", async () => {
  const { reporter } = setup();
  reporter.track(ROLLOUT, unitIn, "session", MAX_COUNT);
  reporter.track(ROLLOUT, unitIn, "session", 5);
  assert.throws(() => reporter.track(ROLLOUT, unitIn, "session", MAX_COUNT + 1), TypeError);
  assert.throws(() => reporter.track(ROLLOUT, unitIn, "session", 1.5), TypeError);
  assert.throws(() => reporter.track(ROLLOUT, unitIn, "session", -1), TypeError);
  assert.throws(() => reporter.track(ROLLOUT, unitIn, "no spaces"), TypeError);
  assert.throws(() => reporter.track(ROLLOUT, unitIn, "exposure"), TypeError);
  assert.throws(() => reporter.track("", unitIn, "crash"), TypeError);
  await reporter.close();
  assert.deepEqual(receiver.requests[0].body.counts.map((item) => item.count), [MAX_COUNT, 5]);
});

test("after a 500 and a network error the counts are retried with backoff: none lost, none doubled", async () => {
  let failNext = false;
  const calls = [];
  const flaky = async (url, init) => {
    calls.push(performance.now());
    if (failNext) {
      failNext = false;
      throw new TypeError("fetch failed");
    }
    return fetch(url, init);
  };
  const intervalMs = 40;
  const { reporter, errors } = setup({ intervalMs, fetch: flaky }, [500, [503, { error: "unavailable" }]]);
  reporter.track(ROLLOUT, unitIn, "crash", 2);
  reporter.track(ROLLOUT, unitOut, "session", 10);
  await reporter.flush(); // 500: back into the aggregate
  assert.equal(receiver.requests.length, 1);
  assert.deepEqual(errors.map((e) => [e.action, e.status, e.counts]), [["retry", 500, 12]]);
  // Counted while the first batch waits: sent with it, summed.
  reporter.track(ROLLOUT, unitIn, "crash", 1);
  await until(() => receiver.requests.length === 2, "the retry after the 500");
  failNext = true;
  await until(() => errors.length === 3, "the network error");
  assert.deepEqual(errors.map((e) => [e.action, e.status]), [["retry", 500], ["retry", 503], ["retry", null]]);
  await until(() => receiver.requests.length === 3, "the request that succeeds");
  await reporter.close();
  // Only the last request was accepted; it carries every count exactly once.
  assert.deepEqual(received(receiver.requests.slice(2)), {
    [`${ROLLOUT}/production/stage-2/in/crash`]: 3,
    [`${ROLLOUT}/production/stage-2/out/session`]: 10,
  });
  assert.equal(receiver.requests.length, 3);
  assert.equal(reporter.dropped, 0);
  // Backoff: the n-th consecutive failure waits between half and all of
  // intervalMs · 2^n, so the gaps grow.
  const gaps = calls.slice(1).map((at, i) => at - calls[i]);
  assert.equal(gaps.length, 3);
  assert.ok(gaps[0] >= intervalMs * 1 - 5, `first retry after ${gaps[0]} ms`);
  assert.ok(gaps[1] >= intervalMs * 2 - 5, `second retry after ${gaps[1]} ms`);
  assert.ok(gaps[2] >= intervalMs * 4 - 5, `third retry after ${gaps[2]} ms`);
});

test("a 429's Retry-After is waited for", async () => {
  const { reporter, errors } = setup({ intervalMs: 20 }, [[429, { error: "slow down" }, { "retry-after": "1" }]]);
  reporter.track(ROLLOUT, unitIn, "crash");
  await reporter.flush();
  const refused = receiver.requests[0].at;
  await until(() => receiver.requests.length === 2, "the retry", 3000);
  assert.ok(receiver.requests[1].at - refused >= 950, `retried after ${receiver.requests[1].at - refused} ms`);
  assert.deepEqual(errors.map((e) => [e.action, e.status]), [["retry", 429]]);
  await reporter.close();
});

test("a 400 drops that batch only, tells onError, and is never retried", async () => {
  const problem = { error: "invalid", message: "counts/0/rollout: no such rollout", details: [{ path: "/counts/0/rollout" }] };
  const { reporter, errors } = setup({ intervalMs: 20 }, [[400, problem]]);
  reporter.track(ROLLOUT, unitIn, "crash", 7);
  await reporter.flush();
  assert.equal(reporter.dropped, 7);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].action, "drop");
  assert.equal(errors[0].status, 400);
  assert.deepEqual(errors[0].body, problem);
  assert.match(errors[0].message, /no such rollout/);
  // Later counts still go; the refused ones never again.
  reporter.track(ROLLOUT, unitIn, "session", 4);
  await until(() => receiver.requests.length === 2, "the next interval's request");
  await new Promise((done) => setTimeout(done, 100));
  await reporter.close();
  assert.deepEqual(received(receiver.requests.slice(1)), { [`${ROLLOUT}/production/stage-2/in/session`]: 4 });
});

test("a 401 or 403 stops the reporter: nothing more is sent", async () => {
  for (const status of [401, 403]) {
    const { reporter, errors } = setup({ intervalMs: 20 }, [[status, { error: "unauthorized", message: "ingest key revoked" }]]);
    reporter.track(ROLLOUT, unitIn, "crash", 2);
    await reporter.flush();
    assert.deepEqual(errors.map((e) => [e.action, e.status]), [["stop", status]]);
    assert.equal(reporter.track(ROLLOUT, unitIn, "crash"), false);
    assert.equal(reporter.expose(ROLLOUT, unitIn, keysIn[0]), false);
    await reporter.flush();
    await new Promise((done) => setTimeout(done, 100));
    await reporter.close();
    assert.equal(receiver.requests.length, 1, `after ${status}`);
    assert.equal(reporter.dropped, 2);
  }
});

test("memory is bounded: keys beyond maxKeys are dropped and counted, the oldest units are forgotten", async () => {
  const { reporter } = setup({ maxKeys: 3, maxUnits: 2 });
  assert.equal(reporter.track(ROLLOUT, unitIn, "a", 1), true);
  assert.equal(reporter.track(ROLLOUT, unitIn, "b", 2), true);
  assert.equal(reporter.track(ROLLOUT, unitIn, "c", 3), true);
  assert.equal(reporter.track(ROLLOUT, unitIn, "d", 4), false);
  assert.equal(reporter.track(ROLLOUT, unitOut, "a", 5), false);
  assert.equal(reporter.track(ROLLOUT, unitIn, "a", 6), true); // a key already held still counts
  assert.equal(reporter.expose(ROLLOUT, unitIn, keysIn[0]), false); // a fourth key
  assert.equal(reporter.dropped, 10);
  await reporter.flush();
  assert.deepEqual(received(), {
    [`${ROLLOUT}/production/stage-2/in/a`]: 7,
    [`${ROLLOUT}/production/stage-2/in/b`]: 2,
    [`${ROLLOUT}/production/stage-2/in/c`]: 3,
  });
  // Sent: room again. Two units remembered at most; a third forgets the first.
  const [first, second, third] = keysIn;
  for (const key of [first, second, first, third, second, first]) reporter.expose(ROLLOUT, evaluate(key), key);
  await reporter.close();
  // first, second (first again: remembered), third (forgets first), second
  // (remembered), first (forgotten: counted again).
  assert.deepEqual(received(receiver.requests.slice(1)), { [`${ROLLOUT}/production/stage-2/in/exposure`]: 4 });
});

test("close sends what is left; counts it cannot deliver are dropped and reported", async () => {
  const { reporter, errors } = setup({}, []);
  reporter.track(ROLLOUT, unitIn, "crash", 3);
  reporter.expose(ROLLOUT, unitOut, keysOut[0]);
  await reporter.close();
  assert.deepEqual(received(), {
    [`${ROLLOUT}/production/stage-2/in/crash`]: 3,
    [`${ROLLOUT}/production/stage-2/out/exposure`]: 1,
  });
  assert.equal(reporter.track(ROLLOUT, unitIn, "crash"), false);
  await reporter.close(); // a second close is harmless
  assert.equal(receiver.requests.length, 1);
  assert.deepEqual(errors, []);

  const failing = setup({}, [502]);
  failing.reporter.track(ROLLOUT, unitIn, "crash", 3);
  await failing.reporter.close();
  assert.equal(failing.reporter.dropped, 3);
  assert.deepEqual(failing.errors.map((e) => [e.action, e.status, e.counts]), [["retry", 502, 3], ["drop", null, 3]]);
});

test("a Node process with a reporter that is never closed still exits (its timer is unref'd)", () => {
  const script = `
    const { createReporter } = await import(${JSON.stringify(reporterUrl)});
    const reporter = createReporter({ url: "http://127.0.0.1:9", ingestKey: "k", environment: "production", intervalMs: 60000 });
    reporter.track("r", { stage: "s", inRollout: true, reason: "SPLIT" }, "crash");
    console.log("done");`;
  const started = Date.now();
  const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 10_000 });
  assert.equal(output.trim(), "done");
  assert.ok(Date.now() - started < 5000);
});

test("a hidden page sends at once with keepalive requests of at most 64 KiB in all", async () => {
  // The page's side of it, as a browser has it: `document` and the window are
  // event targets. (tests/e2e/npm-browser.test.mjs does this in Chromium.)
  const page = new EventTarget();
  const document = Object.assign(new EventTarget(), { visibilityState: "visible" });
  globalThis.document = document;
  globalThis.addEventListener = page.addEventListener.bind(page);
  globalThis.removeEventListener = page.removeEventListener.bind(page);
  const sent = [];
  const recording = (url, init) => {
    sent.push({ keepalive: init.keepalive, bytes: Buffer.byteLength(init.body) });
    return fetch(url, init);
  };
  try {
    const { reporter } = setup({ fetch: recording, maxKeys: 5000 });
    for (let i = 0; i < 1500; i++) reporter.track(ROLLOUT, unitIn, `event-${i}`);
    document.visibilityState = "hidden";
    document.dispatchEvent(new Event("visibilitychange"));
    // Sent synchronously in the event, before the page can be frozen.
    assert.ok(sent.length >= 2);
    await until(() => received()[`${ROLLOUT}/production/stage-2/in/event-1499`] === 1, "the hidden page's counts");
    const alive = sent.filter((s) => s.keepalive);
    assert.ok(alive.length >= 1);
    assert.ok(alive.reduce((total, s) => total + s.bytes, 0) <= 64 * 1024);
    assert.ok(sent.every((s) => s.bytes <= 64 * 1024));
    assert.equal(Object.keys(received()).length, 1500);

    reporter.track(ROLLOUT, unitOut, "crash");
    page.dispatchEvent(new Event("pagehide"));
    await until(() => received()[`${ROLLOUT}/production/stage-2/out/crash`] === 1, "the pagehide's counts");
    await reporter.close();
    // Closed: the listeners are gone.
    const before = sent.length;
    document.dispatchEvent(new Event("visibilitychange"));
    assert.equal(sent.length, before);
  } finally {
    delete globalThis.document;
    delete globalThis.addEventListener;
    delete globalThis.removeEventListener;
  }
});

test("the reporter is its own entry point and imports nothing (no wasm)", () => {
  const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  assert.deepEqual(manifest.exports["./reporter"], { types: "./reporter.d.ts", default: "./reporter.js" });
  const source = readFileSync(join(pkg, "reporter.js"), "utf8");
  assert.doesNotMatch(source, /^\s*(import|export\s.*\sfrom)\s/m);
  assert.doesNotMatch(source, /\bimport\s*\(/);
});

test("createReporter refuses unusable options", () => {
  const base = { url: "http://127.0.0.1:9", ingestKey: "k", environment: "production" };
  for (const bad of [{ url: undefined }, { ingestKey: "" }, { environment: 3 }, { intervalMs: 0 }, { maxKeys: 1.5 }, { fetch: "no" }]) {
    assert.throws(() => createReporter({ ...base, ...bad }), TypeError, JSON.stringify(bad));
  }
});
