#!/usr/bin/env python3
"""PyTorch DistributedDataParallel peer of train_comparisons.sh: the shardflow job's training, in
the usual PyTorch way, on this machine's CPU cores.

    train_torch_ddp.py DATA.h5 --case logistic|linear|softmax|mlp --l2 L --lr LR --batch-size B
        --epochs E [--optimizer sgd|adam] [--momentum M] [--beta1 B1] [--beta2 B2] [--eps EPS]
        [--ranks 2] [--run R] [--seed S]

`--ranks` processes started by torch.multiprocessing.spawn (no torchrun), gloo over 127.0.0.1, one
thread each (torch.set_num_threads(1)). The case's module in float64 under DDP:
  logistic: nn.Linear(d, 1), zero initial weights as shardflow's, BCEWithLogitsLoss;
  linear:   nn.Linear(d, 1), zero initial weights, MSELoss / 2 (shardflow's (z - y)^2 / 2);
  softmax:  nn.Linear(d, K), zero initial weights, CrossEntropyLoss on the class index (the
            classes: the training labels' distinct values, ascending, as shardflow's);
  mlp:      nn.Linear(d, h) + ReLU/Tanh per hidden layer + nn.Linear(h, K), CrossEntropyLoss;
            weights Glorot-uniform (nn.init.xavier_uniform_, +-sqrt(6/(fan_in + fan_out)), as
            shardflow's) from torch.manual_seed(seed), biases 0 (as shardflow's); the draw differs
            from shardflow's, which is its own function of the job's seed.
The optimizer is the job's: torch.optim.SGD (lr, momentum: v = m v + g, w -= lr v, shardflow's
rule) or torch.optim.Adam (lr, betas, eps: Kingma & Ba with bias correction, shardflow's rule),
the L2 penalty as weight_decay on the weights only (shardflow does not penalize intercepts or
biases; weight_decay adds l2 * w to the gradient, the gradient of l2/2 ||w||^2, before the
optimizer's rule, as shardflow's gradient of its objective). The same GLOBAL batch: each rank takes
B / ranks rows a step, its share of a new random permutation of the training rows every epoch,
padded as DistributedSampler pads so that every rank has as many rows (DDP averages the ranks'
mean gradients: the gradient of the batch's mean loss). Every rank reads the whole training set
from the HDF5 file and standardizes it (shardflow's scaler: the training rows' mean and population
standard deviation) before anything is timed; batches are gathered from those tensors by index (no
DataLoader, whose per-sample collation would dominate).

Prints one JSON line (rank 0): `to_first_step` from this process's start (before torch is
imported: the spawn, the imports, loading, DDP set-up) to the first step, `load_seconds` (HDF5 into
memory), `setup_seconds` (after loading: standardizing, tensors, process group and DDP, to the
first step), `epoch_seconds` (each epoch's wall time on rank 0), `train_seconds` (their sum),
`allreduce_seconds` (rank 0's time from handing the gradient bucket to the allreduce to its
completion, a DDP communication hook), `eval_seconds` (rank 0 scoring the test rows and the
metrics), `objective` (null for mlp) and `metrics` (train_common's definitions, shardflow's).
"""
import argparse
import math
import os
import socket
import sys
import time

START = time.time()


def zero_linear(torch, d, k):
    module = torch.nn.Linear(d, k).double()
    torch.nn.init.zeros_(module.weight)
    torch.nn.init.zeros_(module.bias)
    return module


def weights_and_biases(module):
    """(the penalized parameters: every Linear's weight, the free ones: every bias)."""
    return ([p for name, p in module.named_parameters() if name.endswith("weight")],
            [p for name, p in module.named_parameters() if name.endswith("bias")])


def numpy(t):
    return t.detach().numpy().copy()


class LogisticModule:
    """logistic: nn.Linear(d, 1) with BCEWithLogitsLoss; coefficients = weight, intercept = bias."""
    float_labels = True

    @staticmethod
    def build(torch, d, classes, seed):
        return zero_linear(torch, d, 1)

    @staticmethod
    def loss(torch):
        bce = torch.nn.BCEWithLogitsLoss()
        return lambda out, y: bce(out.squeeze(1), y)

    @staticmethod
    def parameters(module, classes):
        """The case's parameters as numpy (train_common's layout), for its objective and scores."""
        return numpy(module.weight)[0], float(module.bias.detach().item())


class LinearModule(LogisticModule):
    """linear: nn.Linear(d, 1) with MSELoss / 2 (the mean of (z - y)^2 / 2, shardflow's loss)."""

    @staticmethod
    def loss(torch):
        mse = torch.nn.MSELoss()
        return lambda out, y: 0.5 * mse(out.squeeze(1), y)


class SoftmaxModule:
    """softmax: nn.Linear(d, K) with CrossEntropyLoss on class indices; W = weight (K x d)."""
    float_labels = False

    @staticmethod
    def build(torch, d, classes, seed):
        return zero_linear(torch, d, len(classes))

    @staticmethod
    def loss(torch):
        return torch.nn.CrossEntropyLoss()

    @staticmethod
    def parameters(module, classes):
        return numpy(module.weight), numpy(module.bias), classes


class MlpModule(SoftmaxModule):
    """mlp: Linear + activation per hidden layer, then Linear(h, K); Glorot-uniform weights from
    the seed, zero biases; CrossEntropyLoss on class indices."""

    @staticmethod
    def build(torch, d, classes, seed):
        import train_common as tc
        torch.manual_seed(seed)
        sizes = [d] + list(tc.Mlp.hidden) + [len(classes)]
        layers = []
        for i in range(len(sizes) - 1):
            linear = torch.nn.Linear(sizes[i], sizes[i + 1]).double()
            torch.nn.init.xavier_uniform_(linear.weight)
            torch.nn.init.zeros_(linear.bias)
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU() if tc.Mlp.activation == "relu" else torch.nn.Tanh())
        return torch.nn.Sequential(*layers)

    @staticmethod
    def parameters(module, classes):
        linears = [m for m in module if hasattr(m, "weight")]
        return tuple((numpy(m.weight), numpy(m.bias)) for m in linears), classes


