//! Splitting a description into words, and the unclaimed words into pieces: numbers, letter
//! runs and currency signs, with `/` read as the word "per".

/// Currency signs kept at the start of a word.
const CURRENCY: &[char] = &['$', '€', '£', '¥', '₹'];

/// Punctuation after a word that ends a clause.
const CLAUSE_END: &[char] = &[',', '.', ';', '!', '?', ')'];

/// One whitespace-separated word, edge punctuation dropped.
#[derive(Debug)]
pub(super) struct Word {
    /// As written: "Llama", "$8/h", "eu-west".
    pub(super) raw: String,
    /// Lower-cased `raw`.
    pub(super) lower: String,
    /// Claimed by something understood.
    pub(super) used: bool,
    /// A clause ends after this word.
    pub(super) clause_end: bool,
}

/// The words of `text`. Leading punctuation other than a currency sign and trailing
/// punctuation other than `$` are dropped; a word of punctuation only ends the clause.
pub(super) fn words(text: &str) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    for chunk in text.split_whitespace() {
        let start =
            chunk.trim_start_matches(|c: char| !c.is_alphanumeric() && !CURRENCY.contains(&c));
        let raw = start.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '$');
        let tail = start.get(raw.len()..).unwrap_or_default();
        let ends = tail.contains(CLAUSE_END) || (raw.is_empty() && chunk.contains(CLAUSE_END));
        if raw.is_empty() {
            if let (true, Some(last)) = (ends, words.last_mut()) {
                last.clause_end = true;
            }
            continue;
        }
        words.push(Word {
            raw: raw.to_owned(),
            lower: raw.to_lowercase(),
            used: false,
            clause_end: ends,
        });
    }
    words
}

/// One piece of an unclaimed word.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Piece {
    /// "2,000" → 2000, "1.5" → 1.5.
    Num(f64),
    /// A run of letters, lower-case; `/` becomes "per", `×` becomes "x".
    Word(String),
    /// A currency sign.
    Currency(char),
    /// A claimed word or a clause end: no phrase reads across it.
    Gap,
}

/// A piece and the word it came from.
#[derive(Clone, Debug)]
pub(super) struct Sub {
    pub(super) piece: Piece,
    pub(super) word: usize,
}

impl Sub {
    /// The letters, when this is a word piece.
    pub(super) fn word_text(&self) -> Option<&str> {
        match &self.piece {
            Piece::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// The pieces of every unclaimed word, with a gap for each run of claimed words and after
/// each clause end.
pub(super) fn pieces(words: &[Word]) -> Vec<Sub> {
    let mut out = Vec::new();
    for (index, word) in words.iter().enumerate() {
        if word.used {
            push_gap(&mut out, index);
            continue;
        }
        lex_word(&word.lower, index, &mut out);
        if word.clause_end {
            push_gap(&mut out, index);
        }
    }
    out
}

fn push_gap(out: &mut Vec<Sub>, word: usize) {
    if !matches!(
        out.last(),
        Some(Sub {
            piece: Piece::Gap,
            ..
        })
    ) {
        out.push(Sub {
            piece: Piece::Gap,
            word,
        });
    }
}

fn lex_word(text: &str, word: usize, out: &mut Vec<Sub>) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let piece = if c.is_ascii_digit() {
            let (value, next) = number(&chars, i);
            i = next;
            Piece::Num(value)
        } else if c.is_alphabetic() {
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_alphabetic()) {
                i += 1;
            }
            Piece::Word(chars.get(start..i).unwrap_or_default().iter().collect())
        } else {
            i += 1;
            match c {
                '/' => Piece::Word("per".to_owned()),
                '×' => Piece::Word("x".to_owned()),
                c if CURRENCY.contains(&c) => Piece::Currency(c),
                _ => continue,
            }
        };
        out.push(Sub { piece, word });
    }
}

/// Reads digits with optional thousands commas ("1,500") and one decimal part ("1.5") from
/// `start`; returns the value and the index after it.
fn number(chars: &[char], start: usize) -> (f64, usize) {
    let digit = |k: usize| chars.get(k).is_some_and(char::is_ascii_digit);
    let mut text = String::new();
    let mut i = start;
    while digit(i) {
        text.extend(chars.get(i));
        i += 1;
    }
    while chars.get(i) == Some(&',') && (1..=3).all(|d| digit(i + d)) && !digit(i + 4) {
        text.extend(chars.get(i + 1..i + 4).unwrap_or_default());
        i += 4;
    }
    if chars.get(i) == Some(&'.') && digit(i + 1) {
        text.push('.');
        i += 1;
        while digit(i) {
            text.extend(chars.get(i));
            i += 1;
        }
    }
    (text.parse().unwrap_or(0.0), i)
}

/// Small numbers written as words: "a", "an", "one", "single", "two" … "twelve", "half".
pub(super) fn word_number(word: &str) -> Option<f64> {
    const WORDS: [&str; 12] = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    match word {
        "a" | "an" | "single" => Some(1.0),
        "half" => Some(0.5),
        _ => WORDS
            .iter()
            .position(|w| *w == word)
            .map(|i| (i + 1) as f64),
    }
}

/// A whole number of at least 1 that fits in `u32`.
pub(super) fn whole_u32(value: f64) -> Option<u32> {
    whole_u64(value).and_then(|v| u32::try_from(v).ok())
}

/// A whole number of at least 1, below 10^15.
pub(super) fn whole_u64(value: f64) -> Option<u64> {
    let rounded = value.round();
    let whole = value.is_finite() && (value - rounded).abs() < 1e-6;
    (whole && (1.0..1e15).contains(&rounded)).then_some(rounded as u64)
}

/// A number for messages: "2000", "70.6".
pub(super) fn show(value: f64) -> String {
    format!("{value}")
}
