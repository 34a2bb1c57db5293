"""contrastlab.augment: shapes, ranges, seeding, devices, identity at strength 0, each op's defining
property, bad arguments, and the colour-histogram shortcut."""

import pytest
import torch

from contrastlab import augment as A
from contrastlab import data as D

SINGLE = {
    "crop": lambda x, g: A.random_resized_crop(x, generator=g),
    "flip": lambda x, g: A.horizontal_flip(x, generator=g),
    "color": lambda x, g: A.color_jitter(x, generator=g),
    "grayscale": lambda x, g: A.random_grayscale(x, generator=g),
    "blur": lambda x, g: A.gaussian_blur(x, generator=g),
    "simclr": lambda x, g: A.recipe()(x, generator=g),
}


def images(device, b=16, size=12, seed=0):
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed)).to(device)


def gen(device, seed):
    return torch.Generator(device=device).manual_seed(seed)


@pytest.mark.parametrize("op", SINGLE)
def test_shape_range_device_and_seeding(op, device):
    x = images(device)
    out = SINGLE[op](x, gen(device, 1))
    assert out.shape == x.shape and out.device == x.device and out.dtype == x.dtype
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    torch.testing.assert_close(out, SINGLE[op](x, gen(device, 1)), rtol=0, atol=0)
    assert not torch.equal(out, SINGLE[op](x, gen(device, 2)))
    assert torch.equal(x, images(device))  # the input is not modified


def test_ops_draw_per_image_and_crop_resizes():
    x = images("cpu")[:1].repeat(8, 1, 1, 1)  # one image, eight times
    out = A.recipe()(x, generator=gen("cpu", 0))
    assert len({tuple(o.flatten()[:5].tolist()) for o in out}) > 1
    assert A.random_resized_crop(images("cpu"), size=(5, 7)).shape == (16, 3, 5, 7)


@pytest.mark.parametrize("op", SINGLE)
def test_an_empty_batch_gives_an_empty_batch(op):
    assert SINGLE[op](torch.rand(0, 3, 8, 8), gen("cpu", 0)).shape == (0, 3, 8, 8)


@pytest.mark.parametrize("ops", [[], ["crop"], ["flip", "grayscale"], list(A.OPS)])
def test_identity_at_strength_zero(ops, device):
    x = images(device)
    torch.testing.assert_close(A.recipe(ops, strength=0.0)(x, generator=gen(device, 3)), x, atol=1e-5, rtol=0)


def test_recipe_names_ops_in_simclrs_order():
    assert A.recipe().names == A.OPS
    assert A.recipe(["color", "crop"]).names == ("crop", "color") == A.recipe(("crop", "color", "crop")).names
    assert A.recipe("blur").names == ("blur",)
    crop = A.recipe(["crop"], strength=1.0).ops[0].kwargs
    assert crop["scale"] == (0.08, 1.0) and crop["ratio"] == (0.75, 4 / 3)
    jitter = A.recipe(["color"], strength=0.5).ops[0].kwargs
    assert (jitter["brightness"], jitter["hue"], jitter["p"]) == (0.4, 0.1, 0.8)


def test_flip_twice_is_the_identity_and_flips_mirror(device):
    x = images(device)
    once = A.horizontal_flip(x, p=1.0)
    assert torch.equal(once, x.flip(-1)) and torch.equal(A.horizontal_flip(once, p=1.0), x)
    assert torch.equal(A.horizontal_flip(x, p=0.0), x)


def test_grayscale_has_equal_channels_holding_the_luma(device):
    out = A.random_grayscale(images(device), p=1.0)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    x = images(device)
    torch.testing.assert_close(out[:, 0], 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])


def test_crop_at_full_scale_and_ratio_is_the_identity(device):
    x = images(device, size=9)
    out = A.random_resized_crop(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=gen(device, 0))
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


