//! The unit vocabulary: phrase tables for what follows a number (or precedes it), scale
//! words and currency names, and the phrase matcher.
//!
//! A pattern is a list of pieces; each element lists alternatives separated by `|`, `#`
//! stands for any number. The longest matching pattern wins, the first on a tie.

use super::lexer::{Piece, Sub};

pub(super) const TOK: &str = "tokens|token|tok|toks";
pub(super) const PER: &str = "per|a|an|every";
pub(super) const SEC: &str = "s|sec|secs|second|seconds";
pub(super) const MIN: &str = "min|mins|minute|minutes";
pub(super) const HOUR: &str = "h|hr|hrs|hour|hours";
pub(super) const DAY: &str = "d|day|days";
pub(super) const WEEK: &str = "w|wk|wks|week|weeks";
pub(super) const MONTH: &str = "mo|month|months";
pub(super) const REQ: &str = "requests|request|reqs|req|queries|query|calls";
pub(super) const GB: &str = "gb|gib|gigs|gig|gigabytes|gigabyte";
pub(super) const MEM: &str = "vram|memory|mem|hbm";
pub(super) const HOST: &str = "ram|disk|storage|ssd|nvme|hdd|volume";
pub(super) const ITEMS: &str = "request|requests|response|responses|prompt|prompts|query|queries|\
    completion|completions|message|messages|answer|answers|reply|replies|call|calls|user|users|\
    document|documents|doc|docs|sample|samples|example|examples|image|images";

