from .degradation import DEGRADATION_CHANNELS, DegradationDiscriminator, DegradationGenerator
from .generators import GENERATOR_FAMILIES, generator_family, load_generator
from .hub import HubModel, load_model_folder
from .progan import PROGAN_CHANNELS, ProGANDiscriminator, ProGANGenerator
from .style_student import STYLE_CHANNELS, StyleStudentGenerator
from .trunk_student import HEAD_CHANNELS, TrunkStudentGenerator

__all__ = [
    "DEGRADATION_CHANNELS", "DegradationDiscriminator", "DegradationGenerator", "GENERATOR_FAMILIES", "HEAD_CHANNELS",
    "HubModel", "generator_family", "load_generator", "load_model_folder", "PROGAN_CHANNELS", "ProGANDiscriminator",
    "ProGANGenerator", "STYLE_CHANNELS", "StyleStudentGenerator", "TrunkStudentGenerator",
]
