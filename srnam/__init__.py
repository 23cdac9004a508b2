"""SR-NAM: face super-resolution with several plausible answers (Non-Adversarial Mapping)."""
__version__ = "0.1.0"

import sys

from . import search
from .errors import InvalidImageError, ModelLoadError, SRNAMError
from .search import SearchResult, SearchSettings, SearchState, latent_search
from .pipeline import SRNAMOutput, SRNAMPipeline

# srnam.nam: the old name of srnam.search (the latent search), so that old imports (`from srnam.nam import
# latent_search`) keep working: that module itself, not a copy.
nam = sys.modules[__name__ + ".nam"] = search

__all__ = [
    "InvalidImageError", "ModelLoadError", "SRNAMError", "SearchResult", "SearchSettings", "SearchState",
    "latent_search", "SRNAMOutput", "SRNAMPipeline",
]
