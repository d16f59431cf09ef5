//! Exact minimum-cost flow: a network of supplies and bounded, costed arcs, solved by the primal network simplex.
//!
//! # The problem
//!
//! Nodes `0..node_count` carry a supply (positive: flow leaves the node, negative: a demand
//! that flow must reach). Each arc carries an integer flow with `lower <= flow <= capacity` at
//! `cost` per unit. The solver finds flows meeting every supply exactly at the least total
//! cost, or says why there are none ([`FlowStatus::Infeasible`]) or why the cost has no floor
//! ([`FlowStatus::Unbounded`]). Everything is integer, so the answer is exact and the same on
//! every run.
//!
//! # Conventions
//!
//! - **Infinite capacity** is [`UNBOUNDED_CAPACITY`] (`i64::MAX`): an arc with that capacity has
//!   no upper bound. Any other capacity is a real bound.
//! - **Balance**: supplies must sum to zero; otherwise [`FlowNetwork::solve`] refuses with
//!   [`FlowError::UnbalancedSupplies`] rather than reporting a status, because an unbalanced
//!   file is a mistake in the input, not a property of the network.
//! - **Status precedence**: a network with no feasible flow is `Infeasible` even if it also
//!   holds a negative-cost cycle of uncapacitated arcs; `Unbounded` means feasible flows exist
//!   and a negative-cost cycle of uncapacitated arcs makes their cost fall without limit.
//! - **Potentials and reduced costs**: the reduced cost of arc `i → j` is
//!   `cost + potential[i] - potential[j]`. At an optimum it is `>= 0` on every arc whose flow
//!   is below its capacity and `<= 0` on every arc whose flow is above its lower bound (so `0`
//!   on arcs strictly between their bounds). Potentials therefore behave like shortest-path
//!   distances: along an arc with spare capacity, `potential[j] <= potential[i] + cost`.
//!   [`certify_optimal`] checks exactly this, so an answer can be trusted without trusting
//!   the solver.
//! - **Cost** is an `i64`: [`FlowNetwork::solve`] refuses up front (with
//!   [`FlowError::OverflowRisk`]) any network where an intermediate value could leave the
//!   64-bit range; see [`FlowNetwork::solve`] for the exact limits.
//!
//! # The algorithm
//!
//! Primal network simplex. Lower bounds are shifted away first (each arc's lower bound is
//! sent up front and the supplies adjusted). An artificial root node is joined to every node by
//! an artificial arc costing a "big M" larger than any simple path of real arcs.
//!
//! - **Start**: a greedy pass lets every node with excess fill its cheapest outgoing arcs that
//!   the excess can fill completely, passing the flow on; those arcs start at their upper
//!   bound, and each node's remaining excess or shortfall goes over its artificial arc. The
//!   starting tree is the artificial arcs, with zero-flow ones pointing at the root, so it is
//!   strongly feasible. On an assignment network this starts every customer at its cheapest
//!   rep and every rep in its cheapest load bands.
//! - **Layout**: nodes are renumbered for the solve so that nodes the greedy pass sent flow to
//!   (the hubs) come first and every other node sits next to the others that sent flow to the
//!   same hub; arcs are stored grouped by tail. Subtrees of the spanning tree are then mostly
//!   runs of nearby memory, and a scan reads potentials in memory order. Answers are mapped
//!   back to the caller's numbering.
//! - **Pricing**: arcs are scanned in chunks from where the last scan stopped; the most
//!   violating arc seen enters once the scan has met a few violating arcs, or a block of about
//!   √arcs arcs holding one. Artificial arcs are never priced (once out of the tree they carry
//!   no flow).
//! - **Pivot**: the entering arc closes a cycle with the tree; as much flow as the cycle allows
//!   is pushed and the blocking tree arc leaves. The leaving arc is the last blocking arc met
//!   when walking the cycle from its apex in the direction of the flow change, which keeps the
//!   tree strongly feasible and so rules out cycling (Cunningham's rule). If no arc on the
//!   cycle blocks (every arc the flow increases on is uncapacitated) the cost is unbounded.
//! - **End**: when no arc violates its optimality condition the flow is optimal for the
//!   network with artificial arcs; if an artificial arc still carries flow, big M guarantees no
//!   feasible flow exists. When an unbounded cycle was found, a second solve with every cost 0
//!   decides between `Unbounded` and `Infeasible`.
//!
//! The spanning tree is kept in flat arrays: each node's parent, the tree arc to its parent and
//! that arc's direction, a thread (the nodes in depth-first preorder, with the reverse links),
//! the size of each subtree and the last node of each subtree in the thread. A pivot re-hangs
//! the subtree cut off by the leaving arc from the entering arc, and the potentials of one side
//! shift by the entering arc's reduced cost: the re-hung subtree's, or the rest's when the
//! subtree is most of the tree. Nothing recurses and nothing is allocated per arc or per pivot,
//! so networks of tens of millions of arcs are fine.

use thiserror::Error;

/// The capacity of an arc with no upper bound on its flow.
pub const UNBOUNDED_CAPACITY: i64 = i64::MAX;

/// An arc's position in insertion order: the index into [`FlowSolution::flows`].
pub type ArcId = usize;

/// The largest total of `|supply|`, twice the lower bounds and the finite capacities the
/// solver accepts: every flow, residual and supply shift then fits in an `i64` with room to
/// spare, and uncapacitated arcs' "infinite" residual stays far above any real one.
pub const MAX_FLOW_BOUND: i128 = 1 << 61;

/// The largest artificial-arc cost (`(max |cost| + 1) × (node count + 1)`) the solver accepts:
/// potentials stay within twice this of the root's and reduced costs within five times it,
/// leaving room for the root's own drift (see `MAX_ROOT_DRIFT`) inside `i64`.
pub const MAX_ARTIFICIAL_COST: i128 = 1 << 58;

/// The most nodes a network may have: node and arc indices are stored as `u32` to halve the
/// memory of the spanning-tree arrays, and one index is kept for the artificial root.
pub const MAX_NODES: usize = u32::MAX as usize - 2;

/// How far the root's potential may drift from 0 before every potential is moved back. With
/// potentials within `2 × MAX_ARTIFICIAL_COST` of the root's and shifts below
/// `5 × MAX_ARTIFICIAL_COST`, everything stays below `2^62`.
/// Tests use a tiny limit so the renormalisation runs.
const MAX_ROOT_DRIFT: u64 = if cfg!(test) { 1 << 20 } else { 1 << 60 };

/// Arcs priced between checks of whether the scan has seen enough.
const SCAN_CHUNK: usize = 32;

/// A scan stops once it has seen enough violating arcs and enters the most violating: more
/// when pivots are dear. Entering a better arc saves pivots, and a pivot costs about the
/// potentials it shifts, so a scan may meet one violating arc per `SHIFTS_PER_VIOLATING_ARC`
/// potentials the recent pivots shifted, within these bounds. Measured on the 1,000,000-customer
/// networks: `allot mcf generate`'s shift few potentials a pivot and solve fastest at 8 (5.4 s;
/// 11.0 s at 64, 32.8 s at 512); a rebalance's shift about 8,000 (large subtrees re-hung by
/// mostly degenerate pivots) and solved in 107 s at 8, 67 s at 64, 49 s at 512.
const FEWEST_VIOLATING_ARCS: u64 = 8;
const MOST_VIOLATING_ARCS: u64 = 1_024;
const SHIFTS_PER_VIOLATING_ARC: u64 = 16;

/// The average of the potentials shifted per pivot is over about this many recent pivots.
const SHIFT_AVERAGE_PIVOTS: u64 = 64;

/// A node index no node has, marking "no parent" (the root) in the spanning tree.
const NO_NODE: u32 = u32::MAX;

/// Arc states: the sign says which way a non-tree arc's flow may move, so `state × reduced
/// cost < 0` is exactly "entering this arc would lower the cost".
const STATE_UPPER: i8 = -1;
const STATE_TREE: i8 = 0;
const STATE_LOWER: i8 = 1;

/// Directions of a node's tree arc: `UP` when the arc runs from the node to its parent.
const DIRECTION_UP: i8 = 1;
const DIRECTION_DOWN: i8 = -1;

/// Why a network cannot be solved as given. Detected before any pivot, so a refusal is cheap.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlowError {
    #[error("arc {arc}: node {node} is out of range (the network has {node_count} nodes)")]
    ArcNodeOutOfRange {
        arc: ArcId,
        node: usize,
        node_count: usize,
    },
    #[error(
        "supply set on node {node}, which is out of range (the network has {node_count} nodes)"
    )]
    SupplyNodeOutOfRange { node: usize, node_count: usize },
    #[error("arc {arc}: capacity {capacity} is negative")]
    NegativeCapacity { arc: ArcId, capacity: i64 },
    #[error("arc {arc}: lower bound {lower} is negative")]
    NegativeLowerBound { arc: ArcId, lower: i64 },
    #[error("arc {arc}: lower bound {lower} is above the capacity {capacity}")]
    LowerAboveCapacity {
        arc: ArcId,
        lower: i64,
        capacity: i64,
    },
    #[error("supplies sum to {total}, not 0: every unit supplied must be demanded somewhere")]
    UnbalancedSupplies { total: i128 },
    #[error("too many {what}: {count}, the solver handles at most {limit}")]
    TooLarge {
        what: &'static str,
        count: usize,
        limit: usize,
    },
    #[error("{quantity} could reach {value}, above the limit {limit} within which the solver is exact in 64-bit integers")]
    OverflowRisk {
        quantity: &'static str,
        value: i128,
        limit: i128,
    },
    #[error("the starting flow has {count} values for {arc_count} arcs")]
    StartLength { count: usize, arc_count: usize },
    #[error("the starting flow puts {flow} on arc {arc}, outside its bounds {lower}..={capacity}")]
    StartOutOfBounds {
        arc: ArcId,
        flow: i64,
        lower: i64,
        capacity: i64,
    },
    #[error("the starting flow leaves node {node} with {excess} of its supply unsent (negative: more arrives than it demands)")]
    StartUnbalanced { node: usize, excess: i64 },
    #[error("the starting flow is not basic: arc {arc} closes a cycle of arcs strictly between their bounds")]
    StartNotBasic { arc: ArcId },
}

/// What a solve found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowStatus {
    /// A least-cost flow meeting every supply: `flows`, `cost` and `potentials` are set.
    Optimal,
    /// No flow meets the supplies within the arc bounds.
    Infeasible,
    /// Feasible flows exist, and a negative-cost cycle of uncapacitated arcs lowers their cost
    /// without limit.
    Unbounded,
}

impl FlowStatus {
    /// The status in lower case, as the DIMACS and JSON outputs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Optimal => "optimal",
            FlowStatus::Infeasible => "infeasible",
            FlowStatus::Unbounded => "unbounded",
        }
    }
}

/// The answer of [`FlowNetwork::solve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSolution {
    pub status: FlowStatus,
    /// Total cost `Σ cost × flow` (lower bounds included) when optimal; 0 otherwise.
    pub cost: i64,
    /// Flow on every arc in insertion order, lower bounds included, when optimal; empty
    /// otherwise, so a partial flow can never be mistaken for an answer.
    pub flows: Vec<i64>,
    /// A potential per node certifying optimality (see the module's reduced-cost convention)
    /// when optimal; empty otherwise.
    pub potentials: Vec<i64>,
}

/// One arc as it was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowArc {
    pub from: usize,
    pub to: usize,
    pub lower: i64,
    /// [`UNBOUNDED_CAPACITY`] for an arc without an upper bound.
    pub capacity: i64,
    pub cost: i64,
}

