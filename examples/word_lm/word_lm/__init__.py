"""word_lm's registration table for rnn-harness: what ``[tool.rnn-harness] tutorials``
(pyproject.toml), the ``rnn_harness.tutorials`` entry point and the ``rnn_harness_tutorials``
ini option name. Imports nothing: listing ports must not import a framework."""

#: (tutorial, framework, variant, "module:attr") - one row per port.
PORTS = (
    ("word_lm", "torch", "", "word_lm.torch_port:WordLmTorch"),
)

#: tutorial -> "module:attr" of its TutorialSpec.
SPECS = {
    "word_lm": "word_lm.spec:SPEC",
}
