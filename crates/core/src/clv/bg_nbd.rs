//! The BG/NBD purchase model: likelihood, maximum-likelihood fit, P(alive) and expected purchases.
//!
//! Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
//! Pareto/NBD model", Marketing Science 24(2). Equation numbers below refer to that paper.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::optimise::{self, Evaluation, IDENTIFIED_LIMIT};
use super::special::{
    hypergeometric_2f1, interpolate_across_singularity, ln_beta, ln_gamma,
    ln_hypergeometric_2f1_positive, ln_rising_and_derivative, log_sum_exp,
};
use super::{ClvError, CustomerSummary, FitReport};

const MODEL: &str = "BG/NBD";

/// BG/NBD parameters: purchase rates λ ~ Gamma(shape r, rate α) per period, dropout
/// probabilities p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BgNbdParameters {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbdParameters {
    /// Every parameter must be finite and positive.
    pub fn validate(&self) -> Result<(), ClvError> {
        for (name, value) in [
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ClvError::InvalidParameter { name, value });
            }
        }
        Ok(())
    }
}

/// One customer's log-likelihood (eq. 6), written with ln Γ and ln B as in the paper and
/// combined by log-sum-exp so long histories neither overflow nor underflow.
pub fn bg_nbd_log_likelihood(
    parameters: &BgNbdParameters,
    summary: &CustomerSummary,
) -> Result<f64, ClvError> {
    parameters.validate()?;
    summary.validate(0)?;
    let BgNbdParameters { r, alpha, a, b } = *parameters;
    let frequency = f64::from(summary.frequency);
    let shared = ln_gamma(r + frequency) - ln_gamma(r) + r * alpha.ln() - ln_beta(a, b);
    let still_alive =
        ln_beta(a, b + frequency) - (r + frequency) * (alpha + summary.age).ln() + shared;
    if summary.frequency == 0 {
        return Ok(still_alive);
    }
    let dropped_after_last = ln_beta(a + 1.0, b + frequency - 1.0)
        - (r + frequency) * (alpha + summary.recency).ln()
        + shared;
    Ok(log_sum_exp(still_alive, dropped_after_last))
}

/// Sum of [`bg_nbd_log_likelihood`] over customers.
pub fn bg_nbd_total_log_likelihood(
    parameters: &BgNbdParameters,
    summaries: &[CustomerSummary],
) -> Result<f64, ClvError> {
    parameters.validate()?;
    let data = FitData::new(summaries.iter().enumerate())?;
    Ok(data.log_likelihood_and_gradient(parameters).0)
}

/// Customers with the same number of repeat purchases share every ln Γ and ψ term.
struct FrequencyGroup {
    frequency: f64,
    customers: f64,
}

struct RepeatCustomer {
    group: usize,
    frequency: f64,
    recency: f64,
    age: f64,
}

/// Summaries rearranged for fast likelihood evaluation: per-frequency groups, repeat
/// customers with their group, and one-time customers (whose likelihood needs only their age).
struct FitData {
    groups: Vec<FrequencyGroup>,
    repeat_customers: Vec<RepeatCustomer>,
    one_time_ages: Vec<f64>,
}

impl FitData {
    fn new<'a>(
        summaries: impl Iterator<Item = (usize, &'a CustomerSummary)>,
    ) -> Result<Self, ClvError> {
        let mut group_of_frequency: BTreeMap<u32, usize> = BTreeMap::new();
        let mut data = FitData {
            groups: Vec::new(),
            repeat_customers: Vec::new(),
            one_time_ages: Vec::new(),
        };
        for (index, summary) in summaries {
            summary.validate(index)?;
            if summary.frequency == 0 {
                data.one_time_ages.push(summary.age);
                continue;
            }
            let next_group = data.groups.len();
            let group = *group_of_frequency
                .entry(summary.frequency)
                .or_insert(next_group);
            if group == next_group {
                data.groups.push(FrequencyGroup {
                    frequency: f64::from(summary.frequency),
                    customers: 0.0,
                });
            }
            data.groups[group].customers += 1.0;
            data.repeat_customers.push(RepeatCustomer {
                group,
                frequency: f64::from(summary.frequency),
                recency: summary.recency,
                age: summary.age,
            });
        }
        Ok(data)
    }

