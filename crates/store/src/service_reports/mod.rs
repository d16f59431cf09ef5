//! The service reports over the customers in a view, as of the clock: baseline coverage, the
//! service report (shares of customers, value and effort; SLA attainment; follow-up recency)
//! and the value × service quadrant — the facts gathered by `facts`, the figures computed by
//! `allot_core::service::report`; and the daily job that tells managers which of their
//! customers fail a baseline check.

use std::collections::{BTreeMap, HashMap};

use allot_core::access::approval_chain;
use allot_core::service::report::{
    baseline_coverage, quadrant_report, service_report, CheckCoverage, QuadrantReport,
    ServiceFacts, ServiceReport,
};
use allot_core::value::ValuePolicy;
use allot_core::{Clock, RepId};
use serde::Serialize;

use crate::database::{on_backend, sql, Connected};
use crate::error::StoreResult;
use crate::lifecycle::notifications::{notify_all, NewNotification};
use crate::lifecycle::View;
use crate::{Store, StoredTime, WriteTransaction};
use facts::{service_facts, service_facts_for_report};

mod facts;

/// The daily job's name in `job_runs`: baseline alerts and skew alerts over one reading of the
/// facts (at a million customers the reading is most of the work).
pub const SERVICE_CHECKS_JOB: &str = "service_checks";

/// What the daily service checks did.
pub(crate) struct ServiceChecks {
    pub baseline: BaselineAlertSummary,
    pub skew: SkewSummary,
    /// Reps whose performance weight changed, when a rule routes by performance.
    pub performance_weights: Option<usize>,
}

/// The daily service checks: managers told of customers failing a baseline check, skew alerts
/// raised and closed.
pub(crate) async fn service_checks_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    clock: Clock,
    webhook: bool,
) -> StoreResult<ServiceChecks> {
    let service = &policy.service;
    let skews_asked = !service.effort_bands.is_empty()
        || service.new_customer_budget.is_some()
        || service.overload_threshold.is_some();
    let performance_asked = rules_use_performance(&mut *write).await?;
    let facts = if service.baseline.is_empty() && !skews_asked && !performance_asked {
        Vec::new()
    } else {
        service_facts(&mut *write, policy, None, clock.now()).await?
    };
    let baseline = baseline_alerts_in(write, policy, &facts, clock, webhook).await?;
    let skew = skew_alerts_in(write, policy, &facts, skews_asked, clock, webhook).await?;
    let performance_weights = if performance_asked {
        Some(store_performance_weights(write, policy, &facts, clock).await?)
    } else {
        None
    };
    Ok(ServiceChecks {
        baseline,
        skew,
        performance_weights,
    })
}

/// Whether the rules in force have a rule of the `performance` strategy.
async fn rules_use_performance(source: &mut impl Connected) -> StoreResult<bool> {
    let newest: Option<String> = on_backend!(&mut *source, |connection, Db| {
        sql!(Db; "SELECT source FROM rule_versions ORDER BY version DESC LIMIT 1")
            .build_query_scalar()
            .fetch_optional(&mut *connection)
            .await?
    });
    Ok(newest
        .and_then(|source| allot_core::rules::RuleSet::parse(&source).ok())
        .is_some_and(|rules| {
            rules
                .rules
                .iter()
                .any(|rule| rule.strategy == allot_core::rules::StrategyKind::Performance)
        }))
}

/// Each rep's performance weight from the performance report (reps owning no customer: 1),
/// written beside its load where routing reads it; returns how many changed.
async fn store_performance_weights(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    facts: &[ServiceFacts],
    clock: Clock,
) -> StoreResult<usize> {
    let report = allot_core::service::report::performance_report(
        facts,
        clock.now(),
        policy.service.window_days,
    );
    let scored: HashMap<&str, f64> = report
        .reps
        .iter()
        .map(|rep| {
            (
                rep.rep_id.as_str(),
                allot_core::strategy::performance_weight(rep.score),
            )
        })
        .collect();
    let (_, reps) = crate::organisation::load_teams_and_reps(&mut *write).await?;
    let changes: Vec<(String, f64)> = reps
        .iter()
        .filter_map(|state| {
            let weight = scored.get(state.rep.id.as_str()).copied().unwrap_or(1.0);
            ((state.load.performance_weight - weight).abs() > 1e-9)
                .then(|| (state.rep.id.to_string(), weight))
        })
        .collect();
    let rows: Vec<Vec<crate::database::bulk::Value<'_>>> = changes
        .iter()
        .map(|(id, weight)| {
            vec![
                crate::database::bulk::Value::Text(id),
                crate::database::bulk::Value::Real(*weight),
            ]
        })
        .collect();
    crate::database::bulk::update_rows(
        write.connection(),
        &crate::database::bulk::UpdateRows {
            table: "reps",
            key: &[("id", crate::database::bulk::Kind::Text)],
            still: None,
            set: &[("performance_weight", crate::database::bulk::Kind::Real)],
            rows: &rows,
            only_if: None,
            caller_fails_unless_every_row_changes: false,
        },
    )
    .await?;
    Ok(changes.len())
}

