//! Schedules: when a command with trigger `schedule` fires, as a 5-field cron expression in
//! UTC or a named IANA time zone. Pure: times go in and out as unix milliseconds.
//!
//! Parsing is croner's (minute, hour, day of month, month, day of week; `*/15`, `1-5`,
//! `MON-FRI`, `JAN`, `L`, `@daily` and the other nicknames). A day of month and a day of week
//! both given fire on either, as classic cron does. The zone database is built in (jiff's
//! bundled copy), so a zone is known the same way on every host, an image without
//! `/usr/share/zoneinfo` too.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::command::InvalidCommand;

/// The trigger a scheduled command has: it fires on its clock, never on a delivery.
pub const TRIGGER: &str = "schedule";

/// The event type of the event a schedule records when it fires.
pub const EVENT_TYPE: &str = "schedule";

/// A checked schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: TimeZone,
    expression: String,
    zone_name: String,
}

impl Schedule {
    /// Reads `expression` in `timezone` (UTC when `None`); the error names the field to fix.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Schedule, InvalidCommand> {
        let expression = expression.trim();
        let zone_name = timezone.map(str::trim).unwrap_or("UTC");
        let zone = TimeZone::get(zone_name).map_err(|_| {
            invalid(
                "timezone",
                format!(
                    "`{}` is no IANA time zone: give one such as `Europe/Berlin`, \
                     `America/New_York` or `UTC` (leave it out for UTC)",
                    crate::quote::quoted(zone_name)
                ),
            )
        })?;
        if expression.is_empty() {
            return Err(invalid(
                "schedule",
                "the schedule is empty: give a 5-field cron expression (minute hour \
                 day-of-month month day-of-week), e.g. `0 9 * * 1-5` for 09:00 on weekdays",
            ));
        }
        let fields = expression.split_whitespace().count();
        if !expression.starts_with('@') && fields != 5 {
            return Err(invalid(
                "schedule",
                format!(
                    "`{}` has {fields} fields; a schedule has 5: minute hour day-of-month month \
                     day-of-week (no seconds, no year), e.g. `0 9 * * 1-5` for 09:00 on weekdays",
                    crate::quote::quoted(expression)
                ),
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| {
                invalid(
                    "schedule",
                    format!(
                        "`{}` is not a cron expression this server reads ({e}); write 5 fields, \
                         minute hour day-of-month month day-of-week, e.g. `0 9 * * 1-5` for \
                         09:00 on weekdays or `*/15 * * * *` for every quarter hour",
                        crate::quote::quoted(expression)
                    ),
                )
            })?;
        let schedule = Schedule {
            cron,
            zone,
            expression: expression.to_string(),
            zone_name: zone_name.to_string(),
        };
        // `0 0 30 2 *` reads well and never comes: refused, as a command that never runs.
        if schedule.next_after(0).is_none() {
            return Err(invalid(
                "schedule",
                format!(
                    "`{}` names no time that ever comes (a 30th of February, say): check its \
                     day of month and month",
                    crate::quote::quoted(expression)
                ),
            ));
        }
        Ok(schedule)
    }

    /// The expression, as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The zone it is read in (`UTC` when none was named).
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The first time it fires strictly after `ms`.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        let at = self.zoned(ms)?;
        let next = self.cron.find_next_occurrence(&at, false).ok()?;
        Some(next.timestamp().as_millisecond())
    }

    /// The last time it fires at or before `ms` (a tick due now is due).
    pub fn latest_at_or_before(&self, ms: i64) -> Option<i64> {
        // Ticks fall on whole minutes: the search starts at the minute `ms` is in.
        let at = self.zoned(ms - ms.rem_euclid(60_000))?;
        let latest = self.cron.find_previous_occurrence(&at, true).ok()?;
        Some(latest.timestamp().as_millisecond())
    }

    /// The last time it fires strictly before `ms`.
    pub fn previous_before(&self, ms: i64) -> Option<i64> {
        let at = self.zoned(ms)?;
        let previous = self.cron.find_previous_occurrence(&at, false).ok()?;
        Some(previous.timestamp().as_millisecond())
    }

