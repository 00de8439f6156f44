"""The ``odibi-stream`` command: entry point, global options and error presentation.

Errors are presented, not dumped: an :class:`OdibiError` prints ``file:line: message`` plus a
hint and exits 2 (configuration) or 1 (anything else); a traceback appears only with ``--debug``
(and for unexpected errors, which are bugs). Every output is redacted: ``sys.stdout`` and
``sys.stderr`` are wrapped in :class:`~odibi_stream.core.redact_stream.RedactingStream` before
any command runs, so command output, ``--json`` documents, logs and tracebacks all pass through
the one redaction layer (secrets appear as their ``${secret:NAME}`` reference or ``***``).

Start-up stays light: the command modules import only click (and small helpers) at load, and
import the runtime, engines and connectors inside the command that needs them, so
``--version`` and ``--help`` import none of pandas, DuckDB, deltalake, pyarrow or any optional
extra (``tests/unit/cli/test_light_imports.py`` holds this).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from odibi_stream import __version__
from odibi_stream.core import redact_stream
from odibi_stream.core.redact import redact
from odibi_stream.exceptions import ConfigError, OdibiError

EXIT_CONFIG = 2
EXIT_FAILURE = 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="odibi-stream")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Log output format."
)
@click.option("--log-level", default="INFO", show_default=True, help="Log level.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, log_format: str, log_level: str) -> None:
    """odibi-stream: streaming-first event runtime for data pipelines."""
    from odibi_stream.observability.logs import configure_logging

    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    configure_logging(fmt=log_format, level=log_level)


def _register() -> None:
    from odibi_stream.cli import checkpoint, daemon, ops_cmds, project_cmds, recovery, run

    for module in (project_cmds, run, checkpoint, daemon, recovery, ops_cmds):
        for command in module.COMMANDS:
            cli.add_command(command)
    from odibi_stream.cli.lease_cmds import register as register_lease_commands

    register_lease_commands(cli)


def report_error(exc: OdibiError) -> None:
    """Print an error as ``[file:line: ]message`` and an optional ``hint:`` line to stderr."""
    errors = getattr(exc, "errors", None) or [exc]
    for err in errors:
        click.echo(redact(f"error: {err}"), err=True)
        if err.hint:
            click.echo(redact(f"  hint: {err.hint}"), err=True)


def report_traceback(exc: BaseException) -> None:
    """Print ``exc``'s traceback to stderr, redacted (``--debug``, or an unexpected error)."""
    text = "".join(traceback.format_exception(exc))
    click.echo(redact(text.rstrip("\n")), err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    redact_stream.install()
    _register()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="odibi-stream", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_CONFIG if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OdibiError as exc:
        if debug:
            report_traceback(exc)
        report_error(exc)
        sys.exit(EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_FAILURE)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: show where, never a secret
        report_traceback(exc)
        click.echo("error: internal error (a bug in odibi-stream; the traceback above says where)", err=True)
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":  # pragma: no cover
    main()
