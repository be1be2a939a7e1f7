"""The lab as a browsable static site: a run's executed notebooks, figures and report, read without a kernel.

::

    from gsam_lab import site
    result = site.build_site()                        # the latest run under runs/, into runs/<run>/site
    result = site.build_site("runs/quick", out="public")
    print(result.index, result.seconds, result.bytes)

The command line does the same: ``gsam-lab site [RUN_DIR] [--out DIR]``. Nothing is executed again: the
pages show the outputs the run left. It needs the ``site`` extra (``pip install -e ".[site]"``: Sphinx,
MyST-NB, the Sphinx book theme and a copy of MathJax).
"""
from .build import MARKER, SiteResult, build_site, check_out, require_extra
from .runs import Run, RunNotebook, SiteError, find_run, read_run

__all__ = ["MARKER", "SiteResult", "build_site", "check_out", "require_extra", "Run", "RunNotebook", "SiteError",
           "find_run", "read_run"]
