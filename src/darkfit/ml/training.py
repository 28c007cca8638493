"""Training loop for binary equinox classifiers (optax AdamW, binary cross-entropy, rich bar).

The model is any equinox module whose call on one event's inputs returns a scalar logit
(larger = class 1). :func:`train_binary` shuffles with a seeded NumPy generator and uses
fixed-size minibatches (one compilation), so equal seeds give equal models on a given
machine. :func:`predict` evaluates in fixed-size padded batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax


def _batched_logits(model, inputs):
    return jax.vmap(model)(*inputs)


@eqx.filter_jit
def _predict_batch(model, inputs):
    return _batched_logits(model, inputs)


def predict(model, inputs: Sequence[np.ndarray], batch_size: int = 512) -> np.ndarray:
    """Logits of ``model`` for all events (inputs: arrays with a leading event axis).

    Batches are padded to ``batch_size`` so that every call reuses one compilation.
    """
    n = inputs[0].shape[0]
    b = int(batch_size)
    out = np.empty(n, dtype=np.float64)
    for lo in range(0, n, b):
        hi = min(lo + b, n)
        batch = [np.asarray(a[lo:hi]) for a in inputs]
        if hi - lo < b:  # pad to the compiled shape
            batch = [np.concatenate([a, np.repeat(a[-1:], b - (hi - lo), axis=0)]) for a in batch]
        out[lo:hi] = np.asarray(_predict_batch(model, [jnp.asarray(a) for a in batch]))[: hi - lo]
    return out


def _loss(model, inputs, labels):
    logits = _batched_logits(model, inputs)
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))


@functools.lru_cache(maxsize=16)
def make_step(learning_rate: float, weight_decay: float):
    """(optimizer, jitted AdamW step (model, opt_state, inputs, labels) -> (model, state, loss)).

    Cached per hyperparameters, so repeated trainings of same-shaped models compile once.
    """
    optimizer = optax.adamw(learning_rate, weight_decay=weight_decay)

    @eqx.filter_jit
    def step(model, opt_state, inputs, labels):
        loss, grads = eqx.filter_value_and_grad(_loss)(model, inputs, labels)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    return optimizer, step


def train_binary(
    model,
    inputs: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    on_epoch: Callable[[int, object], tuple[bool, str]] | None = None,
    show_progress: bool = True,
    description: str = "training",
):
    """Train ``model`` for up to ``epochs`` epochs; return (model, list of mean epoch losses).

    ``on_epoch(epoch, model) -> (stop, info)`` runs after every epoch: ``info`` is shown on
    the progress bar and ``stop`` ends training early (e.g. a mutual-information rule).
    """
    n = inputs[0].shape[0]
    b = int(min(batch_size, n))
    optimizer, step = make_step(float(learning_rate), float(weight_decay))
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    rng = np.random.default_rng([seed, 17])
    y = np.asarray(labels, dtype=np.float64)
    losses: list[float] = []
    with _Bar(show_progress, description, epochs) as bar:
        for epoch in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            n_steps = n // b
            for i in range(n_steps):
                idx = order[i * b : (i + 1) * b]
                batch = [jnp.asarray(a[idx]) for a in inputs]
                model, opt_state, loss = step(model, opt_state, batch, jnp.asarray(y[idx]))
                total += float(loss)
            losses.append(total / max(n_steps, 1))
            stop, info = (False, "") if on_epoch is None else on_epoch(epoch, model)
            bar.advance(f"loss {losses[-1]:.4f} {info}")
            if stop:
                break
    return model, losses


class _Bar:
    """A rich progress bar over epochs (or a no-op)."""

    def __init__(self, show: bool, description: str, total: int):
        self.show, self.description, self.total = show, description, total

    def __enter__(self):
        if self.show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("epochs"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self._p.start()
            self._task = self._p.add_task(self.description, total=self.total, info="")
        return self

    def advance(self, info: str) -> None:
        if self.show:
            self._p.update(self._task, advance=1, info=info)

    def __exit__(self, *exc):
        if self.show:
            self._p.stop()
        return False