    fn customers(&self) -> usize {
        self.repeat_customers.len() + self.one_time_ages.len()
    }

    /// Total log-likelihood and its gradient in (r, α, a, b).
    ///
    /// Per customer, eq. 6 factors as
    /// ln L = [ln Γ(r+x) − ln Γ(r) + ln B(a, b+x) − ln B(a, b)] + r ln α
    ///      + ln(e^{−(r+x) ln(α+T)} + [x>0] a/(b+x−1) · e^{−(r+x) ln(α+t_x)}),
    /// using B(a+1, b+x−1) = B(a, b+x) · a/(b+x−1). The bracket depends only on x, so it is
    /// computed once per frequency group; each customer costs two logarithms and one exp.
    fn log_likelihood_and_gradient(&self, parameters: &BgNbdParameters) -> (f64, [f64; 4]) {
        let BgNbdParameters { r, alpha, a, b } = *parameters;
        let customers = self.customers() as f64;
        let ln_alpha = alpha.ln();
        let mut total = customers * r * ln_alpha;
        let mut gradient_r = customers * ln_alpha;
        let mut gradient_alpha = customers * r / alpha;
        let mut gradient_a = 0.0;
        let mut gradient_b = 0.0;

        for &age in &self.one_time_ages {
            let shifted_age = alpha + age;
            let ln_shifted_age = shifted_age.ln();
            total -= r * ln_shifted_age;
            gradient_r -= ln_shifted_age;
            gradient_alpha -= r / shifted_age;
        }

        let ln_a = a.ln();
        let mut dropout_offsets = Vec::with_capacity(self.groups.len());
        for group in &self.groups {
            let x = group.frequency;
            let count = group.customers;
            // Rising factorials, exact for whole x even where a and b are in the millions.
            let steps = x as u32;
            let (rising_r, derivative_r) = ln_rising_and_derivative(r, steps);
            let (rising_b, derivative_b) = ln_rising_and_derivative(b, steps);
            let (rising_a_b, derivative_a_b) = ln_rising_and_derivative(a + b, steps);
            total += count * (rising_r + rising_b - rising_a_b);
            gradient_r += count * derivative_r;
            gradient_a -= count * derivative_a_b;
            gradient_b += count * (derivative_b - derivative_a_b);
            dropout_offsets.push(ln_a - (b + x - 1.0).ln());
        }

        let mut dropout_weights = vec![0.0; self.groups.len()];
        for customer in &self.repeat_customers {
            let exponent = r + customer.frequency;
            let shifted_age = alpha + customer.age;
            let shifted_recency = alpha + customer.recency;
            let ln_shifted_age = shifted_age.ln();
            let ln_shifted_recency = shifted_recency.ln();
            let alive_term = -exponent * ln_shifted_age;
            let dropped_term = dropout_offsets[customer.group] - exponent * ln_shifted_recency;
            // Share of the likelihood from "dropped out after the last purchase"; the same
            // exp serves the log-sum-exp and the gradient weights.
            let (combined, dropped_share) = if dropped_term >= alive_term {
                let ratio = (alive_term - dropped_term).exp();
                (dropped_term + ratio.ln_1p(), 1.0 / (1.0 + ratio))
            } else {
                let ratio = (dropped_term - alive_term).exp();
                (alive_term + ratio.ln_1p(), ratio / (1.0 + ratio))
            };
            let alive_share = 1.0 - dropped_share;
            total += combined;
            gradient_r -= alive_share * ln_shifted_age + dropped_share * ln_shifted_recency;
            gradient_alpha -=
                exponent * (alive_share / shifted_age + dropped_share / shifted_recency);
            dropout_weights[customer.group] += dropped_share;
        }
        for (group, weight) in self.groups.iter().zip(&dropout_weights) {
            gradient_a += weight / a;
            gradient_b -= weight / (b + group.frequency - 1.0);
        }
        (total, [gradient_r, gradient_alpha, gradient_a, gradient_b])
    }

