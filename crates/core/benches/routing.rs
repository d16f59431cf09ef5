//! Routing throughput of the pure core: 1,000,000 customers, 1,000 reps, 50 rules (see docs/BENCHMARKS.md).

use std::collections::BTreeMap;

use allot_core::demo::synthetic_organisation;
use allot_core::routing::RoutingEngine;
use allot_core::rules::RuleSet;
use allot_core::strategy::{RepLoad, RepState};
use allot_core::Clock;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const CUSTOMERS: usize = 1_000_000;
const BATCH: usize = 100_000;

fn routing_throughput(criterion: &mut Criterion) {
    let organisation = synthetic_organisation(11, 50, 1_000, CUSTOMERS, 50);
    let rules = RuleSet::parse(&organisation.rules_toml).expect("synthetic rules parse");
    let reps: Vec<RepState> = organisation
        .reps
        .iter()
        .cloned()
        .map(|rep| RepState {
            rep,
            load: RepLoad::default(),
        })
        .collect();
    let clock = Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
    let fresh_engine = || {
        RoutingEngine::new(
            rules.clone(),
            &organisation.teams,
            reps.clone(),
            &BTreeMap::new(),
            clock,
        )
    };

    // Whole run once, outside criterion, so the headline figure covers all 1,000,000 customers.
    let mut engine = fresh_engine();
    let started = std::time::Instant::now();
    let mut routed = 0usize;
    for customer in &organisation.customers {
        if engine.route(customer, None).owner_id.is_some() {
            routed += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "core: {CUSTOMERS} decisions ({routed} routed) in {seconds:.3} s = {:.0} decisions/s",
        CUSTOMERS as f64 / seconds
    );

    let mut group = criterion.benchmark_group("routing");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    let batch = &organisation.customers[..BATCH];
    group.bench_function("decide_100k", |bencher| {
        let mut engine = fresh_engine();
        bencher.iter(|| {
            for customer in batch {
                std::hint::black_box(engine.route(customer, None));
            }
        })
    });
    group.bench_function("decide_and_store_trace_100k", |bencher| {
        let mut engine = fresh_engine();
        bencher.iter(|| {
            for customer in batch {
                let decision = engine.route(customer, None);
                let (record, stored) = engine.stored(&decision, customer);
                std::hint::black_box((record, serde_json::to_string(&stored).unwrap()));
            }
        })
    });
    group.bench_function("decide_and_render_trace_100k", |bencher| {
        let mut engine = fresh_engine();
        bencher.iter(|| {
            for customer in batch {
                let decision = engine.route(customer, None);
                std::hint::black_box(engine.render(&decision, customer));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, routing_throughput);
criterion_main!(benches);
