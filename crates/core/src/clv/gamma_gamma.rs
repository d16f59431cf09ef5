//! The Gamma-Gamma spend model: likelihood, maximum-likelihood fit and expected spend per purchase.
//!
//! Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for customer base
//! analysis", Journal of Marketing Research 42(4), and Fader & Hardie's note "The Gamma-Gamma
//! model of monetary value" (2013). A customer's transactions are worth Gamma(p, ν) each, with
//! ν ~ Gamma(q, γ) across customers; the observed monetary value is the mean of `frequency`
//! repeat transactions, assumed independent of the purchase process.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::optimise::{self, Evaluation, IDENTIFIED_LIMIT};
use super::special::{digamma, ln_gamma};
use super::{ClvError, CustomerSummary, FitReport};

const MODEL: &str = "Gamma-Gamma";

/// Gamma-Gamma parameters: transaction values Gamma(shape p, rate ν), ν ~ Gamma(shape q, rate γ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GammaGammaParameters {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl GammaGammaParameters {
    /// Every parameter must be finite and positive.
    pub fn validate(&self) -> Result<(), ClvError> {
        for (name, value) in [("p", self.p), ("q", self.q), ("gamma", self.gamma)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ClvError::InvalidParameter { name, value });
            }
        }
        Ok(())
    }
}

/// Log-density of a repeat customer's monetary value m̄ given their frequency x:
///
/// ln f = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m̄ + px ln x − (px+q) ln(γ + m̄x).
///
/// Errors for customers without repeat purchases or with a zero monetary value, which the
/// model does not describe.
pub fn gamma_gamma_log_likelihood(
    parameters: &GammaGammaParameters,
    summary: &CustomerSummary,
) -> Result<f64, ClvError> {
    parameters.validate()?;
    summary.validate(0)?;
    if summary.frequency == 0 || summary.monetary <= 0.0 {
        return Err(ClvError::InvalidSummary {
            index: 0,
            reason: "Gamma-Gamma describes repeat customers with a positive monetary value",
        });
    }
    let GammaGammaParameters { p, q, gamma } = *parameters;
    let frequency = f64::from(summary.frequency);
    let shape = p * frequency;
    Ok(ln_gamma(shape + q) - ln_gamma(shape) - ln_gamma(q)
        + q * gamma.ln()
        + (shape - 1.0) * summary.monetary.ln()
        + shape * frequency.ln()
        - (shape + q) * (gamma + summary.monetary * frequency).ln())
}

/// Sum of [`gamma_gamma_log_likelihood`] over the customers the fit would use: repeat
/// customers with a positive monetary value.
pub fn gamma_gamma_total_log_likelihood(
    parameters: &GammaGammaParameters,
    summaries: &[CustomerSummary],
) -> Result<f64, ClvError> {
    parameters.validate()?;
    let data = FitData::new(summaries)?;
    Ok(data.log_likelihood_and_gradient(parameters).0)
}

struct FrequencyGroup {
    frequency: f64,
    customers: f64,
}

struct RepeatCustomer {
    group: usize,
    /// m̄ x: the total of the customer's repeat purchases.
    total_spend: f64,
}

struct FitData {
    groups: Vec<FrequencyGroup>,
    customers: Vec<RepeatCustomer>,
    /// Σ x ln(m̄x) and Σ ln m̄: the data-only parts of the likelihood.
    sum_frequency_ln_total: f64,
    sum_ln_monetary: f64,
    sum_monetary: f64,
}