    /// Mean negative log-likelihood over log-parameters, the quantity the optimiser minimises.
    fn objective(&self, log_parameters: &[f64; 4]) -> Evaluation<4> {
        if !optimise::within_limits(log_parameters) {
            return None;
        }
        let parameters = from_log(log_parameters);
        let (total, gradient) = self.log_likelihood_and_gradient(&parameters);
        let customers = self.customers() as f64;
        let natural = [parameters.r, parameters.alpha, parameters.a, parameters.b];
        let mut log_gradient = [0.0; 4];
        for index in 0..4 {
            // d/d ln θ = θ · d/dθ.
            log_gradient[index] = -gradient[index] * natural[index] / customers;
        }
        let value = -total / customers;
        (value.is_finite() && log_gradient.iter().all(|g| g.is_finite()))
            .then_some((value, log_gradient))
    }
}

fn from_log(log_parameters: &[f64; 4]) -> BgNbdParameters {
    BgNbdParameters {
        r: log_parameters[0].exp(),
        alpha: log_parameters[1].exp(),
        a: log_parameters[2].exp(),
        b: log_parameters[3].exp(),
    }
}

/// Above this many customers, a fit first runs on an evenly strided subsample of about
/// `WARM_START_SAMPLE` and starts the full fit from its parameters and curvature: the full
/// data then needs only a few BFGS steps.
const WARM_START_ABOVE: usize = 200_000;
const WARM_START_SAMPLE: usize = 100_000;

/// Fits BG/NBD by maximum likelihood on all customers (including those without repeat
/// purchases, who carry the information about how rarely people buy).
///
/// Errors when there are no customers, a summary is invalid, nobody made a repeat purchase
/// (the likelihood then has no interior maximum), or a parameter runs off to 0 or infinity.
pub fn fit_bg_nbd(summaries: &[CustomerSummary]) -> Result<FitReport<BgNbdParameters>, ClvError> {
    if summaries.is_empty() {
        return Err(ClvError::NoCustomers);
    }
    let data = FitData::new(summaries.iter().enumerate())?;
    if data.repeat_customers.is_empty() {
        return Err(ClvError::NoRepeatCustomers { model: MODEL });
    }
    let start = starting_point(&data);
    let mut iterations = 0;
    let mut warm_start = (start, None);
    if summaries.len() > WARM_START_ABOVE {
        let stride = summaries.len().div_ceil(WARM_START_SAMPLE);
        let sample = FitData::new(summaries.iter().enumerate().step_by(stride))?;
        if !sample.repeat_customers.is_empty() {
            let mut sample_objective = |point: &[f64; 4]| sample.objective(point);
            if let Some(minimum) = optimise::minimise(&mut sample_objective, start, None) {
                iterations += minimum.iterations;
                warm_start = (minimum.point, Some(minimum.inverse_hessian));
            }
        }
    }
    let mut objective = |point: &[f64; 4]| data.objective(point);
    let minimum = optimise::minimise(&mut objective, warm_start.0, warm_start.1)
        .ok_or(ClvError::NonFiniteLikelihood { model: MODEL })?;
    let settled = minimum.converged
        && minimum
            .point
            .iter()
            .all(|value| value.abs() <= IDENTIFIED_LIMIT);
    let on_homogeneous_ridge =
        minimum.point[2] > RIDGE_LOG_PARAMETER && minimum.point[3] > RIDGE_LOG_PARAMETER;
    if !settled && on_homogeneous_ridge {
        return fit_homogeneous_dropout(&data, &minimum.point, iterations + minimum.iterations);
    }
    for (name, &value) in ["r", "alpha", "a", "b"].iter().zip(&minimum.point) {
        if value.abs() > IDENTIFIED_LIMIT {
            return Err(ClvError::NotIdentified {
                model: MODEL,
                name,
                value: value.exp(),
            });
        }
    }
    Ok(FitReport {
        parameters: from_log(&minimum.point),
        log_likelihood: -minimum.value * data.customers() as f64,
        iterations: iterations + minimum.iterations,
        converged: minimum.converged,
        customers_used: data.customers(),
        homogeneous_dropout: false,
    })
}

/// a + b of a fit held at the homogeneous-dropout edge. The spread of dropout probabilities is
/// then sd(p) = sqrt(μ(1−μ)/(a+b+1)) < 0.0005: the same p for everyone, to any precision a
/// forecast needs, while every term stays finite.
pub const HOMOGENEOUS_DROPOUT_CONCENTRATION: f64 = 1e6;

