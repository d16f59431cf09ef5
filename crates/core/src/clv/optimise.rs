//! Small unconstrained minimisers for the model fits: BFGS with a backtracking line search, and Nelder-Mead.
//!
//! Objectives work on fixed-size arrays (3 or 4 log-parameters) so nothing allocates per
//! evaluation, and return `None` where they are not finite, which the line search treats as
//! "step too far".

/// An objective's value and gradient at a point, or `None` where it is not finite.
pub(crate) type Evaluation<const N: usize> = Option<(f64, [f64; N])>;

/// Where a minimiser stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Minimum<const N: usize> {
    pub point: [f64; N],
    pub value: f64,
    pub iterations: usize,
    pub converged: bool,
    /// BFGS's final inverse-Hessian estimate, reusable to warm-start a related problem.
    pub inverse_hessian: [[f64; N]; N],
}

/// The objectives are per-customer means, so gradients this small mean the parameters are
/// settled far below any tolerance that matters.
const GRADIENT_TOLERANCE: f64 = 1e-9;
/// When the line search can no longer improve, a gradient below this is the floor set by
/// rounding in sums over many customers, and counts as converged.
const STALLED_GRADIENT_TOLERANCE: f64 = 1e-6;
/// Largest change of any log-parameter in one step: e² ≈ 7.4-fold, so a wild first step
/// cannot overflow the likelihood.
const MAXIMUM_STEP: f64 = 2.0;
const ARMIJO_SLOPE: f64 = 1e-4;
/// A run of steps that each lower the objective by less than this, relative to its size,
/// means the objective is flat where BFGS is walking: at an optimum whose gradient rounding
/// keeps above the tolerance, or along a ridge towards infinity (BG/NBD's a and b growing
/// together as dropout becomes the same for everyone), where walking on changes no prediction.
const FLAT_RELATIVE_DECREASE: f64 = 1e-12;
const FLAT_STEPS: usize = 5;
const MAXIMUM_BACKTRACKS: usize = 60;

/// Log-parameters beyond ±this are treated as off the map (e^30 ≈ 1e13), so a parameter the
/// data cannot pin down stops there instead of overflowing.
pub(crate) const LOG_PARAMETER_LIMIT: f64 = 30.0;
/// A fitted log-parameter beyond ±this has run towards the edge rather than settled: the
/// data do not identify it (e^20 ≈ 5e8 is far outside any plausible model value).
pub(crate) const IDENTIFIED_LIMIT: f64 = 20.0;

/// Whether every log-parameter is inside the region the objectives are evaluated on.
pub(crate) fn within_limits<const N: usize>(point: &[f64; N]) -> bool {
    point.iter().all(|value| value.abs() <= LOG_PARAMETER_LIMIT)
}

fn dot<const N: usize>(left: &[f64; N], right: &[f64; N]) -> f64 {
    left.iter().zip(right).map(|(l, r)| l * r).sum()
}

fn largest_magnitude<const N: usize>(values: &[f64; N]) -> f64 {
    values
        .iter()
        .fold(0.0, |largest, value| largest.max(value.abs()))
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    let mut matrix = [[0.0; N]; N];
    for (index, row) in matrix.iter_mut().enumerate() {
        row[index] = 1.0;
    }
    matrix
}

