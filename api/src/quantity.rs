//! Resource quantities: `100m`, `1.5`, `2Gi`, `500Mi`, `1e3`, `1k`.
//!
//! Parsing follows `k8s.io/apimachinery/pkg/api/resource.ParseQuantity`
//! exactly: the same grammar (including its oddities: `"."`, `"-"` and `"Ki"`
//! are all zero), values rounded away from zero to nano precision, binary
//! quantities clamped to `2^63-1`, and the same canonical form on output
//! (`1.5` prints as `1500m`, `1536Mi` stays `1536Mi`, `2048Ki` becomes `2Mi`).
//! Like Kubernetes, a string that was already canonical when parsed is printed
//! back exactly as given (so `+1` stays `+1`); [`Quantity::canonical`] always
//! recomputes.
//!
//! The value is held as an `i128` count of nano-units, which covers every
//! quantity up to about 1.7e29. Kubernetes uses arbitrary precision decimals
//! and so accepts larger decimal quantities (`1e40`); Skiff rejects them with
//! [`QuantityError::OutOfRange`].
//!
//! # Examples
//!
//! ```
//! use skiff_api::quantity::Quantity;
//!
//! let q: Quantity = "1.5".parse().unwrap();
//! assert_eq!(q.canonical(), "1500m");
//! assert_eq!(q.as_millis(), 1500);
//! let mem: Quantity = "2Gi".parse().unwrap();
//! assert_eq!(mem.as_bytes(), 2 * 1024 * 1024 * 1024);
//! assert!(mem > "2G".parse().unwrap());
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// The largest value a binary-SI quantity may take (Kubernetes' `maxAllowed`).
const MAX_BINARY: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// How a quantity prints: which family of suffixes it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of ten with SI suffixes: `12M`, `100m`.
    DecimalSI,
    /// Powers of two with binary suffixes: `12Mi` (12 * 2^20).
    BinarySI,
    /// Scientific notation: `12e6`.
    DecimalExponent,
}

/// Why a string is not a quantity. The messages are Kubernetes'.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum QuantityError {
    /// The string does not have the shape of a quantity.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    FormatWrong,
    /// The numeric part could not be read.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is not one Kubernetes knows.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// A decimal quantity beyond Skiff's range (about 1.7e29); Kubernetes would accept it.
    #[error("quantity is too large")]
    OutOfRange,
}

/// A Kubernetes resource quantity.
///
/// Equality, ordering and hashing compare values only, as Kubernetes'
/// `Quantity.Cmp` does: `1Gi == 1073741824` and `1k == 1000`.
#[derive(Clone, Debug)]
pub struct Quantity {
    nanos: i128,
    format: Format,
    /// The input string, kept when Kubernetes would keep it (already canonical).
    original: Option<String>,
}

impl Quantity {
    /// Parses a quantity string (the same as `str::parse`).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        parse_quantity(s)
    }

    /// A whole-unit quantity (`3` → `3`, or `3Ki` worth of bytes with [`Format::BinarySI`]).
    pub fn from_units(value: i64, format: Format) -> Quantity {
        Quantity {
            nanos: i128::from(value) * NANOS_PER_UNIT,
            format,
            original: None,
        }
    }

    /// A decimal quantity of `millis` thousandths (`1500` → `1500m`).
    pub fn from_millis(millis: i64) -> Quantity {
        Quantity {
            nanos: i128::from(millis) * 1_000_000,
            format: Format::DecimalSI,
            original: None,
        }
    }

    /// A quantity of exactly `nanos` billionths, in the given format.
    pub fn from_nanos(nanos: i128, format: Format) -> Quantity {
        Quantity {
            nanos,
            format,
            original: None,
        }
    }

    /// The format the quantity prints in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The exact value in billionths of a unit.
    pub fn as_nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in thousandths, rounded away from zero (Kubernetes' `MilliValue`).
    pub fn as_millis(&self) -> i128 {
        div_away_from_zero(self.nanos, 1_000_000)
    }

    /// The value in whole units, rounded away from zero (Kubernetes' `Value`).
    pub fn as_units(&self) -> i128 {
        div_away_from_zero(self.nanos, NANOS_PER_UNIT)
    }

    /// The value as a byte count (whole units, rounded away from zero); for memory and storage.
    pub fn as_bytes(&self) -> i128 {
        self.as_units()
    }

    /// The value as a float; may lose precision.
    pub fn as_f64(&self) -> f64 {
        // Precision loss is accepted here: this is for display and scoring only.
        self.nanos as f64 / 1e9
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// -1, 0 or 1 by sign.
    pub fn signum(&self) -> i32 {
        match self.nanos.cmp(&0) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        }
    }

    /// The sum, or `None` on overflow. A zero left side takes the right side's format.
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        Some(Quantity {
            nanos: self.nanos.checked_add(other.nanos)?,
            format: if self.is_zero() {
                other.format
            } else {
                self.format
            },
            original: None,
        })
    }

    /// The difference, or `None` on overflow. A zero left side takes the right side's format.
    pub fn checked_sub(&self, other: &Quantity) -> Option<Quantity> {
        Some(Quantity {
            nanos: self.nanos.checked_sub(other.nanos)?,
            format: if self.is_zero() {
                other.format
            } else {
                self.format
            },
            original: None,
        })
    }

    /// The value rounded up (away from zero) to a multiple of 10^`exp10`
    /// (`-3` for milli), as the API server does to resource lists on create.
    pub fn round_up(&self, exp10: i32) -> Quantity {
        let step_exp = exp10 + 9;
        if step_exp <= 0 {
            return self.clone();
        }
        let Some(step) = 10i128.checked_pow(step_exp.unsigned_abs()) else {
            return self.clone();
        };
        let rounded = div_away_from_zero(self.nanos, step).checked_mul(step);
        match rounded {
            Some(n) if n == self.nanos => self.clone(),
            Some(n) => Quantity {
                nanos: n,
                format: self.format,
                original: None,
            },
            None => self.clone(),
        }
    }

    /// The canonical string, ignoring how the quantity was written.
    pub fn canonical(&self) -> String {
        canonical_string(self.nanos, self.format)
    }
}

