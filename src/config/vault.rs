//! Reading a HashiCorp Vault KV v2 secret for import: `GET <addr>/v1/<path>` with the
//! `X-Vault-Token` header; the entries are the object at `data.data` of the response.
//! Redirects are not followed (the token must not travel elsewhere) and errors never
//! carry the token or the secret values.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::import::{from_object, ImportEntry};
use super::ConfigError;

/// Longest wait for the Vault server.
const VAULT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
struct KvResponse {
    data: KvData,
}

#[derive(Deserialize)]
struct KvData {
    data: serde_json::Map<String, serde_json::Value>,
}

/// Fetches the KV v2 secret at `path` (e.g. `secret/data/gpubroker`) from `addr`, which
/// must be a public https address unless `reach` allows otherwise.
pub async fn fetch_kv2(
    addr: &str,
    path: &str,
    token: &str,
    reach: crate::net_guard::Reach,
) -> Result<Vec<ImportEntry>, ConfigError> {
    let url = kv2_url(addr, path)?;
    crate::net_guard::check_url(&url, reach)
        .map_err(|e| ConfigError::Invalid(format!("vault address refused: {e}")))?;
    let client = crate::net_guard::guard(reqwest::Client::builder(), reach)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(VAULT_TIMEOUT)
        .build()
        .map_err(|e| ConfigError::Invalid(format!("cannot build the HTTP client: {e}")))?;
    let response = client
        .get(url.clone())
        .header("X-Vault-Token", token)
        .send()
        .await
        .map_err(|e| ConfigError::Invalid(format!("vault at {url}: {}", e.without_url())))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ConfigError::Invalid(format!(
            "vault at {url} answered {status}{}",
            match status.as_u16() {
                403 => " (token missing, expired or without read access to this path)",
                404 => " (no secret at this path; KV v2 paths look like secret/data/NAME)",
                _ => "",
            }
        )));
    }
    let body: KvResponse = response.json().await.map_err(|_| {
        ConfigError::Invalid(format!(
            "vault at {url} did not answer a KV v2 secret ({{\"data\":{{\"data\":{{...}}}}}})"
        ))
    })?;
    from_object(body.data.data)
}

/// `<addr>/v1/<path>`, refusing odd schemes and path tricks.
fn kv2_url(addr: &str, path: &str) -> Result<Url, ConfigError> {
    let base = Url::parse(addr)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            ConfigError::Invalid(format!("vault address {addr:?} is not an http(s) URL"))
        })?;
    let path = path.trim_matches('/');
    let ok = !path.is_empty()
        && path.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if !ok {
        return Err(ConfigError::Invalid(format!(
            "vault path {path:?} is not a plain a/b/c path"
        )));
    }
    let mut url = base;
    url.set_path(&format!("{}/v1/{path}", url.path().trim_end_matches('/')));
    url.set_query(None);
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_and_checked() {
        assert_eq!(
            kv2_url("http://127.0.0.1:8200", "/secret/data/app/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8200/v1/secret/data/app"
        );
        assert!(kv2_url("file:///etc", "secret/data/x").is_err());
        assert!(kv2_url("http://vault", "secret/../x").is_err());
        assert!(kv2_url("http://vault", "secret/data/x?y").is_err());
    }
}
