//! Access policy: every route declares who may call it, in one table, and the
//! [`enforce`] middleware applies that table before any handler runs.
//!
//! A route that is missing from [`POLICIES`] fails closed (500, logged) and fails the
//! `every_route_declares_a_policy` test; the role and ownership matrices in the test suite
//! are generated from this table. Handlers still check object ownership themselves
//! (another user's object answers 404): the table only says which objects a route serves.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{authenticate_request, AuthUser};
use crate::app::AppState;
use crate::auth::{Role, Scope};
use crate::error::ApiError;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any enabled account whose credential carries the scope.
    Account(Scope),
    /// Accounts with one of the roles (admins pass every role check) whose credential
    /// carries the scope.
    Staff(&'static [Role], Scope),
}

impl Access {
    /// Whether `user` passes this policy (`Public` always does).
    pub fn allows(self, user: &AuthUser) -> Result<(), ApiError> {
        match self {
            Access::Public => Ok(()),
            Access::Account(scope) => user.require_scope(scope),
            Access::Staff(roles, scope) => {
                if user.role != Role::Admin && !roles.contains(&user.role) {
                    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    return Err(ApiError::Forbidden(format!(
                        "this action requires one of the roles: {}",
                        if names.is_empty() {
                            "admin".to_owned()
                        } else {
                            names.join(", ")
                        }
                    )));
                }
                user.require_scope(scope)
            }
        }
    }

    /// A short machine-readable form, published as `x-access` in the OpenAPI document.
    pub fn describe(self) -> String {
        match self {
            Access::Public => "public".to_owned(),
            Access::Account(scope) => format!("account scope={scope}"),
            Access::Staff(roles, scope) => {
                let mut names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                if !names.contains(&"admin") {
                    names.push("admin");
                }
                format!("roles={} scope={scope}", names.join(","))
            }
        }
    }
}

/// The kind of object a route's `{id}` names; each has an owner, and every other caller
/// gets 404 for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owned {
    ApiKey,
    Conversation,
    Checkout,
    Pod,
    Budget,
}

/// One route's declaration.
#[derive(Clone, Copy, Debug)]
pub struct RoutePolicy {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// The route template as registered (`/api/v2/auth/api-keys/{id}`).
    pub path: &'static str,
    pub access: Access,
    /// The owned object named by the path, if any.
    pub owns: Option<Owned>,
}

/// A route with `access` and no owned object.
pub const fn route(method: &'static str, path: &'static str, access: Access) -> RoutePolicy {
    RoutePolicy {
        method,
        path,
        access,
        owns: None,
    }
}

const fn owned(
    method: &'static str,
    path: &'static str,
    access: Access,
    owns: Owned,
) -> RoutePolicy {
    RoutePolicy {
        method,
        path,
        access,
        owns: Some(owns),
    }
}

const PUBLIC: Access = Access::Public;
const READ: Access = Access::Account(Scope::Read);
const ADMIN: Access = Access::Staff(&[], Scope::Admin);
const SUPPORT: Access = Access::Staff(&[Role::Support], Scope::Read);
const TRADE: Access = Access::Account(Scope::Trade);
const FINANCE_READ: Access = Access::Staff(&[Role::Finance, Role::Support], Scope::Read);
const FINANCE: Access = Access::Staff(&[Role::Finance], Scope::Trade);

