/* Text runs: which configs read token ids, opening their splits and the
 * model they describe (include/ibx/trainer.h). */
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/text.h"
#include "ibx/trainer.h"

int ibx_config_is_text(const ibx_config *c) {
  const char *name = ibx_config_string(c, "data.dataset");
  if (ibx_text_is_text_name(name))
    return 1;
  if (strcmp(name, "h5"))
    return 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/train.h5", ibx_config_string(c, "data.path"));
  return ibx_text_h5_is_text(path);
}

int ibx_config_check_data_model(const ibx_config *c) {
  const int text = ibx_config_is_text(c);
  const int tf = !strcmp(ibx_config_string(c, "model.backbone"), "transformer");
  if (text && !tf)
    return ibx_fail(IBX_ERR_ARG,
                    "model.backbone = %s cannot read the text dataset '%s': use transformer",
                    ibx_config_string(c, "model.backbone"), ibx_config_string(c, "data.dataset"));
  if (!text && tf)
    return ibx_fail(IBX_ERR_ARG,
                    "model.backbone = transformer needs a text dataset (fortunes, imdb or a text "
                    "h5), not '%s'",
                    ibx_config_string(c, "data.dataset"));
  return IBX_OK;
}

int ibx_text_open_for_config(const ibx_config *c, const char *split, ibx_text_dataset **out) {
  ibx_text_options opt;
  ibx_text_options_default(&opt);
  opt.max_len = (int)ibx_config_int(c, "model.max_len");
  opt.vocab_size = (int)ibx_config_int(c, "model.vocab");
  return ibx_text_open(ibx_config_string(c, "data.dataset"), ibx_config_string(c, "data.path"),
                       split, &opt, out);
}

void ibx_model_config_from_text(const ibx_config *c, const ibx_text_dataset *train,
                                ibx_model_config *mc) {
  memset(mc, 0, sizeof *mc);
  snprintf(mc->backbone, sizeof mc->backbone, "transformer");
  snprintf(mc->head, sizeof mc->head, "cls");
  ibx_model_config_defaults(mc);
  mc->num_classes = ibx_text_num_classes(train);
  mc->tf_layers = (int)ibx_config_int(c, "model.layers");
  mc->tf_d_model = (int)ibx_config_int(c, "model.d_model");
  mc->tf_heads = (int)ibx_config_int(c, "model.heads");
  mc->tf_d_ff = (int)ibx_config_int(c, "model.d_ff");
  mc->tf_max_len = ibx_text_max_len(train);
  mc->tf_vocab = ibx_vocab_size(ibx_text_vocab(train));
  mc->tf_dropout = (float)ibx_config_float(c, "model.dropout");
  mc->tf_pool_mean = !strcmp(ibx_config_string(c, "model.pool"), "mean");
  mc->seed = (uint64_t)ibx_config_int(c, "train.seed");
}
