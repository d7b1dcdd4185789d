"""Set up a fresh reference instance in one process: the ``invenio`` commands start.sh needs, run
in-process against one app (each ``invenio`` call would boot the app again, ~10 s each).

Usage: python setup_instance.py <run dir>   (writes <run dir>/<user>.token; log on stdout)
"""

import sys
import time
from pathlib import Path

from invenio_app.cli import cli as invenio_cli
from invenio_app.factory import create_app

USERS = ("alice", "reviewer")


def main(run: Path) -> None:
    started = time.monotonic()
    app = create_app()
    runner = app.test_cli_runner()
    cli = invenio_cli

    def invenio(*args: str) -> str:
        print(f"== {time.monotonic() - started:.0f}s: invenio {' '.join(args)}", flush=True)
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        print(result.output, flush=True)
        if result.exit_code:
            sys.exit(f"invenio {' '.join(args)} failed ({result.exit_code})")
        return str(result.output)

    invenio("db", "init", "create")
    invenio("files", "location", "create", "--default", "default-location", str(run / "files"))
    invenio("roles", "create", "admin")
    invenio("access", "allow", "superuser-access", "role", "admin")
    invenio("index", "init")
    invenio("rdm-records", "custom-fields", "init")
    invenio("communities", "custom-fields", "init")
    invenio("rdm-records", "fixtures")
    for user in USERS:
        email = f"{user}@reference.example.org"
        invenio("users", "create", email, "--password", f"{user}-reference-pw", "--active",
                "--confirm")
        token = invenio("tokens", "create", "-n", "reference", "-u", email).strip().splitlines()
        (run / f"{user}.token").write_text(token[-1] + "\n")
    print(f"== {time.monotonic() - started:.0f}s: done", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
