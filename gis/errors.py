"""The exceptions the library raises. Each message names the file, setting or value at fault."""

from __future__ import annotations


class GisError(ValueError):
    """Base class: boundary data or settings that cannot be used as given."""


class BoundaryConfigError(GisError):
    """The ``[boundaries]`` table of a configuration file is malformed."""


class LayerError(GisError):
    """A boundary layer cannot be loaded: missing file, attribute or CRS, unreadable data."""


class BoundaryError(GisError):
    """Strict mode: the layers loaded, but with problems the configuration chose not to accept."""


class PostcodeError(GisError):
    """A postcode-centroid file cannot be used."""
