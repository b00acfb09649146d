//! The task from keywords, image models by name, and the report of words left over.

use super::{Draft, Task};

/// Task keywords per task, `|`-separated (lower-case, words space-separated); see the
/// module docs for which task wins when several are named.
const KEYWORDS: &[(Task, &str)] = &[
    (
        Task::FineTune,
        "fine-tune|fine-tuning|fine-tuned|finetune|finetuning|finetuned|fine tune|\
         fine tuning|lora|qlora|sft|peft|dpo|rlhf",
    ),
    (
        Task::Training,
        "train|training|trained|pretrain|pre-train|pretraining|pre-training|from scratch",
    ),
    (
        Task::ImageGeneration,
        "image|images|picture|pictures|diffusion|text-to-image|txt2img|img2img|midjourney|dall-e|dalle",
    ),
    (
        Task::Batch,
        "batch|batched|offline|bulk|embed|embedding|embeddings|documents",
    ),
    (
        Task::Inference,
        "serve|serving|inference|infer|chat|chatbot|host|hosting|deploy|deployment|api|\
         endpoint",
    ),
];

/// The winner when several tasks are named.
const PRIORITY: [Task; 5] = [
    Task::FineTune,
    Task::Training,
    Task::ImageGeneration,
    Task::Batch,
    Task::Inference,
];

/// Image model ids (`None` for hosted services) and their `|`-separated names.
const IMAGE_MODELS: &[(Option<&str>, &str)] = &[
    (Some("sdxl"), "stable diffusion xl|sdxl|sd-xl"),
    (
        Some("stable-diffusion"),
        "stable diffusion|stable-diffusion|sd",
    ),
    (Some("sd-1.5"), "sd1.5|sd 1.5|sd-1.5"),
    (Some("sd-3"), "sd3|sd 3|sd3.5|sd 3.5"),
    (Some("flux"), "flux|flux.1|flux-dev|flux-schnell"),
    (None, "midjourney|dall-e|dalle"),
];

/// Finds image model names, longest first; a hosted service gives a warning instead.
pub(super) fn image_models(draft: &mut Draft) {
    for start in 0..draft.words.len() {
        for len in [3, 2, 1] {
            let end = start + len;
            if !draft.free(start, end) {
                continue;
            }
            let phrase = phrase(draft, start, end);
            let found = IMAGE_MODELS
                .iter()
                .find(|(_, names)| names.split('|').any(|n| n == phrase));
            let Some((id, _)) = found else {
                continue;
            };
            let text = draft.text(start, end);
            draft.take(start, end);
            match id {
                Some(id) => {
                    let shown = format!("{id} (\"{text}\")");
                    let notes = &mut draft.notes;
                    notes.set(
                        &mut draft.spec.image_model,
                        (*id).to_owned(),
                        "image model",
                        &shown,
                    );
                }
                None => draft.notes.warn(format!(
                    "\"{text}\" is a hosted service, not a model to run; image model not set"
                )),
            }
            break;
        }
    }
}

/// Lower-case words `start..end`, space-separated.
fn phrase(draft: &Draft, start: usize, end: usize) -> String {
    let words: Vec<&str> = (start..end).map(|i| draft.lower(i)).collect();
    words.join(" ")
}

/// Sets the task from its keywords (and from a throughput or concurrency figure, which
/// mean serving); returns whether anything named a task.
pub(super) fn detect(draft: &mut Draft) -> bool {
    let mut votes: Vec<(Task, String)> = Vec::new();
    let mut i = 0;
    while i < draft.words.len() {
        let found = [2, 1].into_iter().find_map(|len| {
            if i + len > draft.words.len() {
                return None;
            }
            let phrase = phrase(draft, i, i + len);
            let (task, _) = KEYWORDS
                .iter()
                .find(|(_, words)| words.split('|').any(|w| w == phrase))?;
            let next = draft.lower(i + len);
            let not_meant = match phrase.as_str() {
                "batch" => next == "size",
                "training" => {
                    ["data", "set", "dataset", "examples", "samples", "corpus"].contains(&next)
                }
                _ => false,
            };
            (!not_meant).then_some((*task, len))
        });
        let Some((task, len)) = found else {
            i += 1;
            continue;
        };
        votes.push((task, draft.text(i, i + len)));
        draft.take(i, i + len);
        i += len;
    }
    if let Some(model) = &draft.spec.image_model {
        votes.push((Task::ImageGeneration, model.clone()));
    }
    if draft.spec.tokens_per_second.is_some() || draft.spec.concurrency.is_some() {
        votes.push((
            Task::Inference,
            "a throughput or concurrency figure".to_owned(),
        ));
    }
    let Some((task, why)) = PRIORITY
        .iter()
        .find_map(|p| votes.iter().find(|(t, _)| t == p))
    else {
        return false;
    };
    let shown = format!("{} (\"{why}\")", task.label());
    draft.spec.task = *task;
    draft.notes.recognised.push(format!("task: {shown}"));
    true
}

