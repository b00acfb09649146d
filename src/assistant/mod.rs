//! The assistant: a chat that answers from real catalog data through tools, planned by
//! rules offline or by an OpenAI-compatible model when one is configured.

pub mod llm;
