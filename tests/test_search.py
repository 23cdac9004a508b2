import threading

import pytest
import torch

from srnam.search import DEFAULT_NOISE_LEARNING_RATE, _ExactCudaMath, latent_search, project_to_sphere


def _target(generator, degradation, seed=123):
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(2, generator.latent_size, generator=rng)
        return degradation(generator(z), torch.randn(2, degradation.noise_size, generator=rng))  # [2, 3, 16, 16]


def _seeded(generator, degradation, target, seed, **options):
    """latent_search with its starting points drawn from ``seed``."""
    return latent_search(generator, degradation, target, generator_rng=torch.Generator().manual_seed(seed), **options)


def test_search_fits_a_reachable_target(tiny_models):
    generator, degradation = tiny_models
    target = _target(generator, degradation)
    result = latent_search(generator, degradation, target, num_candidates=4, num_steps=150,
                           learning_rate=0.2, generator_rng=torch.Generator().manual_seed(0))
    assert result.hr.shape == (2, 4, 3, 64, 64) and result.lr.shape == (2, 4, 3, 16, 16)
    assert result.l1.shape == (2, 4) and result.loss_history.shape == (150, 2, 4)
    assert result.latents.shape == (2, 4, 32) and result.noise.shape == (2, 4, 8)
    start, final = result.loss_history[0].mean(), result.l1.mean()
    assert final < start / 3, (start, final)
    assert result.l1.min(dim=1).values.max() < start / 5  # the best candidate of each image
    # the final L1 really is the L1 of the returned projections
    torch.testing.assert_close(result.l1, (result.lr - target[:, None]).abs().mean(dim=(2, 3, 4)))
    # candidates of one image differ from each other
    hr = result.hr[0]
    assert min((hr[i] - hr[j]).abs().mean() for i in range(4) for j in range(i + 1, 4)) > 1e-3
    # latents stay on the sphere of radius sqrt(latent_size)
    torch.testing.assert_close(result.latents.norm(dim=-1), torch.full((2, 4), 32**0.5))


def test_search_is_deterministic_for_a_seed(tiny_models):
    generator, degradation = tiny_models
    target = _target(generator, degradation)

    a, b, c = (_seeded(generator, degradation, target, seed, num_candidates=3, num_steps=20) for seed in (7, 7, 8))
    assert torch.equal(a.hr, b.hr) and torch.equal(a.lr, b.lr) and torch.equal(a.loss_history, b.loss_history)
    assert not torch.equal(a.hr, c.hr)


def test_search_uses_eval_mode_and_no_parameter_gradients(tiny_models):
    generator, degradation = tiny_models
    generator.train()
    before = {k: v.clone() for k, v in degradation.state_dict().items()}
    seen = []

    def callback(state):
        seen.append(state.step)
        assert not degradation.training and not generator.training  # eval mode: BN statistics frozen
        assert all(p.grad is None for p in generator.parameters())

    latent_search(generator, degradation, _target(generator, degradation), num_candidates=2, num_steps=5, callback=callback)
    assert seen == [1, 2, 3, 4, 5]
    assert all(p.grad is None and p.requires_grad for p in generator.parameters())
    assert generator.training and not degradation.training
    for k, v in degradation.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_callback_can_stop_early_and_sees_progress(tiny_models):
    generator, degradation = tiny_models
    states = []

    def callback(state):
        states.append(state)
        return state.step == 3

    result = latent_search(generator, degradation, _target(generator, degradation), num_candidates=2, num_steps=50, callback=callback)
    assert result.stopped_early and len(states) == 3 and result.loss_history.shape == (3, 2, 2)
    assert states[0].hr.shape == (2, 2, 3, 64, 64) and states[0].num_steps == 50


def test_candidates_are_independent_of_batch(tiny_models):
    """A candidate's whole search ignores the rest of its batch (the loss is a sum, Adam works per coordinate, the
    models are frozen in eval mode): another image's target, changed, leaves its final latents as they were."""
    generator, degradation = tiny_models
    target = _target(generator, degradation)  # two images
    other = target.clone()
    other[1] = -other[1]  # the second image's target changed, the first's not

    def search(lr_target):
        return latent_search(generator, degradation, lr_target, num_candidates=3, num_steps=10, learning_rate=0.3,
                             generator_rng=torch.Generator().manual_seed(0))

    first, second = search(target), search(other)
    torch.testing.assert_close(first.latents[0], second.latents[0])  # after 10 steps, not only at the start
    torch.testing.assert_close(first.loss_history[:, 0], second.loss_history[:, 0])
    assert not torch.allclose(first.latents[1], second.latents[1], atol=1e-3)  # the changed image's did move apart


