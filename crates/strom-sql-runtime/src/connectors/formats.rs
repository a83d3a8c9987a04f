//! Record formats of message connectors (`kafka`, `upsert-kafka`): one record per message, in
//! Flink's `json`, `csv`, `raw` and `avro` ([`avro`](super::avro)) formats, decoded into Arrow
//! batches and encoded from them.
//!
//! A batch of messages is decoded in one pass of Arrow's JSON or CSV reader over the messages
//! joined by line breaks; only when that fails is each message decoded alone, to skip the bad
//! ones (`json.ignore-parse-errors`, `csv.ignore-parse-errors`) or to name the first one.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, SchemaRef};

/// A format and its options, for one set of columns (a message's value, or its key).
#[derive(Debug, Clone)]
pub(crate) struct Codec {
    kind: Kind,
    schema: SchemaRef,
    ignore_errors: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Json,
    Csv(u8),
    Raw,
    Avro(Box<super::avro::Avro>),
}

/// A message that could not be decoded: which one (its index in the batch) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub(crate) index: usize,
    pub(crate) problem: String,
}

impl Codec {
    /// The format named by option `format_key` (`format`, `value.format` or `key.format`), its
    /// options under `prefix` (`''`, `value.`, `key.`), for the columns of `schema`.
    pub(crate) fn from_options(
        options: &BTreeMap<String, String>,
        format_key: &str,
        prefix: &str,
        schema: SchemaRef,
    ) -> Result<Self, (String, String)> {
        let format = options.get(format_key).map(String::as_str).unwrap_or("");
        let flag = |key: String| -> Result<bool, (String, String)> {
            match options.get(&key).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(false),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(_) => Err((key, "expected 'true' or 'false'".into())),
            }
        };
        let (kind, ignore_errors) = match format {
            "json" => (
                Kind::Json,
                flag(format!("{prefix}json.ignore-parse-errors"))?,
            ),
            "csv" => {
                let key = format!("{prefix}csv.field-delimiter");
                let delimiter = match options.get(&key).map(String::as_str) {
                    None => b',',
                    Some("\\t") => b'\t',
                    Some(d) if d.len() == 1 => d.as_bytes()[0],
                    Some(_) => return Err((key, "expected a single character".into())),
                };
                (
                    Kind::Csv(delimiter),
                    flag(format!("{prefix}csv.ignore-parse-errors"))?,
                )
            }
            "raw" => {
                let one = matches!(schema.fields().iter().collect::<Vec<_>>().as_slice(),
                    [f] if matches!(f.data_type(), DataType::Utf8 | DataType::Binary));
                if !one {
                    return Err((
                        format_key.to_owned(),
                        "'raw' holds one STRING or BYTES column".into(),
                    ));
                }
                (Kind::Raw, false)
            }
            "avro" => (
                Kind::Avro(Box::new(
                    super::avro::Avro::new(&schema).map_err(|e| (format_key.to_owned(), e))?,
                )),
                false,
            ),
            "" => return Err((format_key.to_owned(), "a format is required".into())),
            other => {
                return Err((
                    format_key.to_owned(),
                    format!("'{other}' is not supported: 'json', 'csv', 'raw' or 'avro'"),
                ));
            }
        };
        Ok(Self {
            kind,
            schema,
            ignore_errors,
        })
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes messages into a batch. A message that cannot be decoded is skipped when the
    /// format ignores parse errors (its index is returned) and an error otherwise.
    pub(crate) fn decode(
        &self,
        messages: &[&[u8]],
    ) -> Result<(RecordBatch, Vec<usize>), DecodeError> {
        if let Ok(batch) = self.decode_all(messages) {
            return Ok((batch, Vec::new()));
        }
        let mut parts = Vec::with_capacity(messages.len());
        let mut skipped = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            match self.decode_all(&[message]) {
                Ok(batch) => parts.push(batch),
                Err(_) if self.ignore_errors => skipped.push(index),
                Err(problem) => return Err(DecodeError { index, problem }),
            }
        }
        let batch = arrow_select::concat::concat_batches(&self.schema, &parts).map_err(|e| {
            DecodeError {
                index: 0,
                problem: e.to_string(),
            }
        })?;
        Ok((batch, skipped))
    }

    fn decode_all(&self, messages: &[&[u8]]) -> Result<RecordBatch, String> {
        match &self.kind {
            Kind::Avro(avro) => {
                let lines = messages
                    .iter()
                    .map(|m| avro.json_of_datum(m))
                    .collect::<Result<Vec<_>, _>>()?;
                let json = Self {
                    kind: Kind::Json,
                    schema: avro.json_schema().clone(),
                    ignore_errors: false,
                };
                let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
                avro.to_table(&json.decode_all(&refs)?)
            }
            Kind::Raw => {
                let column: ArrayRef = match self.schema.field(0).data_type() {
                    DataType::Binary => Arc::new(BinaryArray::from_iter_values(messages.iter())),
                    _ => Arc::new(StringArray::from(
                        messages
                            .iter()
                            .map(|m| std::str::from_utf8(m).map_err(|e| e.to_string()))
                            .collect::<Result<Vec<_>, _>>()?,
                    )),
                };
                RecordBatch::try_new(self.schema.clone(), vec![column]).map_err(|e| e.to_string())
            }
            Kind::Json => {
                let mut decoder = arrow::json::ReaderBuilder::new(self.schema.clone())
                    .with_batch_size(messages.len().max(1))
                    .build_decoder()
                    .map_err(|e| e.to_string())?;
                for message in messages {
                    // A message must hold exactly one record.
                    let text = std::str::from_utf8(message).map_err(|e| e.to_string())?;
                    if text.trim().is_empty() || text.contains('\n') && !single_json(text) {
                        return Err("a message must hold one JSON object".into());
                    }
                    decoder.decode(message).map_err(|e| e.to_string())?;
                    decoder.decode(b"\n").map_err(|e| e.to_string())?;
                }
                let batch = decoder.flush().map_err(|e| e.to_string())?;
                let batch = batch.unwrap_or_else(|| RecordBatch::new_empty(self.schema.clone()));
                one_record_each(batch, messages.len())
            }
            &Kind::Csv(delimiter) => {
                let mut text = Vec::new();
                for message in messages {
                    let line = message.strip_suffix(b"\n").unwrap_or(message);
                    if line.contains(&b'\n') {
                        return Err("a message must hold one CSV line".into());
                    }
                    text.extend_from_slice(line);
                    text.push(b'\n');
                }
                let reader = arrow::csv::ReaderBuilder::new(self.schema.clone())
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_batch_size(messages.len().max(1))
                    .build_buffered(std::io::Cursor::new(text))
                    .map_err(|e| e.to_string())?;
                let batches = reader
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let batch = arrow_select::concat::concat_batches(&self.schema, &batches)
                    .map_err(|e| e.to_string())?;
                one_record_each(batch, messages.len())
            }
        }
    }

    /// Encodes each row of `batch` (the codec's columns) as one message.
    pub(crate) fn encode(&self, batch: &RecordBatch) -> Result<Vec<Vec<u8>>, String> {
        match &self.kind {
            Kind::Avro(avro) => {
                let json = Self {
                    kind: Kind::Json,
                    schema: avro.json_schema().clone(),
                    ignore_errors: false,
                };
                json.encode(&avro.to_json_side(batch)?)?
                    .iter()
                    .map(|line| avro.datum_of_json(line))
                    .collect()
            }
            Kind::Raw => {
                let column = batch.column(0);
                if let Some(bytes) = column.as_any().downcast_ref::<BinaryArray>() {
                    return Ok((0..bytes.len()).map(|i| bytes.value(i).to_vec()).collect());
                }
                let text = arrow_cast::cast(column, &DataType::Utf8).map_err(|e| e.to_string())?;
                let text = text
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or("a raw column that is not text")?;
                Ok((0..text.len())
                    .map(|i| text.value(i).as_bytes().to_vec())
                    .collect())
            }
            Kind::Json => {
                let mut out = Vec::new();
                {
                    let mut writer = arrow::json::LineDelimitedWriter::new(&mut out);
                    writer.write(batch).map_err(|e| e.to_string())?;
                    writer.finish().map_err(|e| e.to_string())?;
                }
                let lines = split_lines(&out, batch.num_rows());
                if lines.len() != batch.num_rows() {
                    return Err("JSON lines do not match the rows".into());
                }
                Ok(lines)
            }
            &Kind::Csv(delimiter) => {
                let mut out = Vec::new();
                {
                    let mut writer = arrow::csv::WriterBuilder::new()
                        .with_header(false)
                        .with_delimiter(delimiter)
                        .build(&mut out);
                    writer.write(batch).map_err(|e| e.to_string())?;
                }
                let lines = split_lines(&out, batch.num_rows());
                if lines.len() != batch.num_rows() {
                    return Err("a CSV value holds a line break".into());
                }
                Ok(lines)
            }
        }
    }
}

