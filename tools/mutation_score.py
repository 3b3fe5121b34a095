"""Mutation scores per module from the results ``mutmut run`` left in ``mutants/``.

``make mutate`` runs this after ``mutmut run``; docs/mutation.md records the scores. A
mutant counts as killed when a test failed or timed out on it (mutmut's statuses "killed"
and "timeout"); the score is killed / (killed + survived), mutants not yet checked apart.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 24, -24, 36, 152, 255}  # mutmut 3: test failure, pytest error, timeouts
SURVIVED = {0}


def scores(root: Path) -> dict[str, Counter]:
    """Per source file under ``root`` (``mutants/src``): counts of killed, survived and not
    run (not checked yet, no test covering it, skipped)."""
    out: dict[str, Counter] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
        count = Counter(
            "killed" if code in KILLED else "survived" if code in SURVIVED else "not run"
            for code in codes.values()
        )
        out[str(meta.relative_to(root)).removesuffix(".meta")] = count
    return out


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path("mutants/src")
    if not root.is_dir():
        print(f"{root}: no mutmut results; run `make mutate` first", file=sys.stderr)
        return 2
    print(f"{'module':36} {'killed':>7} {'survived':>8} {'not run':>8} {'score':>6}")
    for module, c in scores(root).items():
        checked = c["killed"] + c["survived"]
        score = f"{100 * c['killed'] / checked:5.1f}%" if checked else "    -"
        print(f"{module:36} {c['killed']:7d} {c['survived']:8d} {c['not run']:8d} {score:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
