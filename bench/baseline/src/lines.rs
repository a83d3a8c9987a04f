//! `word,ts_ms` lines read in large chunks, without copying a line.

use std::io::Read;

use anyhow::{Context, bail};

const CHUNK: usize = 4 << 20;

/// Calls `each(word, ts_ms)` for every line of `input`.
pub(crate) fn for_each_record(
    mut input: impl Read,
    mut each: impl FnMut(&[u8], i64),
) -> anyhow::Result<()> {
    let mut buffer = vec![0u8; CHUNK];
    // Bytes of a line cut by the previous chunk's end sit at the start of the buffer.
    let mut carried = 0;
    loop {
        let read = input.read(&mut buffer[carried..]).context("read failed")?;
        let filled = carried + read;
        let complete = if read == 0 {
            filled
        } else {
            match memchr::memrchr(b'\n', &buffer[..filled]) {
                Some(last) => last + 1,
                None if filled == buffer.len() => bail!("a line longer than {CHUNK} bytes"),
                None => {
                    carried = filled;
                    continue;
                }
            }
        };
        for line in buffer[..complete].split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let comma = memchr::memchr(b',', line).context("a line without a comma")?;
            each(&line[..comma], parse_i64(&line[comma + 1..])?);
        }
        if read == 0 {
            return Ok(());
        }
        buffer.copy_within(complete..filled, 0);
        carried = filled - complete;
    }
}

fn parse_i64(digits: &[u8]) -> anyhow::Result<i64> {
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() {
        bail!("an empty number");
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            bail!("not a number: {}", String::from_utf8_lossy(digits));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(d - b'0')))
            .context("a number out of range")?;
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cut_by_chunks_are_read_whole() {
        let text: String = (0..300_000).map(|i| format!("w{},{i}\n", i % 7)).collect();
        let mut seen = Vec::new();
        for_each_record(text.as_bytes(), |w, ts| seen.push((w.to_vec(), ts))).unwrap();
        assert_eq!(seen.len(), 300_000);
        assert_eq!(seen[299_999], (b"w0".to_vec(), 299_999));
        assert!(seen.iter().enumerate().all(|(i, (_, ts))| *ts == i as i64));
    }

    #[test]
    fn bad_numbers_are_errors() {
        assert!(for_each_record("a,1x\n".as_bytes(), |_, _| {}).is_err());
        assert!(for_each_record("a\n".as_bytes(), |_, _| {}).is_err());
        assert!(for_each_record("a,-5".as_bytes(), |_, ts| assert_eq!(ts, -5)).is_ok());
    }
}
