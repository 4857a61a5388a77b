"""What LIT_LoRA on costs a propagation: candidates left for later against candidates on every frame.

Propagates ``--objects`` objects over ``--frames`` frames through the app's own ``EngineState`` (the
model thread's half of the engine), each object with ``--adapters`` LoRA adapters, three ways, in
rotated rounds:

* off       LIT_LoRA off: SAM2 alone (the peer)
* per frame LIT_LoRA on, every adapter's candidate computed with each frame (before the change)
* later     LIT_LoRA on, candidates left for later (what the app does): the propagation's time, and
            apart from it the idle time the model thread spends on them afterwards

Target: "later" at most 1.2x "off". Adapters are untrained (a candidate costs the same either way).

    python benchmarks/lora_propagation.py [--model demo] [--frames 40] [--objects 2] [--rounds 3]
"""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace

from _common import describe, parser, setup

from litlora_desktop.core.sam2.models import LoadedModel
from litlora_desktop.workers.engine import EngineState


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--objects", type=int, default=2)
    p.add_argument("--adapters", type=int, default=2, help="LoRA adapters per object")
    p.add_argument("--rounds", type=int, default=3)
    p.set_defaults(model="demo", width=640, height=360)
    args = p.parse_args()
    model, choice, source, scene = setup(args, args.frames)
    state = EngineState()
    state.set_model(LoadedModel(model=model, source=args.model or "random", device=choice))
    state.set_source(source)
    oids = scene.object_ids[: args.objects]
    for oid in oids:
        state.add_object(oid)
        state.tracker.add_mask(oid, 0, scene.mask(oid, 0))
    lora = state.lora
    for oid in oids:
        for _ in range(args.adapters):
            lora.bank.new_adapter(lora._obj(oid), oid, lora.settings)
    job = SimpleNamespace(cancelled=False)
    last = args.frames - 1

    def run(mode: str) -> tuple[float, float]:
        """(seconds propagating, seconds computing the candidates left for later)."""
        state.lora_enabled = mode != "off"
        t0 = time.perf_counter()
        outs = list(state.propagate(0, last, False, job, candidates_later=mode == "later"))
        prop = time.perf_counter() - t0
        t0 = time.perf_counter()
        for o in outs:
            for oid, upd in o.updates.items():
                if upd.candidates_later:
                    lora.candidates(oid, o.frame_index)
        return prop, time.perf_counter() - t0

    run("per frame")  # warm-up: first-call costs (allocations, the decoder constants) out of the figures
    modes = ["off", "per frame", "later"]
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for m in modes[r % 3 :] + modes[: r % 3]:  # rotate the order: no mode always runs first
            times[m].append(run(m))
    print(f"lora_propagation: {describe(choice)}")
    print(
        f"{args.frames} frames x {len(oids)} objects, {args.adapters} adapters each, "
        f"{source.width}x{source.height}, model {args.model or 'SAM2.1-tiny random'}, {args.rounds} rounds"
    )
    off = statistics.median(t for t, _ in times["off"])
    for m in modes:
        prop = [t for t, _ in times[m]]
        ratios = [t / o for t, (o, _) in zip(prop, times["off"], strict=True)]
        line = (
            f"  {m:9s}  propagation {statistics.median(prop):6.2f} s (spread {min(prop):.2f}-{max(prop):.2f})"
            f"  {statistics.median(ratios):4.2f}x off (rounds {min(ratios):.2f}-{max(ratios):.2f})"
        )
        if m == "later":
            after = statistics.median(t for _, t in times[m])
            line += f"; then {after:.2f} s of idle work for the candidates"
        print(line)
    print(f"target: later <= 1.2x off (off median {off:.2f} s)")


if __name__ == "__main__":
    main()
