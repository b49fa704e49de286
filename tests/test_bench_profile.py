"""Reading py-spy's raw samples (bench.profile): idle threads left out, shares per function."""

from pathlib import Path

from bench.profile import busy_stacks, top


def test_idle_samples_are_left_out_and_shares_add_up(tmp_path: Path) -> None:
    raw = tmp_path / "rasa.txt"
    raw.write_text(
        "main (a.py:1);handle (b.py:10);parse (c.py:5) 6\n"
        "main (a.py:1);handle (b.py:12);save (d.py:7) 2\n"
        "main (a.py:1);handle (b.py:10);parse (c.py:9) 2\n"
        "run (threading.py:3);_worker (concurrent/futures/thread.py:81) 50\n"
        "main (a.py:1);serve (sanic/server/runners.py:155) 40\n"
        "garbage line\n")
    stacks = busy_stacks(raw)
    total, inclusive, exclusive = top(stacks)
    assert total == 10
    shares = dict((f, s) for s, f in inclusive)
    assert shares["handle (b.py)"] == 1.0  # line numbers folded: one function
    assert shares["parse (c.py)"] == 0.8 and shares["save (d.py)"] == 0.2
    assert exclusive[0] == (0.8, "parse (c.py)")
