"""Training-time augmentation on a batch tensor: random crop with zero padding, flip, Gaussian noise.

The standard CIFAR recipe (He et al. 2016, also used for the ResNets of Li et al. 2018): pad each
side by ``crop_padding`` pixels, cut a random window of the original size, flip left-right with
probability 1/2. Every image in the batch gets its own draw, all on the batch's device.

Where it is wrong: flips turn digits into non-digits (a mirrored 2, 3, 4, 7 or 9 is no longer that
digit; the glyphs are not mirror-symmetric), so ``digits`` and ``mnist`` use crops only, small ones
to match their small images. The synthetic sets get none: their class is the dot's position, which a
shift or flip changes. ``data.default_augmentation(name)`` holds these choices (registry in
``data/__init__.py``).

1D signals (N, C, L) get the same treatment along their length: a random shift with zero padding
(the crop) and, for MNIST-1D, small additive Gaussian noise (``noise``: its std, in the input's units;
on standardized inputs a fraction of the data's std), the two variations its generator itself applies
(Greydanus 2020). Mirrored MNIST-1D templates are other digits' shapes, so no flips there.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def augment(X: torch.Tensor, crop_padding: int = 4, flip: bool = True, noise: float = 0.0, *,
            generator: Optional[torch.Generator] = None, seed: Optional[int] = None) -> torch.Tensor:
    """Randomly crop (after zero padding), flip and add noise to each image or signal of a batch.

    Args:
        X: images (N, C, H, W) or 1D signals (N, C, L), any float dtype and device; not modified.
        crop_padding: pixels of zeros added on each side before cutting a random H x W window
            (signals: a random shift by up to ``crop_padding`` samples either way; 0: no crop). On
            standardized inputs zero is the training mean, a neutral border.
        flip: mirror each image left-right (each signal end-to-end) with probability 1/2.
        noise: std of Gaussian noise added to every value (0: none), in the units of ``X``.
        generator: source of randomness (reproducible training passes one and keeps it);
            ``seed`` instead makes a fresh ``torch.Generator`` seeded with it. Neither: torch's global RNG.

    Returns:
        A new tensor shaped like ``X``. The draws depend only on the generator state and N, so the
        same seed gives the same augmentation on CPU and GPU.
    """
    if X.dim() not in (3, 4):
        raise ValueError(f"The value for `X` must be a batch of images (N, C, H, W) or signals (N, C, L), "
                         f"but a tensor of shape {tuple(X.shape)} was passed.")
    if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
        raise ValueError(f"The value for `crop_padding` must be an integer >= 0, but {crop_padding!r} was passed.")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < float("inf"):
        raise ValueError(f"The value for `noise` must be a finite number >= 0, but {noise!r} was passed.")
    if generator is not None and seed is not None:
        raise ValueError("Pass `generator` or `seed` to augment(), not both.")
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
    if not (crop_padding or flip or noise):
        return X.clone()
    draw_device = generator.device if generator is not None else torch.device("cpu")
    if X.dim() == 3:  # a signal is an image of height 1 that is never cropped vertically
        out = _crop_and_flip(X[:, :, None, :], crop_padding, flip, generator, draw_device, vertical=False)[:, :, 0]
    else:
        out = _crop_and_flip(X, crop_padding, flip, generator, draw_device, vertical=True)
    if noise:
        draw = torch.randn(X.shape, generator=generator, device=draw_device, dtype=X.dtype).to(X.device)
        out = out + noise * draw
    return out  # a new tensor: indexing, torch.where and the addition never return a view of X


def _crop_and_flip(X: torch.Tensor, crop_padding: int, flip: bool, generator: Optional[torch.Generator],
                   draw_device: torch.device, vertical: bool) -> torch.Tensor:
    """Crop and flip (N, C, H, W); ``vertical=False`` shifts along W only (1D signals as height-1 images)."""
    n, _, h, w = X.shape
    out = X
    if crop_padding:
        p = crop_padding
        py = p if vertical else 0
        padded = F.pad(X, (p, p, py, py))  # (N, C, H+2py, W+2p), zeros outside
        dy = (torch.randint(0, 2 * p + 1, (n,), generator=generator, device=draw_device).to(X.device) if vertical
              else torch.zeros(n, dtype=torch.long, device=X.device))
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=draw_device).to(X.device)
        rows = (dy[:, None] + torch.arange(h, device=X.device))[:, None, :, None]  # (N, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=X.device))[:, None, None, :]  # (N, 1, 1, W)
        batch = torch.arange(n, device=X.device)[:, None, None, None]
        chan = torch.arange(X.shape[1], device=X.device)[None, :, None, None]
        out = padded[batch, chan, rows, cols]  # advanced indexing broadcasts to (N, C, H, W)
    if flip:
        mirror = (torch.rand(n, generator=generator, device=draw_device) < 0.5).to(X.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out
