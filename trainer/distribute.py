"""Training past one machine: stage 2 under a ``tf.distribute`` strategy.

    python -m trainer train ... --distribute mirrored            # every GPU of this machine
    TF_CONFIG='{"cluster": {"chief": ["a:2222"], "worker": ["b:2222"]}, "task": {"type": "chief", "index": 0}}' \\
        python -m trainer train ... --distribute multi-worker --out runs/big   # the same command on each machine

``mirrored`` is ``tf.distribute.MirroredStrategy`` (the GPUs, or CPU devices, of one machine);
``multi-worker`` is ``tf.distribute.MultiWorkerMirroredStrategy``, configured by ``TF_CONFIG``.
What runs under the strategy is the one expensive fit, stage 2: every step, each replica takes its
share of the global batch (``--batch-size`` is global), and the optimizer sums the replicas' gradients
(an all-reduce) before every replica applies the same update. Keras 3.15's ``model.fit`` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585), so ``fit`` below is the loop ``model.fit`` runs,
written with ``strategy.run``, and it drives the same Keras callbacks; both strategies use it.

Every worker runs the pipeline up to the end of stage 2 (it must build the same model and take part
in each step): its own feature and view caches, and stage 1 on the same features and seed. Only the
chief writes the run folder; another worker writes its checkpoints and caches to a folder of its own
under the temporary directory (``worker_folder``), and stops after stage 2: the chief alone
evaluates, calibrates and exports.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

CHOICES = ("none", "mirrored", "multi-worker")


@functools.cache
def start(name: str):
    """The strategy for ``--distribute name``; None for ``none``.

    Called before TensorFlow runs anything: MultiWorkerMirroredStrategy sets up collective ops,
    which it can only do at program start. Cached, so cross-validation's folds share one.
    """
    if name == "none":
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--distribute multi-worker needs TF_CONFIG (the cluster and this task): see the README")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--distribute {name!r}: expected one of {', '.join(CHOICES)}")


def is_chief(strategy) -> bool:
    """Whether this process writes the run folder (always, without a strategy)."""
    return strategy is None or strategy.extended.should_checkpoint


def worker_folder(strategy, run: Path) -> Path:
    """Where this process writes: ``run`` on the chief; on any other worker a folder of its own
    under the temporary directory, the same on a rerun of the same command (so it resumes), as two
    processes writing the same checkpoint on a shared disk would corrupt it. The parent is kept apart
    too: cross-validation's folds share a feature cache beside them."""
    run = Path(run)
    if is_chief(strategy):
        return run
    resolver = strategy.cluster_resolver
    key = hashlib.sha256(str(run.resolve().parent).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"skinlens-{resolver.task_type}-{resolver.task_id}-{key}" / run.name


def fit(strategy, model, batches, *, epochs: int, optimizer, callbacks=(), log=print) -> None:
    """``model.fit(batches, epochs=epochs, callbacks=callbacks)`` with each step run under ``strategy``.

    Args:
        model: the model to train, built outside the strategy; it ends with the trained weights.
        batches: a ``keras.utils.PyDataset`` of global batches ``(x, y)`` or ``(x, y, sample_weight)``;
            every worker must draw the same batches (the same seed): each keeps only its replicas' share.
        optimizer: a function returning the optimizer (it must be created under the strategy).
        callbacks: Keras callbacks, run on a copy of ``model`` that lives under the strategy as
            ``model.fit`` runs them (``BackupAndRestore`` resumes it); ``model`` holds that copy's
            weights whenever one of them runs at an epoch's end.
    """
    import keras
    import tensorflow as tf

    with strategy.scope():
        replica = keras.models.clone_model(model)
        replica.set_weights(model.get_weights())
        replica.compile(optimizer=optimizer(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        replica.optimizer.build(replica.trainable_variables)
    # The workers start from the same weights, whatever stage 1 gave each (GPU kernels need not be
    # deterministic): the chief's.
    _broadcast_from_chief(strategy, replica.weights)
    variables = replica.trainable_variables
    loss_of = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    shares = strategy.num_replicas_in_sync

    @tf.function(reduce_retracing=True)
    def step(x, y, w, size):
        def on_replica(x, y, w):
            with tf.GradientTape() as tape:
                # The global batch's mean loss, as model.fit's "sum_over_batch_size": summed over the
                # replicas (by the optimizer's all-reduce of the gradients) it is exactly that.
                loss = tf.reduce_sum(loss_of(y, replica(x, training=True)) * w) / size
            replica.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(on_replica, args=(x, y, w)), axis=None)

    def share(array):
        # Equal shares, padded with rows of weight 0 (which add nothing to the loss or the gradients):
        # a replica with an empty share would fail (TensorFlow's convolutions on an empty batch).
        rows = -(-len(array) // shares)
        padded = np.zeros((rows * shares, *array.shape[1:]), array.dtype)
        padded[:len(array)] = array
        return strategy.experimental_distribute_values_from_function(
            lambda context: tf.constant(padded[context.replica_id_in_sync_group * rows:][:rows]))

    def sync(epoch=None, logs=None):
        model.set_weights(replica.get_weights())

    everything = keras.callbacks.CallbackList([keras.callbacks.LambdaCallback(on_epoch_end=sync), *callbacks],
                                              model=replica, epochs=epochs, steps=len(batches))
    replica.stop_training = False
    replica._initial_epoch = None  # BackupAndRestore sets it, as model.fit reads it
    everything.on_train_begin()
    logs = {}
    for epoch in range(replica._initial_epoch or 0, epochs):
        # model.fit reads a batch to learn the data's shapes, then ends the dataset's epoch before its
        # first one: starting each epoch with on_epoch_end, both loops train on the same draws.
        batches.on_epoch_end()
        everything.on_epoch_begin(epoch)
        total, seen = 0.0, 0
        for i in range(len(batches)):
            everything.on_train_batch_begin(i)
            x, y, *weight = batches[i]
            weight = weight[0] if weight else np.ones(len(y), np.float32)
            loss = step(share(x), share(y), share(np.asarray(weight, np.float32)), tf.constant(len(y), tf.float32))
            total, seen = total + float(loss) * len(y), seen + len(y)
            everything.on_train_batch_end(i, {"loss": total / seen})
        logs = {"loss": total / seen}
        everything.on_epoch_end(epoch, logs)
        log(f"epoch {epoch + 1}/{epochs} on {shares} replicas: " + ", ".join(f"{k} {v:.4f}" for k, v in logs.items()))
        if replica.stop_training:
            break
    everything.on_train_end(logs)
    sync()


def _broadcast_from_chief(strategy, variables) -> None:
    """Sets every replica's ``variables`` to the first replica's (the chief's) values."""
    import tensorflow as tf

    @tf.function
    def chief_values():
        def on_replica():
            context = tf.distribute.get_replica_context()
            first = tf.equal(context.replica_id_in_sync_group, 0)
            return context.all_reduce(tf.distribute.ReduceOp.SUM,
                                      [tf.where(first, v.value, tf.zeros_like(v.value)) for v in variables])

        return strategy.run(on_replica)

    for variable, value in zip(variables, chief_values()):
        variable.assign(strategy.experimental_local_results(value)[0])


def digest(weights) -> str:
    """A short sha256 of a list of arrays: two workers that agree log the same one."""
    h = hashlib.sha256()
    for w in weights:
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]
