"""Mutation scores per module from the results ``mutmut run`` left in ``mutants/``.

``make mutate`` runs this after ``mutmut run``; docs/mutation.md records the scores. A
mutant counts as killed when a test failed or timed out on it (mutmut's statuses "killed"
and "timeout"); a mutant no test reaches counts against the score like a survivor. Score =
killed / (killed + survived + untested); mutants not run yet are listed apart.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 24: "killed", -24: "killed", 36: "killed", 152: "killed",
          255: "killed", 0: "survived", 5: "untested", 33: "untested", None: "not run"}  # fmt: skip
"""mutmut 3's exit codes (mutmut.stats.status_by_exit_code), timeouts counted as killed."""


def scores(root: Path) -> dict[str, Counter]:
    """Per source file under ``root`` (``mutants/src``): mutants by status."""
    out: dict[str, Counter] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
        count = Counter(STATUS.get(code, "other") for code in codes.values())
        out[str(meta.relative_to(root)).removesuffix(".meta")] = count
    return out


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path("mutants/src")
    if not root.is_dir():
        print(f"{root}: no mutmut results; run `make mutate` first", file=sys.stderr)
        return 2
    kinds = ("killed", "survived", "untested", "other", "not run")
    print(f"{'module':30}" + "".join(f"{k:>10}" for k in kinds) + f"{'score':>8}")
    for module, c in scores(root).items():
        judged = c["killed"] + c["survived"] + c["untested"]
        score = f"{100 * c['killed'] / judged:7.1f}%" if judged else "       -"
        print(f"{module:30}" + "".join(f"{c[k]:10d}" for k in kinds) + score)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
