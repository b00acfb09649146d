//! A small SMTP submission client (RFC 5321 with STARTTLS, RFC 3207, and AUTH PLAIN,
//! RFC 4616): one message per connection, which is all account mail needs.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::{MailError, Message};
use crate::settings::mail::{SmtpSettings, SmtpTls};

/// Limit for connecting and for each reply.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest reply line accepted from a server.
const MAX_LINE: usize = 4096;

/// Delivers `message` through `smtp`.
pub async fn send(smtp: &SmtpSettings, message: &Message) -> Result<(), MailError> {
    let tcp = step(TcpStream::connect((smtp.host.as_str(), smtp.port)))
        .await?
        .map_err(|e| MailError::Connect(format!("{}:{}: {e}", smtp.host, smtp.port)))?;
    match smtp.tls {
        SmtpTls::Implicit => {
            let tls = tls_wrap(tcp, &smtp.host).await?;
            let mut conn = BufReader::new(tls);
            expect(&mut conn, 220).await?;
            ehlo(&mut conn).await?;
            deliver(&mut conn, smtp, message, true).await
        }
        SmtpTls::StartTls => {
            let mut conn = BufReader::new(tcp);
            expect(&mut conn, 220).await?;
            let capabilities = ehlo(&mut conn).await?;
            if capabilities
                .iter()
                .any(|c| c.eq_ignore_ascii_case("STARTTLS"))
            {
                command(&mut conn, "STARTTLS", 220).await?;
                let tls = tls_wrap(conn.into_inner(), &smtp.host).await?;
                let mut conn = BufReader::new(tls);
                ehlo(&mut conn).await?;
                deliver(&mut conn, smtp, message, true).await
            } else {
                deliver(&mut conn, smtp, message, false).await
            }
        }
    }
}

/// Whether credentials may cross a connection: over TLS always, in clear text only to a
/// loopback server (a local relay or a test).
fn may_authenticate(host: &str, tls: bool) -> bool {
    tls || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn deliver<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    smtp: &SmtpSettings,
    message: &Message,
    tls: bool,
) -> Result<(), MailError> {
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        if !may_authenticate(&smtp.host, tls) {
            return Err(MailError::Refused(format!(
                "{} offers no STARTTLS; credentials are never sent in clear text",
                smtp.host
            )));
        }
        let token = STANDARD.encode(format!("\0{user}\0{password}"));
        command(conn, &format!("AUTH PLAIN {token}"), 235).await?;
    }
    command(conn, &format!("MAIL FROM:<{}>", message.from), 250).await?;
    command(conn, &format!("RCPT TO:<{}>", message.to), 250).await?;
    command(conn, "DATA", 354).await?;
    let mut data = message.render();
    data.push_str(".\r\n");
    step(conn.get_mut().write_all(data.as_bytes()))
        .await?
        .map_err(|e| io(&e))?;
    expect(conn, 250).await?;
    // The message is accepted; a failed QUIT changes nothing.
    let _ = command(conn, "QUIT", 221).await;
    Ok(())
}

/// Sends EHLO; returns the advertised capabilities (first word of each extension line).
async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
) -> Result<Vec<String>, MailError> {
    step(conn.get_mut().write_all(b"EHLO gpubroker\r\n"))
        .await?
        .map_err(|e| io(&e))?;
    let lines = expect(conn, 250).await?;
    Ok(lines
        .iter()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    line: &str,
    code: u16,
) -> Result<Vec<String>, MailError> {
    step(conn.get_mut().write_all(format!("{line}\r\n").as_bytes()))
        .await?
        .map_err(|e| io(&e))?;
    expect(conn, code).await.map_err(|e| match e {
        // Never echo credentials into errors.
        MailError::Rejected(reply) if line.starts_with("AUTH") => {
            MailError::Rejected(format!("authentication: {reply}"))
        }
        other => other,
    })
}

/// Reads one (possibly multi-line) reply and checks its code; returns the text lines.
async fn expect<S: AsyncRead + Unpin>(
    conn: &mut BufReader<S>,
    code: u16,
) -> Result<Vec<String>, MailError> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let read = step(conn.read_line(&mut line)).await?.map_err(|e| io(&e))?;
        if read == 0 {
            return Err(MailError::Protocol(
                "the server closed the connection".into(),
            ));
        }
        if line.len() > MAX_LINE {
            return Err(MailError::Protocol("reply line too long".into()));
        }
        let line = line.trim_end();
        let (Some(got), Some(sep)) = (
            line.get(..3).and_then(|c| c.parse::<u16>().ok()),
            line.as_bytes().get(3).copied().or(Some(b' ')),
        ) else {
            return Err(MailError::Protocol(format!("malformed reply {line:?}")));
        };
        lines.push(line.get(4..).unwrap_or("").to_owned());
        if sep == b'-' {
            continue;
        }
        if got != code {
            return Err(MailError::Rejected(line.to_owned()));
        }
        return Ok(lines);
    }
}

async fn tls_wrap(
    tcp: TcpStream,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, MailError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| MailError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| MailError::Tls(format!("{host}: {e}")))?;
    step(TlsConnector::from(Arc::new(config)).connect(name, tcp))
        .await?
        .map_err(|e| MailError::Tls(e.to_string()))
}

async fn step<T>(future: impl std::future::Future<Output = T>) -> Result<T, MailError> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| MailError::Timeout)
}

fn io(err: &std::io::Error) -> MailError {
    MailError::Connect(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_cross_clear_text_only_to_loopback() {
        assert!(may_authenticate("smtp.example.com", true));
        assert!(!may_authenticate("smtp.example.com", false));
        assert!(!may_authenticate("10.0.0.5", false));
        assert!(may_authenticate("127.0.0.1", false));
        assert!(may_authenticate("::1", false));
        assert!(may_authenticate("localhost", false));
    }
}