/// A minimum-cost-flow problem: nodes with supplies, arcs with bounds and costs.
///
/// Arcs are kept as parallel flat arrays so a network of millions of arcs costs a few dozen
/// bytes per arc. Mistakes while building (a node out of range) are remembered and reported by
/// [`FlowNetwork::solve`], so building stays infallible and cheap.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowNetwork {
    supplies: Vec<i64>,
    arc_from: Vec<u32>,
    arc_to: Vec<u32>,
    arc_lower: Vec<i64>,
    arc_capacity: Vec<i64>,
    arc_cost: Vec<i64>,
    first_build_error: Option<FlowError>,
}

impl FlowNetwork {
    /// A network of `node_count` nodes, all with supply 0, and no arcs.
    pub fn new(node_count: usize) -> Self {
        Self::with_arc_capacity(node_count, 0)
    }

    /// Like [`FlowNetwork::new`], with room reserved for `arc_capacity` arcs.
    pub fn with_arc_capacity(node_count: usize, arc_capacity: usize) -> Self {
        let first_build_error = (node_count > MAX_NODES).then_some(FlowError::TooLarge {
            what: "nodes",
            count: node_count,
            limit: MAX_NODES,
        });
        FlowNetwork {
            supplies: vec![0; node_count],
            arc_from: Vec::with_capacity(arc_capacity),
            arc_to: Vec::with_capacity(arc_capacity),
            arc_lower: Vec::with_capacity(arc_capacity),
            arc_capacity: Vec::with_capacity(arc_capacity),
            arc_cost: Vec::with_capacity(arc_capacity),
            first_build_error,
        }
    }

    pub fn node_count(&self) -> usize {
        self.supplies.len()
    }

    pub fn arc_count(&self) -> usize {
        self.arc_from.len()
    }

    /// Sets a node's supply: positive sends flow out, negative demands it.
    pub fn set_supply(&mut self, node: usize, supply: i64) {
        match self.supplies.get_mut(node) {
            Some(slot) => *slot = supply,
            None => self.remember_build_error(FlowError::SupplyNodeOutOfRange {
                node,
                node_count: self.supplies.len(),
            }),
        }
    }

    /// A node's supply (0 for a node out of range).
    pub fn supply(&self, node: usize) -> i64 {
        self.supplies.get(node).copied().unwrap_or(0)
    }

    /// Every node's supply, by node index.
    pub fn supplies(&self) -> &[i64] {
        &self.supplies
    }

    /// Adds an arc `from → to` carrying between `lower` and `capacity` units at `cost` each;
    /// `capacity` [`UNBOUNDED_CAPACITY`] means no upper bound. Returns the arc's index.
    /// Bounds are checked by [`FlowNetwork::solve`].
    pub fn add_arc(
        &mut self,
        from: usize,
        to: usize,
        lower: i64,
        capacity: i64,
        cost: i64,
    ) -> ArcId {
        let arc = self.arc_from.len();
        for node in [from, to] {
            if node >= self.supplies.len() {
                self.remember_build_error(FlowError::ArcNodeOutOfRange {
                    arc,
                    node,
                    node_count: self.supplies.len(),
                });
            }
        }
        // An out-of-range node is already remembered as an error, so saturating keeps the
        // arrays in step without inventing a valid-looking node.
        self.arc_from.push(u32::try_from(from).unwrap_or(u32::MAX));
        self.arc_to.push(u32::try_from(to).unwrap_or(u32::MAX));
        self.arc_lower.push(lower);
        self.arc_capacity.push(capacity);
        self.arc_cost.push(cost);
        arc
    }

    /// The arc with this index, as added.
    pub fn arc(&self, arc: ArcId) -> Option<FlowArc> {
        (arc < self.arc_count()).then(|| FlowArc {
            from: self.arc_from[arc] as usize,
            to: self.arc_to[arc] as usize,
            lower: self.arc_lower[arc],
            capacity: self.arc_capacity[arc],
            cost: self.arc_cost[arc],
        })
    }

    /// Every arc in insertion order.
    pub fn arcs(&self) -> impl ExactSizeIterator<Item = FlowArc> + '_ {
        (0..self.arc_count()).map(|arc| FlowArc {
            from: self.arc_from[arc] as usize,
            to: self.arc_to[arc] as usize,
            lower: self.arc_lower[arc],
            capacity: self.arc_capacity[arc],
            cost: self.arc_cost[arc],
        })
    }

    fn remember_build_error(&mut self, error: FlowError) {
        if self.first_build_error.is_none() {
            self.first_build_error = Some(error);
        }
    }

    /// Solves the network exactly.
    ///
    /// Refused up front (an `Err`, before any pivot) when the input is malformed — a node out
    /// of range, a negative capacity or lower bound, a lower bound above its capacity,
    /// supplies not summing to zero, more than [`MAX_NODES`] nodes or more than `u32::MAX`
    /// arcs and artificial arcs together — or when an intermediate value could overflow:
    ///
    /// - the *flow bound* `Σ |supply| + 2 Σ lower + Σ finite capacity` must be at most
    ///   [`MAX_FLOW_BOUND`] (it bounds every flow the simplex ever holds);
    /// - the *artificial cost* `(max |cost| + 1) × (node count + 1)` must be at most
    ///   [`MAX_ARTIFICIAL_COST`] (it bounds potentials and reduced costs);
    /// - the *cost bound* `Σ |cost| × (capacity, or lower + flow bound when uncapacitated)`
    ///   must be at most `i64::MAX` (it bounds the total cost).
    pub fn solve(&self) -> Result<FlowSolution, FlowError> {
        let limits = self.check_input()?;
        let mut simplex = NetworkSimplex::new(self, limits.artificial_cost, true, Start::Greedy);
        match simplex.run() {
            SimplexEnd::Optimal if simplex.artificial_flow_remains() => {
                Ok(Self::without_flows(FlowStatus::Infeasible))
            }
            SimplexEnd::Optimal => self.optimal_solution(simplex),
            SimplexEnd::Unbounded => {
                // The cost search stopped at an unbounded cycle before it had to establish
                // feasibility; a cost-free solve answers that question on its own.
                drop(simplex);
                let mut feasibility = NetworkSimplex::new(
                    self,
                    limits.feasibility_artificial_cost,
                    false,
                    Start::Greedy,
                );
                let feasible = match feasibility.run() {
                    SimplexEnd::Optimal => !feasibility.artificial_flow_remains(),
                    // With every cost zero no cycle has negative cost; if it ever did, the
                    // flow was feasible when the cycle was found.
                    SimplexEnd::Unbounded => true,
                };
                let status = if feasible {
                    FlowStatus::Unbounded
                } else {
                    FlowStatus::Infeasible
                };
                Ok(Self::without_flows(status))
            }
        }
    }

    /// Like [`FlowNetwork::solve`], starting from `start`, a feasible flow per arc (in
    /// insertion order, lower bounds included) instead of the greedy start. When the caller
    /// already holds a flow close to the optimum (a book of customers and their owners, of
    /// which a rebalance moves a few), the simplex then pivots only where that flow can be
    /// improved, instead of first finding a feasible flow through the artificial arcs.
    ///
    /// The start must be basic: the arcs strictly between their bounds form a forest (no
    /// cycle). Each tree of that forest hangs from the root by an artificial arc carrying no
    /// flow, which keeps the starting tree strongly feasible. Refused, besides `solve`'s own
    /// refusals: a start of the wrong length ([`FlowError::StartLength`]), a flow outside its
    /// arc's bounds ([`FlowError::StartOutOfBounds`]), a node whose supply the start does not
    /// meet ([`FlowError::StartUnbalanced`]) and a cycle of free arcs
    /// ([`FlowError::StartNotBasic`]). A feasible start rules out `Infeasible`.
    pub fn solve_from(&self, start: &[i64]) -> Result<FlowSolution, FlowError> {
        let limits = self.check_input()?;
        self.check_start(start)?;
        let mut simplex =
            NetworkSimplex::new(self, limits.artificial_cost, true, Start::Given(start));
        match simplex.run() {
            // A feasible start keeps the artificial arcs empty at any optimum (big M): this
            // would be a bug, reported as the solver's general answer for it.
            SimplexEnd::Optimal if simplex.artificial_flow_remains() => {
                Ok(Self::without_flows(FlowStatus::Infeasible))
            }
            SimplexEnd::Optimal => self.optimal_solution(simplex),
            SimplexEnd::Unbounded => Ok(Self::without_flows(FlowStatus::Unbounded)),
        }
    }

    /// Checks a starting flow: one value per arc within its bounds, every supply met, and the
    /// free arcs (strictly between their bounds) a forest.
    fn check_start(&self, start: &[i64]) -> Result<(), FlowError> {
        let arc_count = self.arc_count();
        if start.len() != arc_count {
            return Err(FlowError::StartLength {
                count: start.len(),
                arc_count,
            });
        }
        let mut excess = self.supplies.clone();
        let mut forest = DisjointSets::new(self.node_count());
        for (arc, &flow) in start.iter().enumerate() {
            let (lower, capacity) = (self.arc_lower[arc], self.arc_capacity[arc]);
            if flow < lower || flow > capacity {
                return Err(FlowError::StartOutOfBounds {
                    arc,
                    flow,
                    lower,
                    capacity,
                });
            }
            let (from, to) = (self.arc_from[arc] as usize, self.arc_to[arc] as usize);
            // check_input bounded every flow, so these sums stay far inside i64.
            excess[from] -= flow;
            excess[to] += flow;
            if flow > lower && flow < capacity && !forest.join(from, to) {
                return Err(FlowError::StartNotBasic { arc });
            }
        }
        match excess.iter().position(|&excess| excess != 0) {
            Some(node) => Err(FlowError::StartUnbalanced {
                node,
                excess: excess[node],
            }),
            None => Ok(()),
        }
    }

    fn without_flows(status: FlowStatus) -> FlowSolution {
        FlowSolution {
            status,
            cost: 0,
            flows: Vec::new(),
            potentials: Vec::new(),
        }
    }

    fn optimal_solution(&self, simplex: NetworkSimplex) -> Result<FlowSolution, FlowError> {
        let flows: Vec<i64> = simplex
            .internal_of_arc
            .iter()
            .zip(&self.arc_lower)
            .map(|(&position, &lower)| simplex.flow[position as usize] + lower)
            .collect();
        let total_cost: i128 = flows
            .iter()
            .zip(&self.arc_cost)
            .map(|(&flow, &cost)| i128::from(flow) * i128::from(cost))
            .sum();
        // The up-front cost bound makes this conversion always succeed; the check stays so a
        // flaw in that reasoning would surface as an error, not a wrong number.
        let cost = i64::try_from(total_cost).map_err(|_| FlowError::OverflowRisk {
            quantity: "the total cost",
            value: total_cost,
            limit: i128::from(i64::MAX),
        })?;
        // Measured from the artificial root, which has drifted from 0 (see `shift_potentials`).
        let root_potential = simplex.potential[simplex.root as usize];
        let potentials = simplex
            .new_of_old
            .iter()
            .map(|&node| simplex.potential[node as usize] - root_potential)
            .collect();
        Ok(FlowSolution {
            status: FlowStatus::Optimal,
            cost,
            flows,
            potentials,
        })
    }

    /// Checks the input and the overflow limits, returning the artificial-arc costs to use.
    fn check_input(&self) -> Result<SolveLimits, FlowError> {
        if let Some(error) = &self.first_build_error {
            return Err(error.clone());
        }
        let node_count = self.node_count();
        let arc_count = self.arc_count();
        let index_limit = u32::MAX as usize - 1;
        if arc_count > index_limit - node_count {
            return Err(FlowError::TooLarge {
                what: "arcs",
                count: arc_count,
                limit: index_limit - node_count,
            });
        }
        let supply_total: i128 = self.supplies.iter().map(|&supply| i128::from(supply)).sum();
        if supply_total != 0 {
            return Err(FlowError::UnbalancedSupplies {
                total: supply_total,
            });
        }
        let mut flow_bound: i128 = self
            .supplies
            .iter()
            .map(|&supply| i128::from(supply).abs())
            .sum();
        let mut largest_cost: i128 = 0;
        for arc in 0..arc_count {
            let (lower, capacity) = (self.arc_lower[arc], self.arc_capacity[arc]);
            if capacity < 0 {
                return Err(FlowError::NegativeCapacity { arc, capacity });
            }
            if lower < 0 {
                return Err(FlowError::NegativeLowerBound { arc, lower });
            }
            if lower > capacity {
                return Err(FlowError::LowerAboveCapacity {
                    arc,
                    lower,
                    capacity,
                });
            }
            flow_bound += 2 * i128::from(lower);
            if capacity != UNBOUNDED_CAPACITY {
                flow_bound += i128::from(capacity);
            }
            largest_cost = largest_cost.max(i128::from(self.arc_cost[arc]).abs());
        }
        if flow_bound > MAX_FLOW_BOUND {
            return Err(FlowError::OverflowRisk {
                quantity: "the flow bound (Σ |supply| + 2 Σ lower + Σ finite capacity)",
                value: flow_bound,
                limit: MAX_FLOW_BOUND,
            });
        }
        let node_count_with_root = node_count as i128 + 1;
        let artificial_cost = (largest_cost + 1) * node_count_with_root;
        if artificial_cost > MAX_ARTIFICIAL_COST {
            return Err(FlowError::OverflowRisk {
                quantity: "the artificial arc cost ((max |cost| + 1) × (nodes + 1))",
                value: artificial_cost,
                limit: MAX_ARTIFICIAL_COST,
            });
        }
        let cost_limit = i128::from(i64::MAX);
        let mut cost_bound: i128 = 0;
        for arc in 0..arc_count {
            let capacity = self.arc_capacity[arc];
            let largest_flow = if capacity == UNBOUNDED_CAPACITY {
                i128::from(self.arc_lower[arc]) + flow_bound
            } else {
                i128::from(capacity)
            };
            cost_bound += i128::from(self.arc_cost[arc]).abs() * largest_flow;
            // Stopping at the first excess keeps the running sum far inside i128.
            if cost_bound > cost_limit {
                return Err(FlowError::OverflowRisk {
                    quantity: "the cost bound (Σ |cost| × largest possible flow)",
                    value: cost_bound,
                    limit: cost_limit,
                });
            }
        }
        // Both are at most MAX_ARTIFICIAL_COST, so they fit in i64.
        Ok(SolveLimits {
            artificial_cost: artificial_cost as i64,
            feasibility_artificial_cost: node_count_with_root as i64,
        })
    }
}

