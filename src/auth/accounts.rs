//! Account administration: role changes and disabling, each ending every session of the
//! account at once and audited.

use super::{Auth, AuthError, Role, User};

impl Auth {
    /// Sets the role and/or the disabled flag of `target` on behalf of admin `actor`.
    /// Every access token, refresh token and (while disabled) API key of the account
    /// stops working at once. Admins cannot change their own account this way, so the last
    /// admin cannot lock everyone out.
    pub async fn update_access(
        &self,
        actor: &str,
        target: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<User, AuthError> {
        if role.is_none() && disabled.is_none() {
            return Err(AuthError::Invalid(
                "nothing to change: give role and/or disabled".into(),
            ));
        }
        if actor == target {
            return Err(AuthError::Conflict(
                "admins cannot change their own role or disable their own account".into(),
            ));
        }
        let before = self
            .0
            .store
            .user_by_id(target)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("no user {target}")))?;
        let row = self
            .0
            .store
            .user_update_access(target, role.map(Role::as_str), disabled)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("no user {target}")))?;
        let (actor, subject) = (format!("user:{actor}"), format!("user:{target}"));
        if let Some(role) = role.filter(|r| r.as_str() != before.role) {
            self.0
                .store
                .audit_append(
                    &actor,
                    "auth.role_change",
                    Some(&subject),
                    serde_json::json!({ "from": before.role, "to": role.as_str() }),
                )
                .await?;
        }
        if let Some(disabled) = disabled.filter(|d| *d != before.disabled) {
            let action = if disabled {
                "auth.account_disable"
            } else {
                "auth.account_enable"
            };
            self.0
                .store
                .audit_append(&actor, action, Some(&subject), serde_json::json!({}))
                .await?;
        }
        User::from_row(&row)
    }
}
