//! Plain-language workload descriptions ("serve llama 3 70b at 2k tokens/s in the EU under
//! $8/h") read into a [`WorkloadSpec`]. Deterministic and table-driven: no I/O, no guessing
//! beyond the vocabulary below; everything read is listed in [`ParseOutcome::recognised`],
//! everything doubtful or skipped in [`ParseOutcome::warnings`].
//!
//! # How the text is read
//!
//! The text is split into words (edge punctuation dropped; a `,` `.` `;` `!` `?` `)` after a
//! word ends a clause, and no phrase is read across a clause end). Named things are found
//! first, each claiming its words so later steps cannot reuse them:
//!
//! 1. **Model**: windows of 4, 3, 2 and 1 words, longest first, tried against
//!    [`llm::resolve`] ("llama 3 70b", "Llama-3.1-8B", "mixtral 8x7b", so "8x7b" is never a
//!    GPU count and "3.1" never a number). A family word alone ("llama", "qwen 2.5") sets no
//!    model and gives a warning listing the family's registry ids.
//! 2. **Precision**: fp32/float32/"full precision"; bf16/bfloat16; fp16/float16/"half
//!    precision"; fp8/float8; int8/8-bit/"8 bit"/q8/w8a8; int4/4-bit/"4 bit"/awq/gptq/nf4/q4.
//!    QLoRA without a stated precision implies int4. "quantized" alone gives a warning.
//! 3. **Region**: AWS/GCP-style ids `geo-direction[-N]` ("us-east-1", "eu-west",
//!    "europe-west4"); the continent (and country) the id states is filled in when not given.
//! 4. **GPU**: windows of 3, 2 and 1 words through [`gpu::resolve`] ("H100", "RTX 4090",
//!    "A100 80GB", plural "H100s"), reported as the family the user wrote when the registry
//!    has one ("A100", not "A100-40GB"). A count before ("8x H100", "8 x", "8xH100",
//!    "8 H100s", "an A100") or after ("H100 x8") is the GPU count.
//! 5. **Place**: continents eu/europe, "north america", "south america"/latam, asia/apac,
//!    oceania, africa (a bare "NA" is too ambiguous to read); countries by name through [`location::locate`]
//!    ("Germany" → DE, also setting the continent); "US"/usa/"united states"/america → US, NA.
//! 6. **Spot**: spot/interruptible/preemptible → true, negated ("no spot", "not
//!    preemptible") or on-demand/"on demand"/non-spot/uninterruptible/reliable → false;
//!    both kinds at once → warning, not set.
//! 7. **Method**: lora, qlora, "full fine-tune"/"full parameter"/full-parameter.
//!
//! Then numbers with units (tables in `units`): a number is `2000`, `2,000`, `1.5`, with an
//! optional scale `k`/thousand, `m`/million, `b`/bn/billion, `t`/trillion (so `90m` is 90
//! million; minutes need "min"), an optional `$` before or `$`/usd/dollars after. Units:
//! tokens/s (tok/s, t/s, tps, "tokens per second", per minute/hour converted); tokens;
//! context ("32k context", "context of 8192"; `k` is 1024 here); images; samples (samples,
//! examples, documents, rows, ...); requests per day (per hour/minute/second, rps, qps
//! converted); concurrency ("100 concurrent users", "concurrency 64"); "batch size 32";
//! durations (minutes, hours, days = 24 h, weeks = 168 h, months = 730 h; "an hour", "two
//! weeks", "half an hour"; "overnight" = 12 h, "weekend" = 48 h); GB of VRAM ("at least
//! 48GB", "48 GB VRAM"; RAM, disk and TB are ignored with a warning); GPU counts ("4 GPUs",
//! "a single GPU"); model sizes ("a 7B model", "13b params", "350M parameters", or a bare
//! glued "7b"). A dollar amount per hour ("$8/h", "8 usd per hour", "2 dollars an hour",
//! after "hourly") is `budget_per_hour`; per GPU-hour ("$2/gpu/h") `budget_per_gpu_hour`;
//! otherwise ("budget of $500", "$100 total") `budget_total`. Other currencies and per-day,
//! per-month or per-token budgets are ignored with a warning.
//!
//! # Task
//!
//! Keywords vote and the first of this order wins: fine-tune (fine-tune, finetune, "fine
//! tune", lora, qlora, sft, peft, dpo, rlhf) › training (train, training, pretrain,
//! pre-training, "from scratch"; not "training data") › image generation (image(s),
//! picture(s), sdxl, "stable diffusion", sd 1.5/3, flux, diffusion, txt2img, midjourney,
//! dall-e) › batch (batch but not "batch size", offline, bulk, embed(dings), documents) ›
//! inference (serve, inference, chat, host, deploy, api, endpoint, or a tokens/s or
//! concurrency figure). A named image model counts as an image-generation keyword. With no keyword the task is inference; a warning says so unless a
//! model is named.
//!
//! Words left over that are not filler ("the", "cheapest", "way", ...) are listed in one
//! "ignored" warning. A text with nothing understood, an empty text and one over
//! [`MAX_CHARS`] characters are errors.
//!
//! [`llm::resolve`]: crate::domain::llm::resolve
//! [`gpu::resolve`]: crate::domain::gpu::resolve
//! [`location::locate`]: crate::domain::location::locate

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[cfg(test)]
mod constraint_tests;
#[cfg(test)]
mod field_tests;
mod lexer;
mod named;
mod place;
mod quantity;
mod task;
#[cfg(test)]
mod tests;
mod units;