struct SolveLimits {
    artificial_cost: i64,
    /// The artificial cost when every real cost is taken as 0 (the feasibility check).
    feasibility_artificial_cost: i64,
}

/// Checks that `solution` is an optimal flow of `network` without trusting the solver: flow
/// conservation against every supply, every arc within its bounds, the reported cost equal to
/// `Σ cost × flow`, and complementary slackness against the potentials (reduced cost
/// `cost + potential[from] - potential[to]` is `>= 0` where flow is below capacity and `<= 0`
/// where flow is above the lower bound). Together these prove optimality by LP duality.
/// Returns a message naming the first failure.
pub fn certify_optimal(network: &FlowNetwork, solution: &FlowSolution) -> Result<(), String> {
    if solution.status != FlowStatus::Optimal {
        return Err(format!(
            "status is {}, not optimal",
            solution.status.as_str()
        ));
    }
    if solution.flows.len() != network.arc_count() {
        return Err(format!(
            "{} flows for {} arcs",
            solution.flows.len(),
            network.arc_count()
        ));
    }
    if solution.potentials.len() != network.node_count() {
        return Err(format!(
            "{} potentials for {} nodes",
            solution.potentials.len(),
            network.node_count()
        ));
    }
    let mut net_outflow = vec![0i128; network.node_count()];
    let mut total_cost: i128 = 0;
    for (arc, (description, &flow)) in network.arcs().zip(&solution.flows).enumerate() {
        let FlowArc {
            from,
            to,
            lower,
            capacity,
            cost,
        } = description;
        if from >= network.node_count() || to >= network.node_count() {
            return Err(format!("arc {arc}: node out of range"));
        }
        if flow < lower || flow > capacity {
            return Err(format!(
                "arc {arc} ({from} → {to}): flow {flow} outside its bounds {lower}..={capacity}"
            ));
        }
        net_outflow[from] += i128::from(flow);
        net_outflow[to] -= i128::from(flow);
        total_cost += i128::from(cost) * i128::from(flow);
        let reduced_cost = i128::from(cost) + i128::from(solution.potentials[from])
            - i128::from(solution.potentials[to]);
        if flow < capacity && reduced_cost < 0 {
            return Err(format!(
                "arc {arc} ({from} → {to}): flow {flow} is below capacity {capacity} but the reduced cost {reduced_cost} is negative"
            ));
        }
        if flow > lower && reduced_cost > 0 {
            return Err(format!(
                "arc {arc} ({from} → {to}): flow {flow} is above the lower bound {lower} but the reduced cost {reduced_cost} is positive"
            ));
        }
    }
    for (node, (&outflow, &supply)) in net_outflow.iter().zip(network.supplies()).enumerate() {
        if outflow != i128::from(supply) {
            return Err(format!(
                "node {node}: net outflow {outflow} differs from its supply {supply}"
            ));
        }
    }
    if total_cost != i128::from(solution.cost) {
        return Err(format!(
            "reported cost {} differs from Σ cost × flow = {total_cost}",
            solution.cost
        ));
    }
    Ok(())
}

/// Where the simplex starts: the greedy pass with every node hanging from the root, or a
/// basic feasible flow the caller gives (checked by `FlowNetwork::check_start`).
#[derive(Clone, Copy)]
enum Start<'a> {
    Greedy,
    Given(&'a [i64]),
}

/// Union-find over nodes, to tell whether an arc closes a cycle, with the size of each set.
struct DisjointSets {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl DisjointSets {
    fn new(count: usize) -> Self {
        DisjointSets {
            parent: (0..count as u32).collect(),
            size: vec![1; count],
        }
    }

    fn representative(&mut self, mut node: usize) -> usize {
        while self.parent[node] as usize != node {
            // Path halving keeps the chains short without recursion.
            let grandparent = self.parent[self.parent[node] as usize];
            self.parent[node] = grandparent;
            node = grandparent as usize;
        }
        node
    }

    /// The number of nodes in `node`'s set.
    fn size_of(&mut self, node: usize) -> u32 {
        let representative = self.representative(node);
        self.size[representative]
    }

