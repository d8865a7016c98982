"""Loaded by the job pool's forkserver only (jobs.PRELOAD), never by the server itself.

Importing WeasyPrint costs 0.4 s of CPU and runs the compiler and `ldconfig` to find Pango's
libraries. Done in every fresh worker, that was part of the first PDF build on each, on the same
cores as the event loop (#21, the abuse bench's PDF attack); done once here, every worker forked
from the forkserver starts with it loaded, and with Pillow's flag put back (exports/html.py).
"""

from openspace.exports.html import weasyprint_loaded

weasyprint_loaded()
