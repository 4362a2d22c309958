"""TEST ORACLE - d2l 0.17.6 chapter 8.5 (rnn-scratch) and 8.6 (rnn-concise), MXNet tab,
run with d2l==0.17.6's own library functions (``from d2l import mxnet as d2l``).

The notebook cells that define and train the models are verbatim. Changes, each forced
by running them as a seeded, headless test:
  * ``random.seed(seed)`` and ``mx.random.seed(seed)`` before anything is drawn (the
    notebooks are unseeded).
  * ``d2l.download`` is pointed at the verified local corpus (d2l would download into
    ``../data`` relative to the working directory).
  * The device is ``npx.cpu()`` instead of ``d2l.try_gpu()``.
  * Cells run in the notebook's order (including the shape checks and the untrained
    ``predict_ch8`` calls, because in 8.6 they draw from and advance the generator:
    ``rnn_layer.initialize()`` and ``net.initialize(force_reinit=True)`` draw the
    known-shape ``h2h`` weight at once, the demo input is ``np.random.uniform`` and the
    first forward passes finish the deferred draws); displayed values are dropped.
  * ``npx.set_np()`` is undone on return (``npx.reset_np()``) so the test process keeps
    MXNet's default mode for other tests.
  * ``run_epochs`` drives ``d2l.train_epoch_ch8`` once per epoch (what ``d2l.train_ch8``
    does between its initialisation and its final prints, without the Animator) and calls
    ``d2l.predict_ch8`` at the end; ``run_train_ch8`` calls ``d2l.train_ch8`` itself and
    records each epoch's figures by wrapping ``d2l.train_epoch_ch8``.
Do not "improve" this file: the MXNet ports are tested bit for bit against it.
"""

import contextlib
import io
import random

import mxnet as mx
from d2l import mxnet as d2l
from mxnet import gluon, init, np, npx
from mxnet.gluon import nn, rnn


@contextlib.contextmanager
def _d2l_session(corpus_path, seed):
    saved = d2l.download
    d2l.download = lambda name, cache_dir=None: str(corpus_path)
    npx.set_np()
    random.seed(seed)
    mx.random.seed(seed)
    try:
        yield
    finally:
        npx.reset_np()
        d2l.download = saved


# ---- section 8.5, MXNet tab --------------------------------------------------------
def get_params(vocab_size, num_hiddens, device):
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return np.random.normal(scale=0.01, size=shape, ctx=device)

    # Hidden layer parameters
    W_xh = normal((num_inputs, num_hiddens))
    W_hh = normal((num_hiddens, num_hiddens))
    b_h = d2l.zeros(num_hiddens, ctx=device)
    # Output layer parameters
    W_hq = normal((num_hiddens, num_outputs))
    b_q = d2l.zeros(num_outputs, ctx=device)
    # Attach gradients
    params = [W_xh, W_hh, b_h, W_hq, b_q]
    for param in params:
        param.attach_grad()
    return params


def init_rnn_state(batch_size, num_hiddens, device):
    return (d2l.zeros((batch_size, num_hiddens), ctx=device), )


def rnn_fn(inputs, state, params):
    # Shape of `inputs`: (`num_steps`, `batch_size`, `vocab_size`)
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    # Shape of `X`: (`batch_size`, `vocab_size`)
    for X in inputs:
        H = np.tanh(np.dot(X, W_xh) + np.dot(H, W_hh) + b_h)
        Y = np.dot(H, W_hq) + b_q
        outputs.append(Y)
    return np.concatenate(outputs, axis=0), (H,)