/// Longest accepted description, in characters.
pub const MAX_CHARS: usize = 2000;

/// What the workload does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Serving a model: chat, API, interactive or streaming inference.
    #[default]
    Inference,
    /// Adapting an existing model: LoRA, QLoRA or full fine-tuning.
    FineTune,
    /// Training or pre-training a model from scratch.
    Training,
    /// Generating images with a diffusion model.
    ImageGeneration,
    /// Offline processing of a fixed amount of work: batch inference, embeddings.
    Batch,
}

impl Task {
    /// Lower-case words for messages.
    pub fn label(self) -> &'static str {
        match self {
            Task::Inference => "inference",
            Task::FineTune => "fine-tune",
            Task::Training => "training",
            Task::ImageGeneration => "image generation",
            Task::Batch => "batch",
        }
    }
}

/// A workload, as read from a description or sent as JSON. Every field but `task` is
/// optional; an absent field means "not stated".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct WorkloadSpec {
    /// What the workload does.
    pub task: Task,
    /// LLM registry id when a known model is named ("llama-3-70b").
    pub model: Option<String>,
    /// Model size in billions of parameters: the named model's, or a bare size ("a 7B model").
    pub model_params_b: Option<f64>,
    /// Numeric precision: "fp32", "bf16", "fp16", "fp8", "int8" or "int4".
    pub precision: Option<String>,
    /// Fine-tuning method: "lora", "qlora" or "full".
    pub method: Option<String>,
    /// Required generation throughput, tokens per second.
    pub tokens_per_second: Option<f64>,
    /// Total tokens to process or train on.
    pub total_tokens: Option<f64>,
    /// Request volume, requests per day.
    pub requests_per_day: Option<f64>,
    /// Concurrent users or requests to serve.
    pub concurrency: Option<u32>,
    /// Batch size.
    pub batch_size: Option<u32>,
    /// Context length, tokens.
    pub context_tokens: Option<u32>,
    /// Images to generate.
    pub images: Option<u64>,
    /// Image model when named: "sdxl", "sd-1.5", "sd-3", "stable-diffusion", "flux".
    pub image_model: Option<String>,
    /// Dataset samples or documents to process.
    pub samples: Option<u64>,
    /// Wall-clock time the job may take or the capacity is needed for, hours.
    pub duration_hours: Option<f64>,
    /// Most to pay per hour for the whole deployment, USD.
    pub budget_per_hour: Option<f64>,
    /// Most to pay per GPU-hour, USD.
    pub budget_per_gpu_hour: Option<f64>,
    /// Most to pay in total, USD.
    pub budget_total: Option<f64>,
    /// Continent code: "NA", "EU", "AS", "OC", "SA" or "AF".
    pub continent: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// Cloud region id as written ("us-east-1", "eu-west").
    pub region: Option<String>,
    /// GPU model or family as the registry names it ("H100", "A100-80GB", "RTX4090").
    pub gpu: Option<String>,
    /// Number of GPUs.
    pub gpu_count: Option<u32>,
    /// Least memory per GPU, GB.
    pub min_vram_gb: Option<f64>,
    /// True: spot/interruptible capacity is fine; false: on-demand only.
    pub spot: Option<bool>,
}

/// A parsed description: the spec, what was understood and what was doubtful.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParseOutcome {
    /// The workload read from the text.
    pub spec: WorkloadSpec,
    /// What was understood, one human-readable line per fact ("budget per hour: $8").
    pub recognised: Vec<String>,
    /// Ambiguous, conflicting or ignored parts of the text.
    pub warnings: Vec<String>,
}

