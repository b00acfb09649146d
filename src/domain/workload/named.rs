//! Named things found word by word: the model, the precision, the GPU and its count, spot or
//! on-demand, the fine-tuning method, and model families named without a size.

use super::lexer::{whole_u32, word_number};
use super::Draft;
use crate::domain::gpu::{self, GpuHints};
use crate::domain::llm;

/// Canonical precisions and their `|`-separated spellings (lower-case words).
const PRECISIONS: &[(&str, &str)] = &[
    ("fp32", "full precision|fp32|float32"),
    ("bf16", "bf16|bfloat16"),
    ("fp16", "fp16|float16|half precision|half-precision"),
    ("fp8", "fp8|float8"),
    ("int8", "int8|8bit|8-bit|8 bit|8 bits|q8|q8_0|w8a8"),
    (
        "int4",
        "int4|4bit|4-bit|4 bit|4 bits|awq|gptq|nf4|q4|q4_k_m|w4a16",
    ),
];

/// Finds known models, longest window first, and records id and size.
pub(super) fn models(draft: &mut Draft) {
    let mut start = 0;
    while start < draft.words.len() {
        let found = (1..=4).rev().find_map(|len| {
            let end = start + len;
            let free = draft.free(start, end);
            free.then(|| llm::resolve(&draft.text(start, end)))
                .flatten()
                .map(|model| (model, end))
        });
        let Some((model, end)) = found else {
            start += 1;
            continue;
        };
        draft.take(start, end);
        let shown = format!("{} ({})", model.id, model.name);
        let notes = &mut draft.notes;
        notes.set(&mut draft.spec.model, model.id.to_owned(), "model", &shown);
        let size = format!("{}B parameters (from the model)", model.params_b);
        notes.set(
            &mut draft.spec.model_params_b,
            model.params_b,
            "model size",
            &size,
        );
        start = end;
    }
}

/// Finds precision words, two-word spellings first.
pub(super) fn precision(draft: &mut Draft) {
    for start in 0..draft.words.len() {
        for len in [2, 1] {
            let end = start + len;
            if !draft.free(start, end) {
                continue;
            }
            let words: Vec<&str> = (start..end).map(|i| draft.lower(i)).collect();
            let phrase = words.join(" ");
            let found = PRECISIONS
                .iter()
                .find(|(_, names)| names.split('|').any(|n| n == phrase));
            if let Some((name, _)) = found {
                let shown = format!("{name} (\"{}\")", draft.text(start, end));
                draft.take(start, end);
                let notes = &mut draft.notes;
                notes.set(
                    &mut draft.spec.precision,
                    (*name).to_owned(),
                    "precision",
                    &shown,
                );
                break;
            }
        }
    }
}

/// Sets int4 for QLoRA without a stated precision; warns about a bare "quantized".
pub(super) fn implied_precision(draft: &mut Draft) {
    if draft.spec.precision.is_some() {
        return;
    }
    if draft.spec.method.as_deref() == Some("qlora") {
        let shown = "int4 (QLoRA quantises the base model to 4 bits)";
        let notes = &mut draft.notes;
        notes.set(
            &mut draft.spec.precision,
            "int4".to_owned(),
            "precision",
            shown,
        );
        return;
    }
    let quantized = ["quantized", "quantised", "quantization", "quantisation"];
    if let Some(i) = (0..draft.words.len()).find(|&i| quantized.contains(&draft.lower(i))) {
        draft.take(i, i + 1);
        draft.notes.warn(
            "\"quantized\" does not say to what; precision not set (say int8, int4, awq, fp8, ...)",
        );
    }
}

/// Finds GPUs with their counts: "8x H100", "8 x A100 80GB", "8xH100", "2 RTX 4090s",
/// "H100 x8", optionally followed by "GPUs".
pub(super) fn gpus(draft: &mut Draft) {
    let mut start = 0;
    while start < draft.words.len() {
        match gpu_at(draft, start) {
            Some(end) => start = end,
            None => start += 1,
        }
    }
}