/// Minimises with BFGS from `start`; `inverse_hessian` warm-starts the curvature estimate.
/// `None` when the objective is not finite at `start`.
pub(crate) fn bfgs<const N: usize>(
    objective: &mut impl FnMut(&[f64; N]) -> Evaluation<N>,
    start: [f64; N],
    inverse_hessian: Option<[[f64; N]; N]>,
    maximum_iterations: usize,
) -> Option<Minimum<N>> {
    let (mut value, mut gradient) = objective(&start)?;
    let mut point = start;
    let mut curvature_scaled = inverse_hessian.is_some();
    let mut inverse = inverse_hessian.unwrap_or_else(identity);
    let mut converged = false;
    let mut iterations = 0;
    let mut flat_steps = 0;
    while iterations < maximum_iterations {
        if largest_magnitude(&gradient) < GRADIENT_TOLERANCE {
            converged = true;
            break;
        }
        iterations += 1;
        let mut direction = [0.0; N];
        for (row, slot) in inverse.iter().zip(direction.iter_mut()) {
            *slot = -dot(row, &gradient);
        }
        let mut slope = dot(&gradient, &direction);
        if slope.is_nan() || slope >= 0.0 {
            // The curvature estimate went bad: restart from steepest descent.
            inverse = identity();
            direction = gradient.map(|component| -component);
            slope = dot(&gradient, &direction);
        }
        let largest = largest_magnitude(&direction);
        let mut step = if largest > MAXIMUM_STEP {
            MAXIMUM_STEP / largest
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..MAXIMUM_BACKTRACKS {
            let mut candidate = point;
            for (coordinate, change) in candidate.iter_mut().zip(&direction) {
                *coordinate += step * change;
            }
            if let Some((candidate_value, candidate_gradient)) = objective(&candidate) {
                // Strictly below: near the optimum the Armijo term underflows against the value,
                // and accepting an equal value would let BFGS take the same null step forever.
                if candidate_value < value + ARMIJO_SLOPE * step * slope {
                    accepted = Some((candidate, candidate_value, candidate_gradient));
                    break;
                }
            }
            step *= 0.5;
        }
        let Some((next_point, next_value, next_gradient)) = accepted else {
            if inverse != identity() {
                inverse = identity();
                continue;
            }
            converged = largest_magnitude(&gradient) < STALLED_GRADIENT_TOLERANCE;
            break;
        };
        let mut moved = [0.0; N];
        let mut gradient_change = [0.0; N];
        for index in 0..N {
            moved[index] = next_point[index] - point[index];
            gradient_change[index] = next_gradient[index] - gradient[index];
        }
        let curvature = dot(&moved, &gradient_change);
        let change_norm_squared = dot(&gradient_change, &gradient_change);
        if curvature > 1e-12 * dot(&moved, &moved).sqrt() * change_norm_squared.sqrt() {
            if !curvature_scaled {
                // Nocedal & Wright's scaling of the first estimate to the observed curvature.
                let scale = curvature / change_norm_squared;
                for row in inverse.iter_mut() {
                    for entry in row.iter_mut() {
                        *entry *= scale;
                    }
                }
                curvature_scaled = true;
            }
            update_inverse_hessian(&mut inverse, &moved, &gradient_change, curvature);
        }
        let decrease = value - next_value;
        point = next_point;
        value = next_value;
        gradient = next_gradient;
        if decrease <= FLAT_RELATIVE_DECREASE * (1.0 + value.abs()) {
            flat_steps += 1;
            if flat_steps >= FLAT_STEPS {
                converged = true;
                break;
            }
        } else {
            flat_steps = 0;
        }
    }
    Some(Minimum {
        point,
        value,
        iterations,
        converged,
        inverse_hessian: inverse,
    })
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1 / (yᵀ s).
fn update_inverse_hessian<const N: usize>(
    inverse: &mut [[f64; N]; N],
    moved: &[f64; N],
    gradient_change: &[f64; N],
    curvature: f64,
) {
    let rho = 1.0 / curvature;
    let mut inverse_times_change = [0.0; N];
    for (row, slot) in inverse.iter().zip(inverse_times_change.iter_mut()) {
        *slot = dot(row, gradient_change);
    }
    let change_inverse_change = dot(gradient_change, &inverse_times_change);
    // Expanded form of the product, using that H is symmetric.
    for row in 0..N {
        for column in 0..N {
            inverse[row][column] += rho * rho * change_inverse_change * moved[row] * moved[column]
                + rho * moved[row] * moved[column]
                - rho
                    * (inverse_times_change[row] * moved[column]
                        + moved[row] * inverse_times_change[column]);
        }
    }
}

/// Minimises by Nelder-Mead from `start` with an initial simplex of `scale` along each axis.
/// Used when BFGS stalls: it needs no gradient and is hard to derail, but is slow.
pub(crate) fn nelder_mead<const N: usize>(
    objective: &mut impl FnMut(&[f64; N]) -> Option<f64>,
    start: [f64; N],
    scale: f64,
    maximum_iterations: usize,
) -> Option<([f64; N], f64, usize)> {
    let mut value_at = |point: &[f64; N]| objective(point).unwrap_or(f64::INFINITY);
    let start_value = value_at(&start);
    if !start_value.is_finite() {
        return None;
    }
    let mut simplex: Vec<([f64; N], f64)> = Vec::with_capacity(N + 1);
    simplex.push((start, start_value));
    for axis in 0..N {
        let mut vertex = start;
        vertex[axis] += scale;
        let vertex_value = value_at(&vertex);
        simplex.push((vertex, vertex_value));
    }
    let mut iterations = 0;
    while iterations < maximum_iterations {
        iterations += 1;
        simplex.sort_by(|left, right| left.1.total_cmp(&right.1));
        let best = simplex[0].1;
        let worst = simplex[N].1;
        let spread = simplex
            .iter()
            .flat_map(|(vertex, _)| vertex.iter().zip(&simplex[0].0))
            .fold(0.0f64, |largest, (coordinate, best_coordinate)| {
                largest.max((coordinate - best_coordinate).abs())
            });
        if (worst - best).abs() <= 1e-14 * (1.0 + best.abs()) && spread < 1e-10 {
            break;
        }
        let mut centroid = [0.0; N];
        for (vertex, _) in &simplex[..N] {
            for (sum, coordinate) in centroid.iter_mut().zip(vertex) {
                *sum += coordinate / N as f64;
            }
        }
        let along = |factor: f64| {
            let mut point = centroid;
            for (coordinate, worst_coordinate) in point.iter_mut().zip(&simplex[N].0) {
                *coordinate += factor * (*coordinate - worst_coordinate);
            }
            point
        };
        let reflected = along(1.0);
        let reflected_value = value_at(&reflected);
        if reflected_value < best {
            let expanded = along(2.0);
            let expanded_value = value_at(&expanded);
            simplex[N] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
            continue;
        }
        if reflected_value < simplex[N - 1].1 {
            simplex[N] = (reflected, reflected_value);
            continue;
        }
        let contracted = if reflected_value < worst {
            along(0.5)
        } else {
            along(-0.5)
        };
        let contracted_value = value_at(&contracted);
        if contracted_value < worst.min(reflected_value) {
            simplex[N] = (contracted, contracted_value);
            continue;
        }
        // Shrink every vertex halfway towards the best one.
        let best_point = simplex[0].0;
        for (vertex, vertex_value) in simplex.iter_mut().skip(1) {
            for (coordinate, best_coordinate) in vertex.iter_mut().zip(&best_point) {
                *coordinate = best_coordinate + 0.5 * (*coordinate - best_coordinate);
            }
            *vertex_value = value_at(vertex);
        }
    }
    simplex.sort_by(|left, right| left.1.total_cmp(&right.1));
    Some((simplex[0].0, simplex[0].1, iterations))
}

/// BFGS, and if it stalls short of its gradient tolerance, Nelder-Mead from where it stopped
/// followed by a second BFGS pass to confirm.
pub(crate) fn minimise<const N: usize>(
    objective: &mut impl FnMut(&[f64; N]) -> Evaluation<N>,
    start: [f64; N],
    inverse_hessian: Option<[[f64; N]; N]>,
) -> Option<Minimum<N>> {
    const BFGS_ITERATIONS: usize = 500;
    const NELDER_MEAD_ITERATIONS: usize = 4_000;
    let first = bfgs(objective, start, inverse_hessian, BFGS_ITERATIONS)?;
    if first.converged {
        return Some(first);
    }
    let (polished, _, simplex_iterations) = nelder_mead(
        &mut |point: &[f64; N]| objective(point).map(|(value, _)| value),
        first.point,
        0.1,
        NELDER_MEAD_ITERATIONS,
    )?;
    let second = bfgs(objective, polished, None, BFGS_ITERATIONS)?;
    let better = if second.value <= first.value {
        second
    } else {
        first
    };
    Some(Minimum {
        iterations: first.iterations + simplex_iterations + second.iterations,
        ..better
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock's banana in N dimensions, minimum 0 at (1, …, 1): a standard hard case.
    fn rosenbrock<const N: usize>(point: &[f64; N]) -> Evaluation<N> {
        let mut value = 0.0;
        let mut gradient = [0.0; N];
        for index in 0..N - 1 {
            let (x, y) = (point[index], point[index + 1]);
            value += 100.0 * (y - x * x).powi(2) + (1.0 - x).powi(2);
            gradient[index] += -400.0 * x * (y - x * x) - 2.0 * (1.0 - x);
            gradient[index + 1] += 200.0 * (y - x * x);
        }
        Some((value, gradient))
    }

    fn check<const N: usize>(
        start: [f64; N],
        objective: fn(&[f64; N]) -> Evaluation<N>,
        expected: [f64; N],
        nelder_mead_alone_too: bool,
    ) {
        let mut objective = objective;
        let minimum = minimise(&mut objective, start, None).expect("finite at the start");
        assert!(minimum.converged, "{minimum:?}");
        for (found, wanted) in minimum.point.iter().zip(&expected) {
            assert!((found - wanted).abs() < 1e-6, "{minimum:?}");
        }
        if !nelder_mead_alone_too {
            return;
        }
        let mut value_only = |point: &[f64; N]| objective(point).map(|(value, _)| value);
        let (point, _, _) =
            nelder_mead(&mut value_only, start, 0.5, 20_000).expect("finite at the start");
        for (found, wanted) in point.iter().zip(&expected) {
            assert!(
                (found - wanted).abs() < 1e-4,
                "Nelder-Mead stopped at {point:?}"
            );
        }
    }

    #[test]
    fn minimisers_find_known_minima() {
        check([-1.2, 1.0], rosenbrock::<2>, [1.0, 1.0], true);
        // Nelder-Mead alone stalls on the 4-D banana (a known weakness); BFGS must not.
        check([-1.2, 1.0, -0.5, 2.0], rosenbrock::<4>, [1.0; 4], false);
        check(
            [3.0, -4.0, 10.0],
            |point: &[f64; 3]| {
                // A badly scaled bowl centred at (1, 2, 3).
                let weights = [1.0, 1e3, 1e-2];
                let centre = [1.0, 2.0, 3.0];
                let mut value = 0.0;
                let mut gradient = [0.0; 3];
                for index in 0..3 {
                    let offset = point[index] - centre[index];
                    value += weights[index] * offset * offset;
                    gradient[index] = 2.0 * weights[index] * offset;
                }
                Some((value, gradient))
            },
            [1.0, 2.0, 3.0],
            true,
        );
    }

    #[test]
    fn an_objective_not_finite_at_the_start_gives_none() {
        let mut objective = |_: &[f64; 2]| -> Evaluation<2> { None };
        assert!(minimise(&mut objective, [0.0, 0.0], None).is_none());
    }
}
