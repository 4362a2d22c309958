"""TEST ORACLE - d2l 0.17.6's own PyTorch chapter-8 code (sections 8.5 rnn-scratch and 8.6
rnn-concise), driving the installed ``d2l==0.17.6`` package's functions.

From the book's notebooks, verbatim: ``get_params``, ``init_rnn_state`` and ``rnn`` (8.5; they
are not in the d2l package), the model construction of 8.5 and 8.6 and
``num_epochs, lr = 500, 1``. From the package, called as they are: ``load_data_time_machine``,
``RNNModelScratch``, ``RNNModel``, ``sgd``, ``train_epoch_ch8``, ``predict_ch8``, ``train_ch8``.
Changes, each forced by running it as a test rather than a notebook:
  * ``d2l.download`` is redirected (only while a run lasts) to the verified local corpus file,
    instead of fetching it into ``../data`` relative to the working directory.
  * ``random.seed(seed)`` and ``torch.manual_seed(seed)`` are added before the data and
    model are made (the notebooks are unseeded). The notebooks' demonstration cells (shape
    checks, an untrained model in 8.5, a ``torch.rand`` input in 8.6, untrained predictions)
    are not run, so the first draws are the trained model's.
  * ``run`` is ``train_ch8`` without its Animator and prints: it calls d2l's
    ``train_epoch_ch8`` per epoch and ``predict_ch8`` where ``train_ch8`` prints, and returns
    the figures. ``run_train_ch8`` runs d2l's ``train_ch8`` itself and records each
    ``train_epoch_ch8`` result and the printed lines (stdout captured; ``Animator.add``, which
    only redraws the plot, made a no-op), to show that both are the same computation.
  * Every model is made on the CPU (``d2l.try_gpu()`` replaced by ``torch.device('cpu')``).
``import d2l.torch`` imports torchvision, which chapter 8 never uses; the caller provides a
stub when the real package cannot load (tests/reference_impls/char_rnn/conftest.py). Do not "improve" this
file: the torch ports are tested bit for bit against it.
"""

import contextlib
import io
import random
from unittest import mock

import torch
from d2l import torch as d2l
from torch import nn

BATCH_SIZE, NUM_STEPS = 32, 35


# ---- d2l 8.5 (rnn-scratch), PyTorch tab, verbatim ----------------------------------------
def get_params(vocab_size, num_hiddens, device):
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return torch.randn(size=shape, device=device) * 0.01

    # Hidden layer parameters
    W_xh = normal((num_inputs, num_hiddens))
    W_hh = normal((num_hiddens, num_hiddens))
    b_h = torch.zeros(num_hiddens, device=device)
    # Output layer parameters
    W_hq = normal((num_hiddens, num_outputs))
    b_q = torch.zeros(num_outputs, device=device)
    # Attach gradients
    params = [W_xh, W_hh, b_h, W_hq, b_q]
    for param in params:
        param.requires_grad_(True)
    return params


def init_rnn_state(batch_size, num_hiddens, device):
    return (torch.zeros((batch_size, num_hiddens), device=device), )


def rnn(inputs, state, params):
    # Here `inputs` shape: (`num_steps`, `batch_size`, `vocab_size`)
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    # Shape of `X`: (`batch_size`, `vocab_size`)
    for X in inputs:
        H = torch.tanh(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
        Y = torch.mm(H, W_hq) + b_q
        outputs.append(Y)
    return torch.cat(outputs, dim=0), (H,)


# ---- model construction as the notebooks' training cells -----------------------------------
def make_scratch(vocab, device):
    num_hiddens = 512
    return d2l.RNNModelScratch(len(vocab), num_hiddens, device, get_params,
                               init_rnn_state, rnn)


def make_concise(vocab, device):
    num_hiddens = 256
    rnn_layer = nn.RNN(len(vocab), num_hiddens)
    net = d2l.RNNModel(rnn_layer, vocab_size=len(vocab))
    return net.to(device)


MAKERS = {"scratch": make_scratch, "concise": make_concise}


@contextlib.contextmanager
def _local_corpus(corpus_path):
    with mock.patch.object(d2l, "download", lambda name, cache_dir=None: str(corpus_path)):
        yield


def prepare(variant, corpus_path, seed):
    """Seeded (train_iter, vocab, net, device) as the notebook's cells make them."""
    random.seed(seed)
    torch.manual_seed(seed)
    device = torch.device("cpu")
    with _local_corpus(corpus_path):
        train_iter, vocab = d2l.load_data_time_machine(BATCH_SIZE, NUM_STEPS)
    return train_iter, vocab, MAKERS[variant](vocab, device), device


def run(variant, corpus_path, seed=0, num_epochs=5, lr=1):
    """d2l's train_ch8 loop. Returns (per-epoch perplexity, {logged epoch: prediction},
    final {prefix: prediction}, net)."""
    train_iter, vocab, net, device = prepare(variant, corpus_path, seed)
    loss = nn.CrossEntropyLoss()
    if isinstance(net, nn.Module):
        updater = torch.optim.SGD(net.parameters(), lr)
    else:
        updater = lambda batch_size: d2l.sgd(net.params, lr, batch_size)  # noqa: E731
    predict = lambda prefix: d2l.predict_ch8(prefix, 50, net, vocab, device)  # noqa: E731
    ppls, logged = [], {}
    for epoch in range(num_epochs):
        ppl, speed = d2l.train_epoch_ch8(net, train_iter, loss, updater, device, False)
        ppls.append(ppl)
        if (epoch + 1) % 10 == 0:
            logged[epoch + 1] = predict('time traveller')
    final = {p: predict(p) for p in ('time traveller', 'traveller')}
    return ppls, logged, final, net


def run_train_ch8(variant, corpus_path, seed=0, num_epochs=5, lr=1):
    """d2l's own train_ch8, with every train_epoch_ch8 result and every print recorded.

    Returns (per-epoch perplexity, printed lines). Needs a non-interactive matplotlib.
    """
    train_iter, vocab, net, device = prepare(variant, corpus_path, seed)
    ppls, original = [], d2l.train_epoch_ch8

    def recording(*args, **kwargs):
        ppl, speed = original(*args, **kwargs)
        ppls.append(ppl)
        return ppl, speed

    out = io.StringIO()
    with mock.patch.object(d2l, "train_epoch_ch8", recording), \
            mock.patch.object(d2l.Animator, "add", lambda self, x, y: None), \
            contextlib.redirect_stdout(out):
        d2l.train_ch8(net, train_iter, vocab, lr, num_epochs, device)
    return ppls, out.getvalue().splitlines()
