"""Reference implementations and their registration table. Imports no framework."""

#: (tutorial, framework, variant, "module:attr") - one row per port.
PORTS = (
    ("elman_sine", "torch", "", "reference_impls.elman_sine.torch_port:ElmanSineTorch"),
    ("elman_sine", "mxnet", "", "reference_impls.elman_sine.mxnet_port:ElmanSineMXNet"),
    ("elman_sine", "jax", "", "reference_impls.elman_sine.jax_port:ElmanSineJax"),
    ("char_rnn", "torch", "scratch", "reference_impls.char_rnn.torch_port:CharRnnTorchScratch"),
    ("char_rnn", "torch", "concise", "reference_impls.char_rnn.torch_port:CharRnnTorchConcise"),
    ("char_rnn", "mxnet", "scratch", "reference_impls.char_rnn.mxnet_port:CharRnnMXNetScratch"),
    ("char_rnn", "mxnet", "concise", "reference_impls.char_rnn.mxnet_port:CharRnnMXNetConcise"),
    ("char_rnn", "jax", "scratch", "reference_impls.char_rnn.jax_port:CharRnnJaxScratch"),
    ("char_rnn", "jax", "concise", "reference_impls.char_rnn.jax_port:CharRnnJaxConcise"),
    ("sin_cos", "torch", "", "reference_impls.sin_cos.torch_port:SinCosTorch"),
    ("sin_cos", "mxnet", "", "reference_impls.sin_cos.mxnet_port:SinCosMXNet"),
    ("sin_cos", "jax", "", "reference_impls.sin_cos.jax_port:SinCosJax"),
    ("rnn_windows", "torch", "", "reference_impls.rnn_windows.torch_port:RnnWindowsTorch"),
    ("rnn_windows", "mxnet", "", "reference_impls.rnn_windows.mxnet_port:RnnWindowsMXNet"),
    ("rnn_windows", "jax", "", "reference_impls.rnn_windows.jax_port:RnnWindowsJax"),
    ("rnn_windows", "torch", "last",
     "reference_impls.rnn_windows.torch_port:RnnWindowsTorchLast"),
    ("rnn_windows", "mxnet", "last",
     "reference_impls.rnn_windows.mxnet_port:RnnWindowsMXNetLast"),
    ("rnn_windows", "jax", "last", "reference_impls.rnn_windows.jax_port:RnnWindowsJaxLast"),
)

#: tutorial -> "module:attr" of its TutorialSpec.
SPECS = {
    "elman_sine": "reference_impls.elman_sine.spec:SPEC",
    "char_rnn": "reference_impls.char_rnn.spec:SPEC",
    "sin_cos": "reference_impls.sin_cos.spec:SPEC",
    "rnn_windows": "reference_impls.rnn_windows.spec:SPEC",
}