/// Every route of the application.
pub const POLICIES: &[RoutePolicy] = &[
    // Operations and documentation.
    route("GET", "/health", PUBLIC),
    route("GET", "/health/", PUBLIC),
    route("GET", "/ready", PUBLIC),
    route("GET", "/metrics", PUBLIC),
    route("GET", "/api/v2/", PUBLIC),
    route("GET", "/api/v2/openapi.json", PUBLIC),
    route("GET", "/api/v2/docs", PUBLIC),
    route("GET", "/.well-known/jwks.json", PUBLIC),
    // The web UI (src/ui): the page and its embedded assets.
    route("GET", "/", PUBLIC),
    route("GET", "/ui/{file}", PUBLIC),
    // The live stream: public prices for anyone; a credential adds the user's own
    // notifications.
    route("GET", "/ws", PUBLIC),
    // Catalog, math, KPIs and the assistant: public market data.
    route("GET", "/api/v2/offers", PUBLIC),
    route("GET", "/api/v2/offers/facets", PUBLIC),
    route("GET", "/api/v2/offers/{id}", PUBLIC),
    route("GET", "/api/v2/offers/{id}/history", PUBLIC),
    route("GET", "/api/v2/gpus", PUBLIC),
    route("GET", "/api/v2/gpus/{model}", PUBLIC),
    route("GET", "/api/v2/providers", PUBLIC),
    route("POST", "/api/v2/math/topsis", PUBLIC),
    route("POST", "/api/v2/math/cost-per-token", PUBLIC),
    route("POST", "/api/v2/math/estimate-workload", PUBLIC),
    route("GET", "/api/v2/kpi/overview", PUBLIC),
    route("GET", "/api/v2/kpi/gpu/{model}", PUBLIC),
    route("GET", "/api/v2/kpi/provider/{name}", PUBLIC),
    route("GET", "/api/v2/kpi/insights", PUBLIC),
    route("POST", "/api/v2/recommendations", PUBLIC),
    route("POST", "/api/v2/ai/parse-workload", PUBLIC),
    route("POST", "/api/v2/ai/chat", PUBLIC),
    // Signed-in callers own their conversations; anonymous ones share one owner.
    owned(
        "GET",
        "/api/v2/ai/conversations/{id}",
        PUBLIC,
        Owned::Conversation,
    ),
    // Accounts.
    route("POST", "/api/v2/auth/register", PUBLIC),
    route("POST", "/api/v2/auth/login", PUBLIC),
    route("POST", "/api/v2/auth/refresh", PUBLIC),
    route("POST", "/api/v2/auth/logout", PUBLIC),
    // Browser sessions authenticate by their refresh cookie and the CSRF header.
    route("POST", "/api/v2/auth/session", PUBLIC),
    route("DELETE", "/api/v2/auth/session", PUBLIC),
    route("POST", "/api/v2/auth/session/refresh", PUBLIC),
    route("POST", "/api/v2/auth/verify-email", PUBLIC),
    route("POST", "/api/v2/auth/password-reset/request", PUBLIC),
    route("POST", "/api/v2/auth/password-reset", PUBLIC),
    route("POST", "/api/v2/auth/verify-email/request", READ),
    route("GET", "/api/v2/auth/me", READ),
    route("POST", "/api/v2/auth/change-password", READ),
    route("POST", "/api/v2/auth/api-keys", READ),
    route("GET", "/api/v2/auth/api-keys", READ),
    owned("DELETE", "/api/v2/auth/api-keys/{id}", READ, Owned::ApiKey),
    route("GET", "/api/v2/auth/users", ADMIN),
    // Billing: the caller's own wallet and transactions (no object id in the path).
    route("GET", "/api/v2/billing/wallet", READ),
    route("GET", "/api/v2/billing/transactions", READ),
    route("GET", "/api/v2/billing/plans", PUBLIC),
    route("POST", "/api/v2/billing/top-ups", TRADE),
    owned("GET", "/api/v2/billing/top-ups/{id}", READ, Owned::Checkout),
    route("GET", "/api/v2/billing/subscription", READ),
    route("POST", "/api/v2/billing/subscription", TRADE),
    route("DELETE", "/api/v2/billing/subscription", TRADE),
    route("GET", "/api/v2/billing/invoices", READ),
    route("GET", "/api/v2/billing/payment-methods", READ),
    route("GET", "/api/v2/pods", READ),
    route("POST", "/api/v2/pods", TRADE),
    owned("GET", "/api/v2/pods/{id}", READ, Owned::Pod),
    owned("POST", "/api/v2/pods/{id}/stop", TRADE, Owned::Pod),
    owned("POST", "/api/v2/pods/{id}/start", TRADE, Owned::Pod),
    owned("POST", "/api/v2/pods/{id}/terminate", TRADE, Owned::Pod),
    owned("GET", "/api/v2/pods/{id}/events", READ, Owned::Pod),
    route("GET", "/api/v2/budgets", READ),
    route("POST", "/api/v2/budgets", TRADE),
    owned("GET", "/api/v2/budgets/{id}", READ, Owned::Budget),
    owned("DELETE", "/api/v2/budgets/{id}", TRADE, Owned::Budget),
    route("GET", "/api/v2/notifications", READ),
    route("POST", "/api/v2/notifications/read", READ),
    owned("POST", "/api/v2/pods/{id}/agent-token", TRADE, Owned::Pod),
    owned("GET", "/api/v2/pods/{id}/telemetry", READ, Owned::Pod),
    // A pod's node agent authenticates by the pod's agent token (`gpa_…`, checked by the
    // handler), not by a user credential.
    route("POST", "/api/v2/agent/telemetry", PUBLIC),
    // Gateways authenticate by the webhook signature; the sandbox's hosted checkout page
    // by its unguessable session id (as Stripe's does).
    route("POST", "/api/v2/billing/webhooks/{gateway}", PUBLIC),
    route("GET", "/sandbox/checkout/{session}", PUBLIC),
    route("POST", "/sandbox/checkout/{session}", PUBLIC),
    // The caller's own statement; `{month}` is a period, not an object of another user.
    route("GET", "/api/v2/billing/statements/{month}", READ),
    route("PATCH", "/api/v2/auth/users/{id}", ADMIN),
    // Admin center.
    route("GET", "/api/v2/admin/config", ADMIN),
    route("PUT", "/api/v2/admin/config/{key}", ADMIN),
    route("POST", "/api/v2/admin/config/{key}/reveal", ADMIN),
    route("GET", "/api/v2/admin/audit", SUPPORT),
    route("POST", "/api/v2/admin/audit/verify", SUPPORT),
    route("POST", "/api/v2/admin/jwt/rotate", ADMIN),
    route("GET", "/api/v2/admin/overview", FINANCE_READ),
    route("GET", "/api/v2/admin/payments", FINANCE_READ),
    route("GET", "/api/v2/admin/refunds", FINANCE_READ),
    route("POST", "/api/v2/admin/refunds", FINANCE),
];

