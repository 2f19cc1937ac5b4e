"""Terminal charts: trends as sparklines, comparisons as bars."""

from onsflux.cli.output import bar_lines, chart_for, sparkline


def test_sparkline_spans_the_blocks() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▁▁▁" and sparkline([]) == ""


def test_bars_scale_to_the_largest() -> None:
    lines = bar_lines([("itaipu", 100.0), ("jirau", 25.0)], width=8)
    assert lines == ["itaipu ████████", "jirau  ██"]


def test_chart_for_trend_and_groups() -> None:
    trend = [{"timestamp": f"2024-01-0{i}T00:00:00Z", "field": "demand_mw", "value": v,
              "tags": {}} for i, v in ((1, 1.0), (2, 3.0), (3, 2.0))]
    [line] = chart_for(trend)
    assert "▁█▄" in line and "2024-01-01T00:00 → 2024-01-03T00:00" in line
    groups = [{"timestamp": "t", "field": "power_mw", "value": v, "tags": {"source": s}}
              for s, v in (("wind", 1.0), ("hydro", 4.0))]
    assert [line.split()[0] for line in chart_for(groups)] == ["hydro", "wind"]
    assert chart_for(groups[:1]) == []  # one number needs no chart
