//! The offline commands: validate, eval, bucket, user.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_stagegate");
const DEFAULT_PLAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../static/default-plan.json");

fn run(args: &[&str]) -> Output {
    Command::new(BINARY).args(args).output().unwrap()
}

fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_accepts_the_default_plan() {
    let output = run(&["validate", DEFAULT_PLAN]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert_eq!(text(&output.stdout), "ok: 1 rollout, revision 0\n");
}

#[test]
fn validate_lists_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DEFAULT_PLAN).unwrap()).unwrap();
    plan["rollouts"]["domain-migration"]["stages"][0]["percentage"] = 101.into();
    plan["rollouts"]["domain-migration"]["environments"]["production"]["activeStage"] =
        "stage-9".into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, plan.to_string()).unwrap();
    let output = run(&["validate", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let lines = text(&output.stdout);
    assert!(
        lines
            .lines()
            .any(|l| l.starts_with("/rollouts/domain-migration/stages/0/percentage: ")),
        "{lines}"
    );
    assert!(lines.lines().any(|l| {
        l.starts_with("/rollouts/domain-migration/environments/production/activeStage: ")
    }));

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\n  \"schemaVersion\": 1,\n  \"rollouts\": {]\n}").unwrap();
    let output = run(&["validate", broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains("(line 3, column"),
        "{}",
        text(&output.stdout)
    );

    let output = run(&[
        "validate",
        dir.path().join("missing.json").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("missing.json"));

    let output = run_with_stdin(&["validate", "-"], b"[]");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn eval_prints_the_evaluation() {
    let output = run(&[
        "eval",
        "--plan",
        DEFAULT_PLAN,
        "--rollout",
        "domain-migration",
        "--env",
        "staging",
        "--unit",
        "user-42",
        "--attr",
        "platform=web",
        "--attr",
        "beta=true",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let evaluation: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(evaluation["bucket"], 7035);
    assert_eq!(evaluation["stage"], "stage-4");
    assert_eq!(evaluation["inRollout"], true);
    assert_eq!(evaluation["reason"], "SPLIT");
    assert_eq!(evaluation["values"]["useDomainEntities"], true);

    let output = run(&[
        "eval",
        "--plan",
        DEFAULT_PLAN,
        "--rollout",
        "nope",
        "--env",
        "staging",
        "--unit",
        "u",
    ]);
    let evaluation: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(evaluation["errorCode"], "FLAG_NOT_FOUND");

    let output = run(&[
        "eval",
        "--plan",
        DEFAULT_PLAN,
        "--rollout",
        "r",
        "--env",
        "e",
        "--unit",
        "u",
        "--attr",
        "oops",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("key=value"));
}

#[test]
fn bucket_matches_the_spec_reference_values() {
    for (salt, unit, bucket) in [
        ("domain-migration", "user-42", "7035"),
        ("domain-migration", "user-1", "2624"),
        ("domain-migration", "ユーザー", "6724"),
        ("salt", "😀", "8217"),
    ] {
        let output = run(&["bucket", "--salt", salt, "--unit", unit]);
        assert_eq!(text(&output.stdout), format!("{bucket}\n"), "{salt} {unit}");
    }
}

#[test]
fn bucket_streams_lf_separated_ids() {
    let output = run_with_stdin(
        &["bucket", "--salt", "domain-migration"],
        "user-42\nuser-1\nユーザー\nuser-1\r\n\nuser-42".as_bytes(),
    );
    assert!(output.status.success());
    let cr = evaluator::bucket("domain-migration", "user-1\r");
    let empty = evaluator::bucket("domain-migration", "");
    assert_eq!(
        text(&output.stdout),
        format!("7035\n2624\n6724\n{cr}\n{empty}\n7035\n")
    );
    assert!(
        run_with_stdin(&["bucket", "--salt", "s"], b"")
            .stdout
            .is_empty()
    );

    // Non-UTF-8 bytes are ids too, hashed as they are (not replaced by U+FFFD).
    let output = run_with_stdin(&["bucket", "--salt", "s"], b"\xff\xfe\n\xff\xfe");
    assert!(output.status.success());
    let raw = evaluator::bucket::Salt::new("s").bucket_bytes(b"\xff\xfe");
    assert_ne!(raw, evaluator::bucket("s", "\u{FFFD}\u{FFFD}"));
    assert_eq!(text(&output.stdout), format!("{raw}\n{raw}\n"));
}

#[test]
fn bucket_keeps_every_byte_but_lf_in_the_id() {
    // CR inside an id and before LF, an empty line (the empty id), a last line
    // without LF, and a line of a single CR: each is one id, one bucket, in order.
    let input = b"a\rb\nuser-1\r\n\n\r\n\n\nuser-42";
    let output = run_with_stdin(&["bucket", "--salt", "domain-migration"], input);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let expected: Vec<String> = ["a\rb", "user-1\r", "", "\r", "", "", "user-42"]
        .iter()
        .map(|id| format!("{}\n", evaluator::bucket("domain-migration", id)))
        .collect();
    assert_eq!(text(&output.stdout), expected.concat());
    assert!(text(&output.stdout).ends_with("7035\n"));
    // A trailing LF ends the last id; it does not start an empty one.
    let output = run_with_stdin(&["bucket", "--salt", "domain-migration"], b"user-42\n");
    assert_eq!(text(&output.stdout), "7035\n");
    let output = run_with_stdin(&["bucket", "--salt", "domain-migration"], b"\n");
    assert_eq!(
        text(&output.stdout),
        format!("{}\n", evaluator::bucket("domain-migration", ""))
    );
}

#[test]
fn validate_and_eval_reject_non_utf8_plans_as_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.json");
    std::fs::write(
        &file,
        b"{\"schemaVersion\": 1, \"rollouts\": {\"caf\xe9\": {}}}",
    )
    .unwrap();
    let output = run(&["validate", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains("not UTF-8"),
        "{}",
        text(&output.stdout)
    );
    let output = run_with_stdin(&["validate", "-"], b"\xff");
    assert_eq!(output.status.code(), Some(1));
    let output = run(&[
        "eval",
        "--plan",
        file.to_str().unwrap(),
        "--rollout",
        "r",
        "--env",
        "e",
        "--unit",
        "u",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!text(&output.stderr).contains("panicked"));
}

#[test]
fn bucket_streams_many_ids_in_order() {
    let ids: Vec<String> = (0..100_000).map(|i| format!("user-{i}")).collect();
    let output = run_with_stdin(
        &["bucket", "--salt", "domain-migration"],
        ids.join("\n").as_bytes(),
    );
    let buckets: Vec<u16> = text(&output.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), ids.len());
    assert_eq!(buckets.iter().filter(|&&b| b < 2500).count(), 24_988);
    assert_eq!(buckets[42], 7035);
}

#[test]
fn bucket_exits_quietly_when_the_reader_goes_away() {
    let mut child = Command::new(BINARY)
        .args(["bucket", "--salt", "s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let line = b"some-user-id\n".repeat(10_000);
        for _ in 0..100 {
            if stdin.write_all(&line).is_err() {
                break;
            }
        }
    });
    let mut first = [0u8; 5];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then close our end
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    feeder.join().unwrap();
    assert!(status.success(), "{status:?} {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn users_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = run(&["user", "add", "quinn", "--role", "qa-lead", "--data", data]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let token = stdout.lines().last().unwrap();
    assert!(token.starts_with("sg_") && token.len() == 67, "{stdout}");
    assert!(
        !std::fs::read_to_string(dir.path().join("users.json"))
            .unwrap()
            .contains(token)
    );

    let output = run(&["user", "add", "quinn", "--role", "viewer", "--data", data]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("already exists"));
    let output = run(&["user", "add", "zed", "--role", "king", "--data", data]);
    assert!(text(&output.stderr).contains("not a role"));

    let list = text(&run(&["user", "list", "--data", data]).stdout);
    assert!(list.starts_with("quinn\tqa-lead\t"), "{list}");
    assert!(
        run(&["user", "remove", "quinn", "--data", data])
            .status
            .success()
    );
    assert_eq!(
        run(&["user", "remove", "quinn", "--data", data])
            .status
            .code(),
        Some(1)
    );
    assert!(text(&run(&["user", "list", "--data", data]).stdout).is_empty());
}

#[test]
fn bad_arguments_are_usage_errors_not_panics() {
    for args in [
        &["bucket"][..],
        &["nope"],
        &["eval", "--plan"],
        &["user", "add", "x"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!text(&output.stderr).contains("panicked"));
    }
    assert!(run(&["--help"]).status.success());
    assert!(text(&run(&["eval", "--help"]).stdout).contains("JSON number or boolean"));
}
