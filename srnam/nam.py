"""The old name of :mod:`srnam.search` (the latent search), kept so that old imports (``from srnam.nam import
latent_search``) keep working: it is that module itself, not a copy."""
import sys

from . import search

sys.modules[__name__] = search