/// Both ln a and ln b beyond this when a fit fails to settle: it was walking the ridge along
/// which a and b grow together with a/(a+b) fixed.
const RIDGE_LOG_PARAMETER: f64 = 8.0;

/// Small or uniform data can put the BG/NBD optimum at a, b → ∞ with a/(a+b) = μ fixed: every
/// customer drops out with the same probability μ after each purchase. The likelihood keeps
/// rising along that ridge, so the four-parameter fit never settles (and where it stops
/// changes from one month to the next). Here the ridge's limit is fitted instead: r, α and μ
/// by maximum likelihood with a + b held at [`HOMOGENEOUS_DROPOUT_CONCENTRATION`].
fn fit_homogeneous_dropout(
    data: &FitData,
    ridge_point: &[f64; 4],
    iterations_before: usize,
) -> Result<FitReport<BgNbdParameters>, ClvError> {
    let concentration = HOMOGENEOUS_DROPOUT_CONCENTRATION;
    let to_parameters = |point: &[f64; 3]| {
        let share = 1.0 / (1.0 + (-point[2]).exp());
        BgNbdParameters {
            r: point[0].exp(),
            alpha: point[1].exp(),
            a: share * concentration,
            b: (1.0 - share) * concentration,
        }
    };
    let mut objective = |point: &[f64; 3]| -> Evaluation<3> {
        if !point
            .iter()
            .all(|value| value.abs() <= optimise::LOG_PARAMETER_LIMIT)
        {
            return None;
        }
        let parameters = to_parameters(point);
        if parameters.validate().is_err() {
            return None;
        }
        let (total, gradient) = data.log_likelihood_and_gradient(&parameters);
        let customers = data.customers() as f64;
        let share = parameters.a / concentration;
        // μ = σ(θ): dμ/dθ = μ(1−μ); a = μK and b = (1−μ)K.
        let gradient_share = concentration * (gradient[2] - gradient[3]) * share * (1.0 - share);
        let point_gradient = [
            -gradient[0] * parameters.r / customers,
            -gradient[1] * parameters.alpha / customers,
            -gradient_share / customers,
        ];
        let value = -total / customers;
        (value.is_finite() && point_gradient.iter().all(|g| g.is_finite()))
            .then_some((value, point_gradient))
    };
    let (log_a, log_b) = (ridge_point[2], ridge_point[3]);
    let start = [ridge_point[0], ridge_point[1], log_a - log_b];
    let minimum = optimise::minimise(&mut objective, start, None)
        .ok_or(ClvError::NonFiniteLikelihood { model: MODEL })?;
    if !minimum
        .point
        .iter()
        .all(|value| value.abs() <= IDENTIFIED_LIMIT)
    {
        return Err(ClvError::NotIdentified {
            model: MODEL,
            name: "the dropout share a/(a+b)",
            value: to_parameters(&minimum.point).a / concentration,
        });
    }
    Ok(FitReport {
        parameters: to_parameters(&minimum.point),
        log_likelihood: -minimum.value * data.customers() as f64,
        iterations: iterations_before + minimum.iterations,
        converged: minimum.converged,
        customers_used: data.customers(),
        homogeneous_dropout: true,
    })
}

/// r = 1 with α matching the observed purchase rate (E[λ] = r/α), and a, b giving a mean
/// dropout probability of 1/3: the right scale whatever the period, and near typical fits.
fn starting_point(data: &FitData) -> [f64; 4] {
    let purchases: f64 = data.repeat_customers.iter().map(|c| c.frequency).sum();
    let exposure: f64 = data.one_time_ages.iter().sum::<f64>()
        + data.repeat_customers.iter().map(|c| c.age).sum::<f64>();
    let alpha = if purchases > 0.0 && exposure > 0.0 {
        exposure / purchases
    } else {
        1.0
    };
    [0.0, alpha.ln(), 0.0, 2.0f64.ln()]
}

/// Probability the customer is still active at the end of calibration (eq. 12); 1 without
/// repeat purchases, because BG/NBD customers can only drop out right after a repeat purchase.
/// NaN on invalid parameters or summary.
pub fn p_alive(parameters: &BgNbdParameters, summary: &CustomerSummary) -> f64 {
    if parameters.validate().is_err() || summary.validate(0).is_err() {
        return f64::NAN;
    }
    probability_alive(parameters, summary)
}

