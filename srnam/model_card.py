"""The model card (README.md) written next to a saved or pushed pipeline."""
from __future__ import annotations

from torch import nn

CARD_TEMPLATE = """---
library_name: srnam
pipeline_tag: image-to-image
tags:
- super-resolution
- face
- srnam
- non-adversarial-mapping
---

# SR-NAM pipeline

Face super-resolution that returns **several plausible answers**: for a 16×16 face it searches the
latent space of a face generator for 64×64 faces whose simulated low-resolution photo matches the
input (Non-Adversarial Mapping). Load it with

```python
from srnam import SRNAMPipeline
pipe = SRNAMPipeline.from_pretrained("<this repo or folder>")
out = pipe("face.png", num_candidates=8, num_steps=300, seed=0)
```

## Models

| part | class | configuration | parameters |
|---|---|---|---|
| `generator/` | `{generator_class}` | `{generator_config}` | {generator_params} |
| `degradation/` | `{degradation_class}` | `{degradation_config}` | {degradation_params} |

- **generator**: {generator_description}
- **degradation**: a high-to-low network (after Bulat et al. 2018) mapping a 64×64 face and a noise
  vector to a realistic 16×16 photo of it.

## Training data

{training_data}
{training_details}
## Samples

Random faces from the generator (`samples.png`, fixed seed):

![samples](samples.png)
{sections}
## Intended use

Research and demonstration of diverse face super-resolution: exploring which high-resolution faces
are consistent with a low-resolution one. Not for identifying people, forensic enhancement, or any
decision about a person.

## Limitations

- **The candidates are invented, not recovered.** A 16×16 image holds far too little information to
  determine a face; each candidate is a plausible face *consistent* with the input, and details such as
  identity, age, expression, skin texture and accessories are made up by the generator.
- **Bias.** The generator can only produce faces like those it was trained on; groups, ages, poses and
  lighting that are rare in the training data are rendered poorly or pulled toward the majority.
- Works on tightly cropped, roughly frontal faces at the training framing; other inputs give poor results.
- The LR consistency score measures agreement with the input through the learned degradation model,
  not correctness of the high-resolution face.
"""

GENERATOR_DESCRIPTIONS = {
    "ProGANGenerator": "a ProGAN generator (Karras et al. 2018: progressive growing, pixel norm, equalised\n"
                       "  learning rate) mapping a latent z to a 64×64 face.",
    "StyleStudentGenerator": "a style-based student: MobileStyleGAN's mapping network (z → w, with the corpus's\n"
                             "  truncation) and a narrow modulated synthesis distilled from MobileStyleGAN (FFHQ), "
                             "mapping z to a 64×64 face.",
    "TrunkStudentGenerator": "a trunk student: MobileStyleGAN's (FFHQ) mapping network and its synthesis up to\n"
                             "  the 16-px block, copied as they are, and a narrow modulated head distilled from it to "
                             "the 64×64 face.",
}

UNKNOWN_TRAINING_DATA = "Not recorded for this pipeline. Whoever publishes it should describe the data here."


def _describe(model: nn.Module) -> tuple[str, str, str]:
    config = getattr(model, "_hub_mixin_config", None) or {}
    args = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in sorted(config.items()))
    params = sum(p.numel() for p in model.parameters())
    return type(model).__name__, args, f"{params / 1e6:.2f} M"


def render_model_card(generator: nn.Module, degradation: nn.Module, training_data: str | None = None,
                      training_details: str | None = None, sections: str | None = None) -> str:
    """``training_data`` describes the data; ``training_details`` (Markdown) the runs: configs, steps,
    hardware, wall time; ``sections`` further Markdown sections after the samples, such as examples and
    evaluation figures (train/publish.py writes both)."""
    g_class, g_config, g_params = _describe(generator)
    d_class, d_config, d_params = _describe(degradation)
    return CARD_TEMPLATE.format(
        generator_class=g_class, generator_config=g_config, generator_params=g_params,
        generator_description=GENERATOR_DESCRIPTIONS.get(g_class, f"a {g_class} mapping a latent z to a 64×64 face."),
        degradation_class=d_class, degradation_config=d_config, degradation_params=d_params,
        training_data=training_data or UNKNOWN_TRAINING_DATA,
        training_details=f"\n## Training\n\n{training_details}\n" if training_details else "",
        sections=f"\n{sections.strip()}\n" if sections else "",
    )