/// What a number measures.
#[derive(Clone, Copy, Debug)]
pub(super) enum Unit {
    /// Tokens per this many seconds.
    TokensPer(f64),
    Tokens,
    Context,
    Images,
    Samples,
    /// Requests per day for one of this unit.
    RequestsPerDay(f64),
    Concurrency,
    /// Hours in one of this unit.
    Hours(f64),
    Vram,
    Gpus,
    Params,
    /// Understood but not used; the message says why.
    Ignored(&'static str),
}

pub(super) type Table<U> = &'static [(&'static [&'static str], U)];

pub(super) const UNITS: Table<Unit> = &[
    (&[TOK, PER, SEC], Unit::TokensPer(1.0)),
    (
        &[
            TOK,
            PER,
            SEC,
            PER,
            "user|users|request|requests|stream|streams|session|sessions",
        ],
        Unit::Ignored("per-user throughput is not used; give the total tokens/s"),
    ),
    (&["t", PER, SEC], Unit::TokensPer(1.0)),
    (&["tps"], Unit::TokensPer(1.0)),
    (&[TOK, PER, MIN], Unit::TokensPer(60.0)),
    (&[TOK, PER, HOUR], Unit::TokensPer(3600.0)),
    (
        &[TOK, PER, ITEMS],
        Unit::Ignored("tokens per request or item are not used"),
    ),
    (&[TOK], Unit::Tokens),
    (&[TOK, "of", "context|ctx"], Unit::Context),
    (&[TOK, "context|ctx"], Unit::Context),
    (&[TOK, "context|ctx", "window|length|size"], Unit::Context),
    (&["context|ctx"], Unit::Context),
    (&["context|ctx", "window|length|size|len"], Unit::Context),
    (
        &["images|image|pictures|picture|pics|pic|imgs|img|photos|photo"],
        Unit::Images,
    ),
    (
        &[
            "samples|sample|examples|example|documents|document|docs|doc|records|rows|\
           conversations|prompts|pages|articles|files|texts|pairs|instructions|items|passages",
        ],
        Unit::Samples,
    ),
    (&[REQ, PER, DAY], Unit::RequestsPerDay(1.0)),
    (&[REQ, "daily"], Unit::RequestsPerDay(1.0)),
    (&["rpd"], Unit::RequestsPerDay(1.0)),
    (&[REQ, PER, HOUR], Unit::RequestsPerDay(24.0)),
    (&[REQ, PER, MIN], Unit::RequestsPerDay(1440.0)),
    (&["rpm"], Unit::RequestsPerDay(1440.0)),
    (&[REQ, PER, SEC], Unit::RequestsPerDay(86400.0)),
    (&["rps|qps"], Unit::RequestsPerDay(86400.0)),
    (&["concurrent|simultaneous|parallel"], Unit::Concurrency),
    (
        &[
            "concurrent|simultaneous|parallel",
            "users|requests|sessions|streams|connections|clients|chats|conversations|queries",
        ],
        Unit::Concurrency,
    ),
    (
        &["users|clients"],
        Unit::Ignored(
            "a user count is not a load figure; say \"N concurrent users\" or \
             \"N requests per day\"",
        ),
    ),
    (&[HOUR], Unit::Hours(1.0)),
    (&[MIN], Unit::Hours(1.0 / 60.0)),
    (&[DAY], Unit::Hours(24.0)),
    (&[WEEK], Unit::Hours(168.0)),
    (&[MONTH], Unit::Hours(730.0)),
    (&[GB], Unit::Vram),
    (&[GB, MEM], Unit::Vram),
    (&[GB, "of", MEM], Unit::Vram),
    (&[GB, "gpu", "memory|ram|mem"], Unit::Vram),
    (&[GB, "of", "gpu", "memory|ram|mem"], Unit::Vram),
    (&[GB, "per", "gpu|card"], Unit::Vram),
    (
        &[GB, HOST],
        Unit::Ignored("system memory and disk are not matched"),
    ),
    (
        &[GB, "of", HOST],
        Unit::Ignored("system memory and disk are not matched"),
    ),
    (
        &[GB, "system", "ram|memory"],
        Unit::Ignored("system memory and disk are not matched"),
    ),
    (
        &["tb|tib|terabytes|terabyte|mb|mib"],
        Unit::Ignored("only GB of GPU memory are matched"),
    ),
    (&["gpus|gpu|cards|card"], Unit::Gpus),
    (&["x", "gpus|gpu|cards|card"], Unit::Gpus),
    (
        &["gpu", HOUR],
        Unit::Ignored("GPU-hours are not used; give a GPU count and a duration"),
    ),
    (
        &["params|parameters|parameter|param|model|models|llm|llms"],
        Unit::Params,
    ),
    (&["parameter|param|params", "model|llm"], Unit::Params),
];

/// What a dollar amount is per.
#[derive(Clone, Copy, Debug)]
pub(super) enum Rate {
    Hour,
    GpuHour,
    Total,
    /// A period or item budgets cannot be given per.
    Other(&'static str),
}

pub(super) const RATES: Table<Rate> = &[
    (&[PER, HOUR], Rate::Hour),
    (&["hourly"], Rate::Hour),
    (&[PER, "gpu|card", PER, HOUR], Rate::GpuHour),
    (&[PER, "gpu|card", HOUR], Rate::GpuHour),
    (&[PER, HOUR, PER, "gpu|card"], Rate::GpuHour),
    (&[PER, "gpu|card"], Rate::GpuHour),
    (&[PER, "gpuh|gpuhr"], Rate::GpuHour),
    (&["total|overall|altogether|budget"], Rate::Total),
    (&["in", "total"], Rate::Total),
    (&["total", "budget"], Rate::Total),
    (&[PER, "run|job"], Rate::Total),
    (&[PER, DAY], Rate::Other("day")),
    (&["daily"], Rate::Other("day")),
    (&[PER, WEEK], Rate::Other("week")),
    (&["weekly"], Rate::Other("week")),
    (&[PER, MONTH], Rate::Other("month")),
    (&["monthly"], Rate::Other("month")),
    (&[PER, MIN], Rate::Other("minute")),
    (&[PER, SEC], Rate::Other("second")),
    (&[PER, TOK], Rate::Other("token")),
    (
        &[PER, "#", "k|m|thousand|million", TOK],
        Rate::Other("token"),
    ),
    (&[PER, "k|m|thousand|million", TOK], Rate::Other("token")),
    (&[PER, "mtok|ktok"], Rate::Other("token")),
    (&[PER, ITEMS], Rate::Other("item")),
];

/// Number-first settings written keyword first: "context of 32k", "batch size 16".
#[derive(Clone, Copy, Debug)]
pub(super) enum Keyed {
    Context,
    BatchSize,
    Concurrency,
}

pub(super) const KEYED: Table<Keyed> = &[
    (&["context|ctx"], Keyed::Context),
    (&["context|ctx", "window|length|size|len"], Keyed::Context),
    (&["batch", "size"], Keyed::BatchSize),
    (&["batchsize"], Keyed::BatchSize),
    (&["concurrency"], Keyed::Concurrency),
];

/// Words skipped between a keyword and its number: "context of 32k", "concurrency is 50".
pub(super) const CONNECTORS: &[&str] = &[
    "of", "is", "at", "to", "up", "least", "most", "about", "around",
];

/// The scale word after a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scale {
    One,
    Thousand,
    Million,
    Billion,
    Trillion,
}

impl Scale {
    pub(super) fn of(word: &str) -> Option<Scale> {
        match word {
            "k" | "thousand" => Some(Scale::Thousand),
            "m" | "mn" | "mil" | "million" => Some(Scale::Million),
            "b" | "bn" | "billion" => Some(Scale::Billion),
            "t" | "trillion" => Some(Scale::Trillion),
            _ => None,
        }
    }

    pub(super) fn factor(self) -> f64 {
        match self {
            Scale::One => 1.0,
            Scale::Thousand => 1e3,
            Scale::Million => 1e6,
            Scale::Billion => 1e9,
            Scale::Trillion => 1e12,
        }
    }
}

/// The currency a word names after an amount: `None` for USD, `Some(name)` for another.
pub(super) fn currency_word(word: &str) -> Option<Option<&'static str>> {
    match word {
        "usd" | "dollar" | "dollars" | "bucks" => Some(None),
        "eur" | "euro" | "euros" => Some(Some("EUR")),
        "gbp" | "pound" | "pounds" | "quid" => Some(Some("GBP")),
        "chf" | "francs" => Some(Some("CHF")),
        "yen" | "jpy" => Some(Some("JPY")),
        "inr" | "rupees" => Some(Some("INR")),
        "cad" | "aud" => Some(Some("non-US dollars")),
        _ => None,
    }
}

pub(super) fn sign_name(sign: char) -> &'static str {
    match sign {
        '€' => "EUR",
        '£' => "GBP",
        '¥' => "JPY",
        '₹' => "INR",
        _ => "another currency",
    }
}

/// The longest phrase of `table` at piece `at`, with its length in pieces. A phrase whose
/// last piece runs on into a number in the same word ("h" of "h200") does not match.
pub(super) fn longest<U: Copy>(subs: &[Sub], at: usize, table: Table<U>) -> Option<(U, usize)> {
    let mut best: Option<(U, usize)> = None;
    for (pattern, unit) in table {
        let len = pattern.len();
        let runs_on = match (subs.get(at + len - 1), subs.get(at + len)) {
            (Some(last), Some(next)) => {
                last.word == next.word && matches!(next.piece, Piece::Num(_))
            }
            _ => false,
        };
        if matches(subs, at, pattern) && !runs_on && best.is_none_or(|(_, l)| len > l) {
            best = Some((*unit, len));
        }
    }
    best
}

/// True when the pieces from `at` spell `pattern` (see the module docs).
pub(super) fn matches(subs: &[Sub], at: usize, pattern: &[&str]) -> bool {
    pattern.iter().enumerate().all(
        |(k, alternatives)| match subs.get(at + k).map(|s| &s.piece) {
            Some(Piece::Word(w)) => alternatives.split('|').any(|a| a == w),
            Some(Piece::Num(_)) => *alternatives == "#",
            _ => false,
        },
    )
}
