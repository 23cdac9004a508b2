import math

import pytest
import torch

from srnam.models import (
    DEGRADATION_CHANNELS, PROGAN_CHANNELS, DegradationDiscriminator, DegradationGenerator, ProGANDiscriminator,
    ProGANGenerator,
)
from srnam.models.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm


@pytest.mark.parametrize("stage", range(5))
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_progan_every_stage_and_fade_gives_right_shapes(stage, alpha):
    torch.manual_seed(0)
    generator = ProGANGenerator(latent_size=32, channels=PROGAN_CHANNELS["tiny"])
    critic = ProGANDiscriminator(channels=PROGAN_CHANNELS["tiny"])
    image = generator(torch.randn(3, 32), stage=stage, alpha=alpha)
    side = 4 * 2**stage
    assert image.shape == (3, 3, side, side)
    assert critic(image, stage=stage, alpha=alpha).shape == (3, 1)


def test_progan_fade_in_interpolates_between_stages():
    torch.manual_seed(0)
    generator = ProGANGenerator(latent_size=32, channels=PROGAN_CHANNELS["tiny"])
    z = torch.randn(2, 32)
    old = generator(z, stage=2, alpha=0.0)
    new = generator(z, stage=2, alpha=1.0)
    mid = generator(z, stage=2, alpha=0.25)
    torch.testing.assert_close(mid, 0.75 * old + 0.25 * new)
    # alpha 0 is exactly the previous stage's image, upsampled
    torch.testing.assert_close(old, torch.nn.functional.interpolate(generator(z, stage=1), scale_factor=2))
    with pytest.raises(ValueError, match="stage must be in"):
        generator(z, stage=5)


def test_critic_rejects_wrong_resolution():
    critic = ProGANDiscriminator(channels=PROGAN_CHANNELS["tiny"])
    with pytest.raises(ValueError, match="stage 2 expects 16×16"):
        critic(torch.randn(2, 3, 32, 32), stage=2)


def test_paper_widths_are_the_default():
    generator = ProGANGenerator()
    assert generator.latent_size == 512 and generator.channels == (512, 512, 512, 512, 256)
    assert generator.resolution == 64


def test_equalized_lr_scale_is_applied_at_run_time():
    torch.manual_seed(0)
    conv = EqualizedConv2d(8, 4, 3)
    # stored weights are unit variance; the He constant is not baked in
    assert abs(conv.weight.std().item() - 1) < 0.15
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(8 * 9))
    x = torch.randn(2, 8, 5, 5)
    expected = torch.nn.functional.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)
    with torch.no_grad():
        conv.weight.mul_(2)  # a change of the stored weight shows up scaled in the output
    torch.testing.assert_close(conv(x) - conv.bias.view(1, -1, 1, 1), 2 * (expected - conv.bias.view(1, -1, 1, 1)))

    linear = EqualizedLinear(16, 3, gain=1.0)
    v = torch.randn(4, 16)
    torch.testing.assert_close(linear(v), v @ (linear.weight / 4).T + linear.bias)


def test_pixel_norm_and_minibatch_stddev():
    x = torch.randn(4, 6, 3, 3) * 7
    assert torch.allclose(PixelNorm()(x).pow(2).mean(dim=1), torch.ones(4, 3, 3), atol=1e-4)
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (4, 7, 3, 3)
    expected = x.std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(out[:, -1], torch.full((4, 3, 3), expected.item()), atol=1e-4, rtol=1e-4)
    assert MinibatchStdDev(group_size=4)(torch.randn(6, 2, 2, 2)).shape == (6, 3, 2, 2)  # 6 % 4: groups of 3


def test_generator_depends_only_on_direction_of_z():
    torch.manual_seed(0)
    generator = ProGANGenerator(latent_size=32, channels=PROGAN_CHANNELS["tiny"])
    z = torch.randn(2, 32)
    torch.testing.assert_close(generator(z), generator(5 * z), atol=1e-4, rtol=1e-3)


