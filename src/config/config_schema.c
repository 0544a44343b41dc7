/* Every configuration key ibx knows. docs/config.md is generated from this
 * table (`ibx config docs`); a test keeps the two identical. */
#include "ibx/config.h"
#include "ibx/model.h"

#define BIG 1e12

const ibx_cfg_key ibx_config_schema[] = {
    /* ---- data ---- */
    {"data", "dataset", IBX_CFG_CHOICE, "fashion-mnist", 0, 0,
     "fashion-mnist|mnist|cifar10|cifar100|svhn|stl10|cub200|h5|fortunes|fortunes-corpus|imdb",
     "Dataset reader. `h5` reads ibx's native HDF5 format: data.path is a directory holding train.h5 and test.h5 (`ibx data convert`; images or token ids). Text: `fortunes` (the embedded default, Debian's fortune cookies by category), `fortunes-corpus` (unlabelled text of every fortune file, without the fortunes test split: masked-language-model pre-training) and `imdb` (data.path: the aclImdb directory) are tokenized at open (docs/data.md); text needs model.backbone = transformer."},
    {"data", "path", IBX_CFG_STRING, "", 0, 0, NULL,
     "Dataset directory or file; empty means the reader's default (Fashion-MNIST: "
     "/usr/share/datasets/fashion-mnist)."},
    {"data", "image_size", IBX_CFG_INT, "32", 8, 1024, NULL,
     "Model input size: images are zero-padded (28->32) or resized to it."},
    {"data", "augment", IBX_CFG_BOOL, "true", 0, 0, NULL,
     "Random crop (zero padding 4) during training."},
    {"data", "flip", IBX_CFG_BOOL, "true", 0, 0, NULL,
     "Random horizontal flip during training (turn off for digits)."},
    {"data", "token_dropout", IBX_CFG_FLOAT, "0", 0, 0.9, NULL,
     "Text runs: word dropout, each content token of a training sequence becomes [MASK] with "
     "this probability (per epoch and position; [CLS]/[SEP] kept)."},
    {"data", "vocab_from", IBX_CFG_STRING, "", 0, 0, NULL,
     "Text runs on a raw source: take the WordPiece vocabulary (model.vocab entries) that this "
     "raw source (e.g. `fortunes-corpus`, read from data.path too) learns from its train split, "
     "instead of learning one from data.dataset's train split. Pre-training and fine-tuning then "
     "share one vocabulary (docs/text.md). Empty: the dataset's own."},
    {"data", "validation", IBX_CFG_BOOL, "false", 0, 0, NULL,
     "Text dataset `fortunes`: for tuning without the test split, train on a stratified 80 % of "
     "the train split and evaluate (the run's test error) on the other 20 %: fold 0 of 5 of "
     "data.validation_fold / data.validation_folds (the default)."},
    {"data", "validation_fold", IBX_CFG_INT, "0", 0, 99, NULL,
     "With data.validation: the fold of the labelled train split to evaluate on, 0 .. "
     "data.validation_folds - 1 (K-fold cross-validation: train on the other folds). The folds "
     "are stratified by label and fixed by the split seed; fold 0 of 5 is the 80/20 validation "
     "split."},
    {"data", "validation_folds", IBX_CFG_INT, "5", 2, 100, NULL,
     "With data.validation: the number of folds the labelled train split is cut into."},
    {"data", "train_limit", IBX_CFG_INT, "0", 0, BIG, NULL,
     "Use only the first N training samples (0: all). For smoke tests."},
    {"data", "test_limit", IBX_CFG_INT, "0", 0, BIG, NULL,
     "Use only the first N test samples (0: all)."},
    /* ---- model ---- */
    {"model", "backbone", IBX_CFG_CHOICE, "vgg16", 0, 0, "vgg16|wrn|transformer",
     "Backbone network. `transformer`: the BERT-style post-LN text encoder with a [CLS] pooled "
     "classifier (docs/models.md) for text datasets; model.head is then ignored."},
    {"model", "head", IBX_CFG_CHOICE, "aib", 0, 0, IBX_MODEL_HEAD_CHOICES,
     "Classifier head (see docs/models.md)."},
    {"model", "width", IBX_CFG_FLOAT, "1.0", 0.01, 16, NULL,
     "VGG width multiplier (0.25: quarter width, 16..128 channels)."},
    {"model", "wrn_depth", IBX_CFG_INT, "28", 10, 1000, NULL, "WRN depth d (6n+4)."},
    {"model", "wrn_widen", IBX_CFG_INT, "10", 1, 64, NULL, "WRN widening factor k."},
    {"model", "K", IBX_CFG_INT, "256", 1, 65536, NULL, "Latent dimension of dvib/aib."},
    {"model", "beta", IBX_CFG_FLOAT, "0.01", 0, BIG, NULL, "KL weight of the information bottleneck."},
    {"model", "beta_warmup_epochs", IBX_CFG_FLOAT, "0", 0, 1000, NULL,
     "Ramp the KL weight linearly from 0 to model.beta over this many epochs (0: none)."},
    {"model", "Q", IBX_CFG_INT, "30", 2, 4096, NULL, "Number of quantisation anchors (aib-qt)."},
    {"model", "lambda_q", IBX_CFG_FLOAT, "0.4", 0, BIG, NULL, "Vector-quantisation loss weight (aib-qt)."},
    {"model", "lambda_c", IBX_CFG_FLOAT, "0.1", 0, BIG, NULL, "Commitment loss weight (aib-qt)."},
    {"model", "attention_layer", IBX_CFG_INT, "0", 0, 64, NULL,
     "Backbone stage the attention reads (0: the head's default)."},
    {"model", "layers", IBX_CFG_INT, "2", 1, 48, NULL, "Transformer encoder layers."},
    {"model", "d_model", IBX_CFG_INT, "128", 1, 8192, NULL, "Transformer hidden size."},
    {"model", "heads", IBX_CFG_INT, "4", 1, 256, NULL,
     "Transformer attention heads (must divide model.d_model)."},
    {"model", "d_ff", IBX_CFG_INT, "512", 1, 65536, NULL, "Transformer feed-forward size."},
    {"model", "max_len", IBX_CFG_INT, "128", 2, 8192, NULL,
     "Longest token sequence, [CLS] and [SEP] included: raw text sources are truncated to it "
     "(an h5 text dataset keeps the length it was converted with)."},
    {"model", "vocab", IBX_CFG_INT, "4000", 6, 1 << 24, NULL,
     "WordPiece vocabulary size (5 special tokens included) learned from a raw text source's "
     "training split; the model's embedding table has the dataset vocabulary's actual size."},
    {"model", "pool", IBX_CFG_CHOICE, "cls", 0, 0, "cls|mean",
     "Transformer classifier input: `cls` the [CLS] position's final state (BERT), `mean` the "
     "mean over the sequence's positions (an ablation)."},
    {"model", "dropout", IBX_CFG_FLOAT, "0.1", 0, 0.99, NULL,
     "Transformer dropout (embeddings, attention weights, residual branches, classifier)."},
    {"model", "objective", IBX_CFG_CHOICE, "classify", 0, 0, "classify|mlm",
     "Transformer training objective. `classify`: the [CLS] pooled classifier on the labels. "
     "`mlm`: masked-language-model pre-training (BERT): train.mask_prob of the content tokens "
     "are chosen (80 % become [MASK], 10 % a random token, 10 % stay) and predicted by an MLM "
     "head tied to the token embedding; the test error is the masked-token error on the "
     "held-out split (docs/text.md)."},
    /* ---- train ---- */
    {"train", "epochs", IBX_CFG_INT, "15", 1, 100000, NULL, "Training epochs."},
    {"train", "batch_size", IBX_CFG_INT, "128", 1, 1 << 20, NULL,
     "Global mini-batch size (split evenly over ranks; must divide by the world size)."},
    {"train", "optimizer", IBX_CFG_CHOICE, "sgd", 0, 0, "sgd|adam|adamw", "Optimiser."},
    {"train", "lr", IBX_CFG_FLOAT, "0.05", 1e-12, BIG, NULL, "Peak learning rate."},
    {"train", "momentum", IBX_CFG_FLOAT, "0.9", 0, 0.9999, NULL, "SGD momentum."},
    {"train", "nesterov", IBX_CFG_BOOL, "true", 0, 0, NULL, "Nesterov momentum (SGD)."},
    {"train", "weight_decay", IBX_CFG_FLOAT, "5e-4", 0, 1, NULL, "L2 weight decay."},
    {"train", "schedule", IBX_CFG_CHOICE, "cosine", 0, 0, "constant|multistep|cosine|linear",
     "Learning-rate schedule (per step). `linear`: linear warm-up from 0 over "
     "train.warmup_epochs, then linear decay to 0 at the end (BERT fine-tuning)."},
    {"train", "milestones", IBX_CFG_INT_LIST, "", 1, 100000, NULL,
     "Multistep: epochs at which the rate is multiplied by gamma (e.g. 150,225)."},
    {"train", "gamma", IBX_CFG_FLOAT, "0.1", 1e-6, 1, NULL, "Multistep decay factor."},
    {"train", "grad_clip", IBX_CFG_FLOAT, "0", 0, BIG, NULL,
     "Clip the global L2 norm of the averaged gradient to this value (0: off), as "
     "torch.nn.utils.clip_grad_norm_. Keeps the aib heads' log-variances from blowing up "
     "at the peak learning rate."},
    {"train", "warmup_epochs", IBX_CFG_FLOAT, "0", 0, 1000, NULL, "Linear warm-up length in epochs."},
    {"train", "seed", IBX_CFG_INT, "0", 0, BIG, NULL,
     "Seed of initialisation, shuffling, augmentation and noise."},
    {"train", "sync_bn", IBX_CFG_BOOL, "false", 0, 0, NULL,
     "Synchronised batch norm: in training, every batch-norm layer normalises with the mean and "
     "variance of the global batch (all ranks) and its backward uses the global gradient sums, so "
     "N ranks x batch B train like one process with batch N*B (docs/training.md). Costs 3 small "
     "allreduces per batch-norm layer and step. Without it each rank normalises over its own B/N "
     "samples."},
    {"train", "watchdog_s", IBX_CFG_FLOAT, "600", 0, BIG, NULL,
     "End a rank (exit 1, state 'failed: ...') that makes no progress (step, evaluation batch, "
     "checkpoint) for this many seconds, e.g. blocked in a collective because another rank died "
     "or hangs; the launcher then ends the others. 0: off. Must exceed the longest step."},
    {"train", "bucket_mb", IBX_CFG_FLOAT, "25", 0.001, 4096, NULL,
     "Gradient allreduce bucket size in MB (overlapped with backward)."},
    {"train", "threads", IBX_CFG_INT, "0", 0, 1024, NULL, "OpenMP threads per rank (0: OMP_NUM_THREADS or all cores)."},
    {"train", "precision", IBX_CFG_CHOICE, "fp32", 0, 0, "fp32|bf16",
     "Arithmetic of the convolution and linear GEMMs (Winograd's transform-domain products "
     "included). `bf16` rounds their inputs to bfloat16 and accumulates in fp32 (AMX tiles where "
     "the CPU has amx_bf16, else AVX512-BF16 dot products), as PyTorch's bf16 autocast; "
     "products too small for that to pay (K < 32, or M or N < 16: e.g. the first layers' "
     "Winograd products over 1 or 16 channels) run in fp32; weights, optimiser state, "
     "batch-norm statistics, "
     "losses, KL terms and reductions stay fp32, and checkpoints are the same either way. Needs a "
     "CPU with avx512_bf16 (Intel Cooper Lake/Sapphire Rapids, AMD Zen 4 or later): elsewhere "
     "training stops at start with an error. See docs/performance.md."},
    {"train", "mask_prob", IBX_CFG_FLOAT, "0.15", 0.01, 0.9, NULL,
     "model.objective = mlm: the fraction of content tokens ([CLS]/[SEP]/[PAD] never) chosen for "
     "prediction in each training sequence (BERT: 0.15); fresh per epoch."},
    {"train", "init_from", IBX_CFG_STRING, "", 0, 0, NULL,
     "Start from a trained run's parameters (fine-tuning): a run directory (its best.h5, else "
     "its newest checkpoint) or a checkpoint file. Every parameter of this model whose name and "
     "shape are in that checkpoint is loaded (the encoder and embeddings of an MLM run); the "
     "others (pooler, classifier) are initialised as usual. A same-named parameter of another "
     "shape is an error. Not used when resuming."},
    {"train", "log_every", IBX_CFG_INT, "50", 1, BIG, NULL, "Progress line every N steps (rank 0)."},
    /* ---- eval ---- */
    {"eval", "batch_size", IBX_CFG_INT, "256", 1, 1 << 20, NULL, "Evaluation batch size per rank (ibx eval, attribution); during ibx train at most the per-rank training batch, so that evaluation adds no activation memory."},
    {"eval", "every", IBX_CFG_INT, "1", 0, 100000, NULL, "Evaluate on the test set every N epochs (0: only at the end)."},
    /* ---- output ---- */
    {"output", "dir", IBX_CFG_STRING, "results/run", 0, 0, NULL, "Run directory (checkpoints, metrics, state)."},
    {"output", "keep_last", IBX_CFG_INT, "2", 1, 1000, NULL, "Checkpoints to keep besides the best."},
    {"output", "checkpoint_every", IBX_CFG_INT, "1", 1, 100000, NULL, "Write a checkpoint every N epochs."},
    {NULL, NULL, 0, NULL, 0, 0, NULL, NULL},
};
