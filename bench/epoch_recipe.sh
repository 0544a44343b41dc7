# The training recipe of the whole-epoch benchmarks, one place for
# epoch_vs_torch.sh (which times it against ../shared/reference's
# torch_epoch_train.py: keep the two the same) and epoch_ab.sh. Sourced.
#   epoch_recipe DATA WIDTH EPOCHS THREADS PRECISION OUTPUT_DIR
# sets EPOCH_ARGS to the `ibx train` overrides: VGG-16-BN plain head on
# Fashion-MNIST, SGD 0.05 Nesterov momentum 0.9, weight decay 5e-4, linear
# warm-up over half an epoch then cosine per step, batch 128, random crop
# (zero padding 4) + horizontal flip, test accuracy after every epoch.
epoch_recipe() {
  EPOCH_ARGS=(data.dataset=fashion-mnist data.path="$1" model.head=plain model.width="$2"
    train.epochs="$3" train.batch_size=128 train.lr=0.05 train.momentum=0.9 train.nesterov=true
    train.weight_decay=5e-4 train.schedule=cosine train.warmup_epochs=0.5 train.threads="$4"
    train.precision="$5" data.augment=true data.flip=true eval.every=1 output.dir="$6")
}
