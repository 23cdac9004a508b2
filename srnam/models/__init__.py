from .degradation import DEGRADATION_CHANNELS, DegradationDiscriminator, DegradationGenerator
from .hub import HubModel, load_model_folder
from .progan import PROGAN_CHANNELS, ProGANDiscriminator, ProGANGenerator

__all__ = [
    "DEGRADATION_CHANNELS", "DegradationDiscriminator", "DegradationGenerator", "HubModel",
    "load_model_folder", "PROGAN_CHANNELS", "ProGANDiscriminator", "ProGANGenerator",
]
