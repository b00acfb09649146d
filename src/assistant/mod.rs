//! The assistant: a chat that answers from real catalog data through tools, planned by
//! rules offline or by an OpenAI-compatible model when one is configured.
//!
//! Either way every offer and price in an answer comes from a tool result. A model's
//! answer is checked: a dollar amount in its reply that no tool returned makes the
//! assistant discard that reply and answer with the rule-based planner instead, saying so.
//! Conversations are stored per owner (`anonymous` until accounts exist).

pub mod llm;
pub mod tools;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use self::llm::{LlmClient, Message};
use self::tools::ToolOutput;
use crate::app::AppState;
use crate::domain::workload::{self, Task};
use crate::http::offer_view::OfferView;
use crate::store::StoreError;

/// Owner of conversations until accounts exist.
pub const ANONYMOUS: &str = "anonymous";
/// Longest accepted message, characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Earlier messages sent to the model.
const HISTORY_MESSAGES: i64 = 20;
/// Model rounds (each may call tools) before giving up on tool use.
const MAX_ROUNDS: usize = 4;
/// Offers listed in a response at most.
const MAX_OFFERS: usize = 20;

const SYSTEM_PROMPT: &str = "You are GPUBROKER's assistant for renting GPUs. Answer only \
with facts from tool results: search_offers, recommend, compare_gpus and explain_gpu read \
the live catalog. Never state a price, offer, provider or availability that a tool did not \
return; if the tools return nothing suitable, say so. Quote prices in USD as the tools give \
them (per hour) and name the offer id. Be brief.";

/// One tool run, as reported to the caller.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ToolRun {
    pub tool: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
    pub summary: String,
}

/// The assistant's answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChatAnswer {
    pub conversation_id: String,
    pub reply: String,
    /// `rules` (offline planner) or `llm` (the configured model).
    pub mode: String,
    /// The model that answered, in `llm` mode.
    pub model: Option<String>,
    pub tools: Vec<ToolRun>,
    /// Every offer the answer draws on, from the live catalog.
    pub offers: Vec<OfferView>,
    /// Why the answer came from the rules when a model is configured, and similar notes.
    pub notes: Vec<String>,
}

/// What went wrong answering.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    Invalid(String),
    #[error("conversation {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Collected {
    tools: Vec<ToolRun>,
    offers: Vec<OfferView>,
    /// Every number any tool returned, to check a model's reply against.
    numbers: Vec<f64>,
}

impl Collected {
    fn new() -> Self {
        Collected {
            tools: Vec::new(),
            offers: Vec::new(),
            numbers: Vec::new(),
        }
    }

    fn add(&mut self, tool: &str, arguments: Value, out: &ToolOutput) {
        self.tools.push(ToolRun {
            tool: tool.to_owned(),
            arguments,
            summary: out.summary.clone(),
        });
        collect_numbers(&out.result, &mut self.numbers);
        for o in &out.offers {
            if self.offers.len() < MAX_OFFERS && !self.offers.iter().any(|x| x.id == o.id) {
                self.offers.push(o.clone());
            }
        }
    }
}

/// Collects the money amounts a tool returned: numbers under keys that name a price or a
/// cost (`price_per_hour`, `hourly_usd`, `total_usd`, `usd_per_million_tokens`, …), never
/// counts, sizes or ranks.
fn collect_numbers(v: &Value, out: &mut Vec<f64>) {
    const MONEY: [&str; 5] = ["price", "usd", "cost", "hourly", "total_"];
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_numbers(i, out)),
        Value::Object(map) => {
            for (key, value) in map {
                let is_money = MONEY.iter().any(|m| key.contains(m)) && !key.starts_with("budget");
                match value {
                    Value::Number(n) if is_money => out.extend(n.as_f64()),
                    Value::Object(_) | Value::Array(_) if is_money => collect_all(value, out),
                    other => collect_numbers(other, out),
                }
            }
        }
        _ => {}
    }
}

/// Every number under `v` (a price distribution object, say).
fn collect_all(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Number(n) => out.extend(n.as_f64()),
        Value::Array(items) => items.iter().for_each(|i| collect_all(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_all(i, out)),
        _ => {}
    }
}