def test_free_latents_are_not_projected(tiny_models):
    """With latent_constraint="free" the steps change each latent's length; on the sphere they never do."""
    generator, degradation = tiny_models
    target = _target(generator, degradation)
    start = torch.randn(2 * 2, generator.latent_size, generator=torch.Generator().manual_seed(0)).reshape(2, 2, -1)

    def search(constraint):
        return latent_search(generator, degradation, target, num_candidates=2, num_steps=10, learning_rate=0.5,
                             latent_constraint=constraint, generator_rng=torch.Generator().manual_seed(0))

    free, sphere = search("free"), search("sphere")
    lengths = free.latents.norm(dim=-1)
    assert (lengths - start.norm(dim=-1)).abs().min() > 0.05  # each one moved off its starting length
    torch.testing.assert_close(sphere.latents.norm(dim=-1), torch.full((2, 2), 32 ** 0.5))


def test_concurrent_searches_share_models_safely(tiny_models):
    """The app runs several searches on the same models from different threads."""
    import threading

    generator, degradation = tiny_models
    target = _target(generator, degradation)

    def run(seed):
        return _seeded(generator, degradation, target, seed, num_candidates=2, num_steps=8)

    expected = [run(seed) for seed in range(3)]
    results = {}
    threads = [threading.Thread(target=lambda s=seed: results.__setitem__(s, run(s))) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in range(3):
        assert torch.equal(results[seed].latents, expected[seed].latents)
    assert all(p.grad is None and p.requires_grad for p in generator.parameters())


def test_exact_cuda_math_is_set_while_any_search_runs_then_restored():
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.allow_tf32, cudnn.deterministic, matmul.allow_tf32)
    cudnn.allow_tf32, cudnn.deterministic, matmul.allow_tf32 = True, False, True
    try:
        with _ExactCudaMath(torch.device("cpu")):  # the CPU has no such settings: untouched
            assert cudnn.allow_tf32 and not cudnn.deterministic
        first, second = _ExactCudaMath(torch.device("cuda")), _ExactCudaMath(torch.device("cuda"))
        inside = threading.Event()

        def other_search():
            with second:
                inside.set()
        first.__enter__()
        assert (cudnn.allow_tf32, cudnn.deterministic, matmul.allow_tf32) == (False, True, False)
        thread = threading.Thread(target=other_search)
        thread.start(), thread.join()
        assert inside.is_set()
        # the other search ended, this one still runs: still exact
        assert (cudnn.allow_tf32, cudnn.deterministic, matmul.allow_tf32) == (False, True, False)
        first.__exit__(None, None, None)
        assert (cudnn.allow_tf32, cudnn.deterministic, matmul.allow_tf32) == (True, False, True)
    finally:
        cudnn.allow_tf32, cudnn.deterministic, matmul.allow_tf32 = saved