/// Tries a GPU name starting at word `start` (possibly glued to a count, "8xH100"); on a
/// match claims it with its count and returns the index after it.
fn gpu_at(draft: &mut Draft, start: usize) -> Option<usize> {
    let glued = split_count_prefix(draft.words.get(start)?.raw.as_str());
    let (name, end) = (1..=3).rev().find_map(|len| {
        let end = start + len;
        if !draft.free(start, end) {
            return None;
        }
        let text = match glued {
            Some((_, name)) => format!("{name} {}", draft.text(start + 1, end)),
            None => draft.text(start, end),
        };
        resolve_gpu(text.trim()).map(|name| (name, end))
    })?;
    let (mut count, first) = match glued {
        Some((n, _)) => (Some(n), start),
        None => count_before(draft, start).map_or((None, start), |(n, i)| (Some(n), i)),
    };
    let mut last = end;
    if count.is_none() {
        if let Some((n, after)) = count_after(draft, end) {
            count = Some(n);
            last = after;
        }
    }
    let trailing = ["gpu", "gpus", "card", "cards"].contains(&draft.lower(last));
    if trailing && draft.free(last - 1, last + 1) {
        last += 1;
    }
    let said = draft.text(first, last);
    draft.take(first, last);
    let notes = &mut draft.notes;
    let text = format!("{name} (\"{said}\")");
    // A count that goes with a GPU kept out is kept out with it.
    let kept = draft.spec.gpu.as_ref().is_none_or(|first| *first == name);
    notes.set(&mut draft.spec.gpu, name, "GPU", &text);
    if let Some(n) = count.filter(|_| kept) {
        let text = format!("{n} (\"{said}\")");
        notes.set(&mut draft.spec.gpu_count, n, "GPU count", &text);
    }
    Some(last)
}

/// "8xh100" → (8, "h100"); "8x" alone and words without a count give nothing.
fn split_count_prefix(raw: &str) -> Option<(u32, &str)> {
    let digits = raw.find(|c: char| !c.is_ascii_digit())?;
    let (count, rest) = raw.split_at(digits);
    let name = rest
        .strip_prefix(['x', 'X'])
        .or_else(|| rest.strip_prefix('×'))?;
    let count = count.parse().ok().filter(|&n| n > 0)?;
    (!name.is_empty()).then_some((count, name))
}

/// A count in the one or two words before `start`: "8x", "8 x", "8", "two", "an".
fn count_before(draft: &Draft, start: usize) -> Option<(u32, usize)> {
    let prev = start.checked_sub(1)?;
    if !draft.free(prev, start + 1) {
        return None;
    }
    let word = draft.lower(prev);
    if let Some(n) = word
        .strip_suffix(['x', '×'])
        .and_then(|d| d.parse::<u32>().ok())
    {
        return (n > 0).then_some((n, prev));
    }
    if word == "x" || word == "×" {
        let before = prev.checked_sub(1)?;
        let n = draft.lower(before).parse::<u32>().ok()?;
        return (draft.free(before, prev + 1) && n > 0).then_some((n, before));
    }
    let n = word
        .parse::<u32>()
        .ok()
        .or_else(|| word_number(word).and_then(whole_u32))?;
    (n > 0).then_some((n, prev))
}

/// A count right after a GPU name ending at `end`: "x8", "×8", "x 8" or "8x".
fn count_after(draft: &Draft, end: usize) -> Option<(u32, usize)> {
    if !draft.free(end - 1, end + 1) {
        return None;
    }
    let word = draft.lower(end);
    if let Some(n) = word
        .strip_suffix(['x', '×'])
        .and_then(|d| d.parse::<u32>().ok())
    {
        return (n > 0).then_some((n, end + 1));
    }
    let digits = word.strip_prefix('x').or_else(|| word.strip_prefix('×'))?;
    if digits.is_empty() {
        let n = draft.lower(end + 1).parse::<u32>().ok()?;
        return (draft.free(end, end + 2) && n > 0).then_some((n, end + 2));
    }
    let n = digits.parse::<u32>().ok()?;
    (n > 0).then_some((n, end + 1))
}

/// The registry GPU `text` names (also with a plural "s" dropped), shown as the family the
/// text spells when the registry has it ("A100"), else as the model id ("A100-40GB").
fn resolve_gpu(text: &str) -> Option<String> {
    let key = gpu_key(text);
    let plausible = key.starts_with(|c: char| c.is_ascii_alphabetic())
        && (key.contains(|c: char| c.is_ascii_digit()) || key.len() >= 5);
    if !plausible {
        return None;
    }
    let (spec, key) = match gpu::resolve(text, GpuHints::default()).spec() {
        Some(spec) => (spec, key),
        None => {
            let singular = text.strip_suffix('s')?;
            let spec = gpu::resolve(singular, GpuHints::default()).spec()?;
            (spec, gpu_key(singular))
        }
    };
    let shown = std::iter::once(spec.model)
        .chain(spec.families.iter().copied())
        .find(|name| gpu_key(name) == key)
        .unwrap_or(spec.model);
    Some(shown.to_owned())
}

/// Upper-case letters and digits, leading vendor words dropped: "NVIDIA A100 80GB" →
/// "A10080GB".
fn gpu_key(text: &str) -> String {
    const VENDORS: [&str; 6] = ["NVIDIA", "TESLA", "GEFORCE", "AMD", "INSTINCT", "INTEL"];
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .skip_while(|w| VENDORS.contains(&w.as_str()))
        .collect()
}

