"""Rotate the targets of a rules file: each rule takes the next rule's `to` (the last the first's).

A "full rules change" for the simulate benchmark (docs/BENCHMARKS.md): the conditions and
strategies stay, every target moves. Prints the new rules on standard output.
"""

import re
import sys


def rotate(text: str) -> str:
    head, *rules = text.split("[[rule]]")
    targets = [re.search(r"^to = .*$", rule, re.M).group(0) for rule in rules]
    rotated = targets[1:] + targets[:1]
    changed = [
        re.sub(r"^to = .*$", lambda _match, target=target: target, rule, count=1, flags=re.M)
        for rule, target in zip(rules, rotated)
    ]
    return head + "[[rule]]" + "[[rule]]".join(changed)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as source:
        sys.stdout.write(rotate(source.read()))
