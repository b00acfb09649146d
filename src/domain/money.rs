//! Money as integer micro-US-dollars (1 USD = 1,000,000 µUSD), never floating point.
//!
//! Micro-dollars keep per-second GPU billing exact: $2.49/hour is 691.66… µUSD per second,
//! so rates are stored per hour and multiplied before dividing. Arithmetic is checked;
//! overflow is an error, never a wrap.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Micro-USD in one USD.
pub const MICROS_PER_USD: i64 = 1_000_000;

/// An amount of US dollars in micro-dollars.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MicroUsd(pub i64);

/// Why an amount could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount {0:?} is not a finite number")]
    NotFinite(String),
    #[error("amount {0} is out of range")]
    OutOfRange(String),
    #[error("arithmetic overflow")]
    Overflow,
}

impl MicroUsd {
    /// Zero dollars.
    pub const ZERO: MicroUsd = MicroUsd(0);

    /// Converts a dollar amount read from a provider (a float in their JSON or CSV),
    /// rounded to the nearest micro-dollar.
    pub fn from_usd_f64(usd: f64) -> Result<MicroUsd, MoneyError> {
        if !usd.is_finite() {
            return Err(MoneyError::NotFinite(usd.to_string()));
        }
        let micros = (usd * MICROS_PER_USD as f64).round();
        if micros.abs() > 9.0e15 {
            return Err(MoneyError::OutOfRange(usd.to_string()));
        }
        Ok(MicroUsd(micros as i64))
    }

    /// Parses a decimal dollar string exactly (`"2.49"`, `"0.000001"`, `"-3"`).
    pub fn parse_usd(text: &str) -> Result<MicroUsd, MoneyError> {
        let t = text.trim();
        let (negative, digits) = t.strip_prefix('-').map_or((false, t), |d| (true, d));
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let valid = !(whole.is_empty() && frac.is_empty())
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(MoneyError::NotFinite(text.to_owned()));
        }
        if frac.len() > 6 {
            return MicroUsd::from_usd_f64(
                t.parse()
                    .map_err(|_| MoneyError::NotFinite(text.to_owned()))?,
            );
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| MoneyError::OutOfRange(text.to_owned()))?
        };
        let frac_micros: i64 = format!("{frac:0<6}")
            .parse()
            .map_err(|_| MoneyError::OutOfRange(text.to_owned()))?;
        let micros = whole
            .checked_mul(MICROS_PER_USD)
            .and_then(|w| w.checked_add(frac_micros))
            .ok_or_else(|| MoneyError::OutOfRange(text.to_owned()))?;
        Ok(MicroUsd(if negative { -micros } else { micros }))
    }

    /// The amount in dollars, for display and JSON numbers.
    pub fn as_usd_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_USD as f64
    }

    /// Checked addition.
    pub fn checked_add(self, other: MicroUsd) -> Result<MicroUsd, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(MicroUsd)
            .ok_or(MoneyError::Overflow)
    }

    /// Checked subtraction.
    pub fn checked_sub(self, other: MicroUsd) -> Result<MicroUsd, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(MicroUsd)
            .ok_or(MoneyError::Overflow)
    }

    /// This hourly rate divided evenly by `n` (e.g. price per GPU), rounded half up.
    pub fn per(self, n: u32) -> Option<MicroUsd> {
        let n = i64::from(n);
        (n > 0).then(|| MicroUsd((self.0 * 2 + n).div_euclid(2 * n)))
    }
}

impl fmt::Display for MicroUsd {
    /// `$2.490000` style, exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let per = MICROS_PER_USD.unsigned_abs();
        write!(f, "{sign}${}.{:06}", abs / per, abs % per)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_parse_exactly() {
        assert_eq!(MicroUsd::parse_usd("2.49"), Ok(MicroUsd(2_490_000)));
        assert_eq!(MicroUsd::parse_usd("0.000001"), Ok(MicroUsd(1)));
        assert_eq!(MicroUsd::parse_usd("-3"), Ok(MicroUsd(-3_000_000)));
        assert_eq!(MicroUsd::parse_usd(".5"), Ok(MicroUsd(500_000)));
        assert_eq!(MicroUsd::parse_usd(" 10 "), Ok(MicroUsd(10_000_000)));
        assert_eq!(
            MicroUsd::parse_usd("0.1234567"),
            Ok(MicroUsd(123_457)),
            "beyond µ precision rounds"
        );
        for bad in ["", ".", "abc", "1.2.3", "1e5", "NaN", "--1"] {
            assert!(MicroUsd::parse_usd(bad).is_err(), "{bad}");
        }
        assert!(MicroUsd::parse_usd("99999999999999999999").is_err());
    }

    #[test]
    fn floats_round_to_the_nearest_micro_dollar() {
        assert_eq!(MicroUsd::from_usd_f64(0.1 + 0.2), Ok(MicroUsd(300_000)));
        assert_eq!(MicroUsd::from_usd_f64(1.99), Ok(MicroUsd(1_990_000)));
        assert!(MicroUsd::from_usd_f64(f64::NAN).is_err());
        assert!(MicroUsd::from_usd_f64(f64::INFINITY).is_err());
        assert!(MicroUsd::from_usd_f64(1e12).is_err());
    }

    #[test]
    fn arithmetic_is_checked_and_division_rounds_half_up() {
        assert_eq!(
            MicroUsd(i64::MAX).checked_add(MicroUsd(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            MicroUsd(i64::MIN).checked_sub(MicroUsd(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(MicroUsd(10).per(3), Some(MicroUsd(3)));
        assert_eq!(MicroUsd(11).per(2), Some(MicroUsd(6)));
        assert_eq!(MicroUsd(24_720_000).per(8), Some(MicroUsd(3_090_000)));
        assert_eq!(MicroUsd(5).per(0), None);
    }

    #[test]
    fn display_is_exact() {
        assert_eq!(MicroUsd(2_490_000).to_string(), "$2.490000");
        assert_eq!(MicroUsd(-1).to_string(), "-$0.000001");
        assert_eq!(MicroUsd(i64::MIN).to_string(), "-$9223372036854.775808");
    }
}
