"""The v3 (InvenioRDM v13 / B2SHARE v3) API of the sandbox: drafts, three-step files, review.

One job: expose ``create_app``, so that the server builds the v3 application with one name.

May import: .app; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from ecasrepro.sandbox.v3.app import create_app

__all__ = ["create_app"]
