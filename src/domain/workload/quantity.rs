//! Numbers with units among the unclaimed words: throughput, token counts, context, images,
//! samples, request rates, concurrency, durations, memory, GPU counts, model sizes and
//! dollar budgets. The vocabulary is in `units`.

use super::lexer::{self, show, whole_u32, whole_u64, word_number, Piece, Sub};
use super::units::{
    currency_word, longest, matches, sign_name, Keyed, Rate, Scale, Unit, CONNECTORS, KEYED, RATES,
    TOK, UNITS,
};
use super::Draft;

/// US dollars (`Ok`) or another currency, by name (`Err`).
type Currency = Result<(), &'static str>;

/// The currency `sub` names: a sign, or with `words` also "usd", "euros", ….
fn currency_of(sub: Option<&Sub>, words: bool) -> Option<Currency> {
    match &sub?.piece {
        Piece::Currency('$') => Some(Ok(())),
        Piece::Currency(sign) => Some(Err(sign_name(*sign))),
        Piece::Word(w) if words => currency_word(w).map(|named| named.map_or(Ok(()), Err)),
        _ => None,
    }
}

/// A number read from the pieces.
struct Amount {
    /// The number as written, before its scale.
    number: f64,
    /// The number times its scale.
    value: f64,
    /// The scale word, if any.
    scale: Scale,
    /// Written as a word ("two", "an").
    worded: bool,
    /// The scale is a `b` glued to the number ("7b"): a model size even without a unit.
    glued_b: bool,
    /// The currency, when the amount is money.
    currency: Option<Currency>,
    /// Piece index after the amount.
    end: usize,
}

/// Reads every number with a unit among the unclaimed words.
pub(super) fn quantities(draft: &mut Draft) {
    let subs = lexer::pieces(&draft.words);
    let mut i = 0;
    while i < subs.len() {
        let end = match special(draft, &subs, i) {
            Some(end) => Some(end),
            None => keyed(draft, &subs, i).or_else(|| numbered(draft, &subs, i)),
        };
        match end {
            Some(end) => {
                claim(draft, &subs, i, end);
                i = end.max(i + 1);
            }
            None => i += 1,
        }
    }
}

fn claim(draft: &mut Draft, subs: &[Sub], start: usize, end: usize) {
    for sub in subs.get(start..end).unwrap_or_default() {
        if sub.piece != Piece::Gap {
            draft.take(sub.word, sub.word + 1);
        }
    }
}

/// The words pieces `start..end` came from, as written.
fn said(draft: &Draft, subs: &[Sub], start: usize, end: usize) -> String {
    let first = subs.get(start).map_or(0, |s| s.word);
    let last = subs.get(end.saturating_sub(1)).map_or(first, |s| s.word);
    draft.text(first, last.max(first) + 1)
}

/// Durations written as one word: "overnight" (12 h), "weekend" (48 h).
fn special(draft: &mut Draft, subs: &[Sub], i: usize) -> Option<usize> {
    let hours = match subs.get(i)?.word_text()? {
        "overnight" => 12.0,
        "weekend" => 48.0,
        _ => return None,
    };
    let shown = format!("{} h (\"{}\")", show(hours), said(draft, subs, i, i + 1));
    let notes = &mut draft.notes;
    notes.set(&mut draft.spec.duration_hours, hours, "duration", &shown);
    Some(i + 1)
}

/// "context of 32k", "batch size 16", "concurrency 64".
fn keyed(draft: &mut Draft, subs: &[Sub], i: usize) -> Option<usize> {
    let (key, len) = longest(subs, i, KEYED)?;
    let mut j = i + len;
    for _ in 0..2 {
        if subs
            .get(j)
            .and_then(Sub::word_text)
            .is_some_and(|w| CONNECTORS.contains(&w))
        {
            j += 1;
        }
    }
    let amount = read_amount(subs, j).filter(|a| a.currency.is_none() && !a.worded)?;
    let mut end = amount.end;
    if matches(subs, end, &[TOK]) {
        end += 1;
    }
    let shown = said(draft, subs, i, end);
    let unit = match key {
        Keyed::Context => Unit::Context,
        Keyed::BatchSize => return set_batch(draft, amount.value, &shown).then_some(end),
        Keyed::Concurrency => Unit::Concurrency,
    };
    apply(draft, unit, &amount, &shown).then_some(end)
}

