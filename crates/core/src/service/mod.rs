//! Service standards (S1, S3): what each tier is promised (first response, resolution by
//! severity, care cadence) on the business calendar, and a ticket's clocks as of a time — due
//! times, what remains, whether it breached, and how far it should have been escalated.

pub mod calendar;
pub mod care;
pub mod ical;
pub mod report;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::activity::TicketSeverity;
pub use calendar::{BusinessCalendar, DurationUnit, ServiceDuration, TimeBasis, WorkingSpan};

/// What one tier is promised (`[service.tier.NAME]`).
#[derive(Debug, Clone, PartialEq)]
pub struct TierService {
    pub first_response: ServiceDuration,
    pub resolution_major: ServiceDuration,
    pub resolution_general: ServiceDuration,
    /// A real follow-up at least this often (the care calendar plans from it).
    pub care_every_days: Option<u32>,
    /// Durations count working hours of working days (true) or wall-clock time.
    pub business_hours: bool,
    /// After a breach, one escalation level further per this much more; by default the
    /// breached promise's own length again.
    pub escalate_every: Option<ServiceDuration>,
}

impl TierService {
    pub fn basis(&self) -> TimeBasis {
        if self.business_hours {
            TimeBasis::Business
        } else {
            TimeBasis::WallClock
        }
    }

    pub fn resolution(&self, severity: TicketSeverity) -> ServiceDuration {
        match severity {
            TicketSeverity::Major => self.resolution_major,
            TicketSeverity::General => self.resolution_general,
        }
    }
}

/// The `[service]` section: the calendar and the promise of each tier. A tier without an entry
/// is promised nothing, so its tickets have no due times.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePolicy {
    pub calendar: BusinessCalendar,
    pub tiers: BTreeMap<String, TierService>,
    pub care: CarePolicy,
    /// `[[service.baseline]]`: what every customer is owed whatever its tier.
    pub baseline: Vec<report::BaselineCheck>,
    /// The window of the service reports (effort, tickets), in days.
    pub window_days: u32,
    /// The quadrant's thresholds; the medians when not given.
    pub quadrant_value: Option<f64>,
    pub quadrant_minutes: Option<f64>,
    /// `effort_share = { A = [0.3, 0.6] }`: the band of the window's effort a tier should get.
    pub effort_bands: BTreeMap<String, (f64, f64)>,
    /// `new_customer_budget = 0.40` (F3): the most of a team's effort that should go to new
    /// customers.
    pub new_customer_budget: Option<f64>,
    /// A customer is new while in one of these stages, or created within `new_customer_days`.
    pub new_customer_stages: Vec<String>,
    pub new_customer_days: u32,
    /// A rep whose workload passes this many times its team's mean is overloaded.
    pub overload_threshold: Option<f64>,
}

/// The example `[[service.baseline]]` checks, written once for the example policy
/// (`allot policy show`) and the demo's.
macro_rules! baseline_example {
    () => {
        r#"
# Baseline services (基础服务红线): what every customer is owed whatever its tier. Coverage
# below 100% is a red alert for the owner's manager, naming the customers that fail.
[[service.baseline]]
name = "首次响应24小时"
check = "first_response_within"
hours = 24

[[service.baseline]]
name = "每季度一次真实跟进"
check = "real_follow_up_every"
days = 90

[[service.baseline]]
name = "投诉必有回应"
check = "complaints_answered"

[[service.baseline]]
name = "年度回顾"
check = "interaction_kind_every"
kind = "meeting"
days = 365
"#
    };
}
pub(crate) use baseline_example;

/// The report window when the policy names none.
pub const DEFAULT_WINDOW_DAYS: u32 = 90;
/// How long a customer counts as new without a stage saying so.
pub const DEFAULT_NEW_CUSTOMER_DAYS: u32 = 90;

/// `[service.care]`: how the care calendar plans and chases its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarePolicy {
    /// Tasks are planned this many days ahead (the calendar feed shows them).
    pub plan_ahead_days: u32,
    /// A task overdue this many days more is told to the owner's manager.
    pub escalate_after_days: u32,
}

impl Default for ServicePolicy {
    fn default() -> Self {
        ServicePolicy {
            calendar: BusinessCalendar::default(),
            tiers: BTreeMap::new(),
            care: CarePolicy::default(),
            baseline: Vec::new(),
            window_days: DEFAULT_WINDOW_DAYS,
            quadrant_value: None,
            quadrant_minutes: None,
            effort_bands: BTreeMap::new(),
            new_customer_budget: None,
            new_customer_stages: Vec::new(),
            new_customer_days: DEFAULT_NEW_CUSTOMER_DAYS,
            overload_threshold: None,
        }
    }
}

