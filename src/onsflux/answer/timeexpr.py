"""Time expressions (Portuguese and English) → an explicit ``[start, stop)`` interval.

Pure: no I/O; everything is relative to the ``now`` the caller passes. Intervals are
computed in wall-clock time of ``America/Sao_Paulo`` (``catalog.TIMEZONE``) and returned
as time-zone aware datetimes in that zone. Rules are regular expressions over *folded*
text (``catalog.fold``: lower case, accents removed); the longest match wins.

Definitions (also in the package README of ``onsflux.answer``):

- a period that contains ``now`` is cut at ``now`` ("hoje", "this week", "este mês",
  "em 2024" asked during 2024, "desde 2023"); a period that starts after ``now`` is a
  *future* period (the parser refuses it: no forecasts);
- "hoje"/"today" = [00:00 today, now); "ontem"/"yesterday" = the previous local day;
  "anteontem" the one before;
- "semana passada"/"last week"/"previous week" = the previous ISO week, Monday 00:00 to
  Monday 00:00; "esta semana"/"this week" = [Monday 00:00, now);
- "últimos N dias/horas/semanas/meses"/"last|past N days…" = rolling: [now − N units,
  now) (months: calendar months back, same day and time); "última semana"/"past week"
  = last 7 days, "último mês"/"past month" = last 30 days, "último ano"/"past year" =
  last 365 days (rolling, unlike "passado/last", which are calendar periods);
- "mês passado"/"last month" = the previous calendar month; "ano passado"/"last year"
  the previous calendar year; "este mês"/"este ano" = from its first day to now;
- "janeiro de 2024"/"January 2024"/"jan/2024" = the calendar month; a month without a
  year ("em janeiro") = its most recent occurrence that has started;
- "Q1 2024"/"1º trimestre de 2024"/"primeiro trimestre de 2024" = Jan 1 – Apr 1;
  "primeiro semestre"/"first half" = Jan 1 – Jul 1;
- "entre 1 e 15 de março de 2024"/"from March 1 to March 15, 2024": both days
  inclusive, so stop is the midnight after the last day; a single date = that day;
  ``dd/mm/yyyy`` is read day first (Brazilian usage); ISO ``yyyy-mm-dd`` is accepted;
- seasons are those of the southern hemisphere on the conventional fixed dates used in
  Brazil: verão/summer 21 Dec – 20 Mar, outono/autumn 21 Mar – 20 Jun, inverno/winter
  21 Jun – 22 Sep, primavera/spring 23 Sep – 20 Dec (inclusive). "verão de 2024" is the
  summer that *ends* in 2024 (21 Dec 2023 – 20 Mar 2024), the astronomical summer that
  starts in December of the previous year; other seasons lie inside their year;
- "em 2023"/"in 2023" = the calendar year; "desde X"/"since X"/"a partir de X" =
  [start of X, now).

- parts of a month: "primeira/segunda/terceira/quarta/última semana de março" / "the
  first … last week of March" = days 1–7, 8–14, 15–21, 22–28, the last 7 days;
  "primeira/segunda quinzena" / "first/second half of January" = days 1–15, 16–end;
  "primeiros/últimos N dias de janeiro" / "first/last N days of January"; a month
  without a year is its most recent occurrence that has started;
- month ranges: "de janeiro a março de 2024" / "from January to March 2024" (both
  months whole);
- weekdays: "no último domingo"/"last Sunday"/"domingo passado" = the most recent such
  day before today; "na terça da semana passada"/"on Tuesday last week"; "entre segunda
  e quarta da semana passada"/"from Monday to Wednesday last week" (both days whole);
  "no último fim de semana"/"last weekend" = the most recent Saturday and Sunday;
- hours, after or around a day: "5 de março às 15h", "March 5, 2024 at 3 pm", "ontem às
  18h" = the hour that starts then ([15:00, 16:00): ONS values are stamped at the start
  of their hour); "entre 18h e 21h de ontem"/"between 6 pm and 9 pm yesterday" = [18:00,
  21:00);
- any year ("em 1850", "the year 3000") and decades ("the 1990s", "década de 90") are
  read, so that the caller can refuse them (before the data's retention, or in the
  future) instead of answering for another period;
- a date that does not exist ("31 de fevereiro de 2024") gives a match with
  ``invalid`` set, never a silent default.

No expression → the caller applies the default (:data:`DEFAULT_DAYS` days, rolling).
:func:`unexplained_period` finds period words left outside the match ("Carnaval",
"semana 60", "Q5"), so the caller refuses rather than answer for another period.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .. import catalog

__all__ = [
    "DAY_FILTERS",
    "DEFAULT_DAYS",
    "LOCAL",
    "TimeMatch",
    "default_range",
    "find_time",
    "grain_for",
    "unexplained_period",
]

LOCAL = ZoneInfo(catalog.TIMEZONE)
DEFAULT_DAYS = 7

MONTHS: dict[str, int] = {
    "janeiro": 1, "january": 1, "jan": 1,
    "fevereiro": 2, "february": 2, "fev": 2, "feb": 2,
    "marco": 3, "march": 3, "mar": 3,
    "abril": 4, "april": 4, "abr": 4, "apr": 4,
    "maio": 5, "may": 5, "mai": 5,
    "junho": 6, "june": 6, "jun": 6,
    "julho": 7, "july": 7, "jul": 7,
    "agosto": 8, "august": 8, "ago": 8, "aug": 8,
    "setembro": 9, "september": 9, "set": 9, "sep": 9, "sept": 9,
    "outubro": 10, "october": 10, "out": 10, "oct": 10,
    "novembro": 11, "november": 11, "nov": 11,
    "dezembro": 12, "december": 12, "dez": 12, "dec": 12,
}
_FULL_MONTHS = [m for m in MONTHS if len(m) > 4 and m != "sept"] + ["maio", "june", "july"]
NUMBER_WORDS: dict[str, int] = {
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6,
    "sete": 7, "oito": 8, "nove": 9, "dez": 10, "doze": 12, "quinze": 15, "vinte": 20,
    "trinta": 30, "sessenta": 60, "noventa": 90,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
    "sixty": 60, "ninety": 90,
}


def _alt(words: list[str] | dict[str, int]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_M = f"(?:{_alt(MONTHS)})"
_FM = f"(?:{_alt(sorted(set(_FULL_MONTHS)))})"
_Y = r"(?:19|20)\d\d"
_D = r"\d{1,2}"
_ORD = r"(?:st|nd|rd|th|o)?"
_NUM = rf"(?:\d+|{_alt(NUMBER_WORDS)})"
_DATE = r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})"
_B = r"(?<![a-z0-9])"  # word start
_E = r"(?![a-z0-9])"   # word end


@dataclass(frozen=True)
class TimeMatch:
    """A resolved time expression: ``[start, stop)`` in local time, and where it was found."""

    start: datetime
    stop: datetime
    span: tuple[int, int]
    kind: str
    future: bool = False
    invalid: bool = False
    """the words look like a date that does not exist (31 de fevereiro, February 30)"""

    @property
    def duration(self) -> timedelta:
        return self.stop - self.start


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=LOCAL)


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def _month_range(y: int, m: int) -> tuple[datetime, datetime]:
    first = date(y, m, 1)
    return _midnight(first), _midnight(_add_months(first, 1))


def _num(text: str) -> int:
    return int(text) if text.isdigit() else NUMBER_WORDS[text]


def _parse_date(text: str) -> date:
    if "-" in text:
        y, m, d = (int(x) for x in text.split("-"))
    else:
        d, m, y = (int(x) for x in text.split("/"))
    return date(y, m, d)


Range = tuple[datetime, datetime] | None
Handler = Callable[[re.Match[str], datetime], Range]


# ------------------------------------------------------------------------ handlers

def _day_range(m: re.Match[str], now: datetime) -> Range:
    g = m.groupdict()
    m2 = MONTHS[g["m2"]] if g.get("m2") else None
    m1 = MONTHS[g["m1"]] if g.get("m1") else m2
    if m1 is None or m2 is None:
        return None
    y2 = int(g["y2"]) if g.get("y2") else (int(g["y1"]) if g.get("y1") else now.year)
    y1 = int(g["y1"]) if g.get("y1") else (y2 if m1 <= m2 else y2 - 1)
    d1, d2 = date(y1, m1, int(g["d1"])), date(y2, m2, int(g["d2"]))
    return _midnight(d1), _midnight(d2 + timedelta(days=1))


def _date_range(m: re.Match[str], now: datetime) -> Range:
    a, b = _parse_date(m["a"]), _parse_date(m["b"])
    return _midnight(a), _midnight(b + timedelta(days=1))


def _one_day(m: re.Match[str], now: datetime) -> Range:
    g = m.groupdict()
    if g.get("iso"):
        d = _parse_date(g["iso"])
    else:
        month = MONTHS[g["m"]]
        y = int(g["y"]) if g.get("y") else now.year
        d = date(y, month, int(g["d"]))
        if not g.get("y") and _midnight(d) > now:
            d = date(y - 1, month, d.day)
    return _midnight(d), _midnight(d + timedelta(days=1))


def _month_year(m: re.Match[str], now: datetime) -> Range:
    return _month_range(int(m["y"]), MONTHS[m["m"]])


def _month_alone(m: re.Match[str], now: datetime) -> Range:
    month = MONTHS[m["m"]]
    y = now.year if month <= now.month else now.year - 1
    return _month_range(y, month)


_QUARTER_WORDS = {"primeiro": 1, "segundo": 2, "terceiro": 3, "quarto": 4, "first": 1,
                  "second": 2, "third": 3, "fourth": 4, "1o": 1, "2o": 2, "3o": 3, "4o": 4,
                  "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "1": 1, "2": 2, "3": 3, "4": 4}


def _latest_year(y: str | None, first_month: int, now: datetime) -> int:
    if y:
        return int(y)
    return now.year if date(now.year, first_month, 1) <= now.date() else now.year - 1


def _quarter(m: re.Match[str], now: datetime) -> Range:
    q = _QUARTER_WORDS[m["q"]]
    first = 3 * (q - 1) + 1
    y = _latest_year(m["y"], first, now)
    return _midnight(date(y, first, 1)), _midnight(_add_months(date(y, first, 1), 3))


def _semester(m: re.Match[str], now: datetime) -> Range:
    h = _QUARTER_WORDS[m["q"]]
    if h > 2:
        return None
    first = 1 if h == 1 else 7
    y = _latest_year(m["y"], first, now)
    return _midnight(date(y, first, 1)), _midnight(_add_months(date(y, first, 1), 6))


# (start month, start day, end month, end day inclusive, starts in the previous year)
SEASONS: dict[str, tuple[int, int, int, int, bool]] = {
    "summer": (12, 21, 3, 20, True),
    "autumn": (3, 21, 6, 20, False),
    "winter": (6, 21, 9, 22, False),
    "spring": (9, 23, 12, 20, False),
}
_SEASON_WORDS = {"verao": "summer", "summer": "summer", "outono": "autumn",
                 "autumn": "autumn", "fall": "autumn", "inverno": "winter",
                 "winter": "winter", "primavera": "spring", "spring": "spring"}


def season_range(season: str, year: int) -> tuple[datetime, datetime]:
    """The season of the southern hemisphere named by the year it ends in."""
    sm, sd, em, ed, prev = SEASONS[season]
    start = date(year - 1 if prev else year, sm, sd)
    end = date(year, em, ed) + timedelta(days=1)
    return _midnight(start), _midnight(end)


def _season(m: re.Match[str], now: datetime) -> Range:
    season = _SEASON_WORDS[m["s"]]
    if m["y"]:
        return season_range(season, int(m["y"]))
    if m["s"] in ("fall", "spring"):  # English words too common to read alone
        return None
    year = now.year + 1 if season == "summer" and now.month == 12 else now.year
    start, stop = season_range(season, year)
    if start > now:
        start, stop = season_range(season, year - 1)
    return start, stop


def _year_only(m: re.Match[str], now: datetime) -> Range:
    y = int(m["y"])
    return _midnight(date(y, 1, 1)), _midnight(date(y + 1, 1, 1))


def _rolling(m: re.Match[str], now: datetime) -> Range:
    n = _num(m["n"])
    unit = m["u"]
    if n < 1:
        return None
    if unit.startswith(("h", "hour")):
        return now - timedelta(hours=n), now
    if unit.startswith(("dia", "day")):
        return now - timedelta(days=n), now
    if unit.startswith(("semana", "week")):
        return now - timedelta(weeks=n), now
    if unit.startswith(("mes", "month")):
        back = _add_months(now.date().replace(day=1), -n)
        day = min(now.day, 28)
        return now.replace(year=back.year, month=back.month, day=day), now
    return now.replace(year=now.year - n), now


def _fixed(days: int) -> Handler:
    def handler(m: re.Match[str], now: datetime) -> Range:
        return now - timedelta(days=days), now
    return handler


def _today(m: re.Match[str], now: datetime) -> Range:
    return _midnight(now.date()), now


def _days_ago(n: int) -> Handler:
    def handler(m: re.Match[str], now: datetime) -> Range:
        d = now.date() - timedelta(days=n)
        return _midnight(d), _midnight(d + timedelta(days=1))
    return handler


def _this_week(m: re.Match[str], now: datetime) -> Range:
    return _midnight(now.date() - timedelta(days=now.weekday())), now


def _last_week(m: re.Match[str], now: datetime) -> Range:
    monday = now.date() - timedelta(days=now.weekday())
    return _midnight(monday - timedelta(days=7)), _midnight(monday)


def _this_month(m: re.Match[str], now: datetime) -> Range:
    return _midnight(now.date().replace(day=1)), now


def _last_month(m: re.Match[str], now: datetime) -> Range:
    first = now.date().replace(day=1)
    return _midnight(_add_months(first, -1)), _midnight(first)


def _this_year(m: re.Match[str], now: datetime) -> Range:
    return _midnight(date(now.year, 1, 1)), now


def _last_year(m: re.Match[str], now: datetime) -> Range:
    return _midnight(date(now.year - 1, 1, 1)), _midnight(date(now.year, 1, 1))


def _future(m: re.Match[str], now: datetime) -> Range:
    return now + timedelta(days=1), now + timedelta(days=2)

# ------------------------------------------------------------------------ parts of periods

_WEEK_ORD = {"primeira": 1, "segunda": 2, "terceira": 3, "quarta": 4, "first": 1, "second": 2,
             "third": 3, "fourth": 4, "1a": 1, "2a": 2, "3a": 3, "4a": 4, "1st": 1, "2nd": 2,
             "3rd": 3, "4th": 4, "ultima": -1, "last": -1, "final": -1}
_MONTH_REF = rf"(?P<m>{_M})(?:(?:\s+de|\s+of|,|\s*/)?\s*(?P<y>{_Y}))?"


def _month_of(m: re.Match[str], now: datetime, mkey: str = "m", ykey: str = "y") -> tuple[date, date]:
    """First day of the named month and of the next one (no year: the latest started)."""
    month = MONTHS[m[mkey]]
    y = int(m[ykey]) if m[ykey] else now.year if month <= now.month else now.year - 1
    first = date(y, month, 1)
    return first, _add_months(first, 1)


def _week_of_month(m: re.Match[str], now: datetime) -> Range:
    first, nxt = _month_of(m, now)
    k = _WEEK_ORD[m["o"]]
    if k == -1:
        return _midnight(nxt - timedelta(days=7)), _midnight(nxt)
    a = first + timedelta(days=7 * (k - 1))
    return _midnight(a), _midnight(min(a + timedelta(days=7), nxt))


def _fortnight(m: re.Match[str], now: datetime) -> Range:
    first, nxt = _month_of(m, now)
    mid = first.replace(day=16)
    if _WEEK_ORD[m["o"]] == 1:
        return _midnight(first), _midnight(mid)
    return _midnight(mid), _midnight(nxt)


def _days_of_month(m: re.Match[str], now: datetime) -> Range:
    first, nxt = _month_of(m, now)
    n = _num(m["n"])
    if not 1 <= n <= (nxt - first).days:
        return None
    if m["w"] in ("primeiros", "first"):
        return _midnight(first), _midnight(first + timedelta(days=n))
    return _midnight(nxt - timedelta(days=n)), _midnight(nxt)


def _month_span(m: re.Match[str], now: datetime) -> Range:
    m2 = MONTHS[m["m2"]]
    m1 = MONTHS[m["m1"]]
    y2 = int(m["y2"]) if m["y2"] else now.year if m2 <= now.month else now.year - 1
    y1 = int(m["y1"]) if m["y1"] else (y2 if m1 <= m2 else y2 - 1)
    a, b = date(y1, m1, 1), _add_months(date(y2, m2, 1), 1)
    return (_midnight(a), _midnight(b)) if a < b else None


WEEKDAYS: dict[str, int] = {
    "segunda": 0, "segunda-feira": 0, "terca": 1, "terca-feira": 1, "quarta": 2,
    "quarta-feira": 2, "quinta": 3, "quinta-feira": 3, "sexta": 4, "sexta-feira": 4,
    "sabado": 5, "domingo": 6, "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3,
    "friday": 4, "saturday": 5, "sunday": 6,
}
_WD = f"(?:{_alt(WEEKDAYS)})"
_LASTWEEK = (r"(?:d?a\s+semana\s+passada|d?a\s+semana\s+anterior|(?:of\s+)?last\s+week"
             r"|(?:of\s+)?the\s+previous\s+week)")
_THISWEEK = r"(?:d?esta\s+semana|d?essa\s+semana|(?:of\s+)?this\s+week)"


def _week_monday(m: re.Match[str], now: datetime) -> date:
    monday = now.date() - timedelta(days=now.weekday())
    return monday - timedelta(days=7) if m["wk"] and not re.search(r"esta|essa|this", m["wk"]) \
        else monday


def _weekday_range(m: re.Match[str], now: datetime) -> Range:
    monday = _week_monday(m, now)
    a, b = WEEKDAYS[m["a"]], WEEKDAYS[m["b"]]
    if b < a:
        return None
    return _midnight(monday + timedelta(days=a)), _midnight(monday + timedelta(days=b + 1))


def _weekday_of_week(m: re.Match[str], now: datetime) -> Range:
    d = _week_monday(m, now) + timedelta(days=WEEKDAYS[m["a"]])
    return _midnight(d), _midnight(d + timedelta(days=1))


def _last_weekday(m: re.Match[str], now: datetime) -> Range:
    back = (now.weekday() - WEEKDAYS[m["a"]]) % 7 or 7
    d = now.date() - timedelta(days=back)
    return _midnight(d), _midnight(d + timedelta(days=1))


def _last_weekend(m: re.Match[str], now: datetime) -> Range:
    back = (now.weekday() - 5) % 7 or 7
    if back == 1:  # on a Sunday the weekend under way is not the last one
        back = 8
    sat = now.date() - timedelta(days=back)
    return _midnight(sat), _midnight(sat + timedelta(days=2))


def _any_year(m: re.Match[str], now: datetime) -> Range:
    y = int(m["y"])
    if not 1 <= y <= 9998:
        return None
    return _midnight(date(y, 1, 1)), _midnight(date(y + 1, 1, 1))


def _decade(m: re.Match[str], now: datetime) -> Range:
    y = int(m["y"])
    if y < 100:
        y += 1900 if y >= 30 else 2000
    if y % 10:
        return None
    return _midnight(date(y, 1, 1)), _midnight(date(min(y + 10, 9999), 1, 1))


_REL = r"(?:n[oa]\s+|in\s+the\s+|over\s+the\s+|during\s+the\s+)?"
_RULES: list[tuple[str, str, Handler]] = [
    # explicit day ranges (inclusive end day)
    ("day_range", rf"(?:entre|de|do dia|dos dias|desde)\s+(?:o\s+)?(?:dia\s+)?(?P<d1>{_D}){_ORD}"
                  rf"(?:\s+de\s+(?P<m1>{_M}))?(?:\s+de\s+(?P<y1>{_Y}))?\s+(?:e|a|ao|ate)\s+(?:o\s+)?"
                  rf"(?:dia\s+)?(?P<d2>{_D}){_ORD}\s+de\s+(?P<m2>{_M})(?:\s+de\s+(?P<y2>{_Y}))?",
     _day_range),
    ("day_range", rf"(?:between|from)\s+(?P<m1>{_M})\s+(?P<d1>{_D})(?:st|nd|rd|th)?(?:,?\s+(?P<y1>{_Y}))?"
                  rf"\s+(?:and|to|until|through|-)\s+(?:(?P<m2>{_M})\s+)?(?P<d2>{_D})(?:st|nd|rd|th)?"
                  rf"(?![\d])(?:,?\s+(?P<y2>{_Y}))?",
     _day_range),
    ("day_range", rf"(?:between|from)\s+(?:the\s+)?(?P<d1>{_D})(?:st|nd|rd|th)?(?:\s+(?:of\s+)?(?P<m1>{_M}))?"
                  rf"\s+(?:and|to|until|through|-)\s+(?:the\s+)?(?P<d2>{_D})(?:st|nd|rd|th)?\s+(?:of\s+)?"
                  rf"(?P<m2>{_M}),?(?:\s+(?P<y2>{_Y}))?",
     _day_range),
    ("date_range", rf"(?:entre|de|between|from|desde)\s+(?:o dia\s+)?(?P<a>{_DATE})\s+"
                   rf"(?:e|a|ate|and|to|until|through)\s+(?:o dia\s+)?(?P<b>{_DATE})", _date_range),
    # one day
    ("day", rf"(?P<d>{_D}){_ORD}\s+de\s+(?P<m>{_M})(?:\s+de\s+(?P<y>{_Y}))?", _one_day),
    ("day", rf"(?P<m>{_M})\s+(?P<d>{_D})(?:st|nd|rd|th)?(?!\d)(?:,?\s+(?P<y>{_Y}))?", _one_day),
    ("day", rf"(?P<d>{_D})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>{_M}),?(?:\s+(?P<y>{_Y}))?", _one_day),
    ("day", rf"(?P<iso>{_DATE})", _one_day),
    # quarters, halves, seasons
    ("quarter", rf"(?:q|t)(?P<q>[1-4])(?:\s+de|\s+of|/|-|\s)?\s*(?P<y>{_Y})", _quarter),
    ("quarter", rf"(?P<y>{_Y})\s*[-/]?\s*(?:q|t)(?P<q>[1-4])", _quarter),
    ("quarter", rf"(?P<q>primeiro|segundo|terceiro|quarto|[1-4]o?)\s+trimestre"
                rf"(?:\s+(?:de|do ano de)\s+(?P<y>{_Y})"
                rf"|\s+(?P<y2>{_Y}))?", lambda m, now: _quarter_any(m, now)),
    ("quarter", rf"(?P<q>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter(?:\s+of)?,?(?:\s+(?P<y>{_Y}))?",
     _quarter),
    ("semester", rf"(?P<q>primeiro|segundo|[12]o?)\s+semestre(?:\s+(?:de|do ano de)\s+(?P<y>{_Y})"
                 rf"|\s+(?P<y2>{_Y}))?", lambda m, now: _semester_any(m, now)),
    ("semester", rf"(?P<q>first|second|1st|2nd)\s+half(?:\s+of)?,?(?:\s+(?P<y>{_Y}))?", _semester),
    ("semester", rf"h(?P<q>[12])\s*(?P<y>{_Y})", _semester),
    ("season", rf"(?P<s>verao|outono|inverno|primavera|summer|autumn|fall|winter|spring)"
               rf"(?:\s+(?:de|of|do ano de))?(?:\s+(?P<y>{_Y}))?", _season),
    # months and years
    ("month", rf"(?P<m>{_M})(?:\s+de|\s+of|\s*/|\s*-|,)?\s*(?P<y>{_Y})", _month_year),
    ("month", rf"(?:em|in|no mes de|durante|during|de)\s+(?P<m>{_FM})"
              r"(?!\s*(?:de\s+|of\s+|/|-)?\s*(?:19|20)\d\d)",
     _month_alone),
    ("year", rf"(?:(?:em|in|no ano de|ano de|during|durante|for|of|de)\s+)?(?P<y>{_Y})(?![\d/-])",
     _year_only),
    # parts of a month, month ranges, weekdays
    ("subperiod", r"(?:n?a\s+|(?:in|during|over)\s+the\s+|the\s+)?"
                  r"(?P<o>primeira|segunda|terceira|quarta|ultima|first|second|third"
                  r"|fourth|last|final|[1-4]a|1st|2nd|3rd|4th)\s+(?:semana|week)\s+(?:de|do mes de|of)\s+"
                  + _MONTH_REF, _week_of_month),
    ("subperiod", r"(?:n?a\s+)?(?P<o>primeira|segunda|1a|2a)\s+quinzena\s+(?:de|do mes de)\s+" + _MONTH_REF,
     _fortnight),
    ("subperiod", rf"(?:the\s+)?(?P<o>first|second)\s+(?:half|fortnight)\s+of\s+(?P<m>{_FM})"
                  rf"(?:,?\s+(?P<y>{_Y}))?", _fortnight),
    ("subperiod", rf"(?:n?os\s+|(?:in|during|over)\s+the\s+|the\s+)?"
                  rf"(?P<w>primeiros|ultimos|first|last)\s+(?P<n>{_NUM})\s+"
                  rf"(?:dias|days)\s+(?:de|do mes de|of)\s+" + _MONTH_REF, _days_of_month),
    ("month_range", rf"(?:de|entre|from|between)\s+(?P<m1>{_FM})(?:\s+(?:de\s+)?(?P<y1>{_Y}))?\s+"
                    rf"(?:a|ate|e|to|until|through|and|-)\s+(?P<m2>{_FM})"
                    rf"(?:(?:\s+de|\s+of|,)?\s+(?P<y2>{_Y}))?", _month_span),
    ("weekday_range", rf"(?:entre|de|from|between)\s+(?:a\s+|o\s+)?(?P<a>{_WD})\s+"
                      r"(?:e|a|ate|and|to|through|until|-)\s+"
                      rf"(?:a\s+|o\s+)?(?P<b>{_WD})\s+(?P<wk>{_LASTWEEK}|{_THISWEEK})", _weekday_range),
    ("weekday", rf"(?:n?[ao]\s+|on\s+)?(?P<a>{_WD})\s+(?P<wk>{_LASTWEEK}|{_THISWEEK})", _weekday_of_week),
    ("weekday", rf"(?:n?[ao]\s+)?(?:ultim[oa]|last|past|previous)\s+(?P<a>{_WD})", _last_weekday),
    ("weekday", rf"(?:n?[ao]\s+)?(?P<a>{_WD})\s+(?:passad[oa]|anterior)", _last_weekday),
    ("weekend", r"(?:n?o\s+)?(?:ultimo|last|past|previous)\s+(?:fim de semana|final de semana|weekend)"
                r"|(?:n?o\s+)?(?:fim|final) de semana passado", _last_weekend),
    ("since", rf"(?:desde|since|a partir de)\s+(?:o\s+mes\s+de\s+|o\s+inicio\s+de\s+|the\s+start\s+of\s+)?"
              rf"(?P<m>{_FM})(?!\s*(?:de\s+|of\s+|/|-|,)?\s*(?:19|20)\d\d)",
     lambda m, now: _since_month(m, now)),
    # any year and decades (so that 1850 or 3000 are refused, not replaced by a default)
    ("year", r"(?:(?:em|in|no ano(?: de)?|the year|year|ano|during|durante)\s+)(?P<y>[1-9]\d{3})(?![\d/-])",
     _any_year),
    ("decade", r"(?:(?:in|during)\s+)?(?:the\s+)?(?:(?P<y>[12]\d{2}0)s|'?(?P<yy>[0-9]0)s)",
     lambda m, now: _decade_any(m, now)),
    ("decade", r"(?:n?a\s+)?decada\s+de\s+(?P<y>(?:[12]\d)?\d0)", _decade),
    # relative
    ("rolling", rf"(?:n[oa]s\s+|in\s+the\s+|over\s+the\s+|during\s+the\s+|for\s+the\s+)?"
                rf"(?:ultim[oa]s|last|past|previous)\s+(?P<n>{_NUM})\s*"
                r"(?P<u>dias|dia|days|day|horas|hora|hours|hour|h|semanas|semana|weeks|week|meses|mes|months|month"
                r"|anos|ano|years|year)", _rolling),
    ("rolling", _REL + r"(?:ultima semana|past week)", _fixed(7)),
    ("rolling", _REL + r"(?:ultimo mes|past month)", _fixed(30)),
    ("rolling", _REL + r"(?:ultimo ano|past year)", _fixed(365)),
    ("rolling", _REL + r"(?:ultima hora|last hour|past hour)",
     lambda m, now: (now - timedelta(hours=1), now)),
    ("today", r"(?:hoje|today|so far today|ate agora hoje)", _today),
    ("yesterday", r"(?:anteontem|day before yesterday)", _days_ago(2)),
    ("yesterday", r"(?:ontem|yesterday)", _days_ago(1)),
    ("week", r"(?:n?esta semana|n?essa semana|this week|semana atual|current week)", _this_week),
    ("week", r"(?:(?:n?a\s+)?semana passada|(?:n?a\s+)?semana anterior|last week|previous week)", _last_week),
    ("month", r"(?:n?este mes|n?esse mes|this month|mes atual|current month)", _this_month),
    ("month", r"(?:(?:n?o\s+)?mes passado|(?:n?o\s+)?mes anterior|last month|previous month)", _last_month),
    ("year", r"(?:n?este ano|n?esse ano|this year|ano atual|current year)", _this_year),
    ("year", r"(?:(?:n?o\s+)?ano passado|(?:n?o\s+)?ano anterior|last year|previous year)", _last_year),
    ("future", r"(?:amanha|tomorrow|proxim[oa]s?\s+(?:\d+\s+)?(?:dias?|semanas?|mes|meses|anos?|horas?"
               r"|verao|outono|inverno|primavera|trimestre|semestre|quinzena|fim de semana|"
               + _FM[3:-1] + r")"
               r"|next\s+(?:\d+\s+)?(?:days?|weeks?|months?|years?|hours?|summer|autumn|fall|winter"
               r"|spring|quarter|half|weekend|" + _FM[3:-1] + r")|ano que vem|semana que vem"
               r"|mes que vem|coming\s+(?:days|weeks|months))", _future),
]


def _since_month(m: re.Match[str], now: datetime) -> Range:
    """"desde outubro": from the start of the month's latest occurrence to now."""
    rng = _month_alone(m, now)
    return None if rng is None else (rng[0], now)


