// Console benchmark, in headless Chromium against a real `stagegate serve` on
// loopback: the bytes a first visit actually receives (as the browser reports
// them, in whatever encoding the server chose), how long from navigation start
// until the overview shows the plan, and how long a write takes to show in
// another open console (the live updates).
// Plain script: `node tests/e2e/bench.mjs [runs]`.
import { launchBrowser, startServer } from "./harness.mjs";

const runs = Number(process.argv[2] || 10);
// "300 KB", read strictly: 300,000 bytes.
const TRANSFER_BUDGET_BYTES = 300_000;
const RENDER_BUDGET_MS = 300;

/** A fresh context (empty cache), signed in, marking when the overview shows the plan. */
async function freshPage(browser, token) {
  const context = await browser.newContext();
  await context.addInitScript((token) => {
    sessionStorage.setItem("stagegate.token", token);
    new MutationObserver((_, observer) => {
      if (document.querySelector("article.card") && document.querySelector("[data-testid=plan-summary]")?.textContent.includes("Plan revision")) {
        window.__rendered = performance.now();
        observer.disconnect();
      }
    }).observe(document, { childList: true, subtree: true, characterData: true });
  }, token);
  return { context, page: await context.newPage() };
}

const server = await startServer();
let browser;
try {
  browser = await launchBrowser();

  // Transfer: one first visit, every response as Chromium received it. From
  // the network layer (CDP): bytes on the wire per request, headers included.
  // From the page (Resource Timing): each body as sent (encoded) and decoded.
  {
    const { context, page } = await freshPage(browser, server.adminToken);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    const requests = new Map();
    cdp.on("Network.responseReceived", ({ requestId, response }) => {
      requests.set(requestId, {
        url: response.url,
        status: response.status,
        encoding: response.headers["content-encoding"] || response.headers["Content-Encoding"] || "identity",
      });
    });
    cdp.on("Network.loadingFinished", ({ requestId, encodedDataLength }) => {
      const request = requests.get(requestId);
      if (request) request.received = encodedDataLength;
    });
    await page.goto(server.url + "/");
    await page.waitForFunction(() => window.__rendered !== undefined, null, { timeout: 10_000 });
    // Not "networkidle": the console keeps its long poll (GET /api/changes) open.
    // What a first visit loads has arrived a second after the first render.
    await page.waitForTimeout(1_000);
    const timings = await page.evaluate(() =>
      [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")].map((entry) => ({
        url: entry.name,
        encodedBodySize: entry.encodedBodySize,
        decodedBodySize: entry.decodedBodySize,
      })),
    );
    await context.close();

    let received = 0, bodies = 0, decoded = 0;
    // Requests still open (the long poll) have received no body yet.
    const rows = [...requests.values()].filter((r) => r.url.startsWith(server.url) && r.received !== undefined);
    for (const request of rows) {
      const timing = timings.find((t) => t.url === request.url) ?? { encodedBodySize: NaN, decodedBodySize: NaN };
      received += request.received ?? 0;
      bodies += timing.encodedBodySize;
      decoded += timing.decodedBodySize;
      const path = new URL(request.url).pathname;
      console.log(`  ${path}: ${request.status} ${request.encoding}, body ${timing.encodedBodySize} B (decoded ${timing.decodedBodySize} B), received ${request.received} B with headers`);
    }
    console.log(`console first visit: ${rows.length} requests, bodies ${bodies} B as sent (${decoded} B decoded)`);
    console.log(`console first visit received, headers included: ${received} bytes (${(received / 1024).toFixed(1)} KiB; budget ${TRANSFER_BUDGET_BYTES} bytes)`);
    if (!(received <= TRANSFER_BUDGET_BYTES)) console.log("console transfer: OVER BUDGET");
  }

  // First render: a fresh context each run, timed by the page itself when the
  // first environment card appears.
  const times = [];
  for (let i = 0; i < runs; i++) {
    const { context, page } = await freshPage(browser, server.adminToken);
    await page.goto(server.url + "/");
    await page.waitForFunction(() => window.__rendered !== undefined, null, { timeout: 10_000 });
    times.push(await page.evaluate(() => window.__rendered));
    await context.close();
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`console first render: ${Math.round(median)} ms (median of ${runs}; min ${Math.round(times[0])}, max ${Math.round(times.at(-1))}; budget ${RENDER_BUDGET_MS} ms)`);
  if (median >= RENDER_BUDGET_MS) console.log("console first render: OVER BUDGET");

  // Live updates: someone flips staging's kill switch over the API; how long
  // until another person's open console shows it. Timed by the page itself
  // (a MutationObserver on the card's badge) against the time the write was sent.
  {
    const { context, page } = await freshPage(browser, server.adminToken);
    await page.goto(server.url + "/");
    await page.waitForFunction(() => window.__rendered !== undefined, null, { timeout: 10_000 });
    const lags = [];
    for (let i = 0; i < runs; i++) {
      const on = i % 2 === 0;
      await page.evaluate((expected) => {
        window.__seen = new Promise((resolve) => {
          const shows = () => document.querySelector('article[data-env="staging"] .badge')?.textContent === expected;
          new MutationObserver((_, observer) => {
            if (shows()) {
              observer.disconnect();
              resolve(Date.now());
            }
          }).observe(document, { childList: true, subtree: true, characterData: true });
        });
      }, on ? "Kill switch ON" : "Live");
      const sent = Date.now();
      const response = await fetch(server.url + "/api/rollouts/domain-migration/environments/staging/kill-switch", {
        method: "POST",
        headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ on, comment: "bench" }),
      });
      if (response.status !== 200) throw new Error(`kill switch write: ${response.status} ${await response.text()}`);
      lags.push((await page.evaluate(() => window.__seen)) - sent);
    }
    await context.close();
    lags.sort((a, b) => a - b);
    console.log(`console live update (a write to another open console): ${lags[Math.floor(lags.length / 2)]} ms median of ${runs}; max ${lags.at(-1)} ms`);
  }
} finally {
  await browser?.close();
  await server.stop();
}
