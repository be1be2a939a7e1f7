"""The results report: the papers' claims beside our measurements, its tables, and the shareable files.

::

    from gsam_lab import report
    claims = report.claims_table({
        "stable_sam.noisy_box": report.Measured(baseline=47.0, method=47.2, diff=(0.2, -0.3, 0.7), n=120,
                                                data="synthetic test renders", model="tiny-synth SAM"),
        "stable_sam.params": 0.078,                 # a single number: parameter counts (millions)
    })
    report.scorecard(claims)                    # the verdicts, each read by a stated rule (report.RULES)
    report.write_report("outputs/06", "gsam_lab results", [
        "Some *Markdown* text.",
        ("Claims", report.scorecard(claims)),    # a titled table
        ("Figure 1", "figures/sweep.png"),       # a titled image (path relative to the output folder)
        ("What did not reproduce", report.findings(claims)),   # titled text
    ], caveat="Synthetic renders, tiny models: directions, not sizes.")

- :mod:`gsam_lab.report.claims`: :data:`PAPER_CLAIMS`, :func:`claims_table` and the verdict rules
  (:data:`RULES`); :func:`scorecard`, :func:`sources`, :func:`verdict_counts`, :func:`verdict_summary`,
  :func:`findings` read them.
- :mod:`gsam_lab.report.tables`: one function per table of notebook 06 (:func:`stable_sam_table`,
  :func:`stable_sam_differences`, :func:`size_differences`, :func:`goodsam_table`) and the measurements
  the claims are read from (:func:`stable_sam_claims`, :func:`goodsam_claims`).
- :mod:`gsam_lab.report.document`: :func:`write_report`, ``report.md`` and a ``report.html`` that embeds
  its images.
"""
from .claims import (
    PAPER_CLAIMS,
    RULES,
    Measured,
    claims_table,
    findings,
    scorecard,
    sources,
    verdict_counts,
    verdict_summary,
)
from .document import Block, write_report
from .tables import (
    COMPARISONS,
    NOISY,
    goodsam_claims,
    goodsam_table,
    size_differences,
    stable_sam_claims,
    stable_sam_differences,
    stable_sam_table,
)

__all__ = ["PAPER_CLAIMS", "RULES", "Measured", "claims_table", "findings", "scorecard", "sources", "verdict_counts",
           "verdict_summary", "Block", "write_report", "COMPARISONS", "NOISY", "goodsam_claims", "goodsam_table",
           "size_differences", "stable_sam_claims", "stable_sam_differences", "stable_sam_table"]