def _decade_any(m: re.Match[str], now: datetime) -> Range:
    y = int(m["y"] or m["yy"])
    if y < 100:
        y += 1900 if y >= 30 else 2000
    return _midnight(date(y, 1, 1)), _midnight(date(min(y + 10, 9999), 1, 1))


def _quarter_any(m: re.Match[str], now: datetime) -> Range:
    q = _QUARTER_WORDS[m["q"]]
    first = 3 * (q - 1) + 1
    y = _latest_year(m["y"] or m["y2"], first, now)
    return _midnight(date(y, first, 1)), _midnight(_add_months(date(y, first, 1), 3))


def _semester_any(m: re.Match[str], now: datetime) -> Range:
    h = _QUARTER_WORDS[m["q"]]
    if h > 2:
        return None
    first = 1 if h == 1 else 7
    y = _latest_year(m["y"] or m["y2"], first, now)
    return _midnight(date(y, first, 1)), _midnight(_add_months(date(y, first, 1), 6))


_COMPILED = [(kind, re.compile(_B + pattern + _E), handler) for kind, pattern, handler in _RULES]
_SINCE = re.compile(r"(?:desde|since|a partir de|from|starting)\s+"
                    r"(?:o\s+|a\s+|the\s+|o inicio de\s+|the start of\s+)?$")