fn set_batch(draft: &mut Draft, value: f64, shown: &str) -> bool {
    let Some(size) = whole_u32(value) else {
        return false;
    };
    let shown = format!("{size} (\"{shown}\")");
    draft
        .notes
        .set(&mut draft.spec.batch_size, size, "batch size", &shown);
    true
}

/// A number, then a currency or a unit.
fn numbered(draft: &mut Draft, subs: &[Sub], i: usize) -> Option<usize> {
    let amount = read_amount(subs, i)?;
    if let Some(currency) = amount.currency {
        return Some(money(draft, subs, i, &amount, currency));
    }
    let Some((unit, len)) = longest(subs, amount.end, UNITS) else {
        if !amount.glued_b {
            return None;
        }
        let shown = said(draft, subs, i, amount.end);
        return apply(draft, Unit::Params, &amount, &shown).then_some(amount.end);
    };
    if amount.worded && !matches!(unit, Unit::Hours(_) | Unit::Gpus) {
        return None;
    }
    let end = amount.end + len;
    let shown = said(draft, subs, i, end);
    apply(draft, unit, &amount, &shown).then_some(end)
}

/// Reads `[$] number [scale] [$|usd|dollars|…]` or a number word at `i`.
fn read_amount(subs: &[Sub], i: usize) -> Option<Amount> {
    let mut j = i;
    let mut currency = currency_of(subs.get(j), false);
    if currency.is_some() {
        j += 1;
    }
    let number = subs.get(j)?;
    let glued_after_letters = j > 0
        && subs
            .get(j - 1)
            .is_some_and(|p| p.word == number.word && p.word_text().is_some());
    let (mut value, worded) = match &number.piece {
        Piece::Num(v) if !glued_after_letters => (*v, false),
        Piece::Word(w) if currency.is_none() => (word_number(w)?, true),
        _ => return None,
    };
    j += 1;
    if worded && value == 0.5 {
        // Only "half an hour", "half a day".
        matches(subs, j, &["a|an"]).then_some(())?;
        j += 1;
    }
    let mut scale = Scale::One;
    let mut glued_b = false;
    if let Some(word) = subs.get(j).filter(|_| !worded).and_then(Sub::word_text) {
        let rate_follows = matches(subs, j + 1, &["per"]);
        if let Some(found) = Scale::of(word).filter(|_| !(word == "t" && rate_follows)) {
            scale = found;
            glued_b = word == "b" && subs.get(j).map(|s| s.word) == Some(number.word);
            j += 1;
        }
    }
    let number = value;
    value *= scale.factor();
    if currency.is_none() {
        currency = currency_of(subs.get(j), true);
        if currency.is_some() {
            j += 1;
        }
    }
    Some(Amount {
        number,
        value,
        scale,
        worded,
        glued_b,
        currency,
        end: j,
    })
}

/// Records a dollar amount as a budget per hour, per GPU-hour or in total; returns the
/// piece index after it (also for amounts only warned about).
fn money(draft: &mut Draft, subs: &[Sub], i: usize, amount: &Amount, currency: Currency) -> usize {
    let (rate, len) = longest(subs, amount.end, RATES).unwrap_or_else(|| {
        let hourly_before = (i.saturating_sub(3)..i)
            .filter_map(|k| subs.get(k).and_then(Sub::word_text))
            .any(|w| w == "hourly");
        (
            if hourly_before {
                Rate::Hour
            } else {
                Rate::Total
            },
            0,
        )
    });
    let end = amount.end + len;
    let shown = said(draft, subs, i, end);
    if let Err(name) = currency {
        draft.notes.warn(format!(
            "only US dollars are understood; ignored \"{shown}\" ({name})"
        ));
        return end;
    }
    if !(amount.value > 0.0 && amount.value.is_finite()) {
        draft
            .notes
            .warn(format!("a budget must be above zero; ignored \"{shown}\""));
        return end;
    }
    let value = amount.value;
    let dollars = format!("${} (\"{shown}\")", show(value));
    let notes = &mut draft.notes;
    let spec = &mut draft.spec;
    match rate {
        Rate::Hour => notes.set(
            &mut spec.budget_per_hour,
            value,
            "budget per hour",
            &dollars,
        ),
        Rate::GpuHour => {
            notes.set(
                &mut spec.budget_per_gpu_hour,
                value,
                "budget per GPU-hour",
                &dollars,
            );
        }
        Rate::Total => notes.set(&mut spec.budget_total, value, "total budget", &dollars),
        Rate::Other(per) => notes.warn(format!(
            "a budget per {per} is not supported; give dollars per hour (\"$8/h\") or a total \
             (\"$500 total\"); ignored \"{shown}\""
        )),
    }
    end
}

