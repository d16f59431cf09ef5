//! The care calendar (S4): which care tasks a customer is owed as of a day — the tier's cadence
//! of real follow-ups, reminders before a renewal, and the yearly birthday or founding day —
//! each with a key that names it for ever, so a task is never planned twice.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::ServicePolicy;

/// What a care task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CareKind {
    /// A real follow-up the tier's `care_every_days` calls for.
    Cadence,
    /// 30 days before `attr.renewal_date`.
    Renewal30,
    /// 7 days before `attr.renewal_date`.
    Renewal7,
    /// On `attr.birthday`, yearly.
    Birthday,
    /// On `attr.founded`, yearly.
    Founded,
}

impl CareKind {
    pub const ALL: [CareKind; 5] = [
        CareKind::Cadence,
        CareKind::Renewal30,
        CareKind::Renewal7,
        CareKind::Birthday,
        CareKind::Founded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CareKind::Cadence => "cadence",
            CareKind::Renewal30 => "renewal_30",
            CareKind::Renewal7 => "renewal_7",
            CareKind::Birthday => "birthday",
            CareKind::Founded => "founded",
        }
    }

    pub fn parse(raw: &str) -> Option<CareKind> {
        CareKind::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// What planning knows of one customer (dates on the organisation's calendar).
#[derive(Debug, Clone, Default)]
pub struct CareFacts<'a> {
    pub tier: Option<&'a str>,
    /// The newest real follow-up by anyone (the policy's `real_follow_up` kinds).
    pub last_real_follow_up: Option<NaiveDate>,
    /// When the customer came (a cadence without any follow-up counts from here).
    pub created: Option<NaiveDate>,
    pub renewal_date: Option<NaiveDate>,
    pub birthday: Option<NaiveDate>,
    pub founded: Option<NaiveDate>,
}

/// A task the customer is owed, due on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    pub kind: CareKind,
    pub due: NaiveDate,
}

impl PlannedTask {
    /// The task's name for ever: one customer never gets two tasks of one kind on one day.
    pub fn key(&self, customer_id: &str) -> String {
        format!("{customer_id}:{}:{}", self.kind.as_str(), self.due)
    }
}

/// The day of a yearly date in `year`: 29 February falls on 28 February in other years.
pub fn anniversary_in(date: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), date.day() - 1))
}

