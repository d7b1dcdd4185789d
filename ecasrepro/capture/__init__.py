"""The capture engine: what a snapshot records about a notebook and the machine it ran on.

One job: group :mod:`.notebook` (read, validate, execute, render HTML), :mod:`.environment` (pins,
conda, platform), :mod:`.vcs` (git state) and :mod:`.secrets` (redaction, scanning), so that the
API and the publisher name one layer; it re-exports nothing, so importing one module loads only
that one.

The one name it defines, :func:`start_recording`, loads :mod:`.recorder` when called.

May import: ecasrepro.capture.recorder (lazily, in start_recording); never ecasrepro.bundle,
ecasrepro.b2share, ecasrepro.api or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""


def start_recording() -> None:
    """Record every file this process reads from now on (for scripts; the magic calls it too)."""
    from ecasrepro.capture.recorder import start_recording as start

    start()
