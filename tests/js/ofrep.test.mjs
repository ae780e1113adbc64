// OFREP from Node the way any OpenFeature app would use it: the real
// @openfeature/server-sdk with the real @openfeature/ofrep-provider against a
// real `stagegate serve` (STAGEGATE_BIN, default target/debug/stagegate) on a
// fresh data directory, authenticated by an SDK key made over the API.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { OpenFeature } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";

const root = new URL("../../", import.meta.url).pathname;
const bin = resolve(root, process.env.STAGEGATE_BIN || "target/debug/stagegate");

let server, data, url, admin;

/** The admin's call to the API; the JSON answer (or null). */
async function api(method, path, body, headers = {}) {
  const response = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const sdkKey = async (environment) => (await api("POST", "/api/sdk-keys", { environment, name: "node" })).key;
/** The server's own evaluation, for the figures OFREP must carry. */
const native = (rollout, env, targetingKey) =>
  api("GET", `/api/evaluate?rollout=${rollout}&env=${env}&targetingKey=${encodeURIComponent(targetingKey)}`);
const provider = (headers) => new OFREPProvider({ baseUrl: url, headers });

before(async () => {
  if (!existsSync(bin)) throw new Error(`stagegate binary missing at ${bin}: run cargo build -p stagegate-server, or set STAGEGATE_BIN`);
  data = mkdtempSync(join(tmpdir(), "stagegate-ofrep-"));
  server = spawn(bin, ["serve", "--data", data, "--addr", "127.0.0.1:0", "--console", join(data, "no-console")], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  let output = "";
  await new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start:\n${output}`)), 15_000);
    server.on("exit", (code) => fail(new Error(`server exited (${code}):\n${output}`)));
    server.stdout.on("data", (chunk) => {
      output += chunk;
      url = output.match(/listening on (http:\/\/\S+)/)?.[1];
      admin = output.match(/admin token: (\S+)/)?.[1];
      if (url && admin) {
        clearTimeout(timer);
        ready();
      }
    });
  });
  // A rollout of strings and numbers beside the default plan's booleans.
  const plan = await api("GET", "/api/plan");
  plan.rollouts.checkout = {
    flags: { theme: { type: "string", fallback: "light" }, limit: { type: "number", fallback: 10 } },
    stages: [{ id: "all", name: "everyone", percentage: 100, values: { theme: "dark", limit: 20.5 } }],
    environments: { staging: { activeStage: "all" }, production: { activeStage: null } },
  };
  await api("PUT", "/api/plan", plan, { "if-match": `"${plan.revision}"` });
});

after(async () => {
  await OpenFeature.close();
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((done) => server.once("exit", done));
  }
  if (data) rmSync(data, { recursive: true, force: true });
});

test("the OFREP provider answers values, variants, reasons and metadata from the plan", async () => {
  await OpenFeature.setProviderAndWait("staging", provider([["Authorization", `Bearer ${await sdkKey("staging")}`]]));
  const client = OpenFeature.getClient("staging");
  const context = { targetingKey: "user-42" };
  const { revision } = await api("GET", "/api/plan");
  const want = await native("domain-migration", "staging", "user-42");

  const migration = await client.getBooleanDetails("domain-migration.enableMigration", false, context);
  assert.equal(migration.value, true);
  assert.equal(migration.variant, "on");
  assert.equal(migration.reason, "SPLIT");
  assert.equal(migration.errorCode, undefined);
  assert.deepEqual(migration.flagMetadata, { rollout: "domain-migration", stage: "stage-4", bucket: want.bucket, revision });
  // A bare name that only one rollout has; stage-4's own value.
  const dual = await client.getBooleanDetails("enableDualProviders", true, context);
  assert.equal(dual.value, want.values.enableDualProviders);
  assert.equal(dual.value, false);

  const theme = await client.getStringDetails("checkout.theme", "unset", context);
  assert.deepEqual([theme.value, theme.variant, theme.reason], ["dark", "on", "SPLIT"]);
  assert.equal(await client.getNumberValue("checkout.limit", 0, context), 20.5);

  // The caller's default: an unknown key, a type the flag is not, a live stage without a targeting key.
  const missing = await client.getBooleanDetails("domain-migration.nothing", true, context);
  assert.deepEqual([missing.value, missing.reason, missing.errorCode], [true, "ERROR", "FLAG_NOT_FOUND"]);
  const mismatch = await client.getStringDetails("domain-migration.enableMigration", "unset", context);
  assert.deepEqual([mismatch.value, mismatch.errorCode], ["unset", "TYPE_MISMATCH"]);
  const keyless = await client.getBooleanDetails("domain-migration.enableMigration", false, {});
  assert.deepEqual([keyless.value, keyless.errorCode], [false, "TARGETING_KEY_MISSING"]);
});

test("no active stage is STATIC, and the key can travel as X-API-Key", async () => {
  await OpenFeature.setProviderAndWait("production", provider([["X-API-Key", await sdkKey("production")]]));
  const details = await OpenFeature.getClient("production").getBooleanDetails("domain-migration.enableDualProviders", false, { targetingKey: "user-42" });
  assert.deepEqual([details.value, details.variant, details.reason], [true, "off", "STATIC"]);
  assert.equal(details.flagMetadata.stage, undefined);
  assert.equal(details.flagMetadata.rollout, "domain-migration");
});

test("a kill switch turns the values to the fallbacks at once, DISABLED", async () => {
  await OpenFeature.setProviderAndWait("kill", provider([["Authorization", `Bearer ${await sdkKey("staging")}`]]));
  const client = OpenFeature.getClient("kill");
  const context = { targetingKey: "user-7" };
  assert.equal(await client.getStringValue("checkout.theme", "unset", context), "dark");
  await api("POST", "/api/rollouts/checkout/environments/staging/kill-switch", { on: true, comment: "test" });
  const theme = await client.getStringDetails("checkout.theme", "unset", context);
  assert.deepEqual([theme.value, theme.variant, theme.reason], ["light", "off", "DISABLED"]);
  await api("POST", "/api/rollouts/checkout/environments/staging/kill-switch", { on: false, comment: "test" });
  assert.equal(await client.getStringValue("checkout.theme", "unset", context), "dark");
});

test("a revoked key gets the caller's default", async () => {
  const created = await api("POST", "/api/sdk-keys", { environment: "staging", name: "doomed" });
  await OpenFeature.setProviderAndWait("revoked", provider([["Authorization", `Bearer ${created.key}`]]));
  const client = OpenFeature.getClient("revoked");
  assert.equal(await client.getBooleanValue("domain-migration.enableMigration", false, { targetingKey: "u" }), true);
  await api("DELETE", `/api/sdk-keys/${created.id}`);
  const details = await client.getBooleanDetails("domain-migration.enableMigration", false, { targetingKey: "u" });
  assert.deepEqual([details.value, details.reason], [false, "ERROR"]);
  const status = await fetch(`${url}/ofrep/v1/evaluate/flags/enableMigration`, {
    method: "POST",
    headers: { authorization: `Bearer ${created.key}`, "content-type": "application/json" },
    body: JSON.stringify({ context: { targetingKey: "u" } }),
  });
  assert.equal(status.status, 403);
  assert.equal(await status.text(), "");
});
