"""Helpers for ibx's attribution heatmaps (docs/attribution.md)."""
import numpy as np


def iba_authors_scale(heat, layer_hw):
    """ibx's IBA heatmaps are bits per bottleneck position; the authors'
    IBA code multiplies by (h*w)/(H*W) so that the map sums to the total
    bits.  heat [..., H, W]; layer_hw = (h, w) of the bottleneck layer
    (e.g. features.22 of a 32x32 VGG: (8, 8))."""
    heat = np.asarray(heat)
    H, W = heat.shape[-2:]
    return heat * (layer_hw[0] * layer_hw[1]) / float(H * W)