    /// Joins the sets of `first` and `second`; false when they were one set already.
    fn join(&mut self, first: usize, second: usize) -> bool {
        let (first, second) = (self.representative(first), self.representative(second));
        if first == second {
            return false;
        }
        let (larger, smaller) = if self.size[first] >= self.size[second] {
            (first, second)
        } else {
            (second, first)
        };
        self.parent[smaller] = larger as u32;
        self.size[larger] += self.size[smaller];
        true
    }
}

/// A given start's flows with the lower bounds shifted away, and per node the head of its first
/// arc carrying flow (`NO_NODE` for none), which `node_order` follows as it follows the greedy
/// start's anchors.
fn given_start(network: &FlowNetwork, start: &[i64]) -> (Vec<i64>, Vec<u32>) {
    let mut anchor = vec![NO_NODE; network.node_count()];
    let flow = start
        .iter()
        .zip(&network.arc_lower)
        .enumerate()
        .map(|(arc, (&flow, &lower))| {
            let from = network.arc_from[arc] as usize;
            if flow > lower && anchor[from] == NO_NODE && network.arc_to[arc] as usize != from {
                anchor[from] = network.arc_to[arc];
            }
            flow - lower
        })
        .collect();
    (flow, anchor)
}

/// The greedy start: each node with excess saturates its cheapest outgoing arcs that its excess
/// can fill completely, passing the flow on; whatever is left stays for the artificial arcs.
/// Returns the flows (in the network's arc order) and, per node, the head of the first arc it
/// saturated (`NO_NODE` for none), which `node_order` follows to place related nodes together.
fn saturate_cheap_arcs(
    source: &[u32],
    target: &[u32],
    cost: &[i64],
    capacity: &[i64],
    excess: &mut [i64],
) -> (Vec<i64>, Vec<u32>) {
    let node_count = excess.len();
    let arc_count = source.len();
    let mut flow = vec![0i64; arc_count];
    let mut anchor = vec![NO_NODE; node_count];
    let (first_out, mut out_arcs) = arcs_grouped_by(source, node_count, |node| node);
    for node in 0..node_count {
        out_arcs[first_out[node] as usize..first_out[node + 1] as usize]
            .sort_unstable_by_key(|&arc| (cost[arc as usize], arc));
    }
    let mut next_out = first_out[..node_count].to_vec();
    let mut queued = vec![false; node_count];
    let mut queue = std::collections::VecDeque::new();
    for node in 0..node_count {
        if excess[node] > 0 {
            queued[node] = true;
            queue.push_back(node as u32);
        }
    }
    while let Some(node) = queue.pop_front() {
        let node = node as usize;
        queued[node] = false;
        while excess[node] > 0 && next_out[node] < first_out[node + 1] {
            let arc = out_arcs[next_out[node] as usize] as usize;
            next_out[node] += 1;
            let arc_capacity = capacity[arc];
            let to = target[arc] as usize;
            // Only arcs filled completely: a non-tree arc must sit at one of its bounds.
            if arc_capacity == UNBOUNDED_CAPACITY
                || arc_capacity == 0
                || arc_capacity > excess[node]
                || to == node
            {
                continue;
            }
            flow[arc] = arc_capacity;
            if anchor[node] == NO_NODE {
                anchor[node] = to as u32;
            }
            excess[node] -= arc_capacity;
            excess[to] += arc_capacity;
            if excess[to] > 0 && !queued[to] {
                queued[to] = true;
                queue.push_back(to as u32);
            }
        }
    }
    (flow, anchor)
}

/// `length` copies of `fill`, with room for `extra` more.
fn filled_with_room<T: Clone>(length: usize, fill: T, extra: usize) -> Vec<T> {
    let mut values = Vec::with_capacity(length + extra);
    values.resize(length, fill);
    values
}

/// Where each arc goes when arcs are grouped by `group_of(tail)`, keeping their order within
/// a group (a counting sort), and where each group starts.
fn group_arcs(
    source: &[u32],
    group_count: usize,
    group_of: impl Fn(usize) -> usize,
) -> (Vec<u32>, Vec<u32>) {
    let mut first = vec![0u32; group_count + 1];
    for &from in source {
        first[group_of(from as usize) + 1] += 1;
    }
    for group in 0..group_count {
        first[group + 1] += first[group];
    }
    let mut next = first[..group_count].to_vec();
    let positions = source
        .iter()
        .map(|&from| {
            let group = group_of(from as usize);
            next[group] += 1;
            next[group] - 1
        })
        .collect();
    (first, positions)
}

/// The position of each arc when arcs are grouped by `group_of(tail)`.
fn arc_positions_grouped_by(
    source: &[u32],
    group_count: usize,
    group_of: impl Fn(usize) -> usize,
) -> Vec<u32> {
    group_arcs(source, group_count, group_of).1
}

/// Arcs grouped by `group_of(tail)`: where each group starts, and the arcs in group order.
fn arcs_grouped_by(
    source: &[u32],
    group_count: usize,
    group_of: impl Fn(usize) -> usize,
) -> (Vec<u32>, Vec<u32>) {
    let (first, positions) = group_arcs(source, group_count, group_of);
    let mut grouped = vec![0u32; source.len()];
    for (arc, &position) in positions.iter().enumerate() {
        grouped[position as usize] = arc as u32;
    }
    (first, grouped)
}

/// A new index for every node: depth-first preorder of the forest in which each node hangs
/// below its anchor, so a node's index sits near those of the nodes that send it flow. Subtrees
/// of the spanning tree then tend to be runs of nearby memory, which makes the potential
/// updates of a pivot cache-friendly.
fn node_order(anchor: &[u32]) -> Vec<u32> {
    let node_count = anchor.len();
    let mut first_child = vec![0u32; node_count + 1];
    for &above in anchor {
        if above != NO_NODE {
            first_child[above as usize + 1] += 1;
        }
    }
    for node in 0..node_count {
        first_child[node + 1] += first_child[node];
    }
    let mut next = first_child[..node_count].to_vec();
    let mut children = vec![0u32; first_child[node_count] as usize];
    for (node, &above) in anchor.iter().enumerate() {
        if above != NO_NODE {
            children[next[above as usize] as usize] = node as u32;
            next[above as usize] += 1;
        }
    }
    let mut new_of_old = vec![NO_NODE; node_count];
    let mut placed = 0u32;
    let mut stack = Vec::new();
    let mut preorder = Vec::with_capacity(node_count);
    // Forest roots first; nodes on anchor cycles have none and are started from afterwards.
    let starts = (0..node_count)
        .filter(|&node| anchor[node] == NO_NODE)
        .chain(0..node_count);
    for start in starts {
        if new_of_old[start] != NO_NODE {
            continue;
        }
        stack.push(start as u32);
        while let Some(node) = stack.pop() {
            let node = node as usize;
            // Preorder: a node is numbered when first taken off the stack.
            if new_of_old[node] != NO_NODE {
                continue;
            }
            preorder.push(node as u32);
            new_of_old[node] = placed;
            placed += 1;
            for &child in children[first_child[node] as usize..first_child[node + 1] as usize]
                .iter()
                .rev()
            {
                if new_of_old[child as usize] == NO_NODE {
                    stack.push(child);
                }
            }
        }
    }
    // Nodes others hang below (few, and touched by every scan of their arcs) first, compactly;
    // then the leaves, each run of siblings together.
    let has_children = |node: usize| first_child[node + 1] > first_child[node];
    let mut placed = 0u32;
    for pass_takes_inner in [true, false] {
        for &node in &preorder {
            if has_children(node as usize) == pass_takes_inner {
                new_of_old[node as usize] = placed;
                placed += 1;
            }
        }
    }
    new_of_old
}

enum SimplexEnd {
    Optimal,
    Unbounded,
}

/// Which tree arc blocks the pivot cycle: the entering arc itself, or the tree arc above the
/// given node on the path from the first or the second endpoint to the apex.
#[derive(Clone, Copy)]
enum Blocking {
    Entering,
    FirstPath(u32),
    SecondPath(u32),
}

/// One piece of a re-rooted subtree's new thread order (see [`NetworkSimplex::update_tree`]).
#[derive(Clone, Copy)]
struct ThreadPiece {
    /// The last node of the part that runs from the path node up to, not including, the
    /// path child's subtree.
    head_end: u32,
    /// The part after the path child's subtree, as (first, last); `NO_NODE` first when empty.
    tail_start: u32,
    tail_end: u32,
}

/// The working state of one network-simplex solve, in struct-of-arrays form.
///
/// Nodes and arcs are renumbered (see the module's "Layout"): arcs `0..real_arc_count` are the
/// network's arcs grouped by tail, lower bounds shifted away, followed by one artificial arc per
/// node joining it to the root, node index `node_count`.
struct NetworkSimplex {
    real_arc_count: usize,
    root: u32,
    source: Vec<u32>,
    target: Vec<u32>,
    cost: Vec<i64>,
    /// Capacity after the lower-bound shift; `UNBOUNDED_CAPACITY` stays as it is.
    capacity: Vec<i64>,
    flow: Vec<i64>,
    state: Vec<i8>,
    parent: Vec<u32>,
    /// The tree arc joining a node to its parent.
    parent_arc: Vec<u32>,
    parent_direction: Vec<i8>,
    /// The next node in depth-first preorder (the last node links back to the root).
    thread: Vec<u32>,
    reverse_thread: Vec<u32>,
    subtree_size: Vec<u32>,
    /// The last node of each subtree in thread order.
    last_in_subtree: Vec<u32>,
    potential: Vec<i64>,
    /// The most arcs a scan reads before settling for a single violating arc.
    block_size: usize,
    next_search_arc: usize,
    /// Potentials shifted per pivot, a moving average over recent pivots (see
    /// `FEWEST_VIOLATING_ARCS`).
    average_shift: u64,
    /// Scratch for pivots, kept to avoid allocating per pivot.
    rerooted_path: Vec<u32>,
    thread_pieces: Vec<ThreadPiece>,
    /// The solver's index of each of the network's arcs and nodes.
    internal_of_arc: Vec<u32>,
    new_of_old: Vec<u32>,
}

impl NetworkSimplex {
    fn new(network: &FlowNetwork, artificial_cost: i64, use_costs: bool, start: Start) -> Self {
        let node_count = network.node_count();
        let real_arc_count = network.arc_count();
        let root = node_count as u32;
        let node_count_with_root = node_count + 1;

        // Shift lower bounds away, in the network's order.
        let mut excess = network.supplies.clone();
        let mut shifted_capacity = Vec::with_capacity(real_arc_count);
        for arc in 0..real_arc_count {
            let (lower, upper) = (network.arc_lower[arc], network.arc_capacity[arc]);
            shifted_capacity.push(if upper == UNBOUNDED_CAPACITY {
                UNBOUNDED_CAPACITY
            } else {
                upper - lower
            });
            if lower != 0 {
                excess[network.arc_from[arc] as usize] -= lower;
                excess[network.arc_to[arc] as usize] += lower;
            }
        }
        let zero_costs;
        let network_cost: &[i64] = if use_costs {
            &network.arc_cost
        } else {
            zero_costs = vec![0; real_arc_count];
            &zero_costs
        };
        let (start_flow, anchor) = match start {
            Start::Greedy => saturate_cheap_arcs(
                &network.arc_from,
                &network.arc_to,
                network_cost,
                &shifted_capacity,
                &mut excess,
            ),
            Start::Given(flows) => {
                let (flow, anchor) = given_start(network, flows);
                for (arc, &sent) in flow.iter().enumerate() {
                    excess[network.arc_from[arc] as usize] -= sent;
                    excess[network.arc_to[arc] as usize] += sent;
                }
                (flow, anchor)
            }
        };
        let new_of_old = node_order(&anchor);
        drop(anchor);
        // Arcs are stored grouped by their new tail so a scan reads potentials in memory order.
        // Reading the network's arrays in order and writing each arc to its place is much
        // kinder to the cache than gathering.
        let internal_of_arc = arc_positions_grouped_by(&network.arc_from, node_count, |node| {
            new_of_old[node] as usize
        });
        let mut source = filled_with_room(real_arc_count, 0u32, node_count);
        let mut target = filled_with_room(real_arc_count, 0u32, node_count);
        let mut cost = filled_with_room(real_arc_count, 0i64, node_count);
        let mut capacity = filled_with_room(real_arc_count, 0i64, node_count);
        let mut flow = filled_with_room(real_arc_count, 0i64, node_count);
        let mut state = filled_with_room(real_arc_count, STATE_LOWER, node_count);
        for (arc, &position) in internal_of_arc.iter().enumerate() {
            let position = position as usize;
            source[position] = new_of_old[network.arc_from[arc] as usize];
            target[position] = new_of_old[network.arc_to[arc] as usize];
            cost[position] = network_cost[arc];
            capacity[position] = shifted_capacity[arc];
            flow[position] = start_flow[arc];
            // The greedy start only ever fills arcs completely; a given start's arcs strictly
            // between their bounds are the starting forest's.
            if start_flow[arc] > 0 {
                state[position] = if start_flow[arc] == shifted_capacity[arc] {
                    STATE_UPPER
                } else {
                    STATE_TREE
                };
            }
        }
        drop(start_flow);
        drop(shifted_capacity);
        let mut shifted_supply = vec![0; node_count];
        for (old, &new) in new_of_old.iter().enumerate() {
            shifted_supply[new as usize] = excess[old];
        }
        drop(excess);

        let mut parent = vec![root; node_count_with_root];
        let mut parent_arc = Vec::with_capacity(node_count_with_root);
        let mut parent_direction = Vec::with_capacity(node_count_with_root);
        let mut potential = Vec::with_capacity(node_count_with_root);
        for (node, &supply) in shifted_supply.iter().enumerate() {
            // A node with supply sends it up to the root, a node with demand receives it from
            // the root, so every artificial arc starts with non-negative flow; a zero-flow
            // artificial arc points at the root, which makes the starting tree strongly feasible.
            let (from, to, direction, node_potential, artificial_flow) = if supply >= 0 {
                (node as u32, root, DIRECTION_UP, -artificial_cost, supply)
            } else {
                (root, node as u32, DIRECTION_DOWN, artificial_cost, -supply)
            };
            source.push(from);
            target.push(to);
            cost.push(artificial_cost);
            capacity.push(UNBOUNDED_CAPACITY);
            flow.push(artificial_flow);
            state.push(STATE_TREE);
            parent_arc.push((real_arc_count + node) as u32);
            parent_direction.push(direction);
            potential.push(node_potential);
        }
        parent[node_count] = NO_NODE;
        parent_arc.push(u32::MAX);
        parent_direction.push(0);
        potential.push(0);

        // The starting thread visits the root and then every node in index order.
        let thread: Vec<u32> = (0..node_count_with_root)
            .map(|node| ((node + 1) % node_count_with_root) as u32)
            .collect();
        let reverse_thread: Vec<u32> = (0..node_count_with_root)
            .map(|node| ((node + node_count_with_root - 1) % node_count_with_root) as u32)
            .collect();
        let mut subtree_size = vec![1u32; node_count_with_root];
        subtree_size[node_count] = node_count_with_root as u32;
        let mut last_in_subtree: Vec<u32> = (0..node_count_with_root as u32).collect();
        last_in_subtree[node_count] = if node_count == 0 { root } else { root - 1 };

        let block_size = real_arc_count.isqrt().max(SCAN_CHUNK);
        let mut simplex = NetworkSimplex {
            real_arc_count,
            root,
            source,
            target,
            cost,
            capacity,
            flow,
            state,
            parent,
            parent_arc,
            parent_direction,
            thread,
            reverse_thread,
            subtree_size,
            last_in_subtree,
            potential,
            block_size,
            next_search_arc: 0,
            average_shift: 0,
            rerooted_path: Vec::new(),
            thread_pieces: Vec::new(),
            internal_of_arc,
            new_of_old,
        };
        if let Start::Given(_) = start {
            simplex.hang_forest(artificial_cost);
        }
        simplex
    }

