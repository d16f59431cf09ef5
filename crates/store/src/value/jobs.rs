//! The scheduled jobs of `tick`: each runs once per period (day or month) however many ticks
//! come and however many processes tick on one database, recorded in `job_runs`.

use allot_core::clock::Clock;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::grading::last_grading_at;
use super::{HealthSummary, ScoreSummary};
use crate::database::{on_backend, sql};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime, WriteTransaction};

/// The monthly re-grade's job name in `job_runs`.
pub const MONTHLY_REGRADE_JOB: &str = "monthly_regrade";
/// The daily job that ends overrides past their last day.
pub const EXPIRE_OVERRIDES_JOB: &str = "expire_overrides";
/// The daily job that recomputes health and opens or closes alerts between re-grades.
pub const REFRESH_HEALTH_JOB: &str = "refresh_health";

/// What `tick` did: each scheduled job that was due.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TickSummary {
    /// RFC 3339 in UTC.
    pub at: String,
    /// `(job, period)` of jobs that ran now.
    pub ran: Vec<(String, String)>,
    /// `(job, period)` of jobs already done for their period.
    pub already_done: Vec<(String, String)>,
    /// Overrides ended by the daily job (their computed tier is back).
    pub overrides_expired: usize,
    pub regrade: Option<ScoreSummary>,
    /// The daily health refresh, when it ran without a re-grade.
    pub health: Option<HealthSummary>,
    /// The daily reclaim: owners warned, customers returned to the pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaim: Option<crate::lifecycle::pool::ReclaimSummary>,
    /// The daily care calendar: tasks planned, closed, re-planned and chased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub care: Option<crate::care::CareSummary>,
    /// The daily baseline check: managers told of their customers that fail one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::service_reports::BaselineAlertSummary>,
    /// The daily skew check: alerts raised and closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew: Option<crate::service_reports::SkewSummary>,
    /// Reps whose performance weight (the `performance` strategy's) changed, when a rule uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_weights: Option<usize>,
    /// The daily overload relief: reps past the threshold and the moves proposed or made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overload: Option<crate::lifecycle::rebalance::OverloadSummary>,
    /// Tickets past their service promises raised to the level due (every tick).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<crate::tickets::escalation::EscalationSummary>,
    /// Runs of later times (`job period`) forgotten by a forced tick back in time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forgotten_runs: Vec<String>,
}

