//! `debezium-json` values: Debezium's change events (`{"before": ..., "after": ..., "op": ...}`,
//! inside `{"schema": ..., "payload": ...}` with `debezium-json.schema-include`) read as a
//! changelog, as Flink's format reads them: `c` (create) and `r` (snapshot read) insert the
//! `after` row, `u` retracts `before` and adds `after`, `d` deletes `before`. Tombstones (no
//! value), which Debezium sends after a delete for log compaction, are skipped.

use serde_json::Value;

use super::layout::Message;
use crate::ops::RowKind;

/// The rows of change events, each as a message whose value is the row's JSON object.
/// An event that is not Debezium's is an error naming its partition and offset, unless
/// `ignore` (then it is skipped).
pub(crate) fn changes(
    messages: Vec<Message>,
    schema_include: bool,
    ignore: bool,
) -> Result<Vec<(Message, RowKind)>, String> {
    let mut out = Vec::with_capacity(messages.len());
    for message in messages {
        let Some(value) = &message.value else {
            continue;
        };
        match event(value, schema_include) {
            Ok(rows) => {
                for (row, kind) in rows {
                    out.push((
                        Message {
                            value: Some(row),
                            ..message.clone()
                        },
                        kind,
                    ));
                }
            }
            Err(_) if ignore => {}
            Err(problem) => {
                return Err(format!(
                    "message at offset {} of {}-{}: not a Debezium change event: {problem}",
                    message.offset, message.topic, message.partition
                ));
            }
        }
    }
    Ok(out)
}

fn event(bytes: &[u8], schema_include: bool) -> Result<Vec<(Vec<u8>, RowKind)>, String> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if schema_include {
        value = value
            .get_mut("payload")
            .map(Value::take)
            .ok_or("no \"payload\" ('debezium-json.schema-include' is on)")?;
    }
    let row = |name: &str| -> Result<Vec<u8>, String> {
        match value.get(name) {
            Some(row @ Value::Object(_)) => serde_json::to_vec(row).map_err(|e| e.to_string()),
            _ => Err(format!("no \"{name}\" row")),
        }
    };
    let op = value.get("op").and_then(Value::as_str).ok_or("no \"op\"")?;
    Ok(match op {
        "c" | "r" => vec![(row("after")?, RowKind::Insert)],
        "u" => vec![
            (row("before")?, RowKind::UpdateBefore),
            (row("after")?, RowKind::UpdateAfter),
        ],
        "d" => vec![(row("before")?, RowKind::Delete)],
        other => return Err(format!("unknown \"op\" '{other}'")),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn message(offset: i64, value: &str) -> Message {
        Message {
            topic: Arc::from("db.items"),
            partition: 0,
            offset,
            timestamp: None,
            timestamp_type: "CreateTime",
            key: None,
            value: Some(value.as_bytes().to_vec()),
        }
    }

    #[test]
    fn change_events_become_flinks_row_kinds() {
        let events = vec![
            message(
                0,
                r#"{"before": null, "after": {"id": 1, "n": "a"}, "op": "r"}"#,
            ),
            message(
                1,
                r#"{"before": {"id": 1, "n": "a"}, "after": {"id": 1, "n": "b"}, "op": "u"}"#,
            ),
            message(
                2,
                r#"{"before": {"id": 1, "n": "b"}, "after": null, "op": "d"}"#,
            ),
        ];
        let read = changes(events, false, false).unwrap();
        let rendered: Vec<String> = read
            .iter()
            .map(|(m, k)| {
                format!(
                    "{}{}",
                    k.short(),
                    String::from_utf8_lossy(m.value.as_deref().unwrap())
                )
            })
            .collect();
        assert_eq!(
            rendered,
            [
                r#"+I{"id":1,"n":"a"}"#,
                r#"-U{"id":1,"n":"a"}"#,
                r#"+U{"id":1,"n":"b"}"#,
                r#"-D{"id":1,"n":"b"}"#
            ]
        );
        let wrapped = message(
            3,
            r#"{"schema": {}, "payload": {"after": {"id": 2}, "op": "c"}}"#,
        );
        assert_eq!(changes(vec![wrapped], true, false).unwrap().len(), 1);
        let err = changes(vec![message(4, r#"{"op": "x"}"#)], false, false).unwrap_err();
        assert!(
            err.contains("offset 4 of db.items-0") && err.contains("'x'"),
            "{err}"
        );
        assert!(
            changes(vec![message(5, "nope")], false, true)
                .unwrap()
                .is_empty()
        );
    }
}
