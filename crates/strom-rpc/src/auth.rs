//! Proof of the cluster secret: HMAC-SHA256 (ring, already in the build for TLS) over the
//! JobManager's per-connection nonce and the TaskManager's resource id.

use ring::hmac;

fn message(nonce: &str, resource_id: &str) -> Vec<u8> {
    format!("strom-register\n{nonce}\n{resource_id}").into_bytes()
}

/// A fresh random nonce (128 bits, hex).
pub fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The proof a TaskManager sends for `nonce`.
pub fn proof(secret: &str, nonce: &str, resource_id: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(hmac::sign(&key, &message(nonce, resource_id)).as_ref())
}

/// Whether `proof` proves `secret` for `nonce` and `resource_id` (constant-time comparison).
pub fn verify(secret: &str, nonce: &str, resource_id: &str, proof: &str) -> bool {
    let Ok(tag) = hex::decode(proof) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, &message(nonce, resource_id), &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_bind_secret_nonce_and_resource_id() {
        let n = nonce();
        let p = proof("s3cret", &n, "tm-1");
        assert!(verify("s3cret", &n, "tm-1", &p));
        assert!(!verify("other", &n, "tm-1", &p));
        assert!(
            !verify("s3cret", &nonce(), "tm-1", &p),
            "a replay on another connection fails"
        );
        assert!(!verify("s3cret", &n, "tm-2", &p));
        assert!(!verify("s3cret", &n, "tm-1", "zz"));
        assert_ne!(nonce(), nonce());
    }
}
