"""Reference implementations and their registration table. Imports no framework."""

#: (tutorial, framework, variant, "module:attr") - one row per port.
PORTS = (
    ("elman_sine", "torch", "", "reference_impls.elman_sine.torch_port:ElmanSineTorch"),
    ("elman_sine", "mxnet", "", "reference_impls.elman_sine.mxnet_port:ElmanSineMXNet"),
)

#: tutorial -> "module:attr" of its TutorialSpec.
SPECS = {
    "elman_sine": "reference_impls.elman_sine.spec:SPEC",
}
