//! The summary step: one customer's purchase days → frequency, recency, age and monetary value.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::ClvError;

/// The unit recency, age and horizons are measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    Day,
    /// Seven days; day counts become fractional weeks.
    Week,
}

impl Period {
    /// Length of one period in days.
    pub fn days(self) -> f64 {
        match self {
            Period::Day => 1.0,
            Period::Week => 7.0,
        }
    }
}

/// What the models know about one customer at the calibration end (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// Repeat purchase days: purchase days after the first.
    pub frequency: u32,
    /// Time from the first to the last purchase day (t_x), in periods.
    pub recency: f64,
    /// Time from the first purchase day to the calibration end (T), in periods.
    pub age: f64,
    /// Mean amount of the repeat purchase days; 0 when `frequency` is 0.
    pub monetary: f64,
}

impl CustomerSummary {
    /// Checks the summary could have come from real purchases; `index` names it in the error.
    pub fn validate(&self, index: usize) -> Result<(), ClvError> {
        let problem = |reason| Err(ClvError::InvalidSummary { index, reason });
        if !(self.recency.is_finite() && self.recency >= 0.0) {
            return problem("recency must be finite and non-negative");
        }
        if !(self.age.is_finite() && self.age >= self.recency) {
            return problem("age must be finite and at least the recency");
        }
        if !(self.monetary.is_finite() && self.monetary >= 0.0) {
            return problem("monetary value must be finite and non-negative");
        }
        if self.frequency == 0 && self.recency != 0.0 {
            return problem("a customer without repeat purchases has recency 0");
        }
        Ok(())
    }
}

/// Summarises purchase days that are already known to be valid: sorted strictly ascending,
/// one netted entry per day, amounts finite and non-negative.
///
/// `None` when nothing was bought by `calibration_end`, and also when the input breaks those
/// rules; use [`try_summarise_customer`] to learn which rule.
pub fn summarise_customer(
    purchases: &[(NaiveDate, f64)],
    calibration_end: NaiveDate,
    period: Period,
) -> Option<CustomerSummary> {
    try_summarise_customer(purchases, calibration_end, period)
        .ok()
        .flatten()
}

