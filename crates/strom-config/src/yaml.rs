//! YAML in and out: parses a configuration file into flat `key -> value` pairs (flat Flink keys
//! and nested maps alike) with serde-saphyr, and quotes keys and values for [`to_yaml`].
//!
//! [`to_yaml`]: crate::Configuration::to_yaml

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A YAML node with every scalar in its string form.
#[derive(Debug, PartialEq)]
enum Node {
    Null,
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Scalar(v))
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Node, E> {
        String::from_utf8(v.to_vec())
            .map(Node::Scalar)
            .map_err(|_| E::custom("binary values are not supported"))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

/// A flattened entry value: `None` when the YAML value was null (`key:` with nothing after it).
pub(crate) type FlatEntry = (String, Option<String>);

/// A problem with the file's content, reported by the loader together with the file name.
#[derive(Debug, PartialEq)]
pub(crate) enum YamlProblem {
    Syntax {
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    Structure(String),
}

/// Parses `text` and flattens nested maps with `.`: `rest: {port: 8081}` gives
/// `rest.port = 8081`. Scalars keep their string form, lists are `;`-joined.
pub(crate) fn parse_flat(text: &str) -> Result<Vec<FlatEntry>, YamlProblem> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options.strict_booleans = true;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    let node: Node = serde_saphyr::from_str_with_options(text, options).map_err(|err| {
        let location = err.location();
        let mut message = err.to_string();
        if let Some(location) = location {
            let suffix = format!(" at line {}, column {}", location.line(), location.column());
            if message.ends_with(&suffix) {
                message.truncate(message.len() - suffix.len());
            }
        }
        YamlProblem::Syntax {
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            message,
        }
    })?;
    let mut flat = Vec::new();
    match node {
        Node::Null => {}
        Node::Map(entries) => flatten_into(&mut flat, "", entries)?,
        Node::Scalar(_) | Node::Seq(_) => {
            return Err(YamlProblem::Structure(
                "must be a mapping of configuration keys to values".to_owned(),
            ));
        }
    }
    Ok(flat)
}

fn flatten_into(
    flat: &mut Vec<FlatEntry>,
    prefix: &str,
    entries: Vec<(Node, Node)>,
) -> Result<(), YamlProblem> {
    for (key, value) in entries {
        let Node::Scalar(key) = key else {
            return Err(YamlProblem::Structure(format!(
                "has a key under `{prefix}` that is not a plain value"
            )));
        };
        let key = format!("{prefix}{key}");
        match value {
            Node::Null => flat.push((key, None)),
            Node::Scalar(value) => flat.push((key, Some(value))),
            Node::Map(entries) => flatten_into(flat, &format!("{key}."), entries)?,
            Node::Seq(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Node::Scalar(value) => values.push(value),
                        Node::Null => {}
                        Node::Seq(_) | Node::Map(_) => {
                            return Err(YamlProblem::Structure(format!(
                                "has a nested list or map in the list of `{key}`"
                            )));
                        }
                    }
                }
                flat.push((key, Some(values.join(";"))));
            }
        }
    }
    Ok(())
}

/// `text` as a YAML scalar: plain when that reads back as the same string, else double-quoted.
pub(crate) fn quote(text: &str) -> String {
    if is_plain_safe(text) {
        return text.to_owned();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                quoted.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Conservative: only strings that YAML reads back as the identical string.
fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let safe_chars = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/' | '_' | '*'));
    if !safe_chars || first == '*' {
        return false;
    }
    let canonical_integer = text.parse::<u64>().is_ok_and(|n| n.to_string() == text);
    if canonical_integer {
        return true;
    }
    let reserved = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    ];
    (first.is_ascii_alphabetic() || first == '/' || first.is_ascii_digit())
        && text.chars().any(|c| c.is_ascii_alphabetic() || c == '/')
        && !reserved.iter().any(|word| text.eq_ignore_ascii_case(word))
        && text.parse::<f64>().is_err()
        && !text.get(..2).is_some_and(|p| {
            p.eq_ignore_ascii_case("0x")
                || p.eq_ignore_ascii_case("0o")
                || p.eq_ignore_ascii_case("0b")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str) -> Vec<(String, Option<String>)> {
        parse_flat(text).unwrap()
    }

    fn entry(key: &str, value: &str) -> (String, Option<String>) {
        (key.to_owned(), Some(value.to_owned()))
    }

    #[test]
    fn reads_flat_flink_conf_style() {
        let text = "jobmanager.rpc.address: am-host # comment\nrest.port: 8081\n\
                    web.submit.enable: false\n# whole-line comment\nratio: 0.5\nname: 'a # b'\n";
        assert_eq!(
            flat(text),
            [
                entry("jobmanager.rpc.address", "am-host"),
                entry("rest.port", "8081"),
                entry("web.submit.enable", "false"),
                entry("ratio", "0.5"),
                entry("name", "a # b"),
            ]
        );
    }

    #[test]
    fn flattens_nested_maps_and_lists() {
        let text = "rest:\n  port: 8081\n  address: x\nmesos:\n  resourcemanager.tasks.uris:\n    - a\n    - b\nempty:\n";
        assert_eq!(
            flat(text),
            [
                entry("rest.port", "8081"),
                entry("rest.address", "x"),
                entry("mesos.resourcemanager.tasks.uris", "a;b"),
                ("empty".to_owned(), None),
            ]
        );
    }

    #[test]
    fn keeps_scalar_spellings_that_matter() {
        assert_eq!(
            flat("a: 0755\nb: on\nc: 1_000\n"),
            [entry("a", "0755"), entry("b", "on"), entry("c", "1_000")]
        );
    }

    #[test]
    fn empty_and_comment_only_files_are_empty() {
        assert_eq!(flat(""), []);
        assert_eq!(flat("# nothing\n\n"), []);
    }

    #[test]
    fn rejects_non_mappings_and_garbage() {
        assert!(matches!(
            parse_flat("- a\n- b\n"),
            Err(YamlProblem::Structure(_))
        ));
        assert!(matches!(
            parse_flat("just text"),
            Err(YamlProblem::Structure(_))
        ));
        let err = parse_flat("a: b\n\tc: d\n").unwrap_err();
        assert!(
            matches!(err, YamlProblem::Syntax { line: Some(_), .. }),
            "{err:?}"
        );
        assert!(matches!(
            parse_flat("a: [b\n"),
            Err(YamlProblem::Syntax { .. })
        ));
        assert!(matches!(
            parse_flat("a: [[b]]\n"),
            Err(YamlProblem::Structure(_))
        ));
    }

    #[test]
    fn quotes_only_when_needed() {
        for plain in [
            "localhost",
            "1728m",
            "8081",
            "/strom",
            "rest.port",
            "a-b",
            "0",
        ] {
            assert_eq!(quote(plain), plain);
        }
        for (text, quoted) in [
            ("", "\"\""),
            ("true", "\"true\""),
            ("1.0", "\"1.0\""),
            ("0x1F", "\"0x1F\""),
            ("007", "\"007\""),
            ("50 s", "\"50 s\""),
            ("a: b", "\"a: b\""),
            ("say \"hi\"\n", "\"say \\\"hi\\\"\\n\""),
            ("*", "\"*\""),
            ("1e3", "\"1e3\""),
        ] {
            assert_eq!(quote(text), quoted, "{text:?}");
        }
    }
}