def test_optimize_noise_searches_the_camera_noise_too(tiny_models):
    generator, degradation = tiny_models
    target = _target(generator, degradation)

    def search(optimize_noise):
        return latent_search(generator, degradation, target, num_candidates=3, num_steps=60, learning_rate=0.2,
                             generator_rng=torch.Generator().manual_seed(0), optimize_noise=optimize_noise)
    fixed, searched = search(False), search(True)
    rng = torch.Generator().manual_seed(0)
    torch.randn(2 * 3, 32, generator=rng)  # the starting latents come first, then the noise
    drawn = torch.randn(2 * 3, 8, generator=rng)
    # without it the noise is the initial draw; with it the noise moves, and stays on its sphere
    assert torch.equal(fixed.noise.reshape(6, 8), drawn)
    assert not torch.allclose(fixed.noise / fixed.noise.norm(dim=-1, keepdim=True),
                              searched.noise / searched.noise.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(searched.noise.norm(dim=-1), torch.full((2, 3), 8**0.5))
    # the extra freedom explains the input better (the tiny random camera model does use its noise)
    assert searched.l1.mean() < fixed.l1.mean(), (searched.l1.mean(), fixed.l1.mean())
    torch.testing.assert_close(searched.l1, (searched.lr - target[:, None]).abs().mean(dim=(2, 3, 4)))


def test_noise_learning_rate_sets_the_noise_step_alone(tiny_models):
    generator, degradation = tiny_models
    target = _target(generator, degradation)

    def search(**rate):
        return latent_search(generator, degradation, target, num_candidates=3, num_steps=5, learning_rate=0.2,
                             generator_rng=torch.Generator().manual_seed(0), optimize_noise=True, **rate)
    default, explicit, fast, slow = (search(), search(noise_learning_rate=DEFAULT_NOISE_LEARNING_RATE),
                                     search(noise_learning_rate=0.2), search(noise_learning_rate=1e-4))
    torch.testing.assert_close(explicit.noise, default.noise)
    rng = torch.Generator().manual_seed(0)
    torch.randn(2 * 3, 32, generator=rng)  # the starting latents come first, then the noise
    drawn = project_to_sphere(torch.randn(2 * 3, 8, generator=rng))
    moved = {name: (result.noise.reshape(6, 8) - drawn).norm(dim=1)
             for name, result in (("fast", fast), ("slow", slow), ("default", default))}
    # the noise's own rate, not the latents', sets how far the noise moves
    assert (moved["slow"] < 0.01).all() and (moved["fast"] > moved["default"]).all(), moved
    with pytest.raises(ValueError, match="noise_learning_rate must be > 0, got 0.0"):
        latent_search(generator, degradation, target, num_steps=1, optimize_noise=True, noise_learning_rate=0.0)


def test_the_old_module_name_is_the_search_module_itself():
    import srnam.nam
    import srnam.search
    from srnam.search import SearchSettings, latent_search

    assert srnam.nam is srnam.search and latent_search is srnam.search.latent_search
    assert SearchSettings is srnam.search.SearchSettings


def test_a_grey_input_is_fit_on_luminance_and_a_colour_one_on_all_channels():
    """A grey photo says nothing of its colours: a coloured projection with the input's luminance fits it
    exactly, in the search's L1 and in the reported LR PSNR; a colour input is still fit on every channel."""
    from srnam.images import PSNR_CAP_DB, is_grey, lr_fit_psnr, luma, psnr
    from srnam.search import lr_fit_l1

    gen = torch.Generator().manual_seed(0)
    grey = (torch.rand(1, 1, 16, 16, generator=gen) * 0.5 + 0.25).expand(1, 3, 16, 16)  # [0, 1]
    tint = torch.tensor([0.1, -0.04, -(0.299 * 0.1 - 0.587 * 0.04) / 0.114]).view(1, 3, 1, 1)  # zero luminance
    assert luma(tint).abs().max() < 1e-4
    coloured = grey + tint
    assert is_grey(grey).tolist() == [True] and is_grey(coloured).tolist() == [False]
    assert is_grey(grey + torch.tensor([2 / 255, 0, 0]).view(1, 3, 1, 1)).tolist() == [True]  # JPEG chroma noise
    assert is_grey(grey + torch.tensor([3 / 255, 0, 0]).view(1, 3, 1, 1)).tolist() == [False]
    assert lr_fit_l1(coloured * 2 - 1, grey * 2 - 1).item() < 1e-4  # the search's L1, on [-1, 1]
    assert lr_fit_l1(grey * 2 - 1, coloured * 2 - 1).item() > 0.05  # a colour input: every channel counts
    assert lr_fit_psnr(coloured, grey).item() > 80 and psnr(coloured, grey).item() < 30
    assert lr_fit_psnr(grey, coloured).item() == pytest.approx(psnr(grey, coloured).item())
    assert lr_fit_psnr(grey, grey).item() == pytest.approx(PSNR_CAP_DB)


def test_the_search_of_a_grey_input_reports_its_luminance_fit(tiny_models):
    from srnam.search import lr_fit_l1

    generator, degradation = tiny_models
    target = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1)).expand(2, 3, 16, 16) * 2 - 1
    target = torch.cat([target[:1], torch.rand(1, 3, 16, 16) * 2 - 1])  # one grey input, one colour input
    result = latent_search(generator, degradation, target, num_candidates=2, num_steps=5,
                           generator_rng=torch.Generator().manual_seed(0))
    expected = lr_fit_l1(result.lr.flatten(0, 1), target.repeat_interleave(2, dim=0)).reshape(2, 2)
    torch.testing.assert_close(result.l1, expected)
    rgb = (result.lr - target[:, None]).abs().mean(dim=(2, 3, 4))
    assert (result.l1[0] < rgb[0]).all() and torch.allclose(result.l1[1], rgb[1])
