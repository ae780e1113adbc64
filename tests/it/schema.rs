//! The committed JSON Schema of the plan document must match the Rust types.
//! Regenerate with `STAGEGATE_BLESS=1 cargo test -p stagegate-tests --test it schema`.

use evaluator::Plan;

#[test]
fn committed_schema_is_current() {
    let path = stagegate_tests::root().join("evaluator/plan.schema.json");
    let generated = serde_json::to_string_pretty(&schemars::schema_for!(Plan)).unwrap() + "\n";
    if std::env::var_os("STAGEGATE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run STAGEGATE_BLESS=1 cargo test -p stagegate-tests --test it schema",
        path.display()
    );
}
