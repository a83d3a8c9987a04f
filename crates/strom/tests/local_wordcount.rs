//! The README's main command: word count on a local cluster of 2 TaskManagers at parallelism 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

fn parse_csv_line(line: &str) -> (String, u64) {
    let (word, count) = line
        .rsplit_once(',')
        .unwrap_or_else(|| panic!("not `word,count`: {line}"));
    let word = match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => word.to_owned(),
    };
    (word, count.parse().unwrap())
}

#[test]
fn wordcount_matches_the_shell_reference() {
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "2",
            "-Drest.port=0",
            "--run",
            "examples/wordcount.json",
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "strom failed: {stderr}");
    assert!(stderr.contains("2 TaskManager(s)"), "{stderr}");
    assert!(stderr.contains("finished"), "{stderr}");
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let (word, count) = parse_csv_line(line);
        assert!(
            counted.insert(word.clone(), count).is_none(),
            "{word} counted twice"
        );
    }
    // The shell reference: tr -s ' ' '\n' | sort | uniq -c
    let text =
        std::fs::read_to_string(support::workspace().join("examples/wordcount.txt")).unwrap();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for word in text.split_whitespace() {
        *expected.entry(word.to_owned()).or_insert(0) += 1;
    }
    assert_eq!(counted, expected);
}

#[test]
fn larger_generated_input_at_parallelism_4() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("words.txt");
    let mut text = String::new();
    for i in 0..20_000u64 {
        text.push_str(&format!("w{} w{}\n", i % 97, (i * 7) % 13));
    }
    std::fs::write(&input, &text).unwrap();
    let job = std::fs::read_to_string(support::workspace().join("examples/wordcount.json"))
        .unwrap()
        .replace(
            "\"wordcount.txt\"",
            &format!("{:?}", input.to_str().unwrap()),
        )
        .replace(
            "\"parallelism.default\": \"2\"",
            "\"parallelism.default\": \"4\"",
        );
    let job_file = dir.path().join("job.json");
    std::fs::write(&job_file, job).unwrap();
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "2",
            "-Dtaskmanager.numberOfTaskSlots=2",
            "-Drest.port=0",
            "--run",
            job_file.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let (word, count) = parse_csv_line(line);
        *counted.entry(word).or_insert(0) += count;
    }
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for word in text.split_whitespace() {
        *expected.entry(word.to_owned()).or_insert(0) += 1;
    }
    assert_eq!(counted, expected);
}
