"""Sphinx configuration for the flask_rivo documentation."""

from __future__ import annotations

import sys
from pathlib import Path

# Document the source tree next to this folder, not whatever copy is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_rivo

project = "flask_rivo"
copyright = "2026, The flask_rivo developers"
author = "The flask_rivo developers"
release = flask_rivo.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    # Diagrams drawn from their source in the pages, by Graphviz's ``dot``
    # (Debian's ``graphviz`` package).
    "sphinx.ext.graphviz",
]

graphviz_output_format = "svg"

# No intersphinx: the docs build without network access.
autodoc_typehints = "description"
# Types of the documented parameters only: no bare lists of internal ones.
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
# Show defaults as written in the source (``time.time``, not a repr).
autodoc_preserve_defaults = True

exclude_patterns = ["_build"]

html_theme = "furo"
html_title = f"flask_rivo {release}"
# The frame around the pictures of pages (docs/_static/screenshots).
html_static_path = ["_static"]
html_css_files = ["screenshots.css"]
