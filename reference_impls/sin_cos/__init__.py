"""RNN regressor reading sin and predicting cos (seed article 004)."""
