//! Validates the CLV models against the published CDNOW estimates (Fader, Hardie & Lee 2005).
//!
//! The fixture is the 2,357-customer CDNOW sample shipped with the `lifetimes` package (see
//! `fixtures/README.md`). Calibration is 1997-01-01 to 1997-09-30 in weeks, as in the papers.

use std::collections::BTreeMap;

use allot_core::clv::{
    bg_nbd_total_log_likelihood, expected_purchases, fit_bg_nbd, fit_gamma_gamma,
    try_summarise_customer, BgNbdParameters, CustomerSummary, GammaGammaParameters, Period,
};
use chrono::NaiveDate;

const SAMPLE: &str = include_str!("fixtures/CDNOW_sample.txt");

fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a valid date")
}

/// Parses the fixture (columns: master-file customer id, sample customer id 1..2357,
/// yyyymmdd, number of CDs, dollar value) and nets each customer's purchases per day.
fn purchase_days_by_customer() -> BTreeMap<u32, Vec<(NaiveDate, f64)>> {
    let mut by_customer: BTreeMap<u32, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for (line_number, line) in SAMPLE.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 5, "line {}: {line:?}", line_number + 1);
        let customer: u32 = fields[1].parse().expect("sample customer id");
        let date = NaiveDate::parse_from_str(fields[2], "%Y%m%d").expect("yyyymmdd date");
        let dollars: f64 = fields[4].parse().expect("dollar value");
        *by_customer
            .entry(customer)
            .or_default()
            .entry(date)
            .or_insert(0.0) += dollars;
    }
    by_customer
        .into_iter()
        .map(|(customer, days)| (customer, days.into_iter().collect()))
        .collect()
}

fn calibration_summaries() -> Vec<CustomerSummary> {
    purchase_days_by_customer()
        .values()
        .map(|days| {
            try_summarise_customer(days, day(1997, 9, 30), Period::Week)
                .expect("fixture purchases are valid")
                .expect("every sample customer first bought in the first quarter of 1997")
        })
        .collect()
}

fn assert_close(name: &str, found: f64, published: f64) {
    let relative = ((found - published) / published).abs();
    assert!(
        relative <= 0.005,
        "{name}: fitted {found}, published {published} ({:.3}% off)",
        relative * 100.0
    );
}

#[test]
fn summaries_match_the_published_calibration_data() {
    let summaries = calibration_summaries();
    assert_eq!(summaries.len(), 2_357);
    let repeat_customers = summaries.iter().filter(|s| s.frequency > 0).count();
    assert_eq!(repeat_customers, 946);
    // Customer 1 as printed by Fader & Hardie: x = 2, t_x = 30.43, T = 38.86, and z̄ = 22.35
    // is the mean of the repeat days ($29.73 and $14.96).
    let first = summaries[0];
    assert_eq!(first.frequency, 2);
    assert!((first.recency - 30.43).abs() < 0.005 && (first.age - 38.86).abs() < 0.005);
    assert!((first.monetary - (29.73 + 14.96) / 2.0).abs() < 1e-9);
    // The sum of x in the summary file that ships beside the sample in `lifetimes`.
    let total_repeats: u32 = summaries.iter().map(|s| s.frequency).sum();
    assert_eq!(total_repeats, 2_457);
}

#[test]
fn bg_nbd_reproduces_the_published_fit() {
    let summaries = calibration_summaries();
    let fit = fit_bg_nbd(&summaries).expect("BG/NBD fits CDNOW");
    println!("CDNOW BG/NBD: {fit:?}");
    assert!(fit.converged);
    assert_eq!(fit.customers_used, 2_357);
    let BgNbdParameters { r, alpha, a, b } = fit.parameters;
    assert_close("r", r, 0.243);
    assert_close("alpha", alpha, 4.414);
    assert_close("a", a, 0.793);
    assert_close("b", b, 2.426);
    // The paper reports a maximised log-likelihood of −9582.4.
    assert!(
        (fit.log_likelihood + 9_582.4).abs() < 0.1,
        "{}",
        fit.log_likelihood
    );
    let total = bg_nbd_total_log_likelihood(&fit.parameters, &summaries).expect("valid");
    assert!((total - fit.log_likelihood).abs() < 1e-6);
    // The paper's worked example: customer 1 expects 1.226 purchases in the next 39 weeks.
    let expected = expected_purchases(&fit.parameters, &summaries[0], 39.0);
    assert!((expected - 1.226).abs() < 0.005, "{expected}");
}

#[test]
fn gamma_gamma_reproduces_the_published_fit() {
    // Monetary value is the mean of a customer's repeat purchase days within calibration
    // (Hardie's z̄, the `lifetimes` convention); that definition gives p = 6.25, q = 3.74,
    // γ = 15.44 on the 946 repeat customers.
    let summaries = calibration_summaries();
    let fit = fit_gamma_gamma(&summaries).expect("Gamma-Gamma fits CDNOW");
    println!("CDNOW Gamma-Gamma: {fit:?}");
    assert!(fit.converged);
    assert_eq!(fit.customers_used, 946);
    let GammaGammaParameters { p, q, gamma } = fit.parameters;
    assert_close("p", p, 6.25);
    assert_close("q", q, 3.74);
    assert_close("gamma", gamma, 15.44);
}
