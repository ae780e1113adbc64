// The guardrails' whole loop, end to end: a real `stagegate serve`, traffic from
// `stagegate simulate` (the npm reporter's rules and wire format), a webhook
// receiver that checks every signature, and a person watching in Chromium.
// A healthy stage advances on its schedule; a regression rolls back by itself;
// the overview says why; the receiver got both alerts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { launchBrowser, root, signIn, startServer } from "./harness.mjs";

const bin = resolve(root, process.env.STAGEGATE_BIN || "target/debug/stagegate");
const shots = join(root, "target/screenshots");
mkdirSync(shots, { recursive: true });
const ROLLOUT = "domain-migration";

let server, browser, receiver;
/** What the receiver got: event name, text, and whether the signature held. */
const alerts = [];
let secret = "";

async function api(method, path, body, token = server.adminToken, headers = {}) {
  const response = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return { json: text ? JSON.parse(text) : null, etag: response.headers.get("etag") };
}

/** `stagegate simulate` against staging; resolves with what it printed. */
async function simulate(...flags) {
  const args = ["simulate", "--url", server.url, "--ingest-key", simulate.key, "--rollout", ROLLOUT,
    "--env", "staging", "--interval-ms", "300", "--seed", "7", ...flags];
  const { stdout } = await promisify(execFile)(bin, args, { timeout: 60_000 });
  return stdout;
}

async function until(what, check, timeout = 20_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const expected = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
      const payload = JSON.parse(body);
      alerts.push({ event: payload.event, text: payload.text, signed: request.headers["x-stagegate-signature"] === expected });
      response.end("ok");
    });
  });
  await new Promise((listening) => receiver.listen(0, "127.0.0.1", listening));
  const hook = await api("POST", "/api/webhooks", {
    url: `http://127.0.0.1:${receiver.address().port}/hook`,
    events: ["rollback", "advance"],
    description: "on-call",
  });
  secret = hook.json.secret;
  simulate.key = (await api("POST", "/api/ingest-keys", { environment: "staging", name: "e2e" })).json.key;
  // Staging at stage 1 (5 %), soaking 3.6 s instead of a day, advancing by itself.
  const { json: plan, etag } = await api("GET", "/api/plan");
  const rollout = plan.rollouts[ROLLOUT];
  rollout.environments.staging.activeStage = "stage-1";
  rollout.stages[0].soakHours = 0.001;
  assert.equal(rollout.stages[0].autoAdvance, true);
  await api("PUT", "/api/plan", plan, server.adminToken, { "if-match": etag });
});

after(async () => {
  await browser?.close();
  receiver?.close();
  await server?.stop();
});

test("a healthy stage advances on schedule, a regression rolls back by itself, and the on-call hook hears both", { timeout: 120_000 }, async () => {
  const page = await signIn(browser, server.url, server.adminToken, { width: 1280, height: 900 });
  const staging = page.locator('article[data-env="staging"]');
  await staging.getByTestId("active-stage").getByText("Stage 1: 5%").waitFor();

  // Equal crash rates: every trigger gets enough data and stays healthy; the
  // soak passes, and the server moves staging to stage 2 by itself.
  const healthy = await simulate("--users", "30000", "--crash-rate-in", "0.02", "--crash-rate-out", "0.02", "--duration", "5s");
  assert.match(healthy, /round 1: stage-1/);
  await staging.getByTestId("active-stage").getByText("Stage 2: 25%").waitFor({ timeout: 20_000 });
  const advanced = (await api("GET", "/api/audit")).json.find((entry) => entry.action === "auto-advance");
  assert.equal(advanced.author, "stagegate");
  await page.screenshot({ path: join(shots, "guardrails-1-advanced.png"), fullPage: true });

  // 10 % crashes in the rollout against 2 % outside: rolled back within seconds.
  const regression = await simulate("--users", "4000", "--crash-rate-in", "0.10", "--crash-rate-out", "0.02", "--until-rollback");
  assert.match(regression, /rolled back: the kill switch of staging is on/);
  await staging.getByText("Kill switch ON", { exact: true }).waitFor();
  const why = staging.getByTestId("auto-rollback");
  await why.getByText(/crashRate/).waitFor();
  assert.match(await why.innerText(), /in the rollout vs .* control/);
  await page.screenshot({ path: join(shots, "guardrails-2-rolled-back.png"), fullPage: true });

  // A person takes it in hand on the Health page (a comment required).
  await why.getByRole("link", { name: "See Health" }).click();
  const last = page.getByTestId("last-action");
  await last.getByText("Rolled back automatically").waitFor();
  await last.getByTestId("acknowledge").click();
  assert.ok(await page.getByTestId("confirm-yes").isDisabled(), "a comment is required");
  await page.getByTestId("confirm-comment").fill("investigating the crash; staying rolled back");
  await page.getByTestId("confirm-yes").click();
  await last.getByText(/Taken in hand by admin at .*: investigating the crash; staying rolled back/).waitFor();
  assert.equal(await last.getByTestId("acknowledge").count(), 0, "acknowledged once");
  await page.reload();
  await page.getByTestId("last-action").getByText(/Taken in hand by admin/).waitFor();
  await page.screenshot({ path: join(shots, "guardrails-3-acknowledged.png"), fullPage: true });

  await until("both alerts", () => ["advance", "rollback"].every((event) => alerts.some((a) => a.event === event)));
  for (const alert of alerts) {
    assert.ok(alert.signed, `${alert.event}: signature`);
    assert.ok(alert.text.includes(ROLLOUT), alert.text);
  }
  assert.equal(alerts.filter((a) => a.event === "rollback").length, 1, "one rollback, one alert");
  await page.context().close();
});
