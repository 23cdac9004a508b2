"""``SRNAMPipeline``: load the two models, run the latent search on one image, save and publish.

A pipeline folder (local or a Hub repo) looks like::

    generator/config.json  generator/model.safetensors      # ProGANGenerator or StyleStudentGenerator
    degradation/config.json  degradation/model.safetensors  # DegradationGenerator
    README.md                                              # model card
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

import torch
from PIL import Image
from torch import nn

from .errors import ModelLoadError, SearchDivergedError
from .grid import image_grid
from .images import ImageInput, lr_tensor, tensor_to_pil, unit_range
from .model_card import render_model_card
from .models import DegradationGenerator, ProGANGenerator, StyleStudentGenerator, load_generator
from .models.eval_mode import eval_mode
from .search import (DEFAULT_NOISE_LEARNING_RATE, SearchResult, SearchSettings, SearchState,
                  latent_search, search_learning_rate)

GENERATOR_FOLDER = "generator"
DEGRADATION_FOLDER = "degradation"
MODEL_CARD = "README.md"
SAMPLES = "samples.png"
CARD_ASSET_SUFFIXES = (".png", ".jpg", ".json")  # files of the model card (figures, figures' data) at the root
# The trained models shipped with the repository (see checkpoints/default/README.md): what from_pretrained()
# loads when it is given no repo id. Found next to the package, so it needs a clone (pip install -e .).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "default"


@dataclass
class SRNAMOutput:
    """One image's result. Candidates are sorted by LR consistency, best (lowest L1) first.

    With ``output_type="pil"`` (the default) the images are PIL images; with ``"pt"`` float tensors in [0, 1]
    (not rounded to 8 bits): ``lr_input`` [3, 16, 16], ``hr_candidates`` [K, 3, 64, 64], ``lr_projections``
    [K, 3, 16, 16].
    """

    lr_input: Image.Image | torch.Tensor  # the 16×16 input the search matched
    hr_candidates: list[Image.Image] | torch.Tensor  # 64×64 faces G(z_k)
    lr_projections: list[Image.Image] | torch.Tensor  # 16×16 D(G(z_k), n_k), to compare with lr_input
    lr_l1: list[float]  # mean absolute error of each projection vs the input, on the [-1, 1] scale
    seed: int  # pass it back as seed= to reproduce this output
    loss_history: list[list[float]] = field(repr=False)  # loss_history[k][step]: candidate k's L1 curve
    latents: torch.Tensor = field(repr=False)  # [K, latent_size], the final z of each candidate (or its W / W+ code)
    stopped_early: bool = False
    # Where each candidate was in the search, before sorting. The search's first K' candidates are exactly a
    # K'-candidate search with the same seed (candidates do not interact), which evaluation uses.
    search_index: list[int] = field(default_factory=list, repr=False)


class SRNAMPipeline:
    def __init__(self, generator: ProGANGenerator | StyleStudentGenerator | nn.Module, degradation: DegradationGenerator,
                 device: str | torch.device | None = None, model_card: str | None = None):
        if generator.resolution != degradation.hr_size:
            raise ValueError(f"the generator makes {generator.resolution}×{generator.resolution} faces but the "
                             f"degradation model expects {degradation.hr_size}×{degradation.hr_size}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.generator = generator.to(self.device).eval()
        self.degradation = degradation.to(self.device).eval()
        self.model_card = model_card  # the card this pipeline was loaded with, kept on save
        # Files the card shows or links (figures), by name: written next to it on save, so a re-saved or
        # re-pushed pipeline keeps a complete card. samples.png is not one: it is always drawn afresh.
        self.card_assets: dict[str, bytes] = {}

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(cls, repo_id_or_path: str | os.PathLike | None = None, revision: str | None = None, *,
                        cache_dir: str | os.PathLike | None = None, token: str | bool | None = None,
                        local_files_only: bool = False, device: str | torch.device | None = None,
                        generator: Literal["pipeline", "teacher"] = "pipeline") -> "SRNAMPipeline":
        """Load from a local pipeline folder or a Hub repo id (``revision``: branch, tag or commit); with
        neither, the shipped default models (:data:`DEFAULT_CHECKPOINT`), which need no network.

        ``generator="teacher"`` searches the full teacher (MobileStyleGAN, ``srnam.models.teacher``: the teacher
        extra) instead of the folder's generator, with the folder's camera model: the quality ceiling of the
        distilled student, for a GPU (about 30 GFLOP per candidate and step, seconds per step on a CPU)."""
        if generator not in ("pipeline", "teacher"):
            raise ValueError(f"generator must be 'pipeline' or 'teacher', got {generator!r}")
        if repo_id_or_path is None:
            if not DEFAULT_CHECKPOINT.is_dir():
                raise ModelLoadError(
                    f"the shipped default models are not at {DEFAULT_CHECKPOINT} (they come with a clone of the "
                    "repository, installed with pip install -e .); pass a pipeline folder or a Hub repo id")
            repo_id_or_path = DEFAULT_CHECKPOINT
        folder = _resolve_folder(str(repo_id_or_path), revision, cache_dir, token, local_files_only)
        for part in (GENERATOR_FOLDER, DEGRADATION_FOLDER):
            if not (folder / part).is_dir():
                raise ModelLoadError(
                    f"{repo_id_or_path} is not an SR-NAM pipeline: it has no {part}/ folder (expected "
                    f"{GENERATOR_FOLDER}/ and {DEGRADATION_FOLDER}/, each with config.json and model.safetensors)")
        card = folder / MODEL_CARD
        if generator == "teacher":
            from .models.teacher import MobileStyleGANTeacher

            searched = MobileStyleGANTeacher()
        else:
            searched = load_generator(folder / GENERATOR_FOLDER)
        pipe = cls(
            searched,
            DegradationGenerator.from_folder(folder / DEGRADATION_FOLDER),
            device=device,
            model_card=card.read_text(encoding="utf-8") if card.is_file() else None,
        )
        pipe.card_assets = {path.name: path.read_bytes() for path in sorted(folder.iterdir())
                            if path.is_file() and path.suffix in CARD_ASSET_SUFFIXES and path.name != SAMPLES}
        return pipe

    def save_pretrained(self, save_directory: str | os.PathLike, training_data: str | None = None,
                        training_details: str | None = None, sections: str | None = None) -> Path:
        """Write the pipeline folder with a sample grid of the generator (``samples.png``) and the card's
        other files (``card_assets``). The model card is the loaded one, or a new one when there is none or
        ``training_data`` (Markdown describing the data), ``training_details`` (Markdown describing the
        runs) or ``sections`` (more Markdown sections: examples, evaluation) is given."""
        root = Path(save_directory)
        self.generator.save_pretrained(root / GENERATOR_FOLDER)
        self.degradation.save_pretrained(root / DEGRADATION_FOLDER)
        fresh = not self.model_card or any(x is not None for x in (training_data, training_details, sections))
        card = render_model_card(self.generator, self.degradation, training_data, training_details, sections) \
            if fresh else self.model_card
        (root / MODEL_CARD).write_text(card, encoding="utf-8")
        self.sample_grid().save(root / SAMPLES)
        for name, data in self.card_assets.items():
            (root / name).write_bytes(data)
        return root

    @torch.no_grad()
    def sample_grid(self, num: int = 16, seed: int = 0) -> Image.Image:
        """Random faces G(z) for a fixed seed, 4 per row."""
        z = torch.randn(num, self.generator.latent_size, generator=torch.Generator().manual_seed(seed))
        with torch.inference_mode(), eval_mode(self.generator):
            faces = self.generator(z.to(self.device))
        return image_grid(faces, columns=4)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload SR-NAM pipeline", training_data: str | None = None,
                    training_details: str | None = None, sections: str | None = None) -> str:
        """Create ``repo_id`` if needed and upload the pipeline folder with its model card.
        Returns the URL of the commit."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo = api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, training_data=training_data, training_details=training_details,
                                 sections=sections)
            commit = api.upload_folder(folder_path=tmp, repo_id=repo.repo_id, commit_message=commit_message)
        return commit.commit_url

    def to(self, device: str | torch.device) -> "SRNAMPipeline":
        self.device = torch.device(device)
        self.generator.to(self.device)
        self.degradation.to(self.device)
        return self

    # ------------------------------------------------------------------ inference
    def __call__(self, image: ImageInput | Sequence[ImageInput], num_candidates: int = 4, num_steps: int = 300,
                 seed: int | None = None, learning_rate: float | None = None,
                 callback: Callable[[SearchState], bool | None] | None = None, optimize_noise: bool = False,
                 noise_learning_rate: float = DEFAULT_NOISE_LEARNING_RATE,
                 output_type: Literal["pil", "pt"] = "pil",
                 latent_space: Literal["z", "w", "w+"] = "z",
                 latent_constraint: Literal["sphere", "free"] = "sphere") -> SRNAMOutput | list[SRNAMOutput]:
        """Super-resolve one face (a path, PIL image, numpy array or float tensor in [0, 1]; see
        ``srnam.images``), or a list of them: one :class:`SRNAMOutput` each, all searched in one batch.

        Inputs larger than 16×16 are reduced by area downsampling. ``callback(state)`` runs after every
        step (``state.l1`` is [images, K]); return True from it to stop early. ``optimize_noise``: search the
        camera model's noise together with the latents (``srnam.search``), at ``noise_learning_rate``.
        ``learning_rate``: Adam's, for the latents; None: the generator's own (0.4 for a ProGAN, 0.1 for the style
        and trunk students: ``srnam.search.search_learning_rate``).
        ``output_type``: "pil" images or "pt" tensors (see :class:`SRNAMOutput`). ``latent_space``: where to search,
        "z" (any generator) or, with a style-based generator, "w" or "w+"; ``latent_constraint``: "sphere" (z on its
        sphere, w on the whitened styles' sphere) or "free" (``srnam.search.make_latent_space``).
        """
        settings = SearchSettings(num_candidates, num_steps, learning_rate, seed, bool(optimize_noise),
                                  noise_learning_rate, latent_space, latent_constraint)
        batch = isinstance(image, (list, tuple))
        outputs = self.run(list(image) if batch else [image], settings, callback, output_type)
        return outputs if batch else outputs[0]

    def run(self, images: Sequence[ImageInput], settings: SearchSettings,
            callback: Callable[[SearchState], bool | None] | None = None,
            output_type: Literal["pil", "pt"] = "pil") -> list[SRNAMOutput]:
        """``__call__`` with its search settings as one :class:`SearchSettings` (as the app, whole photos and the
        CLI pass them on): prepare the images, search, sort and convert."""
        settings = settings.checked()
        if output_type not in ("pil", "pt"):
            raise ValueError(f"output_type must be 'pil' or 'pt', got {output_type!r}")
        lr_input = self.prepare(images)
        return self.outputs(self.search(lr_input, settings, callback), lr_input, settings.seed, output_type)

    def prepare(self, images: Sequence[ImageInput]) -> torch.Tensor:
        """The search's input [B, 3, 16, 16] in [-1, 1] on the pipeline's device (``srnam.images.lr_tensor``)."""
        if not images:
            raise ValueError("no images given (an empty list)")
        return torch.cat([lr_tensor(x, self.degradation.lr_size) for x in images]).to(self.device)

    def search(self, lr_input: torch.Tensor, settings: SearchSettings,
               callback: Callable[[SearchState], bool | None] | None = None) -> SearchResult:
        """The latent search on prepared LR inputs ``lr_input`` [B, 3, 16, 16] in [-1, 1] (:meth:`prepare`): the
        candidates in search order, unsorted. The search's first K' candidates are exactly a K'-candidate search
        with the same seed (candidates do not interact), which the evaluation uses. Refuses a diverged search."""
        settings = settings.checked()
        result = latent_search(self.generator, self.degradation, lr_input.to(self.device), callback=callback,
                               **settings.options())
        _check_finite(result, settings.learning_rate, search_learning_rate(self.generator))
        return result

    @staticmethod
    def outputs(result: SearchResult, lr_input: torch.Tensor, seed: int,
                output_type: Literal["pil", "pt"] = "pil") -> list[SRNAMOutput]:
        """One :class:`SRNAMOutput` per image of a search, its candidates sorted best LR consistency first."""
        if output_type == "pil":
            convert = lambda images: [tensor_to_pil(x) for x in images]  # noqa: E731  [K, 3, H, W] → K images
        else:
            convert = unit_range  # "pt": not rounded
        outputs = []
        for b in range(len(lr_input)):
            order = result.l1[b].argsort().tolist()
            outputs.append(SRNAMOutput(
                lr_input=convert(lr_input[b:b + 1])[0],
                hr_candidates=convert(result.hr[b, order]),
                lr_projections=convert(result.lr[b, order]),
                lr_l1=[float(result.l1[b, k]) for k in order],
                seed=seed,
                loss_history=[result.loss_history[:, b, k].tolist() for k in order],
                latents=result.latents[b, order].cpu(),
                stopped_early=result.stopped_early,
                search_index=order,
            ))
        return outputs


