/* Data pipeline throughput on one core: read (decode) + augment (random crop
 * with padding 4, horizontal flip, per-channel normalisation) of 32x32x3
 * images from a CIFAR-10 binary batch file in the real format.
 * usage: bench_data [SECONDS]   (default 2) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ibx/augment.h"
#include "ibx/data.h"
#include "ibx/error.h"
#include "ibx/rng.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  const long n = 10000;
  char path[] = "/tmp/ibx_bench_cifarXXXXXX";
  int fd = mkstemp(path);
  if (fd < 0)
    return perror("mkstemp"), 1;
  FILE *f = fdopen(fd, "wb");
  uint8_t rec[3073];
  for (long i = 0; i < n; i++) { /* label byte + 3072 pixel bytes, as CIFAR-10 */
    uint32_t r[4];
    for (int k = 0; k < 3073; k += 16) {
      ibx_rng_u32x4(1, 2, (uint64_t)(i * 3073 + k), r);
      for (int b = 0; b < 16 && k + b < 3073; b++)
        rec[k + b] = (uint8_t)(r[b / 4] >> (8 * (b % 4)));
    }
    rec[0] %= 10;
    fwrite(rec, 1, sizeof rec, f);
  }
  fclose(f);
  ibx_dataset *ds;
  const char *paths[1] = {path};
  if (ibx_dataset_open_cifar_files(paths, 1, 10, &ds)) {
    fprintf(stderr, "bench_data: %s\n", ibx_errmsg());
    return 1;
  }
  ibx_augment a;
  ibx_augment_identity(&a);
  a.crop_pad = 4, a.hflip = 1, a.seed = 1;
  for (int c = 0; c < 3; c++)
    a.mean[c] = 0.5f, a.std[c] = 0.25f;
  static uint8_t img[3072];
  static float out[3072];
  long done = 0;
  const double t0 = now();
  double el;
  do {
    for (long i = 0; i < n; i++, done++) {
      int label;
      if (ibx_dataset_read(ds, i, img, &label) ||
          ibx_augment_apply(&a, 3, 32, 32, img, 0, (uint64_t)done, out)) {
        fprintf(stderr, "bench_data: %s\n", ibx_errmsg());
        return 1;
      }
    }
    el = now() - t0;
  } while (el < seconds);
  printf("decode+augment 32x32x3, one core: %.0f img/s (%ld images, %.2f s)\n", done / el, done,
         el);
  ibx_dataset_close(ds);
  unlink(path);
  return 0;
}
