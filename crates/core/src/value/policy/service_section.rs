//! The `[service]` section of the policy: the business calendar and each tier's promise,
//! checked with the key path of every problem (`service.tier.A.first_response`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::{Checker, RawCount};
use crate::activity::InteractionKind;
use crate::service::calendar::WEEKDAY_NAMES;
use crate::service::report::{BaselineCheck, BaselineRule};
use crate::service::{
    BusinessCalendar, CarePolicy, ServiceDuration, ServicePolicy, TierService, WorkingSpan,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    calendar: Option<RawCalendar>,
    care: Option<RawCare>,
    baseline: Option<Vec<Spanned<RawBaseline>>>,
    window_days: RawCount,
    quadrant: Option<RawQuadrant>,
    effort_share: Option<Spanned<BTreeMap<String, Spanned<Vec<f64>>>>>,
    new_customer_budget: Option<Spanned<f64>>,
    new_customer_stages: RawTextList,
    new_customer_days: RawCount,
    overload_threshold: Option<Spanned<f64>>,
    // Not `Spanned` as a whole: tables written as `[service.tier.A]` headers do not carry one.
    tier: Option<BTreeMap<String, Spanned<RawTierService>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    name: Option<String>,
    check: Option<String>,
    hours: RawCount,
    days: RawCount,
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuadrant {
    value: Option<Spanned<f64>>,
    minutes: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCare {
    plan_ahead_days: RawCount,
    escalate_after_days: RawCount,
}

type RawTextList = Option<Spanned<Vec<Spanned<String>>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    time_zone: Option<Spanned<String>>,
    working_hours: RawTextList,
    working_days: RawTextList,
    holidays: RawTextList,
    extra_working_days: RawTextList,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTierService {
    first_response: Option<Spanned<String>>,
    resolution: Option<Spanned<RawResolution>>,
    care_every_days: RawCount,
    business_hours: Option<Spanned<bool>>,
    escalate_every: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResolution {
    major: Option<Spanned<String>>,
    general: Option<Spanned<String>>,
}

impl Checker<'_> {
    /// The `[service]` section; tier keys are checked against the tiers of this policy.
    pub(super) fn service(
        &mut self,
        raw: Option<RawService>,
        tier_names: &[String],
        stages: &[String],
    ) -> ServicePolicy {
        let Some(raw) = raw else {
            return ServicePolicy {
                new_customer_stages: stages.first().cloned().into_iter().collect(),
                ..ServicePolicy::default()
            };
        };
        let calendar = match raw.calendar {
            Some(calendar) => self.calendar(calendar),
            None => BusinessCalendar::default(),
        };
        let mut tiers = BTreeMap::new();
        for (tier, value) in raw.tier.unwrap_or_default() {
            let key = format!("service.tier.{tier}");
            if !tier_names.contains(&tier) {
                self.push(
                    None,
                    &key,
                    Some(value.span()),
                    format!(
                        "'{tier}' is not a tier; use one of {}",
                        tier_names.join(", ")
                    ),
                );
                continue;
            }
            if let Some(service) = self.tier_service(&key, value) {
                tiers.insert(tier, service);
            }
        }
        let defaults = CarePolicy::default();
        let care = match raw.care {
            None => defaults,
            Some(care) => CarePolicy {
                plan_ahead_days: self.count(
                    "service.care.plan_ahead_days",
                    &care.plan_ahead_days,
                    defaults.plan_ahead_days,
                    366,
                ),
                escalate_after_days: self.count(
                    "service.care.escalate_after_days",
                    &care.escalate_after_days,
                    defaults.escalate_after_days,
                    365,
                ),
            },
        };
        let baseline = raw
            .baseline
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| self.baseline_check(entry))
            .collect();
        let window_days = self
            .count(
                "service.window_days",
                &raw.window_days,
                crate::service::DEFAULT_WINDOW_DAYS,
                3650,
            )
            .max(1);
        let (quadrant_value, quadrant_minutes) = match raw.quadrant {
            None => (None, None),
            Some(quadrant) => (
                quadrant.value.as_ref().map(|value| {
                    self.number("service.quadrant.value", Some(value), 0.0, 0.0, 1e12)
                }),
                quadrant.minutes.as_ref().map(|value| {
                    self.number("service.quadrant.minutes", Some(value), 0.0, 0.0, 1e12)
                }),
            ),
        };
        let effort_bands = self.per_tier(
            "service.effort_share",
            raw.effort_share,
            tier_names,
            |checker, key, value| {
                let span = value.span();
                match value.get_ref().as_slice() {
                    [low, high]
                        if (0.0..=1.0).contains(low)
                            && (0.0..=1.0).contains(high)
                            && low <= high =>
                    {
                        Some((*low, *high))
                    }
                    _ => {
                        checker.push(
                            None,
                            key,
                            Some(span),
                            format!(
                                "{:?} is not a band; write [low, high] with 0 <= low <= high <= 1",
                                value.get_ref()
                            ),
                        );
                        None
                    }
                }
            },
        );
        let new_customer_budget = raw
            .new_customer_budget
            .as_ref()
            .map(|budget| self.number("service.new_customer_budget", Some(budget), 1.0, 0.0, 1.0));
        let new_customer_stages = match raw.new_customer_stages {
            // By default the first stage of the lifecycle (线索, a lead) is new.
            None => stages.first().cloned().into_iter().collect(),
            Some(list) => list
                .into_inner()
                .into_iter()
                .filter_map(|stage| {
                    let name = stage.get_ref().trim().to_string();
                    if stages.contains(&name) {
                        Some(name)
                    } else {
                        self.push(
                            None,
                            "service.new_customer_stages",
                            Some(stage.span()),
                            format!("'{name}' is not a stage; use one of {}", stages.join(", ")),
                        );
                        None
                    }
                })
                .collect(),
        };
        let new_customer_days = self.count(
            "service.new_customer_days",
            &raw.new_customer_days,
            crate::service::DEFAULT_NEW_CUSTOMER_DAYS,
            3650,
        );
        let overload_threshold = raw.overload_threshold.as_ref().map(|threshold| {
            self.number(
                "service.overload_threshold",
                Some(threshold),
                1.5,
                1.0,
                100.0,
            )
        });
        ServicePolicy {
            calendar,
            tiers,
            care,
            baseline,
            window_days,
            quadrant_value,
            quadrant_minutes,
            effort_bands,
            new_customer_budget,
            new_customer_stages,
            new_customer_days,
            overload_threshold,
        }
    }

    fn calendar(&mut self, raw: RawCalendar) -> BusinessCalendar {
        let defaults = BusinessCalendar::default();
        let time_zone = match &raw.time_zone {
            None => defaults.time_zone(),
            Some(name) => match name.get_ref().trim().parse::<chrono_tz::Tz>() {
                Ok(zone) => zone,
                Err(_) => {
                    self.push(
                        None,
                        "service.calendar.time_zone",
                        Some(name.span()),
                        format!(
                            "'{}' is not a time zone of the IANA database, e.g. \"Asia/Shanghai\" or \"Europe/London\"",
                            name.get_ref()
                        ),
                    );
                    defaults.time_zone()
                }
            },
        };
        let span_of_section = raw
            .working_hours
            .as_ref()
            .or(raw.working_days.as_ref())
            .or(raw.holidays.as_ref())
            .or(raw.extra_working_days.as_ref())
            .map(Spanned::span);
        let working_hours = match raw.working_hours {
            None => defaults.working_hours().to_vec(),
            Some(list) => list
                .into_inner()
                .into_iter()
                .filter_map(|item| match WorkingSpan::parse(item.get_ref()) {
                    Ok(span) => Some(span),
                    Err(message) => {
                        self.push(
                            None,
                            "service.calendar.working_hours",
                            Some(item.span()),
                            message,
                        );
                        None
                    }
                })
                .collect(),
        };
        let working_weekdays = match raw.working_days {
            None => [true, true, true, true, true, false, false],
            Some(list) => {
                let mut days = [false; 7];
                for item in list.into_inner() {
                    let name = item.get_ref().trim().to_ascii_lowercase();
                    match WEEKDAY_NAMES.iter().position(|day| *day == name) {
                        Some(position) => days[position] = true,
                        None => self.push(
                            None,
                            "service.calendar.working_days",
                            Some(item.span()),
                            format!(
                                "'{}' is not a weekday; use {}",
                                item.get_ref(),
                                WEEKDAY_NAMES.join(", ")
                            ),
                        ),
                    }
                }
                days
            }
        };
        let holidays = self.dates("service.calendar.holidays", raw.holidays);
        let extra_working_days = self.dates(
            "service.calendar.extra_working_days",
            raw.extra_working_days,
        );
        match BusinessCalendar::new(
            time_zone,
            working_hours,
            working_weekdays,
            holidays,
            extra_working_days,
        ) {
            Ok(calendar) => calendar,
            Err(message) => {
                // Problems of single entries were reported above; this is the calendar as a whole.
                if self.errors.iter().all(|error| {
                    !error
                        .field
                        .as_deref()
                        .is_some_and(|field| field.starts_with("service.calendar"))
                }) {
                    self.push(
                        None,
                        "service.calendar",
                        span_of_section,
                        format!("the calendar {message}"),
                    );
                }
                defaults
            }
        }
    }

    fn dates(&mut self, key: &str, raw: RawTextList) -> BTreeSet<NaiveDate> {
        let mut dates = BTreeSet::new();
        for item in raw.map(Spanned::into_inner).unwrap_or_default() {
            match NaiveDate::parse_from_str(item.get_ref().trim(), "%Y-%m-%d") {
                Ok(date) => {
                    dates.insert(date);
                }
                Err(_) => self.push(
                    None,
                    key,
                    Some(item.span()),
                    format!("'{}' is not a date YYYY-MM-DD", item.get_ref()),
                ),
            }
        }
        dates
    }

    /// A duration that must be given.
    fn duration(
        &mut self,
        key: &str,
        raw: Option<&Spanned<String>>,
        whole: std::ops::Range<usize>,
    ) -> Option<ServiceDuration> {
        let Some(raw) = raw else {
            self.push(
                None,
                key,
                Some(whole),
                "is required, e.g. \"2h\"".to_string(),
            );
            return None;
        };
        match ServiceDuration::parse(raw.get_ref()) {
            Ok(duration) => Some(duration),
            Err(message) => {
                self.push(None, key, Some(raw.span()), message);
                None
            }
        }
    }

    fn tier_service(&mut self, key: &str, raw: Spanned<RawTierService>) -> Option<TierService> {
        let whole = raw.span();
        let raw = raw.into_inner();
        let first_response = self.duration(
            &format!("{key}.first_response"),
            raw.first_response.as_ref(),
            whole.clone(),
        );
        let (major, general) = match &raw.resolution {
            None => {
                self.push(
                    None,
                    &format!("{key}.resolution"),
                    Some(whole.clone()),
                    "is required, e.g. { major = \"8h\", general = \"3d\" }".to_string(),
                );
                (None, None)
            }
            Some(resolution) => {
                let span = resolution.span();
                let resolution = resolution.get_ref();
                (
                    self.duration(
                        &format!("{key}.resolution.major"),
                        resolution.major.as_ref(),
                        span.clone(),
                    ),
                    self.duration(
                        &format!("{key}.resolution.general"),
                        resolution.general.as_ref(),
                        span,
                    ),
                )
            }
        };
        let care = self.count(
            &format!("{key}.care_every_days"),
            &raw.care_every_days,
            0,
            3650,
        );
        if care == 0 {
            if let Some(days) = &raw.care_every_days {
                if *days.get_ref() == 0 {
                    self.push(
                        None,
                        &format!("{key}.care_every_days"),
                        Some(days.span()),
                        "must be at least 1 (leave it out for no cadence)".to_string(),
                    );
                }
            }
        }
        let escalate_every = match &raw.escalate_every {
            None => None,
            Some(raw) => match ServiceDuration::parse(raw.get_ref()) {
                Ok(duration) => Some(duration),
                Err(message) => {
                    self.push(
                        None,
                        &format!("{key}.escalate_every"),
                        Some(raw.span()),
                        message,
                    );
                    None
                }
            },
        };
        Some(TierService {
            first_response: first_response?,
            resolution_major: major?,
            resolution_general: general?,
            care_every_days: (care > 0).then_some(care),
            business_hours: raw.business_hours.is_none_or(Spanned::into_inner),
            escalate_every,
        })
    }

    /// One `[[service.baseline]]` entry: a named check with the numbers it needs.
    fn baseline_check(&mut self, raw: Spanned<RawBaseline>) -> Option<BaselineCheck> {
        let span = raw.span();
        let raw = raw.into_inner();
        let name = raw
            .name
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            self.push(
                None,
                "service.baseline.name",
                Some(span.clone()),
                "is required: the check's name as reports show it".to_string(),
            );
        }
        let needed = |checker: &mut Self, key: &str, value: &RawCount| -> Option<u32> {
            match value {
                None => {
                    checker.push(
                        None,
                        &format!("service.baseline.{key}"),
                        Some(span.clone()),
                        format!("is required by this check, e.g. {key} = 90"),
                    );
                    None
                }
                Some(_) => {
                    let count = checker.count(&format!("service.baseline.{key}"), value, 0, 36_500);
                    (count > 0).then_some(count)
                }
            }
        };
        let rule = match raw.check.as_deref().map(str::trim) {
            Some("first_response_within") => needed(self, "hours", &raw.hours)
                .map(|hours| BaselineRule::FirstResponseWithin { hours }),
            Some("real_follow_up_every") => {
                needed(self, "days", &raw.days).map(|days| BaselineRule::RealFollowUpEvery { days })
            }
            Some("complaints_answered") => Some(BaselineRule::ComplaintsAnswered),
            Some("interaction_kind_every") => {
                let days = needed(self, "days", &raw.days);
                let kind = match InteractionKind::parse_field(
                    "service.baseline.kind",
                    raw.kind.as_deref().unwrap_or_default(),
                ) {
                    Ok(kind) => Some(kind),
                    Err(error) => {
                        self.push(
                            None,
                            "service.baseline.kind",
                            Some(span.clone()),
                            error.message,
                        );
                        None
                    }
                };
                days.zip(kind)
                    .map(|(days, kind)| BaselineRule::InteractionKindEvery { kind, days })
            }
            other => {
                self.push(
                    None,
                    "service.baseline.check",
                    Some(span.clone()),
                    format!(
                        "'{}' is not a check; use first_response_within, real_follow_up_every, complaints_answered or interaction_kind_every",
                        other.unwrap_or_default()
                    ),
                );
                None
            }
        };
        (!name.is_empty()).then_some(())?;
        rule.map(|rule| BaselineCheck { name, rule })
    }
}
