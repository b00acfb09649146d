//! Provider API keys kept in the configuration store (sealed secrets `vastai.api_key`,
//! `runpod.api_key`, `lambda.api_key`), used when the environment does not set them.

use super::{ConfigError, ConfigStore};
use crate::settings::ProviderCredentials;

/// Config keys of the provider API keys.
pub const VASTAI_KEY: &str = "vastai.api_key";
pub const RUNPOD_KEY: &str = "runpod.api_key";
pub const LAMBDA_KEY: &str = "lambda.api_key";

/// Fills every provider key that `credentials` lacks from `config`; keys given in the
/// environment or on the command line win. Returns the names of the keys taken from the
/// store.
pub async fn fill_provider_keys(
    credentials: &mut ProviderCredentials,
    config: &ConfigStore,
) -> Result<Vec<&'static str>, ConfigError> {
    let mut taken = Vec::new();
    for (name, slot) in [
        (VASTAI_KEY, &mut credentials.vastai_key),
        (RUNPOD_KEY, &mut credentials.runpod_key),
        (LAMBDA_KEY, &mut credentials.lambda_key),
    ] {
        if slot.as_deref().is_some_and(|k| !k.is_empty()) {
            continue;
        }
        if let Some(value) = config.get(name).await? {
            if !value.text.is_empty() {
                *slot = Some(value.text);
                taken.push(name);
            }
        }
    }
    Ok(taken)
}