fn div_away_from_zero(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 {
        q
    } else if n > 0 {
        q + 1
    } else {
        q - 1
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.original {
            Some(s) => f.write_str(s),
            None => f.write_str(&self.canonical()),
        }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_quantity(s)
    }
}

impl TryFrom<&k8s_openapi::apimachinery::pkg::api::resource::Quantity> for Quantity {
    type Error = QuantityError;

    fn try_from(
        q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
    ) -> Result<Self, Self::Error> {
        parse_quantity(q.0.trim())
    }
}

impl From<&Quantity> for k8s_openapi::apimachinery::pkg::api::resource::Quantity {
    fn from(q: &Quantity) -> Self {
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(q.to_string())
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;

        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity string or number")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                // Kubernetes trims surrounding space when decoding JSON.
                parse_quantity(v.trim()).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                parse_quantity(&v.to_string()).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                parse_quantity(&v.to_string()).map_err(E::custom)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                parse_quantity(&v.to_string()).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// The pieces of a quantity string, as Kubernetes' `parseQuantityString` splits it.
struct Parts<'a> {
    positive: bool,
    /// Integer digits without leading zeros; `"0"` when there are none.
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

fn split_quantity(s: &str) -> Result<Parts<'_>, QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut parts = Parts {
        positive: true,
        num: "0",
        denom: "",
        suffix: "",
    };
    let mut pos = 0;
    match b.first() {
        Some(b'-') => {
            parts.positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(parts);
    }
    let start = pos;
    while pos < end && is_digit(b[pos]) {
        pos += 1;
    }
    if pos > start {
        parts.num = &s[start..pos];
    }
    if pos >= end {
        return Ok(parts);
    }
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < end && is_digit(b[pos]) {
            pos += 1;
        }
        parts.denom = &s[start..pos];
        if pos >= end {
            return Ok(parts);
        }
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && is_digit(b[pos]) {
        pos += 1;
    }
    if pos < end {
        return Err(QuantityError::FormatWrong);
    }
    parts.suffix = &s[suffix_start..];
    Ok(parts)
}

/// What a suffix means: base (10 or 2), exponent and format.
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSI));
    let bin = |e| Some((2, e, Format::BinarySI));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            let parsed: i64 = s[1..].parse().ok()?;
            // Kubernetes narrows the exponent to int32 the same way.
            Some((10, parsed as i32, Format::DecimalExponent))
        }
        _ => None,
    }
}

fn parse_digits(d: &str) -> Option<u128> {
    let mut v: u128 = 0;
    for c in d.bytes() {
        v = v.checked_mul(10)?.checked_add(u128::from(c - b'0'))?;
    }
    Some(v)
}