fn probability_alive(parameters: &BgNbdParameters, summary: &CustomerSummary) -> f64 {
    if summary.frequency == 0 {
        return 1.0;
    }
    let BgNbdParameters { r, alpha, a, b } = *parameters;
    let frequency = f64::from(summary.frequency);
    // Log-odds of "dropped out after the last purchase" against "still alive".
    let log_odds = a.ln() - (b + frequency - 1.0).ln()
        + (r + frequency) * ((alpha + summary.age).ln() - (alpha + summary.recency).ln());
    1.0 / (1.0 + log_odds.exp())
}

/// Expected number of purchases in the `horizon` periods after the calibration end, given the
/// customer's history (eq. 10). NaN on invalid parameters, summary or horizon.
pub fn expected_purchases(
    parameters: &BgNbdParameters,
    summary: &CustomerSummary,
    horizon: f64,
) -> f64 {
    try_expected_purchases(parameters, summary, horizon).unwrap_or(f64::NAN)
}

/// Expected number of purchases in `horizon` periods for a customer just acquired (eq. 9),
/// the population-level forecast. NaN on invalid parameters or horizon.
pub fn expected_purchases_unconditional(parameters: &BgNbdParameters, horizon: f64) -> f64 {
    let newcomer = CustomerSummary {
        frequency: 0,
        recency: 0.0,
        age: 0.0,
        monetary: 0.0,
    };
    try_expected_purchases(parameters, &newcomer, horizon).unwrap_or(f64::NAN)
}

/// Below e^(−this), (1−z)^(a−1) is too small for the transformed form of eq. 10 to be trusted.
const LN_POWER_FLOOR: f64 = 600.0;

/// Eq. 10 has a removable singularity at a = 1 ((a+b+x−1)/(a−1) times a bracket that
/// vanishes); within this distance of it the value is interpolated from nearby a.
const NEAR_A_ONE: f64 = 5e-4;
const A_INTERPOLATION_STEP: f64 = 1e-3;

pub(crate) fn try_expected_purchases(
    parameters: &BgNbdParameters,
    summary: &CustomerSummary,
    horizon: f64,
) -> Result<f64, ClvError> {
    parameters.validate()?;
    summary.validate(0)?;
    if !(horizon.is_finite() && horizon >= 0.0) {
        return Err(ClvError::InvalidArgument {
            name: "horizon",
            value: horizon,
            reason: "the horizon must be finite and non-negative",
        });
    }
    if horizon == 0.0 {
        return Ok(0.0);
    }
    let offset = parameters.a - 1.0;
    if offset.abs() >= NEAR_A_ONE {
        return conditional_expectation(parameters, summary, horizon);
    }
    interpolate_across_singularity(offset, A_INTERPOLATION_STEP, |node| {
        let shifted = BgNbdParameters {
            a: 1.0 + node,
            ..*parameters
        };
        conditional_expectation(&shifted, summary, horizon)
    })
}