/// Why a description could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, ToSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum WorkloadParseError {
    /// The text is empty or only whitespace.
    #[error(
        "the workload description is empty; describe the task, model and limits, \
         e.g. \"serve llama 3 70b at 2k tokens/s in the EU under $8/h\""
    )]
    Empty,
    /// The text is longer than [`MAX_CHARS`].
    #[error("the workload description has {chars} characters; at most {max} are accepted")]
    TooLong {
        /// Characters in the text.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// Not one word of the text was understood.
    #[error(
        "nothing in the workload description was understood; expected a task (serve, \
         fine-tune, train, generate images, batch), a model (\"llama 3 70b\", \"a 7B model\"), \
         a GPU (\"8x H100\"), a throughput (\"2k tokens/s\"), a duration (\"for 10 hours\"), \
         a budget (\"under $8/h\") or a place (\"in the EU\", \"us-east-1\")"
    )]
    NothingUnderstood,
}

/// Reads a plain-language workload description; see the module docs for the vocabulary.
pub fn parse(text: &str) -> Result<ParseOutcome, WorkloadParseError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(WorkloadParseError::Empty);
    }
    let chars = text.chars().count();
    if chars > MAX_CHARS {
        return Err(WorkloadParseError::TooLong {
            chars,
            max: MAX_CHARS,
        });
    }
    let mut draft = Draft::new(text);
    named::models(&mut draft);
    named::precision(&mut draft);
    place::regions(&mut draft);
    named::gpus(&mut draft);
    place::locations(&mut draft);
    named::spot(&mut draft);
    named::method(&mut draft);
    named::families(&mut draft);
    task::image_models(&mut draft);
    quantity::quantities(&mut draft);
    let named_task = task::detect(&mut draft);
    if draft.notes.recognised.is_empty() {
        return Err(WorkloadParseError::NothingUnderstood);
    }
    if !named_task && draft.spec.model.is_none() {
        draft.notes.warn(
            "no task named (serve, fine-tune, train, generate images, batch); assuming inference",
        );
    }
    named::implied_precision(&mut draft);
    task::report_ignored(&mut draft);
    Ok(ParseOutcome {
        spec: draft.spec,
        recognised: draft.notes.recognised,
        warnings: draft.notes.warnings,
    })
}

/// The parse in progress: the words (with which are used up), the spec and the notes.
struct Draft {
    words: Vec<lexer::Word>,
    spec: WorkloadSpec,
    notes: Notes,
}

impl Draft {
    fn new(text: &str) -> Self {
        Self {
            words: lexer::words(text),
            spec: WorkloadSpec::default(),
            notes: Notes::default(),
        }
    }

    /// True when words `start..end` exist, none is used and no clause ends inside them.
    fn free(&self, start: usize, end: usize) -> bool {
        match self.words.get(start..end) {
            Some(span) if !span.is_empty() => {
                span.iter().all(|w| !w.used)
                    && span.iter().take(span.len() - 1).all(|w| !w.clause_end)
            }
            _ => false,
        }
    }

    /// Marks words `start..end` as understood.
    fn take(&mut self, start: usize, end: usize) {
        for word in self.words.iter_mut().take(end).skip(start) {
            word.used = true;
        }
    }

    /// The words `start..end` as written, space-separated.
    fn text(&self, start: usize, end: usize) -> String {
        let span = self.words.get(start..end).unwrap_or_default();
        let raw: Vec<&str> = span.iter().map(|w| w.raw.as_str()).collect();
        raw.join(" ")
    }

    /// Word `i` lower-cased, or "" past the end.
    fn lower(&self, i: usize) -> &str {
        self.words.get(i).map_or("", |w| w.lower.as_str())
    }
}

/// What was understood and what was doubtful, in text order.
#[derive(Default)]
struct Notes {
    recognised: Vec<String>,
    warnings: Vec<String>,
}

impl Notes {
    /// Fills an empty `slot` and records it; a second, different value is kept out and
    /// warned about (the first statement wins).
    fn set<T: PartialEq>(&mut self, slot: &mut Option<T>, value: T, label: &str, shown: &str) {
        match slot {
            None => {
                *slot = Some(value);
                self.recognised.push(format!("{label}: {shown}"));
            }
            Some(old) if *old == value => {}
            Some(_) => self.warn(format!(
                "{label} given more than once; kept the first, ignored {shown}"
            )),
        }
    }

    fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }
}
