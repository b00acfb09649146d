//! Outside GPU providers. Parsers turn each provider's real format into [`RawOffer`]s,
//! which normalisation (GPU registry, units, regions) turns into catalog offers.

use std::sync::Arc;

use serde::Serialize;

use crate::settings::{ProviderCredentials, SourceSpec};
use source::SourcePolicy;

pub use crate::domain::offer::{Availability, RawOffer};

pub mod demo;
#[cfg(test)]
pub mod fake_server;
pub mod file;
pub mod http;
pub mod lambda;
pub mod pyrepr;
pub mod resilience;
pub mod runpod;
pub mod skypilot;
pub mod source;
pub mod vastai;

/// A row or record that was not turned into an offer, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// 1-based line (CSV) or record index (JSON).
    pub at: usize,
    pub reason: String,
}

/// What a parser produced from one document.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ParseReport {
    pub offers: Vec<RawOffer>,
    pub skipped: Vec<Skipped>,
    /// Rows without any accelerator (CPU-only instance types), skipped by design.
    pub cpu_only: usize,
}

/// The price sources the settings enable, in the order listed.
pub fn configured_sources(
    settings: &crate::settings::Settings,
) -> Vec<Arc<dyn source::PriceSource>> {
    settings
        .sources
        .iter()
        .filter_map(|spec| build_source(spec, &settings.credentials, settings.outbound))
        .collect()
}

fn build_source(
    spec: &SourceSpec,
    creds: &ProviderCredentials,
    reach: crate::net_guard::Reach,
) -> Option<Arc<dyn source::PriceSource>> {
    let http = || SourcePolicy {
        reach,
        ..SourcePolicy::http()
    };
    let source: Arc<dyn source::PriceSource> = match spec {
        SourceSpec::Vastai => Arc::new(vastai::VastSource::new(
            creds.vastai_url.clone(),
            creds.vastai_key.clone(),
            http(),
        )),
        SourceSpec::Runpod => Arc::new(runpod::RunpodSource::new(
            creds.runpod_url.clone(),
            creds.runpod_key.clone().unwrap_or_default(),
            http(),
        )),
        SourceSpec::Lambda => Arc::new(lambda::LambdaSource::new(
            creds.lambda_url.clone(),
            creds.lambda_key.clone().unwrap_or_default(),
            http(),
        )),
        SourceSpec::Demo => Arc::new(demo::DemoSource::default()),
        SourceSpec::Skypilot { cloud, location } => Arc::new(skypilot::SkypilotSource::new(
            cloud.clone(),
            location.clone(),
            SourcePolicy {
                reach,
                ..SourcePolicy::catalog()
            },
        )),
        SourceSpec::File { path } => {
            match file::FileSource::new(path.clone(), SourcePolicy::catalog()) {
                Ok(source) => Arc::new(source),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "offer file source not started");
                    return None;
                }
            }
        }
    };
    Some(source)
}
