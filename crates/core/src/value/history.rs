//! Purchase history as net purchase days: the one place refunds are folded into purchases.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::money::Money;

/// One UTC day on which a customer bought more than they returned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PurchaseDay {
    pub date: NaiveDate,
    /// Net amount of the day after refunds, always greater than zero.
    pub amount: Money,
}

/// Nets transactions per UTC day and folds refunds back into earlier purchases, exactly (amounts
/// are whole minor units).
///
/// Refund rule: amounts are summed per UTC day. A day whose net is <= 0 is not a purchase day;
/// its negative net reduces the most recent earlier purchase day, and when that day drops to
/// <= 0 it stops being a purchase day and the rest carries further back, day by day. A refund
/// with no earlier purchase left to reduce is ignored. The result is sorted by date and every
/// amount is > 0.
pub fn daily_purchases(transactions: &[(DateTime<Utc>, Money)]) -> Vec<PurchaseDay> {
    let mut net_by_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for (time, amount) in transactions {
        let net = net_by_day.entry(time.date_naive()).or_insert(0);
        *net = net.saturating_add(amount.minor_units());
    }
    // Purchase days kept so far, oldest first; a refund eats from the end of this stack.
    let mut purchase_days: Vec<PurchaseDay> = Vec::with_capacity(net_by_day.len());
    for (date, net) in net_by_day {
        if net > 0 {
            purchase_days.push(PurchaseDay {
                date,
                amount: Money::from_minor_units(net),
            });
            continue;
        }
        let mut refund_left = -net;
        while refund_left > 0 {
            let Some(latest) = purchase_days.last_mut() else {
                break;
            };
            let kept = latest.amount.minor_units();
            if kept > refund_left {
                latest.amount = Money::from_minor_units(kept - refund_left);
                refund_left = 0;
            } else {
                refund_left -= kept;
                purchase_days.pop();
            }
        }
    }
    purchase_days
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, day, hour, 0, 0).unwrap()
    }

    /// Amounts in whole units or tenths, as the cases read best.
    fn check(transactions: &[(DateTime<Utc>, f64)], expected: &[(u32, f64)]) {
        let transactions: Vec<(DateTime<Utc>, Money)> = transactions
            .iter()
            .map(|(at, amount)| {
                (
                    *at,
                    Money::from_minor_units((amount * 100.0).round() as i64),
                )
            })
            .collect();
        let days = daily_purchases(&transactions);
        let actual: Vec<(u32, f64)> = days
            .iter()
            .map(|day| (chrono::Datelike::day(&day.date), day.amount.to_major()))
            .collect();
        assert_eq!(
            actual.len(),
            expected.len(),
            "{transactions:?} -> {actual:?}"
        );
        for ((actual_day, actual_amount), (expected_day, expected_amount)) in
            actual.iter().zip(expected)
        {
            assert_eq!(actual_day, expected_day, "{actual:?}");
            assert!(
                (actual_amount - expected_amount).abs() < 1e-9,
                "{actual:?} vs {expected:?}"
            );
        }
    }

    #[test]
    fn refunds_net_and_carry_back() {
        // Same-day transactions are summed, whatever the order they arrive in.
        check(
            &[(at(2, 9), 30.0), (at(1, 9), 10.0), (at(2, 18), 5.0)],
            &[(1, 10.0), (2, 35.0)],
        );
        // A partial refund on a later day reduces the latest earlier purchase day.
        check(
            &[(at(1, 9), 10.0), (at(2, 9), 30.0), (at(3, 9), -12.0)],
            &[(1, 10.0), (2, 18.0)],
        );
        // A refund larger than the latest purchase day removes it and carries further back.
        check(
            &[(at(1, 9), 10.0), (at(2, 9), 30.0), (at(3, 9), -35.0)],
            &[(1, 5.0)],
        );
        // Exactly cancelling removes the day instead of leaving a zero purchase.
        check(&[(at(1, 9), 10.0), (at(2, 9), -10.0)], &[]);
        // A same-day net of zero or below is not a purchase day (exactly: 0.1 + 0.2 - 0.3 is 0).
        check(&[(at(1, 9), 0.1), (at(1, 10), 0.2), (at(1, 11), -0.3)], &[]);
        check(
            &[(at(1, 9), 20.0), (at(2, 9), 5.0), (at(2, 10), -8.0)],
            &[(1, 17.0)],
        );
        // A refund before any purchase is ignored, not held against later purchases.
        check(&[(at(1, 9), -50.0), (at(2, 9), 20.0)], &[(2, 20.0)]);
        // A refund bigger than all history empties it, and later purchases start fresh.
        check(
            &[(at(1, 9), 10.0), (at(2, 9), -99.0), (at(3, 9), 7.0)],
            &[(3, 7.0)],
        );
        check(&[], &[]);
    }
}
