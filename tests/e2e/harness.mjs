// Shared by the browser tests and the benchmark: a real `stagegate serve` on a
// fresh data directory (or a PostgreSQL database) and a free loopback port, and
// headless Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bin = resolve(root, process.env.STAGEGATE_BIN || "target/debug/stagegate");
export const consoleDir = resolve(root, process.env.STAGEGATE_CONSOLE || "dist/console");

/** Starts the server; resolves once it listens, with its URL and the seeded admin token. */
/** With `store` (a PostgreSQL URL), on that database instead of a new data
 * directory: only the database's first server has an admin token to give. */
export async function startServer({ store } = {}) {
  for (const [what, path] of [["server binary", bin], ["built console", join(consoleDir, "index.html")]]) {
    if (!existsSync(path)) throw new Error(`${what} missing at ${path}: run cargo build -p stagegate-server and cargo xtask dist`);
  }
  const data = store ? null : mkdtempSync(join(tmpdir(), "stagegate-e2e-"));
  const where = store ? ["--store", store] : ["--data", data];
  let { child, url, adminToken } = await launch(where, "127.0.0.1:0");
  return {
    url,
    adminToken,
    /** Creates a user over the API, as an admin would, and returns the token. */
    async addUser(name, role) {
      const response = await fetch(url + "/api/users", {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ name, role }),
      });
      if (response.status !== 201) throw new Error(`adding ${name}: ${response.status} ${await response.text()}`);
      return (await response.json()).token;
    },
    /** Stops the server as an operator would (SIGTERM), keeping its data. */
    async halt() {
      await terminate(child);
    },
    /** Starts it again on the same data and address. */
    async resume() {
      ({ child } = await launch(where, new URL(url).host));
    },
    async stop() {
      await terminate(child);
      if (data) rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Runs `stagegate serve` on `where` (its store's flags) at `addr`; resolves once it listens. */
async function launch(where, addr) {
  const child = spawn(bin, ["serve", ...where, "--addr", addr, "--console", consoleDir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  const ready = new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 15_000);
    child.on("exit", (code) => reject(new Error(`server exited (${code}):\n${output}`)));
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const url = output.match(/listening on (http:\/\/\S+)/)?.[1];
      // Printed on a store's first start only, before the line above.
      const adminToken = output.match(/admin token: (\S+)/)?.[1];
      if (url) {
        clearTimeout(timer);
        resolveReady({ child, url, adminToken });
      }
    });
  });
  return ready;
}

async function terminate(child) {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  await new Promise((done) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 3_000);
    child.once("exit", () => { clearTimeout(force); done(); });
  });
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

/** A new browser session (its own sessionStorage) on the console at `url`,
 * signed in with `token`. A page error or a Content-Security-Policy violation
 * fails the test; dialogs are accepted. */
export async function signIn(browser, url, token, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (error) => assert.fail(`page error: ${error.message}`));
  // The server's Content-Security-Policy must let the console do all it does.
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) assert.fail(`CSP violation: ${message.text()}`);
  });
  page.on("dialog", (dialog) => dialog.accept());
  await page.goto(url + "/");
  await page.fill("#token", token);
  await page.press("#token", "Enter");
  await page.getByTestId("who").waitFor();
  return page;
}
