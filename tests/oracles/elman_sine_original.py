"""TEST ORACLE - the elman_sine article's code (seed articles 000/002), modernised only
where PyTorch 2 forces it:
  * ``Variable(t, requires_grad=...)`` -> the tensor itself / ``t.requires_grad_()``
  * ``init.normal(w, ...)`` -> ``init.normal_(w, ...)``
  * ``total_loss.data[0]`` -> ``total_loss.item()``
  * plotting (pylab) and printing removed; the printed figure is returned instead.
  * ``torch.manual_seed(seed)`` added before the weights are drawn (the article is unseeded).
Everything else (order of draws, float32 data, update order, re-wrapping) is verbatim.
Do not "improve" this file: the torch port is tested bit for bit against it.
"""

import numpy as np
import torch
import torch.nn.init as init


def run(seed=0, epochs=300):
    """Returns (per-epoch total_loss values, predictions) exactly as the article computes them."""
    torch.manual_seed(seed)
    dtype = torch.FloatTensor
    input_size, hidden_size, output_size = 7, 6, 1
    seq_length = 20
    lr = 0.1

    data_time_steps = np.linspace(2, 10, seq_length + 1)
    data = np.sin(data_time_steps)
    data.resize((seq_length + 1, 1))

    x = torch.Tensor(data[:-1]).type(dtype)
    y = torch.Tensor(data[1:]).type(dtype)

    w1 = torch.FloatTensor(input_size, hidden_size).type(dtype)
    init.normal_(w1, 0.0, 0.4)
    w1.requires_grad_(True)
    w2 = torch.FloatTensor(hidden_size, output_size).type(dtype)
    init.normal_(w2, 0.0, 0.3)
    w2.requires_grad_(True)

    def forward(input, context_state, w1, w2):
        xh = torch.cat((input, context_state), 1)
        context_state = torch.tanh(xh.mm(w1))
        out = context_state.mm(w2)
        return (out, context_state)

    losses = []
    for i in range(epochs):
        total_loss = 0
        context_state = torch.zeros((1, hidden_size)).type(dtype).requires_grad_(True)
        for j in range(x.size(0)):
            input = x[j:(j + 1)]
            target = y[j:(j + 1)]
            (pred, context_state) = forward(input, context_state, w1, w2)
            loss = (pred - target).pow(2).sum() / 2
            total_loss += loss
            loss.backward()
            w1.data -= lr * w1.grad.data
            w2.data -= lr * w2.grad.data
            w1.grad.data.zero_()
            w2.grad.data.zero_()
            context_state = context_state.data
        losses.append(total_loss.item())

    context_state = torch.zeros((1, hidden_size)).type(dtype)
    predictions = []
    for i in range(x.size(0)):
        input = x[i:i + 1]
        (pred, context_state) = forward(input, context_state, w1, w2)
        context_state = context_state
        predictions.append(pred.data.numpy().ravel()[0])
    return losses, predictions
