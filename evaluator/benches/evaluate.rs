//! Native speed: ns per bucket, per evaluate and per is_enabled, over a million
//! distinct ids built before timing. `cargo bench -p stagegate-evaluator` (or
//! `cargo xtask bench`, which records the numbers).

use std::hint::black_box;
use std::time::Instant;

use evaluator::{Context, Evaluator, Salt};

const IDS: usize = 1_000_000;

/// Best of five passes over all ids, in ns per call.
fn time(label: &str, mut pass: impl FnMut() -> usize) {
    let mut best = f64::INFINITY;
    let mut checksum = 0;
    for _ in 0..5 {
        let start = Instant::now();
        checksum += pass();
        best = best.min(start.elapsed().as_nanos() as f64 / IDS as f64);
    }
    black_box(checksum);
    println!("native {label}: {best:.1} ns");
}

fn main() {
    let mut plan: serde_json::Value =
        serde_json::from_str(include_str!("../../static/default-plan.json"))
            .expect("default plan is JSON");
    plan["rollouts"]["domain-migration"]["environments"]["production"]["activeStage"] =
        "stage-2".into();
    let evaluator = Evaluator::from_json(&plan.to_string()).expect("default plan is valid");
    let ids: Vec<String> = (0..IDS).map(|i| format!("user-{i}")).collect();
    let contexts: Vec<Context> = ids
        .iter()
        .map(|id| Context::new(id.as_str()).with("platform", "web"))
        .collect();
    let salt = Salt::new("domain-migration");
    let gate = evaluator
        .gate("domain-migration", "useDomainEntities", "production")
        .expect("boolean flag");

    time("bucket (per id)", || {
        ids.iter()
            .map(|id| usize::from(salt.bucket(black_box(id))))
            .sum()
    });
    time("evaluate (25% stage, per call)", || {
        contexts
            .iter()
            .filter(|context| {
                evaluator
                    .evaluate(black_box("domain-migration"), "production", context)
                    .in_rollout
            })
            .count()
    });
    time("is_enabled (by names, per call)", || {
        ids.iter()
            .filter(|id| {
                evaluator.is_enabled("domain-migration", "useDomainEntities", "production", id)
            })
            .count()
    });
    time("is_enabled_at (prepared gate, per call)", || {
        ids.iter()
            .filter(|id| evaluator.is_enabled_at(gate, black_box(id)))
            .count()
    });
}