def test_a_small_crop_zooms_in_on_a_gradient():
    ramp = torch.linspace(0, 1, 32).expand(4, 3, 32, 32).clone()  # brightness rises to the right
    out = A.random_resized_crop(ramp, scale=(0.1, 0.1), ratio=(1.0, 1.0), generator=gen("cpu", 0))
    assert float((out[..., -1] - out[..., 0]).mean()) < 0.5  # a zoomed-in ramp spans less than the whole


def test_brightness_jitter_multiplies(device):
    x = 0.25 + 0.25 * images(device)  # in [0.25, 0.5]: no clamping up to a factor of 2
    out = A.color_jitter(x, brightness=0.8, contrast=0, saturation=0, hue=0, p=1.0, generator=gen(device, 0))
    factor = out / x
    assert torch.allclose(factor, factor[:, :1, :1, :1].expand_as(factor), atol=1e-4)  # one factor per image
    assert float(factor.min()) >= 0.2 - 1e-5 and float(factor.max()) <= 1.8 + 1e-5
    assert float(factor.std()) > 0.05


def test_saturation_zero_gives_grey_and_hue_keeps_the_luma(device):
    x = images(device)
    grey = A.color_jitter(x, brightness=0, contrast=0, saturation=1.0, hue=0, p=1.0, generator=gen(device, 0))
    assert grey.shape == x.shape
    x = x * 0.3 + 0.35  # inside the gamut after any rotation
    rotated = A.color_jitter(x, brightness=0, contrast=0, saturation=0, hue=0.5, p=1.0, generator=gen(device, 1))
    luma = torch.tensor(A.LUMA, device=device).view(1, 3, 1, 1)
    torch.testing.assert_close((rotated * luma).sum(1), (x * luma).sum(1), atol=1e-4, rtol=0)
    assert float((rotated - x).abs().max()) > 0.01


def test_blur_keeps_a_constant_image_and_reduces_variance(device):
    const = torch.full((4, 3, 16, 16), 0.3, device=device)
    torch.testing.assert_close(A.gaussian_blur(const, sigma=(2.0, 2.0), p=1.0), const, atol=1e-6, rtol=0)
    x = images(device, size=16)
    out = A.gaussian_blur(x, sigma=(1.5, 2.0), p=1.0, kernel_size=5, generator=gen(device, 0))
    assert float(out.var()) < 0.5 * float(x.var())
    torch.testing.assert_close(out.mean(), x.mean(), atol=0.01, rtol=0)
    torch.testing.assert_close(A.gaussian_blur(x, sigma=(0.0, 0.0), p=1.0), x, atol=1e-6, rtol=0)


@pytest.mark.parametrize("call,error,match", [
    (lambda: A.recipe()(torch.rand(3, 12, 12)), ValueError, r"images must be a 4-d floating-point tensor \(B, C, H, W\)"),
    (lambda: A.recipe()([[0.0]]), TypeError, r"images must be a 4-d"),
    (lambda: A.random_grayscale(torch.zeros(2, 3, 4, 4, dtype=torch.long)), TypeError, r"images must be .* dtype"),
    (lambda: A.color_jitter(torch.rand(2, 1, 8, 8)), ValueError, r"images must have 3 \(RGB\) channels"),
    (lambda: A.recipe(["crop", "shift"]), ValueError, r"ops must be one of .* got 'shift'"),
    (lambda: A.recipe(["crop", 3]), TypeError, r"ops must be a name or a list of names"),
    (lambda: A.recipe(strength=1.5), ValueError, r"strength must be a finite number in \[0.0, 1.0\], got 1.5"),
    (lambda: A.horizontal_flip(torch.rand(2, 3, 4, 4), p="0.5"), TypeError, r"p must be a float, got str"),
    (lambda: A.random_resized_crop(torch.rand(2, 3, 4, 4), scale=(0.9, 0.1)), ValueError, r"scale must be a \(min, max\) pair with min <= max"),
    (lambda: A.random_resized_crop(torch.rand(2, 3, 4, 4), scale=0.5), TypeError, r"scale must be a \(min, max\) pair"),
    (lambda: A.gaussian_blur(torch.rand(2, 3, 8, 8), kernel_size=4), ValueError, r"kernel_size must be odd"),
    (lambda: A.gaussian_blur(torch.rand(2, 3, 8, 8), sigma=(-1.0, 1.0)), ValueError, r"sigma must be a finite number"),
    (lambda: A.color_jitter(torch.rand(2, 3, 8, 8), hue=0.7), ValueError, r"hue must be a finite number in \[0.0, 0.5\]"),
    (lambda: A.recipe()(torch.rand(2, 3, 8, 8), generator=1), TypeError, r"generator must be a torch.Generator or None, got int"),
    (lambda: A.color_histogram(torch.rand(2, 3, 8, 8), bins=0), ValueError, r"bins must be an integer >= 1"),
    (lambda: A.histogram_matching_accuracy(torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 8)), ValueError,
     r"first and second must have the same shape"),
])
def test_bad_arguments_are_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_generator_on_another_device_is_refused():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    with pytest.raises(ValueError, match=r"generator must be on the images' device"):
        A.recipe()(torch.rand(2, 3, 8, 8, device="cuda"), generator=torch.Generator().manual_seed(0))