/// Words that allow interruptible capacity, ask for on-demand, or negate the former.
const SPOT_YES: &[&str] = &[
    "spot",
    "interruptible",
    "interruptable",
    "preemptible",
    "preemptable",
    "pre-emptible",
];
const SPOT_NO: &[&str] = &[
    "on-demand",
    "ondemand",
    "non-spot",
    "nonspot",
    "uninterruptible",
    "non-interruptible",
    "non-preemptible",
    "reliable",
    "reliability",
];
const NEGATIONS: &[&str] = &[
    "no", "not", "non", "without", "avoid", "never", "don't", "dont", "cannot", "can't", "zero",
];

/// Reads spot/interruptible (true) and on-demand/reliable or a negated spot word (false).
pub(super) fn spot(draft: &mut Draft) {
    let mut votes: Vec<(bool, String)> = Vec::new();
    for i in 0..draft.words.len() {
        if !draft.free(i, i + 1) {
            continue;
        }
        let word = draft.lower(i);
        let two_words = word == "on" && draft.lower(i + 1) == "demand" && draft.free(i, i + 2);
        let vote = if SPOT_NO.contains(&word) || two_words {
            Some((false, i))
        } else if SPOT_YES.contains(&word) {
            let negated = (i.saturating_sub(2)..i)
                .rev()
                .find(|&k| draft.free(k, i + 1) && NEGATIONS.contains(&draft.lower(k)));
            Some(negated.map_or((true, i), |k| (false, k)))
        } else {
            None
        };
        if let Some((value, first)) = vote {
            let end = if two_words { i + 2 } else { i + 1 };
            votes.push((value, draft.text(first, end)));
            draft.take(first, end);
        }
    }
    let Some((value, _)) = votes.first() else {
        return;
    };
    let value = *value;
    if votes.iter().all(|(v, _)| *v == value) {
        let said: Vec<&str> = votes.iter().map(|(_, s)| s.as_str()).collect();
        let shown = format!("{value} (\"{}\")", said.join("\", \""));
        draft.notes.set(&mut draft.spec.spot, value, "spot", &shown);
    } else {
        let said: Vec<&str> = votes.iter().map(|(_, s)| s.as_str()).collect();
        draft.notes.warn(format!(
            "both spot and on-demand asked for (\"{}\"); spot not set",
            said.join("\", \"")
        ));
    }
}

/// Reads the fine-tuning method: lora, qlora, or full ("full fine-tune", "full-parameter").
pub(super) fn method(draft: &mut Draft) {
    const FULL_NEXT: &[&str] = &[
        "fine-tune",
        "finetune",
        "fine-tuning",
        "finetuning",
        "fine",
        "ft",
        "parameter",
        "parameters",
        "param",
        "params",
        "weights",
        "weight",
    ];
    const FULL_WORDS: &[&str] = &[
        "full-parameter",
        "full-param",
        "full-finetune",
        "full-fine-tune",
        "full-fine-tuning",
        "full-ft",
        "full-weight",
    ];
    for i in 0..draft.words.len() {
        let word = draft.lower(i);
        let method = match word {
            "lora" | "qlora" => word.to_owned(),
            _ if FULL_WORDS.contains(&word) => "full".to_owned(),
            "full" if FULL_NEXT.contains(&draft.lower(i + 1)) => "full".to_owned(),
            _ => continue,
        };
        if !draft.free(i, i + 1) {
            continue;
        }
        let shown = format!("{method} (\"{}\")", draft.text(i, i + 1));
        draft.take(i, i + 1);
        draft
            .notes
            .set(&mut draft.spec.method, method, "method", &shown);
    }
}

/// Warns about a model family named without a registry size ("llama", "qwen 2.5") and
/// claims the words (with a following version) so they are not reported again as ignored.
pub(super) fn families(draft: &mut Draft) {
    let version_like = |s: &str| s.chars().all(|c| c.is_ascii_digit() || ".-v".contains(c));
    for i in 0..draft.words.len() {
        if !draft.free(i, i + 1) {
            continue;
        }
        let word = draft.lower(i);
        let stem: String = word.chars().take_while(|c| c.is_alphabetic()).collect();
        if stem.len() < 3 || !version_like(word.get(stem.len()..).unwrap_or_default()) {
            continue;
        }
        let known: Vec<&str> = llm::all()
            .map(|m| m.id)
            .filter(|id| {
                let rest = id.strip_prefix(stem.as_str()).unwrap_or("?");
                rest.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
            })
            .collect();
        if known.is_empty() {
            continue;
        }
        let next = draft.lower(i + 1);
        let versioned = next.contains(|c: char| c.is_ascii_digit())
            && version_like(next)
            && draft.free(i, i + 2);
        let end = if versioned { i + 2 } else { i + 1 };
        let text = draft.text(i, end);
        draft.take(i, end);
        draft.notes.warn(format!(
            "\"{text}\" names a model family, not one model; model not set (known: {})",
            known.join(", ")
        ));
    }
}