    /// Replaces the starting star by a tree of the given start's own arcs. Its free arcs
    /// (strictly between their bounds, in `STATE_TREE`) form a forest; its trees are then
    /// joined, smaller below larger, by arcs at a bound that keep the tree strongly feasible:
    /// an empty arc with room hangs its tail below its head, a full one its head below its
    /// tail, so along every tree path a positive flow can still be pushed towards the root.
    /// What stays apart hangs from the root by the artificial arc of a node of its top tree,
    /// which carries no flow and points at the root; the other artificial arcs leave the tree.
    ///
    /// Why join: a pivot whose cycle runs through the root is blocked by a zero-flow
    /// artificial arc and re-hangs a whole side of the tree. On the 1,000,000-customer
    /// rebalance the joins left the pivot counts as they were (most degenerate pivots there
    /// come from band arcs at their bounds), so they are a guard, not a measured gain.
    fn hang_forest(&mut self, artificial_cost: i64) {
        let node_count = self.root as usize;
        let mut forest = DisjointSets::new(node_count);
        for arc in 0..self.real_arc_count {
            if self.state[arc] == STATE_TREE {
                forest.join(self.source[arc] as usize, self.target[arc] as usize);
            }
        }
        let free_tree: Vec<u32> = (0..node_count)
            .map(|node| forest.representative(node) as u32)
            .collect();
        // `forest` grows into the joined trees; `below` marks the free trees hung below another.
        let mut below = vec![false; node_count];
        for arc in 0..self.real_arc_count {
            let (child, parent) = match self.state[arc] {
                STATE_LOWER if self.capacity[arc] > 0 => (self.source[arc], self.target[arc]),
                STATE_UPPER => (self.target[arc], self.source[arc]),
                _ => continue,
            };
            let (child, parent) = (child as usize, parent as usize);
            // Only a top tree can be hung below another, and only below a larger joined tree.
            if below[free_tree[child] as usize]
                || forest.size_of(child) > forest.size_of(parent)
                || !forest.join(child, parent)
            {
                continue;
            }
            below[free_tree[child] as usize] = true;
            self.state[arc] = STATE_TREE;
        }
        let tree_arcs: Vec<u32> = (0..self.real_arc_count as u32)
            .filter(|&arc| self.state[arc as usize] == STATE_TREE)
            .collect();
        // Both ends of every tree arc, grouped by node.
        let ends: Vec<u32> = tree_arcs
            .iter()
            .flat_map(|&arc| [self.source[arc as usize], self.target[arc as usize]])
            .collect();
        let (first, arcs_at_node) = arcs_grouped_by(&ends, node_count, |node| node);
        let mut placed = vec![false; node_count];
        let mut preorder = Vec::with_capacity(node_count + 1);
        preorder.push(self.root);
        let mut stack = Vec::new();
        for hook in 0..node_count {
            // A tree hung below another is reached through the arc that hangs it.
            if placed[hook] || below[free_tree[hook] as usize] {
                continue;
            }
            placed[hook] = true;
            self.parent[hook] = self.root;
            self.parent_arc[hook] = (self.real_arc_count + hook) as u32;
            self.parent_direction[hook] = DIRECTION_UP;
            self.potential[hook] = -artificial_cost;
            stack.push(hook as u32);
            while let Some(node) = stack.pop() {
                preorder.push(node);
                let node = node as usize;
                for &end in &arcs_at_node[first[node] as usize..first[node + 1] as usize] {
                    let arc = tree_arcs[end as usize / 2] as usize;
                    let (from, to) = (self.source[arc] as usize, self.target[arc] as usize);
                    let child = if from == node { to } else { from };
                    if placed[child] {
                        continue;
                    }
                    placed[child] = true;
                    self.parent[child] = node as u32;
                    self.parent_arc[child] = arc as u32;
                    // Reduced cost 0 on every tree arc: cost + potential[from] - potential[to].
                    if from == child {
                        self.parent_direction[child] = DIRECTION_UP;
                        self.potential[child] = self.potential[node] - self.cost[arc];
                    } else {
                        self.parent_direction[child] = DIRECTION_DOWN;
                        self.potential[child] = self.potential[node] + self.cost[arc];
                    }
                    stack.push(child as u32);
                }
            }
        }
        for node in 0..node_count {
            if self.parent[node] != self.root {
                self.state[self.real_arc_count + node] = STATE_LOWER;
            }
        }
        let total = preorder.len();
        for (position, &node) in preorder.iter().enumerate() {
            let next = preorder[(position + 1) % total];
            self.link_thread(node, next);
        }
        self.subtree_size.fill(1);
        for &node in preorder.iter().rev() {
            if node != self.root {
                let parent = self.parent[node as usize] as usize;
                self.subtree_size[parent] += self.subtree_size[node as usize];
            }
        }
        for (position, &node) in preorder.iter().enumerate() {
            let size = self.subtree_size[node as usize] as usize;
            self.last_in_subtree[node as usize] = preorder[position + size - 1];
        }
    }

    fn run(&mut self) -> SimplexEnd {
        while let Some(entering) = self.find_entering_arc() {
            if !self.pivot(entering) {
                return SimplexEnd::Unbounded;
            }
        }
        SimplexEnd::Optimal
    }

    /// True when an artificial arc still carries flow: with big M that means no feasible flow.
    fn artificial_flow_remains(&self) -> bool {
        self.flow[self.real_arc_count..]
            .iter()
            .any(|&flow| flow > 0)
    }

    /// The next entering arc, or `None` when no arc violates its optimality condition.
    ///
    /// Partial pricing: arcs are scanned in chunks from where the last scan stopped, and the
    /// most violating arc seen is taken once the scan has met enough violating arcs (8, or
    /// more while pivots shift many potentials; see `FEWEST_VIOLATING_ARCS`), or a block of about √arcs arcs holding at least one. While violating arcs abound
    /// (early on, when most nodes still hang from the root) a pivot costs a few dozen arcs of
    /// scanning instead of a whole block; near the optimum the scan widens to the block by
    /// itself. Artificial arcs are never scanned: once out of the tree they carry no flow, and
    /// big M's guarantee only needs the artificial arcs that carry flow: if a feasible flow
    /// existed, it would differ from an optimum still using them by a cycle through the root
    /// that empties two of them, costing below `-2M` plus a simple path, so below zero.
    fn find_entering_arc(&mut self) -> Option<usize> {
        let enough = (self.average_shift / SHIFTS_PER_VIOLATING_ARC)
            .clamp(FEWEST_VIOLATING_ARCS, MOST_VIOLATING_ARCS) as usize;
        let arc_count = self.real_arc_count;
        let start = self.next_search_arc;
        let mut best_arc = usize::MAX;
        let mut best_violation = 0i64;
        let mut violators = 0usize;
        let mut scanned = 0usize;
        let potential = &self.potential;
        for range in [start..arc_count, 0..start] {
            let mut chunk_start = range.start;
            while chunk_start < range.end {
                let chunk_end = (chunk_start + SCAN_CHUNK).min(range.end);
                let states = &self.state[chunk_start..chunk_end];
                let costs = &self.cost[chunk_start..chunk_end];
                let sources = &self.source[chunk_start..chunk_end];
                let targets = &self.target[chunk_start..chunk_end];
                for (offset, (((&state, &cost), &source), &target)) in states
                    .iter()
                    .zip(costs)
                    .zip(sources)
                    .zip(targets)
                    .enumerate()
                {
                    let reduced_cost =
                        cost + potential[source as usize] - potential[target as usize];
                    let violation = i64::from(state) * reduced_cost;
                    violators += usize::from(violation < 0);
                    if violation < best_violation {
                        best_violation = violation;
                        best_arc = chunk_start + offset;
                    }
                }
                scanned += chunk_end - chunk_start;
                if violators >= enough || (scanned >= self.block_size && violators > 0) {
                    self.next_search_arc = if chunk_end == arc_count { 0 } else { chunk_end };
                    return Some(best_arc);
                }
                chunk_start = chunk_end;
            }
        }
        (violators > 0).then_some(best_arc)
    }

    /// The deepest common ancestor of two nodes: an ancestor's subtree is strictly larger, so
    /// the node with the smaller subtree can never be the answer and climbs.
    fn find_apex(&self, mut first: u32, mut second: u32) -> u32 {
        while first != second {
            if self.subtree_size[first as usize] < self.subtree_size[second as usize] {
                first = self.parent[first as usize];
            } else {
                second = self.parent[second as usize];
            }
        }
        first
    }

    fn residual_capacity(&self, arc: usize) -> i64 {
        let capacity = self.capacity[arc];
        if capacity == UNBOUNDED_CAPACITY {
            UNBOUNDED_CAPACITY
        } else {
            capacity - self.flow[arc]
        }
    }

    /// One pivot on `entering`. Returns false when the cycle has no blocking arc: the cost is
    /// unbounded.
    fn pivot(&mut self, entering: usize) -> bool {
        let source = self.source[entering];
        let target = self.target[entering];
        let entering_state = self.state[entering];
        // Flow moves from `first` over the entering arc to `second`, then back from `second`
        // up to the apex and down to `first`.
        let (first, second) = if entering_state == STATE_LOWER {
            (source, target)
        } else {
            (target, source)
        };
        let apex = self.find_apex(first, second);

        // Cunningham's rule: of the arcs allowing the least change, the last one met walking
        // the cycle from the apex (down to `first`, over the entering arc, up from `second`).
        // The first path is walked upwards, against that order, so a strict `<` keeps the one
        // nearest `first`; later parts win ties with `<=`.
        let mut delta = UNBOUNDED_CAPACITY;
        let mut blocking = Blocking::Entering;
        let mut node = first;
        while node != apex {
            let index = node as usize;
            let arc = self.parent_arc[index] as usize;
            let residual = if self.parent_direction[index] == DIRECTION_UP {
                self.flow[arc]
            } else {
                self.residual_capacity(arc)
            };
            if residual < delta {
                delta = residual;
                blocking = Blocking::FirstPath(node);
            }
            node = self.parent[index];
        }
        let entering_residual = self.capacity[entering];
        if entering_residual <= delta {
            delta = entering_residual;
            blocking = Blocking::Entering;
        }
        node = second;
        while node != apex {
            let index = node as usize;
            let arc = self.parent_arc[index] as usize;
            let residual = if self.parent_direction[index] == DIRECTION_UP {
                self.residual_capacity(arc)
            } else {
                self.flow[arc]
            };
            if residual <= delta {
                delta = residual;
                blocking = Blocking::SecondPath(node);
            }
            node = self.parent[index];
        }
        if delta == UNBOUNDED_CAPACITY {
            return false;
        }

        if delta > 0 {
            self.flow[entering] += i64::from(entering_state) * delta;
            let mut node = first;
            while node != apex {
                let index = node as usize;
                let arc = self.parent_arc[index] as usize;
                self.flow[arc] -= i64::from(self.parent_direction[index]) * delta;
                node = self.parent[index];
            }
            node = second;
            while node != apex {
                let index = node as usize;
                let arc = self.parent_arc[index] as usize;
                self.flow[arc] += i64::from(self.parent_direction[index]) * delta;
                node = self.parent[index];
            }
        }

        let (leaving_child, entering_child, entering_parent) = match blocking {
            Blocking::Entering => {
                // The entering arc went from one bound to the other; the tree is unchanged.
                self.state[entering] = -entering_state;
                return true;
            }
            Blocking::FirstPath(node) => (node, first, second),
            Blocking::SecondPath(node) => (node, second, first),
        };
        let leaving = self.parent_arc[leaving_child as usize] as usize;
        self.state[leaving] = if self.flow[leaving] == 0 {
            STATE_LOWER
        } else {
            STATE_UPPER
        };
        self.state[entering] = STATE_TREE;

        // The re-hung subtree's potentials shift so the entering arc's reduced cost becomes 0.
        let reduced_cost =
            self.cost[entering] + self.potential[source as usize] - self.potential[target as usize];
        let shift = if entering_child == source {
            -reduced_cost
        } else {
            reduced_cost
        };
        self.update_tree(
            entering,
            entering_child,
            entering_parent,
            leaving_child,
            apex,
        );
        self.shift_potentials(entering_child, shift);
        true
    }