_HOUR = r"(?P<{n}>\d{{1,2}})(?::(?P<{n}m>\d{{2}}))?\s*(?P<{n}u>am|pm|a\.m\.|p\.m\.|h|hs|hrs|horas)"
_HOUR_OPT = r"(?P<{n}>\d{{1,2}})(?::(?P<{n}m>\d{{2}}))?\s*(?P<{n}u>am|pm|a\.m\.|p\.m\.|h|hs|hrs|horas)?"
_AT = r"(?:as|a|at|por volta das|around|by)"
_FROM = r"(?:entre|between|from|das|de)"
_TO = r"(?:e|and|to|as|a|ate|until|till|-)"
_HOUR_AFTER = [
    re.compile(rf"^\s*,?\s*{_FROM}\s+" + _HOUR_OPT.format(n="h1") + rf"\s+{_TO}\s+"
               + _HOUR.format(n="h2") + _E),
    re.compile(rf"^\s*,?\s*{_AT}\s+" + _HOUR.format(n="h1") + _E),
]
_HOUR_BEFORE = [
    re.compile(_B + rf"{_FROM}\s+" + _HOUR_OPT.format(n="h1") + rf"\s+{_TO}\s+"
               + _HOUR.format(n="h2") + r"\s*,?\s*(?:de|do dia|d[eo]|on|of)?\s*$"),
    re.compile(_B + rf"{_AT}\s+" + _HOUR.format(n="h1") + r"\s*,?\s*(?:de|do dia|on|of)?\s*$"),
]
_DAY_KINDS = ("day", "yesterday", "today", "weekday")