/// `batch`, when it has one record per message.
fn one_record_each(batch: RecordBatch, messages: usize) -> Result<RecordBatch, String> {
    if batch.num_rows() != messages {
        return Err(format!(
            "{messages} messages gave {} records",
            batch.num_rows()
        ));
    }
    Ok(batch)
}

/// Whether `text` with line breaks is still one JSON value (a pretty-printed object).
fn single_json(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object())
}

fn split_lines(out: &[u8], rows: usize) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = out.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.len() > rows && lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, TimestampMillisecondArray};
    use arrow_schema::{Field, Schema, TimeUnit};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    fn codec(pairs: &[(&str, &str)]) -> Result<Codec, (String, String)> {
        let options = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Codec::from_options(&options, "format", "", schema())
    }

    #[test]
    fn avro_datums_round_trip_with_flinks_schema() {
        let avro = codec(&[("format", "avro")]).unwrap();
        let json = codec(&[("format", "json")]).unwrap();
        let (rows, _) = json
            .decode(&[
                br#"{"id": 1, "name": "a", "ts": "2024-01-01 00:00:01.250"}"#,
                br#"{"id": 2}"#,
            ])
            .unwrap();
        let datums = avro.encode(&rows).unwrap();
        // id 1 (a long in a union: branch 1, zig-zag 2), then the name and the time.
        assert_eq!(&datums[0][..2], &[2, 2]);
        let refs: Vec<&[u8]> = datums.iter().map(Vec::as_slice).collect();
        let (back, skipped) = avro.decode(&refs).unwrap();
        assert!(skipped.is_empty());
        assert_eq!(json.encode(&back).unwrap(), json.encode(&rows).unwrap());
        let err = avro.decode(&[b"\x07"]).unwrap_err();
        assert_eq!(err.index, 0);
        let map = Arc::new(Schema::new(vec![Field::new(
            "d",
            DataType::Decimal128(10, 2),
            true,
        )]));
        let options = [("format".to_owned(), "avro".to_owned())]
            .into_iter()
            .collect();
        let err = Codec::from_options(&options, "format", "", map).unwrap_err();
        assert!(err.1.contains("`d`"), "{err:?}");
    }

    #[test]
    fn json_messages_round_trip_and_bad_ones_are_named_or_skipped() {
        let strict = codec(&[("format", "json")]).unwrap();
        let messages: Vec<&[u8]> = vec![
            br#"{"id": 1, "name": "a", "ts": "2024-01-01 00:00:01"}"#,
            br#"{"id": 2, "extra": true}"#,
        ];
        let (batch, skipped) = strict.decode(&messages).unwrap();
        assert!(skipped.is_empty());
        assert_eq!(batch.num_rows(), 2);
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(ids.values(), &[1, 2]);
        let ts = batch
            .column(2)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(ts.value(0), 1_704_067_201_000);
        assert!(batch.column(1).is_null(1));
        let encoded = strict.encode(&batch).unwrap();
        assert_eq!(encoded.len(), 2);
        let back: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        assert_eq!(strict.decode(&back).unwrap().0, batch);

        let bad: Vec<&[u8]> = vec![
            br#"{"id": 1}"#,
            b"{not json",
            br#"{"id": "x"}"#,
            br#"{"id": 4}"#,
        ];
        let error = strict.decode(&bad).unwrap_err();
        assert_eq!(error.index, 1, "{error:?}");
        let lenient = codec(&[("format", "json"), ("json.ignore-parse-errors", "true")]).unwrap();
        let (batch, skipped) = lenient.decode(&bad).unwrap();
        assert_eq!(skipped, vec![1, 2]);
        assert_eq!(batch.num_rows(), 2);
    }

    #[test]
    fn csv_and_raw_messages_are_one_record_each() {
        let csv = codec(&[("format", "csv"), ("csv.field-delimiter", "|")]).unwrap();
        let (batch, _) = csv.decode(&[b"1|a|2024-01-01 00:00:00\n", b"2||"]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            csv.encode(&batch).unwrap()[0],
            b"1|a|2024-01-01T00:00:00".to_vec()
        );
        assert!(csv.decode(&[b"1|a|x\n2|b|y"]).is_err());
        let raw_schema = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]));
        let options = BTreeMap::from([("value.format".to_owned(), "raw".to_owned())]);
        let raw = Codec::from_options(&options, "value.format", "value.", raw_schema).unwrap();
        let (batch, _) = raw.decode(&[b"a,b", b""]).unwrap();
        assert_eq!(
            raw.encode(&batch).unwrap(),
            vec![b"a,b".to_vec(), Vec::new()]
        );
        assert!(codec(&[("format", "raw")]).is_err());
        assert!(codec(&[("format", "protobuf")]).is_err());
        assert!(codec(&[("format", "json"), ("json.ignore-parse-errors", "yes")]).is_err());
    }
}
