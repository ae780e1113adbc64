// Two `stagegate serve` processes on one PostgreSQL database, as behind a load
// balancer, each person's console on a different one: a kill switch pulled on
// server A is live in the console open on server B, and when A's machine goes
// away, B carries the incident on with the same tokens.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser, root, signIn, startServer } from "./harness.mjs";

const database = process.env.STAGEGATE_TEST_DATABASE_URL;
const shots = join(root, "target/screenshots");
mkdirSync(shots, { recursive: true });

/** A new schema on the test database, as the URL of a store that uses it. */
function newSchema(url) {
  // Digits and underscores only: nothing to quote.
  const name = `e2e_${process.pid}_${Date.now()}`;
  execFileSync("psql", [url, "-q", "-v", "ON_ERROR_STOP=1", "-c", `CREATE SCHEMA ${name}`]);
  const separator = url.includes("?") ? "&" : "?";
  return `${url}${separator}options=-c%20search_path%3D${name}`;
}

const skip = !database && "needs STAGEGATE_TEST_DATABASE_URL (cargo xtask test sets it)";

describe("two servers on one database", { skip }, () => {
  let a, b, browser, devopsToken;

  before(async () => {
    const store = newSchema(database);
    a = await startServer({ store });
    assert.ok(a.adminToken, "the database's first server makes the admin");
    b = await startServer({ store });
    assert.equal(b.adminToken, undefined, "one admin for the whole database");
    devopsToken = await a.addUser("dev", "devops-lead");
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await a?.stop();
    await b?.stop();
  });

  /** A new browser session on `server`, signed in with `token`. */
  const signedIn = (server, token) => signIn(browser, server.url, token);

  async function confirmWith(scope, comment) {
    const panel = scope.getByTestId("confirm");
    await panel.getByTestId("confirm-comment").fill(comment);
    await panel.getByTestId("confirm-yes").click();
  }

  const card = (page, env) => page.locator(`article[data-env="${env}"]`);
  const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  test("a kill switch pulled on A is live on B, and B carries on when A is gone", async () => {
    const admin = await signedIn(a, a.adminToken);
    // The user A's admin just made is known to B: users live in the database.
    const devops = await signedIn(b, devopsToken);
    await card(devops, "production").getByTestId("kill-switch").waitFor();

    await card(admin, "production").getByTestId("kill-switch").click();
    await confirmWith(card(admin, "production"), "sync failures over 5%");
    await card(admin, "production").getByText("Kill switch ON", { exact: true }).waitFor();
    // No reload on B: its console's long poll brings the write A stored.
    await card(devops, "production").getByText("Kill switch ON", { exact: true }).waitFor({ timeout: 3_000 });
    await devops.getByTestId("news")
      .getByText(/^admin changed the plan \(revision \d+\): domain-migration\/production: kill switch off → on — “sync failures over 5%”$/)
      .waitFor();
    await shot(admin, "servers-a-kill-switch");
    await shot(devops, "servers-b-sees-it");

    // A's machine goes away. Its console says so; on B the same token works,
    // the incident is there, and a kill switch pulled on B reaches B's other
    // console as before.
    await a.halt();
    await admin.getByTestId("connection-lost").waitFor();
    const adminOnB = await signedIn(b, a.adminToken);
    await card(adminOnB, "production").getByText("Kill switch ON", { exact: true }).waitFor();
    await card(adminOnB, "staging").getByTestId("kill-switch").click();
    await confirmWith(card(adminOnB, "staging"), "staging too, while we look");
    await card(devops, "staging").getByText("Kill switch ON", { exact: true }).waitFor({ timeout: 3_000 });
    await shot(admin, "servers-a-gone");
    await shot(adminOnB, "servers-b-after-a");
  });
});
