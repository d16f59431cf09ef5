//! Special functions the CLV models need: log-gamma, digamma, log-sum-exp and Gauss's hypergeometric 2F1.

use super::ClvError;

/// ln Γ(x) for x > 0 (ln |Γ(x)| elsewhere).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(e^first + e^second) without overflow or underflow.
/// Below this many steps, ln Γ(base + steps) − ln Γ(base) is summed term by term.
const RISING_SUM_STEPS: u32 = 4_096;

/// ln Γ(base + steps) − ln Γ(base) and ψ(base + steps) − ψ(base), the log rising factorial
/// and its derivative in `base`, for whole `steps` (a purchase count). Summed as Σ ln(base+k)
/// and Σ 1/(base+k): a difference of two ln Γ near 1e7 (a dropout parameter of 1e6) would
/// keep only nine digits, too few for the optimiser to see the slope.
pub(crate) fn ln_rising_and_derivative(base: f64, steps: u32) -> (f64, f64) {
    if steps > RISING_SUM_STEPS {
        let end = base + f64::from(steps);
        return (ln_gamma(end) - ln_gamma(base), digamma(end) - digamma(base));
    }
    let mut logarithm = 0.0;
    let mut derivative = 0.0;
    for step in 0..steps {
        let term = base + f64::from(step);
        logarithm += term.ln();
        derivative += 1.0 / term;
    }
    (logarithm, derivative)
}

pub(crate) fn log_sum_exp(first: f64, second: f64) -> f64 {
    let (larger, smaller) = if first >= second {
        (first, second)
    } else {
        (second, first)
    };
    if larger == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    larger + (smaller - larger).exp().ln_1p()
}

/// ψ(x) = d/dx ln Γ(x) for x > 0; NaN elsewhere (the models only need positive arguments).
pub(crate) fn digamma(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return f64::NAN;
    }
    // ψ(x) = ψ(x + 1) − 1/x moves the argument to where the asymptotic series is accurate to
    // about 1e-15; the series' next term at 10 is 691/32760/10^12 ≈ 2e-14 relative to ln 10.
    let mut shifted = x;
    let mut correction = 0.0;
    while shifted < 10.0 {
        correction -= 1.0 / shifted;
        shifted += 1.0;
    }
    let inverse_square = 1.0 / (shifted * shifted);
    // Bernoulli-number terms B_2k / (2k x^2k) for k = 1..5, in Horner form.
    let series = inverse_square
        * (1.0 / 12.0
            - inverse_square
                * (1.0 / 120.0
                    - inverse_square
                        * (1.0 / 252.0 - inverse_square * (1.0 / 240.0 - inverse_square / 132.0))));
    correction + shifted.ln() - 0.5 / shifted - series
}

/// Past this argument the power series converges too slowly and 2F1 is evaluated through
/// the connection formula in 1 − z instead.
const DIRECT_SERIES_LIMIT: f64 = 0.75;
/// When c − a − b is at least this, the series at z near 1 decays like n^(a+b−c−1) and stays
/// fast, while the connection formula would pit large gamma factors against each other.
const ALGEBRAIC_DECAY_ENOUGH: f64 = 8.0;
/// c − a − b closer than this to an integer makes the connection formula's two terms blow up
/// with opposite signs; the value is then interpolated from nearby non-integer cases.
const NEAR_INTEGER: f64 = 2.5e-4;
const INTERPOLATION_STEP: f64 = 5e-4;
const MAXIMUM_SERIES_TERMS: usize = 200_000;

