"""The v3 (InvenioRDM v13 / B2SHARE v3) API of the sandbox: drafts, three-step files, review."""

from ecasrepro.sandbox.v3.app import create_app

__all__ = ["create_app"]
