"""The command-line contract the tools share: a usage error (unknown option, missing argument, a path
click refuses) is one line on stderr with exit code 2, like every other bad input (docs/robustness.md)."""
from __future__ import annotations

import re
import sys

import click

_NoArgs = getattr(click.exceptions, "NoArgsIsHelpError", ())


def one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", str(text).strip())


class OneLineGroup(click.Group):
    """A click group whose usage errors are one line on stderr with exit code 2 (bare invocation: help)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except _NoArgs as e:              # the bare command: its help text
            click.echo(e.ctx.get_help())
            sys.exit(0)
        except click.UsageError as e:
            where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            click.echo(f"Error: {one_line(e.format_message())}{where}", err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.ClickException as e:
            click.echo(f"Error: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)
