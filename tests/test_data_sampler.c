/* Sampler: for W in {1,2,3,4} the shards of one epoch are disjoint and their
 * union is the permutation; the same (seed, epoch) gives the same order on
 * every rank and every W; epochs and seeds differ; global batches have the
 * same composition for any W. */
#include <stdlib.h>
#include <string.h>

#include "ibx/sampler.h"
#include "testutil.h"

static void check_is_permutation(const long *perm, long n) {
  char *seen = calloc((size_t)n + 1, 1);
  for (long i = 0; i < n; i++) {
    assert_true(perm[i] >= 0 && perm[i] < n);
    assert_false(seen[perm[i]]);
    seen[perm[i]] = 1;
  }
  free(seen);
}

static void test_permutation(void **state) {
  (void)state;
  const long n = 1000;
  long *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  assert_ibx_ok(ibx_epoch_permutation(n, 42, 3, 1, a));
  check_is_permutation(a, n);
  assert_ibx_ok(ibx_epoch_permutation(n, 42, 3, 1, b));
  assert_memory_equal(a, b, n * sizeof *a); /* same (seed, epoch): same order */
  assert_ibx_ok(ibx_epoch_permutation(n, 42, 4, 1, c));
  check_is_permutation(c, n);
  assert_memory_not_equal(a, c, n * sizeof *a); /* another epoch */
  assert_ibx_ok(ibx_epoch_permutation(n, 43, 3, 1, c));
  assert_memory_not_equal(a, c, n * sizeof *a); /* another seed */
  long fixed = 0;
  for (long i = 0; i < n; i++)
    fixed += a[i] == i;
  assert_true(fixed < 10); /* shuffled (expected about 1 fixed point) */
  assert_ibx_ok(ibx_epoch_permutation(n, 42, 3, 0, c));
  for (long i = 0; i < n; i++)
    assert_int_equal(c[i], i);
  /* uniformity, roughly: where does sample 0 land over many epochs */
  long first_half = 0;
  for (uint64_t e = 0; e < 400; e++) {
    assert_ibx_ok(ibx_epoch_permutation(10, 7, e, 1, c));
    for (int i = 0; i < 10; i++)
      if (c[i] == 0)
        first_half += i < 5;
  }
  assert_true(first_half > 150 && first_half < 250);
  free(a), free(b), free(c);
}

static void test_shards(void **state) {
  (void)state;
  const long sizes[4] = {1, 7, 100, 1001};
  for (int si = 0; si < 4; si++) {
    long n = sizes[si];
    long *perm = malloc(n * sizeof *perm);
    for (uint64_t epoch = 0; epoch < 3; epoch++) {
      assert_ibx_ok(ibx_epoch_permutation(n, 1234, epoch, 1, perm));
      for (int W = 1; W <= 4; W++) {
        int *owner = malloc(n * sizeof *owner);
        for (long i = 0; i < n; i++)
          owner[i] = -1;
        long total = 0;
        for (int r = 0; r < W; r++) {
          ibx_sampler s;
          assert_ibx_ok(ibx_sampler_init(&s, n, W, r, 1234, 1));
          assert_ibx_ok(ibx_sampler_set_epoch(&s, epoch));
          assert_int_equal(s.count, ibx_shard_count(n, W, r));
          assert_memory_equal(s.perm, perm, n * sizeof *perm); /* one global order */
          long lo = n / W, hi = (n + W - 1) / W;
          assert_true(s.count >= lo && s.count <= hi);
          for (long k = 0; k < s.count; k++) {
            long i = ibx_sampler_index(&s, k);
            assert_true(i >= 0 && i < n);
            if (owner[i] != -1)
              fail_msg("n=%ld W=%d: sample %ld on ranks %d and %d", n, W, i, owner[i], r);
            owner[i] = r;
            assert_int_equal(i, perm[r + k * W]);
          }
          total += s.count;
          /* the same (seed, epoch) again gives the same shard */
          long *copy = malloc((s.count + 1) * sizeof *copy);
          memcpy(copy, s.local, s.count * sizeof *copy);
          assert_ibx_ok(ibx_sampler_set_epoch(&s, epoch + 1));
          assert_ibx_ok(ibx_sampler_set_epoch(&s, epoch));
          assert_memory_equal(copy, s.local, s.count * sizeof *copy);
          free(copy);
          ibx_sampler_free(&s);
        }
        assert_int_equal(total, n); /* union is everything, exactly once */
        for (long i = 0; i < n; i++)
          assert_true(owner[i] >= 0);
        free(owner);
      }
    }
    free(perm);
  }
}

/* Global batch j holds the same samples for W = 1, 2, 3, 4 and any B. */
static void test_global_batches(void **state) {
  (void)state;
  const long n = 103;
  const long batches[3] = {12, 10, 103};
  for (int bi = 0; bi < 3; bi++) {
    long B = batches[bi];
    ibx_sampler one;
    assert_ibx_ok(ibx_sampler_init(&one, n, 1, 0, 9, 1));
    assert_ibx_ok(ibx_sampler_set_epoch(&one, 5));
    long nb = ibx_sampler_num_batches(&one, B);
    assert_int_equal(nb, (n + B - 1) / B);
    for (int W = 1; W <= 4; W++) {
      ibx_sampler s[4];
      for (int r = 0; r < W; r++) {
        assert_ibx_ok(ibx_sampler_init(&s[r], n, W, r, 9, 1));
        assert_ibx_ok(ibx_sampler_set_epoch(&s[r], 5));
      }
      for (long j = 0; j < nb; j++) {
        long ref[200], refn;
        assert_ibx_ok(ibx_sampler_local_batch(&one, j, B, ref, &refn));
        char in_ref[103] = {0};
        for (long k = 0; k < refn; k++)
          in_ref[ref[k]] = 1;
        long got = 0;
        for (int r = 0; r < W; r++) {
          long idx[200], cnt;
          assert_ibx_ok(ibx_sampler_local_batch(&s[r], j, B, idx, &cnt));
          assert_true(cnt <= (B + W - 1) / W);
          if (B % W == 0 && (j + 1) * B <= n)
            assert_int_equal(cnt, B / W);
          for (long k = 0; k < cnt; k++) {
            assert_true(in_ref[idx[k]]);
            in_ref[idx[k]] = 0; /* each once */
          }
          got += cnt;
        }
        assert_int_equal(got, refn);
      }
      long idx[200], cnt;
      assert_int_equal(ibx_sampler_local_batch(&s[0], nb, B, idx, &cnt), IBX_ERR_ARG);
      for (int r = 0; r < W; r++)
        ibx_sampler_free(&s[r]);
    }
    ibx_sampler_free(&one);
  }
}

static void test_bad_args(void **state) {
  (void)state;
  ibx_sampler s;
  assert_int_equal(ibx_sampler_init(&s, 10, 2, 2, 0, 1), IBX_ERR_ARG);
  assert_int_equal(ibx_sampler_init(&s, 10, 0, 0, 0, 1), IBX_ERR_ARG);
  assert_int_equal(ibx_sampler_init(&s, -1, 1, 0, 0, 1), IBX_ERR_ARG);
  assert_int_equal(ibx_shard_count(3, 4, 3), 0);
  assert_ibx_ok(ibx_sampler_init(&s, 0, 2, 1, 0, 1));
  assert_int_equal(s.count, 0);
  ibx_sampler_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_permutation),
      cmocka_unit_test(test_shards),
      cmocka_unit_test(test_global_batches),
      cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
