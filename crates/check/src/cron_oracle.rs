//! An independent oracle for when a schedule fires, for the fires checker.
//!
//! **Why.** The scheduler computes a job's instants with `croner` (`Schedule::next_after`).
//! If the checker recomputed them with the same code, a bug there would move both sides and
//! go unseen (it happened: on the fall-back day, wildcard cron jobs skipped the repeated
//! hour). This module is a second, deliberately naive implementation: it reads the
//! `Schedule` data type and nothing else of `faultline_model::job`, does not use `croner`, and
//! uses `chrono-tz` only for the zone's UTC offset at an instant.
//!
//! **How.** It walks UTC forward in steps of one second (6-field expressions) or one minute
//! (5-field ones, at whole UTC minutes), turns each instant into local wall time in the
//! zone, and matches the fields against it. The walk keeps the previous local time (a jump
//! forward of more than one step is a gap) and the highest local time already passed (a
//! local time no higher than that is a second pass of a fall-back overlap). Before it
//! starts, it looks back `LOOKBACK_S` to learn both, so the answer for an instant does not
//! depend on where the walk started.
//!
//! **Syntax** (Vixie cron). Five fields `min hour dom month dow`, or six with seconds first.
//! Each field is a comma list of items: `*`, a number `n`, a range `a-b` (`a <= b`), each
//! optionally stepped by `/n` (`n >= 1`); `a/n` means `a-max/n`. Months accept `JAN`-`DEC`
//! and days of the week `SUN`-`SAT` (any case) wherever a number goes; day of week `0` and
//! `7` are both Sunday. `?` in day of month or day of week reads as `*`. Rejected (`None`):
//! croner's extensions `L`, `W`, `#`, `+` (AND of the day fields), `@daily`-style nicknames
//! and a seventh (year) field, as well as empty list items and reversed ranges.
//!
//! **Days.** If both day of month and day of week are restricted (neither starts with `*`),
//! a day matches when either does; otherwise when both do (so `*/2` in one still filters,
//! as in Vixie cron).
//!
//! **Daylight saving** (the OCPS rules croner implements, which the scheduler documents). A
//! job is a *fixed-time* job when its seconds (0 in a 5-field expression), minute and hour
//! fields are each one plain number; every other job is a *wildcard* job (`*`, a step, a
//! range or a list in any of the three).
//! - Spring-forward gap: wildcard jobs skip the local times that do not exist. A fixed-time
//!   job that matches any skipped local time fires once, at the first instant after the gap.
//! - Fall-back overlap: wildcard jobs fire in both passes. A fixed-time job fires only at
//!   the first occurrence of a local time: a match at a local time no higher than one
//!   already passed is suppressed.
//!
//! **Limits.** A walk stops after `MAX_STEPS` steps (about 19 months at one-second steps)
//! and returns what it found. Only the first `MAX_GAP_S` of a gap is searched for a
//! fixed-time match. The look-back assumes no two offset changes within `PROBE_S` of each
//! other (true of every zone since 1970). Zones whose offset is not a whole minute (only
//! before 1973) never match a 5-field expression, whose local seconds are then never 0.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use faultline_model::job::Schedule;

/// Most steps one walk takes; the walk returns the instants found so far.
const MAX_STEPS: u64 = 50_000_000;
/// How far back a walk looks for local times already passed: more than the widest change
/// of UTC offset there can be (26 hours, from -12:00 to +14:00).
const LOOKBACK_S: i64 = 27 * 3600;
/// The spacing of the offset probes in the look-back (a multiple of both steps).
const PROBE_S: i64 = 1800;
/// The most local time of one gap searched for a fixed-time match.
const MAX_GAP_S: i64 = 27 * 3600;
/// Days from 0001-01-01 (day 1 of the common era, chrono's count) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;
const SECONDS_PER_DAY: i64 = 86_400;
const MONTH_NAMES: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The instants of `schedule` in (after_unix_ms, until_unix_ms], oldest first, at most `limit`.
/// None if the schedule does not parse (bad cron, unknown zone) or is unresolved (`After`).
pub(crate) fn instants(schedule: &Schedule, after_unix_ms: u64, until_unix_ms: u64, limit: usize) -> Option<Vec<u64>> {
    match schedule {
        Schedule::At { at_unix_ms } => {
            let due = *at_unix_ms > after_unix_ms && *at_unix_ms <= until_unix_ms && limit > 0;
            Some(if due { vec![*at_unix_ms] } else { Vec::new() })
        }
        Schedule::After { .. } => None,
        Schedule::Every { every_ms, from_unix_ms } => {
            every_instants(*every_ms, from_unix_ms.unwrap_or(0), after_unix_ms, until_unix_ms, limit)
        }
        Schedule::Cron { cron, tz } => {
            let (cron, tz) = (CronSpec::parse(cron)?, parse_zone(tz)?);
            let step = cron.step_s();
            let first = i64::try_from(after_unix_ms / 1000).ok()? / step * step + step;
            let until = i64::try_from(until_unix_ms / 1000).ok()?;
            Some(walk(&cron, tz, first, until, limit).into_iter().map(|s| s as u64 * 1000).collect())
        }
    }
}