def test_degradation_shapes_and_noise_changes_output():
    torch.manual_seed(0)
    degradation = DegradationGenerator(noise_size=100).eval()
    hr = torch.rand(2, 3, 64, 64) * 2 - 1
    a = degradation(hr, torch.randn(2, 100))
    b = degradation(hr, torch.randn(2, 100))
    assert a.shape == (2, 3, 16, 16)
    # untrained, the noise path is weak but must reach every sample's output
    assert ((a - b).abs().mean(dim=(1, 2, 3)) > 1e-5).all()
    torch.manual_seed(1)  # no hidden randomness: the same noise vector gives the same photo, whatever torch's RNG
    first = degradation(hr, torch.zeros(2, 100))
    torch.manual_seed(2)
    assert torch.equal(degradation(hr, torch.zeros(2, 100)), first)
    assert len([m for m in degradation.modules() if type(m).__name__ == "ResidualBlock"]) == 12
    assert sum(isinstance(m, torch.nn.PixelShuffle) for m in degradation.modules()) == 2
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in degradation.modules()) == 4



def test_camera_head_blurs_and_adds_sensor_noise_set_by_the_noise_vector(tmp_path):
    from srnam.models.camera_head import LR_MULTIPLIER, MAX_SIGMA, CameraHead

    torch.manual_seed(0)
    channels = DEGRADATION_CHANNELS["tiny"]
    plain = DegradationGenerator(noise_size=8, channels=channels).eval()
    headed = DegradationGenerator(noise_size=8, channels=channels, camera_head=True).eval()
    missing, _ = headed.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all(k.startswith("camera.") for k in missing)
    hr, noise = torch.rand(3, 3, 64, 64) * 2 - 1, torch.randn(3, 8)
    with torch.no_grad():
        # at its initialisation the head changes a photo by under one 8-bit level (blur 0.3 LR px, tiny noise)
        assert (headed(hr, noise) - plain(hr, noise)).abs().mean() * 127.5 < 1.0
        torch.testing.assert_close(headed.camera.sigma(noise), torch.full((3,), 0.3), atol=0.01, rtol=0)

    head = CameraHead(noise_size=8, lr_size=16)
    with torch.no_grad():
        head.blur.bias.fill_(10.0 / LR_MULTIPLIER)  # sigma -> MAX_SIGMA (parameters are used ×LR_MULTIPLIER)
        head.blur.weight[0, 0] = -20.0 / LR_MULTIPLIER  # ... except where noise[0] is large: a near-delta
    point = torch.zeros(2, 3, 16, 16)
    point[..., 8, 8] = 1.0
    sharp, wide = torch.zeros(2, 8), torch.zeros(2, 8)
    sharp[:, 0] = 1.0
    blurred = head.lens(point, torch.cat([sharp[:1], wide[:1]]))
    torch.testing.assert_close(blurred.sum(dim=(2, 3)), torch.ones(2, 3))  # brightness kept
    assert blurred[0, :, 8, 8].min() > 0.99  # noise[0] = 1: no blur
    rows = torch.arange(16.0) - 8
    spread = (blurred[1, 0].sum(dim=0) * rows**2).sum()  # the variance of the blurred point
    assert 0.9 * MAX_SIGMA**2 < spread < MAX_SIGMA**2, spread

    with torch.no_grad():
        head.amplitude.bias.fill_(0.0)  # softplus(0) = 0.69 of both parts
    first, second = head.sensor(torch.randn(2, 8)), head.sensor(torch.randn(2, 8))
    assert first.shape == (2, 3, 16, 16) and (first - second).abs().mean() > 0.3
    torch.testing.assert_close(first.std(), torch.tensor(0.69 * 2**0.5), atol=0.2, rtol=0)

    headed.save_pretrained(tmp_path)  # the fixed pattern is saved with the weights: same photos after loading
    loaded = DegradationGenerator.from_folder(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(hr, noise), headed(hr, noise))
    with pytest.raises(ValueError, match="needs residual"):
        DegradationGenerator(noise_size=8, channels=channels, residual=False, camera_head=True)


