"""Writes add-one/model.xml and add-one/model.bin, the OpenVINO IR model the wasi-nn tests run
(crates/cli/tests/all/nn.rs): y = x + 1 on an f32 tensor of shape [1, 4], input named `x`.

Made with OpenVINO's own Python API (`pip install openvino==2026.4.1`); the files are committed,
so the tests need only OpenVINO's runtime (scripts/fetch-openvino.sh), not Python.
"""

import os

import numpy as np
import openvino as ov
import openvino.opset13 as ops

x = ops.parameter([1, 4], np.float32, name="x")
y = ops.add(x, ops.constant(np.ones([1, 4], dtype=np.float32)))
y.get_output_tensor(0).set_names({"y"})
model = ov.Model([y], [x], "add-one")
here = os.path.dirname(os.path.abspath(__file__))
ov.save_model(model, os.path.join(here, "add-one", "model.xml"), compress_to_fp16=False)