/// Eq. 10 after Euler's transformation 2F1(A,B;C;z) = (1−z)^(C−A−B) 2F1(C−A,C−B;C;z):
///
/// E = P(alive) · (a+b+x−1)/(a−1) · [1 − (1−z)^(a−1) 2F1(a+b−1−r, a−1; a+b+x−1; z)],
/// z = t/(α+T+t).
///
/// The paper's form multiplies (1−z)^(r+x), tiny for frequent buyers, by a 2F1 that grows
/// like (1−z)^(−(r+x)); the transformed 2F1 stays moderate and its series converges quickly
/// when x is large.
fn conditional_expectation(
    parameters: &BgNbdParameters,
    summary: &CustomerSummary,
    horizon: f64,
) -> Result<f64, ClvError> {
    let BgNbdParameters { r, alpha, a, b } = *parameters;
    let frequency = f64::from(summary.frequency);
    let shifted_age = alpha + summary.age;
    let argument = horizon / (shifted_age + horizon);
    let ln_complement = shifted_age.ln() - (shifted_age + horizon).ln();
    let ln_power = (a - 1.0) * ln_complement;
    let transformed = (ln_power > -LN_POWER_FLOOR)
        .then(|| hypergeometric_2f1(a + b - 1.0 - r, a - 1.0, a + b + frequency - 1.0, argument))
        .and_then(Result::ok)
        .filter(|value| value.is_finite() && value.abs() < 1e300);
    let bracket = match transformed {
        Some(hypergeometric) => 1.0 - ln_power.exp() * hypergeometric,
        // Large a and b (dropout nearly the same for everyone, a fit's ridge towards
        // infinity): (1−z)^(a−1) underflows while its 2F1 overflows. The paper's own form,
        // (1−z)^(r+x) 2F1(r+x, b+x; a+b+x−1; z), is then moderate, and with a > 1 every
        // series term is positive, so it is summed in log space.
        None if a > 1.0 => {
            let ln_product = (r + frequency) * ln_complement
                + ln_hypergeometric_2f1_positive(
                    r + frequency,
                    b + frequency,
                    a + b + frequency - 1.0,
                    argument,
                )?;
            -ln_product.exp_m1()
        }
        None => {
            return Err(ClvError::SeriesDidNotConverge {
                a: a + b - 1.0 - r,
                b: a - 1.0,
                c: a + b + frequency - 1.0,
                z: argument,
            })
        }
    };
    let value =
        probability_alive(parameters, summary) * (a + b + frequency - 1.0) / (a - 1.0) * bracket;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ClvError::InvalidArgument {
            name: "horizon",
            value: horizon,
            reason: "the expected number of purchases is not finite",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::synthetic_summaries;
    use crate::clv::GammaGammaParameters;

    const CDNOW: BgNbdParameters = BgNbdParameters {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn summary(frequency: u32, recency: f64, age: f64) -> CustomerSummary {
        CustomerSummary {
            frequency,
            recency,
            age,
            monetary: 0.0,
        }
    }

    fn check(parameters: BgNbdParameters, customer: CustomerSummary, expected: f64) {
        let value = bg_nbd_log_likelihood(&parameters, &customer).expect("valid input");
        assert!(
            (value - expected).abs() < 1e-12 * expected.abs().max(1.0),
            "{parameters:?} {customer:?}: {value} != {expected}"
        );
        let fast = FitData::new([(0, &customer)].into_iter())
            .expect("valid summary")
            .log_likelihood_and_gradient(&parameters)
            .0;
        assert!(
            (fast - expected).abs() < 1e-10 * expected.abs().max(1.0),
            "grouped form {fast} != {expected}"
        );
    }

    #[test]
    fn log_likelihood_matches_hand_computed_values() {
        // Expected values computed once with Python's math.lgamma from eq. 6 written as the
        // plain sum of its two terms (no log-sum-exp, no simplification).
        let other = BgNbdParameters {
            r: 2.0,
            alpha: 3.0,
            a: 1.5,
            b: 0.5,
        };
        check(CDNOW, summary(0, 0.0, 38.86), -0.554_713_276_438_158_5);
        check(CDNOW, summary(2, 30.43, 38.86), -9.458_606_307_066_272);
        check(CDNOW, summary(1, 1.71, 38.86), -4.469_093_275_032_59);
        check(CDNOW, summary(7, 29.43, 35.14), -21.400_277_658_129_333);
        check(other, summary(1, 0.5, 2.0), -1.047_342_901_271_867_8);
        check(other, summary(3, 10.0, 10.0), -9.528_909_921_303_354);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let customers = [
            summary(0, 0.0, 38.86),
            summary(2, 30.43, 38.86),
            summary(1, 1.71, 38.86),
            summary(7, 29.43, 35.14),
            summary(2, 5.0, 20.0),
        ];
        let data = FitData::new(customers.iter().enumerate()).expect("valid summaries");
        let point = [CDNOW.r.ln(), CDNOW.alpha.ln(), CDNOW.a.ln(), CDNOW.b.ln()];
        let (_, gradient) = data.objective(&point).expect("finite");
        for index in 0..4 {
            let step = 1e-6;
            let mut up = point;
            let mut down = point;
            up[index] += step;
            down[index] -= step;
            let numeric = (data.objective(&up).expect("finite").0
                - data.objective(&down).expect("finite").0)
                / (2.0 * step);
            assert!(
                (numeric - gradient[index]).abs() < 1e-7,
                "component {index}: analytic {} numeric {numeric}",
                gradient[index]
            );
        }
    }

    fn check_prediction(customer: CustomerSummary, horizon: f64, alive: f64, purchases: f64) {
        let found_alive = p_alive(&CDNOW, &customer);
        let found_purchases = expected_purchases(&CDNOW, &customer, horizon);
        assert!(
            (found_alive - alive).abs() < 1e-12,
            "{customer:?}: P(alive) {found_alive} != {alive}"
        );
        assert!(
            (found_purchases - purchases).abs() < 1e-9 * purchases.max(1.0),
            "{customer:?} over {horizon}: {found_purchases} != {purchases}"
        );
    }

    #[test]
    fn predictions_match_independent_values() {
        // Expected values computed once with mpmath (30 digits) from eq. 10 and eq. 12 in the
        // paper's own form, without the Euler transformation used here.
        check_prediction(summary(0, 0.0, 38.86), 39.0, 1.0, 0.195_098_052_011_262_64);
        // Customer 1 of the CDNOW sample; the paper quotes 1.226.
        check_prediction(
            summary(2, 30.43, 38.86),
            39.0,
            0.726578570080673,
            1.226_028_174_767_144_4,
        );
        check_prediction(
            summary(7, 29.43, 35.14),
            39.0,
            0.774_523_770_835_715_7,
            4.331_918_639_647_568,
        );
        check_prediction(
            summary(1, 1.71, 38.86),
            520.0,
            0.2121009853773791,
            1.307_418_450_824_355_5,
        );
        check_prediction(
            summary(40, 70.0, 72.0),
            5200.0,
            0.9472761521889483,
            266.455_921_336_649_98,
        );
    }

    #[test]
    fn predictions_stay_finite_where_dropout_is_nearly_homogeneous() {
        // Fits on small or uniform data run along a ridge towards large a and b (everyone
        // drops out with nearly the same probability). There (1−z)^(a−1) underflows and its
        // 2F1 overflows; the log-space form must still give eq. 10. mpmath, 50 digits.
        let check = |parameters: BgNbdParameters,
                     customer: CustomerSummary,
                     horizon: f64,
                     expected: f64| {
            let value = expected_purchases(&parameters, &customer, horizon);
            assert!(
                (value - expected).abs() < 1e-9 * expected,
                "{parameters:?} {customer:?} t={horizon}: {value} != {expected}"
            );
        };
        let ridge = |r: f64, alpha: f64, a: f64, b: f64| BgNbdParameters { r, alpha, a, b };
        check(
            ridge(0.5, 6.0, 4.6e6, 3.5e7),
            summary(5, 30.0, 40.0),
            13.0,
            0.930_399_160_568_244_7,
        );
        check(
            ridge(0.5, 6.0, 5.54e5, 1.1e7),
            summary(5, 30.0, 40.0),
            13.0,
            1.246_439_614_238_404_4,
        );
        check(
            ridge(0.5, 6.0, 5.54e5, 1.1e7),
            summary(0, 0.0, 40.0),
            13.0,
            0.139_884_290_989_084_29,
        );
        check(
            ridge(0.3, 4.0, 2.95e7, 1.86e8),
            summary(40, 50.0, 52.0),
            52.0,
            4.295_930_524_194_74,
        );
        check(
            ridge(0.3, 4.0, 2.95e7, 1.86e8),
            summary(1, 2.0, 52.0),
            52.0,
            0.270_323_698_225_835_6,
        );
        // And the ordinary case still takes the fast form, with the paper's 1.226.
        check(
            CDNOW,
            summary(2, 30.43, 38.86),
            39.0,
            1.226_028_174_767_144_4,
        );
    }

    #[test]
    fn unconditional_expectation_and_the_a_equal_one_case_are_smooth() {
        // mpmath reference for eq. 9 at t = 39 weeks with the CDNOW parameters.
        let population = expected_purchases_unconditional(&CDNOW, 39.0);
        assert!(
            (population - 1.196723193320817).abs() < 1e-10,
            "E[X(39)] = {population}"
        );
        // Around a = 1, where eq. 10 is 0/0 and the value is interpolated: mpmath values of
        // the paper's form (the a = 1 one as the limit, at a = 1 + 1e-40 with 60 digits).
        let customer = summary(3, 20.0, 30.0);
        for (a, expected) in [
            (1.0, 2.028_396_667_105_684_5),
            (1.0003, 2.027971174459575),
            (0.9996, 2.028964208744282),
        ] {
            let value = expected_purchases(&BgNbdParameters { a, ..CDNOW }, &customer, 52.0);
            assert!(
                (value - expected).abs() < 1e-10,
                "a = {a}: {value} != {expected}"
            );
        }
    }

    #[test]
    fn invalid_input_gives_errors_or_nan_not_panics() {
        let invalid = BgNbdParameters { r: -1.0, ..CDNOW };
        let customer = summary(1, 2.0, 5.0);
        assert!(matches!(
            bg_nbd_log_likelihood(&invalid, &customer),
            Err(ClvError::InvalidParameter { name: "r", .. })
        ));
        assert!(p_alive(&invalid, &customer).is_nan());
        assert!(expected_purchases(&CDNOW, &customer, -1.0).is_nan());
        assert_eq!(fit_bg_nbd(&[]), Err(ClvError::NoCustomers));
        assert_eq!(
            fit_bg_nbd(&[summary(0, 0.0, 5.0), summary(0, 0.0, 9.0)]),
            Err(ClvError::NoRepeatCustomers { model: MODEL })
        );
        assert!(matches!(
            fit_bg_nbd(&[summary(1, 6.0, 5.0)]),
            Err(ClvError::InvalidSummary { index: 0, .. })
        ));
    }

    #[test]
    fn fit_recovers_synthetic_parameters() {
        let truth = BgNbdParameters {
            r: 0.8,
            alpha: 5.0,
            a: 0.9,
            b: 3.0,
        };
        let spend = GammaGammaParameters {
            p: 6.0,
            q: 4.0,
            gamma: 15.0,
        };
        let customers =
            synthetic_summaries(7, 20_000, truth, spend, 78.0).expect("valid parameters");
        let fit = fit_bg_nbd(&customers).expect("fit succeeds");
        assert!(fit.converged, "{fit:?}");
        // Tolerances are a few standard errors at 20,000 customers; the dropout parameters
        // are the least well identified, as in the paper.
        let relative = |found: f64, wanted: f64| ((found - wanted) / wanted).abs();
        let found = fit.parameters;
        assert!(relative(found.r, truth.r) < 0.05, "{found:?}");
        assert!(relative(found.alpha, truth.alpha) < 0.05, "{found:?}");
        assert!(relative(found.a, truth.a) < 0.1, "{found:?}");
        assert!(relative(found.b, truth.b) < 0.1, "{found:?}");
        let total = bg_nbd_total_log_likelihood(&found, &customers).expect("valid");
        assert!((total - fit.log_likelihood).abs() < 1e-6 * total.abs());
    }

    #[test]
    fn same_dropout_for_everyone_is_fitted_at_the_ridge_limit() {
        // Every customer drops out with probability 0.2 after each purchase: the likelihood
        // rises forever as a and b grow together, and the fit must still settle, on the
        // limit, with the right dropout share and usable forecasts.
        let truth = BgNbdParameters {
            r: 2.0,
            alpha: 10.0,
            a: 2e7,
            b: 8e7,
        };
        let spend = GammaGammaParameters {
            p: 6.0,
            q: 4.0,
            gamma: 15.0,
        };
        let customers = synthetic_summaries(1, 1_000, truth, spend, 52.0).expect("valid");
        let fit = fit_bg_nbd(&customers).expect("the ridge limit is a fit");
        assert!(fit.converged, "{fit:?}");
        let found = fit.parameters;
        let share = found.a / (found.a + found.b);
        assert!((share - 0.2).abs() < 0.03, "dropout share {share}: {fit:?}");
        assert!((found.r / found.alpha - 0.2).abs() < 0.02, "{fit:?}");
        // This sample's optimum is on the ridge (about half of such samples are).
        assert!(fit.homogeneous_dropout, "{fit:?}");
        assert!((found.a + found.b - HOMOGENEOUS_DROPOUT_CONCENTRATION).abs() < 1e-3);
        for customer in &customers[..200] {
            let expected = expected_purchases(&found, customer, 13.0);
            assert!(
                expected.is_finite() && expected >= 0.0,
                "{customer:?}: {expected}"
            );
            assert!(p_alive(&found, customer).is_finite());
        }
    }
}