TORCH_CASES = {"logistic": LogisticModule, "linear": LinearModule, "softmax": SoftmaxModule, "mlp": MlpModule}


def worker(rank, world, port, args, start):
    import numpy as np
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train_common as tc

    torch.set_num_threads(1)
    case, torch_case = tc.CASES[args.case], TORCH_CASES[args.case]
    t = time.perf_counter()
    x_train, y_train, x_test, y_test = tc.load_split(args.data, case.task)
    load_seconds = time.perf_counter() - t
    t = time.perf_counter()
    mean, scale = tc.fit_standard(x_train)
    x_train = tc.standardize(x_train, mean, scale)
    x_test = tc.standardize(x_test, mean, scale)
    classes = np.unique(y_train) if case.task == "multiclass" else None
    x = torch.from_numpy(x_train)
    y = torch.from_numpy(y_train) if torch_case.float_labels else torch.from_numpy(tc.class_index(y_train, classes))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    module = torch_case.build(torch, x.shape[1], classes, args.seed)
    model = DistributedDataParallel(module)
    allreduce = {"seconds": 0.0}

    def timed_allreduce(state, bucket):  # DDP's default allreduce (mean), timed to completion
        begin = time.perf_counter()
        future = dist.all_reduce(bucket.buffer().div_(world), async_op=True).get_future()

        def done(f):
            state["seconds"] += time.perf_counter() - begin
            return f.value()[0]
        return future.then(done)
    model.register_comm_hook(allreduce, timed_allreduce)
    penalized, free = weights_and_biases(module)
    groups = [{"params": penalized, "weight_decay": args.l2}, {"params": free, "weight_decay": 0.0}]
    if args.optimizer == "adam":
        optimizer = torch.optim.Adam(groups, lr=args.lr, betas=(args.beta1, args.beta2), eps=args.eps)
        rule = f"Adam lr {args.lr:g}, betas {args.beta1:g} {args.beta2:g}, eps {args.eps:g}"
    else:
        optimizer = torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum)
        rule = f"SGD lr {args.lr:g}{f' momentum {args.momentum:g}' if args.momentum else ''}"
    loss_fn = torch_case.loss(torch)
    n, per_rank = len(y), args.batch_size // world
    padded = math.ceil(n / world) * world
    steps = math.ceil(padded // world / per_rank)
    dist.barrier()
    setup_seconds = time.perf_counter() - t
    first_step = time.time() - start
    epochs = []
    for epoch in range(args.epochs):
        began = time.perf_counter()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed + epoch))
        if padded > n:
            order = torch.cat([order, order[:padded - n]])
        mine = order[rank:padded:world]
        for k in range(steps):
            rows = mine[k * per_rank:(k + 1) * per_rank]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[rows]), y[rows])
            loss.backward()
            optimizer.step()
        epochs.append(time.perf_counter() - began)
    dist.barrier()
    if rank == 0:
        params = torch_case.parameters(module, classes)
        t = time.perf_counter()
        metrics = tc.evaluate(case, y_test, case.scores(params, x_test), classes)
        eval_seconds = time.perf_counter() - t
        tc.emit({"bench": "train", "case": case.name, "dataset": tc.describe(args.data)["dataset"],
                 "tool": "torch_ddp", "ranks": world, "run": args.run, "rows_train": n, "rows_test": len(y_test),
                 "features": x.shape[1], "to_first_step": first_step, "load_seconds": load_seconds,
                 "setup_seconds": setup_seconds, "epoch_seconds": epochs, "train_seconds": sum(epochs),
                 "allreduce_seconds": allreduce["seconds"], "eval_seconds": eval_seconds, "steps": steps * args.epochs,
                 "objective": case.objective(params, x_train, y_train, args.l2) if case.objective else None,
                 "metrics": metrics, "version": torch.__version__,
                 "settings": f"DDP gloo, {world} x {per_rank} rows a step, float64, {rule}"})
    dist.barrier()  # every rank is done with the process group
    # Exit without tearing DDP and gloo down: in torch 1.13, destroying the reducer joins gloo's
    # worker thread while holding the GIL, and that thread may be freeing a tensor of the Python
    # comm hook, which needs the GIL: the rank hung at 100% CPU (seen twice at 2 ranks).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--case", default="logistic")
    parser.add_argument("--l2", type=float, required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--beta1", type=float, default=0.9)
    parser.add_argument("--beta2", type=float, default=0.999)
    parser.add_argument("--eps", type=float, default=1e-8)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--run", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.case not in TORCH_CASES:
        sys.exit(f"train_torch_ddp.py: error: unknown case '{args.case}' (cases: {' '.join(TORCH_CASES)})")
    if args.ranks < 1 or args.batch_size % args.ranks:
        sys.exit(f"train_torch_ddp.py: error: --batch-size {args.batch_size} must be a multiple of --ranks "
                 f"{args.ranks} (each rank takes batch-size / ranks rows a step)")
    # One thread per rank, for every library the children load (they inherit the environment).
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import torch.multiprocessing as mp
    mp.spawn(worker, args=(args.ranks, free_port(), args, START), nprocs=args.ranks, join=True)


if __name__ == "__main__":
    main()
