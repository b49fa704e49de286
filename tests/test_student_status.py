"""Status chips on "Mijn studenten" and the portal's own charts (pure functions)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot.conversation.student_status import StudentFacts, chips
from bot.portal.charts import Series, cumulative, line_chart

TODAY = date(2026, 12, 1)


def keys(**facts: object) -> list[str]:
    base = dict(open_flags=0, urgent_flags=0, last_conversation=TODAY, plan_date=None,
                plan_followup=None)
    base.update(facts)
    return [c.key for c in chips(StudentFacts(**base), TODAY)]  # type: ignore[arg-type]


def test_urgent_outranks_everything_and_an_open_flag_is_attention() -> None:
    assert keys(open_flags=2, urgent_flags=1)[0] == "urgent"
    assert keys(open_flags=1) == ["aandacht"]
    assert keys() == []


def test_plan_dates_overdue_due_this_week_and_far_away() -> None:
    assert keys(plan_date=TODAY - timedelta(days=1)) == ["verlopen"]
    assert keys(plan_date=TODAY) == ["binnenkort"]
    assert keys(plan_date=TODAY + timedelta(days=7)) == ["binnenkort"]
    assert keys(plan_date=TODAY + timedelta(days=8)) == []
    # Once the follow-up was held, the date no longer matters: the result shows.
    assert keys(plan_date=TODAY - timedelta(days=30), plan_followup="gelukt") == ["gelukt"]
    assert keys(plan_followup="deels") == ["gelukt"]
    assert keys(plan_followup="niet_gelukt") == ["niet-gelukt"]


def test_inactive_students_and_students_without_a_conversation() -> None:
    assert keys(last_conversation=None) == ["stil"]
    assert keys(last_conversation=TODAY - timedelta(weeks=4) + timedelta(days=1)) == []
    chip = chips(StudentFacts(0, 0, TODAY - timedelta(weeks=6), None, None), TODAY)[0]
    assert chip.key == "stil" and "6 weken" in chip.label


def test_every_chip_has_a_label_not_only_a_colour() -> None:
    found = chips(StudentFacts(3, 1, None, TODAY - timedelta(days=2), None), TODAY)
    assert [c.key for c in found] == ["urgent", "verlopen", "stil"]
    assert all(c.label.strip() for c in found)


def test_line_chart_draws_each_series_and_escapes_labels() -> None:
    svg = line_chart("Groei <b>", ["jan 2026", "feb 2026", "mrt 2026"],
                     [Series("Kwaliteiten", [1, 3, 4]), Series("<script>", [0, 0, 2])])
    assert svg.count("<polyline") == 2
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "Groei &lt;b&gt;" in svg
    assert len(re.findall(r"<circle", svg)) >= 3  # first series' markers (+ its legend)
    # The highest value sits at the top of the plot, zero at its bottom.
    ys = [float(y) for y in re.findall(r'cy="([\d.]+)"', svg)[:3]]
    assert ys[0] > ys[1] > ys[2]
    assert "<td>4</td>" in svg  # the table beside the picture


def test_line_chart_with_a_single_month_and_all_zero() -> None:
    svg = line_chart("Leeg", ["dec 2026"], [Series("Motieven", [0])])
    assert "<svg" in svg and "nan" not in svg.lower()
    assert cumulative([1, 0, 2]) == [1, 1, 3]
