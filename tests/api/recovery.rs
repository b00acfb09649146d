//! Email verification and password reset end to end on both backends, with the mail
//! delivered over real SMTP to a local fake server (AUTH PLAIN, DATA with dot-stuffing).

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use gpubroker::settings::mail::{SmtpSettings, SmtpTls};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::both_backends;
use crate::common::{send, spawn_app_configured, Backend, TestApp};

both_backends!(
    sign_up_mails_a_link_that_verifies_the_email_once,
    password_reset_by_mail_ends_every_session,
    reset_tokens_are_superseded_and_expire,
);

/// One message received by the fake server.
#[derive(Debug)]
pub(crate) struct Mail {
    pub(crate) auth: Option<String>,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) data: String,
}

/// A fake SMTP relay on loopback; every accepted message is sent on the channel.
pub(crate) async fn fake_smtp() -> (SocketAddr, mpsc::UnboundedReceiver<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let mut mail = Mail {
                    auth: None,
                    from: String::new(),
                    to: String::new(),
                    data: String::new(),
                };
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-fake greets you\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
                    } else if let Some(token) = line.strip_prefix("AUTH PLAIN ") {
                        mail.auth = Some(token.to_owned());
                        b"235 2.7.0 accepted\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        mail.from = line[10..].to_owned();
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        mail.to = line[8..].to_owned();
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        while let Ok(Some(data)) = lines.next_line().await {
                            if data == "." {
                                break;
                            }
                            mail.data.push_str(&data);
                            mail.data.push('\n');
                        }
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        b"502 unknown\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
                if !mail.to.is_empty() {
                    let _ = tx.send(mail);
                }
            });
        }
    });
    (addr, rx)
}

async fn app_with_mail(backend: Backend) -> Option<(TestApp, mpsc::UnboundedReceiver<Mail>)> {
    let (addr, rx) = fake_smtp().await;
    let app = spawn_app_configured(backend, None, move |s| {
        s.mail.smtp = Some(SmtpSettings {
            host: addr.ip().to_string(),
            port: addr.port(),
            tls: SmtpTls::StartTls,
            username: Some("mailer".into()),
            password: Some("s3cret pass".into()),
        });
        s.mail.from = "noreply@broker.test".into();
    })
    .await?;
    Some((app, rx))
}

async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a mail within 10 s")
        .expect("mail channel open")
}

