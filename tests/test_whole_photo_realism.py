"""Whole-photo realism: the crowd's faces through enhance_photo, scored against their truth and bicubic."""
from pathlib import Path

import pytest
import torch
from PIL import Image

from srnam import SRNAMPipeline, SearchSettings
from srnam.evaluation.metrics import FaceAnalyser
from srnam.evaluation.whole_photo import crowd_faces, crowd_realism
from srnam.faces.framing import crop_corpus
from srnam.images import pil_to_tensor, to_unit_range

PORTRAITS = sorted((Path(__file__).parent / "data" / "faces").glob("*.jpg"))


@pytest.fixture(scope="module")
def faces():
    from conftest import make_tiny_models

    pipe = SRNAMPipeline(*make_tiny_models(), device="cpu")
    return crowd_faces(pipe, PORTRAITS, photos=1, faces_per_photo=3, face_sizes=(36, 44),
                       search=SearchSettings(num_candidates=2, num_steps=2), width=320, height=240)


def test_every_found_face_comes_with_its_truth_its_bicubic_square_and_its_candidates(faces):
    found = len(faces.truth)
    assert faces.placed == 3 and 2 <= found <= 3
    assert faces.truth.shape == faces.bicubic.shape == (found, 3, 64, 64)
    assert faces.srnam.shape == faces.pasted.shape == (found, 2, 3, 64, 64)
    assert all(36 <= size <= 44 for size in faces.sizes)
    truths = torch.cat([pil_to_tensor(crop_corpus(Image.open(p).convert("RGB"), 64)) for p in PORTRAITS])
    for face in faces.truth:  # each truth is one of the portraits, corpus-framed
        assert min(float((face - t).abs().max()) for t in truths) == 0
    # the bicubic square is the photo's face, near its truth (a cheap camera shot it): far nearer than the tiny
    # model's candidates, which are no faces at all
    assert (faces.bicubic - faces.truth).abs().mean() < (faces.srnam[:, 0] - faces.truth).abs().mean()
    # as pasted: the photo's colour under the candidate's detail, so nearer the truth's mean colour than the candidate
    colour_error = lambda x: (x.mean((-1, -2)) - faces.truth.mean((-1, -2))[:, None]).abs().mean()
    assert colour_error(faces.pasted) < colour_error(faces.srnam)
    assert not torch.equal(faces.pasted[:, 0], faces.pasted[:, 1])  # each k pasted on its own


def test_the_truth_scores_zero_against_itself_and_the_others_more(faces):
    analyser = FaceAnalyser()
    reference = analyser.descriptors(to_unit_range(faces.truth))
    figures = crowd_realism(faces, reference, analyser)
    assert figures["faces"] == len(faces.truth) and figures["placed"] == 3
    assert figures["truth"]["face_fd"] == pytest.approx(0, abs=1e-3) and figures["truth"]["sharpness"] == 1
    assert figures["bicubic"]["face_fd"] > 0.01 and figures["srnam_first"]["face_fd"] > 0.01
    assert set(figures["srnam_mean_of_k"]) == set(figures["pasted_mean_of_k"]) == {"face_fd", "sharpness", "faceness"}
    assert all(0 <= figures[k]["faceness"] <= 1 for k in ("truth", "bicubic", "srnam_first", "pasted_first"))


def test_crowds_that_cannot_be_made_are_refused(tiny_models):
    pipe = SRNAMPipeline(*tiny_models, device="cpu")
    search = SearchSettings(num_candidates=1, num_steps=1)
    with pytest.raises(ValueError, match="2 photos of 3 faces need 6 portraits, got 3"):
        crowd_faces(pipe, PORTRAITS, photos=2, faces_per_photo=3, face_sizes=(20, 30), search=search)
    with pytest.raises(ValueError, match=r"of 3 faces found a place in a 90×90 photo"):
        crowd_faces(pipe, PORTRAITS, photos=1, faces_per_photo=3, face_sizes=(40, 40), search=search,
                    width=90, height=90)