/// Whether `unix_ms` is an instant of `schedule`.
pub(crate) fn is_instant(schedule: &Schedule, unix_ms: u64) -> bool {
    match schedule {
        Schedule::At { at_unix_ms } => unix_ms == *at_unix_ms,
        Schedule::After { .. } => false,
        Schedule::Every { every_ms, from_unix_ms } => {
            let from = from_unix_ms.unwrap_or(0);
            *every_ms > 0 && unix_ms > from && (unix_ms - from).is_multiple_of(*every_ms)
        }
        Schedule::Cron { cron, tz } => cron_is_instant(cron, tz, unix_ms).unwrap_or(false),
    }
}

/// `from + n * every_ms` for `n >= 1` in the window; None for a zero interval.
fn every_instants(every_ms: u64, from: u64, after: u64, until: u64, limit: usize) -> Option<Vec<u64>> {
    if every_ms == 0 {
        return None;
    }
    let mut n = if after < from { Some(1) } else { ((after - from) / every_ms).checked_add(1) };
    let mut out = Vec::new();
    while let Some(k) = n.filter(|_| out.len() < limit) {
        match k.checked_mul(every_ms).and_then(|offset| from.checked_add(offset)) {
            Some(t) if t <= until => out.push(t),
            _ => break,
        }
        n = k.checked_add(1);
    }
    Some(out)
}

fn cron_is_instant(cron: &str, tz: &str, unix_ms: u64) -> Option<bool> {
    let (cron, tz) = (CronSpec::parse(cron)?, parse_zone(tz)?);
    let step = cron.step_s();
    let t = i64::try_from(unix_ms / 1000).ok()?;
    if !unix_ms.is_multiple_of(1000) || t % step != 0 {
        return Some(false);
    }
    Some(!walk(&cron, tz, t, t, 1).is_empty())
}

fn parse_zone(tz: &str) -> Option<Tz> {
    tz.parse().ok()
}

/// A parsed cron expression: one bit per allowed value of each field.
#[derive(Debug)]
struct CronSpec {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Bit 0 is Sunday (a `7` is folded into it).
    days_of_week: u64,
    /// The day-of-month / day-of-week field starts with `*` (or `?`).
    dom_star: bool,
    dow_star: bool,
    /// Not a fixed-time job: seconds, minute or hour is more than one plain number.
    wildcard: bool,
    /// Six fields: the walk steps by seconds, not minutes.
    with_seconds: bool,
}

impl CronSpec {
    fn parse(text: &str) -> Option<CronSpec> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            _ => return None,
        };
        let &[minute, hour, dom, month, dow] = rest else {
            return None;
        };
        let (dom, dow) = (dom.replace('?', "*"), dow.replace('?', "*"));
        let mut days_of_week = parse_field(&dow, 0, 7, &DAY_NAMES, 0)?;
        if bit(days_of_week, 7) {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        Some(CronSpec {
            seconds: parse_field(seconds, 0, 59, &[], 0)?,
            minutes: parse_field(minute, 0, 59, &[], 0)?,
            hours: parse_field(hour, 0, 23, &[], 0)?,
            days_of_month: parse_field(&dom, 1, 31, &[], 0)?,
            months: parse_field(month, 1, 12, &MONTH_NAMES, 1)?,
            days_of_week,
            dom_star: dom.starts_with('*'),
            dow_star: dow.starts_with('*'),
            wildcard: ![seconds, minute, hour].iter().all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())),
            with_seconds: fields.len() == 6,
        })
    }

    /// The walk's step in seconds.
    fn step_s(&self) -> i64 {
        if self.with_seconds {
            1
        } else {
            60
        }
    }

    fn time_matches(&self, second_of_day: i64) -> bool {
        bit(self.hours, second_of_day / 3600)
            && bit(self.minutes, second_of_day / 60 % 60)
            && bit(self.seconds, second_of_day % 60)
    }

    /// Month, then the Vixie day rule (see the module doc).
    fn date_matches(&self, date: NaiveDate) -> bool {
        let dom = bit(self.days_of_month, i64::from(date.day()));
        let dow = bit(self.days_of_week, i64::from(date.weekday().num_days_from_sunday()));
        let day = if self.dom_star || self.dow_star { dom && dow } else { dom || dow };
        bit(self.months, i64::from(date.month())) && day
    }
}