/// Declarations of routes added to the application router by its embedder (tests).
#[derive(Clone, Copy, Debug)]
pub struct ExtraPolicies(pub &'static [RoutePolicy]);

/// The declaration for `method` on the route template `path` in [`POLICIES`]; HEAD is GET.
pub fn lookup(method: &Method, path: &str) -> Option<&'static RoutePolicy> {
    lookup_in(POLICIES, method, path)
}

fn lookup_in(
    table: &'static [RoutePolicy],
    method: &Method,
    path: &str,
) -> Option<&'static RoutePolicy> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    table.iter().find(|p| p.path == path && p.method == method)
}

/// Middleware: applies the route's declared [`Access`] (401 without credentials, 403 for
/// a missing role or scope) and hands the [`AuthUser`] on to the handler. Requests that
/// matched no route pass (the fallback answers 404); a route with no declaration at all
/// fails closed.
pub async fn enforce(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(matched) = matched else {
        return next.run(req).await;
    };
    let extra = req
        .extensions()
        .get::<ExtraPolicies>()
        .map_or(&[][..], |e| e.0);
    let declared = lookup(req.method(), matched.as_str())
        .or_else(|| lookup_in(extra, req.method(), matched.as_str()));
    let access = match declared {
        Some(policy) => policy.access,
        // Another method of a declared path: the router answers 405.
        None if POLICIES
            .iter()
            .chain(extra)
            .any(|p| p.path == matched.as_str()) =>
        {
            return next.run(req).await
        }
        None => {
            tracing::error!(
                route = matched.as_str(),
                "route has no declared access policy; refusing it"
            );
            return ApiError::internal(anyhow::anyhow!(
                "route {} has no declared access policy",
                matched.as_str()
            ))
            .into_response();
        }
    };
    let private = access != Access::Public || matched.as_str().starts_with("/api/v2/auth/");
    if access == Access::Public {
        return no_store(next.run(req).await, private);
    }
    let user = match req.extensions().get::<AuthUser>() {
        Some(user) => user.clone(),
        None => match authenticate_request(req.method(), req.headers(), &state).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                return ApiError::Unauthorized(
                    "a bearer access token or an API key is required".into(),
                )
                .into_response()
            }
            Err(err) => return err.into_response(),
        },
    };
    if let Err(err) = access.allows(&user) {
        return err.into_response();
    }
    req.extensions_mut().insert(user);
    no_store(next.run(req).await, private)
}

/// Marks responses of private routes (anything needing credentials, and every account
/// route) `Cache-Control: no-store`, so no browser or proxy keeps tokens or balances.
fn no_store(mut response: Response, private: bool) -> Response {
    if private {
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, scopes: Vec<Scope>) -> AuthUser {
        AuthUser {
            id: "u".into(),
            role,
            scopes,
            api_key_id: None,
        }
    }

    #[test]
    fn staff_policy_checks_role_then_scope() {
        let finance = Access::Staff(&[Role::Finance], Scope::Read);
        assert!(finance
            .allows(&user(Role::Finance, Scope::of_role(Role::Finance)))
            .is_ok());
        assert!(finance
            .allows(&user(Role::Admin, Scope::of_role(Role::Admin)))
            .is_ok());
        assert!(matches!(
            finance.allows(&user(Role::Support, Scope::of_role(Role::Support))),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            ADMIN.allows(&user(Role::Admin, vec![Scope::Read])),
            Err(ApiError::Forbidden(_))
        ));
        assert_eq!(finance.describe(), "roles=finance,admin scope=read");
        assert_eq!(ADMIN.describe(), "roles=admin scope=admin");
    }

    #[test]
    fn declarations_are_unique_and_head_is_get() {
        for (i, a) in POLICIES.iter().enumerate() {
            for b in &POLICIES[i + 1..] {
                assert!(
                    !(a.path == b.path && a.method == b.method),
                    "{} {} declared twice",
                    a.method,
                    a.path
                );
            }
        }
        assert_eq!(
            lookup(&Method::HEAD, "/api/v2/offers").map(|p| p.access),
            Some(Access::Public)
        );
        assert!(lookup(&Method::PUT, "/api/v2/offers").is_none());
    }
}
