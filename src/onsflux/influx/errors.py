"""Pure parsing of InfluxDB write error bodies into ``WriteError`` records.

No I/O: give it the body of a 4xx answer to a write, get back what was dropped and why,
so the pipeline can turn dropped points into rejects.

What the servers say (InfluxDB 1.6.7 measured against the real server, 2.x/3.x from
their documentation and source):

1.x, ``POST /write`` answers ``400`` with ``{"error": "..."}``:

- ``partial write: field type conflict: input field "f" on measurement "m" is type
  integer, already exists as type float dropped=N`` -- the other points of the body
  **were written**; ``N`` counts every conflicting point, but only the *first* conflict
  is named (two fields conflicting in one body give one message with their sum).
- ``partial write: points beyond retention policy dropped=N`` -- the others were written.
- ``partial write: unable to parse 'LINE1': REASON1\\nunable to parse 'LINE2': REASON2
  dropped=0`` -- some lines could not be parsed; every parseable line **was written**.
  Each unparseable line is named (in full) and is one dropped point; the trailing
  ``dropped=0`` does not count them.
- ``unable to parse 'LINE': REASON`` (no ``partial write:`` prefix, possibly several
  joined by newlines) -- *no* line of the body could be parsed: nothing was written.
- When one body mixes problems, 1.6.7 reports only one of them, in this order of
  precedence: type conflict, then beyond retention, then parse errors. A parse error or a
  point beyond retention in a body that also has a type conflict is dropped *silently*
  (``dropped=`` does not count it). Reconcile counts if exact accounting matters.
- A type conflict (or beyond-retention) that drops every point of the body is still
  reported as ``partial write: ... dropped=N`` with ``N`` equal to the number of lines.
- A bare ``field type conflict`` (no ``partial write``, no names) comes when one body
  gives a field two types and its measurement does not exist yet in that shard: the
  *whole body* is refused, other measurements' points included -- nothing is written.
  (When the measurement exists but the field is new, the same body is a partial write.)
  Field types are enforced per shard (7-day shard groups under a 2555d policy): a
  conflicting type in another week is *accepted*, so the encoder must keep catalog types.
- ``database not found: "x"`` comes with ``404``.

2.x answers ``400``/``422`` with ``{"code": "invalid", "message": "partial write error
(N written): unable to parse '...': ..."}`` or ``{"code": "unprocessable entity",
"message": "failure writing points to database: partial write: field type conflict: ...
dropped=1"}``; 3.x answers ``{"error": "partial write of line protocol occurred",
"data": [{"original_line": "...", "line_number": 2, "error_message": "..."}]}``.
All three shapes are understood here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

WriteErrorKind = Literal["field_type_conflict", "beyond_retention", "unable_to_parse", "other"]

_PARTIAL = "partial write: "
_PARSE = "unable to parse '"
_DROPPED_RE = re.compile(r"\s*dropped=(\d+)\s*$")
_WRITTEN_RE = re.compile(r"partial write error \((\d+) written\):\s*")
# Go %q-quoted names: a double quote, then escaped characters or anything but a quote
_Q = r'"(?:\\.|[^"\\])*"'
_CONFLICT_RE = re.compile(
    rf"field type conflict: input field (?P<field>{_Q}) on measurement (?P<measurement>{_Q})"
    r" is type (?P<input_type>\w+), already exists as type (?P<existing_type>\w+)"
)
_PARSE_SPLIT_RE = re.compile(r"\n(?=unable to parse ')")


@dataclass(frozen=True)
class WriteError:
    """One reason the server dropped points of a write.

    ``dropped`` is the number of points this error accounts for (``1`` for each
    unparseable line; the server's ``dropped=N`` for a type conflict or retention), or
    ``None`` when the server did not say.
    """

    kind: WriteErrorKind
    message: str
    dropped: int | None = None
    field: str | None = None
    measurement: str | None = None
    line: str | None = None
    reason: str | None = None
    input_type: str | None = None
    existing_type: str | None = None
    line_number: int | None = None

    def summary(self, limit: int = 160) -> str:
        """A short one-line description (the reason first, the line cut to ``limit``)."""
        if self.kind == "unable_to_parse" and self.line is not None:
            line = self.line if len(self.line) <= limit else self.line[: limit - 1] + "…"
            return f"unable to parse ({self.reason or 'no reason given'}): {line!r}"
        text = self.message
        return text if len(text) <= 2 * limit else text[: 2 * limit - 1] + "…"


def summarize(errors: list[WriteError]) -> str:
    """The first error's summary, plus how many more there are."""
    if not errors:
        return "no detail"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return errors[0].summary() + more


@dataclass(frozen=True)
class WriteErrorReport:
    """Everything one error body says.

    ``partial``: the server says it wrote the other points of the body; ``written``: how
    many it wrote, when it says (2.x); ``dropped``: the server's own ``dropped=N`` figure.
    """

    partial: bool
    errors: list[WriteError] = field(default_factory=list)
    written: int | None = None
    dropped: int | None = None
    message: str = ""

    @property
    def dropped_total(self) -> int:
        """Points known to be dropped: the sum over the errors (parse errors count 1 each)."""
        return sum(e.dropped or 0 for e in self.errors)


def _unquote_go(text: str) -> str:
    """Undo Go's ``%q`` quoting (close enough to JSON for names)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text[1:-1]
    return value if isinstance(value, str) else text[1:-1]


def _body_text(body: str | bytes) -> tuple[str, list[dict[str, Any]]]:
    """The error message of a body in any of the three shapes, and 3.x's per-line data."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = body.strip()
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        return text, []
    if not isinstance(doc, dict):
        return text, []
    message = doc.get("error") or doc.get("message") or ""
    if not isinstance(message, str):
        message = json.dumps(message)
    data = doc.get("data")
    if isinstance(data, dict):
        data = [data]
    items = [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []
    return message, items


def classify(message: str, *, dropped: int | None = None) -> WriteError:
    """One error message (one item of a body) as a ``WriteError``."""
    msg = message.strip()
    if msg.startswith(_PARSE):
        line, sep, reason = msg[len(_PARSE) :].rpartition("': ")
        if not sep:  # no reason given
            line, reason = msg[len(_PARSE) :].rstrip("'"), ""
        return WriteError(
            kind="unable_to_parse", message=msg, dropped=1, line=line, reason=reason or None
        )
    m = _CONFLICT_RE.search(msg)
    if m:
        return WriteError(
            kind="field_type_conflict",
            message=msg,
            dropped=dropped,
            field=_unquote_go(m["field"]),
            measurement=_unquote_go(m["measurement"]),
            input_type=m["input_type"],
            existing_type=m["existing_type"],
        )
    if msg.startswith("field type conflict"):  # 1.6.7: intra-batch conflict, no detail
        return WriteError(kind="field_type_conflict", message=msg, dropped=dropped)
    if "beyond retention policy" in msg:
        return WriteError(kind="beyond_retention", message=msg, dropped=dropped)
    return WriteError(kind="other", message=msg, dropped=dropped)


def parse_write_response(body: str | bytes) -> WriteErrorReport:
    """Parse the body of a failed (4xx) write into a ``WriteErrorReport``."""
    message, items = _body_text(body)

    if items:  # InfluxDB 3: one entry per rejected line
        errors = []
        for item in items:
            reason = str(item.get("error_message") or "")
            line = item.get("original_line")
            number = item.get("line_number")
            err = classify(reason, dropped=1)
            errors.append(
                WriteError(
                    kind=err.kind if err.kind != "other" else "unable_to_parse",
                    message=reason,
                    dropped=1,
                    field=err.field,
                    measurement=err.measurement,
                    line=str(line) if line is not None else None,
                    reason=reason or None,
                    input_type=err.input_type,
                    existing_type=err.existing_type,
                    line_number=int(number) if isinstance(number, int) else None,
                )
            )
        return WriteErrorReport(
            partial="partial" in message.lower(), errors=errors, message=message
        )

    text = message
    partial = False
    written: int | None = None
    m = _WRITTEN_RE.search(text)
    if m:  # 2.x: "partial write error (N written): ..."
        written = int(m.group(1))
        partial = written > 0
        text = text[m.end() :]
    first_parse = text.find(_PARSE)
    p = text.find(_PARTIAL)
    if p >= 0 and (first_parse < 0 or p < first_parse):
        partial = True
        text = text[p + len(_PARTIAL) :]

    dropped: int | None = None
    d = _DROPPED_RE.search(text)
    if d:
        dropped = int(d.group(1))
        text = text[: d.start()]

    if text.lstrip().startswith(_PARSE) or (first_parse >= 0 and _PARSE in text):
        start = text.find(_PARSE)
        head = text[:start].strip()
        parts = _PARSE_SPLIT_RE.split(text[start:])
        errors = [classify(part) for part in parts if part.strip()]
        if head:
            errors.insert(0, classify(head, dropped=dropped or None))
    elif text.strip():
        errors = [classify(text, dropped=dropped)]
    else:
        errors = []
    return WriteErrorReport(
        partial=partial, errors=errors, written=written, dropped=dropped, message=message
    )


def parse_write_errors(body: str | bytes) -> list[WriteError]:
    """The ``WriteError`` list of a failed write body (see ``parse_write_response``)."""
    return parse_write_response(body).errors
