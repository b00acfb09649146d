//! Parsed configuration vocabulary: key names, value types, categories and typed values.

use std::fmt;
use std::str::FromStr;

use super::ConfigError;

/// Longest accepted key name.
pub const MAX_KEY_LEN: usize = 128;
/// Largest accepted value, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// What `list` and masked reads show instead of a secret.
pub const MASK: &str = "********";

/// A validated entry name: 1 to 128 of `a-z 0-9 _ . -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigKey(String);

impl ConfigKey {
    /// Parses a key name.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_KEY_LEN
            && raw
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ConfigError::InvalidKey(
                raw.chars().take(MAX_KEY_LEN).collect(),
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored (lowercase) name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl FromStr for $name {
            type Err = ConfigError;
            fn from_str(raw: &str) -> Result<Self, ConfigError> {
                match raw.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)*
                    _ => Err(ConfigError::Invalid(format!(
                        "unknown {} {raw:?}; use one of {}",
                        $what,
                        [$($text),*].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// How an entry's text is interpreted.
    ValueType, "value type", { String => "string", Int => "int", Bool => "bool", Json => "json" }
);

text_enum!(
    /// Which part of the system an entry configures.
    Category, "category", {
        Database => "database", Cache => "cache", Security => "security", Api => "api",
        Feature => "feature", Service => "service", Monitoring => "monitoring",
    }
);

impl ValueType {
    /// Checks `raw` against this type and returns its canonical text (`true`/`false`,
    /// a plain integer, compact JSON). The error names the key, never the value.
    pub fn normalise(self, key: &ConfigKey, raw: &str) -> Result<String, ConfigError> {
        if raw.len() > MAX_VALUE_LEN {
            return Err(ConfigError::Invalid(format!(
                "value of {key} is longer than {MAX_VALUE_LEN} bytes"
            )));
        }
        let bad = || ConfigError::InvalidValue {
            key: key.to_string(),
            expected: self,
        };
        match self {
            Self::String => Ok(raw.to_owned()),
            Self::Int => raw
                .trim()
                .parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| bad()),
            Self::Bool => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok("true".into()),
                "false" | "0" | "no" | "off" => Ok("false".into()),
                _ => Err(bad()),
            },
            Self::Json => serde_json::from_str::<serde_json::Value>(raw)
                .map(|v| v.to_string())
                .map_err(|_| bad()),
        }
    }
}

/// A value read from the store: its type and canonical text. `Debug` hides secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigValue {
    pub value_type: ValueType,
    pub is_secret: bool,
    pub text: String,
}

impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if self.is_secret { MASK } else { &self.text };
        f.debug_struct("ConfigValue")
            .field("value_type", &self.value_type)
            .field("is_secret", &self.is_secret)
            .field("text", &text)
            .finish()
    }
}

impl ConfigValue {
    /// The value as an integer (`None` unless the type is `int`).
    pub fn as_int(&self) -> Option<i64> {
        (self.value_type == ValueType::Int)
            .then(|| self.text.parse().ok())
            .flatten()
    }

    /// The value as a boolean (`None` unless the type is `bool`).
    pub fn as_bool(&self) -> Option<bool> {
        (self.value_type == ValueType::Bool).then(|| self.text == "true")
    }

    /// The value as JSON (`None` unless the type is `json`).
    pub fn as_json(&self) -> Option<serde_json::Value> {
        (self.value_type == ValueType::Json)
            .then(|| serde_json::from_str(&self.text).ok())
            .flatten()
    }
}