impl Store {
    /// Runs the scheduled jobs that are due as of the clock, each once per period:
    /// `expire_overrides`, `refresh_health`, `reclaim`, `plan_care`, `service_checks` (baseline and skew alerts) and `overload` (relief of reps past the `[rebalance]` threshold) daily, `monthly_regrade` on the first tick of a
    /// calendar month (at the clock's offset); and at every tick `escalate_tickets`. Each job runs in its own transaction, in which
    /// `job_runs` records it under the routing lock, so with several processes on PostgreSQL
    /// exactly one runs each, and a tick stopped part-way leaves whole jobs done or not. A tick into a month
    /// before the last re-grade is refused unless `force`, which also forgets the later runs
    /// (a tick made far in the future by mistake would otherwise block every real one).
    pub async fn tick(&self, clock: Clock, actor: &str, force: bool) -> StoreResult<TickSummary> {
        let mut write = self.begin_write().await?;
        let now = clock.now();
        let period = clock.today().format("%Y-%m").to_string();
        let day = clock.today().to_string();
        let mut summary = TickSummary {
            at: StoredTime(now).text(),
            ..Default::default()
        };
        // Jobs and gradings already run as of a later time: ticking before them would undo
        // newer results with older ones (and close alerts before they opened).
        let later: Vec<(String, String)> = on_backend!(&mut write, |connection, Db| {
            sql!(Db; "SELECT job, period FROM job_runs WHERE at > ", bind(StoredTime(now)),
                " ORDER BY at, job, period")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
        });
        let later_grading = last_grading_at(&mut write).await?.filter(|at| *at > now);
        // A forced tick before a later grading grades again as of its own time, so that
        // grading, not the later one, is what the next ticks compare with.
        let regrade_now = later_grading.is_some();
        if !later.is_empty() || later_grading.is_some() {
            if !force {
                let last = later
                    .last()
                    .map(|(job, period)| format!("{job} for {period}"))
                    .or(later_grading
                        .map(|at| format!("a grading as of {}", StoredTime(at).text())))
                    .unwrap_or_default();
                return Err(StoreError::Refused {
                    message: format!(
                        "{last} already ran after {}; ticking earlier would overwrite newer results (use --force, or force=true in the API, to tick anyway and forget the later runs)",
                        summary.at
                    ),
                    field: Some("at".to_string()),
                });
            }
            on_backend!(&mut write, |connection, Db| {
                sql!(Db; "DELETE FROM job_runs WHERE at > ", bind(StoredTime(now)))
                    .build()
                    .execute(&mut *connection)
                    .await?;
            });
            summary.forgotten_runs = later
                .into_iter()
                .map(|(job, period)| format!("{job} {period}"))
                .collect();
        }
        // Each job commits with its record in `job_runs`: a tick stopped part-way keeps the
        // jobs it finished and the next tick runs the others, and no job reads through the
        // uncommitted writes of another (a million rows of health slowed the reclaim's reads).
        write.commit().await?;
        let mut write = self.begin_write().await?;
        if claim_job(&mut write, EXPIRE_OVERRIDES_JOB, &day, now, &mut summary).await? {
            summary.overrides_expired = self.expire_overrides(&mut write, clock, actor).await?;
        }
        write.commit().await?;
        let mut write = self.begin_write().await?;
        let monthly_due =
            claim_job(&mut write, MONTHLY_REGRADE_JOB, &period, now, &mut summary).await?;
        if monthly_due || regrade_now {
            summary.regrade = Some(self.score_in(&mut write, clock, actor).await?);
        }
        write.commit().await?;
        let mut write = self.begin_write().await?;
        if claim_job(&mut write, REFRESH_HEALTH_JOB, &day, now, &mut summary).await?
            && summary.regrade.is_none()
        {
            // A re-grade in the same tick has just computed health itself.
            let started = std::time::Instant::now();
            summary.health = Some(self.refresh_health_in(&mut write, clock).await?);
            job_done(REFRESH_HEALTH_JOB, started);
        }
        write.commit().await?;
        let mut write = self.begin_write().await?;
        if claim_job(
            &mut write,
            crate::lifecycle::pool::RECLAIM_JOB,
            &day,
            now,
            &mut summary,
        )
        .await?
        {
            let started = std::time::Instant::now();
            let policy = self.policy_in(&mut write).await?.1;
            summary.reclaim =
                Some(crate::lifecycle::pool::reclaim_in(&mut write, &policy, clock, false).await?);
            // Operators (and the benchmark) read the daily job's own time here.
            job_done(crate::lifecycle::pool::RECLAIM_JOB, started);
        }
        write.commit().await?;
        let mut write = self.begin_write().await?;
        if claim_job(
            &mut write,
            crate::care::PLAN_CARE_JOB,
            &day,
            now,
            &mut summary,
        )
        .await?
        {
            let started = std::time::Instant::now();
            let policy = self.policy_in(&mut write).await?.1;
            let webhook = crate::lifecycle::pool::policy_has_webhook(&policy);
            summary.care =
                Some(crate::care::plan_care_in(&mut write, &policy, clock, webhook).await?);
            job_done(crate::care::PLAN_CARE_JOB, started);
        }
        write.commit().await?;
        let mut write = self.begin_write().await?;
        if claim_job(
            &mut write,
            crate::service_reports::SERVICE_CHECKS_JOB,
            &day,
            now,
            &mut summary,
        )
        .await?
        {
            let started = std::time::Instant::now();
            let policy = self.policy_in(&mut write).await?.1;
            let webhook = crate::lifecycle::pool::policy_has_webhook(&policy);
            let checks =
                crate::service_reports::service_checks_in(&mut write, &policy, clock, webhook)
                    .await?;
            summary.baseline = Some(checks.baseline);
            summary.skew = Some(checks.skew);
            summary.performance_weights = checks.performance_weights;
            job_done(crate::service_reports::SERVICE_CHECKS_JOB, started);
        }
        write.commit().await?;
        // The overload relief plans from a snapshot (it reads every customer) before its
        // transaction, and only when its day's run is still to do; the moves change owners
        // only if they still have the owner the plan saw.
        let overload_done: Option<String> = on_backend!(
            &mut self.database.acquire().await?,
            |connection, Db| {
                sql!(Db; "SELECT job FROM job_runs WHERE job = ", bind(crate::lifecycle::rebalance::OVERLOAD_JOB),
                " AND period = ", bind(day.as_str()))
            .build_query_scalar()
            .fetch_optional(&mut *connection)
            .await?
            }
        );
        let overload_plan = if overload_done.is_none() {
            self.overload_plan(clock).await?
        } else {
            None
        };
        let mut write = self.begin_write().await?;
        if claim_job(
            &mut write,
            crate::lifecycle::rebalance::OVERLOAD_JOB,
            &day,
            now,
            &mut summary,
        )
        .await?
        {
            let started = std::time::Instant::now();
            summary.overload = Some(match overload_plan {
                Some(planned) => self.relieve_overload_in(&mut write, planned, clock).await?,
                None => crate::lifecycle::rebalance::OverloadSummary::default(),
            });
            job_done(crate::lifecycle::rebalance::OVERLOAD_JOB, started);
        }
        write.commit().await?;
        // Escalation runs at every tick, not once a period: a ticket breaches at a business
        // minute, and the levels it has reached are stored, so a second tick at one time
        // changes nothing.
        let started = std::time::Instant::now();
        let policy = {
            let mut read = self.database.begin_read().await?;
            self.policy_in(&mut read).await?.1
        };
        let webhook = crate::lifecycle::pool::policy_has_webhook(&policy);
        summary.escalation = Some(
            crate::tickets::escalation::escalate_tickets(self, &policy, clock, webhook).await?,
        );
        job_done(crate::tickets::escalation::ESCALATE_TICKETS_JOB, started);
        Ok(summary)
    }
}

/// Records `job` as done for `period` and says whether it is due; false (and noted as already
/// done) when it ran for this period before.
async fn claim_job(
    write: &mut WriteTransaction,
    job: &str,
    period: &str,
    now: DateTime<Utc>,
    summary: &mut TickSummary,
) -> StoreResult<bool> {
    let inserted = on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "INSERT INTO job_runs (job, period, at) VALUES (", bind(job), ", ", bind(period), ", ",
            bind(StoredTime(now)), ") ON CONFLICT (job, period) DO NOTHING")
        .build()
        .execute(&mut *connection)
        .await?
        .rows_affected()
    });
    let entry = (job.to_string(), period.to_string());
    if inserted == 0 {
        summary.already_done.push(entry);
        return Ok(false);
    }
    summary.ran.push(entry);
    Ok(true)
}

/// Logs a scheduled job's time and records it for `/metrics` (`allot_job_duration_seconds`).
fn job_done(job: &'static str, started: std::time::Instant) {
    let elapsed = started.elapsed();
    tracing::info!(job, ?elapsed, "tick job done");
    metrics::histogram!("allot_job_duration_seconds", "job" => job).record(elapsed.as_secs_f64());
}