/// Dollar amounts written in `text`: `$2.49`, `$ 2.49`, `$1,200`, `$2k`, `2.49 USD`,
/// `USD 2.49`, `2.49 dollars`.
pub fn dollar_amounts(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    let skip_spaces = |mut i: usize| {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        i
    };
    // The number starting at `i` (with a k/M/B suffix scaled), and where it ends.
    let number_at = |i: usize| -> (Option<f64>, usize) {
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.' || chars[j] == ',') {
            j += 1;
        }
        let raw: String = chars[i..j].iter().filter(|c| **c != ',').collect();
        let mut n: Option<f64> = raw.trim_end_matches('.').parse().ok();
        let suffix = chars.get(j).copied();
        let after = chars.get(j + 1).copied();
        let scale = match suffix {
            Some('k' | 'K') => Some(1e3),
            Some('M') => Some(1e6),
            Some('B') => Some(1e9),
            _ => None,
        };
        if let Some(k) = scale {
            if !after.is_some_and(|c| c.is_ascii_alphanumeric()) {
                n = n.map(|x| x * k);
                j += 1;
            }
        }
        (n, j)
    };
    let word_at = |i: usize, word: &str| {
        let w: String = chars[i..].iter().take(word.len()).collect();
        w.eq_ignore_ascii_case(word)
            && !chars
                .get(i + word.len())
                .is_some_and(|c| c.is_ascii_alphabetic())
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if chars[i] == '$' {
            let (n, end) = number_at(skip_spaces(i + 1));
            out.extend(n);
            i = end.max(i + 1);
        } else if starts_word && word_at(i, "usd") {
            let start = skip_spaces(i + 3);
            if chars.get(start).is_some_and(char::is_ascii_digit) {
                let (n, end) = number_at(start);
                out.extend(n);
                i = end;
            } else {
                i += 3;
            }
        } else if chars[i].is_ascii_digit() && starts_word {
            let (n, end) = number_at(i);
            let next = skip_spaces(end);
            if word_at(next, "usd") || word_at(next, "dollars") || word_at(next, "dollar") {
                out.extend(n);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Whether `amount` is one the tools returned (to the cent, or within 0.5 % for rounded
/// larger figures).
fn is_sourced(amount: f64, numbers: &[f64]) -> bool {
    numbers
        .iter()
        .any(|n| (n - amount).abs() < 0.006 || (*n > 10.0 && ((n - amount) / n).abs() < 0.005))
}

/// Answers `message` in conversation `conversation_id` (a new one when `None`).
pub async fn chat(
    state: &AppState,
    owner: &str,
    conversation_id: Option<String>,
    message: &str,
) -> Result<ChatAnswer, ChatError> {
    let message = message.trim();
    if message.is_empty() {
        return Err(ChatError::Invalid("message is empty".into()));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ChatError::Invalid(format!(
            "message is longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    let id = match conversation_id {
        Some(id) => {
            if !state.store.conversation_owned(&id, owner).await? {
                return Err(ChatError::NotFound(id));
            }
            id
        }
        None => format!("conv_{}", uuid::Uuid::now_v7().simple()),
    };
    let mut answer = match &state.llm {
        Some(client) => {
            let history = state
                .store
                .conversation_messages(&id, HISTORY_MESSAGES)
                .await?;
            match with_model(state, client, &history, message).await {
                Ok(a) => a,
                Err(why) => {
                    let mut a = with_rules(state, message);
                    a.notes.push(why);
                    a
                }
            }
        }
        None => with_rules(state, message),
    };
    answer.conversation_id.clone_from(&id);
    let data = serde_json::json!({
        "mode": answer.mode, "tools": answer.tools,
        "offer_ids": answer.offers.iter().map(|o| &o.id).collect::<Vec<_>>(),
    })
    .to_string();
    state
        .store
        .append_messages(
            &id,
            owner,
            &[
                ("user", message, None),
                ("assistant", &answer.reply, Some(&data)),
            ],
        )
        .await?;
    Ok(answer)
}

/// The model's answer with tools, or why it could not be used.
async fn with_model(
    state: &AppState,
    client: &LlmClient,
    history: &[crate::store::ai::StoredMessage],
    message: &str,
) -> Result<ChatAnswer, String> {
    let mut messages = vec![Message::text("system", SYSTEM_PROMPT)];
    messages.extend(
        history
            .iter()
            .filter(|m| m.role == "user" || m.role == "assistant")
            .map(|m| Message::text(&m.role, m.content.clone())),
    );
    messages.push(Message::text("user", message));
    let specs = tools::specs();
    let mut collected = Collected::new();
    for _ in 0..MAX_ROUNDS {
        let reply = client
            .complete(&messages, &specs)
            .await
            .map_err(|e| format!("answered by the rules: {e}"))?;
        if reply.tool_calls.is_empty() {
            let text = reply.content.unwrap_or_default();
            let unsourced: Vec<String> = dollar_amounts(&text)
                .into_iter()
                .filter(|a| !is_sourced(*a, &collected.numbers))
                .map(|a| format!("${a}"))
                .collect();
            if !unsourced.is_empty() {
                return Err(format!(
                    "answered by the rules: the language model quoted {} that no catalog tool returned",
                    unsourced.join(", ")
                ));
            }
            if text.trim().is_empty() {
                return Err(
                    "answered by the rules: the language model gave an empty answer".into(),
                );
            }
            return Ok(ChatAnswer {
                conversation_id: String::new(),
                reply: text,
                mode: "llm".into(),
                model: Some(client.model().to_owned()),
                tools: collected.tools,
                offers: collected.offers,
                notes: Vec::new(),
            });
        }
        let calls = reply.tool_calls.clone();
        messages.push(reply);
        for call in calls {
            let args: Value = serde_json::from_str(&call.function.arguments)
                .unwrap_or(Value::Object(serde_json::Map::new()));
            let out = tools::run(state, &call.function.name, &args);
            collected.add(&call.function.name, args, &out);
            messages.push(Message::tool_result(&call.id, out.result.to_string()));
        }
    }
    Err(format!(
        "answered by the rules: the language model kept calling tools after {MAX_ROUNDS} rounds"
    ))
}

const HELP: &str = "I answer from the live GPU catalog. Try: \"cheapest H100 in the EU\", \
\"compare A100 and H100\", \"what is an L40S?\", \"serve llama 3 70b at 2k tokens/s under \
$10/h\" or \"cheapest way to fine-tune a 7B model for 10 hours\".";

/// The name to search a mentioned GPU by: a generic entry ("A100", registered as the 40 GB
/// card) stands for its whole family, a specific one for itself.
fn family_name(g: &crate::domain::gpu::GpuSpec) -> String {
    match (g.variant_known, g.families.first()) {
        (false, Some(family)) => (*family).to_owned(),
        _ => g.model.to_owned(),
    }
}

/// The offline planner: picks tools by rules and writes the answer from their results.
pub fn with_rules(state: &AppState, message: &str) -> ChatAnswer {
    let lower = message.to_lowercase();
    let gpus = tools::gpus_mentioned(message);
    let parsed = workload::parse(message).ok();
    let mut collected = Collected::new();
    let mut paragraphs = Vec::new();
    let mut run = |name: &str, args: Value| {
        let out = tools::run(state, name, &args);
        collected.add(name, args, &out);
        paragraphs.push(out.text);
    };
    let wants_compare = ["compare", " vs", "versus", "difference between", " or "]
        .iter()
        .any(|w| lower.contains(w));
    let wants_explain = [
        "what is",
        "what's",
        "explain",
        "tell me about",
        "specs",
        "spec of",
    ]
    .iter()
    .any(|w| lower.contains(w));
    let is_workload = parsed.as_ref().is_some_and(|p| {
        let s = &p.spec;
        s.model_params_b.is_some()
            || s.images.is_some()
            || s.total_tokens.is_some()
            || s.tokens_per_second.is_some()
            || matches!(
                s.task,
                Task::FineTune | Task::Training | Task::ImageGeneration
            )
    });
    if gpus.len() >= 2 && wants_compare {
        let models: Vec<String> = gpus.iter().map(|g| family_name(g)).collect();
        run("compare_gpus", serde_json::json!({ "models": models }));
    } else if gpus.len() == 1
        && wants_explain
        && !lower.contains("cheap")
        && !lower.contains("price")
    {
        run("explain_gpu", serde_json::json!({ "model": gpus[0].model }));
    } else if is_workload {
        run(
            "recommend",
            serde_json::json!({ "workload": message, "limit": 3 }),
        );
    } else if let Some(g) = gpus.first() {
        let mut query = format!("gpu={}", family_name(g));
        if let Some(spec) = parsed.as_ref().map(|p| &p.spec) {
            if let Some(c) = &spec.continent {
                query.push_str(&format!(" continent={c}"));
            }
            if let Some(c) = &spec.country {
                query.push_str(&format!(" country={c}"));
            }
            if let Some(n) = spec.gpu_count {
                query.push_str(&format!(" count={n}"));
            }
        }
        let spot = lower.contains("spot") || lower.contains("interruptible");
        query.push_str(if spot {
            " spot>0 sort=spot"
        } else {
            " sort=price"
        });
        run(
            "search_offers",
            serde_json::json!({ "query": query, "limit": 5 }),
        );
    }
    let reply = if paragraphs.is_empty() {
        HELP.to_owned()
    } else {
        paragraphs.join("\n\n")
    };
    ChatAnswer {
        conversation_id: String::new(),
        reply,
        mode: "rules".into(),
        model: None,
        tools: collected.tools,
        offers: collected.offers,
        notes: Vec::new(),
    }
}

/// A stored message, for the history endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryMessage {
    pub role: String,
    pub content: String,
    /// Tools and offer ids of an assistant message.
    #[schema(value_type = Object)]
    pub data: Option<Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The messages of `id` (oldest first, at most `limit`) if `owner` owns it.
pub async fn history(
    state: &AppState,
    owner: &str,
    id: &str,
    limit: i64,
) -> Result<Vec<HistoryMessage>, ChatError> {
    if !state.store.conversation_owned(id, owner).await? {
        return Err(ChatError::NotFound(id.to_owned()));
    }
    let rows = state.store.conversation_messages(id, limit).await?;
    Ok(rows
        .into_iter()
        .map(|m| HistoryMessage {
            role: m.role,
            content: m.content,
            data: m.data.and_then(|d| serde_json::from_str(&d).ok()),
            created_at: m.created_at,
        })
        .collect())
}

/// Ids of the offers in `answer` (for tests and logs).
pub fn offer_ids(answer: &ChatAnswer) -> HashSet<&str> {
    answer.offers.iter().map(|o| o.id.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_amounts_are_found_in_every_spelling() {
        assert_eq!(
            dollar_amounts("H100 at $2.49/h, or $1,200 total; 3.5 USD spot; v2 not 7b"),
            vec![2.49, 1200.0, 3.5]
        );
        assert_eq!(dollar_amounts("costs $2."), vec![2.0]);
        assert_eq!(
            dollar_amounts("$ 2.49, USD 3, 4.5 dollars, $2k, $1.5M budget, 7 usd."),
            vec![2.49, 3.0, 4.5, 2000.0, 1.5e6, 7.0]
        );
        assert!(dollar_amounts("no prices here, just 8 GPUs and a 70B model").is_empty());
    }

    #[test]
    fn sourced_amounts_match_to_the_cent() {
        let numbers = [2.4899, 1234.5];
        assert!(is_sourced(2.49, &numbers));
        assert!(is_sourced(1235.0, &numbers));
        assert!(!is_sourced(2.39, &numbers));
        assert!(!is_sourced(1300.0, &numbers));
    }
}

#[cfg(test)]
mod source_tests {
    use super::*;

    #[test]
    fn only_money_fields_count_as_sources() {
        let result = serde_json::json!({
            "offers": [{"gpu_count": 8, "price_per_hour": 2.49, "gpu_memory_gb": 80}],
            "requirements": {"budget_per_hour": 10.0},
            "recommendations": [{"rank": 1, "estimate": {"hourly_usd": 4.98, "total_usd": 49.8}}],
            "price_per_gpu_hour": {"p50": 1.25}
        });
        let mut numbers = Vec::new();
        collect_numbers(&result, &mut numbers);
        numbers.sort_by(f64::total_cmp);
        assert_eq!(numbers, vec![1.25, 2.49, 4.98, 49.8]);
    }
}