    /// Makes the entering arc's reduced cost 0 after `update_tree` hung the subtree rooted at
    /// `subtree_root` from it: that subtree's potentials rise by `shift` relative to the rest.
    /// Only differences matter, so when the subtree is most of the tree the rest falls by
    /// `shift` instead; the root then drifts from 0 and is brought back when far off.
    fn shift_potentials(&mut self, subtree_root: u32, shift: i64) {
        let subtree_last = self.last_in_subtree[subtree_root as usize];
        let subtree_size = self.subtree_size[subtree_root as usize] as usize;
        let after_subtree = self.thread[subtree_last as usize];
        let (first, stop, shift, shifted) = if 2 * subtree_size <= self.potential.len() {
            (subtree_root, after_subtree, shift, subtree_size)
        } else {
            // The thread is circular: after the subtree it runs through the root and every
            // other node back to the subtree.
            let rest = self.potential.len() - subtree_size;
            (after_subtree, subtree_root, -shift, rest)
        };
        let shifted = shifted as u64;
        self.average_shift =
            (self.average_shift * (SHIFT_AVERAGE_PIVOTS - 1) + shifted) / SHIFT_AVERAGE_PIVOTS;
        let mut node = first;
        while node != stop {
            self.potential[node as usize] += shift;
            node = self.thread[node as usize];
        }
        let root_potential = self.potential[self.root as usize];
        if root_potential.unsigned_abs() > MAX_ROOT_DRIFT {
            for potential in &mut self.potential {
                *potential -= root_potential;
            }
        }
    }

    fn link_thread(&mut self, before: u32, after: u32) {
        self.thread[before as usize] = after;
        self.reverse_thread[after as usize] = before;
    }

