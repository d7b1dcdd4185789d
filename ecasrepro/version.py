"""The package's version: the one place it is written (pyproject.toml reads it from here).

A leaf module, so that any module can name the version without importing the package's lazy
front door (``ecasrepro/__init__.py``) and, through it, the API.

One job: hold ``__version__``, so that it is written in one place.

May import: nothing; never anything from ecasrepro (it is the leaf every module may name).
"""

__version__ = "0.1.0"
