// The test data runner shared by Node (testdata.test.mjs) and the browser
// (tests/e2e/npm-browser.test.mjs): no Node APIs, so it runs in both. Each function
// returns the list of mismatches, empty when the package agrees with the data.

/** JSON with sorted keys, to compare answers whatever their key order. */
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The file's plan with the file's and then the case's `set` applied (JSON Pointer → value). */
export function casePlan(file, kase, defaultPlan) {
  const plan = structuredClone(file.plan === "default" ? defaultPlan : file.plan);
  for (const set of [file.set, kase.set]) {
    for (const [pointer, value] of Object.entries(set ?? {})) {
      const parts = pointer.split("/").slice(1).map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
      const last = parts.pop();
      const parent = parts.reduce((node, part) => node?.[part], plan);
      if (!parent || !(last in parent)) throw new Error(`set: no value at ${pointer}`);
      parent[last] = value;
    }
  }
  return plan;
}

export function bucketMismatches(pkg, vectors) {
  const wrong = [];
  if (vectors.cases.length < 1000) wrong.push(`only ${vectors.cases.length} vectors`);
  for (const { salt, unit, bucket } of vectors.cases) {
    const actual = pkg.bucket(salt, unit);
    if (actual !== bucket) wrong.push(`${JSON.stringify(salt)} + ${JSON.stringify(unit).slice(0, 40)}: ${actual} ≠ ${bucket}`);
  }
  return wrong;
}

export function evaluationMismatches(pkg, file, defaultPlan) {
  const wrong = [];
  for (const kase of file.cases) {
    let actual;
    if (kase.planText !== undefined) {
      actual = pkg.evaluateOnce(kase.planText, kase.rollout, kase.environment, kase.context);
    } else {
      const evaluator = new pkg.Evaluator(casePlan(file, kase, defaultPlan));
      actual =
        kase.flag === undefined
          ? evaluator.evaluate(kase.rollout, kase.environment, kase.context)
          : evaluator.resolve(kase.rollout, kase.flag, kase.environment, kase.context, kase.type);
      evaluator.free();
    }
    for (const [field, want] of Object.entries(kase.expect)) {
      if (canonical(actual[field]) !== canonical(want)) {
        wrong.push(`${kase.name}: ${field} is ${canonical(actual[field])}, expected ${canonical(want)}`);
      }
    }
  }
  return wrong;
}

/** Every expected problem appears in the thrown Error's message, with its count. */
export function validationMismatches(pkg, file) {
  const wrong = [];
  for (const kase of file.cases) {
    const text = kase.planText ?? JSON.stringify(kase.plan, null, 2);
    let message = "";
    try {
      new pkg.Evaluator(text).free();
    } catch (error) {
      if (!(error instanceof Error)) wrong.push(`${kase.name}: threw something other than an Error`);
      message = String(error.message);
    }
    // The package takes any list of rollback triggers and drops it (client
    // documents carry none; their rules are the server's): SPEC.md, "Triggers".
    const problems = kase.problems.filter((problem) => !problem.path.includes("/rollbackTriggers"));
    if (problems.length === 0) {
      if (message !== "") wrong.push(`${kase.name}: unexpected problems: ${message}`);
      continue;
    }
    const count = problems.length;
    if (!message.startsWith(`invalid plan: ${count} problem${count === 1 ? "" : "s"}`)) {
      wrong.push(`${kase.name}: expected ${count} problems in ${JSON.stringify(message)}`);
    }
    for (const problem of problems) {
      const where = problem.path === "" ? "/" : problem.path;
      const lines = message.split("\n").map((line) => line.trim()).filter((line) => line.startsWith(where));
      if (lines.length === 0) wrong.push(`${kase.name}: no problem at ${where}`);
      if (problem.messageContains && !lines.some((line) => line.includes(problem.messageContains))) {
        wrong.push(`${kase.name}: no problem at ${where} says ${JSON.stringify(problem.messageContains)}`);
      }
      if (problem.line !== undefined && !lines.some((line) => line.includes(`(line ${problem.line}, column ${problem.column})`))) {
        wrong.push(`${kase.name}: not at line ${problem.line}, column ${problem.column}`);
      }
    }
  }
  return wrong;
}
