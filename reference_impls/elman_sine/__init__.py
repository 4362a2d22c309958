"""Elman network from scratch predicting a sine wave (seed articles 000/002)."""
