"""A microscope of your own model (docs/guides/microscope.md): every unit of chosen layers with
its icons, exemplars, label, class support, feeds and statistics, built as resumable dataset
jobs, stored on disk, browsed in a widget (`neuroblocks.Microscope`); `neuroblocks.microscope` builds one or published as a static site."""

from .build import microscope
from .statistics import Statistics, unit_statistics
from .store import MicroscopeError, MicroscopeStore

__all__ = ["MicroscopeError", "MicroscopeStore", "Statistics", "microscope", "unit_statistics"]
