"""Solve a DIMACS min-cost-flow file with OR-Tools' SimpleMinCostFlow, for comparison with
`allot mcf solve` on the same file (docs/BENCHMARKS.md). Not part of CI.

    python3 -m venv .venv && .venv/bin/pip install ortools
    .venv/bin/python bench/ortools_mcf.py FILE.min

Prints `s COST` (or the status) on standard output and the times to read and to solve on
standard error. Lower bounds are shifted out the usual way (the flow on an arc with lower bound
L is L plus the flow on an arc of capacity CAP - L), and their cost added back.
"""

import sys
import time

from ortools.graph.python import min_cost_flow


def solve(path: str) -> int:
    started = time.perf_counter()
    solver = min_cost_flow.SimpleMinCostFlow()
    supplies = {}
    lower_cost = 0
    nodes = 0
    tails, heads, capacities, costs = [], [], [], []
    with open(path, encoding="utf-8") as source:
        for line in source:
            kind = line[:1]
            if kind == "a":
                _, u, v, low, cap, cost = line.split()
                u, v, low, cap, cost = int(u) - 1, int(v) - 1, int(low), int(cap), int(cost)
                if low:
                    supplies[u] = supplies.get(u, 0) - low
                    supplies[v] = supplies.get(v, 0) + low
                    lower_cost += low * cost
                tails.append(u)
                heads.append(v)
                capacities.append(cap - low)
                costs.append(cost)
            elif kind == "n":
                _, node, supply = line.split()
                node = int(node) - 1
                supplies[node] = supplies.get(node, 0) + int(supply)
            elif kind == "p":
                nodes = int(line.split()[2])
    solver.add_arcs_with_capacity_and_unit_cost(tails, heads, capacities, costs)
    for node in range(nodes):
        solver.set_node_supply(node, supplies.get(node, 0))
    read = time.perf_counter() - started
    solving = time.perf_counter()
    status = solver.solve()
    solved = time.perf_counter() - solving
    print(f"c {nodes} nodes, {len(tails)} arcs: read in {read:.3f} s, solved in {solved:.3f} s", file=sys.stderr)
    if status == solver.OPTIMAL:
        print(f"s {solver.optimal_cost() + lower_cost}")
        return 0
    print(f"s {status}")
    return 1


if __name__ == "__main__":
    sys.exit(solve(sys.argv[1]))
