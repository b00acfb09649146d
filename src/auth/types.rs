//! Parsed account values: emails, passwords and roles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Shortest accepted password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Longest accepted password, in characters.
pub const PASSWORD_MAX_CHARS: usize = 256;

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses `raw`: one `@`, a non-empty local part, a dotted domain, no spaces, at most
    /// 254 characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        let invalid = || format!("{:?} is not a valid email address", raw.trim());
        if email.is_empty() || email.chars().count() > 254 {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        let clean = !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if local.is_empty() || domain.contains('@') || !domain_ok || !clean {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password that satisfies the rules (10–256 characters). Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks the length rules and refuses the most common passwords.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let n = raw.chars().count();
        if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&n) {
            return Err(format!(
                "password must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"
            ));
        }
        if let Some(reason) = super::common_passwords::too_common(raw) {
            return Err(reason.to_owned());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Support,
    Finance,
    Admin,
}

impl Role {
    /// Lowercase name, as stored and put in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Support => "support",
            Self::Finance => "finance",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "user" => Ok(Self::User),
            "support" => Ok(Self::Support),
            "finance" => Ok(Self::Finance),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown role {other:?}: use user, support, finance or admin"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@x.io",
            "a@b@c.io",
            "a@.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::parse("123456789").is_err());
        assert!(Password::parse("a1b2c3d4e5").is_ok());
        assert!(Password::parse(&format!("{}x", "é".repeat(255))).is_ok());
        assert!(Password::parse("1234567890").is_err(), "too common");
        assert!(
            Password::parse(&"é".repeat(256)).is_err(),
            "one repeated character"
        );
        assert!(Password::parse(&"x".repeat(257)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-secret").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::User, Role::Support, Role::Finance, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
