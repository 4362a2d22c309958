"""my_sine's registration table for rnn-harness: what the ``rnn_harness.tutorials`` entry
point (pyproject.toml) and the ``rnn_harness_tutorials`` ini option both name.

Imports nothing: listing ports must not import a framework.
"""

#: (tutorial, framework, variant, "module:attr") - one row per port.
PORTS = (
    ("my_sine", "numpy", "", "my_sine.numpy_port:MySineNumpy"),
)

#: tutorial -> "module:attr" of its TutorialSpec.
SPECS = {
    "my_sine": "my_sine.spec:SPEC",
}
