//! Synthetic customers drawn from the BG/NBD and Gamma-Gamma models themselves, for tests and benchmarks.
//!
//! A seeded xoshiro256** generator (seeded through SplitMix64) keeps the output identical for
//! a seed on every platform, and the crate free of a `rand` dependency.

use super::{BgNbdParameters, ClvError, CustomerSummary, GammaGammaParameters};

/// xoshiro256** (Blackman & Vigna): fast, small state, good statistical quality.
struct Xoshiro256StarStar {
    state: [u64; 4],
}

impl Xoshiro256StarStar {
    fn seeded(seed: u64) -> Self {
        // SplitMix64 spreads any seed, even 0, over the four state words.
        let mut mixer = seed;
        let mut next_mixed = || {
            mixer = mixer.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut value = mixer;
            value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            value ^ (value >> 31)
        };
        Xoshiro256StarStar {
            state: [next_mixed(), next_mixed(), next_mixed(), next_mixed()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let result = self.state[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let shifted = self.state[1] << 17;
        self.state[2] ^= self.state[0];
        self.state[3] ^= self.state[1];
        self.state[1] ^= self.state[2];
        self.state[0] ^= self.state[3];
        self.state[2] ^= shifted;
        self.state[3] = self.state[3].rotate_left(45);
        result
    }

    /// Uniform on the open interval (0, 1), so its logarithm is always finite.
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    fn standard_normal(&mut self) -> f64 {
        // Box–Muller; the second value of each pair is dropped to keep the state simple.
        let radius = (-2.0 * self.uniform().ln()).sqrt();
        radius * (std::f64::consts::TAU * self.uniform()).cos()
    }

    fn exponential(&mut self) -> f64 {
        -self.uniform().ln()
    }

    /// ln of a Gamma(shape, 1) draw. Logarithms keep tiny shapes (whose draws underflow) usable
    /// for Beta draws.
    fn ln_gamma_variate(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            // Gamma(k) = Gamma(k + 1) · U^(1/k) (Marsaglia & Tsang's boost for k < 1).
            return self.ln_gamma_variate(shape + 1.0) + self.uniform().ln() / shape;
        }
        // Marsaglia & Tsang (2000): a squeezed rejection sampler from a transformed normal.
        let shifted = shape - 1.0 / 3.0;
        let scale = 1.0 / (9.0 * shifted).sqrt();
        loop {
            let normal = self.standard_normal();
            let base = 1.0 + scale * normal;
            if base <= 0.0 {
                continue;
            }
            let cube = base * base * base;
            let ln_uniform = self.uniform().ln();
            if ln_uniform < 0.5 * normal * normal + shifted - shifted * cube + shifted * cube.ln() {
                return (shifted * cube).ln();
            }
        }
    }

    /// A Gamma(shape, rate) draw.
    fn gamma(&mut self, shape: f64, rate: f64) -> f64 {
        self.ln_gamma_variate(shape).exp() / rate
    }

    /// A Beta(a, b) draw as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b), in logarithms.
    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let ln_first = self.ln_gamma_variate(a);
        let ln_second = self.ln_gamma_variate(b);
        1.0 / (1.0 + (ln_second - ln_first).exp())
    }
}

/// `customers` synthetic summaries drawn from the generative models, identical for a seed.
///
/// Each customer gets an age uniform in [age/2, age] (first purchases spread over time, as in
/// a real customer base), a purchase rate λ ~ Gamma(r, α) and a dropout probability
/// p ~ Beta(a, b); purchases then follow a Poisson process, and after each repeat purchase the
/// customer leaves with probability p. Each repeat transaction is worth Gamma(p_gg, ν) with
/// ν ~ Gamma(q, γ) per customer, and monetary is their mean. Errors on invalid parameters or
/// age. Cost grows with the number of purchases drawn.
pub fn synthetic_summaries(
    seed: u64,
    customers: usize,
    purchases: BgNbdParameters,
    spend: GammaGammaParameters,
    age_periods: f64,
) -> Result<Vec<CustomerSummary>, ClvError> {
    purchases.validate()?;
    spend.validate()?;
    if !(age_periods.is_finite() && age_periods > 0.0) {
        return Err(ClvError::InvalidArgument {
            name: "age_periods",
            value: age_periods,
            reason: "the age must be finite and positive",
        });
    }
    let mut random = Xoshiro256StarStar::seeded(seed);
    let mut summaries = Vec::with_capacity(customers);
    for _ in 0..customers {
        let age = age_periods * (0.5 + 0.5 * random.uniform());
        let rate = random.gamma(purchases.r, purchases.alpha);
        let dropout = random.beta(purchases.a, purchases.b);
        let mut frequency = 0u32;
        let mut recency = 0.0;
        let mut time = 0.0;
        loop {
            // A zero rate gives an infinite wait, which ends the loop like any wait past T.
            time += random.exponential() / rate;
            if time.is_nan() || time > age {
                break;
            }
            frequency = frequency.saturating_add(1);
            recency = time;
            if random.uniform() < dropout {
                break;
            }
        }
        let monetary = if frequency == 0 {
            0.0
        } else {
            // The sum of x Gamma(p, ν) values is Gamma(px, ν): one draw per customer.
            let customer_rate = random.gamma(spend.q, spend.gamma);
            let repeats = f64::from(frequency);
            random.gamma(spend.p * repeats, customer_rate) / repeats
        };
        summaries.push(CustomerSummary {
            frequency,
            recency,
            age,
            monetary,
        });
    }
    Ok(summaries)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn check(shape: f64, rate: f64) {
        let mut random = Xoshiro256StarStar::seeded(shape.to_bits());
        let draws = 200_000;
        let (mut sum, mut sum_squares) = (0.0, 0.0);
        for _ in 0..draws {
            let value = random.gamma(shape, rate);
            sum += value;
            sum_squares += value * value;
        }
        let mean = sum / draws as f64;
        let variance = sum_squares / draws as f64 - mean * mean;
        let (true_mean, true_variance) = (shape / rate, shape / (rate * rate));
        // Five standard errors of the sample mean and of the sample variance (whose relative
        // spread is √((2 + 6/k)/n) for a Gamma with shape k, from its excess kurtosis 6/k).
        let draws = draws as f64;
        assert!(
            (mean - true_mean).abs() < 5.0 * (true_variance / draws).sqrt(),
            "Gamma({shape}, {rate}) mean {mean} vs {true_mean}"
        );
        assert!(
            ((variance - true_variance) / true_variance).abs()
                < 5.0 * ((2.0 + 6.0 / shape) / draws).sqrt(),
            "Gamma({shape}, {rate}) variance {variance} vs {true_variance}"
        );
    }

    #[test]
    fn gamma_draws_have_the_right_moments() {
        check(0.243, 4.414);
        check(1.0, 1.0);
        check(3.74, 15.44);
        check(40.0, 0.5);
    }

    #[test]
    fn beta_draws_have_the_right_mean() {
        let mut random = Xoshiro256StarStar::seeded(3);
        let draws = 100_000;
        let mean = (0..draws).map(|_| random.beta(0.793, 2.426)).sum::<f64>() / draws as f64;
        assert!((mean - 0.793 / (0.793 + 2.426)).abs() < 0.005, "{mean}");
    }

    #[test]
    fn summaries_are_deterministic_and_consistent() {
        let first = synthetic_summaries(42, 2_000, PURCHASES, SPEND, 39.0).expect("valid");
        let again = synthetic_summaries(42, 2_000, PURCHASES, SPEND, 39.0).expect("valid");
        let other = synthetic_summaries(43, 2_000, PURCHASES, SPEND, 39.0).expect("valid");
        assert_eq!(first, again);
        assert_ne!(first, other);
        for (index, summary) in first.iter().enumerate() {
            summary
                .validate(index)
                .expect("synthetic summaries are valid");
            assert!(summary.age >= 19.5 && summary.age <= 39.0);
            assert_eq!(
                summary.frequency == 0,
                summary.monetary == 0.0,
                "{summary:?}"
            );
        }
        assert!(first.iter().any(|summary| summary.frequency > 0));
        assert!(matches!(
            synthetic_summaries(1, 10, PURCHASES, SPEND, 0.0),
            Err(ClvError::InvalidArgument { .. })
        ));
        assert!(matches!(
            synthetic_summaries(
                1,
                10,
                BgNbdParameters {
                    a: -1.0,
                    ..PURCHASES
                },
                SPEND,
                5.0
            ),
            Err(ClvError::InvalidParameter { name: "a", .. })
        ));
    }
}
