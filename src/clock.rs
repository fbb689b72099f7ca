//! Wall-clock time as the service stores it (unix milliseconds) and shows it (RFC 3339, UTC).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix milliseconds as RFC 3339 in UTC, e.g. `2026-11-23T15:52:20.123Z`.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Reads a time given as RFC 3339 or as unix seconds.
pub fn parse(s: &str) -> Option<i64> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return secs.checked_mul(1000);
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
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse("1763900000"), Some(1_763_900_000_000));
        assert_eq!(parse("yesterday"), None);
    }
}
