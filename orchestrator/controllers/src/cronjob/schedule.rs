//! Cron schedules as Kubernetes reads them (robfig/cron's standard
//! parser): five fields — minute, hour, day of month, month, day of week —
//! with lists, ranges, steps, `*`, `?`, month and weekday names, and the
//! macros `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
//! `@hourly` and `@every <duration>`.
//!
//! Fire times are civil times in the CronJob's time zone. Across daylight
//! saving changes this follows robfig/cron, which Kubernetes uses: a civil
//! time that does not exist (spring forward) does not fire, one that occurs
//! twice (fall back) fires at both instants.

use jiff::civil::{DateTime, date};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};

/// Why a schedule does not parse (messages as robfig/cron words them).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ParseError(String);

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Five cron fields.
    Cron(Fields),
    /// `@every <duration>`: a fixed interval.
    Every(SignedDuration),
}

/// The five fields as bit sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Day of month or of week was `*`/`?`: days then need both to match,
    /// otherwise either (the classic cron rule).
    day_star: bool,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses a schedule.
    pub fn parse(s: &str) -> Result<Schedule, ParseError> {
        let s = s.trim();
        if let Some(m) = s.strip_prefix('@') {
            let fields = match m {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => {
                    if let Some(d) = m.strip_prefix("every ") {
                        return parse_go_duration(d.trim())
                            .filter(|d| d.is_positive())
                            .map(Schedule::Every)
                            .ok_or_else(|| {
                                ParseError(format!(
                                    "failed to parse duration {s}: invalid duration"
                                ))
                            });
                    }
                    return Err(ParseError(format!("unrecognized descriptor: {s}")));
                }
            };
            return Schedule::parse(fields);
        }
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(ParseError(format!(
                "expected exactly 5 fields, found {}: [{}]",
                parts.len(),
                parts.join(" ")
            )));
        }
        let (minute, _) = field(parts[0], 0, 59, &[], 0)?;
        let (hour, _) = field(parts[1], 0, 23, &[], 0)?;
        let (dom, dom_star) = field(parts[2], 1, 31, &[], 0)?;
        let (month, _) = field(parts[3], 1, 12, MONTHS, 1)?;
        let (dow, dow_star) = field(parts[4], 0, 6, DAYS, 0)?;
        Ok(Schedule::Cron(Fields {
            minute,
            hour,
            dom,
            month,
            dow,
            day_star: dom_star || dow_star,
        }))
    }

    /// The first fire time strictly after `after`, in `tz`; `None` if there
    /// is none within five years (`0 0 30 2 *`).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let f = match self {
            Schedule::Every(d) => {
                // robfig rounds the start down to the second.
                let t = Timestamp::from_second(after.as_second()).ok()?;
                return t.checked_add(*d).ok();
            }
            Schedule::Cron(f) => f,
        };
        // Civil order and instant order disagree only inside a DST fold:
        // from inside one, start a little earlier in civil time, take every
        // instant each matching civil minute maps to, and keep the first
        // one past `after`. Elsewhere the first match is the answer.
        let civil_after = tz.to_datetime(after);
        let in_fold = matches!(
            tz.to_ambiguous_zoned(civil_after).offset(),
            AmbiguousOffset::Fold { .. }
        );
        let mut c = if in_fold {
            truncate_minute(civil_after.checked_sub(3.hours()).ok()?)
        } else {
            truncate_minute(civil_after)
        };
        let limit = civil_after.checked_add(5.years()).ok()?;
        let mut best: Option<Timestamp> = None;
        loop {
            let Some(m) = f.next_match(c, limit) else {
                return best;
            };
            if let Some(b) = best
                && tz
                    .to_datetime(b)
                    .checked_add(3.hours())
                    .is_ok_and(|end| m > end)
            {
                return best;
            }
            for t in instants(tz, m) {
                if t > after && best.is_none_or(|b| t < b) {
                    best = Some(t);
                }
            }
            if !in_fold && best.is_some() {
                return best;
            }
            c = m.checked_add(1.minute()).ok()?;
        }
    }
}

