//! Simulating a rules change (A5) over the stored organisation: one read-only snapshot, the
//! core's [`RuleChangeSimulation`] over it, nothing written.

use std::collections::{BTreeSet, HashMap};

use allot_core::rules::RuleSet;
use allot_core::simulate::{
    RuleChangeSimulation, SimulationReport, SimulationScope, SimulationStart,
};
use allot_core::{Clock, Customer, RepId};

use crate::database::{on_backend, sql};
use crate::error::{StoreError, StoreResult};
use crate::lifecycle::View;
use crate::organisation::load_teams_and_reps;
use crate::Store;

impl Store {
    /// What `source` as the rules would do to the customers of `scope` in `view` (the pool is
    /// in every view), and to fairness: see [`allot_core::simulate`] for the definition. The
    /// rules are checked as `set_rules` checks them; nothing is written.
    pub async fn simulate_rules(
        &self,
        source: &str,
        scope: SimulationScope,
        view: &View,
        list_limit: usize,
        clock: Clock,
    ) -> StoreResult<SimulationReport> {
        let mut read = self.database.begin_read().await?;
        let problems = self.rule_problems(&mut read, source).await?;
        if !problems.is_empty() {
            return Err(StoreError::Rules(problems));
        }
        let new_rules = RuleSet::parse(source).map_err(StoreError::Rules)?;
        let newest: Option<i64> = on_backend!(&mut read, |connection, Db| {
            sql!(Db; "SELECT MAX(version) FROM rule_versions")
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
        });
        let current_rules = match newest {
            Some(version) => (*self.rules_of_version(&mut read, version).await?).clone(),
            None => RuleSet::default(),
        };
        let (teams, reps) = load_teams_and_reps(&mut read).await?;
        let states = super::strategy_states(&mut read).await?;
        let reps_in_view: Option<BTreeSet<RepId>> = view.reps.as_ref().map(|listed| {
            reps.iter()
                .filter(|rep| listed.iter().any(|id| id == rep.rep.id.as_str()))
                .map(|rep| rep.rep.id.clone())
                .collect()
        });

        let mut simulation = RuleChangeSimulation::new(SimulationStart {
            current_rules,
            new_rules,
            teams: &teams,
            reps,
            strategy_states: &states,
            clock,
            scope,
            list_limit,
        });
        let mut pool: Vec<Customer> = Vec::new();
        // The owners of every customer some customer names as its parent, for `sticky`.
        let mut owners: HashMap<allot_core::CustomerId, RepId> = HashMap::new();
        let mut parents: BTreeSet<allot_core::CustomerId> = BTreeSet::new();
        crate::customers::for_each_customer_in(
            &mut read,
            crate::customers::CustomerRead::Full,
            |chunk: &[Customer]| {
                for customer in chunk {
                    if let Some(parent) = &customer.parent_id {
                        parents.insert(parent.clone());
                    }
                    match &customer.owner_id {
                        None => {
                            if scope.includes_pool() {
                                pool.push(customer.clone());
                            }
                        }
                        Some(owner) => {
                            owners.insert(customer.id.clone(), owner.clone());
                            if view.sees_owner(Some(owner)) {
                                simulation.judge_owned(customer);
                            }
                        }
                    }
                }
                StoreResult::Ok(())
            },
        )
        .await?;
        owners.retain(|id, _| parents.contains(id));
        Ok(simulation.finish(pool, &owners, reps_in_view.as_ref()))
    }
}
