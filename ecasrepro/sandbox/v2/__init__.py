"""The B2SHARE v2 REST API (as B2SHARE 2.4.4 serves it) on top of the sandbox storage.

One job: expose ``create_app``, so that the server builds the v2 application with one name.

May import: .app; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from ecasrepro.sandbox.v2.app import create_app

__all__ = ["create_app"]