def _hour(m: re.Match[str], n: str, unit: str | None) -> int | None:
    h = int(m[n])
    minutes = m[n + "m"]
    u = (m[n + "u"] or unit or "").replace(".", "")
    if minutes not in (None, "00") or h > 24:
        return None
    if u in ("pm",) and h < 12:
        h += 12
    elif u == "am" and h == 12:
        h = 0
    return h if 0 <= h <= 24 else None


def _narrow_to_hours(folded: str, span: tuple[int, int], day: datetime,
                     ) -> tuple[tuple[int, int], datetime, datetime] | None:
    """An hour or an hour range said just after or before a day: ``[h1, h2)`` that day."""
    s, e = span
    for rx, after in [(r, True) for r in _HOUR_AFTER] + [(r, False) for r in _HOUR_BEFORE]:
        m = rx.search(folded[e:] if after else folded[:s])
        if m is None:
            continue
        unit2 = m.groupdict().get("h2u")
        h1 = _hour(m, "h1", unit2)
        h2 = _hour(m, "h2", None) if m.groupdict().get("h2") else None
        if h1 is None or (m.groupdict().get("h2") and h2 is None):
            continue
        if h2 is None:
            h2 = h1 + 1
        if not h1 < h2 <= 24:
            continue
        base = datetime.combine(day.date(), time(0), tzinfo=LOCAL)
        new_span = (s, e + m.end()) if after else (m.start(), e)
        return new_span, base + timedelta(hours=h1), base + timedelta(hours=h2)
    return None


