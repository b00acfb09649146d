//! Account mail (email verification, password reset): through SMTP when
//! `GPUBROKER_SMTP_URL` is set; otherwise printed on the development console, and in
//! production not sent at all (a warning without the content is logged instead, since
//! these messages carry single-use credentials).

use crate::settings::mail::MailSettings;
use crate::settings::{Environment, Settings};

pub mod smtp;

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("cannot reach the mail server: {0}")]
    Connect(String),
    #[error("TLS with the mail server failed: {0}")]
    Tls(String),
    #[error("the mail server timed out")]
    Timeout,
    #[error("the mail server refused: {0}")]
    Rejected(String),
    #[error("mail server protocol error: {0}")]
    Protocol(String),
    #[error("{0}")]
    Refused(String),
}

/// A plain-text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: String,
    pub to: String,
    /// ASCII, one line.
    pub subject: String,
    pub body: String,
}

impl Message {
    /// RFC 5322 text with CRLF line ends and dot-stuffing, ready for SMTP `DATA`.
    pub fn render(&self) -> String {
        let one_line = |s: &str| s.replace(['\r', '\n'], " ");
        let mut out = format!(
            "From: GPUBROKER <{}>\r\nTo: <{}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}@gpubroker>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
            one_line(&self.from),
            one_line(&self.to),
            one_line(&self.subject),
            chrono::Utc::now().to_rfc2822(),
            uuid::Uuid::now_v7(),
        );
        for line in self.body.replace("\r\n", "\n").split('\n') {
            if line.starts_with('.') {
                out.push('.');
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out
    }
}

/// How a message left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Printed on the development console.
    Console,
    /// Production without SMTP: dropped (and a warning logged).
    Dropped,
}

/// Sends account mail as configured; cheap to clone.
#[derive(Clone, Debug)]
pub struct Mailer {
    settings: MailSettings,
    environment: Environment,
}

impl Mailer {
    /// The mailer of `settings`.
    pub fn new(settings: &Settings) -> Self {
        Self {
            settings: settings.mail.clone(),
            environment: settings.environment,
        }
    }

    /// Whether an SMTP server is configured (mail other than account mail is only sent
    /// then).
    pub fn is_configured(&self) -> bool {
        self.settings.smtp.is_some()
    }

    /// Delivers a message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<Delivery, MailError> {
        let message = Message {
            from: self.settings.from.clone(),
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
        };
        match (&self.settings.smtp, self.environment) {
            (Some(smtp), _) => {
                smtp::send(smtp, &message).await?;
                Ok(Delivery::Sent)
            }
            (None, Environment::Development) => {
                eprintln!(
                    "\n── mail (development console; set GPUBROKER_SMTP_URL to send) ──\nTo: {to}\nSubject: {subject}\n\n{body}\n──\n"
                );
                Ok(Delivery::Console)
            }
            (None, Environment::Production) => {
                tracing::warn!(
                    subject,
                    "account mail not sent: GPUBROKER_SMTP_URL is not configured"
                );
                Ok(Delivery::Dropped)
            }
        }
    }

    /// Delivers in the background (the caller's response never waits for, or reveals, the
    /// delivery); failures are logged without the body.
    pub fn send_in_background(&self, to: String, subject: String, body: String) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(err) = mailer.send(&to, &subject, &body).await {
                tracing::warn!(error = %err, subject, "account mail not delivered");
                metrics::counter!("gpubroker_mail_failures_total").increment(1);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_uses_crlf_dot_stuffs_and_keeps_headers_on_one_line() {
        let message = Message {
            from: "gpubroker@example.com".into(),
            to: "ann@example.com".into(),
            subject: "Reset\r\nBcc: evil@example.com".into(),
            body: "line one\n.hidden\nlast".into(),
        };
        let text = message.render();
        assert!(text.contains("Subject: Reset  Bcc: evil@example.com\r\n"));
        assert!(!text.contains("\r\nBcc:"));
        assert!(text.ends_with("\r\n\r\nline one\r\n..hidden\r\nlast\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }
}
