//! Webhook signatures in Stripe's scheme, used to verify Stripe's webhooks and to sign the
//! sandbox gateway's, so both arrive through the same code.
//!
//! The `Stripe-Signature` header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`; each
//! `v1` is HMAC-SHA256 under the endpoint secret of `"<t>.<raw body>"`. A delivery is
//! accepted when any `v1` matches (Stripe sends several while a secret is being rolled) and
//! `t` is within the tolerance of now (300 s by default) in either direction. Verification
//! runs on the raw bytes of the body, before any parsing.

use ring::hmac;

/// Default tolerance between the signed timestamp and now, seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a delivery's signature was refused. None of these reveal the expected signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("no v1 signature in the Stripe-Signature header")]
    NoV1,
    #[error("signature does not match the body")]
    Mismatch,
    #[error("signed timestamp is {0} s away from now, beyond the tolerance")]
    OutsideTolerance(i64),
}

/// The `Stripe-Signature` header for `body` signed with `secret` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex(&mac(secret, timestamp, body)))
}

/// Verifies a delivery; returns the signed timestamp.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed)?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::Malformed);
                }
            }
            "v1" => candidates.push(unhex(value).ok_or(SignatureError::Malformed)?),
            // v0 and future schemes are ignored, as Stripe documents.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::NoV1);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let message = signed_payload(timestamp, body);
    if !candidates
        .iter()
        .any(|sig| hmac::verify(&key, &message, sig).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    let skew = now.saturating_sub(timestamp);
    if skew.abs() > tolerance_secs {
        return Err(SignatureError::OutsideTolerance(skew));
    }
    Ok(timestamp)
}

fn signed_payload(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    message
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::sign(&key, &signed_payload(timestamp, body))
        .as_ref()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || text.is_empty() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;

    fn check(header: Option<&str>, body: &[u8]) -> Result<i64, SignatureError> {
        verify(header, body, SECRET, NOW, DEFAULT_TOLERANCE_SECS)
    }

    #[test]
    fn a_signed_body_verifies_and_any_v1_may_match() {
        let header = sign(SECRET, NOW - 10, BODY);
        assert_eq!(check(Some(&header), BODY), Ok(NOW - 10));
        let rolled = format!(
            "t={},v1={},v1={},v0=deadbeef",
            NOW,
            "00".repeat(32),
            &sign(SECRET, NOW, BODY)[format!("t={NOW},v1=").len()..]
        );
        assert_eq!(check(Some(&rolled), BODY), Ok(NOW));
        let spaced = sign(SECRET, NOW, BODY).replace(',', ", ");
        assert_eq!(check(Some(&spaced), BODY), Ok(NOW));
    }

    #[test]
    fn missing_malformed_and_v0_only_headers_are_refused() {
        assert_eq!(check(None, BODY), Err(SignatureError::Missing));
        for bad in [
            "",
            "garbage",
            "t=abc,v1=00",
            "v1=00ff",
            "t=1,t=2,v1=00",
            "t=1,v1=0g",
        ] {
            assert_eq!(
                check(Some(bad), BODY),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            check(Some(&format!("t={NOW},v0=00ff")), BODY),
            Err(SignatureError::NoV1)
        );
    }

    #[test]
    fn wrong_secret_or_one_changed_byte_is_a_mismatch() {
        let header = sign("whsec_other", NOW, BODY);
        assert_eq!(check(Some(&header), BODY), Err(SignatureError::Mismatch));
        let header = sign(SECRET, NOW, BODY);
        let mut changed = BODY.to_vec();
        changed[10] ^= 1;
        assert_eq!(
            check(Some(&header), &changed),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too: moving it breaks the signature.
        let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW - 1));
        assert_eq!(check(Some(&moved), BODY), Err(SignatureError::Mismatch));
    }

    #[test]
    fn timestamps_beyond_the_tolerance_either_way_are_refused() {
        for t in [NOW - 301, NOW + 301] {
            let header = sign(SECRET, t, BODY);
            assert!(matches!(
                check(Some(&header), BODY),
                Err(SignatureError::OutsideTolerance(_))
            ));
        }
        for t in [NOW - 300, NOW + 300] {
            assert_eq!(check(Some(&sign(SECRET, t, BODY)), BODY), Ok(t));
        }
    }

    #[test]
    fn matches_stripes_published_construction() {
        // HMAC-SHA256("whsec_test_secret", "1800000000.{body}") computed independently
        // with `openssl dgst -sha256 -hmac`.
        assert_eq!(
            sign(SECRET, NOW, BODY),
            "t=1800000000,v1=a5e7a4e212d19ae228f9bbfe2fd930bb48cd47c3dc118985dcb4103da864e05f"
        );
    }
}
