"""d2l chapter 8 character-level RNN language model on The Time Machine (seed 003)."""
