"""The PyTorch peer of bench/train_mnist.cc: the same network, loss, optimizer,
batch size, initial weight scale and data order rules, one epoch.

    /usr/bin/python3 bench/train_torch.py --threads 2 [--mnist_dir DIR]

Prints: TORCH seconds=<epoch seconds> loss=<mean training loss> threads=N
"""
import argparse
import gzip
import math
import os
import struct
import time

import numpy as np
import torch
from torch import nn


def read_images(path):
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x803:
            raise SystemExit(f"{path}: not an IDX image file")
        data = np.frombuffer(f.read(), dtype=np.uint8)
    return torch.from_numpy(data.reshape(n, rows * cols).astype(np.float32) / 255.0)


def layer(fan_in, fan_out, stddev):
    # strata's initialisation: normal weights, zero biases.
    lin = nn.Linear(fan_in, fan_out)
    nn.init.normal_(lin.weight, 0.0, stddev)
    nn.init.zeros_(lin.bias)
    return lin


def he(fan_in, fan_out):
    return math.sqrt(2.0 / fan_in)


def glorot(fan_in, fan_out):
    return math.sqrt(2.0 / (fan_in + fan_out))


def model():
    return nn.Sequential(
        layer(784, 1000, he(784, 1000)), nn.ReLU(),
        layer(1000, 500, he(1000, 500)), nn.ReLU(),
        layer(500, 250, he(500, 250)), nn.ReLU(),
        layer(250, 30, glorot(250, 30)),  # linear code
        layer(30, 250, he(30, 250)), nn.ReLU(),
        layer(250, 500, he(250, 500)), nn.ReLU(),
        layer(500, 1000, he(500, 1000)), nn.ReLU(),
        layer(1000, 784, glorot(1000, 784)), nn.Sigmoid(),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mnist_dir", default=os.environ.get("STRATA_MNIST_DIR",
                                                              "../shared/data/mnist"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x = read_images(os.path.join(args.mnist_dir, "train-images-idx3-ubyte.gz"))
    net = model()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.BCELoss()
    batch = 128
    start = time.perf_counter()
    order = torch.randperm(x.shape[0])
    total = 0.0
    for i in range(0, x.shape[0], batch):
        xb = x[order[i:i + batch]]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), xb)
        loss.backward()
        opt.step()
        total += loss.item() * xb.shape[0]
    seconds = time.perf_counter() - start
    print(f"TORCH seconds={seconds:.3f} loss={total / x.shape[0]:.5f} threads={args.threads}")


if __name__ == "__main__":
    main()
