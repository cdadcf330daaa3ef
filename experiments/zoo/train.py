#!/usr/bin/python3
"""Train and export Partita's three Fashion-MNIST reference models.

Run from the repository root with Debian's Python (it has torch and onnx):

    /usr/bin/python3 experiments/zoo/train.py            # writes into experiments/zoo/
    /usr/bin/python3 experiments/zoo/train.py --out DIR  # writes into DIR instead (e.g. a reproducibility check)

Needs (Debian packages): python3-torch python3-onnx dataset-fashion-mnist.

What it does, for each of fmnist-cnn, fmnist-resnet, fmnist-mlp:
  1. trains on the first 55,000 training images (train[0:55000]);
     the last 5,000 (train[55000:60000]) are held out as a calibration split and are never
     used here, not even for validation;
  2. measures top-1 on the full 10,000-image test set (t10k) in torch, eval mode;
  3. exports ONNX (input "input" [batch,1,28,28] float32 in [0,1], output "logits" [batch,10],
     dynamic batch axis "batch"), then checks it with onnx.checker;
  4. writes manifest.json (sha256 of the written bytes, params, top-1, training settings)
     and reference-logits.json (torch logits for the first 8 test images, for cross-checking
     an ONNX runtime against torch), and refreshes the top-1 table in README.md.

Reproducibility: SEED (below) is the only seed. Before each model, torch, numpy and Python's
random are reseeded with SEED, so each model's initial weights and its mini-batch order do not
depend on which models were trained before it. The mini-batch order for epoch e is
numpy.random.RandomState(SEED + e).permutation(55000), the same for all three models.
torch runs on one thread (torch.set_num_threads(1)) with deterministic algorithms enabled.
"""

import argparse
import gzip
import hashlib
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import onnx

SEED = 20240611
DATA_DIR = "/usr/share/datasets/fashion-mnist"
TRAIN_SAMPLES = 55000  # train[0:55000] for training; train[55000:60000] is held out (calibration)
HERE = os.path.dirname(os.path.abspath(__file__))

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # only settable once, before any parallel work
    pass
torch.use_deterministic_algorithms(True)


# ---------------------------------------------------------------- data

def read_idx(path):
    """Reads a gzipped IDX file (images: uint8 [n,28,28], labels: uint8 [n])."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise ValueError(f"{path}: unexpected IDX type in magic {magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {arr.size} bytes of data, header says {dims}")
    return arr.reshape(dims)


def load_split(prefix):
    images = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    # The input convention: float32 [N,1,28,28], raw byte / 255, nothing else.
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


# ---------------------------------------------------------------- models

class Linear(nn.Linear):
    """nn.Linear (same parameters, same maths) that runs as a 1x1 convolution in torch.

    Debian's torch 1.13 links the reference (netlib) BLAS, so a plain nn.Linear trains about
    6x slower on one thread than the same product done by oneDNN's convolution. During ONNX
    export the ordinary nn.Linear path is taken, so the exported graph has a plain Gemm.
    """

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            return super().forward(x)
        n = x.shape[0]
        w = self.weight.view(self.out_features, self.in_features, 1, 1)
        return F.conv2d(x.reshape(n, self.in_features, 1, 1), w, self.bias).view(n, self.out_features)


class FmnistCnn(nn.Module):
    """Plain conv net: 3 x (conv3x3 -> BN -> ReLU -> maxpool 2) -> flatten -> FC 128 -> FC 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(64)
        self.fc1 = Linear(64 * 3 * 3, 128)
        self.fc2 = Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # 16 x 14 x 14
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # 32 x 7 x 7
        x = F.max_pool2d(F.relu(self.bn3(self.conv3(x))), 2)  # 64 x 3 x 3
        x = torch.flatten(x, 1)                               # exports as one Flatten node
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus shortcut, -> ReLU.

    The shortcut is the block input itself, or a strided 1x1 conv + BN projection when the
    block changes width or resolution. Either way the block ends in an Add of two tensors.
    """

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                nn.BatchNorm2d(cout),
            )
        else:
            self.proj = None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.proj is None else self.proj(x)
        return F.relu(out + skip)


class FmnistResnet(nn.Module):
    """Small ResNet: stem, 5 basic blocks (3 identity, 2 with strided 1x1 projection), GAP, FC."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.block1 = BasicBlock(16, 16)             # 14x14, identity shortcut
        self.block2 = BasicBlock(16, 32, stride=2)   # -> 7x7, 1x1 stride-2 projection
        self.block3 = BasicBlock(32, 32)             # 7x7, identity
        self.block4 = BasicBlock(32, 64, stride=2)   # -> 4x4, 1x1 stride-2 projection
        self.block5 = BasicBlock(64, 64)             # 4x4, identity
        self.pool = nn.AdaptiveAvgPool2d(1)          # exports as GlobalAveragePool
        self.fc = Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem_bn(self.stem(x))), 2)  # 16 x 14 x 14
        x = self.block1(x)
        x = self.block2(x)
        x = self.block3(x)
        x = self.block4(x)
        x = self.block5(x)
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