/// One field as a bit set of the values in `min..=max`. `names[i]` stands for `base + i`.
fn parse_field(text: &str, min: i64, max: i64, names: &[&str], base: i64) -> Option<u64> {
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(parse_number(step)?)),
            None => (item, None),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((low, high)) = range.split_once('-') {
            (parse_value(low, names, base)?, parse_value(high, names, base)?)
        } else {
            let value = parse_value(range, names, base)?;
            (value, if step.is_some() { max } else { value })
        };
        let step = usize::try_from(step.unwrap_or(1)).ok().filter(|step| *step >= 1)?;
        if low < min || high > max || low > high {
            return None;
        }
        for value in (low..=high).step_by(step) {
            set |= 1 << value;
        }
    }
    Some(set)
}

/// A number, or a name from `names` (any case) standing for `base` plus its index.
fn parse_value(text: &str, names: &[&str], base: i64) -> Option<i64> {
    if let Some(index) = names.iter().position(|name| name.eq_ignore_ascii_case(text)) {
        return Some(base + index as i64);
    }
    parse_number(text)
}

/// Decimal digits only (no sign, no blank).
fn parse_number(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn bit(set: u64, value: i64) -> bool {
    (0..64).contains(&value) && set >> value & 1 == 1
}

/// Matches local times (seconds since 1970-01-01T00:00 local) against a cron expression,
/// remembering the last day's verdict: a walk asks about the same day many times.
struct Matcher<'a> {
    cron: &'a CronSpec,
    day: Option<(i64, bool)>,
}

impl<'a> Matcher<'a> {
    fn new(cron: &'a CronSpec) -> Self {
        Matcher { cron, day: None }
    }

    fn matches(&mut self, local: i64) -> bool {
        self.cron.time_matches(local.rem_euclid(SECONDS_PER_DAY)) && self.day_matches(local.div_euclid(SECONDS_PER_DAY))
    }

    fn day_matches(&mut self, day: i64) -> bool {
        match self.day {
            Some((cached, verdict)) if cached == day => verdict,
            _ => {
                let verdict = local_date(day).is_some_and(|date| self.cron.date_matches(date));
                self.day = Some((day, verdict));
                verdict
            }
        }
    }
}

/// The date of local day `day` (days since 1970-01-01).
fn local_date(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + UNIX_EPOCH_DAYS_FROM_CE).ok()?)
}

/// The zone's UTC offset at UNIX second `t`, in seconds.
fn offset_s(tz: Tz, t: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp(t, 0)?;
    Some(i64::from(tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc()))
}

/// Local wall time at UNIX second `t`, as seconds since 1970-01-01T00:00 local.
fn local_s(tz: Tz, t: i64) -> Option<i64> {
    Some(t + offset_s(tz, t)?)
}

/// The cron instants (UNIX seconds) among `first, first + step, ...` up to `until`, at most
/// `limit`, under the daylight saving rules of the module doc. `first` is on the step grid.
fn walk(cron: &CronSpec, tz: Tz, first: i64, until: i64, limit: usize) -> Vec<i64> {
    let step = cron.step_s();
    let mut fires = Vec::new();
    let (Some(mut previous), Some(mut high_water)) = (local_s(tz, first - step), high_water_before(tz, first, step))
    else {
        return fires;
    };
    let mut matcher = Matcher::new(cron);
    let (mut t, mut steps) = (first, 0);
    while t <= until && fires.len() < limit && steps < MAX_STEPS {
        let Some(local) = local_s(tz, t) else {
            break;
        };
        let gap = local - previous > step;
        let skipped_match = gap && !cron.wildcard && gap_matches(&mut matcher, previous, local, high_water, step);
        let own_match = matcher.matches(local) && (cron.wildcard || local > high_water);
        if skipped_match || own_match {
            fires.push(t);
        }
        high_water = high_water.max(local);
        previous = local;
        t += step;
        steps += 1;
    }
    fires
}

/// Whether a local time skipped by a gap (after `previous`, before `local`), not already
/// passed (above `high_water`), matches.
fn gap_matches(matcher: &mut Matcher, previous: i64, local: i64, high_water: i64, step: i64) -> bool {
    let mut skipped = previous + step;
    while skipped < local && skipped <= previous + MAX_GAP_S {
        if skipped > high_water && matcher.matches(skipped) {
            return true;
        }
        skipped += step;
    }
    false
}

/// The highest local time at the grid instants (multiples of `step`) in the `LOOKBACK_S`
/// before `first`. Local time rises with UTC except at a change of offset, so the highest
/// is the last instant before some change, or the last instant before `first`. Changes are
/// found by probing the offset every `PROBE_S`, then by bisection.
fn high_water_before(tz: Tz, first: i64, step: i64) -> Option<i64> {
    let last = first - step;
    let (mut later, mut later_offset) = (last, offset_s(tz, last)?);
    let mut high = last + later_offset;
    while later > last - LOOKBACK_S {
        let probe = later - PROBE_S;
        let offset = offset_s(tz, probe)?;
        if offset != later_offset {
            high = high.max(last_with_offset(tz, probe, later, offset, step)? + offset);
        }
        (later, later_offset) = (probe, offset);
    }
    Some(high)
}

