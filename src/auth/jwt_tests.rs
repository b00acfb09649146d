//! The JWT rejection suite: each forged or stale token fails for its own reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::*;

const ISS: &str = "https://broker.test";
const AUD: &str = "gpubroker-api";
const NOW: i64 = 1_800_000_000;

fn der() -> &'static [u8] {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    DER.get_or_init(|| generate_pkcs8().unwrap())
}

fn keys() -> JwtKeys {
    JwtKeys::from_pkcs8("k1", der(), ISS, AUD).unwrap()
}

fn header() -> Value {
    json!({ "alg": "RS256", "typ": "JWT", "kid": "k1" })
}

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "u1", "role": "user", "iat": NOW, "nbf": NOW,
        "exp": NOW + ACCESS_TTL_SECS, "typ": "access", "jti": "j1"
    })
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn forged(header: &Value, claims: &Value) -> String {
    keys().sign_parts(header, claims).unwrap()
}

fn b64(v: &Value) -> String {
    B64URL.encode(v.to_string())
}

#[test]
fn issued_tokens_verify() {
    let keys = keys();
    let (token, claims) = keys.issue("u1", "admin", 0, NOW).unwrap();
    assert_eq!(keys.verify(&token, NOW).unwrap(), claims);
    assert_eq!(claims.exp - claims.iat, 900);
    assert_eq!(
        keys.verify(&token, NOW + ACCESS_TTL_SECS + LEEWAY_SECS)
            .unwrap(),
        claims
    );
}

#[test]
fn expired() {
    let token = keys().issue("u1", "user", 0, NOW).unwrap().0;
    let later = NOW + ACCESS_TTL_SECS + LEEWAY_SECS + 1;
    assert_eq!(keys().verify(&token, later), Err(JwtError::Expired));
}

#[test]
fn not_yet_valid() {
    let token = forged(
        &header(),
        &with(claims(), "nbf", json!(NOW + LEEWAY_SECS + 1)),
    );
    assert_eq!(keys().verify(&token, NOW), Err(JwtError::NotYetValid));
    let within_leeway = forged(&header(), &with(claims(), "nbf", json!(NOW + LEEWAY_SECS)));
    assert!(keys().verify(&within_leeway, NOW).is_ok());
}

#[test]
fn wrong_audience() {
    let token = forged(&header(), &with(claims(), "aud", json!("other-api")));
    assert_eq!(keys().verify(&token, NOW), Err(JwtError::Audience));
}

#[test]
fn wrong_issuer() {
    let token = forged(
        &header(),
        &with(claims(), "iss", json!("https://evil.test")),
    );
    assert_eq!(keys().verify(&token, NOW), Err(JwtError::Issuer));
}

#[test]
fn alg_none() {
    let h = with(header(), "alg", json!("none"));
    let token = format!("{}.{}.", b64(&h), b64(&claims()));
    assert_eq!(
        keys().verify(&token, NOW),
        Err(JwtError::Algorithm("none".into()))
    );
}

#[test]
fn alg_hs256_with_the_public_key_as_secret() {
    let keys = keys();
    let h = with(header(), "alg", json!("HS256"));
    let input = format!("{}.{}", b64(&h), b64(&claims()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, keys.public_key());
    let tag = ring::hmac::sign(&key, input.as_bytes());
    let token = format!("{input}.{}", B64URL.encode(tag.as_ref()));
    assert_eq!(
        keys.verify(&token, NOW),
        Err(JwtError::Algorithm("HS256".into()))
    );
}

#[test]
fn tampered_payload() {
    let token = forged(&header(), &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let admin = with(claims(), "role", json!("admin"));
    let tampered = format!("{}.{}.{}", parts[0], b64(&admin), parts[2]);
    assert_eq!(keys().verify(&tampered, NOW), Err(JwtError::Signature));
}

#[test]
fn tampered_signature() {
    let token = forged(&header(), &claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = B64URL.decode(sig).unwrap();
    bytes[10] ^= 1;
    let tampered = format!("{input}.{}", B64URL.encode(bytes));
    assert_eq!(keys().verify(&tampered, NOW), Err(JwtError::Signature));
}

#[test]
fn unknown_kid() {
    let token = forged(&with(header(), "kid", json!("k2")), &claims());
    assert_eq!(keys().verify(&token, NOW), Err(JwtError::UnknownKid));
    let no_kid = forged(&json!({ "alg": "RS256" }), &claims());
    assert_eq!(keys().verify(&no_kid, NOW), Err(JwtError::UnknownKid));
}

#[test]
fn refresh_type_used_as_access() {
    let token = forged(&header(), &with(claims(), "typ", json!("refresh")));
    assert_eq!(keys().verify(&token, NOW), Err(JwtError::TokenType));
}

#[test]
fn garbage_segments() {
    let good = forged(&header(), &claims());
    let (_, rest) = good.split_once('.').unwrap();
    for token in [
        String::new(),
        "abc".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        "!!!.???.***".into(),
        format!("{}.{rest}", B64URL.encode("not json")),
        format!("{good}.extra"),
    ] {
        assert_eq!(
            keys().verify(&token, NOW),
            Err(JwtError::Malformed),
            "{token}"
        );
    }
}

#[test]
fn missing_exp_is_malformed() {
    let mut claims = claims();
    claims.as_object_mut().unwrap().remove("exp");
    let token = forged(&header(), &claims);
    assert_eq!(keys().verify(&token, NOW), Err(JwtError::Malformed));
}

#[test]
fn jku_x5u_and_embedded_jwk_headers_are_ignored() {
    // A token signed by an attacker's key that points at that key in every way a header
    // can: it is still checked against our key only.
    let attacker = JwtKeys::from_pkcs8("k1", &generate_pkcs8().unwrap(), ISS, AUD).unwrap();
    let header = json!({
        "alg": "RS256", "kid": "k1",
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "jwk": { "kty": "RSA", "n": "AQAB", "e": "AQAB" }
    });
    let token = attacker.sign_parts(&header, &claims()).unwrap();
    assert_eq!(keys().verify(&token, NOW), Err(JwtError::Signature));
    // The same headers on a token we signed change nothing either.
    assert!(keys().verify(&forged(&header, &claims()), NOW).is_ok());
}
