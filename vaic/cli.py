"""``vaic`` (also installed as ``vai_c_xir``): compile a quantized .xmodel for a DPU target.

    vaic -x quantize_result/Net_int.xmodel -a DPUCZDX8G/KV260 -o compile_output -n net [--options JSON]
    vaic inspect compile_output/net.xmodel [--json FILE]
    vaic disasm compile_output/net.xmodel [--subgraph NAME]
    vaic sweep quantize_result/Net_int.xmodel [--targets all|FAMILY|LIST] [--ray local|ADDRESS]  (vaic/cli_sweep.py)

Exit codes: 0 success, 1 the compiler failed (a bug, reported with what it was doing), 2 bad input.
"""
from __future__ import annotations

import sys
import traceback

import click

from xir.cli import OneLineGroup

from .errors import CompilerBug, VaicError

_CTX = {"help_option_names": ["-h", "--help"]}


def _fail(e: Exception, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    click.echo(f"vaic: error: {e}", err=True)
    sys.exit(code)


def _run(fn, debug: bool):
    from xir.errors import XirError
    try:
        return fn()
    except (VaicError, XirError) as e:
        _fail(e, 2, debug)
    except CompilerBug as e:
        _fail(f"compiler bug: {e}", 1, debug)
    except Exception as e:  # any other failure is ours, not the user's
        _fail(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", 1, debug)


def _compile(xmodel, arch, output_dir, net_name, options, quiet, debug):
    from .options import parse_options
    from .pipeline import compile_graph
    from .report import compile_log
    from .writer import check_net_name, write_outputs
    from xir.files import check_output_location

    def work():
        if not xmodel or not arch:
            raise VaicError("missing -x/--xmodel or -a/--arch; usage: vaic -x MODEL.xmodel -a ARCH -o DIR -n NAME")
        name = check_net_name(net_name or "net")       # before compiling: a bad name fails fast
        check_output_location(output_dir or "compile_output")
        opts = parse_options(options)
        result = compile_graph(xmodel, arch, opts)
        files = write_outputs(result, output_dir or "compile_output", name)
        if not quiet:
            for line in compile_log(result, files):
                click.echo(line)
    _run(work, debug)


@click.group(cls=OneLineGroup, invoke_without_command=True, context_settings=_CTX)
@click.option("-x", "--xmodel", type=click.Path(dir_okay=False), help="quantized model (<Net>_int.xmodel)")
@click.option("-a", "--arch", help="arch.json path or FAMILY/BOARD name (e.g. DPUCZDX8G/KV260)")
@click.option("-o", "--output_dir", "--output-dir", "output_dir", help="output directory [compile_output]")
@click.option("-n", "--net_name", "--net-name", "net_name", help="name of the compiled model [net]")
@click.option("--options", help='JSON, e.g. \'{"input_shape": "1,224,224,3", "output_ops": "fc_fix"}\'')
@click.option("-q", "--quiet", is_flag=True, help="print nothing on success")
@click.option("--debug", is_flag=True, help="show tracebacks")
@click.pass_context
def main(ctx, xmodel, arch, output_dir, net_name, options, quiet, debug):
    """Compile a quantized .xmodel into DPU/CPU subgraphs with DPU instruction streams."""
    ctx.obj = {"debug": debug}
    if ctx.invoked_subcommand is None:
        _compile(xmodel, arch, output_dir, net_name, options, quiet, debug)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="also write the report as JSON")
@click.option("--debug", is_flag=True)
def inspect(model, json_file, debug):
    """Subgraphs, ops per device with reasons, workloads and DDR registers of a compiled model."""
    from .report import inspect_model
    _run(lambda: inspect_model(model, json_file), debug)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--subgraph", help="only this DPU subgraph")
@click.option("--debug", is_flag=True)
def disasm(model, subgraph, debug):
    """The instruction stream of each DPU subgraph as text, annotated with the layer it serves."""
    from .report import disassemble_model
    _run(lambda: click.echo(disassemble_model(model, subgraph), nl=False), debug)


from .cli_sweep import sweep_command  # noqa: E402  (its own module)

main.add_command(sweep_command)

if __name__ == "__main__":
    main()
