//! Outgoing mail settings: `GPUBROKER_SMTP_URL` and `GPUBROKER_MAIL_FROM`.

use std::fmt;

use url::Url;

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtps://`: TLS from the first byte (port 465 by default).
    Implicit,
    /// `smtp://`: upgraded with STARTTLS whenever the server offers it; credentials are only
    /// ever sent over TLS, except to a loopback server (port 587 by default).
    StartTls,
}

/// An SMTP relay.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where account mail (email verification, password reset) goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    /// `None`: mail is shown on the development console only, and not sent at all in
    /// production.
    pub smtp: Option<SmtpSettings>,
    /// The `From` address.
    pub from: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp: None,
            from: "gpubroker@localhost".to_owned(),
        }
    }
}

/// Parses the mail settings, adding each problem to `problems`.
pub(crate) fn mail_settings(
    problems: &mut Vec<String>,
    smtp_url: Option<&str>,
    from: Option<&str>,
    public_url: Option<&Url>,
) -> MailSettings {
    let default_from = public_url.and_then(Url::host_str).map_or_else(
        || MailSettings::default().from,
        |h| format!("gpubroker@{h}"),
    );
    let from = from.map(str::trim).unwrap_or(&default_from).to_owned();
    let plausible = from.contains('@')
        && !from
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>');
    if !plausible {
        problems.push(format!(
            "GPUBROKER_MAIL_FROM: {from:?} is not a plain address such as gpubroker@example.com"
        ));
    }
    let smtp = smtp_url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .and_then(|raw| match smtp(raw) {
            Ok(s) => Some(s),
            Err(problem) => {
                problems.push(format!("GPUBROKER_SMTP_URL: {problem}"));
                None
            }
        });
    MailSettings { smtp, from }
}

fn smtp(raw: &str) -> Result<SmtpSettings, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    let (tls, default_port) = match url.scheme() {
        "smtps" => (SmtpTls::Implicit, 465),
        "smtp" => (SmtpTls::StartTls, 587),
        other => return Err(format!("scheme {other:?}: use smtp:// or smtps://")),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| "the user or password is not valid percent-encoding".to_owned())
    };
    let username = (!url.username().is_empty())
        .then(|| decode(url.username()))
        .transpose()?;
    let password = url.password().map(decode).transpose()?;
    Ok(SmtpSettings {
        host,
        port: url.port().unwrap_or(default_port),
        tls,
        username,
        password,
    })
}

/// Decodes `%XX` escapes (URL user info is percent-encoded).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn smtp_urls_are_parsed_with_defaults_and_decoded_credentials() {
        let mut problems = Vec::new();
        let m = mail_settings(
            &mut problems,
            Some("smtp://mailer%40example.com:p%3Ass@smtp.example.com"),
            None,
            Url::parse("https://broker.example.com").ok().as_ref(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        let smtp = m.smtp.unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.example.com", 587));
        assert_eq!(smtp.tls, SmtpTls::StartTls);
        assert_eq!(smtp.username.as_deref(), Some("mailer@example.com"));
        assert_eq!(smtp.password.as_deref(), Some("p:ss"));
        assert!(!format!("{smtp:?}").contains("p:ss"));
        assert_eq!(m.from, "gpubroker@broker.example.com");

        let m = mail_settings(
            &mut problems,
            Some("smtps://relay:2465"),
            Some("ops@x.io"),
            None,
        );
        let smtp = m.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls), (2465, SmtpTls::Implicit));
        assert_eq!(m.from, "ops@x.io");
        assert!(problems.is_empty());
    }

    #[test]
    fn bad_mail_settings_are_named() {
        for (url, from) in [
            (Some("http://relay"), None),
            (Some("smtp://"), None),
            (None, Some("no-at-sign")),
            (None, Some("a@b.io\r\nBcc: x@y.io")),
        ] {
            let mut problems = Vec::new();
            mail_settings(&mut problems, url, from, None);
            assert_eq!(problems.len(), 1, "{url:?} {from:?}");
        }
    }
}