/// Every service report at once.
#[derive(Debug, Clone)]
pub struct ServiceOverview {
    pub service: ServiceReport,
    pub baseline: BaselineReport,
    pub quadrant: QuadrantReport,
    pub performance: allot_core::service::report::PerformanceReport,
}

/// Baseline coverage as of a time.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaselineReport {
    pub as_of: String,
    pub checks: Vec<CheckCoverage>,
}

/// The policy and the facts of the customers in a view as of a time, from which every report
/// is computed (alone, or all four at once for the web page).
struct ReportFacts {
    policy: ValuePolicy,
    facts: Vec<ServiceFacts>,
    now: chrono::DateTime<chrono::Utc>,
}

impl ReportFacts {
    fn baseline(&self) -> BaselineReport {
        BaselineReport {
            as_of: StoredTime(self.now).text(),
            checks: baseline_coverage(&self.policy.service.baseline, &self.facts, self.now),
        }
    }

    fn service(&self) -> ServiceReport {
        let service = &self.policy.service;
        service_report(
            &self.facts,
            &service.baseline,
            self.now,
            service.window_days,
        )
    }

    fn quadrant(&self) -> QuadrantReport {
        let service = &self.policy.service;
        quadrant_report(
            &self.facts,
            service.quadrant_value,
            service.quadrant_minutes,
            service.window_days,
        )
    }

    fn performance(&self) -> allot_core::service::report::PerformanceReport {
        allot_core::service::report::performance_report(
            &self.facts,
            self.now,
            self.policy.service.window_days,
        )
    }
}

impl Store {
    /// The policy and the facts of the customers in `view`, as a report reads them.
    async fn report_facts(&self, view: Option<&View>, clock: Clock) -> StoreResult<ReportFacts> {
        let (mut read, second) = self.database.begin_two_reads().await?;
        let policy = self.policy_in(&mut read).await?.1;
        let now = clock.now();
        let facts = service_facts_for_report(&mut read, second, &policy, view, now).await?;
        Ok(ReportFacts { policy, facts, now })
    }

