#!/usr/bin/env python3
"""Generalised-assignment instances of types C, D and E, in the OR-Library format `allot gap solve` reads.

Types as Chu & Beasley (1997) and Yagiura, Ibaraki & Glover (2004) define them, for m agents and
n items (minimisation):

- C: weights w_ij ~ U[5, 25], costs c_ij ~ U[10, 50], capacities b_i = 0.8 * sum_j w_ij / m.
- D: w_ij ~ U[1, 100], c_ij = 111 - w_ij + e with e ~ U[-10, 10], b_i as C (costs fall as
  weights rise, which makes D the hard type).
- E: w_ij = 1 - 10 ln(x), c_ij = 1000 / w_ij - 10 y with x, y ~ U(0, 1], rounded to integers,
  b_i = max(0.8 * sum_j w_ij / m, max_j w_ij).

Usage: python3 bench/gap_generate.py --type D --agents 20 --items 200 --seed 1 > d20200.txt
The same arguments always write the same file (Python's own seeded generator).
"""

import argparse
import math
import random
import sys


def generate(kind, agents, items, seed):
    rng = random.Random(f"{kind}-{agents}-{items}-{seed}")
    weights = [[0] * items for _ in range(agents)]
    costs = [[0] * items for _ in range(agents)]
    for i in range(agents):
        for j in range(items):
            if kind == "C":
                weights[i][j] = rng.randint(5, 25)
                costs[i][j] = rng.randint(10, 50)
            elif kind == "D":
                weights[i][j] = rng.randint(1, 100)
                costs[i][j] = 111 - weights[i][j] + rng.randint(-10, 10)
            elif kind == "E":
                x = 1.0 - rng.random()  # (0, 1]
                y = 1.0 - rng.random()
                weight = 1.0 - 10.0 * math.log(x)
                weights[i][j] = max(1, round(weight))
                costs[i][j] = round(1000.0 / weight - 10.0 * y)
            else:
                raise SystemExit(f"--type must be C, D or E, not {kind}")
    capacities = []
    for i in range(agents):
        share = int(0.8 * sum(weights[i]) / agents)
        capacities.append(max(share, max(weights[i])) if kind == "E" else share)
    return costs, weights, capacities


def write(out, costs, weights, capacities):
    agents, items = len(costs), len(costs[0])
    out.write(f"{agents} {items}\n")
    for matrix in (costs, weights):
        for row in matrix:
            out.write(" ".join(str(value) for value in row) + "\n")
    out.write(" ".join(str(value) for value in capacities) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--type", required=True, choices=["C", "D", "E"])
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    write(sys.stdout, *generate(args.type, args.agents, args.items, args.seed))


if __name__ == "__main__":
    main()
