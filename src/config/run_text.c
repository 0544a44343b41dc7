/* Text runs from the typed run config: which runs read token ids, opening
 * their splits and the transformer they describe (include/ibx/run_config.h). */
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/run_config.h"

int ibx_run_is_text(const ibx_run_config *rc) {
  const char *name = rc->data.dataset;
  if (ibx_text_is_text_name(name))
    return 1;
  if (strcmp(name, "h5"))
    return 0;
  char path[IBX_CFG_MAX_STRING + 16];
  snprintf(path, sizeof path, "%s/train.h5", rc->data.path);
  return ibx_text_h5_is_text(path);
}

int ibx_run_check_data_model(const ibx_run_config *rc) {
  const int text = ibx_run_is_text(rc);
  const int tf = !strcmp(rc->model.backbone, "transformer");
  if (text && !tf)
    return ibx_fail(IBX_ERR_ARG,
                    "model.backbone = %s cannot read the text dataset '%s': use transformer",
                    rc->model.backbone, rc->data.dataset);
  if (!tf && !strcmp(rc->model.objective, "mlm"))
    return ibx_fail(IBX_ERR_ARG, "model.objective = mlm needs model.backbone = transformer, not %s",
                    rc->model.backbone);
  if (!text && tf)
    return ibx_fail(IBX_ERR_ARG,
                    "model.backbone = transformer needs a text dataset (fortunes, fortunes-corpus, imdb or a text "
                    "h5), not '%s'",
                    rc->data.dataset);
  return ibx_run_check_validation(rc);
}

int ibx_run_check_validation(const ibx_run_config *rc) {
  const ibx_data_settings *d = &rc->data;
  if (!d->validation && (d->validation_fold != 0 || d->validation_folds != 5))
    return ibx_fail(IBX_ERR_ARG, "data.validation_fold = %d, data.validation_folds = %d: the "
                    "folds need data.validation = true", d->validation_fold, d->validation_folds);
  if (d->validation_fold >= d->validation_folds)
    return ibx_fail(IBX_ERR_ARG, "data.validation_fold = %d must be below data.validation_folds "
                    "= %d", d->validation_fold, d->validation_folds);
  return IBX_OK;
}

int ibx_run_text_vocab(const ibx_run_config *rc, ibx_vocab **out) {
  *out = NULL;
  if (!rc->data.vocab_from[0])
    return IBX_OK;
  if (!strcmp(rc->data.dataset, "h5"))
    return ibx_fail(IBX_ERR_ARG, "data.vocab_from = %s: an h5 text dataset carries its own "
                    "vocabulary (convert it with --vocab-from instead)", rc->data.vocab_from);
  ibx_text_options opt;
  ibx_text_options_default(&opt);
  opt.vocab_size = rc->model.vocab;
  if (ibx_text_learn_vocab(rc->data.vocab_from, rc->data.path, &opt, out) != IBX_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", ibx_errmsg());
    return ibx_fail(IBX_ERR_ARG, "data.vocab_from = %s: %s", rc->data.vocab_from, why);
  }
  return IBX_OK;
}

int ibx_run_open_text_vocab(const ibx_run_config *rc, const char *split, const ibx_vocab *vocab,
                            ibx_text_dataset **out) {
  ibx_text_options opt;
  ibx_text_options_default(&opt);
  opt.max_len = rc->model.max_len;
  opt.vocab_size = rc->model.vocab;
  opt.vocab = vocab;
  opt.validation = rc->data.validation;
  opt.validation_fold = rc->data.validation_fold;
  opt.validation_folds = rc->data.validation_folds;
  IBX_TRY(ibx_run_check_validation(rc));
  if (opt.validation && strcmp(rc->data.dataset, "fortunes"))
    return ibx_fail(IBX_ERR_ARG, "data.validation: only the fortunes dataset has it, not '%s'",
                    rc->data.dataset);
  return ibx_text_open(rc->data.dataset, rc->data.path, split, &opt, out);
}

int ibx_run_open_text(const ibx_run_config *rc, const char *split, ibx_text_dataset **out) {
  ibx_vocab *vocab = NULL;
  IBX_TRY(ibx_run_text_vocab(rc, &vocab));
  int rc2 = ibx_run_open_text_vocab(rc, split, vocab, out);
  ibx_vocab_free(vocab);
  return rc2;
}

void ibx_run_model_config_text(const ibx_run_config *rc, const ibx_text_dataset *train,
                               ibx_model_config *mc) {
  const ibx_model_settings *m = &rc->model;
  memset(mc, 0, sizeof *mc);
  snprintf(mc->backbone, sizeof mc->backbone, "transformer");
  snprintf(mc->head, sizeof mc->head, "cls");
  ibx_model_config_defaults(mc);
  mc->num_classes = ibx_text_num_classes(train);
  mc->tf_layers = m->layers;
  mc->tf_d_model = m->d_model;
  mc->tf_heads = m->heads;
  mc->tf_d_ff = m->d_ff;
  mc->tf_max_len = ibx_text_max_len(train);
  mc->tf_vocab = ibx_vocab_size(ibx_text_vocab(train));
  mc->tf_dropout = (float)m->dropout;
  mc->tf_pool_mean = !strcmp(m->pool, "mean");
  mc->tf_mlm = !strcmp(m->objective, "mlm");
  mc->seed = (uint64_t)rc->train.seed;
}