/// The last grid instant in `[low, high)` with `offset`, given that `low` has it and
/// `high` does not (one change between them).
fn last_with_offset(tz: Tz, mut low: i64, mut high: i64, offset: i64, step: i64) -> Option<i64> {
    while high - low > step {
        let middle = low + (high - low) / step / 2 * step;
        if offset_s(tz, middle)? == offset {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(cron: &str, tz: &str) -> Schedule {
        Schedule::Cron { cron: cron.into(), tz: tz.into() }
    }

    /// An RFC 3339 time as UNIX ms.
    fn at(text: &str) -> u64 {
        DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis() as u64).expect(text)
    }

    fn ats(texts: &[&str]) -> Vec<u64> {
        texts.iter().map(|text| at(text)).collect()
    }

    /// The instants of `cron` in `tz` in (after, until], at most 10,000.
    fn fires(expr: &str, tz: &str, after: &str, until: &str) -> Vec<u64> {
        instants(&cron(expr, tz), at(after), at(until), 10_000).expect(expr)
    }

    /// The zone's UTC offset at `when`, in minutes.
    fn offset_minutes(tz: &str, when: &str) -> i64 {
        offset_s(parse_zone(tz).unwrap(), at(when) as i64 / 1000).unwrap() / 60
    }

    /// Every `step_ms` grid instant in (after, until] for which `is_instant` holds.
    fn by_is_instant(schedule: &Schedule, after: u64, until: u64, step_ms: u64) -> Vec<u64> {
        (after / step_ms + 1..=until / step_ms).map(|n| n * step_ms).filter(|t| is_instant(schedule, *t)).collect()
    }

    // --- America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z);
    //     2026-11-01 02:00 EDT -> 01:00 EST (06:00Z), 01:00-01:59 happens twice.

    #[test]
    fn new_york_offsets_are_as_the_tz_rules_say() {
        let ny = "America/New_York";
        assert_eq!(offset_minutes(ny, "2026-03-08T06:59:59Z"), -300);
        assert_eq!(offset_minutes(ny, "2026-03-08T07:00:00Z"), -240);
        assert_eq!(offset_minutes(ny, "2026-11-01T05:59:59Z"), -240);
        assert_eq!(offset_minutes(ny, "2026-11-01T06:00:00Z"), -300);
    }

    #[test]
    fn new_york_spring_forward_every_minute_runs_on_through_the_gap() {
        let got = fires("* * * * *", "America/New_York", "2026-03-08T05:59:00Z", "2026-03-08T07:59:00Z");
        assert_eq!(got.len(), 120);
        assert_eq!(got[0], at("2026-03-08T01:00:00-05:00"));
        assert_eq!(got[59], at("2026-03-08T01:59:00-05:00"));
        assert_eq!(got[60], at("2026-03-08T03:00:00-04:00"));
        assert_eq!(got[119], at("2026-03-08T03:59:00-04:00"));
    }

    #[test]
    fn new_york_spring_forward_every_5_minutes_and_hourly() {
        let got = fires("*/5 * * * *", "America/New_York", "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z");
        assert_eq!(got.len(), 24);
        assert_eq!(got[10], at("2026-03-08T01:55:00-05:00"));
        assert_eq!(got[11], at("2026-03-08T03:00:00-04:00"));
        let got = fires("0 * * * *", "America/New_York", "2026-03-08T05:30:00Z", "2026-03-08T08:30:00Z");
        assert_eq!(got, ats(&["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]));
    }

    #[test]
    fn new_york_spring_forward_fixed_time_in_the_gap_fires_once_after_it() {
        let got = fires("0 30 2 * * *", "America/New_York", "2026-03-07T00:00:00Z", "2026-03-09T12:00:00Z");
        let want = ["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"];
        assert_eq!(got, ats(&want));
        let spring = cron("0 30 2 * * *", "America/New_York");
        assert!(is_instant(&spring, at("2026-03-08T07:00:00Z")));
        assert!(!is_instant(&spring, at("2026-03-08T07:00:01Z")));
        assert!(!is_instant(&spring, at("2026-03-08T06:59:59Z")));
        // A fixed time just before the gap fires there only.
        let got = fires("30 1 * * *", "America/New_York", "2026-03-08T05:00:00Z", "2026-03-08T12:00:00Z");
        assert_eq!(got, ats(&["2026-03-08T01:30:00-05:00"]));
        // A wildcard job does not fire for the times the gap skipped: `* 2` fires nowhere.
        assert_eq!(
            fires("* 2 * * *", "America/New_York", "2026-03-08T05:00:00Z", "2026-03-08T09:00:00Z"),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn new_york_fall_back_every_minute_fires_in_both_passes() {
        let got = fires("* * * * *", "America/New_York", "2026-11-01T04:59:30Z", "2026-11-01T06:59:00Z");
        assert_eq!(got.len(), 120);
        assert_eq!(got[0], at("2026-11-01T05:00:00Z"));
        assert_eq!(got[59], at("2026-11-01T01:59:00-04:00"));
        assert_eq!(got[60], at("2026-11-01T06:00:00Z"));
        assert_eq!(got[119], at("2026-11-01T01:59:00-05:00"));
        assert!(got.windows(2).all(|pair| pair[1] - pair[0] == 60_000));
    }

    #[test]
    fn new_york_fall_back_every_5_minutes_and_hourly_fire_in_both_passes() {
        let got = fires("*/5 * * * *", "America/New_York", "2026-11-01T04:59:00Z", "2026-11-01T06:59:00Z");
        assert_eq!(got.len(), 24);
        assert_eq!(got[12], at("2026-11-01T01:00:00-05:00"));
        let got = fires("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", "2026-11-01T07:30:00Z");
        assert_eq!(got, ats(&["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]));
        // Hour 1, every minute: wildcard (the minute field starts with `*`).
        let got = fires("* 1 * * *", "America/New_York", "2026-11-01T00:00:00Z", "2026-11-01T12:00:00Z");
        assert_eq!(got.len(), 120);
    }

    #[test]
    fn new_york_fall_back_fixed_time_fires_at_the_first_pass_only() {
        let got = fires("30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z", "2026-11-02T12:00:00Z");
        assert_eq!(got, ats(&["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]));
        // The same when the walk starts inside the second pass.
        let got = fires("30 1 * * *", "America/New_York", "2026-11-01T01:10:00-05:00", "2026-11-01T12:00:00Z");
        assert_eq!(got, Vec::<u64>::new());
        let fixed = cron("30 1 * * *", "America/New_York");
        assert!(is_instant(&fixed, at("2026-11-01T05:30:00Z")));
        assert!(!is_instant(&fixed, at("2026-11-01T06:30:00Z")));
        // The look-back finds the last local time of the first pass exactly (01:59 EDT).
        assert!(!is_instant(&cron("55 1 * * *", "America/New_York"), at("2026-11-01T06:55:00Z")));
        // 02:00 EST never happened as EDT: it fires.
        let got = fires("0 2 * * *", "America/New_York", "2026-11-01T04:00:00Z", "2026-11-01T12:00:00Z");
        assert_eq!(got, ats(&["2026-11-01T02:00:00-05:00"]));
        // Every second of 01:30 is a wildcard job (the seconds field is `*`): both passes.
        let got = fires("* 30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z", "2026-11-01T12:00:00Z");
        assert_eq!(got.len(), 120);
        assert_eq!((got[0], got[60]), (at("2026-11-01T05:30:00Z"), at("2026-11-01T06:30:00Z")));
        // So is a list of hours: 01:00 fires in both passes.
        let got = fires("0 1,3 * * *", "America/New_York", "2026-11-01T04:00:00Z", "2026-11-01T12:00:00Z");
        assert_eq!(got, ats(&["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T03:00:00-05:00"]));
    }

    // --- Australia/Lord_Howe: half-hour daylight saving, +11:00 in summer, +10:30 in winter.
    //     2026-04-05 02:00 +11:00 -> 01:30 +10:30 (2026-04-04T15:00Z): 01:30-01:59 twice.
    //     2026-10-04 02:00 +10:30 -> 02:30 +11:00 (2026-10-03T15:30Z): 02:00-02:29 missing.

    #[test]
    fn lord_howe_offsets_are_as_the_tz_rules_say() {
        let lh = "Australia/Lord_Howe";
        assert_eq!(offset_minutes(lh, "2026-04-04T14:59:59Z"), 660);
        assert_eq!(offset_minutes(lh, "2026-04-04T15:00:00Z"), 630);
        assert_eq!(offset_minutes(lh, "2026-10-03T15:29:59Z"), 630);
        assert_eq!(offset_minutes(lh, "2026-10-03T15:30:00Z"), 660);
    }

    #[test]
    fn lord_howe_fall_back_half_hour() {
        let lh = "Australia/Lord_Howe";
        let got = fires("*/15 * * * *", lh, "2026-04-04T13:59:00Z", "2026-04-04T15:30:00Z");
        let want = [
            "2026-04-05T01:00:00+11:00",
            "2026-04-05T01:15:00+11:00",
            "2026-04-05T01:30:00+11:00",
            "2026-04-05T01:45:00+11:00",
            "2026-04-05T01:30:00+10:30",
            "2026-04-05T01:45:00+10:30",
            "2026-04-05T02:00:00+10:30",
        ];
        assert_eq!(got, ats(&want));
        // Hourly: 01:00 is not repeated (only 01:30-01:59 is), and 02:00 +11:00 never was.
        let got = fires("0 * * * *", lh, "2026-04-04T13:30:00Z", "2026-04-04T16:30:00Z");
        assert_eq!(got, ats(&["2026-04-04T14:00:00Z", "2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z"]));
        let got = fires("45 1 * * *", lh, "2026-04-04T12:00:00Z", "2026-04-05T16:00:00Z");
        assert_eq!(got, ats(&["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"]));
        let got = fires("* * * * *", lh, "2026-04-04T13:59:00Z", "2026-04-04T15:59:00Z");
        assert_eq!(got.len(), 120);
    }

    #[test]
    fn lord_howe_spring_forward_half_hour() {
        let lh = "Australia/Lord_Howe";
        let got = fires("*/10 * * * *", lh, "2026-10-03T15:00:00Z", "2026-10-03T15:45:00Z");
        let want = ["2026-10-03T15:10:00Z", "2026-10-03T15:20:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:40:00Z"];
        assert_eq!(got, ats(&want));
        // 02:15 and 02:00 do not exist: once, at 02:30 +11:00; 02:30 itself exists.
        for fixed in ["15 2 * * *", "0 2 * * *", "30 2 * * *"] {
            let got = fires(fixed, lh, "2026-10-03T12:00:00Z", "2026-10-04T12:00:00Z");
            assert_eq!(got, ats(&["2026-10-04T02:30:00+11:00"]), "{fixed}");
        }
        let got = fires("15 2 * * *", lh, "2026-10-03T12:00:00Z", "2026-10-04T16:00:00Z");
        assert_eq!(got, ats(&["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]));
        assert_eq!(fires("*/5 2 * * *", lh, "2026-10-03T12:00:00Z", "2026-10-03T16:00:00Z").len(), 6, "02:30-02:55");
    }

    // --- America/Sao_Paulo 2019: 2019-02-17 00:00 -02:00 -> 2019-02-16 23:00 -03:00
    //     (2019-02-17T02:00Z): 23:00-23:59 of 2019-02-16 happened twice.

    #[test]
    fn sao_paulo_fall_back_repeats_the_hour_before_midnight() {
        let sp = "America/Sao_Paulo";
        assert_eq!(offset_minutes(sp, "2019-02-17T01:59:59Z"), -120);
        assert_eq!(offset_minutes(sp, "2019-02-17T02:00:00Z"), -180);
        let got = fires("* * * * *", sp, "2019-02-17T00:59:00Z", "2019-02-17T02:59:00Z");
        assert_eq!(got.len(), 120);
        assert_eq!(got[0], at("2019-02-16T23:00:00-02:00"));
        assert_eq!(got[60], at("2019-02-16T23:00:00-03:00"));
        let got = fires("0 * * * *", sp, "2019-02-17T00:30:00Z", "2019-02-17T03:30:00Z");
        assert_eq!(got, ats(&["2019-02-17T01:00:00Z", "2019-02-17T02:00:00Z", "2019-02-17T03:00:00Z"]));
        let got = fires("30 23 * * *", sp, "2019-02-16T12:00:00Z", "2019-02-17T12:00:00Z");
        assert_eq!(got, ats(&["2019-02-16T23:30:00-02:00"]));
        // Midnight of the 17th first happened after the second pass.
        let got = fires("0 0 * * *", sp, "2019-02-16T12:00:00Z", "2019-02-17T12:00:00Z");
        assert_eq!(got, ats(&["2019-02-17T00:00:00-03:00"]));
    }

    // --- America/Sao_Paulo 2018: 2018-11-04 00:00 -03:00 -> 01:00 -02:00 (03:00Z).

    #[test]
    fn sao_paulo_spring_forward_at_midnight() {
        let sp = "America/Sao_Paulo";
        assert_eq!(offset_minutes(sp, "2018-11-04T02:59:59Z"), -180);
        assert_eq!(offset_minutes(sp, "2018-11-04T03:00:00Z"), -120);
        let got = fires("0 0 * * *", sp, "2018-11-03T12:00:00Z", "2018-11-05T12:00:00Z");
        assert_eq!(got, ats(&["2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"]));
        // A fixed time outside the gap does not fire after it.
        let got = fires("0 3 * * *", sp, "2018-11-03T12:00:00Z", "2018-11-05T12:00:00Z");
        assert_eq!(got, ats(&["2018-11-04T03:00:00-02:00", "2018-11-05T03:00:00-02:00"]));
    }

    // --- Europe/Berlin 2026: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z);
    //     2026-10-25 03:00 CEST -> 02:00 CET (01:00Z): 02:00-02:59 twice.

    #[test]
    fn berlin_spring_forward() {
        let berlin = "Europe/Berlin";
        assert_eq!(offset_minutes(berlin, "2026-03-29T00:59:59Z"), 60);
        assert_eq!(offset_minutes(berlin, "2026-03-29T01:00:00Z"), 120);
        let got = fires("30 2 * * *", berlin, "2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z");
        assert_eq!(got, ats(&["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]));
        let got = fires("0 * * * *", berlin, "2026-03-28T23:30:00Z", "2026-03-29T02:30:00Z");
        assert_eq!(got, ats(&["2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"]));
        // Every minute of hour 2: not on the 29th, whose 02:xx did not exist.
        let got = fires("* 2 * * *", berlin, "2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z");
        assert_eq!(got.len(), 60);
        assert_eq!(got[0], at("2026-03-30T02:00:00+02:00"));
    }

    #[test]
    fn berlin_fall_back() {
        let berlin = "Europe/Berlin";
        assert_eq!(offset_minutes(berlin, "2026-10-25T00:59:59Z"), 120);
        assert_eq!(offset_minutes(berlin, "2026-10-25T01:00:00Z"), 60);
        let got = fires("30 2 * * *", berlin, "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z");
        assert_eq!(got, ats(&["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]));
        let got = fires("*/30 * * * *", berlin, "2026-10-24T23:45:00Z", "2026-10-25T02:15:00Z");
        let want = ["2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z"];
        assert_eq!(got, ats(&[&want[..], &["2026-10-25T02:00:00Z"]].concat()));
        let got = fires("* 2 * * *", berlin, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z");
        assert_eq!((got.len(), got[0], got[119]), (120, at("2026-10-25T00:00:00Z"), at("2026-10-25T01:59:00Z")));
    }

    #[test]
    fn is_instant_agrees_with_instants_and_windows_split() {
        let days = [
            ("America/New_York", "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"),
            ("America/New_York", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            ("Australia/Lord_Howe", "2026-04-04T00:00:00Z", "2026-04-05T00:00:00Z"),
            ("Australia/Lord_Howe", "2026-10-03T00:00:00Z", "2026-10-04T00:00:00Z"),
        ];
        for (tz, from, to) in days {
            for expr in ["*/7 * * * *", "30 1 * * *", "55 1 * * *", "15 2 * * *", "0 2 * * *", "* 1 * * *"] {
                let schedule = cron(expr, tz);
                let whole = instants(&schedule, at(from), at(to), 10_000).unwrap();
                assert_eq!(by_is_instant(&schedule, at(from), at(to), 60_000), whole, "{expr} {tz}");
                let middle = (at(from) + at(to)) / 2;
                let mut split = instants(&schedule, at(from), middle, 10_000).unwrap();
                split.extend(instants(&schedule, middle, at(to), 10_000).unwrap());
                assert_eq!(split, whole, "{expr} {tz}");
            }
        }
    }

    // --- UTC and the plain schedules.

    #[test]
    fn every_second_with_six_fields() {
        let got = fires("* * * * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z");
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], at("2026-01-01T00:00:01Z"));
        let every_second = cron("* * * * * *", "UTC");
        let got = instants(&every_second, at("2026-01-01T00:00:00Z") + 500, at("2026-01-01T00:00:02Z") - 1, 10);
        assert_eq!(got, Some(ats(&["2026-01-01T00:00:01Z"])));
        let got = fires("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z");
        let want = ["2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"];
        assert_eq!(got, ats(&want));
        let got = fires("* * * * *", "UTC", "2026-01-01T00:00:00.500Z", "2026-01-01T00:02:00Z");
        assert_eq!(got, ats(&["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]));
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_are_restricted() {
        // January 2026: Fridays are the 2nd, 9th, 16th, 23rd and 30th; the 13th a Tuesday.
        let got = fires("0 0 13 * 5", "UTC", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
        let want = ["2026-01-02", "2026-01-09", "2026-01-13", "2026-01-16", "2026-01-23", "2026-01-30"];
        assert_eq!(got, want.iter().map(|day| at(&format!("{day}T00:00:00Z"))).collect::<Vec<_>>());
        // A day field starting with `*` is not restricted: both must match (odd Fridays).
        let got = fires("0 0 */2 * 5", "UTC", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
        assert_eq!(got, ats(&["2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z"]));
        let got = fires("0 0 13 * ?", "UTC", "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z");
        assert_eq!(got, ats(&["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"]));
    }

    #[test]
    fn month_and_day_names_ranges_lists_and_steps() {
        // Sundays of January (4, 11, 18, 25) and March 2026 (1, 8, 15, 22, 29); February 1st too.
        let got = fires("0 12 * JAN,mar sun", "UTC", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z");
        assert_eq!(got.len(), 9);
        assert_eq!((got[0], got[4]), (at("2026-01-04T12:00:00Z"), at("2026-03-01T12:00:00Z")));
        let window = ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
        let sundays = fires("0 0 * * 0", "UTC", window.0, window.1);
        assert_eq!(sundays.len(), 5);
        assert_eq!(fires("0 0 * * 7", "UTC", window.0, window.1), sundays);
        assert_eq!(fires("0 0 * * Sun", "UTC", window.0, window.1), sundays);
        let weekdays = fires("0 9 * * MON-FRI", "UTC", "2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z");
        assert_eq!((weekdays.len(), weekdays[0]), (5, at("2026-01-05T09:00:00Z")));
        let got = fires("5-20/5,50/5 0 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
        let minutes = ["05", "10", "15", "20", "50", "55"];
        assert_eq!(got, minutes.iter().map(|m| at(&format!("2026-01-01T00:{m}:00Z"))).collect::<Vec<_>>());
        let got = fires("0 0 1 1-3/2 *", "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
        assert_eq!(got, ats(&["2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"]));
    }

    #[test]
    fn every_and_at_arithmetic() {
        let every = Schedule::Every { every_ms: 1000, from_unix_ms: Some(500) };
        assert_eq!(instants(&every, 500, 4000, 10), Some(vec![1500, 2500, 3500]));
        assert_eq!(instants(&every, 0, 2500, 10), Some(vec![1500, 2500]));
        assert_eq!(instants(&every, 1499, 9000, 2), Some(vec![1500, 2500]));
        assert_eq!(instants(&every, 1500, 1500, 10), Some(vec![]));
        assert!(is_instant(&every, 2500) && !is_instant(&every, 500) && !is_instant(&every, 2000));
        let from_zero = Schedule::Every { every_ms: 1000, from_unix_ms: None };
        assert_eq!(instants(&from_zero, 999, 3000, 10), Some(vec![1000, 2000, 3000]));
        assert!(!is_instant(&from_zero, 0) && is_instant(&from_zero, 3000));
        assert_eq!(instants(&Schedule::Every { every_ms: 0, from_unix_ms: None }, 0, 10, 10), None);
        assert_eq!(
            instants(&Schedule::Every { every_ms: u64::MAX, from_unix_ms: Some(1) }, 1, u64::MAX, 10),
            Some(vec![])
        );
        let every_ms = Schedule::Every { every_ms: 1, from_unix_ms: Some(0) };
        assert_eq!(instants(&every_ms, u64::MAX - 2, u64::MAX, 10), Some(vec![u64::MAX - 1, u64::MAX]));
        assert_eq!(instants(&every_ms, u64::MAX, u64::MAX, 10), Some(vec![]));
        let once = Schedule::At { at_unix_ms: 1250 };
        assert_eq!(instants(&once, 0, 1250, 10), Some(vec![1250]));
        assert_eq!(instants(&once, 1250, 9000, 10), Some(vec![]));
        assert_eq!(instants(&once, 0, 1249, 10), Some(vec![]));
        assert_eq!(instants(&once, 0, 9000, 0), Some(vec![]));
        assert!(is_instant(&once, 1250) && !is_instant(&once, 1251));
    }

    #[test]
    fn what_does_not_parse_or_is_unresolved_has_no_instants() {
        let bad = [
            "61 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "* * * *",
            "* * * * * * *",
            "*/0 * * * *",
            "5-2 * * * *",
            "1,,2 * * * *",
            "+5 * * * *",
            "a * * * *",
            "JAN * * * *",
            "? * * * *",
            "0 0 L * *",
            "0 0 15W * *",
            "0 0 * * 5#2",
            "0 0 * * 5L",
            "0 0 * * +5",
            "@daily",
            "",
        ];
        for expr in bad {
            assert_eq!(instants(&cron(expr, "UTC"), 0, 1 << 40, 10), None, "{expr:?}");
            assert!(!is_instant(&cron(expr, "UTC"), 0), "{expr:?}");
        }
        assert_eq!(instants(&cron("* * * * *", "Mars/Olympus"), 0, 1 << 40, 10), None);
        assert!(!is_instant(&cron("* * * * *", "Mars/Olympus"), 60_000));
        assert_eq!(instants(&Schedule::After { after_ms: 5 }, 0, 1 << 40, 10), None);
        assert!(!is_instant(&Schedule::After { after_ms: 5 }, 5));
    }

    #[test]
    fn is_instant_cases() {
        let every_minute = cron("* * * * *", "UTC");
        assert!(is_instant(&every_minute, at("2026-01-01T00:01:00Z")));
        assert!(!is_instant(&every_minute, at("2026-01-01T00:01:01Z")));
        assert!(!is_instant(&every_minute, at("2026-01-01T00:01:00Z") + 1));
        assert!(is_instant(&every_minute, 0), "1970-01-01T00:00Z is a minute");
        let noon_berlin = cron("0 12 * * *", "Europe/Berlin");
        assert!(is_instant(&noon_berlin, at("2026-07-01T12:00:00+02:00")));
        assert!(!is_instant(&noon_berlin, at("2026-07-01T12:00:00Z")));
        let every_5 = cron("*/5 * * * *", "America/New_York");
        assert!(is_instant(&every_5, at("2026-11-01T01:30:00-05:00")), "wildcard: second pass");
    }
}