def find_time(folded: str, now: datetime) -> TimeMatch | None:
    """The time expression in ``folded`` text, resolved against ``now`` (aware, local).

    The longest match wins (ties: the earliest). Periods that contain ``now`` end at
    ``now``; periods after ``now`` are marked ``future``. Words that read as a date but
    name none (31 de fevereiro) give an ``invalid`` match unless a longer valid one
    covers them.
    """
    now = now.astimezone(LOCAL)
    best: tuple[int, int, str, tuple[datetime, datetime]] | None = None
    invalid: tuple[int, int] | None = None
    for kind, rx, handler in _COMPILED:
        for m in rx.finditer(folded):
            try:
                rng = handler(m, now)
            except ValueError:  # 31 de fevereiro, a year out of range...
                if invalid is None or m.end() - m.start() > invalid[1] - invalid[0]:
                    invalid = (m.start(), m.end())
                continue
            except KeyError:
                continue
            if rng is None:
                continue
            length = m.end() - m.start()
            if best is None or length > best[1] - best[0] or (
                    length == best[1] - best[0] and m.start() < best[0]):
                best = (m.start(), m.end(), kind, rng)
    if invalid is not None and (best is None or invalid[1] - invalid[0] >= best[1] - best[0]
                                or not (best[0] <= invalid[0] and invalid[1] <= best[1])):
        return TimeMatch(start=now, stop=now, span=invalid, kind="invalid", invalid=True)
    if best is None:
        return None
    s, e, kind, (start, stop) = best
    if kind in _DAY_KINDS and stop - start == timedelta(days=1):
        narrowed = _narrow_to_hours(folded, (s, e), start)
        if narrowed is not None:
            (s, e), start, stop = narrowed
            kind = "hour"
    since = _SINCE.search(folded[:s])
    if since and kind not in ("rolling", "date_range", "day_range", "future", "hour"):
        s = since.start()
        stop = now
        kind = "since"
    future = kind == "future" or start >= now
    if not future and stop > now:
        stop = now
    return TimeMatch(start=start, stop=stop, span=(s, e), kind=kind, future=future)


