"""The B2SHARE v2 REST API (as B2SHARE 2.4.4 serves it) on top of the sandbox storage."""

from ecasrepro.sandbox.v2.app import create_app

__all__ = ["create_app"]
