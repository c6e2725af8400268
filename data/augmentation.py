"""Training-time augmentation on a batch tensor: random crop with zero padding, horizontal flip.

The standard CIFAR recipe (He et al. 2016, also used for the ResNets of Li et al. 2018): pad each
side by ``crop_padding`` pixels, cut a random window of the original size, flip left-right with
probability 1/2. Every image in the batch gets its own draw, all on the batch's device.

Where it is wrong: flips turn digits into non-digits (a mirrored 2, 3, 4, 7 or 9 is no longer that
digit; the glyphs are not mirror-symmetric), so ``digits`` and ``mnist`` use crops only, small ones
to match their small images. The synthetic sets get none: their class is the dot's position, which a
shift or flip changes. ``data.default_augmentation(name)`` holds these choices (registry in
``data/__init__.py``).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def augment(X: torch.Tensor, crop_padding: int = 4, flip: bool = True, *,
            generator: Optional[torch.Generator] = None, seed: Optional[int] = None) -> torch.Tensor:
    """Randomly crop (after zero padding) and horizontally flip each image of a batch.

    Args:
        X: images (N, C, H, W), any float dtype and device; not modified.
        crop_padding: pixels of zeros added on each side before cutting a random H x W window
            (0: no crop). On standardized inputs zero is the training mean, a neutral border.
        flip: mirror each image left-right with probability 1/2.
        generator: source of randomness (reproducible training passes one and keeps it);
            ``seed`` instead makes a fresh ``torch.Generator`` seeded with it. Neither: torch's global RNG.

    Returns:
        A new tensor (N, C, H, W) like ``X``. The draws depend only on the generator state and N,
        so the same seed gives the same augmentation on CPU and GPU.
    """
    if X.dim() != 4:
        raise ValueError(f"The value for `X` must be a batch of images (N, C, H, W), but a tensor of shape "
                         f"{tuple(X.shape)} was passed.")
    if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
        raise ValueError(f"The value for `crop_padding` must be an integer >= 0, but {crop_padding!r} was passed.")
    if generator is not None and seed is not None:
        raise ValueError("Pass `generator` or `seed` to augment(), not both.")
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
    draw_device = generator.device if generator is not None else torch.device("cpu")
    n, _, h, w = X.shape
    out = X
    if crop_padding:
        p = crop_padding
        padded = F.pad(X, (p, p, p, p))  # (N, C, H+2p, W+2p), zeros outside
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=draw_device).to(X.device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=draw_device).to(X.device)
        rows = (dy[:, None] + torch.arange(h, device=X.device))[:, None, :, None]  # (N, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=X.device))[:, None, None, :]  # (N, 1, 1, W)
        batch = torch.arange(n, device=X.device)[:, None, None, None]
        chan = torch.arange(X.shape[1], device=X.device)[None, :, None, None]
        out = padded[batch, chan, rows, cols]  # advanced indexing broadcasts to (N, C, H, W)
    if flip:
        mirror = (torch.rand(n, generator=generator, device=draw_device) < 0.5).to(X.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out.clone() if out is X else out