    /// `ms` in the schedule's zone, RFC 3339 with its offset (`2026-12-07T09:00:00+01:00`).
    pub fn local_time(&self, ms: i64) -> Option<String> {
        let at = self.zoned(ms)?;
        Some(at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
    }

    fn zoned(&self, ms: i64) -> Option<Zoned> {
        let at = Timestamp::from_millisecond(ms).ok()?;
        Some(at.to_zoned(self.zone.clone()))
    }
}

/// How a command's trigger, action and conditions must go with a schedule, and its schedule
/// read: `None` for a command that has none (trigger an event type, no schedule).
pub fn check_command(
    trigger: &str,
    action: super::ActionKind,
    conditions_empty: bool,
    schedule: Option<&str>,
    timezone: Option<&str>,
) -> Result<Option<Schedule>, InvalidCommand> {
    let scheduled_trigger = trigger.trim() == TRIGGER;
    let Some(expression) = schedule else {
        if scheduled_trigger {
            return Err(invalid(
                "schedule",
                "trigger `schedule` needs `schedule`: a 5-field cron expression (minute hour \
                 day-of-month month day-of-week, UTC unless `timezone` names a zone), e.g. \
                 `0 9 * * 1-5` for 09:00 on weekdays",
            ));
        }
        if timezone.is_some() {
            return Err(invalid(
                "timezone",
                "`timezone` goes with a `schedule` (trigger `schedule`) only: leave it out",
            ));
        }
        return Ok(None);
    };
    if !scheduled_trigger {
        return Err(invalid(
            "schedule",
            format!(
                "a `schedule` fires only a command whose trigger is `schedule`, and this one's \
                 is `{}`, fired by events: give trigger `schedule` for a command on a clock, or \
                 leave the schedule out",
                crate::quote::quoted(trigger.trim())
            ),
        ));
    }
    use super::ActionKind::{Ask, Comment, Respond};
    if matches!(action, Comment | Ask | Respond) {
        return Err(invalid(
            "action",
            format!(
                "a scheduled command has no event source to {action} on: use create_task (an \
                 agent's work), post_message (to a channel) or forward"
            ),
        ));
    }
    if !conditions_empty {
        return Err(invalid(
            "conditions",
            "a scheduled command fires on its clock and has no event to test: leave \
             `conditions` out (or `{}`)",
        ));
    }
    Schedule::parse(expression, timezone).map(Some)
}

fn invalid(field: &str, message: impl Into<String>) -> InvalidCommand {
    InvalidCommand {
        field: field.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use crate::engine::ActionKind;

    fn ms(s: &str) -> i64 {
        clock::parse(s).expect(s)
    }

    #[test]
    fn next_and_latest_times_table() {
        // (expression, zone, now, next after now, latest at or before now)
        let cases = [
            (
                "0 9 * * 1-5",
                None,
                // A Monday.
                "2026-12-07T08:59:59Z",
                "2026-12-07T09:00:00.000Z",
                "2026-12-04T09:00:00.000Z",
            ),
            (
                "0 9 * * 1-5",
                None,
                "2026-12-07T09:00:30Z",
                "2026-12-08T09:00:00.000Z",
                "2026-12-07T09:00:00.000Z",
            ),
            (
                "0 9 * * MON-FRI",
                None,
                // Saturday: the next is Monday's.
                "2026-12-05T10:00:00Z",
                "2026-12-07T09:00:00.000Z",
                "2026-12-04T09:00:00.000Z",
            ),
            (
                "*/15 * * * *",
                None,
                "2026-12-07T10:07:00Z",
                "2026-12-07T10:15:00.000Z",
                "2026-12-07T10:00:00.000Z",
            ),
            (
                "@daily",
                None,
                "2026-12-07T10:07:00Z",
                "2026-12-08T00:00:00.000Z",
                "2026-12-07T00:00:00.000Z",
            ),
            (
                // 09:00 in Berlin is 08:00 UTC in winter.
                "0 9 * * *",
                Some("Europe/Berlin"),
                "2026-12-07T08:30:00Z",
                "2026-12-08T08:00:00.000Z",
                "2026-12-07T08:00:00.000Z",
            ),
            (
                // And 07:00 UTC in summer.
                "0 9 * * *",
                Some("Europe/Berlin"),
                "2026-07-01T06:00:00Z",
                "2026-07-01T07:00:00.000Z",
                "2026-06-30T07:00:00.000Z",
            ),
        ];
        for (expression, zone, now, next, latest) in cases {
            let s = Schedule::parse(expression, zone).expect(expression);
            let now = ms(now);
            let said = format!("{expression} {zone:?} at {}", clock::rfc3339(now));
            assert_eq!(
                s.next_after(now).map(clock::rfc3339).as_deref(),
                Some(next),
                "{said}"
            );
            assert_eq!(
                s.latest_at_or_before(now).map(clock::rfc3339).as_deref(),
                Some(latest),
                "{said}"
            );
        }
    }

    #[test]
    fn a_tick_due_now_is_due_and_the_one_before_it_is_previous() {
        let s = Schedule::parse("0 9 * * *", None).expect("valid");
        let due = ms("2026-12-07T09:00:00Z");
        assert_eq!(s.latest_at_or_before(due), Some(due));
        assert_eq!(s.latest_at_or_before(due + 59_999), Some(due));
        assert_eq!(s.previous_before(due), Some(ms("2026-12-06T09:00:00Z")));
        let berlin = Schedule::parse("0 9 * * *", Some("Europe/Berlin")).expect("valid");
        assert_eq!(
            berlin.local_time(ms("2026-12-07T08:00:00Z")).as_deref(),
            Some("2026-12-07T09:00:00+01:00")
        );
    }

    #[test]
    fn bad_schedules_are_refused_naming_the_field() {
        // (schedule, timezone, field, words the message holds)
        let cases = [
            ("", None, "schedule", "empty"),
            ("0 9 * *", None, "schedule", "has 4 fields"),
            ("0 0 9 * * *", None, "schedule", "has 6 fields"),
            ("61 9 * * *", None, "schedule", "not a cron expression"),
            ("0 9 * * 1-9", None, "schedule", "not a cron expression"),
            ("every day", None, "schedule", "has 2 fields"),
            ("0 0 30 2 *", None, "schedule", "no time that ever comes"),
            (
                "0 9 * * *",
                Some("Mars/Olympus"),
                "timezone",
                "no IANA time zone",
            ),
        ];
        for (expression, zone, field, words) in cases {
            let err = Schedule::parse(expression, zone).expect_err(expression);
            assert_eq!(err.field, field, "{expression}: {err}");
            assert!(err.message.contains(words), "{expression}: {err}");
            // What to write instead is said, for a model to act on.
            assert!(
                err.message.contains("e.g.")
                    || err.message.contains("Europe/Berlin")
                    || err.message.contains("day of month"),
                "{expression}: {err}"
            );
        }
    }

    #[test]
    fn a_schedule_goes_with_trigger_schedule_and_actions_that_need_no_source() {
        use ActionKind::*;
        let ok = check_command("schedule", CreateTask, true, Some("0 9 * * *"), None);
        assert!(matches!(ok, Ok(Some(_))), "{ok:?}");
        let ok = check_command("issues.opened", Comment, false, None, None);
        assert!(matches!(ok, Ok(None)), "{ok:?}");
        // (trigger, action, conditions empty, schedule, timezone, field refused)
        let refused = [
            ("schedule", CreateTask, true, None, None, "schedule"),
            (
                "issues.opened",
                CreateTask,
                true,
                Some("0 9 * * *"),
                None,
                "schedule",
            ),
            (
                "issues.opened",
                CreateTask,
                true,
                None,
                Some("UTC"),
                "timezone",
            ),
            ("schedule", Comment, true, Some("0 9 * * *"), None, "action"),
            ("schedule", Ask, true, Some("0 9 * * *"), None, "action"),
            ("schedule", Respond, true, Some("0 9 * * *"), None, "action"),
            (
                "schedule",
                PostMessage,
                false,
                Some("0 9 * * *"),
                None,
                "conditions",
            ),
        ];
        for (trigger, action, empty, schedule, zone, field) in refused {
            let err = check_command(trigger, action, empty, schedule, zone)
                .expect_err(&format!("{trigger} {action} {schedule:?}"));
            assert_eq!(err.field, field, "{trigger} {action}: {err}");
        }
        for action in [PostMessage, Forward] {
            let ok = check_command("schedule", action, true, Some("*/5 * * * *"), Some("UTC"));
            assert!(ok.is_ok(), "{action}: {ok:?}");
        }
    }
}