/// Gauss's hypergeometric function 2F1(a, b; c; z) for real z < 1.
///
/// The power series is used for 0 ≤ z ≤ 0.75 (and beyond when it still decays fast); for
/// z < 0 the Pfaff transformation maps the argument into [0, 1); for z close to 1 the
/// connection formula in 1 − z is used, interpolated in c when c − a − b is close to an
/// integer. Errors when z ≥ 1, c is a non-positive integer, or a series does not converge.
pub fn hypergeometric_2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64, ClvError> {
    for (name, value) in [("a", a), ("b", b), ("c", c), ("z", z)] {
        if !value.is_finite() {
            return Err(ClvError::InvalidArgument {
                name,
                value,
                reason: "2F1 arguments must be finite",
            });
        }
    }
    if z >= 1.0 {
        return Err(ClvError::InvalidArgument {
            name: "z",
            value: z,
            reason: "2F1 is only evaluated for z < 1",
        });
    }
    if is_non_positive_integer(c) {
        return Err(ClvError::InvalidArgument {
            name: "c",
            value: c,
            reason: "2F1 is undefined when c is a non-positive integer",
        });
    }
    let value = if is_non_positive_integer(a) || is_non_positive_integer(b) {
        // A polynomial: the series terminates, so it is exact for any z.
        direct_series(a, b, c, z)?
    } else if z < 0.0 {
        // Pfaff: 2F1(a, b; c; z) = (1 − z)^(−a) 2F1(a, c − b; c; z / (z − 1)).
        let mapped = z / (z - 1.0);
        (1.0 - z).powf(-a) * hypergeometric_on_unit_interval(a, c - b, c, mapped)?
    } else {
        hypergeometric_on_unit_interval(a, b, c, z)?
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ClvError::SeriesDidNotConverge { a, b, c, z })
    }
}

fn is_non_positive_integer(value: f64) -> bool {
    value <= 0.0 && value == value.round()
}

fn hypergeometric_on_unit_interval(a: f64, b: f64, c: f64, z: f64) -> Result<f64, ClvError> {
    if z <= DIRECT_SERIES_LIMIT || c - a - b >= ALGEBRAIC_DECAY_ENOUGH {
        return direct_series(a, b, c, z);
    }
    let excess = c - a - b;
    let nearest_integer = excess.round();
    let offset = excess - nearest_integer;
    if offset.abs() >= NEAR_INTEGER {
        return connection_formula(a, b, c, z);
    }
    interpolate_across_singularity(offset, INTERPOLATION_STEP, |node| {
        connection_formula(a, b, c - offset + node, z)
    })
}

/// Value at `offset` of a function smooth in its argument but evaluated with cancellation
/// near 0, by degree-5 Lagrange interpolation through ±1, ±2, ±3 steps: the interpolation
/// error (~ step⁶ times the sixth derivative) and the cancellation at one step away (~ machine
/// precision / step) are both far below 1e-10 for the steps used here.
pub(crate) fn interpolate_across_singularity(
    offset: f64,
    step: f64,
    mut evaluate: impl FnMut(f64) -> Result<f64, ClvError>,
) -> Result<f64, ClvError> {
    let nodes = [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0].map(|multiple| multiple * step);
    let mut interpolated = 0.0;
    for (index, &node) in nodes.iter().enumerate() {
        let mut weight = 1.0;
        for (other_index, &other) in nodes.iter().enumerate() {
            if other_index != index {
                weight *= (offset - other) / (node - other);
            }
        }
        interpolated += weight * evaluate(node)?;
    }
    Ok(interpolated)
}

/// Σ (a)_n (b)_n / ((c)_n n!) z^n, stopped once the remaining terms are provably negligible.
fn direct_series(a: f64, b: f64, c: f64, z: f64) -> Result<f64, ClvError> {
    let mut sum = 1.0;
    let mut term = 1.0;
    // Terms only settle into geometric decay once n is past every negative parameter.
    let settled_after = (-a).max(-b).max(-c).max(0.0) + 1.0;
    for n in 0..MAXIMUM_SERIES_TERMS {
        let index = n as f64;
        let ratio = (a + index) * (b + index) / ((c + index) * (index + 1.0)) * z;
        term *= ratio;
        sum += term;
        if term == 0.0 {
            return Ok(sum);
        }
        if index > settled_after {
            // From here the ratio tends to |z| monotonically, so the tail is bounded by a
            // geometric series with the larger of the current ratio and |z|.
            let bound = ratio.abs().max(z.abs());
            if bound < 1.0 && term.abs() / (1.0 - bound) <= f64::EPSILON * 0.5 * sum.abs() {
                return Ok(sum);
            }
        }
    }
    Err(ClvError::SeriesDidNotConverge { a, b, c, z })
}

