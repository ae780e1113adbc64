// Console benchmark: what a browser downloads (gzip sizes of index.html and the
// assets it names) and how long from navigation start until the overview shows
// the plan, in headless Chromium against a real `stagegate serve` on loopback.
// Plain script: `node tests/e2e/bench.mjs [runs]`.
import { gzipSync } from "node:zlib";
import { launchBrowser, startServer } from "./harness.mjs";

const runs = Number(process.argv[2] || 10);
// "300 KB", read strictly: 300,000 bytes.
const TRANSFER_BUDGET_BYTES = 300_000;
const RENDER_BUDGET_MS = 1000;

const server = await startServer();
let browser;
try {
  // Transfer: the shell and every asset it links, as gzip -9 would send them.
  const html = await (await fetch(server.url + "/")).text();
  const assets = [...new Set(html.match(/\/console-[\w-]+\.(?:js|wasm|css)/g))];
  const files = [["index.html", Buffer.from(html)]];
  for (const asset of assets) {
    files.push([asset.slice(1), Buffer.from(await (await fetch(server.url + asset)).arrayBuffer())]);
  }
  let total = 0;
  for (const [name, bytes] of files) {
    const gzip = gzipSync(bytes, { level: 9 }).length;
    total += gzip;
    console.log(`  ${name}: ${bytes.length} bytes, gzip ${gzip} bytes`);
  }
  console.log(`console transfer (gzip): ${total} bytes (${(total / 1024).toFixed(1)} KiB; budget ${TRANSFER_BUDGET_BYTES} bytes)`);

  // First render: a fresh browser context each run (empty cache), already signed
  // in, timed by the page itself when the first environment card appears.
  browser = await launchBrowser();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext();
    await context.addInitScript((token) => {
      sessionStorage.setItem("stagegate.token", token);
      new MutationObserver((_, observer) => {
        if (document.querySelector("article.card") && document.querySelector("[data-testid=plan-summary]")?.textContent.includes("Plan revision")) {
          window.__rendered = performance.now();
          observer.disconnect();
        }
      }).observe(document, { childList: true, subtree: true, characterData: true });
    }, server.adminToken);
    const page = await context.newPage();
    await page.goto(server.url + "/");
    await page.waitForFunction(() => window.__rendered !== undefined, null, { timeout: 10_000 });
    times.push(await page.evaluate(() => window.__rendered));
    await context.close();
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`console first render: ${Math.round(median)} ms (median of ${runs}; min ${Math.round(times[0])}, max ${Math.round(times.at(-1))}; budget ${RENDER_BUDGET_MS} ms)`);
  if (total > TRANSFER_BUDGET_BYTES) console.log("console transfer: OVER BUDGET");
  if (median >= RENDER_BUDGET_MS) console.log("console first render: OVER BUDGET");
} finally {
  await browser?.close();
  await server.stop();
}
