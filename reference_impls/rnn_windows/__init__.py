"""nn.RNN over sliding windows of a sine half-wave, trained with Adam (seed article 001)."""
