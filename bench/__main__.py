"""`make bench`: run every benchmark and print its table.

    python -m bench [conversation|signals|competencies|storage|compare] ... [--quick]
    python -m bench profile      # where a message's CPU time goes (py-spy; not in `make bench`)

`compare` runs our assistant and the stock `rasa init` assistant under the same loads and
writes its table to docs/performance.md (bench/compare.py); `--quick` shortens it to try the
harness out (its figures are not for comparison).
"""

from __future__ import annotations

import argparse
import sys

from bench import compare, conversation, nlp_speed, profile, storage

BENCHMARKS = {
    "conversation": conversation.run,
    "signals": nlp_speed.run_signals,
    "competencies": nlp_speed.run_competencies,
    "storage": storage.run,
    "compare": compare.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, "profile", []], default=[])
    parser.add_argument("--quick", action="store_true",
                        help="compare: shortened runs to try the harness (not for the doc)")
    args = parser.parse_args(argv)
    for name in args.names or list(BENCHMARKS):
        print(f"\n## {name}")
        if name == "compare":
            compare.run(quick=args.quick)
        elif name == "profile":
            profile.run()
        else:
            BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
