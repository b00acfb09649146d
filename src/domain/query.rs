//! The catalog query language, shared by the API, the CLI and WebSocket subscriptions.
//!
//! A query is a list of whitespace-separated terms: filters `field op value` and the
//! directives `sort=` and `limit=`. Example:
//! `gpu=H100 count>=8 price<30 region~us- provider in [lambda,runpod] sort=price_per_gpu limit=20`.
//! Errors carry the character position of the offending term and, for misspelt fields,
//! the nearest field name. See `docs/query-language.md` for the user documentation.

use std::fmt;

mod field;
mod lexer;
#[cfg(test)]
mod tests;

pub use field::{Field, FieldKind};
use lexer::Lexer;

use super::llm::{self, LlmSpec};
use super::perf::Precision;
use super::ranking::{self, Attribute, Criterion};

/// Largest accepted `limit=`.
pub const MAX_LIMIT: u32 = 1000;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Case-insensitive "contains" on text.
    Contains,
    In,
    NotIn,
}

impl Op {
    /// The operator as written in a query.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "~",
            Op::In => " in ",
            Op::NotIn => " notin ",
        }
    }
}

/// A literal value in a filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    Bool(bool),
    List(Vec<Value>),
}

/// One `field op value` condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

/// One sort key; `descending` when written with a `-` prefix or suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub field: Field,
    pub descending: bool,
}

/// A parsed query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    pub filters: Vec<Filter>,
    pub sort: Vec<SortKey>,
    pub limit: Option<u32>,
    /// A computed ranking (`sort=topsis`) that replaces `sort` keys.
    pub rank: Option<Rank>,
}

/// A ranking computed over the whole filtered set rather than a field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Rank {
    /// `sort=topsis [weights=price:0.4,vram:0.3,…]`: TOPSIS closeness, best first.
    Topsis(Vec<Criterion>),
    /// `sort=cost_per_mtok model=llama-3-70b [precision=fp8] [batch=64]`: USD per million
    /// output tokens of serving `model` on the offer, cheapest first.
    CostPerMtok(TokenCostRank),
}

/// What `sort=cost_per_mtok` serves.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenCostRank {
    pub model: LlmSpec,
    pub precision: Precision,
    /// Concurrent requests (capped per offer by what fits in memory).
    pub batch: u32,
}

/// Concurrent requests assumed by `sort=cost_per_mtok` without `batch=`.
pub const DEFAULT_SERVING_BATCH: u32 = 64;

/// Why a query was rejected: where, what, and a suggestion when one is close.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
pub struct QueryError {
    /// 0-based character offset in the query text.
    pub position: usize,
    pub message: String,
    pub suggestion: Option<String>,
}

impl QueryError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
            suggestion: None,
        }
    }
}

impl Query {
    /// Parses query text; the empty query matches everything.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        let mut query = Query::default();
        let mut lexer = Lexer::new(text);
        let mut topsis_at = None;
        let mut cost_at = None;
        let mut weights = None;
        let mut model: Option<(LlmSpec, usize)> = None;
        let mut precision: Option<(Precision, usize)> = None;
        let mut batch: Option<(u32, usize)> = None;
        while let Some(term) = lexer.term()? {
            let field_pos = term.field_pos;
            match term.field.as_str() {
                "sort" | "order" => {
                    expect_eq(term.op, field_pos, "sort")?;
                    let raw = term.raw_value.to_ascii_lowercase();
                    topsis_at = None;
                    cost_at = None;
                    if raw == "topsis" {
                        topsis_at = Some(term.value_pos);
                        query.sort.clear();
                    } else if raw == "cost_per_mtok" {
                        cost_at = Some(term.value_pos);
                        query.sort.clear();
                    } else if let Some(k) = raw
                        .split(',')
                        .find(|k| matches!(*k, "topsis" | "cost_per_mtok"))
                    {
                        return Err(QueryError::new(
                            term.value_pos,
                            format!("sort={k} ranks by itself and takes no other sort keys"),
                        ));
                    } else {
                        query.sort = parse_sort(&term.raw_value, term.value_pos)?;
                    }
                }
                "weights" => {
                    expect_eq(term.op, field_pos, "weights")?;
                    weights = Some((parse_weights(&term.raw_value, term.value_pos)?, field_pos));
                }
                "model" => {
                    expect_eq(term.op, field_pos, "model")?;
                    model = Some((parse_model(&term.raw_value, term.value_pos)?, field_pos));
                }
                "precision" => {
                    expect_eq(term.op, field_pos, "precision")?;
                    let p = term
                        .raw_value
                        .parse::<Precision>()
                        .map_err(|e| QueryError::new(term.value_pos, e.to_string()))?;
                    precision = Some((p, field_pos));
                }
                "batch" => {
                    expect_eq(term.op, field_pos, "batch")?;
                    let n = term
                        .raw_value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=4096).contains(n))
                        .ok_or_else(|| {
                            QueryError::new(
                                term.value_pos,
                                format!(
                                    "batch must be a whole number from 1 to 4096, not {:?}",
                                    term.raw_value
                                ),
                            )
                        })?;
                    batch = Some((n, field_pos));
                }
                "limit" => {
                    expect_eq(term.op, field_pos, "limit")?;
                    query.limit = Some(parse_limit(&term.raw_value, term.value_pos)?);
                }
                name => {
                    let field =
                        Field::from_name(name).ok_or_else(|| unknown_field(name, field_pos))?;
                    let value = field.typed_value(term.op, term.value, term.value_pos)?;
                    query.filters.push(Filter {
                        field,
                        op: term.op,
                        value,
                    });
                }
            }
        }
        match (topsis_at, weights) {
            (Some(_), Some((criteria, _))) => query.rank = Some(Rank::Topsis(criteria)),
            (Some(_), None) => query.rank = Some(Rank::Topsis(ranking::default_criteria())),
            (None, Some((_, pos))) => {
                return Err(QueryError::new(
                    pos,
                    "weights= applies to sort=topsis; add sort=topsis",
                ))
            }
            (None, None) => {}
        }
        match (cost_at, model) {
            (Some(_), Some((model, _))) => {
                query.rank = Some(Rank::CostPerMtok(TokenCostRank {
                    model,
                    precision: precision.map_or(Precision::Bf16, |p| p.0),
                    batch: batch.map_or(DEFAULT_SERVING_BATCH, |b| b.0),
                }));
            }
            (Some(pos), None) => {
                return Err(QueryError::new(
                    pos,
                    "sort=cost_per_mtok needs the model to serve, e.g. model=llama-3-70b",
                ))
            }
            (None, model) => {
                if let Some(pos) = model
                    .map(|m| m.1)
                    .or(precision.map(|p| p.1))
                    .or(batch.map(|b| b.1))
                {
                    return Err(QueryError::new(
                        pos,
                        "model=, precision= and batch= apply to sort=cost_per_mtok; add sort=cost_per_mtok",
                    ));
                }
            }
        }
        Ok(query)
    }

    /// A query with `filter` added.
    #[must_use]
    pub fn with_filter(mut self, filter: Filter) -> Query {
        self.filters.push(filter);
        self
    }
}

