//! `gpubroker admin …`: account administration from the command line.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;

use crate::auth::{Auth, Email, Password, Role};
use crate::cli::say;
use crate::settings::Settings;
use crate::store::Store;

/// The `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account; the password is read from stdin (never from the command line).
    CreateUser {
        #[arg(long)]
        email: String,
        /// user, support, finance or admin.
        #[arg(long, default_value = "user", value_parser = |s: &str| s.parse::<Role>())]
        role: Role,
        /// Read the password from stdin without prompting (the only mode; kept explicit
        /// for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Replace the JWT signing key: a new key signs from now on; tokens of the old key keep
    /// working until they expire (15 minutes), then the old key is retired. Running
    /// servers pick the new key up within a minute.
    RotateJwtKey,
}

/// Runs `gpubroker admin …`.
pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    let result = execute(settings, &store, command).await;
    store.close().await;
    result
}

async fn execute(settings: &Settings, store: &Store, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::RotateJwtKey => {
            store.migrate().await.context("applying migrations")?;
            let (master_key, _) = settings
                .master_key
                .load()
                .context("loading the master key")?;
            let auth = Auth::new(store.clone(), master_key, settings);
            let rotation = auth.rotate_signing_key(&crate::cli_config::actor()).await?;
            say(&format!(
                "new signing key {}; the previous key {} verifies until {}",
                rotation.kid, rotation.previous_kid, rotation.previous_valid_until
            ));
            Ok(())
        }
        AdminCommand::CreateUser { email, role, .. } => {
            let email = Email::parse(&email).map_err(anyhow::Error::msg)?;
            let password = Password::parse(&read_password()?).map_err(anyhow::Error::msg)?;
            store.migrate().await.context("applying migrations")?;
            let (master_key, _) = settings
                .master_key
                .load()
                .context("loading the master key")?;
            let auth = Auth::new(store.clone(), master_key, settings);
            let actor = crate::cli_config::actor();
            let user = auth.register(&email, &password, role, Some(&actor)).await?;
            say(&format!(
                "created {} {} ({})",
                user.role, user.email, user.id
            ));
            Ok(())
        }
    }
}

/// The first line of stdin, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from stdin")?;
    let line = text.lines().next().unwrap_or_default();
    Ok(line.to_owned())
}
