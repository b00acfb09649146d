//! The assistant's chat over HTTP.

use axum::extract::{Path, Query as QueryParams, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::JsonBody;
use crate::app::AppState;
use crate::assistant::{self, ChatAnswer, ChatError, HistoryMessage, ANONYMOUS};
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat))
        .routes(routes!(conversation))
}

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::Invalid(m) => ApiError::Validation(m),
            ChatError::NotFound(_) => ApiError::NotFound(err.to_string()),
            ChatError::Store(e) => e.into(),
        }
    }
}

/// A chat message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The question, e.g. "cheapest way to fine-tune a 7B model for 10 hours".
    pub message: String,
    /// Continue this conversation; a new one starts when absent.
    pub conversation_id: Option<String>,
}

/// Ask the assistant. It answers from the live catalog through tools (search, recommend,
/// compare, explain): with rules offline, or with the configured OpenAI-compatible model.
/// With a bearer token the conversation belongs to that user (another user gets 404);
/// without one it is anonymous.
#[utoipa::path(post, path = "/api/v2/ai/chat", tag = "assistant", request_body = ChatRequest,
    responses(
        (status = 200, description = "The answer, the tools it used and the offers it cites", body = ChatAnswer),
        (status = 404, description = "Unknown conversation", body = ErrorBody),
        (status = 422, description = "Empty or too long message", body = ErrorBody)
    ))]
pub async fn chat(
    State(state): State<AppState>,
    user: Option<AuthUser>,
    JsonBody(req): JsonBody<ChatRequest>,
) -> Result<Json<ChatAnswer>, ApiError> {
    let owner = owner(user.as_ref());
    let answer = assistant::chat(&state, &owner, req.conversation_id, &req.message).await?;
    Ok(Json(answer))
}

/// Whose conversations: the signed-in user's, or the shared anonymous owner's.
fn owner(user: Option<&AuthUser>) -> String {
    user.map_or_else(|| ANONYMOUS.to_owned(), |u| format!("user:{}", u.id))
}

/// Paging of a conversation's messages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Newest messages to return (1–200, default 50).
    pub limit: Option<i64>,
}

/// A conversation's messages, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationResponse {
    pub conversation_id: String,
    pub messages: Vec<HistoryMessage>,
}

/// The messages of one conversation.
#[utoipa::path(get, path = "/api/v2/ai/conversations/{id}", tag = "assistant",
    params(("id" = String, Path, description = "Conversation id from a chat answer"), HistoryParams),
    responses(
        (status = 200, description = "Messages, oldest first", body = ConversationResponse),
        (status = 404, description = "Unknown conversation", body = ErrorBody)
    ))]
pub async fn conversation(
    State(state): State<AppState>,
    user: Option<AuthUser>,
    Path(id): Path<String>,
    QueryParams(params): QueryParams<HistoryParams>,
) -> Result<Json<ConversationResponse>, ApiError> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be from 1 to 200".into()));
    }
    let messages = assistant::history(&state, &owner(user.as_ref()), &id, limit).await?;
    Ok(Json(ConversationResponse {
        conversation_id: id,
        messages,
    }))
}