impl Default for CarePolicy {
    fn default() -> Self {
        CarePolicy {
            plan_ahead_days: 30,
            escalate_after_days: 3,
        }
    }
}

/// The times of a ticket its clocks run on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TicketTimes {
    pub opened_at: DateTime<Utc>,
    pub severity: TicketSeverity,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The last reopening: resolution is counted again from it.
    pub reopened_at: Option<DateTime<Utc>>,
}

/// A ticket's clocks as of a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketStanding {
    /// When the first response is due; null when the customer's tier is promised nothing.
    pub first_response_due: Option<DateTime<Utc>>,
    /// When resolution is due (from the last reopening, if any).
    pub resolution_due: Option<DateTime<Utc>>,
    /// Minutes left on the clock still running (first response, then resolution), counted in
    /// business time when the tier's promise is; negative once overdue; null when both are done
    /// or nothing is promised.
    pub remaining_business_minutes: Option<i64>,
    /// A promise was missed: responded or resolved late, or not yet and past due.
    pub breached: bool,
    pub first_response_breached: bool,
    pub resolution_breached: bool,
    /// The escalation level the clocks call for now: 0 on time; 1 at a breach; one more per
    /// `escalate_every` after it.
    pub escalation_level_due: u32,
}

impl TicketStanding {
    fn nothing_promised() -> TicketStanding {
        TicketStanding {
            first_response_due: None,
            resolution_due: None,
            remaining_business_minutes: None,
            breached: false,
            first_response_breached: false,
            resolution_breached: false,
            escalation_level_due: 0,
        }
    }
}

/// One of a ticket's two clocks.
struct ServiceClock {
    due: Option<DateTime<Utc>>,
    done_at: Option<DateTime<Utc>>,
    length_seconds: i64,
}

impl ServiceClock {
    /// Done (as of `now`) after its due time, or still running past it.
    fn breached(&self, now: DateTime<Utc>) -> bool {
        let Some(due) = self.due else { return false };
        match self.done_at.filter(|done| *done <= now) {
            Some(done) => done > due,
            None => now > due,
        }
    }

    fn running(&self, now: DateTime<Utc>) -> bool {
        self.done_at.is_none_or(|done| done > now)
    }
}

/// The clocks of a ticket whose customer has `tier` (the tier at opening), as of `now`.
/// Escalation levels stop at `highest_level`.
pub fn ticket_standing(
    policy: &ServicePolicy,
    tier: Option<&str>,
    ticket: &TicketTimes,
    now: DateTime<Utc>,
    highest_level: u32,
) -> TicketStanding {
    let Some(service) = tier.and_then(|tier| policy.tiers.get(tier)) else {
        return TicketStanding::nothing_promised();
    };
    let calendar = &policy.calendar;
    let basis = service.basis();
    let first_length = service.first_response.seconds(basis, calendar);
    let resolution_length = service.resolution(ticket.severity).seconds(basis, calendar);
    let first = ServiceClock {
        due: calendar.add_seconds(basis, ticket.opened_at, first_length),
        done_at: ticket.first_response_at,
        length_seconds: first_length,
    };
    let resolution_start = ticket.reopened_at.unwrap_or(ticket.opened_at);
    let resolution = ServiceClock {
        due: calendar.add_seconds(basis, resolution_start, resolution_length),
        // A resolution also answers the customer: a ticket resolved without a recorded first
        // response stops that clock too.
        done_at: ticket.resolved_at,
        length_seconds: resolution_length,
    };
    let first_done_at = ticket.first_response_at.or(ticket.resolved_at);
    let first = ServiceClock {
        done_at: first_done_at,
        ..first
    };
    let running = [&first, &resolution]
        .into_iter()
        .find(|clock| clock.running(now));
    let remaining_business_minutes = running
        .and_then(|clock| clock.due)
        .map(|due| calendar.seconds_between(basis, now, due).div_euclid(60));
    let escalation_level_due = [&first, &resolution]
        .into_iter()
        .filter(|clock| clock.running(now))
        .map(|clock| {
            let every = service
                .escalate_every
                .map_or(clock.length_seconds, |every| every.seconds(basis, calendar));
            escalation_level(calendar, basis, clock.due, every, now, highest_level)
        })
        .max()
        .unwrap_or(0);
    let first_response_breached = first.breached(now);
    let resolution_breached = resolution.breached(now);
    TicketStanding {
        first_response_due: first.due,
        resolution_due: resolution.due,
        remaining_business_minutes,
        breached: first_response_breached || resolution_breached,
        first_response_breached,
        resolution_breached,
        escalation_level_due,
    }
}

