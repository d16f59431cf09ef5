//! Fits the CLV models on the stored purchase history and turns them into per-customer estimates.
//!
//! Pure glue over `allot_core::clv`, kept in the store crate because grading runs here; the
//! CLI's `allot clv fit` uses [`fit_report`] on a file without a database.

use allot_core::clv::{self, CustomerSummary, Period};
use allot_core::value::PurchaseDay;
use chrono::NaiveDate;
use serde::Serialize;

use crate::error::{StoreError, StoreResult};

/// Horizon and discounting of the CLV written by grading runs.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClvSettings {
    /// CLV sums expected spend over this many months.
    pub horizon_months: u32,
    /// Monthly discount rate applied to future spend.
    pub monthly_discount_rate: f64,
    /// `expected_purchases` is over this many weeks.
    pub purchases_horizon_weeks: f64,
    /// Fewer customers with purchases than this and no model is fitted: the estimates
    /// would be noise, and tiers then rest on the other dimensions.
    pub minimum_customers: usize,
    /// Gamma-Gamma needs at least this many customers with repeat purchases.
    pub minimum_repeat_customers: usize,
}

impl Default for ClvSettings {
    fn default() -> Self {
        ClvSettings {
            horizon_months: 12,
            monthly_discount_rate: 0.01,
            purchases_horizon_weeks: 13.0,
            minimum_customers: 30,
            minimum_repeat_customers: 10,
        }
    }
}

/// Fitted BG/NBD parameters with the fit's log-likelihood.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BgNbdFit {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub log_likelihood: f64,
    pub iterations: usize,
    pub converged: bool,
    /// The data put the optimum where every customer drops out with the same probability,
    /// a/(a+b); a + b is then held at 1e6 (see `allot_core::clv::fit_bg_nbd`).
    pub homogeneous_dropout: bool,
}

/// Fitted Gamma-Gamma parameters with the fit's log-likelihood.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GammaGammaFit {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    pub log_likelihood: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// What was fitted, on how many customers; `note` says why something was not.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClvFitReport {
    pub customers: usize,
    pub repeat_customers: usize,
    pub bg_nbd: Option<BgNbdFit>,
    pub gamma_gamma: Option<GammaGammaFit>,
    pub note: Option<String>,
    pub settings: Option<ClvSettings>,
}

/// One customer's model outputs.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClvEstimate {
    pub p_alive: f64,
    /// Expected purchases over `purchases_horizon_weeks`.
    pub expected_purchases: f64,
    /// Expected spend per future purchase.
    pub expected_spend: f64,
    /// Discounted expected spend over `horizon_months`.
    pub clv: f64,
}

fn summaries(
    purchase_days: &[Vec<PurchaseDay>],
    calibration_end: NaiveDate,
    period: Period,
) -> Vec<Option<CustomerSummary>> {
    purchase_days
        .iter()
        .map(|days| {
            let days: Vec<(NaiveDate, f64)> = days
                .iter()
                .map(|day| (day.date, day.amount.to_major()))
                .collect();
            clv::summarise_customer(&days, calibration_end, period)
        })
        .collect()
}

struct Fitted {
    report: ClvFitReport,
    bg_nbd: Option<clv::BgNbdParameters>,
    gamma_gamma: Option<clv::GammaGammaParameters>,
}

fn fit(
    summaries: &[Option<CustomerSummary>],
    minimum_customers: usize,
    minimum_repeat_customers: usize,
) -> Fitted {
    let known: Vec<CustomerSummary> = summaries.iter().flatten().copied().collect();
    let repeat_customers = known.iter().filter(|summary| summary.frequency > 0).count();
    let mut fitted = Fitted {
        report: ClvFitReport {
            customers: known.len(),
            repeat_customers,
            ..Default::default()
        },
        bg_nbd: None,
        gamma_gamma: None,
    };
    if known.len() < minimum_customers || repeat_customers == 0 {
        fitted.report.note = Some(format!(
            "{} customers with purchases ({} repeat); the models need at least {minimum_customers} with some repeat purchases",
            known.len(),
            repeat_customers
        ));
        return fitted;
    }
    let mut notes = Vec::new();
    if known.len() < RELIABLE_CUSTOMERS {
        notes.push(format!(
            "only {} customers with purchases: estimates from fewer than {RELIABLE_CUSTOMERS} are rough",
            known.len()
        ));
    }
    match clv::fit_bg_nbd(&known) {
        Ok(result) => {
            fitted.report.bg_nbd = Some(BgNbdFit {
                r: result.parameters.r,
                alpha: result.parameters.alpha,
                a: result.parameters.a,
                b: result.parameters.b,
                log_likelihood: result.log_likelihood,
                iterations: result.iterations,
                converged: result.converged,
                homogeneous_dropout: result.homogeneous_dropout,
            });
            let dropout = result.parameters.a / (result.parameters.a + result.parameters.b);
            if dropout < 1e-4 {
                // The other edge of the model: nobody drops out. Where exactly the fit stops
                // along it changes no forecast, so it is used, and said.
                notes.push(format!(
                    "BG/NBD: customers practically never drop out (a/(a+b) = {dropout:.1e}); P(alive) is near 1 and forecasts follow purchase rates alone"
                ));
            }
            if result.homogeneous_dropout {
                notes.push(format!(
                    "BG/NBD: every customer drops out with nearly the same probability ({:.3} after each purchase), so a + b is held at 1e6",
                    result.parameters.a / (result.parameters.a + result.parameters.b)
                ));
            }
            // A fit that stopped short of an optimum describes nothing; its predictions
            // would change with the iteration limit.
            if result.converged {
                fitted.bg_nbd = Some(result.parameters);
            } else {
                notes.push(format!(
                    "BG/NBD did not converge in {} iterations, so it is not used: CLV stays unknown",
                    result.iterations
                ));
                fitted.report.note = Some(notes.join("; "));
                return fitted;
            }
        }
        Err(error) => {
            notes.push(format!("BG/NBD not fitted: {error}"));
            fitted.report.note = Some(notes.join("; "));
            return fitted;
        }
    }
    if repeat_customers < minimum_repeat_customers {
        notes.push(format!(
            "{repeat_customers} repeat customers; Gamma-Gamma needs {minimum_repeat_customers}, so spend uses each customer's own average (the average of repeat buyers for one-time buyers)"
        ));
        fitted.report.note = Some(notes.join("; "));
        return fitted;
    }
    match clv::fit_gamma_gamma(&known) {
        Ok(result) => {
            fitted.report.gamma_gamma = Some(GammaGammaFit {
                p: result.parameters.p,
                q: result.parameters.q,
                gamma: result.parameters.gamma,
                log_likelihood: result.log_likelihood,
                iterations: result.iterations,
                converged: result.converged,
            });
            if result.converged {
                fitted.gamma_gamma = Some(result.parameters);
            } else {
                notes.push(format!(
                    "Gamma-Gamma did not converge in {} iterations, so it is not used; spend uses each customer's own average (the average of repeat buyers for one-time buyers)",
                    result.iterations
                ));
            }
        }
        Err(error) => {
            notes.push(format!(
                "Gamma-Gamma not fitted ({error}); spend uses each customer's own average (the average of repeat buyers for one-time buyers)"
            ));
        }
    }
    if !notes.is_empty() {
        fitted.report.note = Some(notes.join("; "));
    }
    fitted
}