/// Filler that is read past without a warning.
const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "to",
    "for",
    "of",
    "on",
    "in",
    "at",
    "as",
    "with",
    "and",
    "or",
    "but",
    "by",
    "from",
    "into",
    "onto",
    "via",
    "using",
    "use",
    "over",
    "about",
    "around",
    "roughly",
    "approximately",
    "approx",
    "some",
    "any",
    "my",
    "our",
    "your",
    "their",
    "its",
    "it",
    "them",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "i",
    "i'd",
    "i'm",
    "we",
    "we'd",
    "we're",
    "me",
    "us",
    "you",
    "is",
    "are",
    "am",
    "be",
    "been",
    "was",
    "were",
    "will",
    "would",
    "should",
    "could",
    "can",
    "must",
    "need",
    "needs",
    "want",
    "wants",
    "like",
    "please",
    "help",
    "find",
    "get",
    "give",
    "show",
    "pick",
    "choose",
    "have",
    "has",
    "do",
    "does",
    "let",
    "let's",
    "if",
    "when",
    "while",
    "after",
    "before",
    "possible",
    "something",
    "what",
    "which",
    "how",
    "much",
    "many",
    "way",
    "ways",
    "cheapest",
    "cheap",
    "cheaply",
    "cheaper",
    "lowest",
    "low",
    "cost",
    "costs",
    "price",
    "prices",
    "best",
    "fastest",
    "fast",
    "faster",
    "quick",
    "quickly",
    "good",
    "under",
    "below",
    "less",
    "than",
    "max",
    "maximum",
    "min",
    "minimum",
    "most",
    "least",
    "more",
    "up",
    "within",
    "no",
    "not",
    "budget",
    "total",
    "per",
    "hourly",
    "only",
    "just",
    "also",
    "then",
    "so",
    "run",
    "running",
    "runs",
    "make",
    "generate",
    "generating",
    "generation",
    "produce",
    "create",
    "process",
    "processing",
    "job",
    "jobs",
    "workload",
    "task",
    "model",
    "models",
    "gpu",
    "gpus",
    "card",
    "cards",
    "instance",
    "instances",
    "machine",
    "machines",
    "node",
    "nodes",
    "server",
    "servers",
    "cluster",
    "ok",
    "okay",
    "fine",
    "allowed",
    "acceptable",
    "it's",
    "each",
    "all",
    "every",
    "tokens",
    "token",
    "context",
    "dataset",
    "data",
    "training",
    "own",
    "custom",
    "somewhere",
    "region",
    "located",
    "based",
    "cloud",
    "provider",
    "providers",
    "rent",
    "renting",
    "needed",
    "required",
    "require",
    "requires",
    "enough",
    "memory",
    "vram",
    "time",
    "hours",
    "users",
    "requests",
    "samples",
];

/// Warns once about the words nothing claimed that are not filler, in runs: "high quality".
pub(super) fn report_ignored(draft: &mut Draft) {
    let mut runs: Vec<String> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for word in &draft.words {
        if word.used || FILLER.contains(&word.lower.as_str()) {
            if !run.is_empty() {
                runs.push(format!("\"{}\"", run.join(" ")));
                run.clear();
            }
            continue;
        }
        run.push(&word.raw);
        if word.clause_end {
            runs.push(format!("\"{}\"", run.join(" ")));
            run.clear();
        }
    }
    if !run.is_empty() {
        runs.push(format!("\"{}\"", run.join(" ")));
    }
    if !runs.is_empty() {
        let list = runs.join(", ");
        draft.notes.warn(format!("not understood, ignored: {list}"));
    }
}
