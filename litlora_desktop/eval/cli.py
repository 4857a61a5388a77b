"""``litlora-eval``: the LIT paper's simulated-annotator evaluation on a DAVIS-layout dataset.

    litlora-eval DATASET [--out DIR] [--model ID_OR_PATH] [--lora off|on|both] [--select oracle confidence]
                 [--tau 0.5] [--workers N] [--device cuda:0,cuda:1]
    litlora-eval make-dataset OUT      # a tiny synthetic dataset with occlusion, split and look-alikes

Results go to ``DIR/results.csv`` and ``DIR/results.md``; every finished (run, sequence) is kept in
``DIR/runs/`` so a second invocation skips it. Exit codes: 0 done, 1 some sequences failed (the others
are reported), 2 bad arguments, dataset or model, 130 interrupted (finished sequences are kept).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from litlora_desktop.cluster.options import (
    absolute_if_local,
    add_ray_arguments,
    check_ray_arguments,
    ray_options,
)

PROG = "litlora-eval"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Count the corrections a simulated annotator needs with SAM2 alone and with LIT-LoRA "
        "(the LIT paper's protocol), and report J, F and J&F.",
        epilog="'litlora-eval make-dataset --help' writes a small synthetic dataset to try it on.",
    )
    p.add_argument(  # "?", checked by hand: "--ray DATASET" would otherwise only say DATASET is missing
        "dataset",
        nargs="?",
        help="dataset root holding JPEGImages/ and Annotations/ (DAVIS, MOSE, SA-V layouts)",
    )
    p.add_argument(
        "--out", default="litlora-eval-results", help="results folder (default: ./litlora-eval-results)"
    )
    p.add_argument(
        "--model",
        default="facebook/sam2.1-hiera-tiny",
        help="model-hub id, save_pretrained folder, Meta .pt checkpoint, 'demo' (the shipped SAM2 trained on "
        "synthetic shapes), or 'tiny-random' (developers)",
    )
    p.add_argument(
        "--device", default="auto", help="cuda, cuda:N, mps, cpu or auto; a comma list spreads workers"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the sequences (default 1); with a local --ray, the tasks Ray runs at a time",
    )
    add_ray_arguments(p, "every (run, sequence)")
    p.add_argument(
        "--lora", choices=("off", "on", "both"), default="both", help="LIT-LoRA runs (default both)"
    )
    p.add_argument(
        "--select",
        nargs="+",
        choices=("oracle", "confidence"),
        default=["oracle"],
        help="how a failing frame's candidate is chosen: oracle = best ground-truth IoU, the paper's protocol; "
        "confidence = most confident, no ground truth (several values: one run each)",
    )
    p.add_argument(
        "--tau", type=float, default=0.5, help="IoU below which a frame needs a correction (paper: 0.5, 0.75)"
    )
    p.add_argument(
        "--clicks", type=int, default=3, help="clicks per correction before the full mask (default 3)"
    )
    p.add_argument(
        "--corrections-as-cond",
        action="store_true",
        help="keep every corrected frame as SAM2 conditioning memory (Meta's add_all_frames_to_correct_as_cond; "
        "off in the paper's protocol)",
    )
    p.add_argument(
        "--train-target",
        choices=("gt", "final"),
        default="gt",
        help="what LIT-LoRA learns from a correction: the frame's ground truth (the authors' runs) or the mask "
        "the annotator ended with (default gt)",
    )
    p.add_argument(
        "--min-confidence", type=float, default=0.0, help="confidence mode: ignore candidates below it"
    )
    p.add_argument(
        "--adapters", type=int, default=1, help="LoRA adapters per object (paper's headline: 1; up to 3)"
    )
    p.add_argument(
        "--keep-failed-new",
        action="store_true",
        help="keep a new adapter whose training gave up (the authors' code does; by default it is dropped)",
    )
    p.add_argument("--rank", type=int, default=None, help="LoRA rank (default 4, the authors' code)")
    p.add_argument(
        "--epochs-new", type=int, default=None, help="max epochs training a new adapter (default 100)"
    )
    p.add_argument("--epochs-finetune", type=int, default=None, help="max epochs of a fine-tune (default 20)")
    p.add_argument("--sequences", nargs="+", help="only these sequences")
    p.add_argument(
        "--sequence-list", help="file with one sequence name per line (e.g. ImageSets/2017/val.txt)"
    )
    p.add_argument("--images", help="frames folder under DATASET (default: JPEGImages or JPEGImages_24fps)")
    p.add_argument(
        "--annotations", help="annotations folder under DATASET (default: Annotations or Annotations_6fps)"
    )
    p.add_argument(
        "--resolution", help="resolution subfolder, e.g. 480p or Full-Resolution (default: 480p if present)"
    )
    p.add_argument(
        "--hard-min", type=int, default=10, help="the paper's subset: videos with >= N SAM2 corrections"
    )
    p.add_argument("--restart", action="store_true", help="redo sequences already finished in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _error(msg: str) -> int:
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; never shows a traceback for a user error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "make-dataset":
        from litlora_desktop.eval.synthetic_dataset import main as make_dataset

        return make_dataset(argv[1:])
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        return _error("--workers must be at least 1")
    if args.adapters < 1:
        return _error("--adapters must be at least 1")
    if args.sequences and args.sequence_list:
        return _error("give --sequences or --sequence-list, not both")
    problem = check_ray_arguments(args, "dataset")  # before the dataset is read
    if problem:
        return _error(problem)
    if args.dataset is None:
        return _error("the following arguments are required: dataset")
    args.dataset = absolute_if_local(args.dataset)  # its sequences' paths reach workers in other folders
    from litlora_desktop.core.sam2.allocator import tune_malloc

    tune_malloc()  # SAM2 on a CPU spends a quarter of its time in page faults otherwise
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(
            f"\n{PROG}: interrupted; finished sequences are kept in {args.out}: run again to resume.",
            file=sys.stderr,
        )
        return 130


def _run(args: argparse.Namespace) -> int:
    from litlora_desktop.core.model_ids import device_problem
    from litlora_desktop.eval.dataset import DatasetError, open_dataset, read_sequence_list

    for d in args.device.split(","):  # before any work: each worker would say it after loading
        problem = device_problem(d.strip() or None)
        if problem:
            return _error(problem)
    try:  # the dataset first: a wrong path is reported before torch and transformers are even imported
        names = read_sequence_list(args.sequence_list) if args.sequence_list else args.sequences
        sequences = open_dataset(
            args.dataset,
            names,
            images=args.images,
            annotations=args.annotations,
            resolution=args.resolution,
            on_skip=lambda msg: print(f"{PROG}: {msg}", file=sys.stderr),
        )
        out = Path(args.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
    except (DatasetError, OSError) as exc:
        return _error(str(exc))

    # nothing here imports torch: with --ray this process only plans, waits and reports
    from litlora_desktop.cluster.ray_pool import ClusterError
    from litlora_desktop.core.model_ids import ModelLoadError
    from litlora_desktop.eval.progress import ProgressBar
    from litlora_desktop.eval.report import Report
    from litlora_desktop.eval.results import SequenceResult
    from litlora_desktop.eval.runner import lora_settings_for, plan, run_tasks
    from litlora_desktop.eval.runs import EvalError, Protocol

    try:
        protocols = []
        memory = {"corrections_as_cond": args.corrections_as_cond}
        if args.lora in ("off", "both"):
            protocols.append(Protocol(tau=args.tau, max_clicks=args.clicks, **memory))
        if args.lora in ("on", "both"):
            for sel in dict.fromkeys(args.select):
                protocols.append(
                    Protocol(
                        tau=args.tau,
                        max_clicks=args.clicks,
                        lora=True,
                        select=sel,
                        min_confidence=args.min_confidence if sel == "confidence" else 0.0,
                        train_target=args.train_target,
                        **memory,
                    )
                )
        lora = lora_settings_for(
            args.model,
            max_adapters=args.adapters,
            rank=args.rank,
            alpha=float(args.rank) if args.rank else None,  # alpha = rank keeps the authors' scale of 1
            max_epochs_new=args.epochs_new,
            max_epochs_finetune=args.epochs_finetune,
            keep_failed_new=True if args.keep_failed_new else None,
        )
        todo, done = plan(sequences, protocols, out, args.model, lora, restart=args.restart)
    except (DatasetError, EvalError, ValueError, OSError) as exc:
        return _error(str(exc))

    devices = [d.strip().lower() or None for d in args.device.split(",")]
    skipped = len(done)
    print(
        f"{len(sequences)} sequences x {len(protocols)} runs ({', '.join(p.name for p in protocols)}): "
        f"{len(todo)} to do, {skipped} already finished in {out}",
        file=sys.stderr,
    )
    failures: list[SequenceResult] = []
    progress = ProgressBar(sum(t.sequence.num_frames for t in todo), enabled=not args.no_progress)
    try:
        new = run_tasks(
            todo,
            out,
            absolute_if_local(args.model) if args.ray is not None else args.model,
            lora,
            devices=devices,
            workers=min(args.workers, max(1, len(todo))),
            progress=progress,
            on_error=failures.append,
            ray=ray_options(args, len(todo)),
        )
    except (ModelLoadError, EvalError, ValueError, ClusterError) as exc:
        progress.close()
        return _error(str(exc))
    progress.close()
    load_errors = [f for f in failures if f.error and f.error.startswith("the model could not be loaded")]
    if failures and not new and len(load_errors) == len(failures):
        return _error(str(load_errors[0].error))

    baseline = Protocol(tau=args.tau, max_clicks=args.clicks, **memory)
    if all(p.lora for p in protocols):  # compare with a baseline stored by an earlier --lora off run
        try:
            done += plan(sequences, [baseline], out, args.model, lora)[1]
        except EvalError:
            pass
    if not any(o.frames for r in [*done, *new] for o in r.objects):
        for f in failures:
            print(f"{PROG}: {f.run} {f.sequence} failed: {f.error}", file=sys.stderr)
        if not done and not new:
            return 1
        return _error(
            "nothing could be scored: no object of any sequence has ground truth on a frame after the "
            "one it starts on, so there is no J&F to report."
        )
    report = Report([*done, *new], hard_min=args.hard_min)
    meta = {
        "dataset": Path(args.dataset).expanduser().resolve(),
        "model": args.model,
        "τ": args.tau,
        "clicks per correction": args.clicks,
        "LIT-LoRA": ", ".join(
            f"{k}={v}"
            for k, v in asdict(lora).items()
            if k in ("max_adapters", "rank", "alpha", "lr_new", "max_epochs_new", "max_epochs_finetune")
        ),
        "sequences": len(sequences),
    }
    csv_path = report.write_csv(out / "results.csv")
    md_path = report.write_markdown(out / "results.md", meta)
    for s in report.overall():
        line = f"{s.run:>20}: {s.corrections} corrections ({s.corrections_per_sequence:.2f} per sequence), {s.clicks} clicks, J&F {s.jf:.3f}"
        if s.run != "sam2":
            line += f", {s.acceptances} candidates accepted"
            if s.reduction_pct == s.reduction_pct:
                line += f", {s.reduction_pct:.1f} % fewer corrections"
        print(line)
    print(f"wrote {csv_path} and {md_path}")
    for f in failures:
        print(f"{PROG}: {f.run} {f.sequence} failed: {f.error}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
