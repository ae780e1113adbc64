//! Native and wasm must agree bit for bit: one million generated targeting keys
//! (ASCII, non-ASCII, empty, very long) go through the native crate and through
//! the npm package in Node (tests/js/parity.mjs), and every bucket, `isEnabled`
//! and full evaluation of the default plan must be identical.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};

use evaluator::{Evaluator, Salt};
use serde_json::{Value, json};
use stagegate_tests::{default_plan, npm_package, root};

const KEYS: usize = 1_000_000;

/// splitmix64: a tiny deterministic generator, so every run checks the same keys.
struct Keys(u64);

impl Keys {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn key(&mut self, i: usize) -> String {
        const WIDE: [char; 16] = [
            'é', 'ß', 'ユ', 'ー', 'ザ', '中', '한', '😀', '🚀', '\u{301}', '\u{200d}', '\u{fffd}',
            'א', '\0', '\r', '\n',
        ];
        match i % 10 {
            _ if i % 10_000 == 9_999 => (0..10_000 + self.below(300))
                .map(|_| (b'a' + self.below(26) as u8) as char)
                .collect(),
            _ if i % 1_000 == 500 => String::new(),
            0..=3 => format!("user-{i}"),
            4..=6 => (0..self.below(40))
                .map(|_| (b' ' + self.below(95) as u8) as char)
                .collect(),
            _ => (0..self.below(24))
                .map(|_| {
                    if self.below(2) == 0 {
                        WIDE[self.below(WIDE.len())]
                    } else {
                        (b'a' + self.below(26) as u8) as char
                    }
                })
                .collect(),
        }
    }

    fn context(&mut self, key: String) -> Value {
        let mut context = json!({ "targetingKey": key });
        match self.below(4) {
            0 => {}
            n => context["platform"] = json!(["web", "ios", "android"][n - 1]),
        }
        match self.below(5) {
            0 => {}
            n => context["appVersion"] = json!(["3.4.1", "2.9.0", "3.0.0-beta.1", "latest"][n - 1]),
        }
        context
    }
}

/// The default plan with production at 25% and every kind of targeting switched on;
/// staging (100%, no constraints) takes the package's key-only path.
fn parity_plan() -> Value {
    let mut plan = default_plan();
    plan["rollouts"]["domain-migration"]["environments"]["production"] = json!({
        "activeStage": "stage-2",
        "killSwitch": false,
        "include": ["user-7", "user-70"],
        "exclude": ["user-8", ""],
        "constraints": [
            { "attribute": "platform", "operator": "notIn", "values": ["android"] },
            { "attribute": "appVersion", "operator": "semverGte", "value": "3.0.0" }
        ]
    });
    plan
}

#[test]
fn native_and_npm_package_agree_on_a_million_keys() {
    let package = npm_package();
    assert!(
        package.join("index.js").exists(),
        "the npm package is not built at {}: run `cargo xtask dist` (cargo xtask test does)",
        package.display()
    );
    let plan = parity_plan();
    let plan_path = root().join("target/parity-plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let evaluator = Evaluator::from_json(&plan.to_string()).unwrap();
    let salt = Salt::new("domain-migration");

    let mut node = Command::new("node")
        .arg(root().join("tests/js/parity.mjs"))
        .arg(package.join("node.js"))
        .arg(&plan_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node must be installed (Node.js 20 or later)");

    // Write the contexts from a second thread while this one reads the answers.
    let mut stdin = BufWriter::new(node.stdin.take().unwrap());
    let writer = std::thread::spawn(move || {
        let mut keys = Keys(0x5eed);
        let mut contexts = Vec::with_capacity(KEYS);
        for i in 0..KEYS {
            let key = keys.key(i);
            let context = keys.context(key);
            writeln!(stdin, "{context}").unwrap();
            contexts.push(context);
        }
        contexts
    });
    let lines: Vec<String> = BufReader::new(node.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    let contexts = writer.join().unwrap();
    assert!(node.wait().unwrap().success(), "tests/js/parity.mjs failed");
    assert_eq!(
        lines.len(),
        KEYS,
        "Node answered {} of {KEYS} keys",
        lines.len()
    );

    let mut differences = Vec::new();
    let mut seen = [0usize; 5];
    for (context, line) in contexts.into_iter().zip(&lines) {
        let key = context["targetingKey"].as_str().unwrap().to_string();
        // The same text Node reads, through the evaluator's own parser.
        let context = evaluator::json::parse(&context.to_string()).unwrap();
        let staging = evaluator.evaluate_value("domain-migration", "staging", context.clone());
        let evaluation = evaluator.evaluate_value("domain-migration", "production", context);
        seen[evaluation.reason as usize] += 1;
        let native = json!([
            salt.bucket(&key),
            evaluator.is_enabled("domain-migration", "useDomainEntities", "production", &key),
            evaluation,
            staging,
        ]);
        let wasm: Value = serde_json::from_str(line).unwrap();
        if native != wasm && differences.len() < 5 {
            differences.push(format!(
                "key {key:.60?}\n  native {native}\n  wasm   {wasm}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "native and wasm differ:\n{}",
        differences.join("\n")
    );
    // The keys exercised every branch: SPLIT, TARGETING_MATCH, and ERROR (bad versions).
    assert!(
        seen.iter().filter(|&&n| n > 0).count() >= 3,
        "reasons seen: {seen:?}"
    );
}