def test_degradation_discriminator():
    critic = DegradationDiscriminator()
    assert critic(torch.randn(5, 3, 16, 16)).shape == (5, 1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in critic.modules()) == 2
    with pytest.raises(ValueError, match="one width per block"):
        DegradationDiscriminator(channels=(8, 8))


def test_fused_upsample_conv_equals_upsample_then_conv():
    from srnam.models.layers import UpsampleConv2d

    torch.manual_seed(0)
    layer = UpsampleConv2d(5, 3).double()
    x = torch.randn(2, 5, 6, 6, dtype=torch.float64)
    upsampled = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    expected = torch.nn.functional.conv2d(upsampled, layer.weight * layer.scale, layer.bias, padding=1)
    assert layer(x).shape == (2, 3, 12, 12)
    torch.testing.assert_close(layer(x), expected, atol=1e-10, rtol=1e-10)
    assert "taps" not in layer.state_dict()  # derived, not saved: old checkpoints keep loading


@pytest.mark.parametrize("slope", [None, 0.2])
def test_fused_pixel_norm_matches_the_written_out_layers(slope):
    torch.manual_seed(0)
    x = (torch.randn(3, 5, 4, 4, dtype=torch.float64) * 3).contiguous(memory_format=torch.channels_last)
    layer = PixelNorm(leaky_relu_slope=slope)

    def written_out(x):
        a = x if slope is None else torch.nn.functional.leaky_relu(x, slope)
        return a * torch.rsqrt(a.pow(2).mean(dim=1, keepdim=True) + 1e-8)

    torch.testing.assert_close(layer(x), written_out(x), atol=1e-12, rtol=1e-12)
    # the hand-written backward against finite differences, and against autograd on the written-out layers
    assert torch.autograd.gradcheck(layer, (x.clone().requires_grad_(True),))
    grad = torch.randn_like(x)
    ours = torch.autograd.grad(layer(x.requires_grad_(True)), x, grad)[0]
    torch.testing.assert_close(ours, torch.autograd.grad(written_out(x), x, grad)[0], atol=1e-12, rtol=1e-12)
    assert ours.is_contiguous(memory_format=torch.channels_last)  # keeps the fast layout


def test_batch_norm_eval_is_the_affine_map_and_trains_as_torch_does():
    from srnam.models.degradation import BatchNorm2d

    torch.manual_seed(0)
    ours, torchs = BatchNorm2d(4).double(), torch.nn.BatchNorm2d(4).double()
    with torch.no_grad():
        for p in ("weight", "bias", "running_mean"):
            getattr(ours, p).normal_()
        ours.running_var.uniform_(0.5, 2.0)
    torchs.load_state_dict(ours.state_dict())  # same parameters and buffers: checkpoints load in both
    x = torch.randn(6, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    ours.eval(), torchs.eval()
    torch.testing.assert_close(ours(x), torchs(x))
    grad = torch.randn(6, 4, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(ours(x), x, grad)[0], torch.autograd.grad(torchs(x), x, grad)[0])
    ours.train(), torchs.train()  # training: batch statistics, running averages updated alike
    torch.testing.assert_close(ours(x), torchs(x))
    torch.testing.assert_close(ours.running_mean, torchs.running_mean)


def test_the_camera_model_photographs_each_face_by_its_own_seed_and_keeps_its_mode():
    torch.manual_seed(0)
    camera = DegradationGenerator(noise_size=8, channels=DEGRADATION_CHANNELS["tiny"]).train()
    hr = torch.rand(3, 3, 64, 64) * 2 - 1
    photos = camera.photograph(hr, [5, 6, 7])
    assert photos.shape == (3, 3, 16, 16) and camera.training  # eval mode only while it photographs
    torch.testing.assert_close(camera.photograph(hr[1:2], [6]), photos[1:2])  # alone or in a batch: the same
    assert not torch.allclose(camera.photograph(hr[1:2], [8]), photos[1:2])  # another seed, another photo
