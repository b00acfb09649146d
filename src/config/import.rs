//! Parsing of configuration imports: `.env` files and JSON (an object of key → value, or
//! an array of full entries). Everything is validated before anything is written.

use serde::Deserialize;

use super::{Category, ConfigChange, ConfigError, ConfigKey, ConfigStore, SetOptions, ValueType};

/// One entry to import.
#[derive(Clone)]
pub struct ImportEntry {
    pub key: ConfigKey,
    pub value: String,
    pub options: SetOptions,
}

impl std::fmt::Debug for ImportEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportEntry")
            .field("key", &self.key)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Whether a name looks like it holds a secret (contains key, secret, token or password).
pub fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["key", "secret", "token", "password"]
        .iter()
        .any(|w| name.contains(w))
}

/// A category guessed from a name, for imports that do not say.
pub fn guess_category(name: &str) -> Category {
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&["database", "db_", "postgres", "sqlite", "pool"]) {
        Category::Database
    } else if has(&["cache", "redis"]) {
        Category::Cache
    } else if has(&["feature", "flag", "enable"]) {
        Category::Feature
    } else if has(&["metric", "log", "sentry", "monitor", "trace"]) {
        Category::Monitoring
    } else if has(&["api", "url", "endpoint"]) {
        Category::Api
    } else if looks_secret(name) {
        Category::Security
    } else {
        Category::Service
    }
}

/// Parses `.env` text: `KEY=VALUE` lines (optional `export `, `#` comments, quoted values);
/// keys are lower-cased; secret-looking names become secrets.
pub fn parse_env(text: &str) -> Result<Vec<ImportEntry>, ConfigError> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| ConfigError::Invalid(format!("line {}: expected KEY=VALUE", n + 1)))?;
        let name = name.trim().to_ascii_lowercase();
        let key = ConfigKey::parse(&name)
            .map_err(|e| ConfigError::Invalid(format!("line {}: {e}", n + 1)))?;
        entries.push(ImportEntry {
            options: SetOptions {
                secret: Some(looks_secret(&name)),
                category: Some(guess_category(&name)),
                description: None,
                value_type: None,
            },
            key,
            value: unquote(value.trim()).to_owned(),
        });
    }
    Ok(entries)
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// One entry of the JSON array form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonEntry {
    key: String,
    value: serde_json::Value,
    #[serde(default, alias = "is_secret")]
    secret: Option<bool>,
    category: Option<String>,
    description: Option<String>,
    #[serde(alias = "value_type", rename = "type")]
    value_type: Option<String>,
}

/// Parses JSON: an object `{"key": value}` (type from the JSON value, secrecy from the
/// name) or an array of `{key, value, secret?, category?, description?, type?}`.
pub fn parse_json(text: &str) -> Result<Vec<ImportEntry>, ConfigError> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ConfigError::Invalid(format!("not JSON: line {} column {}", e.line(), e.column()))
    })?;
    let raw: Vec<JsonEntry> = match doc {
        serde_json::Value::Object(map) => return from_object(map),
        array @ serde_json::Value::Array(_) => serde_json::from_value(array).map_err(|e| {
            ConfigError::Invalid(format!("bad entry in JSON array: {}", strip_values(&e)))
        })?,
        _ => {
            return Err(ConfigError::Invalid(
                "JSON import must be an object or an array of entries".into(),
            ))
        }
    };
    raw.into_iter().map(json_entry).collect()
}

/// Entries from a JSON object of key → value: the type follows the JSON value, secrecy
/// the name (as for `.env`).
pub fn from_object(
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<ImportEntry>, ConfigError> {
    map.into_iter()
        .map(|(key, value)| {
            json_entry(JsonEntry {
                key,
                value,
                secret: None,
                category: None,
                description: None,
                value_type: None,
            })
        })
        .collect()
}

/// serde messages can quote the offending value; keep only the kind of problem.
fn strip_values(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    msg.split_once(':')
        .map_or(msg.clone(), |(head, _)| head.to_owned())
}

fn json_entry(raw: JsonEntry) -> Result<ImportEntry, ConfigError> {
    let key = ConfigKey::parse(&raw.key.to_ascii_lowercase())?;
    let (inferred, value) = match raw.value {
        serde_json::Value::String(s) => (ValueType::String, s),
        serde_json::Value::Bool(b) => (ValueType::Bool, b.to_string()),
        serde_json::Value::Number(n) if n.is_i64() => (ValueType::Int, n.to_string()),
        other => (ValueType::Json, other.to_string()),
    };
    let value_type = match raw.value_type {
        Some(t) => t.parse()?,
        None => inferred,
    };
    let category = match raw.category {
        Some(c) => c.parse()?,
        None => guess_category(key.as_str()),
    };
    Ok(ImportEntry {
        options: SetOptions {
            secret: Some(raw.secret.unwrap_or_else(|| looks_secret(key.as_str()))),
            category: Some(category),
            description: raw.description,
            value_type: Some(value_type),
        },
        key,
        value,
    })
}

impl ConfigStore {
    /// Checks every entry's value against its type, then sets them in order.
    pub async fn import(
        &self,
        entries: Vec<ImportEntry>,
        actor: &str,
    ) -> Result<Vec<ConfigChange>, ConfigError> {
        for entry in &entries {
            if let Some(t) = entry.options.value_type {
                t.normalise(&entry.key, &entry.value)?;
            }
        }
        let mut changes = Vec::with_capacity(entries.len());
        for entry in entries {
            changes.push(
                self.set(entry.key.as_str(), &entry.value, entry.options, actor)
                    .await?,
            );
        }
        Ok(changes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_become_lowercase_entries_and_secrets_by_name() {
        let text =
            "# comment\nexport VASTAI_API_KEY=\"abc\"\nLOG_LEVEL=info\n\nDB_PASSWORD='p=w'\n";
        let entries = parse_env(text).unwrap();
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["vastai_api_key", "log_level", "db_password"]);
        assert_eq!(entries[0].value, "abc");
        assert_eq!(entries[2].value, "p=w");
        let secret: Vec<bool> = entries
            .iter()
            .map(|e| e.options.secret == Some(true))
            .collect();
        assert_eq!(secret, [true, false, true]);
        assert!(parse_env("NO_EQUALS").is_err());
        assert!(parse_env("BAD KEY=1").is_err());
    }

    #[test]
    fn json_object_and_array_forms() {
        let obj =
            parse_json(r#"{"max_pods": 5, "beta": true, "plans": {"a": 1}, "jwt_secret": "s"}"#)
                .unwrap();
        let types: Vec<(String, ValueType, bool)> = obj
            .iter()
            .map(|e| {
                (
                    e.key.to_string(),
                    e.options.value_type.unwrap(),
                    e.options.secret.unwrap(),
                )
            })
            .collect();
        assert!(types.contains(&("max_pods".into(), ValueType::Int, false)));
        assert!(types.contains(&("beta".into(), ValueType::Bool, false)));
        assert!(types.contains(&("plans".into(), ValueType::Json, false)));
        assert!(types.contains(&("jwt_secret".into(), ValueType::String, true)));
        let arr = parse_json(r#"[{"key": "smtp.host", "value": "mail", "secret": true, "category": "service", "type": "string"}]"#).unwrap();
        assert_eq!(arr[0].options.secret, Some(true));
        assert!(parse_json("42").is_err());
        assert!(parse_json(r#"[{"key": "a", "value": "b", "category": "nope"}]"#).is_err());
    }
}