# ---- section 8.6, MXNet tab --------------------------------------------------------
class RNNModel(nn.Block):
    """The RNN model."""
    def __init__(self, rnn_layer, vocab_size, **kwargs):
        super(RNNModel, self).__init__(**kwargs)  # noqa: UP008 (verbatim)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.dense = nn.Dense(vocab_size)

    def forward(self, inputs, state):
        X = npx.one_hot(inputs.T, self.vocab_size)
        Y, state = self.rnn(X, state)
        # The fully-connected layer will first change the shape of `Y` to
        # (`num_steps` * `batch_size`, `num_hiddens`). Its output shape is
        # (`num_steps` * `batch_size`, `vocab_size`).
        output = self.dense(Y.reshape(-1, Y.shape[-1]))
        return output, state

    def begin_state(self, *args, **kwargs):
        return self.rnn.begin_state(*args, **kwargs)


def _build(variant, vocab, device):
    batch_size, num_steps = 32, 35
    if variant == "scratch":
        X = d2l.reshape(d2l.arange(10), (2, 5))
        num_hiddens = 512
        net = d2l.RNNModelScratch(len(vocab), num_hiddens, device, get_params,
                                  init_rnn_state, rnn_fn)
        state = net.begin_state(X.shape[0], device)
        Y, new_state = net(X.as_in_context(device), state)
        d2l.predict_ch8('time traveller ', 10, net, vocab, device)
        return net
    num_hiddens = 256
    rnn_layer = rnn.RNN(num_hiddens)
    rnn_layer.initialize()
    state = rnn_layer.begin_state(batch_size=batch_size)
    X = np.random.uniform(size=(num_steps, batch_size, len(vocab)))
    Y, state_new = rnn_layer(X, state)
    net = RNNModel(rnn_layer, len(vocab))
    net.initialize(force_reinit=True, ctx=device)
    d2l.predict_ch8('time traveller', 10, net, vocab, device)
    return net


def run_epochs(variant, corpus_path, seed=0, num_epochs=3):
    """Per-epoch (perplexity, tokens) and the two final continuations, via train_epoch_ch8."""
    with _d2l_session(corpus_path, seed):
        batch_size, num_steps = 32, 35
        train_iter, vocab = d2l.load_data_time_machine(batch_size, num_steps)
        device = npx.cpu()
        net = _build(variant, vocab, device)
        lr = 1
        # ---- the body of d2l.train_ch8 (0.17.6) without its Animator ----
        loss = gluon.loss.SoftmaxCrossEntropyLoss()
        if isinstance(net, gluon.Block):
            net.initialize(ctx=device, force_reinit=True,
                           init=init.Normal(0.01))
            trainer = gluon.Trainer(net.collect_params(),
                                    'sgd', {'learning_rate': lr})
            updater = lambda batch_size: trainer.step(batch_size)  # noqa: E731
        else:
            updater = lambda batch_size: d2l.sgd(net.params, lr, batch_size)  # noqa: E731
        predict = lambda prefix: d2l.predict_ch8(prefix, 50, net, vocab, device)  # noqa: E731
        ppls = []
        for _ in range(num_epochs):
            ppl, _speed = d2l.train_epoch_ch8(
                net, train_iter, loss, updater, device, False)
            ppls.append(ppl)
        return ppls, {"time traveller": predict('time traveller'),
                      "traveller": predict('traveller')}


def run_train_ch8(variant, corpus_path, seed=0, num_epochs=3):
    """Per-epoch perplexity recorded inside d2l.train_ch8 itself, and its printed text."""
    ppls = []
    original = d2l.train_epoch_ch8

    def recording(*args, **kwargs):
        ppl, speed = original(*args, **kwargs)
        ppls.append(ppl)
        return ppl, speed

    printed = io.StringIO()
    with _d2l_session(corpus_path, seed):
        batch_size, num_steps = 32, 35
        train_iter, vocab = d2l.load_data_time_machine(batch_size, num_steps)
        device = npx.cpu()
        net = _build(variant, vocab, device)
        d2l.train_epoch_ch8 = recording
        try:
            with contextlib.redirect_stdout(printed):
                num_epochs_, lr = num_epochs, 1
                d2l.train_ch8(net, train_iter, vocab, lr, num_epochs_, device)
        finally:
            d2l.train_epoch_ch8 = original
    return ppls, printed.getvalue()
