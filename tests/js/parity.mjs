// Reads contexts as JSON lines on stdin; writes [bucket, isEnabled, evaluation in
// production (constraints), evaluation in staging (none)] per line, computed by the npm package. Driven by tests/it/parity.rs.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const [packagePath, planPath] = process.argv.slice(2);
const { init, bucket, Evaluator } = await import(packagePath);
await init();
const evaluator = new Evaluator(readFileSync(planPath, "utf8"));

const out = [];
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const context = JSON.parse(line);
  const key = context.targetingKey;
  out.push(
    JSON.stringify([
      bucket("domain-migration", key),
      evaluator.isEnabled("domain-migration", "useDomainEntities", "production", key),
      evaluator.evaluate("domain-migration", "production", context),
      evaluator.evaluate("domain-migration", "staging", context),
    ]),
  );
  if (out.length === 10_000) {
    process.stdout.write(out.join("\n") + "\n");
    out.length = 0;
  }
}
if (out.length) process.stdout.write(out.join("\n") + "\n");
