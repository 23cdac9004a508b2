"""SR-NAM: face super-resolution with several plausible answers (Non-Adversarial Mapping)."""
__version__ = "0.1.0"

from .errors import InvalidImageError, ModelLoadError, SRNAMError
from .search import SearchResult, SearchSettings, SearchState, latent_search
from .pipeline import SRNAMOutput, SRNAMPipeline

__all__ = [
    "InvalidImageError", "ModelLoadError", "SRNAMError", "SearchResult", "SearchSettings", "SearchState",
    "latent_search", "SRNAMOutput", "SRNAMPipeline",
]
