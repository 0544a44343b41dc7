/* The run configuration as typed structs: an ibx_config (ibx/config.h,
 * string-keyed and schema-validated) is resolved once into ibx_run_config,
 * and the trainer, evaluation and attribution read fields, never keys. The
 * resolver (src/config/run_config.c) is the one place that names keys: its
 * table maps every schema key to a field, and a test checks the two cover
 * each other, so a misspelt key fails the build's tests, not a run.
 *
 * Values keep the config's types (integers long or int, numbers double,
 * booleans int), so arithmetic on them matches reading the config directly. */
#ifndef IBX_RUN_CONFIG_H
#define IBX_RUN_CONFIG_H

#include <stdint.h>

#include "ibx/config.h"
#include "ibx/data.h"
#include "ibx/model.h"
#include "ibx/optim.h"
#include "ibx/text.h"

typedef struct {
  char dataset[64];              /* a dataset kind (ibx/data.h, "datasets by name") */
  char path[IBX_CFG_MAX_STRING]; /* "" : the kind's default location */
  int image_size;
  int augment, flip;
  double token_dropout; /* text runs: word dropout probability */
  char vocab_from[64];  /* text runs: "" or the raw source whose vocabulary is used */
  int validation;       /* fortunes: evaluate on a fold of the train split */
  int validation_fold, validation_folds; /* which fold of how many (0 of 5: 20 %) */
  long train_limit, test_limit;
} ibx_data_settings;

typedef struct {
  char backbone[16], head[16];
  double width;
  int wrn_depth, wrn_widen, K;
  double beta, beta_warmup_epochs;
  int Q;
  double lambda_q, lambda_c;
  int attention_layer;
  /* the transformer (model.backbone = transformer, text datasets) */
  int layers, d_model, heads, d_ff, max_len, vocab;
  char pool[8]; /* "cls" or "mean" */
  char objective[16]; /* "classify" or "mlm" */
  double dropout;
} ibx_model_settings;

typedef enum { IBX_OPTIMIZER_SGD, IBX_OPTIMIZER_ADAM, IBX_OPTIMIZER_ADAMW } ibx_optimizer_kind;

typedef struct {
  long epochs;
  int batch_size;
  ibx_optimizer_kind optimizer;
  double lr, momentum;
  int nesterov;
  double weight_decay;
  ibx_sched_kind schedule;
  long milestones[IBX_CFG_MAX_LIST];
  int n_milestones;
  double gamma, grad_clip, warmup_epochs;
  long seed;
  int sync_bn;
  double watchdog_s, bucket_mb;
  int threads;
  char precision[8]; /* "fp32" | "bf16" (ibx/precision.h) */
  long log_every;
  double mask_prob;                  /* model.objective = mlm */
  char init_from[IBX_CFG_MAX_STRING]; /* "" or a run directory / checkpoint */
} ibx_train_settings;

typedef struct {
  int batch_size;
  long every;
} ibx_eval_settings;

typedef struct {
  char dir[IBX_CFG_MAX_STRING];
  int keep_last;
  long checkpoint_every;
} ibx_output_settings;

typedef struct {
  ibx_data_settings data;
  ibx_model_settings model;
  ibx_train_settings train;
  ibx_eval_settings eval;
  ibx_output_settings output;
} ibx_run_config;

/* Fills *out from c (every field). IBX_ERR_ARG naming the key when the
 * schema and the resolver's table disagree (a programming error the tests
 * catch) or a value does not fit its field. */
int ibx_run_config_resolve(const ibx_config *c, ibx_run_config *out);

/* The model a run config describes, with input channels and class count
 * from the training set: the one mapping that the trainer, evaluation and
 * attribution share, so a checkpoint's config always rebuilds the model that
 * wrote it. */
void ibx_run_model_config(const ibx_run_config *rc, const ibx_dataset *train,
                          ibx_model_config *mc);

/* Opens split of the run's dataset (data.dataset, data.path, data.image_size). */
int ibx_run_open_dataset(const ibx_run_config *rc, const char *split, ibx_dataset **out);

/* ---- text runs (a text data.dataset, model.backbone = transformer) ---------
 * src/config/run_text.c. 1 when data.dataset is a text source (fortunes,
 * imdb) or h5 whose data.path/train.h5 holds token ids. */
int ibx_run_is_text(const ibx_run_config *rc);
/* IBX_ERR_ARG naming the keys when the dataset kind (text or images) and
 * model.backbone (transformer or not) do not go together, or the validation
 * folds are wrong (ibx_run_check_validation). */
int ibx_run_check_data_model(const ibx_run_config *rc);
/* IBX_ERR_ARG naming the keys when data.validation_fold/_folds are set
 * without data.validation = true, or the fold is not below the fold count. */
int ibx_run_check_validation(const ibx_run_config *rc);
/* The run's text split ("train" or "test"): raw sources are tokenized with
 * model.max_len and a WordPiece vocabulary of model.vocab entries learned
 * from their train split. */
int ibx_run_open_text(const ibx_run_config *rc, const char *split, ibx_text_dataset **out);
/* The vocabulary data.vocab_from names (learned at model.vocab from that raw
 * source's train split in data.path), or *out = NULL when data.vocab_from is
 * empty. */
int ibx_run_text_vocab(const ibx_run_config *rc, ibx_vocab **out);
/* ibx_run_open_text with the vocabulary given (NULL: the dataset's own). */
int ibx_run_open_text_vocab(const ibx_run_config *rc, const char *split, const ibx_vocab *vocab,
                            ibx_text_dataset **out);
/* The transformer a text run config describes, with the class count,
 * vocabulary size and sequence length of the training set (the text
 * counterpart of ibx_run_model_config). */
void ibx_run_model_config_text(const ibx_run_config *rc, const ibx_text_dataset *train,
                               ibx_model_config *mc);

/* The schema keys the resolver's table maps, for the test that they match
 * the schema: how many, and the i-th "section.key". */
int ibx_run_config_field_count(void);
const char *ibx_run_config_field_name(int i);

#endif