    /// Cuts the subtree under `leaving_child` from its parent, re-roots it at `entering_child`
    /// and hangs it under `entering_parent` by the entering arc.
    ///
    /// Re-rooting reverses the path `entering_child = w0, w1, …, wk = leaving_child`. In the new
    /// preorder the subtree reads: w0's old subtree, then for each wi (i ≥ 1) the part of wi's
    /// old subtree outside w(i-1)'s — in the thread that is the run from wi to just before
    /// w(i-1), then the run after w(i-1)'s subtree to the end of wi's. The subtree is spliced
    /// into the thread right after `entering_parent`, as its first child.
    fn update_tree(
        &mut self,
        entering: usize,
        entering_child: u32,
        entering_parent: u32,
        leaving_child: u32,
        apex: u32,
    ) {
        // Read everything the new order needs before changing any link.
        self.rerooted_path.clear();
        self.thread_pieces.clear();
        let mut node = entering_child;
        self.rerooted_path.push(node);
        while node != leaving_child {
            let child = node;
            node = self.parent[child as usize];
            self.rerooted_path.push(node);
            let child_last = self.last_in_subtree[child as usize];
            let node_last = self.last_in_subtree[node as usize];
            let (tail_start, tail_end) = if child_last == node_last {
                (NO_NODE, NO_NODE)
            } else {
                (self.thread[child_last as usize], node_last)
            };
            self.thread_pieces.push(ThreadPiece {
                head_end: self.reverse_thread[child as usize],
                tail_start,
                tail_end,
            });
        }
        let moved_size = self.subtree_size[leaving_child as usize];
        let old_last = self.last_in_subtree[leaving_child as usize];
        let before_subtree = self.reverse_thread[leaving_child as usize];
        let after_subtree = self.thread[old_last as usize];
        let old_parent = self.parent[leaving_child as usize];

        // Cut the subtree out of the thread; ancestors that ended with it now end just before it.
        self.link_thread(before_subtree, after_subtree);
        let mut ancestor = old_parent;
        while ancestor != apex {
            self.subtree_size[ancestor as usize] -= moved_size;
            ancestor = self.parent[ancestor as usize];
        }
        let mut ancestor = old_parent;
        while self.last_in_subtree[ancestor as usize] == old_last {
            self.last_in_subtree[ancestor as usize] = before_subtree;
            if ancestor == self.root {
                break;
            }
            ancestor = self.parent[ancestor as usize];
        }

        // Thread the subtree in its new order.
        let mut tail = self.last_in_subtree[entering_child as usize];
        for piece_index in 0..self.thread_pieces.len() {
            let piece = self.thread_pieces[piece_index];
            let path_node = self.rerooted_path[piece_index + 1];
            self.link_thread(tail, path_node);
            if piece.tail_start == NO_NODE {
                tail = piece.head_end;
            } else {
                self.link_thread(piece.head_end, piece.tail_start);
                tail = piece.tail_end;
            }
        }
        let new_last = tail;

        // Splice it in as the first child of the entering parent.
        let after_parent = self.thread[entering_parent as usize];
        self.link_thread(entering_parent, entering_child);
        self.link_thread(new_last, after_parent);
        let mut ancestor = entering_parent;
        while ancestor != apex {
            self.subtree_size[ancestor as usize] += moved_size;
            ancestor = self.parent[ancestor as usize];
        }
        let mut ancestor = entering_parent;
        while self.last_in_subtree[ancestor as usize] == entering_parent {
            self.last_in_subtree[ancestor as usize] = new_last;
            if ancestor == self.root {
                break;
            }
            ancestor = self.parent[ancestor as usize];
        }

        // Reverse parents along the path, bottom up so each step reads its child's old values.
        for index in (1..self.rerooted_path.len()).rev() {
            let node = self.rerooted_path[index] as usize;
            let child = self.rerooted_path[index - 1] as usize;
            self.parent[node] = child as u32;
            self.parent_arc[node] = self.parent_arc[child];
            self.parent_direction[node] = -self.parent_direction[child];
            self.subtree_size[node] = moved_size - self.subtree_size[child];
            self.last_in_subtree[node] = new_last;
        }
        let child = entering_child as usize;
        self.parent[child] = entering_parent;
        self.parent_arc[child] = entering as u32;
        self.parent_direction[child] = if self.source[entering] == entering_child {
            DIRECTION_UP
        } else {
            DIRECTION_DOWN
        };
        self.subtree_size[child] = moved_size;
        self.last_in_subtree[child] = new_last;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const INF: i64 = UNBOUNDED_CAPACITY;

    /// A small deterministic generator for random test instances (here and in the rebalance's).
    pub(crate) struct XorShift(pub(crate) u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A value in `low..=high`.
        pub(crate) fn between(&mut self, low: i64, high: i64) -> i64 {
            low + (self.next() % (high - low + 1) as u64) as i64
        }
    }

    type ArcRow = (usize, usize, i64, i64, i64);

    fn network_of(node_count: usize, supplies: &[(usize, i64)], arcs: &[ArcRow]) -> FlowNetwork {
        let mut network = FlowNetwork::new(node_count);
        for &(node, supply) in supplies {
            network.set_supply(node, supply);
        }
        for &(from, to, lower, capacity, cost) in arcs {
            network.add_arc(from, to, lower, capacity, cost);
        }
        network
    }

    /// Solves, checks status and cost, and certifies any optimum against its potentials.
    fn check(
        name: &str,
        network: &FlowNetwork,
        status: FlowStatus,
        cost: Option<i64>,
    ) -> FlowSolution {
        let solution = network
            .solve()
            .unwrap_or_else(|error| panic!("{name}: refused: {error}"));
        assert_eq!(solution.status, status, "{name}: status");
        if let Some(cost) = cost {
            assert_eq!(solution.cost, cost, "{name}: cost");
        }
        match status {
            FlowStatus::Optimal => {
                if let Err(problem) = certify_optimal(network, &solution) {
                    panic!("{name}: not certified: {problem}");
                }
            }
            FlowStatus::Infeasible | FlowStatus::Unbounded => {
                assert!(
                    solution.flows.is_empty() && solution.potentials.is_empty(),
                    "{name}: flows on a non-optimal answer"
                );
            }
        }
        solution
    }

    struct HandCase {
        name: &'static str,
        node_count: usize,
        supplies: &'static [(usize, i64)],
        arcs: &'static [ArcRow],
        status: FlowStatus,
        cost: Option<i64>,
        /// Flows when the optimum is unique.
        flows: Option<&'static [i64]>,
    }

    const OPTIMAL: FlowStatus = FlowStatus::Optimal;
    const INFEASIBLE: FlowStatus = FlowStatus::Infeasible;
    const UNBOUNDED: FlowStatus = FlowStatus::Unbounded;

    const HAND_CASES: &[HandCase] = &[
        HandCase {
            name: "simple path",
            node_count: 3,
            supplies: &[(0, 4), (2, -4)],
            arcs: &[(0, 1, 0, 10, 2), (1, 2, 0, 10, 3)],
            status: OPTIMAL,
            cost: Some(20),
            flows: Some(&[4, 4]),
        },
        HandCase {
            name: "two routes, the cheaper one wins",
            node_count: 3,
            supplies: &[(0, 5), (1, -5)],
            arcs: &[(0, 1, 0, 10, 10), (0, 2, 0, 10, 3), (2, 1, 0, 10, 4)],
            status: OPTIMAL,
            cost: Some(35),
            flows: Some(&[0, 5, 5]),
        },
        HandCase {
            name: "capacity forces a split",
            node_count: 3,
            supplies: &[(0, 5), (1, -5)],
            arcs: &[(0, 1, 0, 10, 10), (0, 2, 0, 3, 3), (2, 1, 0, 10, 4)],
            status: OPTIMAL,
            cost: Some(41),
            flows: Some(&[2, 3, 3]),
        },
        HandCase {
            name: "lower bound honoured on the dearer arc",
            node_count: 2,
            supplies: &[(0, 5), (1, -5)],
            arcs: &[(0, 1, 0, 10, 1), (0, 1, 2, 10, 5)],
            status: OPTIMAL,
            cost: Some(13),
            flows: Some(&[3, 2]),
        },
        HandCase {
            name: "lower bound forces a costly circulation",
            node_count: 2,
            supplies: &[],
            arcs: &[(0, 1, 2, 4, 3), (1, 0, 0, 5, 1)],
            status: OPTIMAL,
            cost: Some(8),
            flows: Some(&[2, 2]),
        },
        HandCase {
            name: "lower bound equal to capacity",
            node_count: 3,
            supplies: &[(0, 3), (2, -3)],
            arcs: &[(0, 1, 3, 3, 7), (1, 2, 0, 9, 1)],
            status: OPTIMAL,
            cost: Some(24),
            flows: Some(&[3, 3]),
        },
        HandCase {
            name: "zero-cost cycle beside the path",
            node_count: 4,
            supplies: &[(0, 2), (3, -2)],
            arcs: &[
                (0, 1, 0, 5, 1),
                (1, 2, 0, 5, 0),
                (2, 1, 0, 5, 0),
                (1, 3, 0, 5, 1),
                (2, 3, 0, 5, 1),
            ],
            status: OPTIMAL,
            cost: Some(4),
            flows: None,
        },
        HandCase {
            name: "parallel arcs, cheapest first",
            node_count: 2,
            supplies: &[(0, 5), (1, -5)],
            arcs: &[(0, 1, 0, 2, 1), (0, 1, 0, 2, 3), (0, 1, 0, 10, 2)],
            status: OPTIMAL,
            cost: Some(8),
            flows: Some(&[2, 0, 3]),
        },
        HandCase {
            name: "nodes without arcs",
            node_count: 5,
            supplies: &[(0, 1), (1, -1)],
            arcs: &[(0, 1, 0, 1, 4)],
            status: OPTIMAL,
            cost: Some(4),
            flows: Some(&[1]),
        },
        HandCase {
            name: "all supply at one node",
            node_count: 4,
            supplies: &[(0, 6), (1, -1), (2, -2), (3, -3)],
            arcs: &[
                (0, 1, 0, 6, 1),
                (0, 2, 0, 6, 2),
                (0, 3, 0, 6, 3),
                (1, 2, 0, 6, 0),
                (2, 3, 0, 6, 0),
            ],
            status: OPTIMAL,
            cost: Some(6),
            flows: Some(&[6, 0, 0, 5, 3]),
        },
        HandCase {
            name: "negative costs without a cycle",
            node_count: 3,
            supplies: &[(0, 4), (2, -4)],
            arcs: &[(0, 1, 0, 3, -2), (1, 2, 0, 3, -3), (0, 2, 0, 3, -1)],
            status: OPTIMAL,
            cost: Some(-16),
            flows: Some(&[3, 3, 1]),
        },
        HandCase {
            name: "negative cycle with finite capacity is saturated",
            node_count: 2,
            supplies: &[],
            arcs: &[(0, 1, 0, 3, -2), (1, 0, 0, 5, 1)],
            status: OPTIMAL,
            cost: Some(-3),
            flows: Some(&[3, 3]),
        },
        HandCase {
            name: "negative cycle of uncapacitated arcs but one",
            node_count: 3,
            supplies: &[],
            arcs: &[(0, 1, 0, INF, -4), (1, 2, 0, INF, 1), (2, 0, 0, 7, 1)],
            status: OPTIMAL,
            cost: Some(-14),
            flows: Some(&[7, 7, 7]),
        },
        HandCase {
            name: "negative self-loop with finite capacity",
            node_count: 1,
            supplies: &[],
            arcs: &[(0, 0, 0, 4, -3)],
            status: OPTIMAL,
            cost: Some(-12),
            flows: Some(&[4]),
        },
        HandCase {
            name: "uncapacitated arcs carry the supply",
            node_count: 3,
            supplies: &[(0, 7), (2, -7)],
            arcs: &[(0, 1, 0, INF, 1), (1, 2, 0, INF, 2), (0, 2, 0, 2, 2)],
            status: OPTIMAL,
            cost: Some(19),
            flows: Some(&[5, 5, 2]),
        },
        HandCase {
            name: "zero-capacity arc with negative cost stays empty",
            node_count: 2,
            supplies: &[(0, 1), (1, -1)],
            arcs: &[(0, 1, 0, 0, -5), (0, 1, 0, 1, 2)],
            status: OPTIMAL,
            cost: Some(2),
            flows: Some(&[0, 1]),
        },
        HandCase {
            name: "no nodes at all",
            node_count: 0,
            supplies: &[],
            arcs: &[],
            status: OPTIMAL,
            cost: Some(0),
            flows: Some(&[]),
        },
        HandCase {
            name: "infeasible: not enough capacity",
            node_count: 3,
            supplies: &[(0, 5), (2, -5)],
            arcs: &[(0, 1, 0, 5, 1), (1, 2, 0, 4, 1)],
            status: INFEASIBLE,
            cost: None,
            flows: None,
        },
        HandCase {
            name: "infeasible: demand out of reach",
            node_count: 3,
            supplies: &[(0, 1), (2, -1)],
            arcs: &[(2, 0, 0, 5, 1), (0, 1, 0, 5, 1)],
            status: INFEASIBLE,
            cost: None,
            flows: None,
        },
        HandCase {
            name: "infeasible: a lower bound with nowhere to go",
            node_count: 2,
            supplies: &[],
            arcs: &[(0, 1, 3, 5, 0)],
            status: INFEASIBLE,
            cost: None,
            flows: None,
        },
        HandCase {
            name: "unbounded: negative cycle of uncapacitated arcs",
            node_count: 3,
            supplies: &[(0, 2), (2, -2)],
            arcs: &[(0, 1, 0, 5, 1), (1, 2, 0, INF, -1), (2, 1, 0, INF, 0)],
            status: UNBOUNDED,
            cost: None,
            flows: None,
        },
        HandCase {
            name: "unbounded: negative uncapacitated self-loop",
            node_count: 2,
            supplies: &[(0, 1), (1, -1)],
            arcs: &[(0, 1, 0, 1, 0), (1, 1, 0, INF, -1)],
            status: UNBOUNDED,
            cost: None,
            flows: None,
        },
        HandCase {
            name: "infeasible wins over a negative uncapacitated cycle",
            node_count: 4,
            supplies: &[(0, 1), (3, -1)],
            arcs: &[(1, 2, 0, INF, -1), (2, 1, 0, INF, -1)],
            status: INFEASIBLE,
            cost: None,
            flows: None,
        },
    ];

    #[test]
    fn hand_cases() {
        for case in HAND_CASES {
            let network = network_of(case.node_count, case.supplies, case.arcs);
            let solution = check(case.name, &network, case.status, case.cost);
            if let Some(flows) = case.flows {
                assert_eq!(solution.flows, flows, "{}: flows", case.name);
            }
        }
    }

    #[test]
    fn refuses_bad_input_up_front() {
        let out_of_range_arc = network_of(2, &[], &[(0, 1, 0, 1, 1), (1, 2, 0, 1, 1)]);
        let mut out_of_range_supply = FlowNetwork::new(2);
        out_of_range_supply.set_supply(5, 1);
        let half = i64::MAX / 2;
        let cases: Vec<(&str, FlowNetwork, FlowError)> = vec![
            (
                "arc node out of range",
                out_of_range_arc,
                FlowError::ArcNodeOutOfRange {
                    arc: 1,
                    node: 2,
                    node_count: 2,
                },
            ),
            (
                "supply node out of range",
                out_of_range_supply,
                FlowError::SupplyNodeOutOfRange {
                    node: 5,
                    node_count: 2,
                },
            ),
            (
                "negative capacity",
                network_of(2, &[], &[(0, 1, 0, -1, 1)]),
                FlowError::NegativeCapacity {
                    arc: 0,
                    capacity: -1,
                },
            ),
            (
                "negative lower bound",
                network_of(2, &[], &[(0, 1, -2, 1, 1)]),
                FlowError::NegativeLowerBound { arc: 0, lower: -2 },
            ),
            (
                "lower above capacity",
                network_of(2, &[], &[(0, 1, 3, 2, 1)]),
                FlowError::LowerAboveCapacity {
                    arc: 0,
                    lower: 3,
                    capacity: 2,
                },
            ),
            (
                "unbalanced supplies",
                network_of(2, &[(0, 3), (1, -1)], &[(0, 1, 0, 5, 1)]),
                FlowError::UnbalancedSupplies { total: 2 },
            ),
            (
                "flow bound",
                network_of(2, &[], &[(0, 1, 0, half, 0), (1, 0, 0, half, 0)]),
                FlowError::OverflowRisk {
                    quantity: "the flow bound (Σ |supply| + 2 Σ lower + Σ finite capacity)",
                    value: 2 * i128::from(half),
                    limit: MAX_FLOW_BOUND,
                },
            ),
            (
                "artificial cost",
                network_of(2, &[], &[(0, 1, 0, 1, half)]),
                FlowError::OverflowRisk {
                    quantity: "the artificial arc cost ((max |cost| + 1) × (nodes + 1))",
                    value: (i128::from(half) + 1) * 3,
                    limit: MAX_ARTIFICIAL_COST,
                },
            ),
            (
                "cost bound",
                network_of(2, &[], &[(0, 1, 0, 1 << 40, 1 << 30)]),
                FlowError::OverflowRisk {
                    quantity: "the cost bound (Σ |cost| × largest possible flow)",
                    value: 1 << 70,
                    limit: i128::from(i64::MAX),
                },
            ),
        ];
        for (name, network, expected) in cases {
            assert_eq!(network.solve(), Err(expected), "{name}");
        }
        let message = FlowError::LowerAboveCapacity {
            arc: 4,
            lower: 3,
            capacity: 2,
        }
        .to_string();
        assert_eq!(message, "arc 4: lower bound 3 is above the capacity 2");
    }

    #[test]
    fn certify_optimal_rejects_wrong_answers() {
        let network = network_of(
            3,
            &[(0, 5), (1, -5)],
            &[(0, 1, 0, 10, 10), (0, 2, 0, 10, 3), (2, 1, 0, 10, 4)],
        );
        let solution = check("base", &network, OPTIMAL, Some(35));
        let mut wrong_cost = solution.clone();
        wrong_cost.cost += 1;
        let mut unbalanced = solution.clone();
        unbalanced.flows[1] -= 1;
        // Feasible and correctly costed but not optimal: the potentials cannot certify it.
        let mut suboptimal = solution.clone();
        suboptimal.flows = vec![5, 0, 0];
        suboptimal.cost = 50;
        let mut out_of_bounds = solution.clone();
        out_of_bounds.flows = vec![-1, 6, 6];
        out_of_bounds.cost = 32;
        for (name, candidate, expected_start) in [
            ("wrong cost", wrong_cost, "reported cost"),
            ("unbalanced", unbalanced, "node 0"),
            ("suboptimal", suboptimal, "arc 0"),
            ("out of bounds", out_of_bounds, "arc 0"),
        ] {
            let problem = certify_optimal(&network, &candidate).expect_err(name);
            assert!(problem.starts_with(expected_start), "{name}: {problem}");
        }
    }

    /// An independent reference: max flow for feasibility, a negative-cycle search over the
    /// uncapacitated arcs for unboundedness, then cycle cancelling with Bellman-Ford.
    fn reference_solve(network: &FlowNetwork) -> (FlowStatus, i64) {
        let node_count = network.node_count();
        let arcs: Vec<FlowArc> = network.arcs().collect();
        let mut supply: Vec<i64> = network.supplies().to_vec();
        for arc in &arcs {
            supply[arc.from] -= arc.lower;
            supply[arc.to] += arc.lower;
        }
        let stand_in_for_infinity: i64 = supply.iter().map(|value| value.abs()).sum::<i64>()
            + arcs
                .iter()
                .filter(|arc| arc.capacity != INF)
                .map(|arc| arc.capacity - arc.lower)
                .sum::<i64>()
            + 1;

        // Residual edges in pairs: edge 2k is arc k forward, 2k + 1 its reverse.
        let super_source = node_count;
        let super_sink = node_count + 1;
        let mut edge_from = Vec::new();
        let mut edge_to = Vec::new();
        let mut residual = Vec::new();
        let mut edge_cost = Vec::new();
        let mut add_edge = |from: usize, to: usize, capacity: i64, cost: i64| {
            edge_from.extend([from, to]);
            edge_to.extend([to, from]);
            residual.extend([capacity, 0]);
            edge_cost.extend([cost, -cost]);
        };
        for arc in &arcs {
            let capacity = if arc.capacity == INF {
                stand_in_for_infinity
            } else {
                arc.capacity - arc.lower
            };
            add_edge(arc.from, arc.to, capacity, arc.cost);
        }
        let mut required = 0;
        for (node, &value) in supply.iter().enumerate() {
            if value > 0 {
                add_edge(super_source, node, value, 0);
                required += value;
            } else if value < 0 {
                add_edge(node, super_sink, -value, 0);
            }
        }

        // Edmonds-Karp from the super source to the super sink.
        let mut routed = 0;
        loop {
            let mut reached_by = vec![usize::MAX; node_count + 2];
            let mut queue = std::collections::VecDeque::from([super_source]);
            reached_by[super_source] = usize::MAX - 1;
            while let Some(node) = queue.pop_front() {
                for edge in 0..edge_from.len() {
                    if edge_from[edge] == node
                        && residual[edge] > 0
                        && reached_by[edge_to[edge]] == usize::MAX
                    {
                        reached_by[edge_to[edge]] = edge;
                        queue.push_back(edge_to[edge]);
                    }
                }
            }
            if reached_by[super_sink] == usize::MAX {
                break;
            }
            let mut bottleneck = i64::MAX;
            let mut node = super_sink;
            while node != super_source {
                let edge = reached_by[node];
                bottleneck = bottleneck.min(residual[edge]);
                node = edge_from[edge];
            }
            node = super_sink;
            while node != super_source {
                let edge = reached_by[node];
                residual[edge] -= bottleneck;
                residual[edge ^ 1] += bottleneck;
                node = edge_from[edge];
            }
            routed += bottleneck;
        }
        if routed < required {
            return (FlowStatus::Infeasible, 0);
        }

        // Floyd-Warshall over the uncapacitated arcs: a negative diagonal is an unbounded cycle.
        let far = i64::MAX / 4;
        let mut distance = vec![vec![far; node_count]; node_count];
        for arc in arcs.iter().filter(|arc| arc.capacity == INF) {
            distance[arc.from][arc.to] = distance[arc.from][arc.to].min(arc.cost);
        }
        for middle in 0..node_count {
            for from in 0..node_count {
                for to in 0..node_count {
                    let through = distance[from][middle]
                        .saturating_add(distance[middle][to])
                        .min(far);
                    if through < distance[from][to] {
                        distance[from][to] = through;
                    }
                }
            }
        }
        if (0..node_count).any(|node| distance[node][node] < 0) {
            return (FlowStatus::Unbounded, 0);
        }

        // Cancel negative cycles among the real nodes until none is left.
        let real_edges = 2 * arcs.len();
        loop {
            let mut label = vec![0i64; node_count];
            let mut reached_by = vec![usize::MAX; node_count];
            let mut last_relaxed = None;
            for _ in 0..node_count {
                last_relaxed = None;
                for edge in 0..real_edges {
                    let (from, to) = (edge_from[edge], edge_to[edge]);
                    if residual[edge] > 0 && label[from] + edge_cost[edge] < label[to] {
                        label[to] = label[from] + edge_cost[edge];
                        reached_by[to] = edge;
                        last_relaxed = Some(to);
                    }
                }
            }
            let Some(mut node) = last_relaxed else { break };
            for _ in 0..node_count {
                node = edge_from[reached_by[node]];
            }
            let start = node;
            let mut cycle = Vec::new();
            loop {
                let edge = reached_by[node];
                cycle.push(edge);
                node = edge_from[edge];
                if node == start {
                    break;
                }
            }
            let amount = cycle.iter().map(|&edge| residual[edge]).min().unwrap_or(0);
            for &edge in &cycle {
                residual[edge] -= amount;
                residual[edge ^ 1] += amount;
            }
        }
        let cost = arcs
            .iter()
            .enumerate()
            .map(|(index, arc)| arc.cost * (residual[2 * index + 1] + arc.lower))
            .sum();
        (FlowStatus::Optimal, cost)
    }

    fn random_network(
        random: &mut XorShift,
        max_nodes: i64,
        max_arcs: i64,
        cost_scale: i64,
    ) -> FlowNetwork {
        let node_count = random.between(2, max_nodes) as usize;
        let mut network = FlowNetwork::new(node_count);
        let mut balance = 0;
        for node in 0..node_count - 1 {
            let supply = if random.between(0, 2) == 0 {
                random.between(-4, 4)
            } else {
                0
            };
            network.set_supply(node, supply);
            balance += supply;
        }
        network.set_supply(node_count - 1, -balance);
        for _ in 0..random.between(0, max_arcs) {
            let from = random.between(0, node_count as i64 - 1) as usize;
            let to = random.between(0, node_count as i64 - 1) as usize;
            let (lower, capacity) = if random.between(0, 7) == 0 {
                (random.between(0, 1), INF)
            } else {
                let capacity = random.between(0, 5);
                let lower = if random.between(0, 3) == 0 {
                    random.between(0, capacity)
                } else {
                    0
                };
                (lower, capacity)
            };
            network.add_arc(
                from,
                to,
                lower,
                capacity,
                cost_scale * random.between(-5, 10),
            );
        }
        network
    }

    /// A feasible basic flow of `network`: the optimum of the same network with every cost 0.
    fn some_feasible_flow(network: &FlowNetwork) -> Option<Vec<i64>> {
        let mut free = network.clone();
        free.arc_cost.fill(0);
        let solution = free.solve().ok()?;
        (solution.status == FlowStatus::Optimal).then_some(solution.flows)
    }

    /// Solves again from a feasible flow (when there is one) and expects the same answer.
    fn check_from_a_feasible_start(
        name: &str,
        network: &FlowNetwork,
        status: FlowStatus,
        cost: Option<i64>,
    ) {
        let Some(start) = some_feasible_flow(network) else {
            assert_eq!(status, FlowStatus::Infeasible, "{name}: no feasible flow");
            return;
        };
        let solution = network
            .solve_from(&start)
            .unwrap_or_else(|error| panic!("{name}: start refused: {error}"));
        assert_eq!(solution.status, status, "{name}: status from a start");
        if status == FlowStatus::Optimal {
            assert_eq!(Some(solution.cost), cost, "{name}: cost from a start");
            if let Err(problem) = certify_optimal(network, &solution) {
                panic!("{name}: not certified from a start: {problem}");
            }
        }
    }

    #[test]
    fn a_start_that_is_not_a_basic_feasible_flow_is_refused() {
        // 0 → 1 → 2 and 0 → 2, two units from 0 to 2.
        let network = network_of(
            3,
            &[(0, 2), (2, -2)],
            &[(0, 1, 0, 5, 1), (1, 2, 0, 5, 1), (0, 2, 1, 5, 3)],
        );
        let cases: [(&str, Vec<i64>, FlowError); 4] = [
            (
                "too short",
                vec![1, 1],
                FlowError::StartLength {
                    count: 2,
                    arc_count: 3,
                },
            ),
            (
                "below a lower bound",
                vec![2, 2, 0],
                FlowError::StartOutOfBounds {
                    arc: 2,
                    flow: 0,
                    lower: 1,
                    capacity: 5,
                },
            ),
            (
                "supply unmet",
                vec![0, 0, 1],
                FlowError::StartUnbalanced { node: 0, excess: 1 },
            ),
            (
                "a cycle of free arcs",
                vec![1, 1, 2],
                FlowError::StartNotBasic { arc: 2 },
            ),
        ];
        for (name, start, expected) in cases {
            assert_eq!(network.solve_from(&start), Err(expected), "{name}");
        }
        // Basic and feasible: the two free arcs are a path; the third sits at its lower bound.
        let solution = network
            .solve_from(&[1, 1, 1])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((solution.status, solution.cost), (FlowStatus::Optimal, 5));
        assert_eq!(certify_optimal(&network, &solution), Ok(()));
    }

    #[test]
    fn an_assignment_solved_from_its_current_owners() {
        // Three customers (0–2) on two reps (3, 4), rep 3 holding all three; the sink (5)
        // takes up to one per rep free and more at 10 each. Each customer's arcs have room
        // above its supply, so its owner arc is free and hangs it below its rep.
        let mut arcs = Vec::new();
        for customer in 0..3 {
            arcs.push((customer, 3, 0, 2, 0));
            arcs.push((customer, 4, 0, 2, 1 + customer as i64));
        }
        for rep in [3, 4] {
            arcs.push((rep, 5, 0, 1, 0));
            arcs.push((rep, 5, 0, 3, 10));
        }
        let network = network_of(6, &[(0, 1), (1, 1), (2, 1), (5, -3)], &arcs);
        let start = [1, 0, 1, 0, 1, 0, 1, 2, 0, 0];
        let solution = network.solve_from(&start).unwrap_or_else(|e| panic!("{e}"));
        // Customer 0 moves (its move costs least): 0 + 0 + 1 + 0 + 0 + 10 = 11.
        assert_eq!((solution.status, solution.cost), (FlowStatus::Optimal, 11));
        assert_eq!(&solution.flows[..6], &[0, 1, 1, 0, 1, 0]);
        assert_eq!(certify_optimal(&network, &solution), Ok(()));
        assert_eq!(network.solve().map(|greedy| greedy.cost), Ok(11));
    }

    fn check_against_reference(
        seed: u64,
        instances: usize,
        max_nodes: i64,
        max_arcs: i64,
        cost_scale: i64,
    ) -> [usize; 3] {
        let mut random = XorShift(seed);
        let mut seen = [0; 3];
        for instance in 0..instances {
            let network = random_network(&mut random, max_nodes, max_arcs, cost_scale);
            let (status, cost) = reference_solve(&network);
            let name = format!("instance {instance} of seed {seed}: {network:?}");
            let expected_cost = (status == FlowStatus::Optimal).then_some(cost);
            check(&name, &network, status, expected_cost);
            check_from_a_feasible_start(&name, &network, status, expected_cost);
            seen[status as usize] += 1;
        }
        seen
    }

    #[test]
    fn small_random_instances_match_the_reference() {
        let seen = check_against_reference(0x5EED_F10E, 1000, 8, 12, 1);
        // Every status must be exercised, or the comparison proves little.
        assert!(
            seen.iter().all(|&count| count >= 20),
            "statuses seen (optimal, infeasible, unbounded): {seen:?}"
        );
    }

    #[test]
    fn medium_random_instances_match_the_reference() {
        let seen = check_against_reference(0xC0FF_EE11, 40, 40, 160, 1);
        assert!(
            seen[0] >= 5,
            "statuses seen (optimal, infeasible, unbounded): {seen:?}"
        );
    }

    #[test]
    fn huge_costs_stay_exact() {
        // Costs near 2^48 make potentials and reduced costs large, and in tests the root's
        // potential is brought back to 0 whenever it drifts past 2^20, so that path runs too.
        let seen = check_against_reference(0xB16_C057, 300, 8, 12, 1 << 45);
        assert!(seen[0] >= 20, "statuses seen: {seen:?}");
    }

    #[test]
    fn node_order_places_hubs_first_and_every_node_once() {
        const NONE: u32 = NO_NODE;
        // 0 and 1 hang below hub 2, which hangs below 3; 4 and 5 form an anchor cycle; 6 is alone.
        let anchor = [2, 2, 3, NONE, 5, 4, NONE];
        let new_of_old = node_order(&anchor);
        let mut sorted = new_of_old.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..7).collect::<Vec<u32>>(), "{new_of_old:?}");
        // Hubs (nodes with others below them) first, in depth-first order: 3, 2, then the cycle.
        assert_eq!(new_of_old[3], 0);
        assert_eq!(new_of_old[2], 1);
        assert!(new_of_old[4] < 4 && new_of_old[5] < 4, "{new_of_old:?}");
        // Siblings next to each other.
        assert_eq!(new_of_old[0].abs_diff(new_of_old[1]), 1, "{new_of_old:?}");
    }

    #[test]
    fn long_chain_without_recursion() {
        // A path makes a spanning tree thousands of levels deep.
        let length = 3000;
        let mut network = FlowNetwork::new(length);
        network.set_supply(0, 2);
        network.set_supply(length - 1, -2);
        for node in 0..length - 1 {
            network.add_arc(node, node + 1, 0, 5, 1);
        }
        for node in (1..length).step_by(7) {
            network.add_arc(node, node - 1, 0, 5, 1);
        }
        check("chain", &network, OPTIMAL, Some(2 * (length as i64 - 1)));
    }

    #[test]
    fn solving_twice_gives_the_same_answer() {
        let mut random = XorShift(77);
        let network = random_network(&mut random, 40, 200, 1);
        assert_eq!(network.solve(), network.solve());
    }
}
