"""openspace: a self-hosted, real-time tool for Open Space Technology unconferences."""

__version__ = "0.1.0"
