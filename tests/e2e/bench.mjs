// Console benchmark, in headless Chromium against a real `stagegate serve` on
// loopback: the bytes a first visit actually receives (as the browser reports
// them, in whatever encoding the server chose), and how long from navigation
// start until the overview shows the plan.
// Plain script: `node tests/e2e/bench.mjs [runs]`.
import { launchBrowser, startServer } from "./harness.mjs";

const runs = Number(process.argv[2] || 10);
// "250 KB", read strictly: 250,000 bytes.
const TRANSFER_BUDGET_BYTES = 250_000;
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
    await page.waitForLoadState("networkidle");
    const timings = await page.evaluate(() =>
      [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")].map((entry) => ({
        url: entry.name,
        encodedBodySize: entry.encodedBodySize,
        decodedBodySize: entry.decodedBodySize,
      })),
    );
    await context.close();

    let received = 0, bodies = 0, decoded = 0;
    const rows = [...requests.values()].filter((r) => r.url.startsWith(server.url));
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
} finally {
  await browser?.close();
  await server.stop();
}