impl FitData {
    fn new(summaries: &[CustomerSummary]) -> Result<Self, ClvError> {
        let mut group_of_frequency: BTreeMap<u32, usize> = BTreeMap::new();
        let mut data = FitData {
            groups: Vec::new(),
            customers: Vec::new(),
            sum_frequency_ln_total: 0.0,
            sum_ln_monetary: 0.0,
            sum_monetary: 0.0,
        };
        for (index, summary) in summaries.iter().enumerate() {
            summary.validate(index)?;
            // A zero mean of repeat purchases (free orders) has no density under the model.
            if summary.frequency == 0 || summary.monetary == 0.0 {
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
            let frequency = f64::from(summary.frequency);
            let total_spend = summary.monetary * frequency;
            data.sum_frequency_ln_total += frequency * total_spend.ln();
            data.sum_ln_monetary += summary.monetary.ln();
            data.sum_monetary += summary.monetary;
            data.customers.push(RepeatCustomer { group, total_spend });
        }
        if data.customers.is_empty() {
            return Err(ClvError::NoRepeatCustomers { model: MODEL });
        }
        Ok(data)
    }

    /// Total log-likelihood and its gradient in (p, q, γ). Everything but ln(γ + m̄x) depends
    /// on the customer only through x, so it is computed once per frequency group.
    fn log_likelihood_and_gradient(&self, parameters: &GammaGammaParameters) -> (f64, [f64; 3]) {
        let GammaGammaParameters { p, q, gamma } = *parameters;
        let mut log_sums = vec![0.0; self.groups.len()];
        let mut inverse_sums = vec![0.0; self.groups.len()];
        for customer in &self.customers {
            let shifted = gamma + customer.total_spend;
            log_sums[customer.group] += shifted.ln();
            inverse_sums[customer.group] += 1.0 / shifted;
        }
        let (ln_gamma_q, digamma_q, ln_rate) = (ln_gamma(q), digamma(q), gamma.ln());
        let mut total = p * self.sum_frequency_ln_total - self.sum_ln_monetary;
        let mut gradient_p = self.sum_frequency_ln_total;
        let mut gradient_q = 0.0;
        let mut gradient_gamma = 0.0;
        for ((group, log_sum), inverse_sum) in self.groups.iter().zip(&log_sums).zip(&inverse_sums)
        {
            let x = group.frequency;
            let count = group.customers;
            let shape = p * x;
            let digamma_sum = digamma(shape + q);
            total += count * (ln_gamma(shape + q) - ln_gamma(shape) - ln_gamma_q + q * ln_rate)
                - (shape + q) * log_sum;
            gradient_p += count * x * (digamma_sum - digamma(shape)) - x * log_sum;
            gradient_q += count * (digamma_sum - digamma_q + ln_rate) - log_sum;
            gradient_gamma += count * q / gamma - (shape + q) * inverse_sum;
        }
        (total, [gradient_p, gradient_q, gradient_gamma])
    }

    fn objective(&self, log_parameters: &[f64; 3]) -> Evaluation<3> {
        if !optimise::within_limits(log_parameters) {
            return None;
        }
        let parameters = from_log(log_parameters);
        let (total, gradient) = self.log_likelihood_and_gradient(&parameters);
        let customers = self.customers.len() as f64;
        let natural = [parameters.p, parameters.q, parameters.gamma];
        let mut log_gradient = [0.0; 3];
        for index in 0..3 {
            log_gradient[index] = -gradient[index] * natural[index] / customers;
        }
        let value = -total / customers;
        (value.is_finite() && log_gradient.iter().all(|g| g.is_finite()))
            .then_some((value, log_gradient))
    }
}

fn from_log(log_parameters: &[f64; 3]) -> GammaGammaParameters {
    GammaGammaParameters {
        p: log_parameters[0].exp(),
        q: log_parameters[1].exp(),
        gamma: log_parameters[2].exp(),
    }
}

/// Fits Gamma-Gamma by maximum likelihood on the repeat customers with a positive monetary
/// value (`customers_used` in the report); other customers are skipped.
///
/// Errors when there are no such customers, a summary is invalid, or a parameter runs off
/// to 0 or infinity (for example when every customer has the same monetary value).
pub fn fit_gamma_gamma(
    summaries: &[CustomerSummary],
) -> Result<FitReport<GammaGammaParameters>, ClvError> {
    if summaries.is_empty() {
        return Err(ClvError::NoCustomers);
    }
    let data = FitData::new(summaries)?;
    // p = 1, q = 2 and γ matching the mean monetary value (E[m̄] = pγ/(q−1)).
    let mean_spend = data.sum_monetary / data.customers.len() as f64;
    let start = [0.0, 2.0f64.ln(), mean_spend.ln()];
    let mut objective = |point: &[f64; 3]| data.objective(point);
    let minimum = optimise::minimise(&mut objective, start, None)
        .ok_or(ClvError::NonFiniteLikelihood { model: MODEL })?;
    for (name, &value) in ["p", "q", "gamma"].iter().zip(&minimum.point) {
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
        log_likelihood: -minimum.value * data.customers.len() as f64,
        iterations: minimum.iterations,
        converged: minimum.converged,
        homogeneous_dropout: false,
        customers_used: data.customers.len(),
    })
}