/// 0 before `due`; 1 past it; one more each further `every_seconds`, at most `highest_level`.
/// Steps forward from the due time, so an old ticket costs at most `highest_level` steps.
fn escalation_level(
    calendar: &BusinessCalendar,
    basis: TimeBasis,
    due: Option<DateTime<Utc>>,
    every_seconds: i64,
    now: DateTime<Utc>,
    highest_level: u32,
) -> u32 {
    let Some(mut threshold) = due else { return 0 };
    let mut level = 0;
    while level < highest_level && now > threshold {
        level += 1;
        match calendar.add_seconds(basis, threshold, every_seconds.max(60)) {
            Some(next) => threshold = next,
            None => break,
        }
    }
    level
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn policy() -> ServicePolicy {
        let duration = |raw: &str| ServiceDuration::parse(raw).unwrap();
        let mut tiers = BTreeMap::new();
        tiers.insert(
            "A".to_string(),
            TierService {
                first_response: duration("2h"),
                resolution_major: duration("8h"),
                resolution_general: duration("3d"),
                care_every_days: Some(14),
                business_hours: true,
                escalate_every: None,
            },
        );
        tiers.insert(
            "C".to_string(),
            TierService {
                first_response: duration("24h"),
                resolution_major: duration("2d"),
                resolution_general: duration("5d"),
                care_every_days: Some(90),
                business_hours: false,
                escalate_every: Some(duration("12h")),
            },
        );
        ServicePolicy {
            tiers,
            ..ServicePolicy::default()
        }
    }

    struct Case {
        tier: &'static str,
        severity: TicketSeverity,
        opened: &'static str,
        responded: Option<&'static str>,
        resolved: Option<&'static str>,
        reopened: Option<&'static str>,
        now: &'static str,
        first_due: &'static str,
        resolution_due: &'static str,
        remaining: Option<i64>,
        breached: bool,
        level: u32,
    }

    fn check(case: Case) {
        let times = TicketTimes {
            opened_at: instant(case.opened),
            severity: case.severity,
            first_response_at: case.responded.map(instant),
            resolved_at: case.resolved.map(instant),
            reopened_at: case.reopened.map(instant),
        };
        let standing = ticket_standing(&policy(), Some(case.tier), &times, instant(case.now), 5);
        let label = format!(
            "{} {:?} opened {} now {}",
            case.tier, case.severity, case.opened, case.now
        );
        assert_eq!(
            standing.first_response_due,
            Some(instant(case.first_due)),
            "{label}"
        );
        assert_eq!(
            standing.resolution_due,
            Some(instant(case.resolution_due)),
            "{label}"
        );
        assert_eq!(
            standing.remaining_business_minutes, case.remaining,
            "{label}"
        );
        assert_eq!(standing.breached, case.breached, "{label}");
        assert_eq!(standing.escalation_level_due, case.level, "{label}");
    }

    #[test]
    fn ticket_clocks_run_on_the_tier_promise() {
        use TicketSeverity::{General, Major};
        // Tier A, business hours: Friday 17:00 + 2 h first response is Monday 10:00.
        check(Case {
            tier: "A",
            severity: Major,
            opened: "2027-01-08T17:00:00+08:00",
            responded: None,
            resolved: None,
            reopened: None,
            now: "2027-01-09T12:00:00+08:00",
            first_due: "2027-01-11T10:00:00+08:00",
            resolution_due: "2027-01-11T17:30:00+08:00",
            remaining: Some(60),
            breached: false,
            level: 0,
        });
        // Past the first response by 30 business minutes: breached, level 1.
        check(Case {
            tier: "A",
            severity: Major,
            opened: "2027-01-08T17:00:00+08:00",
            responded: None,
            resolved: None,
            reopened: None,
            now: "2027-01-11T10:30:00+08:00",
            first_due: "2027-01-11T10:00:00+08:00",
            resolution_due: "2027-01-11T17:30:00+08:00",
            remaining: Some(-30),
            breached: true,
            level: 1,
        });
        // Another 2 business hours on (the promise again): level 2.
        check(Case {
            tier: "A",
            severity: Major,
            opened: "2027-01-08T17:00:00+08:00",
            responded: None,
            resolved: None,
            reopened: None,
            now: "2027-01-11T12:00:00+08:00",
            first_due: "2027-01-11T10:00:00+08:00",
            resolution_due: "2027-01-11T17:30:00+08:00",
            remaining: Some(-120),
            breached: true,
            level: 1,
        });
        check(Case {
            tier: "A",
            severity: Major,
            opened: "2027-01-08T17:00:00+08:00",
            responded: None,
            resolved: None,
            reopened: None,
            now: "2027-01-11T13:31:00+08:00",
            first_due: "2027-01-11T10:00:00+08:00",
            resolution_due: "2027-01-11T17:30:00+08:00",
            remaining: Some(-121),
            breached: true,
            level: 2,
        });
        // Responded late, then the resolution clock runs: still breached (late response).
        check(Case {
            tier: "A",
            severity: General,
            opened: "2027-01-04T10:00:00+08:00",
            responded: Some("2027-01-04T13:00:00+08:00"),
            resolved: None,
            reopened: None,
            now: "2027-01-05T10:00:00+08:00",
            first_due: "2027-01-04T12:00:00+08:00",
            resolution_due: "2027-01-07T10:00:00+08:00",
            remaining: Some(2 * 450),
            breached: true,
            level: 0,
        });
        // Resolved in time: nothing remains, nothing breached.
        check(Case {
            tier: "A",
            severity: Major,
            opened: "2027-01-04T10:00:00+08:00",
            responded: Some("2027-01-04T10:30:00+08:00"),
            resolved: Some("2027-01-04T15:00:00+08:00"),
            reopened: None,
            now: "2027-01-20T10:00:00+08:00",
            first_due: "2027-01-04T12:00:00+08:00",
            resolution_due: "2027-01-05T10:30:00+08:00",
            remaining: None,
            breached: false,
            level: 0,
        });
        // Reopened: resolution counts again from the reopening.
        check(Case {
            tier: "A",
            severity: Major,
            opened: "2027-01-04T10:00:00+08:00",
            responded: Some("2027-01-04T10:30:00+08:00"),
            resolved: None,
            reopened: Some("2027-01-06T10:00:00+08:00"),
            now: "2027-01-06T11:00:00+08:00",
            first_due: "2027-01-04T12:00:00+08:00",
            resolution_due: "2027-01-07T10:30:00+08:00",
            remaining: Some(420),
            breached: false,
            level: 0,
        });
        // Tier C, wall clock: the weekend counts; escalation every 12 h after a breach.
        check(Case {
            tier: "C",
            severity: General,
            opened: "2027-01-08T17:00:00+08:00",
            responded: None,
            resolved: None,
            reopened: None,
            now: "2027-01-10T06:00:00+08:00",
            first_due: "2027-01-09T17:00:00+08:00",
            resolution_due: "2027-01-13T17:00:00+08:00",
            remaining: Some(-13 * 60),
            breached: true,
            level: 2,
        });
        // A resolution that comes before any recorded response answers both clocks.
        check(Case {
            tier: "C",
            severity: Major,
            opened: "2027-01-08T17:00:00+08:00",
            responded: None,
            resolved: Some("2027-01-09T09:00:00+08:00"),
            reopened: None,
            now: "2027-01-12T09:00:00+08:00",
            first_due: "2027-01-09T17:00:00+08:00",
            resolution_due: "2027-01-10T17:00:00+08:00",
            remaining: None,
            breached: false,
            level: 0,
        });
    }

    #[test]
    fn a_tier_without_a_promise_has_no_clocks_and_levels_stop_at_the_top() {
        let times = TicketTimes {
            opened_at: instant("2020-01-06T10:00:00+08:00"),
            severity: TicketSeverity::Major,
            first_response_at: None,
            resolved_at: None,
            reopened_at: None,
        };
        let now = instant("2027-01-06T10:00:00+08:00");
        assert_eq!(
            ticket_standing(&policy(), Some("B"), &times, now, 5),
            TicketStanding::nothing_promised()
        );
        assert_eq!(
            ticket_standing(&policy(), None, &times, now, 5),
            TicketStanding::nothing_promised()
        );
        // Seven years open: the level stops at the top of the chain.
        assert_eq!(
            ticket_standing(&policy(), Some("A"), &times, now, 3).escalation_level_due,
            3
        );
    }
}
