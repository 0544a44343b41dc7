/* Augmentation and normalisation: uint8 CHW images -> float CHW inputs.
 *
 * Equivalent to torchvision's Pad/CenterCrop to the output size,
 * RandomCrop(size, padding=crop_pad), RandomHorizontalFlip, ToTensor,
 * Normalize(mean, std), in that order:
 *   1. the image is centred on an out_h x out_w canvas of zeros (28x28 ->
 *      32x32 pads 2 on each side; a larger image is centre-cropped);
 *   2. the canvas is padded with crop_pad zeros on every side and an
 *      out_h x out_w window is taken at a random offset (dy, dx) in
 *      [0, 2*crop_pad]^2;
 *   3. with hflip, the window is mirrored left-right with probability 1/2;
 *   4. out = (pixel / 255 - mean[c]) / std[c] (padding pixels are 0, so they
 *      become -mean/std, as in torchvision).
 * Each sample's (dy, dx, flip) is a pure function of (seed, epoch, sample
 * index) through Philox (ibx/rng.h), independent of threads, batch
 * composition and ranks. With crop_pad = 0 and hflip = 0 (evaluation) the
 * transform is deterministic. */
#ifndef IBX_AUGMENT_H
#define IBX_AUGMENT_H

#include <stdint.h>

#include "ibx/data.h"

#define IBX_AUGMENT_MAX_CHANNELS 4

typedef struct {
  int out_h, out_w; /* 0: the input size */
  int crop_pad;     /* random crop with this much zero padding (4); 0: none */
  int hflip;        /* random horizontal flip (off for digits) */
  float mean[IBX_AUGMENT_MAX_CHANNELS]; /* per channel, on the 0..1 scale */
  float std[IBX_AUGMENT_MAX_CHANNELS];  /* per channel; must be > 0 */
  uint64_t seed;
} ibx_augment;

/* No augmentation, mean 0, std 1 (plain pixel / 255), input size. */
void ibx_augment_identity(ibx_augment *a);

/* The random choices for one sample: the crop window's offset (dy, dx) in
 * the padded canvas, each in [0, 2*crop_pad] (crop_pad, crop_pad is the
 * unshifted window), and flip (0/1, always 0 without hflip). */
void ibx_augment_params(const ibx_augment *a, uint64_t epoch, uint64_t sample, int *dy, int *dx,
                        int *flip);

/* Transforms one image (c x h x w uint8) into out (c x out_h x out_w
 * float). */
int ibx_augment_apply(const ibx_augment *a, int c, int h, int w, const uint8_t *in_chw,
                      uint64_t epoch, uint64_t sample, float *out_chw);

/* Reads samples indices[0..n) from ds and transforms them into out (n
 * images, NCHW float) and labels (may be NULL); parallel over samples
 * (OpenMP). The sample index used for the randomness is the dataset index,
 * so a sample gets the same augmentation whichever batch or rank reads it. */
int ibx_augment_batch(const ibx_augment *a, const ibx_dataset *ds, const long *indices, long n,
                      uint64_t epoch, float *out, int *labels);

/* Per-channel mean and standard deviation of a whole dataset on the 0..1
 * scale (for normalisation constants); mean and std need `channels` entries. */
int ibx_dataset_channel_stats(const ibx_dataset *ds, float *mean, float *std);

#endif
