"""The operator's verbs: status, shadow, shift, promote, rollback, report.

Library first (the CLI and the ``/ops`` page call these): each verb reads the state,
checks what it must (the gate for ``shift``/``promote``), and makes one audited,
versioned transition. A refusal raises :class:`GateRefused` naming every failed
condition and its margin; ``force=True`` with a ``reason`` overrides it, and the
override is recorded with the gate's results.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..exceptions import ConfigError, TerminalError
from ..settings import Settings
from .backends import BACKENDS
from .compare import IgnoreRules
from .gate import GateResult, VerifyRecord, evaluate, last_verify
from .state import CutoverState, CutoverStore, Thresholds, open_cutover_store, whoami
from .stats import Figures, figures

#: comparisons the figures are computed over (the newest, in the current session)
FIGURES_WINDOW = 20_000


class GateRefused(TerminalError):
    """``shift``/``promote`` refused: the message names each failed condition."""

    kind = "gate_refused"

    def __init__(self, message: str, gate: GateResult) -> None:
        self.gate = gate
        super().__init__(message)


class Cutover:
    """The cutover of one deployment (its state store)."""

    def __init__(self, settings: Settings, store: CutoverStore | None = None, *,
                 who: str | None = None, now: Callable[[], float] = time.time,
                 verify: Callable[[], VerifyRecord | None] | None = None) -> None:
        self.settings = settings
        self.store = store or open_cutover_store(settings)
        self._who = who
        self.now = now
        self._verify = verify or (lambda: last_verify(settings.state_path))

    @property
    def who(self) -> str:
        if self._who is None:
            self._who = whoami(self.settings)
        return self._who

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ reading
    def figures(self, state: CutoverState | None = None) -> Figures:
        st = state or self.store.get_state()
        return figures(self.store.comparisons(FIGURES_WINDOW, since=st.session_started or None))

    def gate(self, state: CutoverState | None = None) -> GateResult:
        st = state or self.store.get_state()
        return evaluate(self.figures(st), st.thresholds, self._verify(), self.now())

    def status(self, *, mismatches: int = 5) -> dict[str, Any]:
        """Phase, figures (consistency vs noise floor, latency and errors per side),
        recent mismatches, the gate, and the latest audit entries."""
        st = self.store.get_state()
        fig = self.figures(st)
        return {
            "configured": st.version > 0,
            "state": st.as_dict(),
            "figures": fig.as_dict(),
            "gate": self.gate(st).as_dict(),
            "mismatches": [m.as_dict() for m in self.store.mismatches(mismatches)],
            "audit": [a.as_dict() for a in self.store.audit(20)],
        }

    # ------------------------------------------------------------------ transitions
    def shadow(self, *, blue: str, sample: float = 0.1, files_path: str | None = None,
               control_sample: float | None = None, ignore: str | None = None,
               timeout_ms: float | None = None, thresholds: dict[str, Any] | None = None,
               reason: str = "") -> CutoverState:
        """Start (or restart) comparing: blue serves, green is shadowed on ``sample``."""
        if blue not in BACKENDS or blue == "influxdb":
            raise ConfigError(f"--blue must be timestream or files, not {blue!r}")
        if not 0 <= sample <= 1:
            raise ConfigError(f"--sample must be in [0, 1], not {sample}")
        if blue == "files" and not (files_path or self.settings.fallback_path):
            raise ConfigError("--blue files needs --files PATH (the processed Parquet files) "
                              "or ONSFLUX_FALLBACK_PATH")
        IgnoreRules.parse(ignore)  # refuse a bad rule now, not in the worker
        st = self.store.get_state()
        th = st.thresholds.with_changes(**(thresholds or {}))
        new = replace(st, phase="shadow", percent=0.0, blue=blue, sample=sample,
                      files_path=files_path or (self.settings.fallback_path if blue == "files"
                                                else None),
                      control_sample=st.control_sample if control_sample is None
                      else control_sample,
                      ignore=st.ignore if ignore is None else ignore,
                      timeout_ms=st.timeout_ms if timeout_ms is None else timeout_ms,
                      thresholds=th, session_started=self.now())
        return self.store.transition(new, expected_version=st.version, action="shadow",
                                     who=self.who, reason=reason or "start shadow comparison")

    def _gated(self, st: CutoverState, action: str, force: bool, reason: str | None
               ) -> tuple[GateResult, bool]:
        gate = self.gate(st)
        if gate.ok:
            return gate, False
        if force:
            if not reason:
                raise ConfigError("--force needs --reason: the override is recorded")
            return gate, True
        lines = "\n".join(f"  - {c.name}: {c.message}" for c in gate.failures)
        raise GateRefused(f"{action} refused by the gate ({len(gate.failures)} of "
                          f"{len(gate.checks)} conditions failed):\n{lines}\n"
                          "fix them, or override with --force --reason TEXT (recorded)", gate)

    def shift(self, percent: float, *, force: bool = False, reason: str | None = None
              ) -> CutoverState:
        """Serve ``percent`` of specs (sticky) from green; more exposure passes the gate."""
        if not 0 < percent < 100:
            raise ConfigError(f"--percent must be in (0, 100); use promote for 100, not {percent}")
        st = self.store.get_state()
        if st.phase not in ("shadow", "canary"):
            raise ConfigError(f"shift works from shadow or canary; the phase is {st.phase!r}"
                              + (" (start with onsflux cutover shadow)"
                                 if st.phase in ("blue", "rolled-back") else ""))
        more = percent > (st.percent if st.phase == "canary" else 0.0)
        gate, forced = self._gated(st, "shift", force, reason) if more else (self.gate(st), False)
        return self.store.transition(
            replace(st, phase="canary", percent=float(percent)), expected_version=st.version,
            action="shift", who=self.who, forced=forced, gate=gate.as_dict(),
            reason=reason or f"canary {percent:g}%")

    def promote(self, *, compare: bool = True, force: bool = False,
                reason: str | None = None) -> CutoverState:
        """Serve everything from green (``green-shadow``: blue still compared)."""
        st = self.store.get_state()
        if st.phase not in ("shadow", "canary", "green", "green-shadow"):
            raise ConfigError(f"promote works from shadow or canary; the phase is {st.phase!r}")
        gate, forced = self._gated(st, "promote", force, reason)
        return self.store.transition(
            replace(st, phase="green-shadow" if compare else "green", percent=100.0),
            expected_version=st.version, action="promote", who=self.who, forced=forced,
            gate=gate.as_dict(), reason=reason or "promote green")

    def rollback(self, *, reason: str | None = None) -> CutoverState:
        """Back to blue at once, from any phase (no gate: going back is always allowed)."""
        st = self.store.get_state()
        if st.version == 0:
            raise ConfigError("no cutover has started: nothing to roll back")
        return self.store.transition(
            replace(st, phase="rolled-back", percent=0.0), expected_version=st.version,
            action="rollback", who=self.who, gate=self.gate(st).as_dict(),
            reason=reason or "rollback by hand")

    def set_thresholds(self, changes: dict[str, Any], *, reason: str | None = None
                       ) -> CutoverState:
        st = self.store.get_state()
        return self.store.transition(
            replace(st, thresholds=st.thresholds.with_changes(**changes)),
            expected_version=st.version, action="thresholds", who=self.who,
            reason=reason or f"thresholds: {changes}")

    # ------------------------------------------------------------------ report
    def report(self, *, limit: int = 500, fmt: str = "json") -> str:
        """The mismatch records (spec, digests, diff sample) as JSON or CSV (one diff a row)."""
        records = self.store.mismatches(limit)
        if fmt == "json":
            return json.dumps([r.as_dict() for r in records], indent=2, default=str)
        if fmt != "csv":
            raise ConfigError(f"--format must be json or csv, not {fmt!r}")
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["at", "spec_hash", "outcome", "control", "blue_digest", "green_digest",
                    "blue_rows", "green_rows", "diff_kind", "field", "tags", "time",
                    "blue_value", "green_value", "spec", "detail"])
        for r in records:
            diffs = r.diffs or [{}]
            for d in diffs:
                w.writerow([f"{r.at:.3f}", r.spec_hash, r.outcome, r.control, r.blue_digest,
                            r.green_digest, r.blue_rows, r.green_rows, d.get("kind", ""),
                            d.get("field", ""), json.dumps(d.get("tags", {}), sort_keys=True),
                            d.get("time", ""), d.get("control", ""), d.get("candidate", ""),
                            json.dumps(r.spec, sort_keys=True), r.detail])
        return buf.getvalue()


def parse_thresholds(items: list[str]) -> dict[str, Any]:
    """``["min_comparisons=200", …]`` -> changes (checked by ``Thresholds.with_changes``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"threshold {item!r}: use NAME=VALUE")
        out[key.strip()] = value.strip()
    Thresholds().with_changes(**out)
    return out
