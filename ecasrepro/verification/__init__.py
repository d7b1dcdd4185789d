"""Verification by re-execution: run a bundle's notebook again and compare what it prints.

"Reproducible" should be a measured claim. :func:`verify_bundle` re-executes the captured notebook
headless (nbclient, fresh kernel) in a temporary copy of the notebook's directory, then compares
every code cell's new outputs with the captured ones:

* text exactly, after removing parts that change on every run (memory addresses, clock dates and
  times, durations, progress bars, temporary paths, random ids) -- see :data:`VOLATILE_RULES`;
* numbers within a relative tolerance (``rtol``) and an absolute one (``atol``);
* PNG/JPEG images by dimensions, then by a perceptual difference of block-averaged grey levels,
  and SVGs the same way once rendered (or as normalised text without a rasterizer);
* errors as errors (exception name and message).

The result (:class:`VerificationReport`) is written into the bundle as the tag file
``verification.json``; nothing in the payload changes. Heavy imports (nbclient, nbformat,
jupyter_client) happen inside functions so ``import ecasrepro`` stays fast.

The package has one module per concern, each importing only those below it:

* :mod:`.normalise` -- volatile parts of output text (lowest; standard library only);
* :mod:`.redaction` -- redacted excerpts; :mod:`.bundles` -- a bundle's notebook and files;
* :mod:`.report` -- verdict and report types, writing ``verification.json``;
* :mod:`.images` -- image comparison; :mod:`.environment` -- pins and platform differences;
* :mod:`.compare` -- text and number comparison, one cell's verdict;
* :mod:`.execute` -- kernel choice, working copy, nbclient run;
* :mod:`.verify` -- the entry points :func:`verify_notebook` and :func:`verify_bundle`.

This file only re-exports the public names, so ``from ecasrepro.verification import ...`` works
as it did when the package was one module.

May import: .compare, .environment, .execute, .images, .normalise, .report, .verify (to re-export
them); never ecasrepro.api, ecasrepro.cli or ecasrepro.magic.
"""

from __future__ import annotations

from ecasrepro.verification.compare import compare_cell_outputs, compare_text
from ecasrepro.verification.environment import environment_differences, read_pins
from ecasrepro.verification.execute import (
    COPY_LIMIT,
    IGNORE_OUTPUT_TAGS,
    SKIP_EXECUTION_TAGS,
    SKIP_TAG,
)
from ecasrepro.verification.images import compare_image, image_difference, image_size
from ecasrepro.verification.normalise import VOLATILE_RULES, normalise_text
from ecasrepro.verification.report import (
    PASSING_VERDICTS,
    REPORT_NAME,
    CellVerdict,
    EnvironmentDifferences,
    PackageDifference,
    Tolerances,
    Verdict,
    VerificationReport,
    write_report,
)
from ecasrepro.verification.verify import raise_if_not_reproduced, verify_bundle, verify_notebook

__all__ = [  # noqa: RUF022 - grouped by module
    "compare_cell_outputs",
    "compare_text",
    "environment_differences",
    "read_pins",
    "COPY_LIMIT",
    "IGNORE_OUTPUT_TAGS",
    "SKIP_EXECUTION_TAGS",
    "SKIP_TAG",
    "compare_image",
    "image_difference",
    "image_size",
    "VOLATILE_RULES",
    "normalise_text",
    "PASSING_VERDICTS",
    "REPORT_NAME",
    "CellVerdict",
    "EnvironmentDifferences",
    "PackageDifference",
    "Tolerances",
    "Verdict",
    "VerificationReport",
    "write_report",
    "raise_if_not_reproduced",
    "verify_bundle",
    "verify_notebook",
]
