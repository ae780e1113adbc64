// The flagd export decides exactly as stagegate does: each plan below is
// exported by the real binary (`stagegate export flagd`), loaded into the real
// @openfeature/flagd-core, and every flag's value for every context is compared
// with the npm package's own Evaluator. Inputs where flagd cannot agree are
// listed in SPEC.md ("flagd export") and checked apart, at the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { FlagdCore, MemoryStorage } from "@openfeature/flagd-core";

const root = new URL("../../", import.meta.url).pathname;
const pkg = process.env.STAGEGATE_NPM_PACKAGE ?? join(root, "dist/evaluator");
const bin = process.env.STAGEGATE_BIN ?? join(root, "target/debug/stagegate");
if (!existsSync(bin)) throw new Error(`no stagegate binary at ${bin}: build it (cargo build -p stagegate-server) or set STAGEGATE_BIN`);
const { init, Evaluator } = await import(pathToFileURL(join(pkg, "node.js")));
await init();

const ROLLOUT = "domain-migration";
const ENV = "production";
const base = JSON.parse(readFileSync(join(root, "static/default-plan.json"), "utf8"));
// Every flag type flagd has: the default plan's booleans, and one of each other.
Object.assign(base.rollouts[ROLLOUT].flags, {
  theme: { type: "json", fallback: { color: "blue" } },
  banner: { type: "string", fallback: "old" },
  limit: { type: "number", fallback: 10 },
});
Object.assign(base.rollouts[ROLLOUT].stages[1].values, { theme: { color: "red", size: [2] }, banner: "new", limit: 2.5 });
Object.assign(base.rollouts[ROLLOUT].stages[3].values, { limit: 1e21 });

