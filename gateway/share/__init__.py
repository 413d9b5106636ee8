"""The files the gateway ships beside its code: the web client and the samples.

``web_client/`` holds the pages (HTML, scripts, styles, the caller's strings) and the browser
libraries the pages load from npm; ``samples/`` the default configuration, the sample boundaries and
postcodes. In the repository they are the top-level folders (this package links to them); in a
wheel they are package data of this package (pyproject.toml, ``[tool.setuptools.package-data]``),
so an installed gateway finds them wherever it runs from.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _folder(name: str) -> Path:
    # Pages are sent with sendfile and boundaries read by GDAL, both from real files: pip unpacks
    # wheels, and a source checkout is a folder, so the package's files are always on disk.
    return Path(str(resources.files(__name__).joinpath(name))).resolve()


WEB_CLIENT = _folder("web_client")
SAMPLES = _folder("samples")