/// The instants a civil time names in `tz`: none in a gap, two in a fold.
fn instants(tz: &TimeZone, c: DateTime) -> Vec<Timestamp> {
    let offsets = match tz.to_ambiguous_zoned(c).offset() {
        AmbiguousOffset::Unambiguous { offset } => vec![offset],
        AmbiguousOffset::Gap { .. } => vec![],
        AmbiguousOffset::Fold { before, after } => vec![before, after],
    };
    offsets
        .into_iter()
        .filter_map(|o| o.to_timestamp(c).ok())
        .collect()
}

fn truncate_minute(c: DateTime) -> DateTime {
    c.date().at(c.hour(), c.minute(), 0, 0)
}

fn bit(set: u64, v: i64) -> bool {
    (0..64).contains(&v) && set & (1u64 << v) != 0
}

impl Fields {
    fn day_matches(&self, d: jiff::civil::Date) -> bool {
        let dom = bit(self.dom, i64::from(d.day()));
        let dow = bit(self.dow, i64::from(d.weekday().to_sunday_zero_offset()));
        if self.day_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first matching civil minute at or after `c`, before `limit`.
    fn next_match(&self, mut c: DateTime, limit: DateTime) -> Option<DateTime> {
        loop {
            if c > limit {
                return None;
            }
            if !bit(self.month, i64::from(c.month())) {
                let (y, m) = if c.month() == 12 {
                    (c.year().checked_add(1)?, 1)
                } else {
                    (c.year(), c.month() + 1)
                };
                c = date(y, m, 1).at(0, 0, 0, 0);
            } else if !self.day_matches(c.date()) {
                c = c.date().tomorrow().ok()?.at(0, 0, 0, 0);
            } else if !bit(self.hour, i64::from(c.hour())) {
                c = c.date().at(c.hour(), 0, 0, 0).checked_add(1.hour()).ok()?;
            } else if !bit(self.minute, i64::from(c.minute())) {
                c = c.checked_add(1.minute()).ok()?;
            } else {
                return Some(c);
            }
        }
    }
}

/// One field: a comma list of `*`, `?`, `N`, `A-B`, each with an optional
/// `/step`. Returns the bit set and whether it was a plain star.
fn field(
    s: &str,
    min: u32,
    max: u32,
    names: &[&str],
    offset: u32,
) -> Result<(u64, bool), ParseError> {
    let mut bits = 0u64;
    let mut star = false;
    for expr in s.split(',') {
        let (range, step) = match expr.split_once('/') {
            Some((r, st)) => {
                if st.contains('/') {
                    return Err(ParseError(format!("too many slashes: {expr}")));
                }
                let st: u32 = st.parse().map_err(|_| {
                    ParseError(format!("failed to parse int from {st}: invalid syntax"))
                })?;
                if st == 0 {
                    return Err(ParseError(format!(
                        "step of range should be a positive number: {expr}"
                    )));
                }
                (r, Some(st))
            }
            None => (expr, None),
        };
        let value = |v: &str| -> Result<u32, ParseError> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
                return Ok(i as u32 + offset);
            }
            v.parse::<u32>()
                .map_err(|_| ParseError(format!("failed to parse int from {v}: invalid syntax")))
        };
        let (lo, hi) = if range == "*" || range == "?" {
            // `*/1` still counts as a star for the day rule; `*/2` does not.
            if step.is_none_or(|s| s == 1) {
                star = true;
            }
            (min, max)
        } else {
            match range.split_once('-') {
                Some((a, b)) => {
                    if b.contains('-') {
                        return Err(ParseError(format!("too many hyphens: {expr}")));
                    }
                    (value(a)?, value(b)?)
                }
                // `N/step` runs from N to the maximum, as in robfig/cron.
                None => {
                    let v = value(range)?;
                    (v, if step.is_some() { max } else { v })
                }
            }
        };
        if lo < min {
            return Err(ParseError(format!(
                "beginning of range ({lo}) below minimum ({min}): {expr}"
            )));
        }
        if hi > max {
            return Err(ParseError(format!(
                "end of range ({hi}) above maximum ({max}): {expr}"
            )));
        }
        if lo > hi {
            return Err(ParseError(format!(
                "beginning of range ({lo}) beyond end of range ({hi}): {expr}"
            )));
        }
        let step = step.unwrap_or(1) as usize;
        for v in (lo..=hi).step_by(step) {
            bits |= 1u64 << v;
        }
    }
    Ok((bits, star))
}

