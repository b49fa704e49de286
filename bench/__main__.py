"""`make bench`: run every benchmark and print its table.

    python -m bench [conversation|signals|competencies|storage] ...
"""

from __future__ import annotations

import argparse
import sys

from bench import conversation, nlp_speed, storage

BENCHMARKS = {
    "conversation": conversation.run,
    "signals": nlp_speed.run_signals,
    "competencies": nlp_speed.run_competencies,
    "storage": storage.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], default=[])
    args = parser.parse_args(argv)
    for name in args.names or list(BENCHMARKS):
        print(f"\n## {name}")
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
