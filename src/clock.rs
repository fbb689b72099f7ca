//! Wall-clock time as the service stores it (unix milliseconds) and shows it (RFC 3339, UTC).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix milliseconds as RFC 3339 in UTC, always with three fractional digits
/// (`2026-11-23T15:52:20.100Z`), so that times sort as text as they do in time.
pub fn rfc3339(ms: i64) -> String {
    const SHOWN: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(SHOWN).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Reads a time given as RFC 3339, a date (its midnight, UTC) or unix seconds (or
/// milliseconds), whole or not; to the millisecond it falls in.
pub fn parse(s: &str) -> Option<i64> {
    parse_nanos(s).map(|ns| ms_of(ns.div_euclid(1_000_000)))?
}

/// [`parse`] for a bound of a range of stored times (an inclusive `since`, an exclusive
/// `until`): a time within a millisecond is the next whole one, so that a time stored at that
/// millisecond, which is earlier, falls before either bound as it should.
pub fn parse_bound(s: &str) -> Option<i64> {
    parse_nanos(s).map(|ns| ms_of(-(-ns).div_euclid(1_000_000)))?
}

/// Milliseconds as stored, when they fit.
fn ms_of(ms: i128) -> Option<i64> {
    i64::try_from(ms).ok()
}

/// A time as [`parse`] reads it, in unix nanoseconds.
fn parse_nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    if let Some(ns) = decimal_nanos(s) {
        return Some(ns);
    }
    // A number with an exponent (`1.7e9`), through a double: to about a microsecond for
    // the times of the next two centuries, which is all such a form is written for.
    if s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
        && s.contains(['e', 'E'])
        && let Ok(n) = s.parse::<f64>()
        && n.is_finite()
    {
        let micros = if n.abs() >= 1e11 { n * 1e3 } else { n * 1e6 }.round();
        return (micros.abs() < 1e19).then(|| micros as i128 * 1000);
    }
    if let Ok(t) = OffsetDateTime::parse(&offset_sign_restored(s), &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let day =
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(day.midnight().assume_utc().unix_timestamp_nanos())
}

/// `s` with a space before a closing `HH:MM` offset read as the `+` it was: a query string
/// decodes an unencoded `+` to a space (curl sends `?since=…T12:00:00+01:00` as typed). Only
/// there, after the seconds (or their fraction): anywhere else a space stays and is refused.
fn offset_sign_restored(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    let n = b.len();
    let offset = n >= 7
        && b[n - 7].is_ascii_digit()
        && b[n - 6] == b' '
        && b[n - 5..].iter().enumerate().all(|(i, c)| match i {
            2 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if offset {
        format!("{}+{}", &s[..n - 6], &s[n - 5..]).into()
    } else {
        s.into()
    }
}

/// A decimal number of unix seconds (or milliseconds: see below), whole or with a fraction
/// (Python's `time.time()`), read exactly: in nanoseconds, a fraction past them rounded up,
/// so that a bound within a nanosecond still falls after a time at its start.
fn decimal_nanos(s: &str) -> Option<i128> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || whole.len() > 20
    {
        return None;
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // Unix seconds reach 10^11 only in the year 5138: a number that long is milliseconds
    // (what JavaScript's `Date.now()` gives).
    let unit_digits = if whole >= 100_000_000_000 { 6 } else { 9 };
    let (kept, past) = fraction.split_at(fraction.len().min(unit_digits));
    let mut part: i128 = format!("{kept:0<unit_digits$}").parse().ok()?;
    if past.bytes().any(|b| b != b'0') {
        part += 1;
    }
    let ns = whole * 10_i128.pow(unit_digits as u32) + part;
    Some(if negative { -ns } else { ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_764_700_000_900, "2025-12-02T18:26:40.900Z"),
            (1_764_700_000_050, "2025-12-02T18:26:40.050Z"),
            (1_764_700_000_123, "2025-12-02T18:26:40.123Z"),
        ];
        for (ms, shown) in cases {
            assert_eq!(rfc3339(ms), shown);
            assert_eq!(parse(shown), Some(ms), "{shown}");
        }
        assert_eq!(parse("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse("1763900000"), Some(1_763_900_000_000));
        assert_eq!(parse("1763900000123"), Some(1_763_900_000_123));
        assert_eq!(parse("yesterday"), None);
        // The far ends are milliseconds, not an overflow.
        assert_eq!(parse(&i64::MIN.to_string()), Some(i64::MIN));
        assert_eq!(parse("-100000000000"), Some(-100_000_000_000));
    }

    #[test]
    fn fractions_dates_and_bounds_within_a_millisecond() {
        let cases = [
            // (given, parse, parse_bound)
            (
                "2026-12-06T04:31:32.621Z",
                Some(1_796_531_492_621),
                Some(1_796_531_492_621),
            ),
            (
                "2026-12-06T04:31:32.621999Z",
                Some(1_796_531_492_621),
                Some(1_796_531_492_622),
            ),
            (
                "2026-12-06T04:31:32.621000001Z",
                Some(1_796_531_492_621),
                Some(1_796_531_492_622),
            ),
            (
                "1796531167.5",
                Some(1_796_531_167_500),
                Some(1_796_531_167_500),
            ),
            (
                "1796531167.123",
                Some(1_796_531_167_123),
                Some(1_796_531_167_123),
            ),
            (
                "1796531167.1234",
                Some(1_796_531_167_123),
                Some(1_796_531_167_124),
            ),
            ("1.7965e9", Some(1_796_500_000_000), Some(1_796_500_000_000)),
            (
                "1796531167123.5",
                Some(1_796_531_167_123),
                Some(1_796_531_167_124),
            ),
            (
                "2026-12-06",
                Some(1_796_515_200_000),
                Some(1_796_515_200_000),
            ),
            // Before 1970 a fraction is still rounded down in time, not towards zero.
            ("1969-12-31T23:59:59.9995Z", Some(-1), Some(0)),
            ("-0.0005", Some(-1), Some(0)),
            // Read exactly, not through a double.
            (
                "1796531167.9999995",
                Some(1_796_531_167_999),
                Some(1_796_531_168_000),
            ),
            (
                "99999999999.9999999",
                Some(99_999_999_999_999),
                Some(100_000_000_000_000),
            ),
            ("+1.5", Some(1_500), Some(1_500)),
            (".5", Some(500), Some(500)),
            ("-", None, None),
            (".", None, None),
            ("1e", None, None),
            ("inf", None, None),
            ("NaN", None, None),
            ("1e300", None, None),
            ("2026-12-06x", None, None),
            // An offset's `+` that a query string decoded to a space, after the seconds or
            // their fraction; a space anywhere else is no time.
            (
                "2026-12-07T12:00:00 01:00",
                Some(1_796_641_200_000),
                Some(1_796_641_200_000),
            ),
            (
                "2026-12-07T12:00:00.5 01:00",
                Some(1_796_641_200_500),
                Some(1_796_641_200_500),
            ),
            (
                "2026-12-07T12:00:00-01:00",
                Some(1_796_648_400_000),
                Some(1_796_648_400_000),
            ),
            ("2026-12-07T12:00:00 -01:00", None, None),
            ("2026-12-07T12:00 01:00", None, None),
            ("2026-12-07T12:00:00 0100", None, None),
            ("2026-12-07T12:00:00  01:00", None, None),
        ];
        for (given, floor, bound) in cases {
            assert_eq!(parse(given), floor, "{given}");
            assert_eq!(parse_bound(given), bound, "{given}");
        }
    }
}