/// `ceil_away(digits * mult * 10^shift)` in magnitude, or `None` on overflow.
fn scale_digits(digits: &str, mult: u128, shift: i64) -> Option<u128> {
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    if shift >= 0 {
        let p = u32::try_from(shift).ok()?;
        return parse_digits(digits)?
            .checked_mul(mult)?
            .checked_mul(10u128.checked_pow(p)?);
    }
    let s = shift.unsigned_abs();
    let len = digits.len() as u64;
    let (high, low) = if len > s {
        let cut = (len - s) as usize;
        (&digits[..cut], &digits[cut..])
    } else {
        ("", digits)
    };
    let high = parse_digits(high)?.checked_mul(mult)?;
    // Multiply the fraction 0.<low> by `mult` digit by digit: what carries past
    // the decimal point is the integer part, any non-zero digit left behind
    // means the value must be rounded up.
    let mut carry: u128 = 0;
    let mut inexact = false;
    for c in low.bytes().rev() {
        let t = u128::from(c - b'0') * mult + carry;
        inexact |= !t.is_multiple_of(10);
        carry = t / 10;
    }
    let mut padding = s.saturating_sub(len);
    while padding > 0 && carry != 0 {
        inexact |= !carry.is_multiple_of(10);
        carry /= 10;
        padding -= 1;
    }
    high.checked_add(carry)?.checked_add(u128::from(inexact))
}

fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::FormatWrong);
    }
    if s == "0" {
        return Ok(Quantity {
            nanos: 0,
            format: Format::DecimalSI,
            original: Some(s.to_owned()),
        });
    }
    let parts = split_quantity(s)?;
    let (base, exponent, mut format) =
        interpret_suffix(parts.suffix).ok_or(QuantityError::Suffix)?;
    let digits = format!("{}{}", parts.num, parts.denom);
    let denom_len = parts.denom.len() as i64;
    let magnitude = if base == 2 {
        let mult = 1u128 << exponent;
        match scale_digits(&digits, mult, 9 - denom_len) {
            Some(m) if m as i128 <= MAX_BINARY => m as i128,
            // Kubernetes clamps binary quantities to the largest int64.
            _ => MAX_BINARY,
        }
    } else {
        let m = scale_digits(&digits, 1, i64::from(exponent) - denom_len + 9)
            .ok_or(QuantityError::OutOfRange)?;
        i128::try_from(m).map_err(|_| QuantityError::OutOfRange)?
    };
    if format == Format::BinarySI && magnitude > 0 && magnitude < NANOS_PER_UNIT {
        format = Format::DecimalSI;
    }
    let nanos = if parts.positive {
        magnitude
    } else {
        -magnitude
    };
    let original = keeps_original(&parts, base, exponent, format).then(|| s.to_owned());
    Ok(Quantity {
        nanos,
        format,
        original,
    })
}

/// Whether Kubernetes' fast path would cache the input string as the
/// quantity's printed form (it does so only for strings already canonical,
/// modulo sign and leading zeros).
fn keeps_original(parts: &Parts<'_>, base: u32, exponent: i32, format: Format) -> bool {
    let num_len = parts.num.len() as i64;
    let denom_len = parts.denom.len() as i64;
    let (precision, mut scale, mantissa): (i64, i64, i64) = if base == 2 {
        if exponent >= 0 && denom_len == 0 {
            (
                14 - num_len - i64::from(exponent) * 3 / 10,
                0,
                1i64 << exponent,
            )
        } else {
            (-1, 0, 1)
        }
    } else {
        (18 - (num_len + denom_len), i64::from(exponent), 1)
    };
    if precision < 0 {
        return false;
    }
    scale -= denom_len;
    if scale < -9 {
        return false;
    }
    let shifted = format!("{}{}", parts.num, parts.denom);
    let Ok(value) = shifted.parse::<i64>() else {
        return false;
    };
    if value.checked_mul(mantissa).is_none() {
        return false;
    }
    match format {
        Format::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
        _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
    }
}

