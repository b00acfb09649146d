//! Multi-criteria ranking with TOPSIS (Technique for Order of Preference by Similarity to
//! Ideal Solution, Hwang & Yoon 1981).
//!
//! For `n` alternatives and `m` criteria given as columns:
//! 1. vector normalisation per column, `r_ij = x_ij / sqrt(Σ_i x_ij²)` (a column whose norm
//!    is at most 1e-10 is divided by 1);
//! 2. weighting, `v_ij = w_j · r_ij`, with the weights normalised to sum 1;
//! 3. the ideal `A⁺_j` is the column's best weighted value (max for a benefit, min for a
//!    cost), the anti-ideal `A⁻_j` its worst;
//! 4. distances `S⁺_i = ‖v_i − A⁺‖₂`, `S⁻_i = ‖v_i − A⁻‖₂`;
//! 5. closeness `C_i = S⁻_i / (S⁺_i + S⁻_i)`, or 0 when the denominator is at most 1e-10
//!    (every alternative equal).
//!
//! The ranking orders by closeness, best first; equal scores keep input order, so callers
//! that pass alternatives in a stable order get a deterministic ranking.

use std::cmp::Ordering;

use super::query::{Field, FieldKind};

/// Whether more of a criterion is better (benefit) or worse (cost).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better (VRAM, TFLOPS, reliability).
    Benefit,
    /// Lower is better (price).
    Cost,
}

/// What a ranking criterion reads from an offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// A numeric query field (`price`, `vram`, `tflops`, …).
    Field(Field),
    /// The provider's reliability score in `[0, 1]` where it publishes one (Vast.ai).
    Reliability,
}

impl Attribute {
    /// The attribute's name in queries.
    pub fn name(self) -> &'static str {
        match self {
            Attribute::Field(f) => f.name(),
            Attribute::Reliability => "reliability",
        }
    }

    /// Looks an attribute up by name: `reliability` or any numeric query field.
    pub fn from_name(name: &str) -> Option<Attribute> {
        if name.eq_ignore_ascii_case("reliability") {
            return Some(Attribute::Reliability);
        }
        Field::from_name(name)
            .filter(|f| f.kind() == FieldKind::Number)
            .map(Attribute::Field)
    }

    /// Prices (and USD per TFLOP-hour) are costs; everything else is a benefit.
    pub fn direction(self) -> Direction {
        match self {
            Attribute::Field(Field::Price | Field::PricePerGpu | Field::Spot | Field::Value) => {
                Direction::Cost
            }
            _ => Direction::Benefit,
        }
    }
}

/// One weighted criterion of a TOPSIS ranking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Criterion {
    pub attribute: Attribute,
    /// Normalised: the weights of one ranking sum to 1.
    pub weight: f64,
}

/// Criteria of `sort=topsis` without `weights=`: price 0.4, total TFLOPS 0.3, VRAM per
/// GPU 0.2, reliability 0.1.
pub fn default_criteria() -> Vec<Criterion> {
    [
        (Attribute::Field(Field::Price), 0.4),
        (Attribute::Field(Field::Tflops), 0.3),
        (Attribute::Field(Field::Vram), 0.2),
        (Attribute::Reliability, 0.1),
    ]
    .into_iter()
    .map(|(attribute, weight)| Criterion { attribute, weight })
    .collect()
}

/// Scores and the weighted ideal points of one TOPSIS run.
#[derive(Clone, Debug, PartialEq)]
pub struct TopsisOutcome {
    /// Closeness to the ideal per alternative, in `[0, 1]`, input order.
    pub scores: Vec<f64>,
    /// The weights as used (normalised to sum 1).
    pub weights: Vec<f64>,
    /// The ideal point in weighted normalised space, per criterion.
    pub ideal: Vec<f64>,
    /// The anti-ideal point in weighted normalised space, per criterion.
    pub anti_ideal: Vec<f64>,
}

impl TopsisOutcome {
    /// Alternative indices, best first; ties keep input order.
    pub fn ranking(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.scores.len()).collect();
        order.sort_by(|a, b| compare_scores(self.scores[*a], self.scores[*b]));
        order
    }
}