/// Summarises one customer's purchase days as of `calibration_end`, checking the input.
///
/// Days must be strictly ascending (the caller nets several transactions of one day into one
/// entry) and amounts finite and non-negative; a zero amount still counts as a purchase day.
pub fn try_summarise_customer(
    purchases: &[(NaiveDate, f64)],
    calibration_end: NaiveDate,
    period: Period,
) -> Result<Option<CustomerSummary>, ClvError> {
    for (index, &(_, amount)) in purchases.iter().enumerate() {
        if !(amount.is_finite() && amount >= 0.0) {
            return Err(ClvError::InvalidAmount { index, amount });
        }
    }
    for index in 1..purchases.len() {
        if purchases[index].0 <= purchases[index - 1].0 {
            return Err(ClvError::UnsortedPurchases { index });
        }
    }
    let calibrated_count = purchases.partition_point(|&(day, _)| day <= calibration_end);
    let calibrated = &purchases[..calibrated_count];
    let (Some(&(first_day, _)), Some(&(last_day, _))) = (calibrated.first(), calibrated.last())
    else {
        return Ok(None);
    };
    let repeat_days = &calibrated[1..];
    let frequency = u32::try_from(repeat_days.len()).map_err(|_| ClvError::InvalidArgument {
        name: "purchases",
        value: repeat_days.len() as f64,
        reason: "more repeat purchase days than a u32 can count",
    })?;
    let monetary = if repeat_days.is_empty() {
        0.0
    } else {
        repeat_days.iter().map(|&(_, amount)| amount).sum::<f64>() / repeat_days.len() as f64
    };
    let period_days = period.days();
    Ok(Some(CustomerSummary {
        frequency,
        recency: (last_day - first_day).num_days() as f64 / period_days,
        age: (calibration_end - first_day).num_days() as f64 / period_days,
        monetary,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test dates are valid")
    }

    fn check(
        purchases: &[(&str, f64)],
        calibration_end: &str,
        period: Period,
        expected: Result<Option<CustomerSummary>, ClvError>,
    ) {
        let purchases: Vec<(NaiveDate, f64)> = purchases
            .iter()
            .map(|&(text, amount)| (day(text), amount))
            .collect();
        let summary = try_summarise_customer(&purchases, day(calibration_end), period);
        assert_eq!(summary, expected, "{purchases:?} to {calibration_end}");
        assert_eq!(
            summarise_customer(&purchases, day(calibration_end), period),
            expected.ok().flatten()
        );
    }

    fn summary(frequency: u32, recency: f64, age: f64, monetary: f64) -> CustomerSummary {
        CustomerSummary {
            frequency,
            recency,
            age,
            monetary,
        }
    }

    #[test]
    fn summaries_follow_the_repeat_purchase_convention() {
        // CDNOW customer 1 of the sample: the December purchase is after the calibration end.
        check(
            &[
                ("1997-01-01", 29.33),
                ("1997-01-18", 29.73),
                ("1997-08-02", 14.96),
                ("1997-12-12", 26.48),
            ],
            "1997-09-30",
            Period::Week,
            Ok(Some(summary(
                2,
                213.0 / 7.0,
                272.0 / 7.0,
                (29.73 + 14.96) / 2.0,
            ))),
        );
        check(
            &[("2024-03-01", 10.0), ("2024-03-11", 30.0)],
            "2024-03-31",
            Period::Day,
            Ok(Some(summary(1, 10.0, 30.0, 30.0))),
        );
        // One purchase: no repeat spend, so monetary is 0 whatever the first amount.
        check(
            &[("2024-03-01", 99.0)],
            "2024-03-01",
            Period::Day,
            Ok(Some(summary(0, 0.0, 0.0, 0.0))),
        );
        // A free order is still a purchase day.
        check(
            &[("2024-03-01", 0.0), ("2024-03-08", 0.0)],
            "2024-03-15",
            Period::Week,
            Ok(Some(summary(1, 1.0, 2.0, 0.0))),
        );
    }

    #[test]
    fn customers_first_seen_after_calibration_have_no_summary() {
        check(&[("2024-04-01", 5.0)], "2024-03-31", Period::Day, Ok(None));
        check(&[], "2024-03-31", Period::Week, Ok(None));
    }

    #[test]
    fn bad_purchase_lists_are_errors() {
        check(
            &[("2024-03-02", 5.0), ("2024-03-01", 5.0)],
            "2024-03-31",
            Period::Day,
            Err(ClvError::UnsortedPurchases { index: 1 }),
        );
        check(
            &[("2024-03-01", 5.0), ("2024-03-01", 5.0)],
            "2024-03-31",
            Period::Day,
            Err(ClvError::UnsortedPurchases { index: 1 }),
        );
        check(
            &[("2024-03-01", 5.0), ("2024-03-02", -1.0)],
            "2024-03-31",
            Period::Day,
            Err(ClvError::InvalidAmount {
                index: 1,
                amount: -1.0,
            }),
        );
    }

    #[test]
    fn validation_rejects_impossible_summaries() {
        let cases = [
            (summary(0, 0.0, 3.0, 0.0), true),
            (summary(2, 1.0, 3.0, 5.0), true),
            (summary(2, 4.0, 3.0, 5.0), false),
            (summary(0, 1.0, 3.0, 0.0), false),
            (summary(1, f64::NAN, 3.0, 5.0), false),
            (summary(1, 1.0, 3.0, -5.0), false),
        ];
        for (candidate, valid) in cases {
            assert_eq!(candidate.validate(0).is_ok(), valid, "{candidate:?}");
        }
    }
}