/// ln 2F1(a, b; c; z) for a, b, c > 0 and 0 ≤ z < 1, where every term of the power series is
/// positive: the series is summed in log space, so a value of 1e400 (or 1e-400) is as good
/// as one near 1. Slower than [`hypergeometric_2f1`], for arguments where that overflows.
pub fn ln_hypergeometric_2f1_positive(a: f64, b: f64, c: f64, z: f64) -> Result<f64, ClvError> {
    let valid = [a, b, c]
        .iter()
        .all(|value| value.is_finite() && *value > 0.0)
        && (0.0..1.0).contains(&z);
    if !valid {
        return Err(ClvError::InvalidArgument {
            name: "z",
            value: z,
            reason: "the log-space 2F1 needs a, b, c > 0 and 0 <= z < 1",
        });
    }
    if z == 0.0 {
        return Ok(0.0);
    }
    let ln_z = z.ln();
    // The running sum is kept as largest · scaled, with the largest term's log separate.
    let mut ln_term = 0.0f64;
    let mut ln_largest = 0.0f64;
    let mut scaled_sum = 1.0f64;
    for n in 0..LOG_SERIES_TERMS {
        let index = n as f64;
        let ln_ratio = ((a + index) * (b + index) / ((c + index) * (index + 1.0))).ln() + ln_z;
        ln_term += ln_ratio;
        if ln_term > ln_largest {
            scaled_sum = scaled_sum * (ln_largest - ln_term).exp() + 1.0;
            ln_largest = ln_term;
        } else {
            scaled_sum += (ln_term - ln_largest).exp();
        }
        // Past the peak the ratio falls towards z, so the tail is at most a geometric series.
        let ratio = ln_ratio.exp();
        if ratio < 1.0 {
            let ln_tail_bound = ln_term - (1.0 - ratio.max(z)).ln();
            if ln_tail_bound - ln_largest < (f64::EPSILON * 0.5 * scaled_sum).ln() {
                return Ok(ln_largest + scaled_sum.ln());
            }
        }
    }
    Err(ClvError::SeriesDidNotConverge { a, b, c, z })
}

/// Terms the log-space series may take: it peaks near n ≈ (a + b) z / (1 − z) before decaying.
const LOG_SERIES_TERMS: usize = 2_000_000;

/// ln |Γ(x)| and the sign of Γ(x); the sign is +1 at the poles, where ln |Γ| is +∞.
fn ln_gamma_with_sign(x: f64) -> (f64, f64) {
    let (value, sign) = libm::lgamma_r(x);
    (value, if sign < 0 { -1.0 } else { 1.0 })
}

/// Γ(numerator_1) Γ(numerator_2) / (Γ(denominator_1) Γ(denominator_2)), through logarithms so
/// large arguments neither overflow nor lose the sign; 0 when a denominator is at a pole.
fn gamma_ratio(numerators: [f64; 2], denominators: [f64; 2]) -> f64 {
    let mut logarithm = 0.0;
    let mut sign = 1.0;
    for argument in numerators {
        let (value, value_sign) = ln_gamma_with_sign(argument);
        logarithm += value;
        sign *= value_sign;
    }
    for argument in denominators {
        if is_non_positive_integer(argument) {
            return 0.0;
        }
        let (value, value_sign) = ln_gamma_with_sign(argument);
        logarithm -= value;
        sign *= value_sign;
    }
    sign * logarithm.exp()
}

