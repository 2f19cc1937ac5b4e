"""The real Flux checker (flux-lsp WebAssembly from npm), run by node.

``check_flux(scripts)`` returns one ``FluxVerdict`` per script: parsed and type-checked
by ``Flux.is_valid()`` and the language server's diagnostics (``tools/fluxcheck``).
When node or the npm package is missing, or the checker itself fails, it raises
``FluxCheckerUnavailable`` -- tests that use it then *fail*, never skip. ``make
fluxcheck`` (a dependency of ``make setup``/``make test``) installs the package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "tools" / "fluxcheck"
PACKAGE = CHECKER / "node_modules" / "@influxdata" / "flux-lsp-browser"


class FluxCheckerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class FluxVerdict:
    valid: bool
    diagnostics: list[dict[str, object]] = field(default_factory=list)

    def explain(self) -> str:
        return "; ".join(f"{d.get('line')}:{d.get('character')} {d.get('message')}"
                         for d in self.diagnostics) or "no diagnostics"


def check_flux(scripts: list[str], *, timeout: float = 120.0) -> list[FluxVerdict]:
    node = shutil.which("node")
    if node is None:
        raise FluxCheckerUnavailable("node is not installed: the Flux checker cannot run")
    if not (PACKAGE / "flux-lsp-browser_bg.wasm").exists():
        raise FluxCheckerUnavailable(
            f"{PACKAGE} is missing: run `make fluxcheck` (npm install in tools/fluxcheck)")
    proc = subprocess.run(
        [node, str(CHECKER / "fluxcheck.mjs")], input=json.dumps(scripts), text=True,
        capture_output=True, timeout=timeout, cwd=CHECKER, check=False,
    )
    if proc.returncode != 0:
        raise FluxCheckerUnavailable(f"fluxcheck exited {proc.returncode}: {proc.stderr[-2000:]}")
    try:
        verdicts = json.loads(proc.stdout)
    except ValueError as exc:
        raise FluxCheckerUnavailable(f"fluxcheck printed no JSON: {proc.stdout[-500:]!r}") from exc
    if len(verdicts) != len(scripts):
        raise FluxCheckerUnavailable(f"fluxcheck answered {len(verdicts)} of {len(scripts)}")
    return [FluxVerdict(bool(v["valid"]), list(v.get("diagnostics") or [])) for v in verdicts]