    /// Coverage of every `[[service.baseline]]` check over the customers in `view`.
    pub async fn baseline_report(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<BaselineReport> {
        Ok(self.report_facts(view, clock).await?.baseline())
    }

    /// The service report over the customers in `view`: per tier, team and rep.
    pub async fn service_report(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<ServiceReport> {
        Ok(self.report_facts(view, clock).await?.service())
    }

    /// Every service report over the customers in `view` from one reading of the facts (the
    /// web page shows them together).
    pub async fn service_overview(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<ServiceOverview> {
        let read = self.report_facts(view, clock).await?;
        Ok(ServiceOverview {
            service: read.service(),
            baseline: read.baseline(),
            quadrant: read.quadrant(),
            performance: read.performance(),
        })
    }

    /// Each rep's performance over the window, over the customers in `view`.
    pub async fn performance_report(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<allot_core::service::report::PerformanceReport> {
        Ok(self.report_facts(view, clock).await?.performance())
    }

    /// The value × service quadrant over the customers in `view`.
    pub async fn quadrant_report(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<QuadrantReport> {
        Ok(self.report_facts(view, clock).await?.quadrant())
    }
}

/// What the daily baseline job told.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaselineAlertSummary {
    /// Checks with coverage under 100%.
    pub checks_failing: usize,
    /// Red alerts sent (one per check and manager, naming the manager's failing customers).
    pub alerts: usize,
}

/// Tells each manager, once a day per check, which of its customers fail a baseline check
/// (the owner's team manager; the admins for customers of no team's manager).
async fn baseline_alerts_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    facts: &[ServiceFacts],
    clock: Clock,
    webhook: bool,
) -> StoreResult<BaselineAlertSummary> {
    let mut summary = BaselineAlertSummary::default();
    if policy.service.baseline.is_empty() {
        return Ok(summary);
    }
    let now = clock.now();
    let coverage = baseline_coverage(&policy.service.baseline, facts, now);
    let (teams, reps) = crate::organisation::load_teams_and_reps(&mut *write).await?;
    let reps: Vec<allot_core::Rep> = reps.into_iter().map(|state| state.rep).collect();
    let mut managers: HashMap<String, Option<RepId>> = HashMap::new();
    let today = clock.today();
    let mut alerts: Vec<(Option<RepId>, String, String)> = Vec::new();
    for check in &coverage {
        if check.failing_total == 0 {
            continue;
        }
        summary.checks_failing += 1;
        let mut by_manager: BTreeMap<Option<RepId>, Vec<&str>> = BTreeMap::new();
        for failing in &check.failing {
            let manager = match &failing.owner_id {
                None => None,
                Some(owner) => managers
                    .entry(owner.clone())
                    .or_insert_with(|| {
                        RepId::parse(owner).ok().and_then(|owner| {
                            approval_chain(&owner, 1, &teams, &reps)
                                .into_iter()
                                .next()
                                .flatten()
                        })
                    })
                    .clone(),
            };
            by_manager
                .entry(manager)
                .or_default()
                .push(&failing.customer_id);
        }
        for (manager, customers) in by_manager {
            let shown: Vec<&str> = customers.iter().take(20).copied().collect();
            let more = customers.len().saturating_sub(shown.len());
            let text = format!(
                "baseline \"{}\" is at {:.1}% ({} of {}): {} of your customers fail it: {}{}",
                check.name,
                check.overall.coverage * 100.0,
                check.overall.passing,
                check.overall.applies,
                customers.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            let key = format!(
                "baseline:{}:{}:{today}",
                check.name,
                manager.as_ref().map_or("admins", RepId::as_str)
            );
            alerts.push((manager, text, key));
        }
    }
    let notifications: Vec<NewNotification<'_>> = alerts
        .iter()
        .map(|(manager, text, key)| NewNotification {
            recipient: manager.as_ref(),
            kind: "baseline_failing",
            customer_id: None,
            transfer_id: None,
            ticket_id: None,
            text: text.clone(),
            once_key: Some(key.clone()),
        })
        .collect();
    let stored = notify_all(&mut *write, &notifications, now, webhook).await?;
    summary.alerts = stored.iter().filter(|stored| **stored).count();
    Ok(summary)
}

/// One stored skew alert.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceAlert {
    pub id: i64,
    /// tier_effort, new_customer_budget or rep_overload.
    pub kind: String,
    /// The tier, team or rep.
    pub subject: String,
    pub message: String,
    pub value: f64,
    pub raised_at: String,
    pub closed_at: Option<String>,
    /// open or closed.
    pub status: String,
}

#[derive(sqlx_macros::FromRow)]
struct ServiceAlertRow {
    id: i64,
    kind: String,
    subject: String,
    message: String,
    value: f64,
    raised_at: StoredTime,
    closed_at: Option<StoredTime>,
    status: String,
}

impl ServiceAlertRow {
    fn alert(self) -> ServiceAlert {
        ServiceAlert {
            id: self.id,
            kind: self.kind,
            subject: self.subject,
            message: self.message,
            value: self.value,
            raised_at: self.raised_at.text(),
            closed_at: self.closed_at.map(StoredTime::text),
            status: self.status,
        }
    }
}

/// What the skew job did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkewSummary {
    pub raised: usize,
    pub closed: usize,
    pub open: usize,
}

/// Raises an alert for each skew found that has none open, and closes the open ones no longer
/// found; each raised alert tells the admins (a tier), the team's manager (a team) or the rep's
/// manager (a rep).
async fn skew_alerts_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    facts: &[ServiceFacts],
    skews_asked: bool,
    clock: Clock,
    webhook: bool,
) -> StoreResult<SkewSummary> {
    let now = clock.now();
    let service = &policy.service;
    let mut summary = SkewSummary::default();
    let (teams, reps) = crate::organisation::load_teams_and_reps(&mut *write).await?;
    let findings = if !skews_asked {
        Vec::new()
    } else {
        let report = service_report(facts, &service.baseline, now, service.window_days);
        let loads: Vec<allot_core::service::report::RepLoad> = reps
            .iter()
            .filter(|state| state.rep.active)
            .filter_map(|state| {
                Some(allot_core::service::report::RepLoad {
                    rep_id: state.rep.id.to_string(),
                    team_id: state.rep.team_id.as_ref()?.to_string(),
                    workload: state.load.owned_workload,
                })
            })
            .collect();
        allot_core::service::report::skew_findings(&report, service, &loads)
    };
    let open: Vec<ServiceAlertRow> = on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "SELECT id, kind, subject, message, value, raised_at, closed_at, status FROM service_alerts WHERE status = 'open'")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
    });
    let reps_only: Vec<allot_core::Rep> = reps.into_iter().map(|state| state.rep).collect();
    let mut told: Vec<(Option<RepId>, String, String)> = Vec::new();
    for finding in &findings {
        if open
            .iter()
            .any(|alert| alert.kind == finding.kind && alert.subject == finding.subject)
        {
            continue;
        }
        on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "INSERT INTO service_alerts (kind, subject, message, value, raised_at, status) VALUES (",
                bind(finding.kind.as_str()), ", ", bind(finding.subject.as_str()), ", ", bind(finding.message.as_str()), ", ",
                bind(finding.value), ", ", bind(StoredTime(now)), ", 'open')")
                .build()
                .execute(&mut *connection)
                .await?;
        });
        summary.raised += 1;
        let recipient = match finding.kind.as_str() {
            "new_customer_budget" => teams
                .iter()
                .find(|team| team.id.as_str() == finding.subject)
                .and_then(|team| team.manager_id.clone()),
            "rep_overload" => RepId::parse(&finding.subject).ok().and_then(|rep| {
                approval_chain(&rep, 1, &teams, &reps_only)
                    .into_iter()
                    .next()
                    .flatten()
            }),
            _ => None,
        };
        told.push((
            recipient,
            finding.message.clone(),
            format!(
                "skew:{}:{}:{}",
                finding.kind,
                finding.subject,
                StoredTime(now).text()
            ),
        ));
    }
    for alert in &open {
        let still = findings
            .iter()
            .any(|finding| finding.kind == alert.kind && finding.subject == alert.subject);
        if still {
            continue;
        }
        on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "UPDATE service_alerts SET status = 'closed', closed_at = ", bind(StoredTime(now)),
                " WHERE id = ", bind(alert.id))
                .build()
                .execute(&mut *connection)
                .await?;
        });
        summary.closed += 1;
    }
    summary.open = open.len() + summary.raised - summary.closed;
    let notifications: Vec<NewNotification<'_>> = told
        .iter()
        .map(|(recipient, text, key)| NewNotification {
            recipient: recipient.as_ref(),
            kind: "service_skew",
            customer_id: None,
            transfer_id: None,
            ticket_id: None,
            text: text.clone(),
            once_key: Some(key.clone()),
        })
        .collect();
    notify_all(&mut *write, &notifications, now, webhook).await?;
    Ok(summary)
}