/// The tasks a customer is owed as of `today`, due no later than `horizon_days` ahead: the
/// next cadence task (overdue ones too: a cadence missed stays owed), renewal reminders and
/// anniversaries from today on.
pub fn plan_care(
    policy: &ServicePolicy,
    facts: &CareFacts<'_>,
    today: NaiveDate,
    horizon_days: u32,
) -> Vec<PlannedTask> {
    let horizon = today + Duration::days(i64::from(horizon_days));
    let mut tasks = Vec::new();
    let cadence = facts
        .tier
        .and_then(|tier| policy.tiers.get(tier))
        .and_then(|service| service.care_every_days);
    if let Some(days) = cadence {
        let base = facts.last_real_follow_up.or(facts.created).unwrap_or(today);
        let due = base + Duration::days(i64::from(days));
        if due <= horizon {
            tasks.push(PlannedTask {
                kind: CareKind::Cadence,
                due,
            });
        }
    }
    if let Some(renewal) = facts.renewal_date.filter(|renewal| *renewal >= today) {
        for (kind, before) in [(CareKind::Renewal30, 30), (CareKind::Renewal7, 7)] {
            let due = renewal - Duration::days(before);
            if (today..=horizon).contains(&due) {
                tasks.push(PlannedTask { kind, due });
            }
        }
    }
    for (kind, date) in [
        (CareKind::Birthday, facts.birthday),
        (CareKind::Founded, facts.founded),
    ] {
        let Some(date) = date else { continue };
        let next = [today.year(), today.year() + 1]
            .into_iter()
            .filter_map(|year| anniversary_in(date, year))
            .find(|day| *day >= today && *day >= date);
        if let Some(due) = next.filter(|due| *due <= horizon) {
            tasks.push(PlannedTask { kind, due });
        }
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{ServiceDuration, TierService};

    fn policy() -> ServicePolicy {
        let duration = |raw: &str| ServiceDuration::parse(raw).unwrap();
        let mut policy = ServicePolicy::default();
        policy.tiers.insert(
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
        policy
    }

    fn date(raw: &str) -> NaiveDate {
        raw.parse().unwrap()
    }

    fn check(facts: CareFacts<'_>, today: &str, expected: &[(CareKind, &str)]) {
        let planned = plan_care(&policy(), &facts, date(today), 30);
        let got: Vec<(CareKind, String)> = planned
            .iter()
            .map(|task| (task.kind, task.due.to_string()))
            .collect();
        let expected: Vec<(CareKind, String)> = expected
            .iter()
            .map(|(kind, due)| (*kind, due.to_string()))
            .collect();
        assert_eq!(got, expected, "{facts:?} on {today}");
    }

    #[test]
    fn care_is_planned_from_cadence_renewals_and_anniversaries() {
        use CareKind::*;
        // Cadence: 14 days after the last real follow-up; overdue stays owed.
        check(
            CareFacts {
                tier: Some("A"),
                last_real_follow_up: Some(date("2027-01-04")),
                ..Default::default()
            },
            "2027-01-05",
            &[(Cadence, "2027-01-18")],
        );
        check(
            CareFacts {
                tier: Some("A"),
                last_real_follow_up: Some(date("2026-10-01")),
                ..Default::default()
            },
            "2027-01-05",
            &[(Cadence, "2026-10-15")],
        );
        // Never followed up: from the customer's creation.
        check(
            CareFacts {
                tier: Some("A"),
                created: Some(date("2027-01-01")),
                ..Default::default()
            },
            "2027-01-02",
            &[(Cadence, "2027-01-15")],
        );
        // A tier without a cadence, or beyond the horizon: nothing.
        check(
            CareFacts {
                tier: Some("C"),
                ..Default::default()
            },
            "2027-01-05",
            &[],
        );
        // Renewal on 20 February: 30 days before is 21 January (in the horizon), 7 days before
        // is 13 February (beyond it).
        check(
            CareFacts {
                renewal_date: Some(date("2027-02-20")),
                ..Default::default()
            },
            "2027-01-05",
            &[(Renewal30, "2027-01-21")],
        );
        check(
            CareFacts {
                renewal_date: Some(date("2027-02-20")),
                ..Default::default()
            },
            "2027-02-01",
            &[(Renewal7, "2027-02-13")],
        );
        // A renewal already past: nothing.
        check(
            CareFacts {
                renewal_date: Some(date("2027-01-01")),
                ..Default::default()
            },
            "2027-01-05",
            &[],
        );
        // A birthday on 29 February falls on 28 February in 2027, on 29 February in 2028.
        check(
            CareFacts {
                birthday: Some(date("1980-02-29")),
                ..Default::default()
            },
            "2027-02-10",
            &[(Birthday, "2027-02-28")],
        );
        check(
            CareFacts {
                birthday: Some(date("1980-02-29")),
                ..Default::default()
            },
            "2028-02-10",
            &[(Birthday, "2028-02-29")],
        );
        // The founding day at the turn of the year: next year's.
        check(
            CareFacts {
                founded: Some(date("2001-01-03")),
                ..Default::default()
            },
            "2026-12-20",
            &[(Founded, "2027-01-03")],
        );
        // Today itself is planned.
        check(
            CareFacts {
                founded: Some(date("2001-01-03")),
                ..Default::default()
            },
            "2027-01-03",
            &[(Founded, "2027-01-03")],
        );
    }

    #[test]
    fn task_keys_name_the_customer_kind_and_day() {
        let task = PlannedTask {
            kind: CareKind::Renewal7,
            due: date("2027-02-13"),
        };
        assert_eq!(task.key("c1"), "c1:renewal_7:2027-02-13");
        assert_eq!(CareKind::parse("renewal_7"), Some(CareKind::Renewal7));
        assert_eq!(CareKind::parse("lunch"), None);
    }
}