/// Records `amount` in the field `unit` names; false when the value does not fit it.
fn apply(draft: &mut Draft, unit: Unit, amount: &Amount, said: &str) -> bool {
    let value = amount.value;
    if !(value > 0.0 && value.is_finite()) {
        return false;
    }
    let notes = &mut draft.notes;
    let spec = &mut draft.spec;
    let shown = |v: String| format!("{v} (\"{said}\")");
    match unit {
        Unit::TokensPer(seconds) => {
            let tps = value / seconds;
            let text = shown(format!("{} tokens/s", show(tps)));
            notes.set(&mut spec.tokens_per_second, tps, "throughput", &text);
        }
        Unit::Tokens => {
            let text = shown(format!("{} tokens", show(value)));
            notes.set(&mut spec.total_tokens, value, "total tokens", &text);
        }
        Unit::RequestsPerDay(factor) => {
            let per_day = value * factor;
            let text = shown(format!("{} requests/day", show(per_day)));
            notes.set(
                &mut spec.requests_per_day,
                per_day,
                "requests per day",
                &text,
            );
        }
        Unit::Hours(hours) => {
            let total = value * hours;
            let text = shown(format!("{} h", show(total)));
            notes.set(&mut spec.duration_hours, total, "duration", &text);
        }
        Unit::Vram if amount.scale == Scale::One => {
            let text = shown(format!("{} GB", show(value)));
            notes.set(&mut spec.min_vram_gb, value, "min VRAM per GPU", &text);
        }
        Unit::Context | Unit::Params => return apply_scaled(draft, unit, amount, said),
        Unit::Images | Unit::Samples | Unit::Concurrency | Unit::Gpus => {
            return apply_count(draft, unit, value, said)
        }
        Unit::Ignored(why) => notes.warn(format!("{why}; ignored \"{said}\"")),
        Unit::Vram => return false,
    }
    true
}

/// Context lengths and model sizes, read from the written number and its scale: "32k
/// context" is 32,768 tokens (context lengths are powers of two), "70.6B" stays 70.6.
fn apply_scaled(draft: &mut Draft, unit: Unit, amount: &Amount, said: &str) -> bool {
    let notes = &mut draft.notes;
    let spec = &mut draft.spec;
    if let Unit::Context = unit {
        let binary = match amount.scale {
            Scale::Thousand => amount.number * 1024.0,
            Scale::Million => amount.number * 1024.0 * 1024.0,
            _ => amount.value,
        };
        let Some(tokens) = whole_u32(binary).filter(|&t| t >= 256) else {
            return false;
        };
        let text = format!("{tokens} tokens (\"{said}\")");
        notes.set(&mut spec.context_tokens, tokens, "context", &text);
        return true;
    }
    let billions = match amount.scale {
        Scale::Million => amount.number / 1e3,
        Scale::Billion => amount.number,
        Scale::Trillion => amount.number * 1e3,
        Scale::One | Scale::Thousand => return false,
    };
    let text = format!("{}B parameters (\"{said}\")", show(billions));
    notes.set(&mut spec.model_params_b, billions, "model size", &text);
    true
}

/// Whole counts: images, samples, concurrency, GPUs.
fn apply_count(draft: &mut Draft, unit: Unit, value: f64, said: &str) -> bool {
    let notes = &mut draft.notes;
    let spec = &mut draft.spec;
    let Some(n) = whole_u64(value) else {
        return false;
    };
    let text = format!("{n} (\"{said}\")");
    match unit {
        Unit::Images => notes.set(&mut spec.images, n, "images", &text),
        Unit::Samples => notes.set(&mut spec.samples, n, "samples", &text),
        _ => {
            let Some(n) = whole_u32(value) else {
                return false;
            };
            match unit {
                Unit::Gpus => notes.set(&mut spec.gpu_count, n, "GPU count", &text),
                _ => notes.set(&mut spec.concurrency, n, "concurrency", &text),
            }
        }
    }
    true
}