#: words that keep only some days of the period: "nos fins de semana", "on weekdays"
DAY_FILTERS: list[tuple[str, re.Pattern[str]]] = [
    ("weekend", re.compile(_B + r"(?:(?:n?os|n?as|on|during|over)\s+(?:the\s+)?)?"
                           r"(?:fins de semana|finais de semana"
                           r"|fim de semana|final de semana|weekends?)" + _E)),
    ("weekday", re.compile(_B + r"(?:(?:n?os|on|during|over)\s+(?:the\s+)?)?"
                           r"(?:dias uteis|dia util|dias de semana"
                           r"|dias da semana|weekdays|working days|business days|work days|workdays)" + _E)),
]

_HINTS = re.compile(_B + "(?:" + "|".join([
    r"(?:semana|week)\s+(?:n[o.]?\s*)?\d+", r"\d+(?:a|o|st|nd|rd|th)?\s+(?:semana|week|mes|month)",
    r"(?:mes|month)\s+\d+", r"[qt]\d", r"h[3-9]",
    r"carnaval|carnival|natal|christmas|xmas|pascoa|easter|reveillon|ano novo|new year'?s?"
    r"|feriados?|holidays?|sao joao|thanksgiving|black friday",
    r"decadas?|decades?|seculos?|century|centuries|millenni\w*|milenio",
    r"madrugada|manha|tarde|noite|morning|afternoon|evening|night|overnight",
    _FM, r"segunda-feira|terca-feira|terca|quarta-feira|quinta-feira|sexta-feira|sabados?|domingos?"
    r"|mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|saturdays?|sundays?",
    r"(?:1[0-9]|2[0-9])\d\d(?!\s*(?:mw|gw|kw|mwh|gwh|kv|%|reais))",
    r"\d{1,2}/\d{1,2}(?:/\d{2,4})?", r"\d{4}-\d{2}(?:-\d{2})?",
]) + ")" + _E)


def unexplained_period(folded: str) -> str | None:
    """Period words in ``folded`` (the question with its understood period and names masked)
    that no rule turned into a period: "Carnaval", "semana 60", "Q5", a stray year."""
    m = _HINTS.search(folded)
    return None if m is None else m.group(0)


def default_range(now: datetime, days: int = DEFAULT_DAYS) -> tuple[datetime, datetime]:
    """The range used when a question names no time: the last ``days`` days (rolling)."""
    now = now.astimezone(LOCAL)
    return now - timedelta(days=days), now


def grain_for(start: datetime, stop: datetime) -> str:
    """Window for a trend: hourly up to 2 days, daily up to 92 days, weekly beyond."""
    span = stop - start
    if span <= timedelta(days=2):
        return "1h"
    if span <= timedelta(days=92):
        return "1d"
    return "7d"
