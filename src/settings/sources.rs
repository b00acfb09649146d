//! Which price sources run, from `GPUBROKER_SOURCES`, and the providers' credentials.
//!
//! `GPUBROKER_SOURCES` is a comma-separated list: `vastai`, `runpod`, `lambda`, `demo`,
//! `skypilot:<cloud>=<url or path>` and `file:<path>`. Unset, only the demo market runs;
//! set, exactly the listed sources run (add `demo` to keep it); `none` runs no source.

use std::fmt;
use std::path::PathBuf;

/// One enabled source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    Vastai,
    Runpod,
    Lambda,
    Demo,
    /// A SkyPilot `vms.csv` for `cloud`, from an http(s) URL or a local path.
    Skypilot {
        cloud: String,
        location: String,
    },
    /// The operator's own offers (CSV or JSON).
    File {
        path: PathBuf,
    },
}

/// API keys and base URLs of the live provider APIs. Keys never appear in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProviderCredentials {
    pub vastai_key: Option<String>,
    pub runpod_key: Option<String>,
    pub lambda_key: Option<String>,
    /// Base URL overrides (a proxy, or a local fake server in tests).
    pub vastai_url: Option<String>,
    pub runpod_url: Option<String>,
    pub lambda_url: Option<String>,
}

impl fmt::Debug for ProviderCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = |k: &Option<String>| if k.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("ProviderCredentials")
            .field("vastai_key", &key(&self.vastai_key))
            .field("runpod_key", &key(&self.runpod_key))
            .field("lambda_key", &key(&self.lambda_key))
            .field("vastai_url", &self.vastai_url)
            .field("runpod_url", &self.runpod_url)
            .field("lambda_url", &self.lambda_url)
            .finish()
    }
}

/// Parses `GPUBROKER_SOURCES`; problems are appended to `problems`.
pub fn parse_sources(
    raw: Option<&str>,
    creds: &ProviderCredentials,
    problems: &mut Vec<String>,
) -> Vec<SourceSpec> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return vec![SourceSpec::Demo];
    };
    if raw.trim() == "none" {
        return Vec::new();
    }
    let mut specs = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let spec = match item {
            "vastai" => Some(SourceSpec::Vastai),
            "runpod" => require(
                creds.runpod_key.as_ref(),
                "runpod",
                "RUNPOD_API_KEY",
                problems,
            )
            .then_some(SourceSpec::Runpod),
            "lambda" => require(
                creds.lambda_key.as_ref(),
                "lambda",
                "LAMBDA_API_KEY",
                problems,
            )
            .then_some(SourceSpec::Lambda),
            "demo" => Some(SourceSpec::Demo),
            other => parse_located(other, problems),
        };
        if let Some(spec) = spec {
            if specs.contains(&spec) {
                problems.push(format!("GPUBROKER_SOURCES lists {item:?} twice"));
            } else {
                specs.push(spec);
            }
        }
    }
    specs
}

fn require(key: Option<&String>, name: &str, var: &str, problems: &mut Vec<String>) -> bool {
    let present = key.is_some_and(|k| !k.is_empty());
    if !present {
        problems.push(format!(
            "GPUBROKER_SOURCES enables {name} but {var} is not set"
        ));
    }
    present
}

fn parse_located(item: &str, problems: &mut Vec<String>) -> Option<SourceSpec> {
    if let Some(rest) = item.strip_prefix("skypilot:") {
        match rest.split_once('=') {
            Some((cloud, location)) if valid_cloud(cloud) && !location.is_empty() => {
                return Some(SourceSpec::Skypilot { cloud: cloud.to_owned(), location: location.to_owned() });
            }
            _ => problems.push(format!(
                "GPUBROKER_SOURCES entry {item:?} must look like skypilot:<cloud>=<url or path>, e.g. skypilot:lambda=https://…/vms.csv"
            )),
        }
        return None;
    }
    if let Some(path) = item.strip_prefix("file:") {
        if path.is_empty() {
            problems.push(
                "GPUBROKER_SOURCES entry file: needs a path, e.g. file:/etc/gpubroker/offers.csv"
                    .into(),
            );
            return None;
        }
        return Some(SourceSpec::File {
            path: PathBuf::from(path),
        });
    }
    problems.push(format!(
        "GPUBROKER_SOURCES: unknown source {item:?} (known: vastai, runpod, lambda, demo, skypilot:<cloud>=<location>, file:<path>)"
    ));
    None
}

fn valid_cloud(cloud: &str) -> bool {
    !cloud.is_empty()
        && cloud
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_means_the_demo_market_only() {
        let mut problems = Vec::new();
        assert_eq!(
            parse_sources(None, &ProviderCredentials::default(), &mut problems),
            [SourceSpec::Demo]
        );
        assert!(problems.is_empty());
        assert!(
            parse_sources(Some("none"), &ProviderCredentials::default(), &mut problems).is_empty()
        );
    }

    #[test]
    fn listed_sources_run_and_bad_entries_are_named() {
        let creds = ProviderCredentials {
            runpod_key: Some("k".into()),
            ..ProviderCredentials::default()
        };
        let mut problems = Vec::new();
        let specs = parse_sources(
            Some("vastai, runpod,skypilot:lambda=/data/vms.csv,file:/etc/offers.csv,lambda,skypilot:=x,bogus,vastai"),
            &creds,
            &mut problems,
        );
        assert_eq!(
            specs,
            [
                SourceSpec::Vastai,
                SourceSpec::Runpod,
                SourceSpec::Skypilot {
                    cloud: "lambda".into(),
                    location: "/data/vms.csv".into()
                },
                SourceSpec::File {
                    path: "/etc/offers.csv".into()
                },
            ]
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("LAMBDA_API_KEY"));
        assert!(problems[1].contains("skypilot:<cloud>"));
        assert!(problems[2].contains(r#"unknown source "bogus""#));
        assert!(problems[3].contains("twice"));
    }

    #[test]
    fn keys_are_not_printed() {
        let creds = ProviderCredentials {
            lambda_key: Some("secret-lambda-key".into()),
            ..ProviderCredentials::default()
        };
        assert!(!format!("{creds:?}").contains("secret-lambda-key"));
    }
}
