//! Customer lifetime value: expected purchases month by month × expected spend, discounted.

use super::bg_nbd::try_expected_purchases;
use super::gamma_gamma::expected_average_spend;
use super::{BgNbdParameters, ClvError, CustomerSummary, GammaGammaParameters, Period};

/// Mean length of a Gregorian month (365.25 / 12): horizons in months become periods with it.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// Discounted expected spend over the next `horizon_months` months (see the module docs for
/// the formula), with spend per purchase from the Gamma-Gamma model. NaN on invalid input.
pub fn customer_lifetime_value(
    purchases: &BgNbdParameters,
    spend: &GammaGammaParameters,
    summary: &CustomerSummary,
    period: Period,
    horizon_months: u32,
    monthly_discount_rate: f64,
) -> f64 {
    customer_lifetime_value_with_spend(
        purchases,
        summary,
        expected_average_spend(spend, summary),
        period,
        horizon_months,
        monthly_discount_rate,
    )
}

/// [`customer_lifetime_value`] with the expected spend per purchase given directly, for
/// callers without a spend model (for example the customer's own average). NaN when the
/// parameters, summary or spend are invalid or the discount rate is not above −1.
pub fn customer_lifetime_value_with_spend(
    purchases: &BgNbdParameters,
    summary: &CustomerSummary,
    expected_spend: f64,
    period: Period,
    horizon_months: u32,
    monthly_discount_rate: f64,
) -> f64 {
    try_customer_lifetime_value(
        purchases,
        summary,
        expected_spend,
        period,
        horizon_months,
        monthly_discount_rate,
    )
    .unwrap_or(f64::NAN)
}

fn try_customer_lifetime_value(
    purchases: &BgNbdParameters,
    summary: &CustomerSummary,
    expected_spend: f64,
    period: Period,
    horizon_months: u32,
    monthly_discount_rate: f64,
) -> Result<f64, ClvError> {
    if !(monthly_discount_rate.is_finite() && monthly_discount_rate > -1.0) {
        return Err(ClvError::InvalidArgument {
            name: "monthly_discount_rate",
            value: monthly_discount_rate,
            reason: "the discount rate must be finite and above -1",
        });
    }
    if !(expected_spend.is_finite() && expected_spend >= 0.0) {
        return Err(ClvError::InvalidArgument {
            name: "expected_spend",
            value: expected_spend,
            reason: "the expected spend must be finite and non-negative",
        });
    }
    let periods_per_month = DAYS_PER_MONTH / period.days();
    let mut value = 0.0;
    let mut purchases_so_far = 0.0;
    let mut discount = 1.0;
    for month in 1..=horizon_months {
        let purchases_by_month_end =
            try_expected_purchases(purchases, summary, f64::from(month) * periods_per_month)?;
        discount /= 1.0 + monthly_discount_rate;
        value += (purchases_by_month_end - purchases_so_far) * expected_spend * discount;
        purchases_so_far = purchases_by_month_end;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::expected_purchases;

    const PURCHASES: BgNbdParameters = BgNbdParameters {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    const SPEND: GammaGammaParameters = GammaGammaParameters {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    fn check(summary: CustomerSummary, period: Period, months: u32, rate: f64, expected: f64) {
        let value = customer_lifetime_value(&PURCHASES, &SPEND, &summary, period, months, rate);
        assert!(
            (value - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{summary:?} {period:?} {months} months at {rate}: {value} != {expected}"
        );
    }

    #[test]
    fn lifetime_value_is_discounted_expected_spend() {
        let customer = CustomerSummary {
            frequency: 2,
            recency: 30.43,
            age: 38.86,
            monetary: 22.35,
        };
        let spend = expected_average_spend(&SPEND, &customer);
        let weeks_per_month = DAYS_PER_MONTH / 7.0;
        // Undiscounted, the sum telescopes to E[X(H months)] × spend.
        let twelve_months = expected_purchases(&PURCHASES, &customer, 12.0 * weeks_per_month);
        check(customer, Period::Week, 12, 0.0, twelve_months * spend);
        // One month discounted once.
        let one_month = expected_purchases(&PURCHASES, &customer, weeks_per_month);
        check(customer, Period::Week, 1, 0.01, one_month * spend / 1.01);
        check(customer, Period::Week, 0, 0.01, 0.0);
        // The same customer in days: recency and age ×7, α ×7 gives identical predictions.
        let in_days = CustomerSummary {
            recency: customer.recency * 7.0,
            age: customer.age * 7.0,
            ..customer
        };
        let daily = BgNbdParameters {
            alpha: PURCHASES.alpha * 7.0,
            ..PURCHASES
        };
        let weekly_value =
            customer_lifetime_value(&PURCHASES, &SPEND, &customer, Period::Week, 24, 0.01);
        let daily_value = customer_lifetime_value(&daily, &SPEND, &in_days, Period::Day, 24, 0.01);
        assert!((weekly_value - daily_value).abs() < 1e-9 * weekly_value);
        // Discounting can only lower the value.
        let discounted =
            customer_lifetime_value(&PURCHASES, &SPEND, &customer, Period::Week, 24, 0.05);
        assert!(discounted < weekly_value);
    }

    #[test]
    fn invalid_inputs_give_nan() {
        let customer = CustomerSummary {
            frequency: 1,
            recency: 3.0,
            age: 10.0,
            monetary: 20.0,
        };
        let cases = [
            (PURCHASES, 20.0, -1.0),
            (PURCHASES, -5.0, 0.01),
            (PURCHASES, f64::NAN, 0.01),
            (
                BgNbdParameters {
                    b: 0.0,
                    ..PURCHASES
                },
                20.0,
                0.01,
            ),
        ];
        for (parameters, spend, rate) in cases {
            let value = customer_lifetime_value_with_spend(
                &parameters,
                &customer,
                spend,
                Period::Week,
                12,
                rate,
            );
            assert!(value.is_nan(), "{parameters:?} {spend} {rate}: {value}");
        }
    }
}