/// Abramowitz & Stegun 15.3.6, valid when c − a − b is not an integer:
/// 2F1(a,b;c;z) = Γ(c)Γ(c−a−b)/(Γ(c−a)Γ(c−b)) 2F1(a,b;a+b−c+1;1−z)
///              + (1−z)^(c−a−b) Γ(c)Γ(a+b−c)/(Γ(a)Γ(b)) 2F1(c−a,c−b;c−a−b+1;1−z).
fn connection_formula(a: f64, b: f64, c: f64, z: f64) -> Result<f64, ClvError> {
    let complement = 1.0 - z;
    let excess = c - a - b;
    let first_factor = gamma_ratio([c, excess], [c - a, c - b]);
    let second_factor = gamma_ratio([c, -excess], [a, b]);
    let mut value = 0.0;
    if first_factor != 0.0 {
        value += first_factor * direct_series(a, b, 1.0 - excess, complement)?;
    }
    if second_factor != 0.0 {
        value += second_factor
            * complement.powf(excess)
            * direct_series(c - a, c - b, excess + 1.0, complement)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: f64, b: f64, c: f64, z: f64, expected: f64, relative_tolerance: f64) {
        let value = hypergeometric_2f1(a, b, c, z).expect("2F1 evaluates");
        let error = ((value - expected) / expected).abs();
        assert!(
            error <= relative_tolerance,
            "2F1({a}, {b}; {c}; {z}) = {value}, expected {expected} (relative error {error:e})"
        );
    }

    #[test]
    fn hypergeometric_matches_closed_forms() {
        for z in [
            -50.0, -3.0, -0.9, -0.2, 1e-9, 0.1, 0.5, 0.74, 0.76, 0.9, 0.99, 0.999_999,
        ] {
            // 2F1(1, 1; 2; z) = −ln(1 − z)/z: c − a − b = 0 exercises the integer case.
            check(1.0, 1.0, 2.0, z, -(-z).ln_1p() / z, 1e-11);
            // 2F1(a, b; b; z) = (1 − z)^(−a).
            check(0.7, 2.5, 2.5, z, (1.0 - z).powf(-0.7), 1e-11);
            // 2F1(1/2, 1; 3/2; z) = artanh(√z)/√z for z > 0 and arctan(√−z)/√−z for z < 0.
            let expected = if z > 0.0 {
                z.sqrt().atanh() / z.sqrt()
            } else {
                (-z).sqrt().atan() / (-z).sqrt()
            };
            check(0.5, 1.0, 1.5, z, expected, 1e-11);
        }
        // A polynomial: 2F1(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1)).
        check(
            -2.0,
            3.0,
            4.0,
            -5.0,
            1.0 + 7.5 + 3.0 * 4.0 * 25.0 / 20.0,
            1e-14,
        );
    }

    #[test]
    fn hypergeometric_matches_independent_values() {
        // Reference values computed once with mpmath.hyp2f1 at 30 significant digits.
        let cases = [
            (2.0, 3.0, 4.5, 0.95, 23.271_996_848_948_963),
            (0.243, 2.426, 2.219, 0.6, 1.285_024_448_213_930_8),
            (2.243, 4.426, 4.219, 0.92, 428.023_140_349_511_16),
            (1.976, -0.207, 9.219, 0.97, 0.950725084082342),
            (1.976, -0.207, 2.219, 0.999, 0.495_662_639_598_636_66),
            (25.243, 27.426, 26.219, 0.9, 2.705_205_976_719_785_5e26),
            // c − a − b = 0: the complete elliptic integral, 2K(k²)/π.
            (0.5, 0.5, 1.0, 0.9999, 3.814364242073626),
        ];
        for (a, b, c, z, expected) in cases {
            check(a, b, c, z, expected, 1e-10);
        }
    }

    #[test]
    fn hypergeometric_rejects_arguments_outside_its_domain() {
        for (a, b, c, z) in [
            (1.0, 1.0, 2.0, 1.0),
            (1.0, 1.0, -2.0, 0.5),
            (f64::NAN, 1.0, 2.0, 0.5),
        ] {
            assert!(
                matches!(
                    hypergeometric_2f1(a, b, c, z),
                    Err(ClvError::InvalidArgument { .. })
                ),
                "2F1({a}, {b}; {c}; {z}) should be rejected"
            );
        }
    }

    #[test]
    fn digamma_and_log_sum_exp_match_known_values() {
        let euler_gamma = 0.577_215_664_901_532_9;
        let digamma_cases = [
            (1.0, -euler_gamma),
            (0.5, -euler_gamma - 2.0 * std::f64::consts::LN_2),
            (10.0, 2.251_752_589_066_721),
            (0.01, -100.560_885_457_868_67),
        ];
        for (x, expected) in digamma_cases {
            let value = digamma(x);
            assert!((value - expected).abs() < 1e-13, "ψ({x}) = {value}");
        }
        assert!((log_sum_exp(1000.0, 1000.0) - (1000.0 + std::f64::consts::LN_2)).abs() < 1e-12);
        assert_eq!(log_sum_exp(-5.0, f64::NEG_INFINITY), -5.0);
        assert!((ln_beta(2.0, 3.0) - (1.0f64 / 12.0).ln()).abs() < 1e-14);
    }
}
