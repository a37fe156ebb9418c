"""The package's version: one place, read by pyproject.toml (setuptools' ``attr:``), the
package's front door and ``minis2t --version``; it imports nothing."""

__version__ = "0.1.0"