def test_color_histograms_sum_to_one(device):
    x = images(device)
    hist = A.color_histogram(x, bins=8)
    assert hist.shape == (16, 24)
    torch.testing.assert_close(hist.view(16, 3, 8).sum(2), torch.ones(16, 3, device=device))
    joint = A.color_histogram(x, bins=4, joint=True)
    assert joint.shape == (16, 64)
    torch.testing.assert_close(joint.sum(1), torch.ones(16, device=device))
    assert float(A.color_histogram(torch.ones(1, 3, 4, 4), bins=8)[0, 7]) == 1.0  # 1.0 falls in the top bin


def test_colour_histograms_match_crops_of_one_image_and_colour_jitter_breaks_the_shortcut():
    patches = D.image_patches(patches_per_class=12, patch_size=32).x  # (60, 3, 32, 32)
    crops = A.recipe(["crop"])
    first, second = crops(patches, generator=gen("cpu", 1)), crops(patches, generator=gen("cpu", 2))
    same = A.histogram_matching_accuracy(first, second)
    shuffled = A.histogram_matching_accuracy(first, second[torch.randperm(60, generator=gen("cpu", 0))])
    assert same > 0.3 > 10 / 60 > shuffled  # chance is 1/60
    distorted = A.recipe(["crop", "color", "grayscale"])
    jittered = A.histogram_matching_accuracy(distorted(patches, generator=gen("cpu", 1)),
                                             distorted(patches, generator=gen("cpu", 2)))
    assert jittered < same / 2


def test_view_grid_draws_independent_seeded_views_of_one_image(device):
    image = images(device, b=1)[0]  # (3, 12, 12)
    views = A.view_grid(image, ["crop", "color"], n_views=5, seed=3)
    assert views.shape == (5, 3, 12, 12) and views.device == image.device
    torch.testing.assert_close(views, A.view_grid(image, ["crop", "color"], n_views=5, seed=3), rtol=0, atol=0)
    assert len({tuple(v.flatten()[:6].tolist()) for v in views}) == 5  # every view its own draw
    # the same draws as the recipe on a batch of copies with a generator seeded alike
    batch = image[None].repeat(5, 1, 1, 1)
    torch.testing.assert_close(views, A.recipe(["crop", "color"])(batch, generator=gen(device, 3)), rtol=0, atol=0)
    torch.testing.assert_close(A.view_grid(image, [], n_views=2), image[None].repeat(2, 1, 1, 1))
    with pytest.raises(ValueError, match="image"):
        A.view_grid(images(device), n_views=2)
    with pytest.raises(ValueError, match="n_views"):
        A.view_grid(image, n_views=0)