def _check_finite(result, learning_rate: float | None, default: float) -> None:
    """Refuse a search whose loss or candidates became NaN or infinite (a diverged step, broken weights)."""
    bad = ~torch.isfinite(result.loss_history).all(dim=(1, 2))  # [num_steps]
    if bad.any() or not torch.isfinite(result.l1).all() or not torch.isfinite(result.hr).all():
        at = f"at step {int(bad.nonzero()[0]) + 1}" if bad.any() else "after the last step"
        raise SearchDivergedError(
            f"the search diverged: its loss became NaN or infinite {at}, so there is no result. A smaller "
            f"learning rate (now {default if learning_rate is None else learning_rate:g}; this generator's default "
            f"is {default:g}) may help; if it "
            f"happens at every setting, the model's weights are broken")


def _resolve_folder(name: str, revision: str | None, cache_dir, token, local_files_only: bool) -> Path:
    """A local folder as is; anything else is a Hub repo id, downloaded (or found in the cache)."""
    if Path(name).is_dir():
        return Path(name)
    if Path(name).exists():
        raise ModelLoadError(f"{name} is a file; expected a pipeline folder or a Hub repo id")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HFValidationError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError,
    )

    where = f"'{name}'" + (f" at revision '{revision}'" if revision else "")
    try:
        return Path(snapshot_download(
            name, revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only,
            allow_patterns=[f"{GENERATOR_FOLDER}/*", f"{DEGRADATION_FOLDER}/*", MODEL_CARD,
                            *(f"*{suffix}" for suffix in CARD_ASSET_SUFFIXES)],
        ))
    except HFValidationError as err:
        raise ModelLoadError(f"{name!r} is neither a local folder nor a valid Hub repo id") from err
    except RepositoryNotFoundError as err:
        raise ModelLoadError(
            f"no local folder {name} and no Hub repo {name} (if it is private or gated, pass token=)") from err
    except RevisionNotFoundError as err:
        raise ModelLoadError(f"Hub repo '{name}' has no revision '{revision}'") from err
    except LocalEntryNotFoundError as err:
        raise ModelLoadError(
            f"cannot download {where}: the Hub is unreachable or offline mode is on (HF_HUB_OFFLINE=1 or "
            f"local_files_only=True), and there is no cached copy. Download it once while online, or pass "
            f"the path of a local pipeline folder.") from err
    except HfHubHTTPError as err:
        raise ModelLoadError(f"cannot download {where} from the Hub: {err}") from err