impl Store {
    /// Skew alerts, newest first: open ones only unless `all`. A manager sees the tiers' and
    /// those of the teams and reps of its subtree.
    pub async fn service_alerts(
        &self,
        principal: &allot_core::access::Principal,
        all: bool,
    ) -> StoreResult<Vec<ServiceAlert>> {
        let mut read = self.database.begin_read().await?;
        let rows: Vec<ServiceAlertRow> = on_backend!(&mut read, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, kind, subject, message, value, raised_at, closed_at, status FROM service_alerts");
            if !all {
                query.push(" WHERE status = 'open'");
            }
            query.push(" ORDER BY id DESC LIMIT 1000");
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        if principal.is_admin() {
            return Ok(rows.into_iter().map(ServiceAlertRow::alert).collect());
        }
        let (_, reps) = crate::organisation::load_teams_and_reps(&mut read).await?;
        let seen_teams: std::collections::BTreeSet<String> = reps
            .iter()
            .filter(|state| principal.sees_rep(&state.rep.id))
            .filter_map(|state| state.rep.team_id.as_ref().map(ToString::to_string))
            .collect();
        Ok(rows
            .into_iter()
            .filter(|row| match row.kind.as_str() {
                "rep_overload" => {
                    RepId::parse(&row.subject).is_ok_and(|rep| principal.sees_rep(&rep))
                }
                "new_customer_budget" => seen_teams.contains(&row.subject),
                _ => true,
            })
            .map(ServiceAlertRow::alert)
            .collect())
    }
}

#[cfg(feature = "testing")]
impl Store {
    /// The service facts read both ways: in one transaction, as the daily checks read them,
    /// and as a report reads them, for a test to hold them equal; and whether the report's
    /// reading was split over two connections (on SQLite, when the pool gave a second).
    pub async fn service_facts_both_ways(
        &self,
        view: Option<&View>,
        clock: Clock,
    ) -> StoreResult<(Vec<ServiceFacts>, Vec<ServiceFacts>, bool)> {
        let (mut read, second) = self.database.begin_two_reads().await?;
        let split = second.is_some();
        let policy = self.policy_in(&mut read).await?.1;
        let in_one = service_facts(&mut read, &policy, view, clock.now()).await?;
        let for_report =
            service_facts_for_report(&mut read, second, &policy, view, clock.now()).await?;
        Ok((in_one, for_report, split))
    }
}
