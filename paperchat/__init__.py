"""paperchat: cited answers from research-paper abstracts.

One import name. The pipeline's parts live in subpackages (``paperchat.ingest``,
``paperchat.rag``, ``paperchat.ui``, ``paperchat.eval``); their sources sit in the repository's
top-level folders of the same names (see ``[tool.setuptools.package-dir]`` in pyproject.toml).
The settings, the errors and the command line are here at the root, shared by all of them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("paperchat")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0"
