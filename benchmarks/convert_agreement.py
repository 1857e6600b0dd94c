"""How closely the converted MobileNetV2 follows Google's reference interpreter, on everyday50's validation split.

Every validation image (64 px) is upscaled to 224 px; the reference (ai-edge-litert running the TFLite file) and the
PyTorch conversion (float32, and the shipped checkpoint as stored) each name one of the 1000 ImageNet classes. Prints
the top-1 agreement and each one's accuracy when its answer is restricted to everyday50's 50 classes.

    python benchmarks/convert_agreement.py --json [--tflite FILE] [--data ARCHIVE] [--limit N]
    python benchmarks/convert_agreement.py --json --data checkpoints/imagenet-mobilenetv2/eval_sample.zip  # 500 of them
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.checkpoint import CHECKPOINTS_DIR, load_checkpoint  # noqa: E402
from core.convert import convert  # noqa: E402
from core.data import DATA_DIR, load_images, load_train_val, resize_images  # noqa: E402
from core.evaluate import SAMPLE_NAME  # noqa: E402
from core.predict import to_model_input  # noqa: E402
from core.train import class_key  # noqa: E402

PRETRAINED = DATA_DIR.parent / "pretrained"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tflite", default=str(PRETRAINED / "mobilenet_v2_1.0_224_quant.tflite"))
    p.add_argument("--labels", default=str(PRETRAINED / "imagenet_labels.txt"))
    p.add_argument("--checkpoint", default=str(CHECKPOINTS_DIR / "imagenet-mobilenetv2"))
    p.add_argument("--data", default=str(DATA_DIR / "everyday50-train-jpg.tar.gz"))
    p.add_argument("--limit", type=int, default=0, help="only the first N validation images (0: all)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from ai_edge_litert.interpreter import Interpreter

    torch.set_num_threads(1)
    if args.data.endswith(SAMPLE_NAME):  # a checkpoint's evaluation sample: already validation images only
        val = load_images(args.data, "val")
    else:
        _, val = load_train_val(args.data, 0.1, 0)  # at the photos' own size; only the validation images are upscaled
    images, labels = (val.images[:args.limit], val.labels[:args.limit]) if args.limit else (val.images, val.labels)
    images = resize_images(images, 224)
    model, config = convert(args.tflite, args.labels)
    shipped = load_checkpoint(args.checkpoint)
    index = {class_key(c): i for i, c in enumerate(config["classes"])}
    wanted = torch.tensor([index[class_key(c)] for c in val.classes])  # each everyday50 class's ImageNet index

    it = Interpreter(model_path=args.tflite, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    start = time.perf_counter()
    reference = []
    for img in images.permute(0, 2, 3, 1).numpy():
        x = img if inp["dtype"] == np.uint8 else (img.astype(np.int16) - 128).astype(np.int8)
        it.set_tensor(inp["index"], x[None])
        it.invoke()
        reference.append(it.get_tensor(out["index"])[0, 1:].astype(np.float32))
    reference = torch.from_numpy(np.stack(reference))
    seconds_ref = time.perf_counter() - start
    outputs = {}
    for name, net, mean, std in (("float32", model, config["mean"], config["std"]),
                                 ("shipped", shipped.model, shipped.mean, shipped.std)):
        with torch.no_grad():
            outputs[name] = torch.cat([net(to_model_input(images[i:i + 100], mean, std)) for i in range(0, len(images), 100)])

    def restricted(scores: torch.Tensor) -> float:
        return float((scores[:, wanted].argmax(1) == labels).float().mean())

    result = {
        "images": len(images), "input_size": 224, "tflite": Path(args.tflite).name,
        "shipped_weight_format": shipped.config.get("weight_format", "float16"),
        "top1_agreement_float32": float((outputs["float32"].argmax(1) == reference.argmax(1)).float().mean()),
        "top1_agreement_shipped": float((outputs["shipped"].argmax(1) == reference.argmax(1)).float().mean()),
        "everyday50_accuracy_reference": restricted(reference),
        "everyday50_accuracy_float32": restricted(outputs["float32"]),
        "everyday50_accuracy_shipped": restricted(outputs["shipped"]),
        "reference_seconds": round(seconds_ref, 1),
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