class FmnistMlp(nn.Module):
    """Flatten -> Linear(784,1024) -> ReLU -> Linear(1024,1024) -> ReLU -> Linear(1024,10)."""

    def __init__(self):
        super().__init__()
        self.fc1 = Linear(784, 1024)
        self.fc2 = Linear(1024, 1024)
        self.fc3 = Linear(1024, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


MODELS = [
    # name, constructor, opset, epochs, batch size, Adam learning rate
    ("fmnist-cnn", FmnistCnn, 13, 3, 128, 1e-3),
    ("fmnist-resnet", FmnistResnet, 17, 3, 128, 1e-3),
    ("fmnist-mlp", FmnistMlp, 13, 3, 128, 1e-3),
]


# ---------------------------------------------------------------- train / eval / export

def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(model, x, y, epochs, batch_size, lr, log):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    for epoch in range(epochs):
        model.train()
        order = torch.from_numpy(np.random.RandomState(SEED + epoch).permutation(n))
        t0 = time.perf_counter()
        total_loss, correct = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            total_loss += loss.item() * idx.numel()
            correct += (logits.argmax(1) == yb).sum().item()
        log(f"  epoch {epoch + 1}/{epochs}: loss {total_loss / n:.4f}, "
            f"train acc {correct / n:.4f}, {time.perf_counter() - t0:.1f} s")


@torch.no_grad()
def evaluate(model, x, y, batch_size=1000):
    """Top-1 on (x, y), and the smallest gap between the two largest logits of any image.

    A tiny gap means another runtime's rounding could flip that image's argmax, and with it
    the exact top-1; the gap is logged so that a mismatch can be told from a real bug.
    """
    model.eval()
    correct, min_gap = 0, float("inf")
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start:start + batch_size])
        correct += (logits.argmax(1) == y[start:start + batch_size]).sum().item()
        top2 = logits.topk(2, dim=1).values
        min_gap = min(min_gap, (top2[:, 0] - top2[:, 1]).min().item())
    return correct / x.shape[0], min_gap


def export(model, path, opset):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28, dtype=torch.float32)
    torch.onnx.export(
        model, dummy, path,
        export_params=True,
        opset_version=opset,
        do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)  # full_check also runs strict shape inference
    # The contract the rest of Partita relies on.
    assert [i.name for i in m.graph.input] == ["input"], m.graph.input
    assert [o.name for o in m.graph.output] == ["logits"], m.graph.output
    in_dims = m.graph.input[0].type.tensor_type.shape.dim
    out_dims = m.graph.output[0].type.tensor_type.shape.dim
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in in_dims] == ["batch", 1, 28, 28], in_dims
    assert [d.dim_param or d.dim_value for d in out_dims] == ["batch", 10], out_dims
    assert {op.domain for op in m.opset_import} <= {"", "ai.onnx"}, m.opset_import
    assert max(op.version for op in m.opset_import) == opset
    return m


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_reference(path, ref):
    """Writes reference-logits.json with one image's logits per line (easy to read and diff)."""
    names = list(ref["models"])
    with open(path, "w") as f:
        f.write("{\n")
        f.write(f'  "images": {json.dumps(ref["images"])},\n')
        f.write('  "input": "t10k pixel bytes / 255, float32 [8,1,28,28]",\n')
        f.write(f'  "labels": {json.dumps(ref["labels"])},\n')
        f.write('  "models": {\n')
        for i, name in enumerate(names):
            rows = ",\n".join(f"      {json.dumps(r)}" for r in ref["models"][name])
            f.write(f'    {json.dumps(name)}: [\n{rows}\n    ]{"," if i < len(names) - 1 else ""}\n')
        f.write("  }\n}\n")