fn expect_eq(op: Op, pos: usize, name: &str) -> Result<(), QueryError> {
    if op == Op::Eq {
        Ok(())
    } else {
        Err(QueryError::new(
            pos,
            format!("{name} takes '=', e.g. {name}=…"),
        ))
    }
}

fn parse_sort(raw: &str, pos: usize) -> Result<Vec<SortKey>, QueryError> {
    let mut keys = Vec::new();
    let mut offset = pos;
    for part in raw.split(',') {
        let (name, descending) = if let Some(n) = part.strip_prefix('-') {
            (n, true)
        } else if let Some(n) = part.strip_suffix('-') {
            (n, true)
        } else {
            (part.strip_prefix('+').unwrap_or(part), false)
        };
        let field = Field::from_name(name).ok_or_else(|| unknown_field(name, offset))?;
        if field.kind() != FieldKind::Number {
            return Err(QueryError::new(
                offset,
                format!("cannot sort by {name}: sort takes a numeric field"),
            ));
        }
        keys.push(SortKey { field, descending });
        offset += part.chars().count() + 1;
    }
    Ok(keys)
}

/// `name:weight,name:weight,…`: criteria with non-negative weights, normalised to sum 1.
fn parse_weights(raw: &str, pos: usize) -> Result<Vec<Criterion>, QueryError> {
    let mut attributes = Vec::new();
    let mut weights = Vec::new();
    let mut offset = pos;
    for part in raw.split(',') {
        let (name, weight) = part.split_once(':').ok_or_else(|| {
            QueryError::new(
                offset,
                format!("expected name:weight, e.g. price:0.4, not {part:?}"),
            )
        })?;
        let attribute = Attribute::from_name(name).ok_or_else(|| {
            let mut err = QueryError::new(
                offset,
                format!("cannot rank by {name:?}: weights take reliability or a numeric field"),
            );
            err.suggestion = field::nearest(name).map(|s| format!("'{s}'"));
            err
        })?;
        if attributes.contains(&attribute) {
            return Err(QueryError::new(offset, format!("{name} is weighted twice")));
        }
        let weight_pos = offset + name.chars().count() + 1;
        let weight = weight
            .parse::<f64>()
            .ok()
            .filter(|w| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| {
                QueryError::new(
                    weight_pos,
                    format!("weight of {name} must be a number ≥ 0, not {weight:?}"),
                )
            })?;
        attributes.push(attribute);
        weights.push(weight);
        offset += part.chars().count() + 1;
    }
    let weights = ranking::normalise_weights(&weights).map_err(|e| match e {
        ranking::TopsisError::ZeroWeights => {
            QueryError::new(pos, "at least one weight must be above 0")
        }
        _ => QueryError::new(pos, "the weights must add up to a finite number"),
    })?;
    Ok(attributes
        .into_iter()
        .zip(weights)
        .map(|(attribute, weight)| Criterion { attribute, weight })
        .collect())
}

