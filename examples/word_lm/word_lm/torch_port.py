"""word_lm in PyTorch: the project's ``RNNModel`` behind ``TorchAdapter``, which derives
the parameters, gradients, clipping, the SGD step, detaching and the validation pass from
the module; the loop is ``spec.Schedule``. Equal to original.py bit for bit
(tests/test_original.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.backends import torch_backend as tb
from harness.backends.torch_adapter import TorchAdapter
from word_lm import spec
from word_lm.model import RNNModel


class WordLmTorch(TorchAdapter):
    port_id = "word_lm/torch"
    table = spec.PARAMS

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.device = tb.device(device)
        torch.manual_seed(seed)  # as original.py: the weights, then every dropout mask
        self.module = RNNModel(config.model, data["ntokens"], config.emsize, config.nhid,
                               config.nlayers, config.dropout, config.tied).to(self.device)
        self.criterion = nn.NLLLoss()  # the model returns log-probabilities

    def zero_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.module.init_hidden(batch_size)  # (h, c), each (L, B, H)

    def forward_loss(self, batch: Mapping[str, np.ndarray], state: Any) -> tuple[Any, Any]:
        output, state = self.module(self.ids(batch["data"]), state)  # (T*B, V)
        return self.criterion(output, self.ids(batch["targets"])), state

    def batch_state(self, batch: Mapping[str, np.ndarray]) -> Any:
        return self.zero_state(np.shape(batch["data"])[1])  # data: (T, B)

    def forward(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            output, (h, c) = self.module(self.ids(batch["data"]), self.batch_state(batch))
        return {"log_probs": tb.to_numpy(output), "h": tb.to_numpy(h), "c": tb.to_numpy(c)}