/// The token in a mail's link (`…?token=<token>`).
fn token_of(mail: &Mail) -> String {
    let start = mail.data.find("token=").expect("a link with a token") + 6;
    mail.data[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn register(app: &TestApp, email: &str, password: &str) {
    let body = json!({ "email": email, "password": password });
    let (status, user) = send(app, "POST", "/api/v2/auth/register", None, Some(body)).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email_verified"], false);
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, serde_json::Value) {
    let body = json!({ "email": email, "password": password });
    send(app, "POST", "/api/v2/auth/login", None, Some(body)).await
}

async fn sign_up_mails_a_link_that_verifies_the_email_once(backend: Backend) {
    let Some((app, mut mails)) = app_with_mail(backend).await else {
        return;
    };
    register(&app, "Ann@Example.com", "correct horse battery").await;
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.to, "<ann@example.com>");
    assert_eq!(mail.from, "<noreply@broker.test>");
    let plain = base64::engine::general_purpose::STANDARD.encode("\0mailer\0s3cret pass");
    assert_eq!(mail.auth.as_deref(), Some(plain.as_str()));
    assert!(
        mail.data.contains("Subject: Confirm your email"),
        "{}",
        mail.data
    );
    let token = token_of(&mail);
    assert!(token.len() >= 40, "{token}");

    let (_, pair) = login(&app, "ann@example.com", "correct horse battery").await;
    let access = pair["access_token"].as_str().unwrap();
    let (_, me) = send(&app, "GET", "/api/v2/auth/me", Some(access), None).await;
    assert_eq!(me["email_verified"], false);

    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/auth/verify-email",
        None,
        Some(json!({ "token": "not-a-token" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let verify = json!({ "token": token });
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/auth/verify-email",
        None,
        Some(verify.clone()),
    )
    .await;
    assert_eq!(status, 204);
    let (_, me) = send(&app, "GET", "/api/v2/auth/me", Some(access), None).await;
    assert_eq!(me["email_verified"], true);
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/auth/verify-email",
        None,
        Some(verify),
    )
    .await;
    assert_eq!(status, 400, "a spent token is refused");
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/auth/verify-email/request",
        Some(access),
        None,
    )
    .await;
    assert_eq!(status, 409, "already verified");
    // The database holds only the token's hash.
    let mut dump = Vec::new();
    app.state.store.backup_to(&mut dump).await.unwrap();
    let dump = String::from_utf8(dump).unwrap();
    assert!(
        dump.contains("account_tokens"),
        "the dump covers the token table"
    );
    assert!(!dump.contains(&token), "plaintext token in the database");
    app.stop().await.unwrap();
}

async fn password_reset_by_mail_ends_every_session(backend: Backend) {
    let Some((app, mut mails)) = app_with_mail(backend).await else {
        return;
    };
    register(&app, "bob@example.com", "old password 123").await;
    next_mail(&mut mails).await;
    let (_, pair) = login(&app, "bob@example.com", "old password 123").await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();

    for email in ["nobody@example.com", "bob@example.com", "not an email"] {
        let (status, body) = send(
            &app,
            "POST",
            "/api/v2/auth/password-reset/request",
            None,
            Some(json!({ "email": email })),
        )
        .await;
        assert_eq!(status, 202, "{email}: {body}");
    }
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.to, "<bob@example.com>");
    assert!(mail.data.contains("Subject: Reset your password"));
    let token = token_of(&mail);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), mails.recv())
            .await
            .is_err(),
        "no mail for an unknown address"
    );

    let short = json!({ "token": token, "new_password": "short" });
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/auth/password-reset",
        None,
        Some(short),
    )
    .await;
    assert_eq!(status, 422);
    let reset = json!({ "token": token, "new_password": "brand new password" });
    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/auth/password-reset",
        None,
        Some(reset.clone()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/auth/password-reset",
        None,
        Some(reset),
    )
    .await;
    assert_eq!(status, 400, "a spent token is refused");

    assert_eq!(
        send(&app, "GET", "/api/v2/auth/me", Some(&access), None)
            .await
            .0,
        401
    );
    let body = json!({ "refresh_token": refresh });
    assert_eq!(
        send(&app, "POST", "/api/v2/auth/refresh", None, Some(body))
            .await
            .0,
        401
    );
    assert_eq!(
        login(&app, "bob@example.com", "old password 123").await.0,
        401
    );
    assert_eq!(
        login(&app, "bob@example.com", "brand new password").await.0,
        200
    );
    app.stop().await.unwrap();
}

async fn reset_tokens_are_superseded_and_expire(backend: Backend) {
    let Some((app, mut mails)) = app_with_mail(backend).await else {
        return;
    };
    register(&app, "cy@example.com", "first password 1").await;
    next_mail(&mut mails).await;
    let request = json!({ "email": "cy@example.com" });
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (status, _) = send(
            &app,
            "POST",
            "/api/v2/auth/password-reset/request",
            None,
            Some(request.clone()),
        )
        .await;
        assert_eq!(status, 202);
        tokens.push(token_of(&next_mail(&mut mails).await));
    }
    let first = json!({ "token": tokens[0], "new_password": "second password" });
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/auth/password-reset",
        None,
        Some(first),
    )
    .await;
    assert_eq!(status, 400, "the first token was superseded by the second");

    // Past its 30 minutes the second token is refused too (and nothing changes).
    let hash = gpubroker::auth::sha256_hex(tokens[1].as_bytes());
    let later = gpubroker::store::now() + chrono::Duration::minutes(31);
    let spent = app
        .state
        .store
        .account_token_reset_password(&hash, "not-a-hash", later)
        .await
        .unwrap();
    assert_eq!(spent, None);
    assert_eq!(
        login(&app, "cy@example.com", "first password 1").await.0,
        200
    );
    app.stop().await.unwrap();
}
