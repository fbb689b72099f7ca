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

/// Reads a time given as RFC 3339 or as unix seconds (or milliseconds).
pub fn parse(s: &str) -> Option<i64> {
    if let Ok(n) = s.trim().parse::<i64>() {
        // Unix seconds reach 10^11 only in the year 5138: a number that long is milliseconds
        // (what JavaScript's `Date.now()` gives).
        return if n.unsigned_abs() >= 100_000_000_000 {
            Some(n)
        } else {
            n.checked_mul(1000)
        };
    }
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
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
}