/// Orders higher scores first (NaN never occurs in an outcome, but sorts last).
pub fn compare_scores(a: f64, b: f64) -> Ordering {
    b.total_cmp(&a)
}

/// Why a TOPSIS input was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TopsisError {
    #[error("at least one criterion is required")]
    NoCriteria,
    #[error("{weights} weights and {directions} criterion types for {columns} criteria")]
    ShapeMismatch {
        columns: usize,
        weights: usize,
        directions: usize,
    },
    #[error("criterion {column} has {len} values, expected {expected}")]
    RaggedColumn {
        column: usize,
        len: usize,
        expected: usize,
    },
    #[error("weight {index} is {value}: weights must be finite, not negative, with a finite sum")]
    BadWeight { index: usize, value: f64 },
    #[error("the weights sum to zero")]
    ZeroWeights,
    #[error("value {row} of criterion {column} is not a finite number")]
    NotFinite { row: usize, column: usize },
}

/// Runs TOPSIS over `columns` (one slice per criterion, all the same length).
pub fn topsis(
    columns: &[&[f64]],
    weights: &[f64],
    directions: &[Direction],
) -> Result<TopsisOutcome, TopsisError> {
    let m = columns.len();
    if m == 0 {
        return Err(TopsisError::NoCriteria);
    }
    if weights.len() != m || directions.len() != m {
        return Err(TopsisError::ShapeMismatch {
            columns: m,
            weights: weights.len(),
            directions: directions.len(),
        });
    }
    let n = columns[0].len();
    for (j, col) in columns.iter().enumerate() {
        if col.len() != n {
            return Err(TopsisError::RaggedColumn {
                column: j,
                len: col.len(),
                expected: n,
            });
        }
        if let Some(row) = col.iter().position(|x| !x.is_finite()) {
            return Err(TopsisError::NotFinite { row, column: j });
        }
    }
    let weights = normalise_weights(weights)?;

    // Per criterion: x ↦ (x / m) · k is the weighted normalised value, where m is the
    // column's largest magnitude (so squares never overflow or underflow) and
    // k = w / ‖x / m‖; plus the ideal and anti-ideal points in that space.
    let mut inv_max = Vec::with_capacity(m);
    let mut scale = Vec::with_capacity(m);
    let mut ideal = Vec::with_capacity(m);
    let mut anti_ideal = Vec::with_capacity(m);
    for (j, col) in columns.iter().enumerate() {
        let big = col.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let inv = if big > 0.0 { 1.0 / big } else { 0.0 };
        let norm = col
            .iter()
            .map(|x| (x * inv) * (x * inv))
            .sum::<f64>()
            .sqrt();
        let k = if norm > 0.0 { weights[j] / norm } else { 0.0 };
        let (lo, hi) = col
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(*x), hi.max(*x))
            });
        let (lo, hi) = if n == 0 {
            (0.0, 0.0)
        } else {
            (lo * inv * k, hi * inv * k)
        };
        inv_max.push(inv);
        scale.push(k);
        match directions[j] {
            Direction::Benefit => {
                ideal.push(hi);
                anti_ideal.push(lo);
            }
            Direction::Cost => {
                ideal.push(lo);
                anti_ideal.push(hi);
            }
        }
    }

    let mut plus = vec![0.0; n];
    let mut minus = vec![0.0; n];
    for (j, col) in columns.iter().enumerate() {
        let (inv, s, a, b) = (inv_max[j], scale[j], ideal[j], anti_ideal[j]);
        for ((x, p), q) in col.iter().zip(plus.iter_mut()).zip(minus.iter_mut()) {
            let v = x * inv * s;
            *p += (v - a) * (v - a);
            *q += (v - b) * (v - b);
        }
    }
    let scores = plus
        .iter()
        .zip(&minus)
        .map(|(p, q)| {
            let (p, q) = (p.sqrt(), q.sqrt());
            let d = p + q;
            // Distances live in weighted normalised space (at most about 2), so this
            // threshold is relative to the data: only truly equal alternatives fall below it.
            if d > 1e-12 {
                (q / d).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    Ok(TopsisOutcome {
        scores,
        weights,
        ideal,
        anti_ideal,
    })
}

/// Weights scaled to sum 1; negative, non-finite or all-zero weights are rejected.
pub fn normalise_weights(weights: &[f64]) -> Result<Vec<f64>, TopsisError> {
    if let Some((index, value)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !w.is_finite() || **w < 0.0)
    {
        return Err(TopsisError::BadWeight {
            index,
            value: *value,
        });
    }
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return Err(TopsisError::ZeroWeights);
    }
    if !sum.is_finite() {
        return Err(TopsisError::BadWeight {
            index: 0,
            value: sum,
        });
    }
    Ok(weights.iter().map(|w| w / sum).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Benefit, Cost};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// `shared/reference/gpubroker-original.md` §3.1, browse weights: offers
    /// A [2.49, 80, 100, 100], B [1.89, 80, 100, 80], C [0.35, 24, 70, 65].
    #[test]
    #[allow(clippy::approx_constant)] // 0.6366 is a reference score, not 2/π
    fn reproduces_the_browse_reference_vector() {
        let price = [2.49, 1.89, 0.35];
        let mem = [80.0, 80.0, 24.0];
        let avail = [100.0, 100.0, 70.0];
        let perf = [100.0, 80.0, 65.0];
        let out = topsis(
            &[&price, &mem, &avail, &perf],
            &[0.35, 0.25, 0.20, 0.20],
            &[Cost, Benefit, Benefit, Benefit],
        )
        .unwrap();
        for (got, want) in out.scores.iter().zip([0.3634, 0.4549, 0.6366]) {
            assert!(close(*got, want, 5e-5), "{got} vs {want}");
        }
        assert_eq!(out.ranking(), vec![2, 1, 0]);
    }

    /// §3.1, `/browse/topsis` defaults, with the reference ideal and anti-ideal points.
    #[test]
    fn reproduces_the_browse_topsis_reference_vector() {
        let price = [2.49, 1.89, 0.35];
        let mem = [80.0, 80.0, 24.0];
        let avail = [100.0, 100.0, 70.0];
        let out = topsis(
            &[&price, &mem, &avail],
            &[0.4, 0.35, 0.25],
            &[Cost, Benefit, Benefit],
        )
        .unwrap();
        for (got, want) in out.scores.iter().zip([0.3928, 0.4948, 0.6072]) {
            assert!(close(*got, want, 5e-5), "{got} vs {want}");
        }
        for (got, want) in out.ideal.iter().zip([0.044507, 0.2421, 0.158431]) {
            assert!(close(*got, want, 5e-6), "ideal {got} vs {want}");
        }
        for (got, want) in out.anti_ideal.iter().zip([0.316634, 0.07263, 0.110902]) {
            assert!(close(*got, want, 5e-6), "anti-ideal {got} vs {want}");
        }
        assert_eq!(out.ranking(), vec![2, 1, 0]);
    }

    #[test]
    fn weights_are_normalised() {
        let price = [2.49, 1.89, 0.35];
        let mem = [80.0, 80.0, 24.0];
        let a = topsis(&[&price, &mem], &[0.4, 0.6], &[Cost, Benefit]).unwrap();
        let b = topsis(&[&price, &mem], &[4.0, 6.0], &[Cost, Benefit]).unwrap();
        assert_eq!(b.weights, vec![0.4, 0.6]);
        for (x, y) in a.scores.iter().zip(&b.scores) {
            assert!(close(*x, *y, 1e-12));
        }
    }

    #[test]
    fn bad_inputs_are_named() {
        let col = [1.0, 2.0];
        assert_eq!(topsis(&[], &[], &[]), Err(TopsisError::NoCriteria));
        assert!(matches!(
            topsis(&[&col], &[1.0, 1.0], &[Cost]),
            Err(TopsisError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            topsis(&[&col, &[1.0]], &[1.0, 1.0], &[Cost, Cost]),
            Err(TopsisError::RaggedColumn { column: 1, .. })
        ));
        assert!(matches!(
            topsis(&[&col], &[-1.0], &[Cost]),
            Err(TopsisError::BadWeight { index: 0, .. })
        ));
        assert_eq!(
            topsis(&[&col], &[0.0], &[Cost]),
            Err(TopsisError::ZeroWeights)
        );
        assert!(matches!(
            topsis(&[&[1.0, f64::NAN]], &[1.0], &[Cost]),
            Err(TopsisError::NotFinite { row: 1, column: 0 })
        ));
    }

    #[test]
    fn extreme_magnitudes_neither_overflow_nor_vanish() {
        for k in [1e-300, 1e-11, 1.0, 1e200] {
            let col = [1.0 * k, 3.0 * k];
            let out = topsis(&[&col], &[1.0], &[Benefit]).unwrap();
            assert_eq!(out.scores, vec![0.0, 1.0], "scale {k}");
        }
        assert!(matches!(
            topsis(&[&[1.0, 2.0], &[1.0, 2.0]], &[1e308, 1e308], &[Cost, Cost]),
            Err(TopsisError::BadWeight { .. })
        ));
    }

    #[test]
    fn equal_alternatives_score_zero_and_keep_input_order() {
        let col = [3.0, 3.0, 3.0];
        let out = topsis(&[&col, &col], &[1.0, 1.0], &[Cost, Benefit]).unwrap();
        assert_eq!(out.scores, vec![0.0, 0.0, 0.0]);
        assert_eq!(out.ranking(), vec![0, 1, 2]);
    }

    /// SplitMix64: a small deterministic generator for the property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn range(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    struct Case {
        cols: Vec<Vec<f64>>,
        weights: Vec<f64>,
        dirs: Vec<Direction>,
    }

    /// 500 random matrices: 2–5 criteria, 2–40 alternatives, values over six orders of
    /// magnitude.
    fn cases() -> impl Iterator<Item = (Rng, Case)> {
        (0..500u64).map(|seed| {
            let mut rng = Rng(seed);
            let m = 2 + rng.below(4);
            let n = 2 + rng.below(39);
            let cols = (0..m)
                .map(|_| (0..n).map(|_| rng.range(0.01, 1000.0)).collect())
                .collect();
            let weights = (0..m).map(|_| rng.range(0.01, 10.0)).collect();
            let dirs = (0..m)
                .map(|_| if rng.next() % 2 == 0 { Benefit } else { Cost })
                .collect();
            (
                rng,
                Case {
                    cols,
                    weights,
                    dirs,
                },
            )
        })
    }

    fn run(case: &Case) -> TopsisOutcome {
        let refs: Vec<&[f64]> = case.cols.iter().map(Vec::as_slice).collect();
        topsis(&refs, &case.weights, &case.dirs).unwrap()
    }

    #[test]
    fn scores_lie_in_the_unit_interval() {
        for (_, case) in cases() {
            let out = run(&case);
            assert!(
                out.scores.iter().all(|s| (0.0..=1.0).contains(s)),
                "{:?}",
                out.scores
            );
        }
    }

    #[test]
    fn a_dominating_alternative_ranks_first() {
        for (mut rng, mut case) in cases() {
            let best = rng.below(case.cols[0].len());
            for (col, dir) in case.cols.iter_mut().zip(&case.dirs) {
                let (lo, hi) = col
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
                col[best] = if *dir == Benefit { hi * 2.0 } else { lo / 2.0 };
            }
            let out = run(&case);
            assert_eq!(out.ranking()[0], best);
            assert!((out.scores[best] - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn scaling_a_column_by_a_positive_factor_changes_nothing() {
        for (mut rng, mut case) in cases() {
            let before = run(&case);
            let j = rng.below(case.cols.len());
            let k = rng.range(0.001, 1000.0);
            for x in &mut case.cols[j] {
                *x *= k;
            }
            let after = run(&case);
            for (a, b) in before.scores.iter().zip(&after.scores) {
                assert!(
                    (a - b).abs() < 1e-9,
                    "{a} vs {b} after scaling column {j} by {k}"
                );
            }
            assert_eq!(before.ranking(), after.ranking());
        }
    }
}
