"""The ``gsam-lab`` command: run notebooks headless, check the installation, render data.

::

    gsam-lab run                         # every notebook in notebooks/, quick profile, CPU
    gsam-lab run 01 03 --profile full -p device=cuda -p seed=1 --out runs/full
    gsam-lab doctor                      # versions, device, bundled weights, caches
    gsam-lab render --split test --n 4 --out renders/   # synthetic panoramas as PNG files
    gsam-lab site [RUN_DIR] [--out DIR]  # the executed notebooks as a static HTML site (the site extra)
"""
from __future__ import annotations

import argparse
import ast
import logging
import math
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional, Sequence

__all__ = ["main", "build_parser"]


def _parse_value(key: str, text: str):
    """``-p key=value`` values: Python literals (ints, floats, bools, None, tuples, lists) or plain strings.

    Text that starts like a tuple, list or dict but does not parse is an error, not a string.
    """
    from gsam_lab.runner import RunError, _short

    lowered = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if text[:1] in "([{":
            raise RunError(f"-p {key}={_short(text)} does not parse as a Python literal "
                           "(e.g. -p erp_hw=(512,1024) or -p noise=[0.1,0.2])") from None
        return text


def parse_params(pairs: Sequence[str]) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``.

    Raises:
        RunError: a pair without ``=`` or a value that starts like a tuple, list or dict but does not parse
            (``gsam-lab run`` exits 2 with one line, as for every other ``-p`` error).
    """
    from gsam_lab.runner import RunError, _short

    params = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise RunError(f"-p expects key=value with a Python identifier as key, got {_short(repr(pair))}")
        params[key.strip()] = _parse_value(key.strip(), value.strip())
    return params


def _seconds(text: str) -> Optional[float]:
    """``--timeout`` values: a number of seconds > 0, or ``none`` for no limit."""
    if text.strip().lower() in ("none", "no", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0 or 'none', got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from gsam_lab.runner import PROFILES

    parser = argparse.ArgumentParser(prog="gsam-lab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute notebooks headless with papermill")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                     help="names (01, 01_panorama_distortion) or paths; default: all in --notebooks-dir")
    run.add_argument("--profile", default="quick", choices=PROFILES, help="parameter profile (default quick)")
    run.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                     help="override a notebook parameter (repeatable)")
    run.add_argument("--out", default=None, help="output folder (default runs/<timestamp>)")
    run.add_argument("--notebooks-dir", default=None, help="where the notebooks live (default ./notebooks)")
    run.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                     help="seconds allowed per cell, e.g. 600 or 2.5 (default: none, no limit)")
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")
    run.add_argument("--quiet", action="store_true", help="no per-cell progress bar")
    run.add_argument("--site", action="store_true",
                     help="then build the run's static HTML site into RUN_DIR/site (needs the site extra)")

    sub.add_parser("doctor", help="print versions, device, bundled weights and caches")

    render = sub.add_parser("render", help="render synthetic panoramas (image + colourised labels) as PNG files")
    render.add_argument("--split", default="test", choices=("train", "val", "test"))
    render.add_argument("--n", type=int, default=4)
    render.add_argument("--hw", type=int, nargs=2, default=(256, 512), metavar=("H", "W"))
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--out", required=True)
    render.add_argument("--overwrite", action="store_true", help="replace PNG files that already exist")

    site = sub.add_parser("site", help="build a static HTML site of a run's executed notebooks (nothing is re-run)")
    site.add_argument("run_dir", nargs="?", default=None, metavar="RUN_DIR",
                      help="a gsam-lab run folder (default: the latest under runs/)")
    site.add_argument("--out", default=None, help="where the site goes (default RUN_DIR/site)")
    site.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _cmd_run(args) -> int:
    from gsam_lab.runner import run_notebooks

    previous = signal.signal(signal.SIGTERM, _interrupt)     # a kill is recorded like Ctrl-C
    try:
        results = run_notebooks(args.notebooks, profile=args.profile, params=parse_params(args.param),
                                out_dir=args.out, notebooks_dir=args.notebooks_dir, timeout=args.timeout,
                                fail_fast=args.fail_fast, progress=not args.quiet)
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"FAILED {r.notebook}: {r.error}", file=sys.stderr)
    if results:
        out = Path(results[0].output).parent
        if args.site:
            from gsam_lab.site import build_site

            build_site(out, progress=not args.quiet)
        else:
            import importlib.util

            needs = "" if importlib.util.find_spec("myst_nb") else '  (after pip install -e ".[site]")'
            print(f"[gsam-lab] read this run in a browser: gsam-lab site {out}{needs}")
    return 1 if failed else 0


def _cmd_site(args) -> int:
    from gsam_lab.site import build_site

    build_site(args.run_dir, out=args.out, progress=not args.quiet)
    return 0


def _cmd_doctor(_args) -> int:
    """Exit 0 when the installation is sound, 1 when the report lists problems."""
    from gsam_lab.doctor import problems, report

    print(report())
    return 1 if problems() else 0


def _cmd_render(args) -> int:
    from gsam_lab.data.export import export_panoramas

    if args.n <= 0:
        print("gsam-lab render: --n must be a positive number of panoramas", file=sys.stderr)
        return 2
    paths = export_panoramas(args.out, split=args.split, n=args.n, hw=tuple(args.hw), seed=args.seed,
                             overwrite=args.overwrite)
    print(f"wrote {len(paths)} files under {args.out}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Run one command; its faults end in one line on stderr (exit 2; 130 when interrupted), not a traceback.

    ``GSAM_LAB_TRACEBACK=1`` shows the traceback of unexpected errors.
    """
    args = build_parser().parse_args(argv)
    handler = {"run": _cmd_run, "doctor": _cmd_doctor, "render": _cmd_render, "site": _cmd_site}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        # the kernel's pending cell task ends with "Kernel died"; asyncio would log it as a traceback at exit
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        print(f"gsam-lab {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the user; the traceback on request
        if os.environ.get("GSAM_LAB_TRACEBACK"):
            raise
        from gsam_lab.runner import RunError
        from gsam_lab.site.runs import SiteError

        what = "" if isinstance(e, (RunError, SiteError, OSError, ValueError)) else f"{type(e).__name__}: "
        print(f"gsam-lab {args.command}: {what}{(str(e).strip().splitlines() or [''])[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