const dir = mkdtempSync(join(tmpdir(), "stagegate-flagd-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const silent = { error() {}, warn() {}, info() {}, debug() {} };
const RESOLVE = { boolean: "resolveBooleanEvaluation", string: "resolveStringEvaluation", number: "resolveNumberEvaluation", json: "resolveObjectEvaluation" };

/** A plan: the base with production (and the rollout) edited by `edit`. */
function scenario(edit) {
  const plan = structuredClone(base);
  edit(plan.rollouts[ROLLOUT].environments[ENV], plan.rollouts[ROLLOUT]);
  return plan;
}

let planFiles = 0;
function exportFlagd(plan) {
  const file = join(dir, `plan-${planFiles++}.json`);
  writeFileSync(file, JSON.stringify(plan));
  return execFileSync(bin, ["export", "flagd", "--plan", file, "--env", ENV], { encoding: "utf8" });
}

const totals = { contexts: 0, values: 0, differences: 0, variants: 0, variantsAgree: 0 };
// The documented differences are counted apart from the equivalence.
const apartTally = () => ({ contexts: 0, values: 0, variants: 0, variantsAgree: 0 });

/** Compares flagd and stagegate on every flag for every context, counting in `tally`; returns the differences. */
function compare(plan, contexts, tally = totals) {
  // Strict: the export must also pass flagd's flags and targeting schemas.
  const storage = new MemoryStorage(silent);
  storage.setConfigurations(exportFlagd(plan), true);
  const flagd = new FlagdCore(storage, silent);
  const evaluator = new Evaluator(plan);
  const flags = Object.entries(plan.rollouts[ROLLOUT].flags);
  const differences = [];
  for (const context of contexts) {
    const ours = evaluator.evaluate(ROLLOUT, ENV, context);
    for (const [name, flag] of flags) {
      const theirs = flagd[RESOLVE[flag.type]](`${ROLLOUT}.${name}`, undefined, context, silent);
      tally.values++;
      if (theirs.errorCode !== undefined || !isDeepStrictEqual(theirs.value, ours.values[name])) {
        differences.push({ context, flag: name, stagegate: ours.values[name], flagd: theirs });
      }
      if (ours.reason !== "ERROR") {
        tally.variants++;
        if (theirs.variant === (ours.inRollout ? "on" : "off")) tally.variantsAgree++;
      }
    }
  }
  tally.contexts += contexts.length;
  return differences;
}

function check(name, plan, contexts) {
  const differences = compare(plan, contexts);
  totals.differences += differences.length;
  assert.deepEqual(differences.slice(0, 5), [], `${name}: ${differences.length} of ${contexts.length} contexts differ`);
}

// Printable ASCII targeting keys: flagd-core hashes UTF-16 code units, not
// UTF-8 bytes, so only ASCII keys bucket alike (SPEC.md, "flagd export").
let seed = 42;
const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const randomKey = () => Array.from({ length: 1 + Math.floor(random() * 24) }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join("");
const keys = (n) => Array.from({ length: n }, (_, i) => (i % 3 === 2 ? randomKey() : `user-${i}`));
// No key, and keys that are not strings: stagegate answers the fallbacks.
const keyless = [{}, { targetingKey: null }, { targetingKey: 7 }, { targetingKey: true }, { targetingKey: {} }, { targetingKey: ["user-1"] }, { targetingKey: "" }];
const contextsOf = (ids, attributes = {}) => [...keyless.map((c) => ({ ...c, ...attributes })), ...ids.map((targetingKey) => ({ targetingKey, ...attributes }))];

test("every stage of the default plan's production, and the kill switch", () => {
  const ids = keys(12_000);
  const cases = {
    "no active stage": scenario((env) => (env.activeStage = null)),
    "stage-1": scenario((env) => (env.activeStage = "stage-1")),
    "stage-2": scenario((env) => (env.activeStage = "stage-2")),
    "stage-3": scenario((env) => (env.activeStage = "stage-3")),
    "stage-4": scenario((env) => (env.activeStage = "stage-4")),
    "kill switch": scenario((env) => Object.assign(env, { activeStage: "stage-2", killSwitch: true })),
    "0 %": scenario((env, rollout) => ((rollout.stages[0].percentage = 0), (env.activeStage = "stage-1"))),
    "33.33 %": scenario((env, rollout) => ((rollout.stages[2].percentage = 33.33), (env.activeStage = "stage-3"))),
    "another salt": scenario((env, rollout) => ((rollout.salt = "s@lt/2024 {x}.y"), (env.activeStage = "stage-2"))),
  };
  for (const [name, plan] of Object.entries(cases)) check(name, plan, contextsOf(ids));
});

// Attribute values of every JSON type, as apps send them.
const scalars = ["ios", "android", "IOS", "", " ios", "true", "false", "7", "7.0", "100", "0.5", "1e+21", "-3", "[object Object]", "ob", "null", true, false, 7, 7.5, 100, 0.5, 1e21, -0, 0, -3, 1e-7, 123456789012];
const structures = [null, [], ["ios"], [7], [true], ["1.2.3"], [[1]], [{}], {}, { a: 1 }, { platform: "ios" }, { valueOf: 1 }, { constructor: null }];
const unitsPerValue = keys(40);

/** Contexts with `attribute` set to each value (and left out), for each of a few keys. */
function attributeContexts(attribute, values) {
  const contexts = unitsPerValue.map((targetingKey) => ({ targetingKey }));
  for (const value of values) for (const targetingKey of unitsPerValue) contexts.push({ targetingKey, [attribute]: value });
  return contexts;
}

test("include and exclude lists, and in / notIn on strings, numbers and booleans", () => {
  const constrained = (constraints, edit = () => {}) =>
    scenario((env, rollout) => {
      Object.assign(env, { activeStage: "stage-4", constraints });
      edit(env, rollout);
    });
  const cases = [
    ["platform", { attribute: "platform", operator: "in", values: ["ios", "android"] }],
    ["platform", { attribute: "platform", operator: "notIn", values: ["ios"] }],
    ["build", { attribute: "build", operator: "in", values: ["100", "7", "1e+21", "0.5", "-3", "0"] }],
    ["build", { attribute: "build", operator: "notIn", values: ["7", "1e+21"] }],
    ["beta", { attribute: "beta", operator: "in", values: ["true"] }],
    ["beta", { attribute: "beta", operator: "notIn", values: ["false"] }],
    ["app.channel", { attribute: "app.channel", operator: "in", values: ["ios", "[object Object]"] }],
    ["a\\b", { attribute: "a\\b", operator: "notIn", values: ["ob"] }],
    ["targetingKey", { attribute: "targetingKey", operator: "in", values: ["user-1", "user-2"] }],
  ];
  for (const [attribute, constraint] of cases) {
    check(`${constraint.attribute} ${constraint.operator}`, constrained([constraint]), attributeContexts(attribute, [...scalars, ...structures]));
  }
  // Lists, then two constraints, at a 25 % stage: exclude wins over include,
  // include skips the constraints.
  const lists = scenario((env) =>
    Object.assign(env, {
      activeStage: "stage-2",
      include: ["vip-1", "user-3"],
      exclude: ["banned-1", "vip-2"],
      constraints: [
        { attribute: "platform", operator: "in", values: ["ios", "android"] },
        { attribute: "appVersion", operator: "semverGte", value: "2.0" },
      ],
    }),
  );
  const listed = ["vip-1", "vip-2", "user-3", "banned-1", "vip-3", ...keys(300)];
  const contexts = [];
  for (const targetingKey of listed) {
    for (const platform of ["ios", "web", undefined, { os: "ios" }]) {
      for (const appVersion of ["2.0.0", "1.9", "v2.1.0-rc.1", "x", undefined, 2]) contexts.push({ targetingKey, platform, appVersion });
    }
  }
  check("lists and constraints", lists, contexts);
});

// Versions both sides read, versions neither reads, and other types.
const versions = [
  "1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3-rc.2", "1.2.3-rc.10", "1.2.3-alpha", "1.2.3-alpha.beta", "1.2.3-beta.11", "1.2.3-0", "1.2.3-1a", "1.2.3--", "1.2.3-x-y",
  "1.2.3+build.5", "1.2.3-rc.1+b.2", "v1.2.3-rc.1+b", "1", "1.2", "v1", "v1.2", "2.0.0", "0.9.9", "1.2.4", "1.3.0", "10.0.0", "1.10.0", "1.2.10", "0.0.0", "9007199254740990.0.0",
  "", "x", "v", "latest", "1.", "1..2", ".1", "1.2.3.4", "1.2.x", "1.2.3-", "1.2.3-a..b", "1.2.3-é", "-1.2.3", "=1.2.3", ">1.2.3", "^1.2.3", "1.2.3 - 2",
  " 1.2.3", "1.2.3 ", "\t1.2.3", "1.2.3\n", "1.2.3\u00a0", "\ufeff1.2.3", "V1.2.3", "vv1.2.3", "vV1.2.3", "v 1.2.3", "v.1.2.3", "1.2.3-rc 1", "1 .2",
  1, 2, 1.2, 1.5, 0.5, 10, 1e21, -1, 3.4, 0, true, false,
  ...structures,
];
// SPEC.md, "flagd export": stagegate reads these as versions and flagd's
// sem_ver does not (leading zeros, a short version with a pre-release or build,
// build metadata outside SemVer's grammar, numbers of 2^53 and more).
const documentedVersions = ["01.2.3", "1.02.3", "1.2.3-rc.01", "1.2-rc.1", "1+b", "1.2+b", "1.2.3+", "1.2.3+a_b", "1.2.3+b ", "1.2.3+b..c", "9007199254740993.0.0", 0.05];

test("every semver operator, with pre-releases, a v prefix, malformed versions and other types", () => {
  for (const operator of ["semverEq", "semverGt", "semverGte", "semverLt", "semverLte"]) {
    for (const value of ["1.2.3", "1.2.3-rc.1", "v1.2", "1.2.3-rc.01+x"]) {
      const plan = scenario((env) => Object.assign(env, { activeStage: "stage-4", constraints: [{ attribute: "appVersion", operator, value }] }));
      check(`appVersion ${operator} ${value}`, plan, attributeContexts("appVersion", versions));
    }
  }
});

test("the documented differences, and a json flag flagd cannot hold", () => {
  // The documented inputs: where they differ, flagd answers the fallback.
  let differing = 0;
  for (const operator of ["semverGte", "semverLte"]) {
    const plan = scenario((env) => Object.assign(env, { activeStage: "stage-4", constraints: [{ attribute: "appVersion", operator, value: "1.0.0" }] }));
    for (const difference of compare(plan, attributeContexts("appVersion", documentedVersions), apartTally())) {
      differing++;
      assert.equal(difference.flagd.variant, "off", JSON.stringify(difference));
    }
  }
  assert.ok(differing > 0, "the documented version differences no longer differ: update SPEC.md");
  // Non-ASCII keys: flagd-core buckets UTF-16 code units, stagegate UTF-8 bytes.
  const split = scenario((env) => (env.activeStage = "stage-3"));
  const nonAscii = Array.from({ length: 200 }, (_, i) => ({ targetingKey: `ユーザー-${i}` }));
  assert.ok(compare(split, nonAscii, apartTally()).length > 0, "non-ASCII keys now bucket alike: update SPEC.md");
  // An object attribute with its own `toString` makes flagd-core's JSONLogic throw.
  const notIn = scenario((env) => Object.assign(env, { activeStage: "stage-4", constraints: [{ attribute: "platform", operator: "notIn", values: ["ios"] }] }));
  const [thrown] = compare(notIn, [{ targetingKey: "user-1", platform: { toString: "x" } }], apartTally());
  assert.equal(thrown?.flagd.errorCode, "GENERAL", "an own toString no longer throws in flagd-core: update SPEC.md");
  // A json flag whose value is not an object cannot be a flagd object flag.
  const plan = scenario((env, rollout) => {
    rollout.stages[1].values.theme = ["red"];
    env.activeStage = "stage-2";
  });
  const file = join(dir, "not-an-object.json");
  writeFileSync(file, JSON.stringify(plan));
  assert.throws(
    () => execFileSync(bin, ["export", "flagd", "--plan", file, "--env", ENV], { stdio: "pipe" }),
    (error) => error.status === 1 && /flag 'domain-migration\.theme' is of type json and its 'on' value is an array/.test(error.stderr),
  );
  console.log(
    `flagd export: ${totals.contexts} contexts, ${totals.values} values compared, ${totals.differences} differences; ` +
      `variants agree on ${totals.variantsAgree} of ${totals.variants} (answers without an error)`,
  );
  assert.ok(totals.contexts >= 100_000, `${totals.contexts} contexts`);
  assert.equal(totals.variantsAgree, totals.variants);
});

