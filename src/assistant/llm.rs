//! A client of OpenAI-compatible `POST {base}/chat/completions` with tool calling (the
//! shape OpenAI, vLLM, llama.cpp server, Ollama and most gateways serve).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::providers::http;
use crate::providers::source::SourceError;
use crate::settings::LlmSettings;

/// Time allowed for one completion.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Response bytes read at most.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// One chat message in the OpenAI wire shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    /// Gateways send `null`, `[]` or nothing for "no tool calls".
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message of `role` with text `content`.
    pub fn text(role: &str, content: impl Into<String>) -> Message {
        Message {
            role: role.to_owned(),
            content: Some(content.into()),
            ..Message::default()
        }
    }

    /// The result of tool call `id`.
    pub fn tool_result(id: &str, content: String) -> Message {
        Message {
            role: "tool".to_owned(),
            content: Some(content),
            tool_call_id: Some(id.to_owned()),
            ..Message::default()
        }
    }
}

/// A tool call requested by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ToolCall>, D::Error> {
    Ok(Option::<Vec<ToolCall>>::deserialize(d)?.unwrap_or_default())
}

fn function_type() -> String {
    "function".to_owned()
}

/// Name and JSON-encoded arguments of a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the wire format carries it.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Clone, Debug, Serialize)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// Why a completion failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the language model endpoint could not be reached: {0}")]
    Transport(String),
    #[error("the language model endpoint answered {status}: {snippet}")]
    Status { status: u16, snippet: String },
    #[error("the language model endpoint sent an unexpected response: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

/// A configured chat-completions endpoint.
#[derive(Clone, Debug)]
pub struct LlmClient {
    settings: LlmSettings,
    client: reqwest::Client,
}

impl LlmClient {
    /// A client of the endpoint in `settings`, reaching only what `reach` allows.
    pub fn new(settings: LlmSettings, reach: crate::net_guard::Reach) -> LlmClient {
        LlmClient {
            settings,
            client: http::client(reach),
        }
    }

    /// The model name, for responses.
    pub fn model(&self) -> &str {
        &self.settings.model
    }

    /// One completion of `messages` with `tools` available; deterministic sampling.
    pub async fn complete(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
    ) -> Result<Message, LlmError> {
        let url = format!(
            "{}/chat/completions",
            self.settings.url.as_str().trim_end_matches('/')
        );
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                serde_json::json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters}
                })
            })
            .collect();
        let mut body = serde_json::json!({
            "model": self.settings.model,
            "messages": messages,
            "temperature": 0,
        });
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools);
            body["tool_choice"] = Value::String("auto".into());
        }
        let mut request = self.client.post(&url).timeout(TIMEOUT).json(&body);
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key);
        }
        let redact = |text: String| match &self.settings.api_key {
            Some(key) if !key.is_empty() => text.replace(key.as_str(), "<redacted>"),
            _ => text,
        };
        let resp = request
            .send()
            .await
            .map_err(|e| LlmError::Transport(redact(e.without_url().to_string())))?;
        // Error statuses come back with a bounded snippet of the endpoint's own text.
        let text = http::read_body(resp, BODY_LIMIT)
            .await
            .map_err(|e| match e {
                SourceError::Status {
                    status, snippet, ..
                } => LlmError::Status {
                    status,
                    snippet: redact(snippet),
                },
                other => LlmError::Transport(redact(other.to_string())),
            })?;
        let completion: Completion =
            serde_json::from_str(&text).map_err(|e| LlmError::Malformed(e.to_string()))?;
        completion
            .choices
            .into_iter()
            .next()
            .map(|c| c.message)
            .ok_or_else(|| LlmError::Malformed("no choices".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_or_missing_tool_calls_mean_none() {
        for body in [
            r#"{"role":"assistant","content":"hi","tool_calls":null}"#,
            r#"{"role":"assistant","content":"hi"}"#,
            r#"{"role":"assistant","content":"hi","tool_calls":[]}"#,
        ] {
            let m: Message = serde_json::from_str(body).unwrap();
            assert!(m.tool_calls.is_empty(), "{body}");
            assert_eq!(m.content.as_deref(), Some("hi"));
        }
    }
}
