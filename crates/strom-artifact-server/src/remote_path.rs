//! Remote paths: the sandbox-relative names artifacts are registered and requested under.
//!
//! A remote path is both the URL suffix after the server prefix and the Mesos fetcher
//! `output_file`, so it must be safe in both places: relative, `/`-separated, no `.`/`..`, no
//! empty segments, no backslashes, no control characters. Requested paths are percent-decoded and
//! validated with the same rules; encoded separators (`%2F`, `%5C`) are refused outright so that a
//! single segment can never decode into two. The result is only ever used as a key of the
//! registry, never joined onto a filesystem path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::RemotePathError;

/// Characters escaped inside one URL path segment: everything except RFC 3986 "unreserved".
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Checks that `remote` is an acceptable artifact path.
pub(crate) fn validate(remote: &str) -> Result<(), RemotePathError> {
    if remote.is_empty() {
        return Err(RemotePathError::Empty);
    }
    if remote.starts_with('/') {
        return Err(RemotePathError::Absolute);
    }
    if remote.contains('\\') {
        return Err(RemotePathError::Backslash);
    }
    if remote.chars().any(char::is_control) {
        return Err(RemotePathError::ControlCharacter);
    }
    for segment in remote.split('/') {
        match segment {
            "" => return Err(RemotePathError::EmptySegment),
            "." | ".." => return Err(RemotePathError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// Percent-encodes a valid remote path for use in a URL, segment by segment.
pub(crate) fn encode(remote: &str) -> String {
    remote
        .split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Decodes the part of a request path after the server prefix into a remote path.
pub(crate) fn decode_request(raw: &str) -> Result<String, RemotePathError> {
    let lowercase = raw.to_ascii_lowercase();
    if lowercase.contains("%2f") || lowercase.contains("%5c") {
        return Err(RemotePathError::EncodedSeparator);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| RemotePathError::InvalidUtf8)?
        .into_owned();
    validate(&decoded)?;
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for remote in [
            "bin/strom",
            "conf/strom.yaml",
            "lib/a b+c.jar",
            ".hidden",
            "..dots..",
            "a/b/c/d",
            "ünïcode/名前",
        ] {
            assert_eq!(validate(remote), Ok(()), "{remote}");
        }
    }

    #[test]
    fn rejects_bad_remote_paths() {
        use RemotePathError::*;
        let table: &[(&str, RemotePathError)] = &[
            ("", Empty),
            ("/etc/passwd", Absolute),
            ("/", Absolute),
            ("..", DotSegment),
            ("../secret", DotSegment),
            ("conf/../../secret", DotSegment),
            ("conf/..", DotSegment),
            ("./bin/strom", DotSegment),
            ("bin/./strom", DotSegment),
            ("bin//strom", EmptySegment),
            ("bin/", EmptySegment),
            ("..\\secret", Backslash),
            ("conf\\strom.yaml", Backslash),
            ("C:\\strom", Backslash),
            ("bin/strom\0", ControlCharacter),
            ("bin/str\nom", ControlCharacter),
            ("bin/\x7f", ControlCharacter),
        ];
        for (remote, expected) in table {
            assert_eq!(validate(remote), Err(*expected), "{remote:?}");
        }
    }

    #[test]
    fn decodes_requests() {
        assert_eq!(decode_request("bin/strom").as_deref(), Ok("bin/strom"));
        assert_eq!(
            decode_request("lib/a%20b%2Bc.jar").as_deref(),
            Ok("lib/a b+c.jar")
        );
        assert_eq!(decode_request("%C3%BC").as_deref(), Ok("ü"));
    }

    #[test]
    fn rejects_bad_requests() {
        use RemotePathError::*;
        let table: &[(&str, RemotePathError)] = &[
            ("", Empty),
            ("../secret", DotSegment),
            ("%2e%2e/secret", DotSegment),
            ("%2E%2E/secret", DotSegment),
            (".%2e/secret", DotSegment),
            ("conf/%2e", DotSegment),
            ("conf%2fstrom.yaml", EncodedSeparator),
            ("conf%2Fstrom.yaml", EncodedSeparator),
            ("%2e%2e%2fsecret", EncodedSeparator),
            ("..%5csecret", EncodedSeparator),
            ("/etc/passwd", Absolute),
            ("conf\\strom.yaml", Backslash),
            ("bin%00", ControlCharacter),
            ("bin%0a", ControlCharacter),
            ("%ff%fe", InvalidUtf8),
            ("bin//strom", EmptySegment),
        ];
        for (raw, expected) in table {
            assert_eq!(decode_request(raw), Err(*expected), "{raw:?}");
        }
    }

    #[test]
    fn encoding_round_trips() {
        for remote in ["bin/strom", "lib/a b+c%.jar", "ü/名前", "x?y#z"] {
            let encoded = encode(remote);
            assert!(!encoded.contains(['?', '#', ' ']), "{encoded}");
            assert_eq!(decode_request(&encoded).as_deref(), Ok(remote));
        }
    }
}
