"""TEST ORACLE - the sin_cos article's code (seed article 004, MorvanZhou PyTorch-Tutorial
403_RNN_regressor.py, torch 0.1/0.3 era, 60 steps), modernised only where PyTorch 2 forces it:
  * ``Variable(t)`` / ``Variable(h_state.data)`` -> the tensor itself / ``h_state.data``
  * ``super(RNN, self).__init__()  # noqa: UP008 - verbatim`` kept; ``print(rnn)`` removed
  * the "show data" plot and the per-step plotting (pyplot) removed; the step's loss is
    returned instead (``loss.item()``), with the last step's steps/target/prediction
  * ``torch.manual_seed(1)`` is the article's; it is parametrised as ``seed``, and the
    number of steps as ``n_steps`` (the article's are 1 and 60)
Everything else (construction order, float32 linspace with endpoint, per-time-step Linear
loop and stack, h_state carried and cut, zero_grad/backward/step order) is verbatim.
Do not "improve" this file: the torch port is tested bit for bit against it.
"""

import numpy as np
import torch
from torch import nn


def run(seed=1, n_steps=60):
    """Returns (per-step losses, last step's (steps, y_np, prediction)) as the article computes."""
    torch.manual_seed(seed)    # reproducible

    # Hyper Parameters
    TIME_STEP = 10      # rnn time step
    INPUT_SIZE = 1      # rnn input size
    LR = 0.02           # learning rate

    class RNN(nn.Module):
        def __init__(self):
            super(RNN, self).__init__()  # noqa: UP008 - verbatim

            self.rnn = nn.RNN(
                input_size=INPUT_SIZE,
                hidden_size=32,     # rnn hidden unit
                num_layers=1,       # number of rnn layer
                batch_first=True,   # input & output will has batch size as 1s dimension
            )
            self.out = nn.Linear(32, 1)

        def forward(self, x, h_state):
            # x (batch, time_step, input_size)
            # h_state (n_layers, batch, hidden_size)
            # r_out (batch, time_step, hidden_size)
            r_out, h_state = self.rnn(x, h_state)

            outs = []    # save all predictions
            for time_step in range(r_out.size(1)):    # calculate output for each time step
                outs.append(self.out(r_out[:, time_step, :]))
            return torch.stack(outs, dim=1), h_state

    rnn = RNN()

    optimizer = torch.optim.Adam(rnn.parameters(), lr=LR)   # optimize all rnn parameters
    loss_func = nn.MSELoss()

    h_state = None      # for initial hidden state

    losses = []
    for step in range(n_steps):
        start, end = step * np.pi, (step + 1) * np.pi   # time steps
        # use sin predicts cos
        steps = np.linspace(start, end, TIME_STEP, dtype=np.float32)
        x_np = np.sin(steps)    # float32 for converting torch FloatTensor
        y_np = np.cos(steps)

        # shape (batch, time_step, input_size)
        x = torch.from_numpy(x_np[np.newaxis, :, np.newaxis])
        y = torch.from_numpy(y_np[np.newaxis, :, np.newaxis])

        prediction, h_state = rnn(x, h_state)   # rnn output
        # !! next step is important !!
        # repack the hidden state, break the connection from last iteration
        h_state = h_state.data

        loss = loss_func(prediction, y)         # calculate loss
        optimizer.zero_grad()                   # clear gradients for this training step
        loss.backward()                         # backpropagation, compute gradients
        optimizer.step()                        # apply gradients

        losses.append(loss.item())
        last = (steps.tolist(), y_np.flatten().tolist(),
                prediction.data.numpy().flatten().tolist())
    return losses, last