def update_readme_table(path, manifest):
    """Rewrites the table between the zoo-table markers in README.md, if the file has them."""
    start, end = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"
    if not os.path.exists(path):
        return
    with open(path) as f:
        text = f.read()
    if start not in text or end not in text:
        return
    rows = ["| model | file | params | opset | test top-1 | size | train time (1 thread) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for m in manifest["models"]:
        size = os.path.getsize(os.path.join(os.path.dirname(path), m["file"]))
        rows.append(f"| {m['name']} | {m['file']} | {m['params']:,} | {m['opset']} | {m['top1']:.4f} "
                    f"| {size / 1e6:.2f} MB | {m['trained']['seconds']:.0f} s |")
    table = "\n".join(rows)
    text = text[:text.index(start) + len(start)] + "\n" + table + "\n" + text[text.index(end):]
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE, help="output folder (default: this script's folder)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    x_all, y_all = load_split("train")
    x_test, y_test = load_split("t10k")
    assert x_all.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    x_train, y_train = x_all[:TRAIN_SAMPLES], y_all[:TRAIN_SAMPLES]  # train[55000:] is never touched
    ref_x = x_test[:8]

    entries, ref = [], {"images": "t10k[0:8]", "labels": y_test[:8].tolist(), "models": {}}
    for name, ctor, opset, epochs, batch_size, lr in MODELS:
        seed_everything(SEED)
        model = ctor()
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        log(f"{name}: {params} trainable parameters, opset {opset}")
        t0 = time.perf_counter()
        train(model, x_train, y_train, epochs, batch_size, lr, log)
        seconds = time.perf_counter() - t0
        top1, min_gap = evaluate(model, x_test, y_test)
        log(f"  test top-1 {top1:.4f} (t10k, 10000 images), trained in {seconds:.1f} s; "
            f"smallest top-1/top-2 logit gap {min_gap:.2e}")

        path = os.path.join(args.out, f"{name}.onnx")
        m = export(model, path, opset)
        digest = sha256_of(path)
        size = os.path.getsize(path)
        ops = sorted({n.op_type for n in m.graph.node})
        log(f"  wrote {path}: {size} bytes, sha256 {digest}, {len(m.graph.node)} nodes, ops {ops}")

        with torch.no_grad():
            ref["models"][name] = [[round(float(v), 5) for v in row] for row in model.eval()(ref_x)]

        entries.append({
            "name": name,
            "file": f"{name}.onnx",
            "sha256": digest,
            "params": params,
            "opset": opset,
            "input": {"name": "input", "shape": ["batch", 1, 28, 28], "dtype": "float32",
                      "scale": "pixel/255"},
            "output": {"name": "logits", "classes": 10},
            "top1": round(top1, 4),
            "trained": {
                "epochs": epochs,
                "batchSize": batch_size,
                "optimizer": "Adam",
                "lr": lr,
                "seed": SEED,
                "trainSamples": TRAIN_SAMPLES,
                "torch": torch.__version__,
                "seconds": round(seconds, 1),
            },
        })

    manifest = {
        "version": 1,
        "dataset": {
            "name": "fashion-mnist",
            "source": "Debian package dataset-fashion-mnist",
            "trainSplit": "train[0:55000]",
            "heldOutSplit": "train[55000:60000]",
            "testSplit": "t10k (10000)",
        },
        "models": entries,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    write_reference(os.path.join(args.out, "reference-logits.json"), ref)
    update_readme_table(os.path.join(args.out, "README.md"), manifest)
    log(f"wrote {os.path.join(args.out, 'manifest.json')}")


if __name__ == "__main__":
    sys.exit(main())
