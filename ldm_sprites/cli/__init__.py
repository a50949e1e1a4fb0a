"""The ``ldmsprites`` command line.

Each command lives in its own module under ``ldm_sprites/cli/`` and is imported only when it runs
(or when ``--help`` lists it), so that ``ldmsprites generate`` does not pay for importing every
other feature. Heavy libraries (torch, matplotlib, vtracer) are imported inside command bodies.
"""

from __future__ import annotations

import errno
import importlib
import sys

import click

# command name -> "module:function". Add a line here to register a new command.
COMMANDS: dict[str, str] = {
    "demo-data": "ldm_sprites.cli.data_cmd:demo_data",
    "train-diffusion": "ldm_sprites.cli.train_cmd:train_diffusion",
    "train-ae": "ldm_sprites.cli.ae_cmd:train_ae",
    "generate": "ldm_sprites.cli.generate_cmd:generate",
    "classes": "ldm_sprites.cli.generate_cmd:classes",
    "info": "ldm_sprites.cli.info_cmd:info",
    "export": "ldm_sprites.cli.export_cmd:export",
    "export-onnx": "ldm_sprites.cli.onnx_cmd:export_onnx",
    "animate": "ldm_sprites.cli.visual_cmd:animate",
    "plot": "ldm_sprites.cli.visual_cmd:plot",
    "report": "ldm_sprites.cli.visual_cmd:report",
    "eval": "ldm_sprites.cli.eval_cmd:eval_cmd",
    "demo": "ldm_sprites.cli.demo_cmd:demo",
    "vary": "ldm_sprites.cli.edit_cmd:vary",
    "inpaint": "ldm_sprites.cli.edit_cmd:inpaint",
    "studio": "ldm_sprites.cli.studio_cmd:studio",
    "bundle": "ldm_sprites.cli.bundle_cmd:bundle",
}

_VERBOSE = False


class LazyGroup(click.Group):
    """A group that imports a command's module on first use and turns crashes into one line."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:  # a broken optional dependency must not break --help or others
            return _unavailable(name, exc)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name is not None and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise click.UsageError(f"No such command '{name}'.{hint}", ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise _Interrupted("interrupted") from None
        except OSError as exc:
            if _VERBOSE:
                raise
            if exc.errno in _OS_ERRNOS:  # disk full, permissions, read-only: what and where
                from ldm_sprites.fsutil import describe_os_error

                raise click.ClickException(describe_os_error(exc.filename, exc)) from None
            raise _one_line(exc) from None
        except MemoryError:
            raise click.ClickException(
                "out of memory: lower --batch-size or --num, or use a smaller preset"
            ) from None
        except Exception as exc:  # noqa: BLE001 - the point is to never show a traceback
            if _VERBOSE:
                raise
            raise _one_line(exc) from None


class _Interrupted(click.ClickException):
    exit_code = 130  # the shell's convention for Ctrl-C


_OS_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def _one_line(exc: BaseException) -> click.ClickException:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return click.ClickException(f"{type(exc).__name__}: {msg} (run with --verbose for the traceback)")


def _unavailable(name: str, exc: ImportError) -> click.Command:
    """A stand-in for a command whose module cannot be imported: listed, fails in one line."""
    def fail():
        if _VERBOSE:  # set by now: the group's callback runs after commands are resolved
            raise exc
        raise click.ClickException(f"'{name}' is unavailable: {type(exc).__name__}: {exc} "
                                   "(reinstall ldm-sprites with its dependencies)")

    return click.Command(name, callback=fail, help=f"(unavailable: {exc})",
                         short_help="(unavailable: run it for the reason)",
                         context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True})


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", is_flag=True, help="Show full tracebacks for unexpected errors.")
@click.version_option(package_name="ldm-sprites")
def cli(verbose: bool) -> None:
    """Train class-conditional diffusion models on sprites and export game-ready assets."""
    global _VERBOSE
    _VERBOSE = verbose


def main() -> None:
    cli(prog_name="ldmsprites")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
