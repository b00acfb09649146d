//! The fields a query can filter and sort on, their types and value conversion.

use super::lexer::RawValue;
use super::{Op, QueryError, Value};

/// What kind of value a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Number,
    Text,
    Bool,
}

macro_rules! fields {
    ($($variant:ident => $name:literal, $kind:ident, $doc:literal;)*) => {
        /// A queryable offer attribute.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field {
            $(#[doc = $doc] $variant,)*
        }

        impl Field {
            /// Every field, in documentation order.
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];

            /// The field's name in queries.
            pub fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            /// The kind of value the field holds.
            pub fn kind(self) -> FieldKind {
                match self {
                    $(Field::$variant => FieldKind::$kind,)*
                }
            }

            /// One-line description, for docs and autocomplete.
            pub fn description(self) -> &'static str {
                match self {
                    $(Field::$variant => $doc,)*
                }
            }
        }
    };
}

fields! {
    Gpu => "gpu", Text, "GPU model or family: H100, H100-SXM, A100-80GB, RTX4090";
    Vendor => "vendor", Text, "GPU vendor: nvidia, amd, intel";
    Count => "count", Number, "number of GPUs in the instance";
    Vram => "vram", Number, "memory per GPU, GB";
    TotalVram => "total_vram", Number, "memory of all GPUs together, GB";
    Vcpus => "vcpus", Number, "virtual CPUs";
    Ram => "ram", Number, "system memory, GB";
    Disk => "disk", Number, "disk, GB";
    Price => "price", Number, "on-demand price of the whole instance, USD per hour";
    PricePerGpu => "price_per_gpu", Number, "on-demand price per GPU, USD per hour";
    Spot => "spot", Number, "spot / interruptible price of the whole instance, USD per hour";
    Provider => "provider", Text, "provider id: lambda, runpod, vastai, …";
    Region => "region", Text, "provider region or location";
    Country => "country", Text, "ISO country code where known";
    Continent => "continent", Text, "continent code where known: NA, EU, AS, …";
    InstanceType => "instance_type", Text, "the provider's instance type name";
    Available => "available", Bool, "true when the offer can be rented now (available or limited)";
    Stale => "stale", Bool, "true when the provider has not refreshed the offer within its stale window";
    Tflops => "tflops", Number, "dense BF16 TFLOPS of all GPUs together";
    Bw => "bw", Number, "memory bandwidth per GPU, GB/s";
    Value => "value", Number, "USD per dense BF16 TFLOP-hour (lower is better)";
}

/// Alternative spellings accepted for some fields.
const ALIASES: [(&str, Field); 9] = [
    ("gpus", Field::Count),
    ("gpu_count", Field::Count),
    ("memory", Field::Vram),
    ("gpu_memory", Field::Vram),
    ("cpus", Field::Vcpus),
    ("price_per_hour", Field::Price),
    ("spot_price", Field::Spot),
    ("location", Field::Region),
    ("bandwidth", Field::Bw),
];

impl Field {
    /// Looks a field up by name or alias (case-insensitive).
    pub fn from_name(name: &str) -> Option<Field> {
        let lower = name.to_ascii_lowercase();
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.name() == lower)
            .or_else(|| ALIASES.iter().find(|(a, _)| *a == lower).map(|(_, f)| *f))
    }

    /// Converts a raw value for this field and checks the operator applies.
    pub(super) fn typed_value(
        self,
        op: Op,
        raw: RawValue,
        pos: usize,
    ) -> Result<Value, QueryError> {
        let allowed = match self.kind() {
            FieldKind::Number => !matches!(op, Op::Contains),
            FieldKind::Text => !matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge),
            FieldKind::Bool => matches!(op, Op::Eq | Op::Ne),
        };
        if !allowed {
            return Err(QueryError::new(
                pos,
                format!(
                    "operator '{}' does not apply to {} ({})",
                    op.as_str().trim(),
                    self.name(),
                    kind_name(self.kind())
                ),
            ));
        }
        match (raw, op) {
            (RawValue::List(items), Op::In | Op::NotIn) => items
                .into_iter()
                .map(|(item, p)| self.scalar(&item, p))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List),
            (RawValue::List(_), _) => {
                Err(QueryError::new(pos, "a list [a,b] needs 'in' or 'notin'"))
            }
            (RawValue::Scalar(_), Op::In | Op::NotIn) => Err(QueryError::new(
                pos,
                "'in' and 'notin' take a list such as [a,b]",
            )),
            (RawValue::Scalar(s), _) => self.scalar(&s, pos),
        }
    }

    fn scalar(self, raw: &str, pos: usize) -> Result<Value, QueryError> {
        match self.kind() {
            FieldKind::Text if raw.is_empty() => Err(QueryError::new(
                pos,
                format!("{} needs a value", self.name()),
            )),
            FieldKind::Text => Ok(Value::Text(raw.to_owned())),
            FieldKind::Bool => match raw.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "0" => Ok(Value::Bool(false)),
                _ => Err(QueryError::new(
                    pos,
                    format!("{} expects true or false, not {raw:?}", self.name()),
                )),
            },
            FieldKind::Number => parse_number(self, raw).map(Value::Number).ok_or_else(|| {
                QueryError::new(
                    pos,
                    format!("{} expects a number, not {raw:?}", self.name()),
                )
            }),
        }
    }
}

/// Parses a number, allowing `$` before prices and a `gb` unit after memory sizes.
fn parse_number(field: Field, raw: &str) -> Option<f64> {
    let mut s = raw.trim();
    if matches!(
        field,
        Field::Price | Field::PricePerGpu | Field::Spot | Field::Value
    ) {
        s = s.strip_prefix('$').unwrap_or(s);
    }
    if matches!(
        field,
        Field::Vram | Field::TotalVram | Field::Ram | Field::Disk
    ) {
        let lower = s.to_ascii_lowercase();
        for unit in ["gib", "gb", "g"] {
            if lower.ends_with(unit) {
                s = &s[..s.len() - unit.len()];
                break;
            }
        }
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Number => "a number",
        FieldKind::Text => "text",
        FieldKind::Bool => "true/false",
    }
}

/// The field (or directive) nearest to a misspelt name, if any is close enough.
pub(super) fn nearest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let candidates = Field::ALL.iter().map(|f| f.name()).chain(["sort", "limit"]);
    candidates
        .map(|c| (edit_distance(&lower, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}
