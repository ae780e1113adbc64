// Shared by the browser tests and the benchmark: a real `stagegate serve` on a
// fresh data directory and a free loopback port, and headless Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bin = resolve(root, process.env.STAGEGATE_BIN || "target/debug/stagegate");
export const consoleDir = resolve(root, process.env.STAGEGATE_CONSOLE || "dist/console");

/** Starts the server; resolves once it listens, with its URL and the seeded admin token. */
export async function startServer() {
  for (const [what, path] of [["server binary", bin], ["built console", join(consoleDir, "index.html")]]) {
    if (!existsSync(path)) throw new Error(`${what} missing at ${path}: run cargo build -p stagegate-server and cargo xtask dist`);
  }
  const data = mkdtempSync(join(tmpdir(), "stagegate-e2e-"));
  let { child, url, adminToken } = await launch(data, "127.0.0.1:0");
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
      ({ child } = await launch(data, new URL(url).host));
    },
    async stop() {
      await terminate(child);
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Runs `stagegate serve` on `data` at `addr`; resolves once it listens. */
async function launch(data, addr) {
  const child = spawn(bin, ["serve", "--data", data, "--addr", addr, "--console", consoleDir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  const ready = new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 15_000);
    child.on("exit", (code) => reject(new Error(`server exited (${code}):\n${output}`)));
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const url = output.match(/listening on (http:\/\/\S+)/)?.[1];
      // Printed on the first start only.
      const adminToken = output.match(/admin token: (\S+)/)?.[1];
      if (url && (adminToken || addr !== "127.0.0.1:0")) {
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