fn decimal_suffix(exp: i32) -> Option<&'static str> {
    Some(match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

fn canonical_string(nanos: i128, format: Format) -> String {
    if nanos == 0 {
        return "0".to_owned();
    }
    if format == Format::BinarySI
        && nanos.abs() >= 1024 * NANOS_PER_UNIT
        && nanos % NANOS_PER_UNIT == 0
    {
        let mut v = nanos / NANOS_PER_UNIT;
        let mut exp = 0;
        while exp < 6 && v % 1024 == 0 {
            v /= 1024;
            exp += 1;
        }
        return format!("{v}{}", BINARY_SUFFIXES[exp]);
    }
    let mut mantissa = nanos;
    let mut exp: i32 = -9;
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    match exp.rem_euclid(3) {
        1 => {
            mantissa *= 10;
            exp -= 1;
        }
        2 => {
            mantissa *= 100;
            exp -= 2;
        }
        _ => {}
    }
    let exponent_form = |exp: i32| {
        if exp == 0 {
            String::new()
        } else {
            format!("e{exp}")
        }
    };
    let suffix = match format {
        Format::DecimalExponent => exponent_form(exp),
        // Kubernetes prints no suffix at all past `E` (a bug that changes the
        // value); exponent notation keeps it right.
        _ => decimal_suffix(exp).map_or_else(|| exponent_form(exp), str::to_owned),
    };
    format!("{mantissa}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("0", "0"),
            ("100m", "100m"),
            ("1.5", "1500m"),
            ("0.1", "100m"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1k", "1k"),
            ("1000m", "1"),
            ("2Gi", "2Gi"),
            ("500Mi", "500Mi"),
            ("1536Mi", "1536Mi"),
            ("2048Ki", "2Mi"),
            ("1024", "1024"),
            ("1Ki", "1Ki"),
            ("0.5Ki", "512"),
            ("1.5Gi", "1536Mi"),
            ("1e3", "1e3"),
            ("1E3", "1E3"),
            ("1.5e3", "1500"),
            ("10e3", "10e3"),
            ("1e-3", "1e-3"),
            ("12e6", "12e6"),
            ("1M", "1M"),
            ("1G", "1G"),
            ("1T", "1T"),
            ("1P", "1P"),
            ("1E", "1E"),
            ("1n", "1n"),
            ("1u", "1u"),
            ("0.000000001", "1n"),
            ("0.0000000001", "1n"),
            ("-0.0000000001", "-1n"),
            ("-1.5", "-1500m"),
            ("-2Gi", "-2Gi"),
            ("123456789", "123456789"),
            ("1.1", "1100m"),
            ("001", "001"),
            ("+1", "+1"),
            ("0.5", "500m"),
            ("0Ki", "0"),
            ("-0", "0"),
            ("1000E", "1e21"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).to_string(), want, "input {input}");
        }
    }

    #[test]
    fn canonical_ignores_the_kept_input() {
        assert_eq!(q("+1").canonical(), "1");
        assert_eq!(q("001").canonical(), "1");
        assert_eq!(q("100m").canonical(), "100m");
    }

    #[test]
    fn kubernetes_oddities_parse_as_zero() {
        for s in [".", "-", "+", "Ki", "m", "00", "-.", "0.0", "0e5"] {
            assert!(q(s).is_zero(), "{s}");
        }
    }

    #[test]
    fn errors() {
        let cases = [
            ("", QuantityError::FormatWrong),
            (" 1", QuantityError::FormatWrong),
            ("1 ", QuantityError::FormatWrong),
            ("1.2.3", QuantityError::FormatWrong),
            ("1Kii", QuantityError::Suffix),
            ("1i", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1Ki3", QuantityError::Suffix),
            ("1KB", QuantityError::FormatWrong),
            ("abc", QuantityError::FormatWrong),
            ("1x", QuantityError::FormatWrong),
            ("1e99999999999999999999", QuantityError::Suffix),
            ("1e40", QuantityError::OutOfRange),
            ("1é", QuantityError::FormatWrong),
        ];
        for (input, want) in cases {
            assert_eq!(Quantity::parse(input).unwrap_err(), want, "input {input:?}");
        }
    }

    #[test]
    fn accessors() {
        assert_eq!(q("100m").as_millis(), 100);
        assert_eq!(q("1").as_millis(), 1000);
        assert_eq!(q("1.5").as_units(), 2);
        assert_eq!(q("-1.5").as_units(), -2);
        assert_eq!(q("1n").as_millis(), 1);
        assert_eq!(q("1Ki").as_bytes(), 1024);
        assert_eq!(q("1Ei").as_bytes(), 1 << 60);
        assert_eq!(q("1e3").as_units(), 1000);
        assert_eq!(q("2.5").as_nanos(), 2_500_000_000);
        assert!((q("250m").as_f64() - 0.25).abs() < 1e-12);
        assert_eq!(q("1").signum(), 1);
        assert_eq!(q("-1m").signum(), -1);
        assert_eq!(q("0").signum(), 0);
    }

    #[test]
    fn binary_clamps_to_int64() {
        let big = q("16Ei");
        assert_eq!(big.as_units(), i128::from(i64::MAX));
        assert_eq!(big.to_string(), "9223372036854775807");
        assert_eq!(
            q("99999999999999999999999999999Ki").as_units(),
            i128::from(i64::MAX)
        );
    }

    #[test]
    fn comparison_ignores_format() {
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("500m") < q("1"));
        assert!(q("-1") < q("0"));
        let mut v = [q("2"), q("100m"), q("1Ki"), q("-5")];
        v.sort();
        let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        assert_eq!(s, ["-5", "100m", "2", "1Ki"]);
    }

    #[test]
    fn arithmetic() {
        let sum = q("100m").checked_add(&q("1.9")).unwrap();
        assert_eq!(sum.to_string(), "2");
        let zero = q("0");
        assert_eq!(zero.checked_add(&q("1Gi")).unwrap().to_string(), "1Gi");
        assert_eq!(
            q("1Gi").checked_sub(&q("512Mi")).unwrap().to_string(),
            "512Mi"
        );
        assert_eq!(
            q("1").checked_sub(&q("1500m")).unwrap().to_string(),
            "-500m"
        );
        let max = Quantity::from_nanos(i128::MAX, Format::DecimalSI);
        assert!(max.checked_add(&q("1")).is_none());
    }

    #[test]
    fn round_up_to_milli() {
        assert_eq!(q("0.0001").round_up(-3).to_string(), "1m");
        assert_eq!(q("1.0001").round_up(-3).to_string(), "1001m");
        assert_eq!(q("-0.0001").round_up(-3).to_string(), "-1m");
        assert_eq!(q("100m").round_up(-3).to_string(), "100m");
        assert_eq!(q("1Gi").round_up(-3).to_string(), "1Gi");
        assert_eq!(q("1n").round_up(-9).to_string(), "1n");
    }

    #[test]
    fn constructors() {
        assert_eq!(Quantity::from_millis(1500).to_string(), "1500m");
        assert_eq!(
            Quantity::from_units(2048, Format::BinarySI).to_string(),
            "2Ki"
        );
        assert_eq!(Quantity::from_units(3, Format::DecimalSI).to_string(), "3");
        assert_eq!(
            Quantity::from_units(3000, Format::DecimalExponent).to_string(),
            "3e3"
        );
    }

    #[test]
    fn huge_exponents_do_not_hang_or_panic() {
        assert!(q("1e-2000000000").as_nanos() == 1);
        assert!(q("0.000000000000000000000000000000000000000000000000001").as_nanos() == 1);
        assert_eq!(q(&format!("0.{}1Ki", "0".repeat(200))).as_nanos(), 1);
        assert!(Quantity::parse(&"9".repeat(100)).is_err());
        assert_eq!(
            q(&format!("{}Mi", "9".repeat(50))).as_units(),
            i128::from(i64::MAX)
        );
    }

    #[test]
    fn binary_fraction_rounds_up() {
        // 0.1Ki = 102.4
        assert_eq!(q("0.1Ki").to_string(), "102400m");
        // 0.001Ki = 1.024
        assert_eq!(q("0.001Ki").to_string(), "1024m");
        // below one, a binary quantity turns decimal
        assert_eq!(q("0.0001Ki").format(), Format::DecimalSI);
        assert_eq!(q("0.0001Ki").to_string(), "102400u");
    }

    #[test]
    fn serde_round_trip() {
        let v: Quantity = serde_json::from_str("\" 2Gi \"").unwrap();
        assert_eq!(v.to_string(), "2Gi");
        let n: Quantity = serde_json::from_str("1.5").unwrap();
        assert_eq!(n.to_string(), "1500m");
        let i: Quantity = serde_json::from_str("3").unwrap();
        assert_eq!(serde_json::to_string(&i).unwrap(), "\"3\"");
        assert!(serde_json::from_str::<Quantity>("\"1x\"").is_err());
        assert!(serde_json::from_str::<Quantity>("true").is_err());
    }

    #[test]
    fn k8s_openapi_conversion() {
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K;
        let k = K("250m".to_owned());
        let ours = Quantity::try_from(&k).unwrap();
        assert_eq!(ours.as_millis(), 250);
        assert_eq!(K::from(&ours).0, "250m");
    }

    #[test]
    fn hash_agrees_with_eq() {
        use std::collections::HashSet;
        let set: HashSet<Quantity> = [q("1Ki"), q("1024"), q("1k")].into_iter().collect();
        assert_eq!(set.len(), 2);
    }
}