/// A Go duration such as `1h30m`, `90s`, `1.5h`.
fn parse_go_duration(s: &str) -> Option<SignedDuration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * secs;
    }
    SignedDuration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn next(schedule: &str, after: &str, tz: &str) -> String {
        let tz = TimeZone::get(tz).expect("tz");
        Schedule::parse(schedule)
            .expect("parse")
            .next_after(ts(after), &tz)
            .map(|t| t.to_zoned(tz.clone()).to_string())
            .unwrap_or_default()
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        assert_eq!(
            next("*/15 * * * *", "2026-01-01T00:07:30Z", "UTC"),
            "2026-01-01T00:15:00+00:00[UTC]"
        );
        assert_eq!(
            next("5,10-12 3 * * *", "2026-01-01T03:10:00Z", "UTC"),
            "2026-01-01T03:11:00+00:00[UTC]"
        );
        // 2026-01-01 is a Thursday; the next Monday is the 5th.
        assert_eq!(
            next("0 9 ? * MON", "2026-01-01T00:00:00Z", "UTC"),
            "2026-01-05T09:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("0 0 1 jan-feb/1 *", "2026-01-01T00:00:00Z", "UTC"),
            "2026-02-01T00:00:00+00:00[UTC]"
        );
        // Day of month OR day of week when neither is a star.
        assert_eq!(
            next("0 0 13 * FRI", "2026-01-01T00:00:00Z", "UTC"),
            "2026-01-02T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("30 */6 * * *", "2026-01-01T06:30:00Z", "UTC"),
            "2026-01-01T12:30:00+00:00[UTC]"
        );
        assert_eq!(next("0 0 30 2 *", "2026-01-01T00:00:00Z", "UTC"), "");
    }

    #[test]
    fn macros() {
        let at = "2026-03-15T10:20:00Z";
        for (m, want) in [
            ("@yearly", "2027-01-01T00:00:00+00:00[UTC]"),
            ("@annually", "2027-01-01T00:00:00+00:00[UTC]"),
            ("@monthly", "2026-04-01T00:00:00+00:00[UTC]"),
            ("@weekly", "2026-03-22T00:00:00+00:00[UTC]"),
            ("@daily", "2026-03-16T00:00:00+00:00[UTC]"),
            ("@midnight", "2026-03-16T00:00:00+00:00[UTC]"),
            ("@hourly", "2026-03-15T11:00:00+00:00[UTC]"),
            ("@every 1h30m", "2026-03-15T11:50:00+00:00[UTC]"),
        ] {
            assert_eq!(next(m, at, "UTC"), want, "{m}");
        }
    }

    #[test]
    fn time_zones_and_daylight_saving() {
        // 09:00 in New York is 14:00 UTC in winter.
        assert_eq!(
            next("0 9 * * *", "2026-01-10T00:00:00Z", "America/New_York"),
            "2026-01-10T09:00:00-05:00[America/New_York]"
        );
        // Spring forward on 2026-03-08: 02:30 does not exist that day.
        assert_eq!(
            next("30 2 * * *", "2026-03-07T08:00:00Z", "America/New_York"),
            "2026-03-09T02:30:00-04:00[America/New_York]"
        );
        // Fall back on 2026-11-01: 01:30 happens twice and fires twice.
        assert_eq!(
            next("30 1 * * *", "2026-11-01T04:00:00Z", "America/New_York"),
            "2026-11-01T01:30:00-04:00[America/New_York]"
        );
        assert_eq!(
            next("30 1 * * *", "2026-11-01T05:30:00Z", "America/New_York"),
            "2026-11-01T01:30:00-05:00[America/New_York]"
        );
        assert_eq!(
            next("30 1 * * *", "2026-11-01T06:30:00Z", "America/New_York"),
            "2026-11-02T01:30:00-05:00[America/New_York]"
        );
        // Hourly keeps firing hourly in absolute time across the fold.
        assert_eq!(
            next("0 * * * *", "2026-11-01T05:00:00Z", "America/New_York"),
            "2026-11-01T01:00:00-05:00[America/New_York]"
        );
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 7",
            "*/0 * * * *",
            "5-1 * * * *",
            "@fortnightly",
            "x * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
