/* Parameter initialisation, deterministic from (seed, stream). */
#ifndef IBX_INIT_H
#define IBX_INIT_H

#include <stddef.h>
#include <stdint.h>

/* Kaiming-normal (fan_out, ReLU gain) as torchvision's VGG uses for convs:
 * std = sqrt(2 / fan). */
void ibx_init_kaiming_normal(float *w, size_t n, int fan, uint64_t seed, uint64_t stream);
/* Normal(0, std). */
void ibx_init_normal(float *w, size_t n, float std, uint64_t seed, uint64_t stream);
/* Uniform(-bound, bound) (torch's default Linear init uses 1/sqrt(fan_in)). */
void ibx_init_uniform(float *w, size_t n, float bound, uint64_t seed, uint64_t stream);
void ibx_init_constant(float *w, size_t n, float value);

#endif
