"""TEST ORACLE - the rnn_windows article's code (seed article 001), modernised only
where PyTorch 2 forces it or where the harness needs the figures back:
  * ``print(epoch, total_loss)`` removed; the printed per-epoch figure is returned instead.
  * the broadcast-target UserWarning that PyTorch 2 raises inside ``nn.MSELoss`` (the
    article's (5, 1) output against a (1,) target) is suppressed for exactly that message,
    because pytest runs with ``filterwarnings = error``; the computation is unchanged.
  * ``seed`` and ``epochs`` became arguments (the article hard-codes 0 and 100), and
    ``last_step_only`` selects the "last" variant (loss on ``output[-1:]`` only), which is
    what the article meant; the default is the article's code.
  * after training, the model's predictions over the 95 windows are returned as well,
    using the article's forward with a fresh ``hidden = None`` per window (no updates).
Everything else (seed, float32 data, window construction, module order, Adam defaults,
hidden carried across windows and detached, one step per window) is as the article has it.
Do not "improve" this file: the torch port is tested bit for bit against it.
"""

import warnings

import numpy as np
import torch
import torch.nn as nn


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.rnn = nn.RNN(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x, hidden):
        out, hidden = self.rnn(x, hidden)
        out = out.view(-1, self.hidden_size)
        out = self.fc(out)
        return out, hidden


def run(seed=0, epochs=100, last_step_only=False):
    """Returns (per-epoch total_loss values, predictions) as the article computes them."""
    torch.manual_seed(seed)

    data = np.sin(np.linspace(0, np.pi, 100)).reshape(-1, 1)
    seq_length = 5
    x, y = [], []
    for i in range(len(data) - seq_length):
        x.append(data[i:i + seq_length])
        y.append(data[i + seq_length])
    x = np.array(x)
    y = np.array(y)

    model = RNN(1, 10, 1)
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    losses = []
    for epoch in range(epochs):  # noqa: B007 (the article printed epoch)
        hidden = None
        total_loss = 0
        for i in range(len(x)):
            inputs = torch.Tensor(x[i]).unsqueeze(0)
            targets = torch.Tensor(y[i])
            optimizer.zero_grad()
            output, hidden = model(inputs, hidden)
            hidden = hidden.detach()
            if last_step_only:
                output = output[-1:]
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message="Using a target size", category=UserWarning)
                loss = criterion(output, targets)
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
        losses.append(total_loss)

    predictions = []
    with torch.no_grad():
        for i in range(len(x)):
            output, _ = model(torch.Tensor(x[i]).unsqueeze(0), None)
            predictions.append(output[-1].item())
    return losses, predictions