/// Expected value of one of the customer's future transactions:
/// (γ + m̄x)p / (px + q − 1), a weighted mean of the population mean pγ/(q−1) and the
/// customer's own m̄ (weight px/(px + q − 1)). Without repeat purchases it is the population
/// mean, +∞ when q ≤ 1 (the spend distribution then has no finite mean). NaN on invalid
/// parameters or summary.
pub fn expected_average_spend(parameters: &GammaGammaParameters, summary: &CustomerSummary) -> f64 {
    if parameters.validate().is_err() || summary.validate(0).is_err() {
        return f64::NAN;
    }
    let GammaGammaParameters { p, q, gamma } = *parameters;
    let frequency = f64::from(summary.frequency);
    let denominator = p * frequency + q - 1.0;
    if denominator <= 0.0 {
        return f64::INFINITY;
    }
    (gamma + summary.monetary * frequency) * p / denominator
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::{synthetic_summaries, BgNbdParameters};

    const HARDIE: GammaGammaParameters = GammaGammaParameters {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    fn repeat(frequency: u32, monetary: f64) -> CustomerSummary {
        CustomerSummary {
            frequency,
            recency: 1.0,
            age: 2.0,
            monetary,
        }
    }

    fn check(parameters: GammaGammaParameters, customer: CustomerSummary, expected: f64) {
        let value = gamma_gamma_log_likelihood(&parameters, &customer).expect("valid input");
        assert!(
            (value - expected).abs() < 1e-12 * expected.abs().max(1.0),
            "{parameters:?} {customer:?}: {value} != {expected}"
        );
        let grouped = gamma_gamma_total_log_likelihood(&parameters, &[customer]).expect("valid");
        assert!((grouped - expected).abs() < 1e-10 * expected.abs().max(1.0));
    }

    #[test]
    fn log_likelihood_matches_hand_computed_values() {
        // Expected values computed once with Python's math.lgamma from the density above.
        let small = GammaGammaParameters {
            p: 0.5,
            q: 2.0,
            gamma: 1.0,
        };
        check(HARDIE, repeat(2, 22.35), -3.551_316_759_731_698);
        check(HARDIE, repeat(1, 11.77), -3.737_709_678_740_831_3);
        check(HARDIE, repeat(5, 100.0), -7.118_999_758_894_688);
        check(small, repeat(3, 0.25), 0.317_871_834_650_559_1);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let customers = [
            repeat(2, 22.35),
            repeat(1, 11.77),
            repeat(5, 100.0),
            repeat(2, 40.0),
        ];
        let data = FitData::new(&customers).expect("valid summaries");
        let point = [HARDIE.p.ln(), HARDIE.q.ln(), HARDIE.gamma.ln()];
        let (_, gradient) = data.objective(&point).expect("finite");
        for index in 0..3 {
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

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let population = 6.25 * 15.44 / 2.74;
        let one_time = CustomerSummary {
            frequency: 0,
            recency: 0.0,
            age: 3.0,
            monetary: 0.0,
        };
        assert!((expected_average_spend(&HARDIE, &one_time) - population).abs() < 1e-12);
        let frequent = repeat(2, 22.35);
        let expected = (15.44 + 2.0 * 22.35) * 6.25 / (12.5 + 2.74);
        assert!((expected_average_spend(&HARDIE, &frequent) - expected).abs() < 1e-12);
        let heavy_tailed = GammaGammaParameters { q: 0.5, ..HARDIE };
        assert_eq!(
            expected_average_spend(&heavy_tailed, &one_time),
            f64::INFINITY
        );
        let invalid = GammaGammaParameters { p: 0.0, ..HARDIE };
        assert!(expected_average_spend(&invalid, &frequent).is_nan());
    }

    #[test]
    fn degenerate_data_are_errors() {
        let one_time = CustomerSummary {
            frequency: 0,
            recency: 0.0,
            age: 3.0,
            monetary: 0.0,
        };
        assert_eq!(fit_gamma_gamma(&[]), Err(ClvError::NoCustomers));
        assert_eq!(
            fit_gamma_gamma(&[one_time, one_time]),
            Err(ClvError::NoRepeatCustomers { model: MODEL })
        );
        assert_eq!(
            fit_gamma_gamma(&[repeat(1, 0.0)]),
            Err(ClvError::NoRepeatCustomers { model: MODEL })
        );
        let identical = vec![repeat(2, 10.0); 50];
        assert!(
            matches!(
                fit_gamma_gamma(&identical),
                Err(ClvError::NotIdentified { .. })
            ),
            "{:?}",
            fit_gamma_gamma(&identical)
        );
        assert!(matches!(
            fit_gamma_gamma(&[repeat(1, f64::NAN)]),
            Err(ClvError::InvalidSummary { index: 0, .. })
        ));
    }

    #[test]
    fn fit_recovers_synthetic_parameters() {
        let purchases = BgNbdParameters {
            r: 0.8,
            alpha: 5.0,
            a: 0.9,
            b: 3.0,
        };
        let truth = GammaGammaParameters {
            p: 6.0,
            q: 4.0,
            gamma: 15.0,
        };
        let customers =
            synthetic_summaries(11, 20_000, purchases, truth, 78.0).expect("valid parameters");
        let fit = fit_gamma_gamma(&customers).expect("fit succeeds");
        assert!(fit.converged, "{fit:?}");
        // p is pinned down by within-customer spread, q and γ (strongly correlated) by the
        // spread between customers; the tolerances are a few standard errors.
        let relative = |found: f64, wanted: f64| ((found - wanted) / wanted).abs();
        let found = fit.parameters;
        assert!(relative(found.p, truth.p) < 0.05, "{found:?}");
        assert!(relative(found.q, truth.q) < 0.1, "{found:?}");
        assert!(relative(found.gamma, truth.gamma) < 0.1, "{found:?}");
        // The population mean pγ/(q−1) is much better determined than q or γ alone.
        let mean = |g: GammaGammaParameters| g.p * g.gamma / (g.q - 1.0);
        assert!(relative(mean(found), mean(truth)) < 0.03, "{found:?}");
    }
}
