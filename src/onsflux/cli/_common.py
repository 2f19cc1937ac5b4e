"""What every command module shares: exit codes, the settings of this run, ``friendly``.

``app.py`` (the root command) and the subcommand modules (``migrate``, ``query``, ``ask``,
``cutover``…) all import from here, so none of them imports another: the root registers
the subcommands, and a subcommand never reaches back into the root.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from ..exceptions import OnsfluxError
from ..settings import Settings
from .output import print_error

EXIT_FAILED, EXIT_USAGE, EXIT_REJECTS = 1, 2, 3

F = TypeVar("F", bound=Callable[..., Any])
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


class _State:
    settings: Settings | None = None


_state = _State()


def use_settings(settings: Settings) -> None:
    """Set the settings of this run (the root callback does, once flags are read)."""
    _state.settings = settings


def settings() -> Settings:
    assert _state.settings is not None
    return _state.settings


def friendly(fn: F) -> F:
    """Map our errors to a one-line message and exit code 1 — never a traceback.

    Foreign exceptions are translated where they are raised; one that still escapes is
    a bug, reported as one line (type and redacted message) rather than a traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OnsfluxError as exc:
            print_error(exc)
            raise typer.Exit(EXIT_FAILED) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
            print_error(f"{type(exc).__name__}: {exc} (unexpected: please report it with the "
                        "command you ran)", "internal error:")
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]


def client() -> Any:
    """An ``InfluxClient`` for this run's settings (the local server when none is set)."""
    from ..influx.client import InfluxClient
    from ..influx.local import resolve_url

    s = settings()
    return InfluxClient(s, url=resolve_url(s))


def store() -> Any:
    """The state store this run's settings name."""
    from ..state.store import store_for

    return store_for(settings())
