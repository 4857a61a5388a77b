"""Would batching objects pay? Memory attention for N objects as one batch against N calls, in one run.

Memory attention is most of a tracked frame once several objects are tracked (``peer_speed.py
--profile``: 60 % with three objects on a CPU). Objects tracked onto the same frame attend from the
same image features to their own memories, so with memory banks of equal length they can go through
it as one batch. Before building that into the tracker, this measures what it would save: SAM2.1-tiny's
memory attention (random weights), a full bank (7 memory frames of 64x64 tokens plus 16 object
pointers, as after the first 7 frames), N objects, ``--rounds`` rounds alternating which goes first.
Printed: the median seconds of each way with the spread, the batched/sequential ratio (median of
the per-round ratios, min-max), and the largest difference between the two outputs.

    python benchmarks/object_batching.py [--objects 3] [--rounds 4] [--device cuda] [--dtype bf16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from litlora_desktop.core.sam2.models import default_config, random_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=3)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    args = p.parse_args()
    dev = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model = random_model(default_config(), seed=0).eval().to(dev)
    attn = model.memory_attention.to(dtype)
    cfg = model.config
    c, hw, mem_dim = cfg.memory_attention_hidden_size, 64 * 64, cfg.memory_encoder_output_channels
    pointers = 16 * (c // mem_dim)  # 16 object pointers, each split into c / mem_dim tokens
    seq = 7 * hw + pointers
    n = args.objects
    g = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(dev, dtype)

    feats, pos = rand(hw, 1, c), rand(hw, 1, c)
    mems, mpos = [rand(seq, 1, mem_dim) for _ in range(n)], [rand(seq, 1, mem_dim) for _ in range(n)]

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def one_by_one() -> torch.Tensor:
        outs = [attn(feats, mems[i], pos, mpos[i], num_object_pointer_tokens=pointers) for i in range(n)]
        return torch.cat(outs, dim=1)

    def batched() -> torch.Tensor:
        return attn(
            feats.expand(hw, n, c),
            torch.cat(mems, dim=1),
            pos.expand(hw, n, c),
            torch.cat(mpos, dim=1),
            num_object_pointer_tokens=pointers,
        )

    ways = {"one by one": one_by_one, "batched": batched}
    times: dict[str, list[float]] = {k: [] for k in ways}
    with torch.inference_mode():
        diff = (one_by_one() - batched()).abs().max().item()  # also the warm-up
        for r in range(args.rounds):
            for name in list(ways)[:: 1 if r % 2 == 0 else -1]:
                sync()
                t0 = time.perf_counter()
                ways[name]()
                sync()
                times[name].append(time.perf_counter() - t0)
    print(f"memory attention, {n} objects, {seq} memory tokens each, {args.device} {args.dtype}")
    for name, ts in times.items():
        print(f"{name:<11} {statistics.median(ts):8.3f} s  ({min(ts):.3f}-{max(ts):.3f})")
    ratios = [b / s for b, s in zip(times["batched"], times["one by one"], strict=True)]
    print(f"batched / one by one: {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})")
    print(f"largest difference between the two outputs: {diff:.3g}")


if __name__ == "__main__":
    main()
