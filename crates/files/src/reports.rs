//! The service reports as CSV (`--csv`, `Accept: text/csv`): one row per group of the service
//! report, per group of each baseline check's coverage, and per customer of the quadrant.

use allot_core::service::report::{
    CheckCoverage, PerformanceReport, QuadrantReport, ServiceReport, ServiceRow,
};

fn number(value: Option<f64>) -> String {
    value.map(|value| format!("{value:.4}")).unwrap_or_default()
}

fn finish(writer: ::csv::Writer<Vec<u8>>) -> crate::Result<String> {
    let bytes = writer
        .into_inner()
        .map_err(|error| crate::FileError::Format(error.to_string()))?;
    String::from_utf8(bytes).map_err(|error| crate::FileError::Format(error.to_string()))
}

/// `group,key,customers,…`: overall, then each tier, team and rep.
pub fn service_report_csv(report: &ServiceReport) -> crate::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "group",
        "key",
        "customers",
        "customer_share",
        "value",
        "value_share",
        "interactions",
        "minutes",
        "effort_share",
        "first_response_due",
        "first_response_attainment",
        "resolution_due",
        "resolution_attainment",
        "baseline_coverage",
        "median_days_since_follow_up",
    ])?;
    let groups: [(&str, &[ServiceRow]); 4] = [
        ("overall", std::slice::from_ref(&report.overall)),
        ("tier", &report.by_tier),
        ("team", &report.by_team),
        ("rep", &report.by_rep),
    ];
    for (group, rows) in groups {
        for row in rows {
            writer.write_record([
                group.to_string(),
                row.key.clone(),
                row.customers.to_string(),
                number(Some(row.customer_share)),
                number(Some(row.value)),
                number(Some(row.value_share)),
                row.interactions.to_string(),
                number(Some(row.minutes)),
                number(Some(row.effort_share)),
                row.first_response_due.to_string(),
                number(row.first_response_attainment),
                row.resolution_due.to_string(),
                number(row.resolution_attainment),
                number(row.baseline_coverage),
                number(row.median_days_since_follow_up),
            ])?;
        }
    }
    finish(writer)
}

/// `check,name,group,key,applies,passing,coverage`: each check overall, per tier, per team.
pub fn baseline_csv(checks: &[CheckCoverage]) -> crate::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "check", "name", "group", "key", "applies", "passing", "coverage",
    ])?;
    for check in checks {
        let overall = std::iter::once(("overall", "overall".to_string(), check.overall));
        let tiers = check
            .by_tier
            .iter()
            .map(|(key, coverage)| ("tier", key.clone(), *coverage));
        let teams = check
            .by_team
            .iter()
            .map(|(key, coverage)| ("team", key.clone(), *coverage));
        for (group, key, coverage) in overall.chain(tiers).chain(teams) {
            writer.write_record([
                check.check.clone(),
                check.name.clone(),
                group.to_string(),
                key,
                coverage.applies.to_string(),
                coverage.passing.to_string(),
                number(Some(coverage.coverage)),
            ])?;
        }
    }
    finish(writer)
}

/// `customer_id,owner_id,value,minutes,quadrant`: every customer of the matrix.
pub fn quadrant_csv(report: &QuadrantReport) -> crate::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record(["customer_id", "owner_id", "value", "minutes", "quadrant"])?;
    for point in &report.points {
        let quadrant = match (
            point.value > report.value_threshold,
            point.minutes > report.minutes_threshold,
        ) {
            (true, false) => "high_value_low_service",
            (true, true) => "high_value_high_service",
            (false, true) => "low_value_high_service",
            (false, false) => "low_value_low_service",
        };
        writer.write_record([
            point.customer_id.clone(),
            point.owner_id.clone().unwrap_or_default(),
            number(Some(point.value)),
            number(Some(point.minutes)),
            quadrant.to_string(),
        ])?;
    }
    finish(writer)
}

/// `rep_id,customers,revenue,…`: one row per rep, best score first.
pub fn performance_csv(report: &PerformanceReport) -> crate::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "rep_id",
        "customers",
        "revenue",
        "new_customers_won",
        "first_response_attainment",
        "mean_rating",
        "follow_up_rate",
        "score",
    ])?;
    for rep in &report.reps {
        writer.write_record([
            rep.rep_id.clone(),
            rep.customers.to_string(),
            format!("{:.2}", rep.revenue),
            rep.new_customers_won.to_string(),
            number(rep.first_response_attainment),
            number(rep.mean_rating),
            number(Some(rep.follow_up_rate)),
            number(Some(rep.score)),
        ])?;
    }
    finish(writer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use allot_core::service::report::{quadrant_report, ServiceFacts};

    #[test]
    fn the_quadrant_csv_has_a_row_per_customer() {
        let facts = |id: &str, value: f64, minutes: f64| ServiceFacts {
            customer_id: id.to_string(),
            value,
            minutes,
            ..Default::default()
        };
        let report = quadrant_report(
            &[facts("c1", 90.0, 0.0), facts("c2", 10.0, 60.0)],
            Some(50.0),
            Some(30.0),
            90,
        );
        let text = quadrant_csv(&report).unwrap();
        assert_eq!(
            text,
            "customer_id,owner_id,value,minutes,quadrant\nc1,,90.0000,0.0000,high_value_low_service\nc2,,10.0000,60.0000,low_value_high_service\n"
        );
    }
}