/// Below this many customers a fit is reported with a warning: the parameters are whatever
/// a handful of histories allow.
const RELIABLE_CUSTOMERS: usize = 30;

/// Fits both models on every customer's purchase days as of `today` (weeks) and estimates
/// each customer. Customers without purchases, or all of them when no model could be fitted,
/// get `None`.
pub fn estimate(
    purchase_days: &[Vec<PurchaseDay>],
    today: NaiveDate,
    settings: &ClvSettings,
) -> (ClvFitReport, Vec<Option<ClvEstimate>>) {
    let period = Period::Week;
    let summaries = summaries(purchase_days, today, period);
    let mut fitted = fit(
        &summaries,
        settings.minimum_customers,
        settings.minimum_repeat_customers,
    );
    fitted.report.settings = Some(*settings);
    let Some(bg_nbd) = fitted.bg_nbd else {
        return (fitted.report, vec![None; summaries.len()]);
    };
    // Without a spend model, a customer's own average of repeat purchases is the best guess;
    // one-time buyers have none, so they get the average of those who bought again.
    let repeat_spend: Vec<f64> = summaries
        .iter()
        .flatten()
        .filter(|summary| summary.frequency > 0)
        .map(|summary| summary.monetary)
        .collect();
    let population_spend = if repeat_spend.is_empty() {
        0.0
    } else {
        repeat_spend.iter().sum::<f64>() / repeat_spend.len() as f64
    };
    let mut infinite_spend = 0;
    let estimates = summaries
        .iter()
        .map(|summary| {
            let summary = summary.as_ref()?;
            let expected_spend = match &fitted.gamma_gamma {
                Some(gamma_gamma) => {
                    let spend = clv::expected_average_spend(gamma_gamma, summary);
                    // With q <= 1 the spend model has no finite mean for a customer without
                    // repeat purchases; the average of those who bought again stands in.
                    if spend.is_finite() {
                        spend
                    } else {
                        infinite_spend += 1;
                        population_spend
                    }
                }
                None if summary.frequency > 0 => summary.monetary,
                None => population_spend,
            };
            Some(ClvEstimate {
                p_alive: clv::p_alive(&bg_nbd, summary),
                expected_purchases: clv::expected_purchases(
                    &bg_nbd,
                    summary,
                    settings.purchases_horizon_weeks,
                ),
                expected_spend,
                clv: clv::customer_lifetime_value_with_spend(
                    &bg_nbd,
                    summary,
                    expected_spend,
                    period,
                    settings.horizon_months,
                    settings.monthly_discount_rate,
                ),
            })
        })
        .collect();
    if infinite_spend > 0 {
        let note = format!(
            "Gamma-Gamma q = {:.3} <= 1 gives {infinite_spend} one-time buyer(s) no finite spend; they get the average of repeat buyers",
            fitted.gamma_gamma.map_or(f64::NAN, |parameters| parameters.q)
        );
        fitted.report.note = Some(match fitted.report.note.take() {
            Some(earlier) => format!("{earlier}; {note}"),
            None => note,
        });
    }
    (fitted.report, estimates)
}

/// `allot clv fit`: fit both models on a file's purchase days and report the parameters.
pub fn fit_report(
    purchase_days: &[Vec<PurchaseDay>],
    calibration_end: NaiveDate,
    period: Period,
) -> StoreResult<ClvFitReport> {
    let summaries = summaries(purchase_days, calibration_end, period);
    let fitted = fit(&summaries, 1, 1);
    if fitted.report.bg_nbd.is_none() {
        return Err(StoreError::Invalid(allot_core::FieldError::new(
            "transactions",
            fitted
                .report
                .note
                .unwrap_or_else(|| "no model could be fitted".to_string()),
        )));
    }
    Ok(fitted.report)
}
