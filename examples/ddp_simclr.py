"""SimCLR with DistributedDataParallel: the negatives span the global batch of all ranks.

    torchrun --nproc_per_node 4 examples/ddp_simclr.py --steps 500          # 4 GPUs (NCCL)
    torchrun --nproc_per_node 2 examples/ddp_simclr.py --steps 20 --cpu     # 2 CPU processes (gloo)

Each rank draws its own batch; ``contrastlab.losses.nt_xent`` sees that ``torch.distributed`` is
initialised and gathers every rank's embeddings with the gradient flowing back, so each rank scores
its anchors against all W x batch candidates. Each rank's loss is the mean over its own anchors and
DDP averages the gradients: together they equal the single-process loss on the global batch.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from contrastlab import data, losses, metrics, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=256, help="per rank")
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--cpu", action="store_true", help="gloo on the CPU instead of NCCL on GPUs")
    args = parser.parse_args()

    use_cuda = torch.cuda.is_available() and not args.cpu
    dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ['LOCAL_RANK'])}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)

    toy = data.vmf_mixture(8192, n_classes=10, dim=16, seed=0, device=device)  # the same data on every rank
    torch.manual_seed(0)  # the same initial weights on every rank
    encoder = DistributedDataParallel(models.build_encoder((16,)).to(device),
                                      device_ids=[device.index] if use_cuda else None)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
    batches = torch.Generator().manual_seed(1000 + rank)  # each rank its own batches
    views = torch.Generator(device=device).manual_seed(2000 + rank)

    for step in range(args.steps):
        idx = torch.randint(0, len(toy), (args.batch_size,), generator=batches).to(device)
        v = toy.views(idx, generator=views)  # (B, 2, 16)
        z1, z2 = encoder(v[:, 0]), encoder(v[:, 1])
        loss = losses.nt_xent(z1, z2, temperature=args.temperature)  # negatives from all ranks
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if rank == 0 and (step % 100 == 0 or step == args.steps - 1):
            print(f"step {step:5d}  loss {loss.item():.4f}  (global batch {world * args.batch_size})", flush=True)

    if rank == 0:
        encoder.eval()
        with torch.no_grad():
            features = encoder.module.features(toy.x[:2048])
        print(f"kNN accuracy {metrics.knn_accuracy(features, toy.labels[:2048], k=20):.3f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
