//! RS256 access tokens: signing with ring from a PKCS#8 RSA key, and strict verification
//! (exact algorithm, known `kid`, issuer, audience, type, validity window, signature).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// Lifetime of an access token, seconds.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
/// Clock skew tolerated on `nbf` and `exp`, seconds.
pub const LEEWAY_SECS: i64 = 30;
/// The only accepted algorithm.
pub const ALG: &str = "RS256";
/// `typ` claim of access tokens.
pub const ACCESS_TYPE: &str = "access";
/// RSA modulus size of generated keys.
pub const RSA_BITS: usize = 2048;

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub typ: String,
    pub jti: String,
    /// The user's session epoch at issue; a token of an older epoch is revoked.
    #[serde(default)]
    pub sep: i64,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// Why a token was refused; each check has its own reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm {0:?}")]
    Algorithm(String),
    #[error("unknown signing key")]
    UnknownKid,
    #[error("invalid token signature")]
    Signature,
    #[error("wrong token type")]
    TokenType,
    #[error("wrong token issuer")]
    Issuer,
    #[error("wrong token audience")]
    Audience,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    /// Signed and in date, but its session was ended (password, role or account change).
    #[error("token revoked")]
    Revoked,
    /// Signed by a key rotated out whose grace period is over.
    #[error("token signed by a retired key")]
    Retired,
}

/// The `kid` in a token's header, if it has a readable one.
pub fn header_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Header = serde_json::from_slice(&B64URL.decode(header).ok()?).ok()?;
    header.kid
}

/// A signing key that cannot be generated, parsed or used.
#[derive(Debug, thiserror::Error)]
#[error("jwt signing key: {0}")]
pub struct KeyError(pub String);

/// Generates a new RSA key and returns it as PKCS#8 DER.
pub fn generate_pkcs8() -> Result<Vec<u8>, KeyError> {
    use rsa::pkcs8::EncodePrivateKey;
    let mut rng = argon2::password_hash::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|e| KeyError(e.to_string()))?;
    let der = key.to_pkcs8_der().map_err(|e| KeyError(e.to_string()))?;
    Ok(der.as_bytes().to_vec())
}

/// The signing key with its id, and the expected issuer and audience.
#[derive(Debug)]
pub struct JwtKeys {
    kid: String,
    pair: RsaKeyPair,
    issuer: String,
    audience: String,
    rng: SystemRandom,
}

impl JwtKeys {
    /// Keys from a PKCS#8 DER RSA private key known as `kid`.
    pub fn from_pkcs8(
        kid: &str,
        der: &[u8],
        issuer: &str,
        audience: &str,
    ) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| KeyError(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            pair,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            rng: SystemRandom::new(),
        })
    }

    /// The id of the signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// An access token for user `sub` with `role` in session epoch `sep`, issued at `now`
    /// (Unix seconds).
    pub fn issue(
        &self,
        sub: &str,
        role: &str,
        sep: i64,
        now: i64,
    ) -> Result<(String, AccessClaims), KeyError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_owned(),
            role: role.to_owned(),
            iat: now,
            nbf: now,
            exp: now + ACCESS_TTL_SECS,
            typ: ACCESS_TYPE.to_owned(),
            jti: uuid::Uuid::now_v7().to_string(),
            sep,
        };
        let header = serde_json::json!({ "alg": ALG, "typ": "JWT", "kid": self.kid });
        let claims_json = serde_json::to_value(&claims).map_err(|e| KeyError(e.to_string()))?;
        Ok((self.sign_parts(&header, &claims_json)?, claims))
    }

    /// Signs any header and claims with RS256 (tests forge tokens with it).
    pub fn sign_parts(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> Result<String, KeyError> {
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|e| KeyError(e.to_string()))?;
        Ok(format!("{input}.{}", B64URL.encode(sig)))
    }

    /// The public modulus and exponent, big-endian.
    pub fn public_components(&self) -> (Vec<u8>, Vec<u8>) {
        let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public());
        (c.n, c.e)
    }

    /// The public key (PKCS#1 `RSAPublicKey` DER).
    pub fn public_key(&self) -> &[u8] {
        self.pair.public().as_ref()
    }

    /// The claims of a valid access token at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let decode = |part: &str| B64URL.decode(part).map_err(|_| JwtError::Malformed);
        let header: Header =
            serde_json::from_slice(&decode(h)?).map_err(|_| JwtError::Malformed)?;
        if header.alg != ALG {
            return Err(JwtError::Algorithm(header.alg));
        }
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(JwtError::UnknownKid);
        }
        let sig = decode(s)?;
        let signed = &token[..h.len() + 1 + c.len()];
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, self.public_key())
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| JwtError::Signature)?;
        let claims: AccessClaims =
            serde_json::from_slice(&decode(c)?).map_err(|_| JwtError::Malformed)?;
        if claims.typ != ACCESS_TYPE {
            return Err(JwtError::TokenType);
        }
        if claims.iss != self.issuer {
            return Err(JwtError::Issuer);
        }
        if claims.aud != self.audience {
            return Err(JwtError::Audience);
        }
        if now > claims.exp + LEEWAY_SECS {
            return Err(JwtError::Expired);
        }
        if now + LEEWAY_SECS < claims.nbf {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
