//! `socket`: CSV lines read from a TCP server (`hostname`, `port`), as Flink's socket example
//! connector. Always one subtask; the job runs until the server closes the connection.
//!
//! The source trait is polled without blocking, so a thread reads the socket and hands lines
//! over a channel.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Cursor};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use arrow_schema::{Schema, SchemaRef};
use strom_operators::{BATCH_ROWS, OperatorError, Source, SourcePoll};

use super::{Traits, failure, number};

pub(super) const OPTIONS: &[&str] = &[
    "connector",
    "hostname",
    "port",
    "format",
    "csv.field-delimiter",
];

pub(super) fn validate(
    options: &BTreeMap<String, String>,
    _schema: &Schema,
) -> Result<Traits, (String, String)> {
    let _ = number::<u16>(options, "port")?;
    if options
        .get("csv.field-delimiter")
        .is_some_and(|d| d.len() != 1)
    {
        return Err((
            "csv.field-delimiter".into(),
            "expected a single character".into(),
        ));
    }
    if options.get("format").is_some_and(|f| f != "csv") {
        return Err(("format".into(), "the socket connector reads 'csv'".into()));
    }
    Ok(Traits {
        bounded: false,
        single: true,
        updating: false,
    })
}

/// Lines from a socket, parsed as CSV in batches.
pub(crate) struct SocketSource {
    schema: SchemaRef,
    delimiter: u8,
    lines: Receiver<std::io::Result<Vec<u8>>>,
    ended: bool,
}

impl SocketSource {
    pub(crate) fn connect(
        options: &BTreeMap<String, String>,
        schema: SchemaRef,
    ) -> Result<Self, OperatorError> {
        let host = options.get("hostname").cloned().unwrap_or_default();
        let port = options.get("port").cloned().unwrap_or_default();
        let address = format!("{host}:{port}");
        let stream = TcpStream::connect(&address)
            .map_err(|e| failure(format!("cannot connect to socket {address}: {e}")))?;
        let (sender, lines) = mpsc::sync_channel(BATCH_ROWS * 4);
        std::thread::Builder::new()
            .name("socket-source".into())
            .spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = Vec::new();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) => return,
                        Ok(_) => {
                            if sender.send(Ok(line)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = sender.send(Err(e));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| failure(format!("cannot start the socket reader: {e}")))?;
        let delimiter = options
            .get("csv.field-delimiter")
            .and_then(|d| d.bytes().next())
            .unwrap_or(b',');
        Ok(Self {
            schema,
            delimiter,
            lines,
            ended: false,
        })
    }
}

impl Source for SocketSource {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        let mut text = Vec::new();
        let mut rows = 0;
        while rows < BATCH_ROWS && !self.ended {
            match self.lines.try_recv() {
                Ok(Ok(mut line)) => {
                    if !line.ends_with(b"\n") {
                        line.push(b'\n');
                    }
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    text.extend_from_slice(&line);
                    rows += 1;
                }
                Ok(Err(e)) => return Err(failure(format!("socket read failed: {e}"))),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => self.ended = true,
            }
        }
        if rows == 0 {
            return Ok(if self.ended {
                SourcePoll::Finished
            } else {
                SourcePoll::Wait(Duration::from_millis(5))
            });
        }
        let mut reader = arrow::csv::ReaderBuilder::new(std::sync::Arc::clone(&self.schema))
            .with_header(false)
            .with_delimiter(self.delimiter)
            .with_batch_size(BATCH_ROWS)
            .build(Cursor::new(text))?;
        match reader.next() {
            Some(batch) => {
                Ok(SourcePoll::Batch(batch.map_err(|e| {
                    failure(format!("malformed socket line: {e}"))
                })?))
            }
            None => Ok(SourcePoll::Wait(Duration::from_millis(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field};
    use std::io::Write;

    #[test]
    fn reads_csv_lines_until_the_server_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"a,1\nb,2\n\nc,3").unwrap();
        });
        let options: BTreeMap<String, String> = [
            ("connector", "socket"),
            ("hostname", "127.0.0.1"),
            ("port", &port.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        let mut source = SocketSource::connect(&options, schema).unwrap();
        server.join().unwrap();
        let mut values = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "the source did not end"
            );
            match source.poll_next().unwrap() {
                SourcePoll::Batch(batch) => {
                    let v = batch
                        .column(1)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap();
                    values.extend(v.values().iter().copied());
                }
                SourcePoll::Finished => break,
                SourcePoll::Wait(pause) => std::thread::sleep(pause),
                SourcePoll::Watermark(_) | SourcePoll::Idle => {}
            }
        }
        assert_eq!(values, vec![1, 2, 3]);
    }
}