/// A known model (`llama-3-70b`) or a bare size (`70b`, `7B`) for a generic dense model.
fn parse_model(raw: &str, pos: usize) -> Result<LlmSpec, QueryError> {
    if let Some(spec) = llm::resolve(raw) {
        return Ok(spec.clone());
    }
    let size = raw
        .strip_suffix(['b', 'B'])
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n > 0.0 && *n <= 10_000.0);
    match size {
        Some(b) => Ok(LlmSpec::generic(b)),
        None => {
            let mut known: Vec<&str> = llm::all().map(|m| m.id).collect();
            known.truncate(8);
            Err(QueryError::new(
                pos,
                format!(
                    "unknown model {raw:?}: name a known model ({}, …) or a size such as 70b",
                    known.join(", ")
                ),
            ))
        }
    }
}

fn parse_limit(raw: &str, pos: usize) -> Result<u32, QueryError> {
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(QueryError::new(
            pos,
            format!("limit must be a whole number from 1 to {MAX_LIMIT}, not {raw:?}"),
        )),
    }
}

fn unknown_field(name: &str, pos: usize) -> QueryError {
    let mut err = QueryError::new(pos, format!("unknown field {name:?}"));
    err.suggestion = field::nearest(name).map(|s| format!("'{s}'"));
    err
}

impl fmt::Display for Query {
    /// The canonical text of the query (parses back to an equal query).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms: Vec<String> = self.filters.iter().map(ToString::to_string).collect();
        if let Some(Rank::Topsis(criteria)) = &self.rank {
            let weights: Vec<String> = criteria
                .iter()
                .map(|c| format!("{}:{}", c.attribute.name(), c.weight))
                .collect();
            terms.push(format!("sort=topsis weights={}", weights.join(",")));
        } else if let Some(Rank::CostPerMtok(r)) = &self.rank {
            let model = if r.model.known {
                r.model.id.to_owned()
            } else {
                format!("{}b", r.model.params_b)
            };
            terms.push(format!(
                "sort=cost_per_mtok model={model} precision={} batch={}",
                r.precision, r.batch
            ));
        } else if !self.sort.is_empty() {
            let keys: Vec<String> = self
                .sort
                .iter()
                .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field.name()))
                .collect();
            terms.push(format!("sort={}", keys.join(",")));
        }
        if let Some(limit) = self.limit {
            terms.push(format!("limit={limit}"));
        }
        f.write_str(&terms.join(" "))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.field.name(), self.op.as_str(), self.value)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Text(s) if lexer::is_bare(s) => f.write_str(s),
            Value::Text(s) => write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(","))
            }
        }
    }
}

impl Filter {
    /// Whether a numeric attribute satisfies this filter (a missing value never does,
    /// except for `!=` and `notin`).
    pub fn test_number(&self, x: Option<f64>) -> bool {
        let Some(x) = x else {
            return matches!(self.op, Op::Ne | Op::NotIn);
        };
        let eq = |v: &Value| matches!(v, Value::Number(n) if (x - n).abs() < 1e-9);
        match (&self.value, self.op) {
            (Value::Number(n), Op::Eq) => (x - n).abs() < 1e-9,
            (Value::Number(n), Op::Ne) => (x - n).abs() >= 1e-9,
            (Value::Number(n), Op::Lt) => x < *n,
            (Value::Number(n), Op::Le) => x <= *n,
            (Value::Number(n), Op::Gt) => x > *n,
            (Value::Number(n), Op::Ge) => x >= *n,
            (Value::List(items), Op::In) => items.iter().any(eq),
            (Value::List(items), Op::NotIn) => !items.iter().any(eq),
            _ => false,
        }
    }

    /// Whether a text attribute satisfies this filter (case-insensitive).
    pub fn test_text(&self, s: Option<&str>) -> bool {
        self.test_text_with(s, |candidate, wanted| {
            candidate.eq_ignore_ascii_case(wanted)
        })
    }

    /// Like [`Filter::test_text`] with a custom equality (e.g. GPU family matching).
    pub fn test_text_with(&self, s: Option<&str>, equals: impl Fn(&str, &str) -> bool) -> bool {
        let Some(s) = s else {
            return matches!(self.op, Op::Ne | Op::NotIn);
        };
        let eq = |v: &Value| matches!(v, Value::Text(t) if equals(s, t));
        match (&self.value, self.op) {
            (Value::Text(t), Op::Eq) => equals(s, t),
            (Value::Text(t), Op::Ne) => !equals(s, t),
            (Value::Text(t), Op::Contains) => s.to_lowercase().contains(&t.to_lowercase()),
            (Value::List(items), Op::In) => items.iter().any(eq),
            (Value::List(items), Op::NotIn) => !items.iter().any(eq),
            _ => false,
        }
    }

    /// Whether a boolean attribute satisfies this filter.
    pub fn test_bool(&self, b: bool) -> bool {
        match (&self.value, self.op) {
            (Value::Bool(v), Op::Eq) => b == *v,
            (Value::Bool(v), Op::Ne) => b != *v,
            _ => false,
        }
    }
}
