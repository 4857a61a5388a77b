"""``litlora-desktop track``: the app's masks, headless, for many videos; nothing of the user's lost."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from litlora_desktop.batch.track import output_folder
from litlora_desktop.cli import main
from litlora_desktop.core.annotations.formats import import_annotations
from litlora_desktop.core.annotations.project import Project
from litlora_desktop.core.annotations.store import AnnotationStore
from litlora_desktop.core.video.sources import VideoSource
from litlora_desktop.eval.synthetic_dataset import write_synthetic_dataset
from litlora_desktop.workers.engine_state import EngineState, load_any_model
from litlora_desktop.workers.outcomes import Prompt

FAST = ["--model", "demo", "--device", "cpu", "--quiet"]


class _Job:
    cancelled = False


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three synthetic videos (frame folders), their ground truth, and first-frame masks per video."""
    root = tmp_path_factory.mktemp("davis")
    names = write_synthetic_dataset(root, ["occlusion", "split", "distractor"], num_frames=10, size=(96, 128))
    first = root / "first"
    for n in names:
        (first / n).mkdir(parents=True)
        shutil.copy(root / "Annotations" / n / "00000.png", first / n / "00000.png")
    return root, names, first


def _store(folder) -> AnnotationStore:
    return Project.open(folder).store


def _app_masks(model, video, first_png_folder) -> dict[tuple[int, int], np.ndarray]:
    """What the app's tracker gives: the imported masks as prompts, then Space (propagate to the end)."""
    source = VideoSource.open(video)
    store = AnnotationStore()
    store.height, store.width, store.num_frames = source.height, source.width, source.num_frames
    import_annotations(store, first_png_folder)
    state = EngineState()
    state.set_model(model)
    state.set_source(source)
    for info in store.objects:
        state.add_object(info.id)
        for f, rec in store.records_for_object(info.id).items():
            state.sync_prompt(info.id, f, Prompt(mask=rec.decode()))
    out = {}
    for outcome in state.propagate(0, source.num_frames - 1, False, _Job()):
        for oid, upd in outcome.updates.items():
            out[(outcome.frame_index, oid)] = upd.mask.mask
    state.close()
    return out


@pytest.fixture(scope="module")
def tracked(videos, tmp_path_factory):
    root, names, first = videos
    out = tmp_path_factory.mktemp("tracked")
    code = main(
        [
            "track",
            *(str(root / "JPEGImages" / n) for n in names),
            "--masks",
            str(first),
            "--out",
            str(out),
            *FAST,
        ]
    )
    return out, code


def test_three_videos_get_the_masks_of_the_apps_tracker(videos, tracked):
    root, names, first = videos
    out, code = tracked
    assert code == 0
    model = load_any_model("demo", "cpu", None)
    for n in names:
        store = _store(out / f"{n}.litlora")
        expected = _app_masks(model, root / "JPEGImages" / n, first / n)
        assert len(expected) == 9 * len(store.objects)  # every frame after the first, every object
        for (f, oid), mask in expected.items():
            rec = store.get_record(f, oid)
            assert rec is not None and rec.provenance.kind == "sam2"
            assert np.array_equal(rec.decode(), mask), (n, f, oid)
        for oid in (o.id for o in store.objects):  # the first masks stay the imported ones
            assert store.get_record(0, oid).provenance.kind == "imported"


def test_the_demo_model_tracks_the_synthetic_objects(videos, tracked):
    """A figure, not just "it runs": mean J of the tracked frames against the ground truth."""
    root, names, _ = videos
    out, _ = tracked
    scores = []
    for n in names:
        store = _store(out / f"{n}.litlora")
        gt = AnnotationStore()
        gt.height, gt.width, gt.num_frames = store.height, store.width, store.num_frames
        import_annotations(gt, root / "Annotations" / n)
        for oid in (o.id for o in store.objects):
            for f in range(1, store.num_frames):
                truth, pred = gt.get_mask(f, oid), store.get_mask(f, oid)
                if truth is None or not truth.any():
                    continue
                scores.append((truth & pred).sum() / (truth | pred).sum())
    assert len(scores) >= 30
    assert np.mean(scores) > 0.6, np.mean(scores)


def test_an_existing_project_is_never_replaced_without_overwrite(videos, tracked, capsys):
    root, names, first = videos
    out, _ = tracked
    before = (out / f"{names[0]}.litlora" / "project.json").read_bytes()
    code = main(
        ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--out", str(out), *FAST]
    )
    assert code == 1
    assert "pass --overwrite" in capsys.readouterr().err
    assert (out / f"{names[0]}.litlora" / "project.json").read_bytes() == before


def test_first_masks_from_the_videos_own_project_which_is_only_read(videos, tmp_path):
    """The annotator marked the object on frame 4 in the app and saved; track fills both ways."""
    root, names, _ = videos
    video = tmp_path / "clip"
    shutil.copytree(root / "JPEGImages" / names[0], video)
    source = VideoSource.open(video)
    project = Project.create(tmp_path / "clip.litlora", video, source)
    gt = AnnotationStore()
    gt.height, gt.width, gt.num_frames = source.height, source.width, source.num_frames
    import_annotations(gt, root / "Annotations" / names[0])
    info = project.store.add_object("cat")
    first_object = next(iter(gt.records_for_frame(4).values()))
    project.store.set_mask(4, info.id, first_object.decode(), "user")
    project.save()
    saved = {p.name: p.read_bytes() for p in (tmp_path / "clip.litlora").rglob("*") if p.is_file()}

    assert main(["track", str(video), "--out", str(tmp_path / "out"), "--format", "coco", *FAST]) == 0
    store = _store(tmp_path / "out" / "clip.litlora")
    assert [o.name for o in store.objects] == ["cat"]
    kinds = [store.get_record(f, info.id).provenance.kind for f in range(source.num_frames)]
    assert kinds == ["sam2"] * 4 + ["user"] + ["sam2"] * 5
    assert (tmp_path / "out" / "clip.coco.json").is_file()
    after = {p.name: p.read_bytes() for p in (tmp_path / "clip.litlora").rglob("*") if p.is_file()}
    assert after == saved  # read, never written


def test_bad_inputs_are_one_sentence_each(videos, tmp_path, capsys):
    root, names, first = videos
    assert main(["track", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o"), *FAST]) == 2
    assert "does not exist" in capsys.readouterr().err
    # no first masks for this video: it fails, the run goes on and says so
    video = tmp_path / "lonely"
    shutil.copytree(root / "JPEGImages" / names[0], video)
    code = main(
        [
            "track",
            str(video),
            str(root / "JPEGImages" / names[1]),
            "--masks",
            str(first),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--model",
            "demo",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "holds no annotation named after the video (lonely/" in err
    code = main(["track", str(video), "--out", str(tmp_path / "o2"), *FAST])
    err = capsys.readouterr().err
    assert code == 1 and "FAILED: no first masks" in err and "Traceback" not in err
    # a --project that is none is said before the model loads, as a missing --masks is
    code = main(["track", str(video), "--project", str(first), "--out", str(tmp_path / "o3"), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "is not a project folder (it has no project.json)" in err


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--auto-apply", "0.8"], "--auto-apply with --masks needs --adapters"),
        (["--workers", "2"], "--workers only applies to a local Ray"),
        (["--workers", "2", "--ray", "auto"], "--workers only applies to a local Ray"),
        (["--gpus-per-task", "1"], "--gpus-per-task only applies with --ray"),
        (["--retries", "5", "--cpus-per-task", "2"], "--cpus-per-task and --retries only apply with --ray"),
    ],
)
def test_an_option_that_would_do_nothing_is_refused_before_any_work(videos, tmp_path, capsys, extra, said):
    """Ignored silently, it would cost the user a run done otherwise than asked (on a CPU, or with
    no candidate ever applied)."""
    root, names, first = videos
    video = str(root / "JPEGImages" / names[0])
    code = main(["track", video, "--masks", str(first), "--out", str(tmp_path / "o"), *FAST, *extra])
    assert code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def adapters_project(videos, tmp_path_factory):
    """A project of the first video whose object has a LIT-LoRA adapter, trained on one correction."""
    root, names, first = videos
    folder = tmp_path_factory.mktemp("taught") / "taught.litlora"
    video = root / "JPEGImages" / names[0]
    source = VideoSource.open(video)
    project = Project.create(folder, video, source)
    import_annotations(project.store, first / names[0])
    project.save()
    gt = AnnotationStore()
    gt.height, gt.width, gt.num_frames = source.height, source.width, source.num_frames
    import_annotations(gt, root / "Annotations" / names[0])
    state = EngineState()
    state.set_model(load_any_model("demo", "cpu", None))
    state.set_source(source)
    state.set_lora_enabled(True)
    oid = project.store.objects[0].id
    state.add_object(oid)
    state.prompt(oid, 0, Prompt(mask=project.store.get_mask(0, oid)), learn=False)
    for _outcome in state.propagate(0, 5, False, _Job()):
        pass
    state.prompt(oid, 2, Prompt(mask=gt.get_mask(2, oid)), learn=True)  # a correction on a tracked frame
    for _ in state.train(oid, _Job()):
        pass
    assert state.lora.num_adapters(oid) == 1
    state.lora.save(project.adapters_dir, enabled=True)
    state.close()
    return folder, oid


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_adapters_of_a_project_auto_apply_above_the_threshold(videos, adapters_project, tmp_path, threshold):
    root, names, first = videos
    folder, oid = adapters_project
    video = root / "JPEGImages" / names[1]
    argv = ["track", str(video), "--masks", str(first), "--out", str(tmp_path), "--adapters", str(folder)]
    assert main([*argv, "--auto-apply", str(threshold), *FAST]) == 0
    store = _store(tmp_path / f"{names[1]}.litlora")
    kinds = {store.get_record(f, oid).provenance.kind for f in range(1, store.num_frames)}
    # confidence is in [0, 1): every candidate passes 0, none reaches 1
    assert kinds == ({"lora"} if threshold == 0.0 else {"sam2"})
    others = {
        store.get_record(f, o.id).provenance.kind for o in store.objects if o.id != oid for f in range(1, 10)
    }
    assert others == {"sam2"}  # an object without adapters is tracked by SAM2 alone
    # the output project carries the adapters, so correcting it in the app goes on learning
    assert (tmp_path / f"{names[1]}.litlora" / "adapters" / "litlora.json").is_file()


def test_the_project_the_first_masks_come_from_is_never_the_output(videos, tmp_path, capsys):
    """Even with --overwrite: tracking into the video's own project would replace the user's work."""
    root, names, _ = videos
    video = tmp_path / "clip"
    shutil.copytree(root / "JPEGImages" / names[0], video)
    source = VideoSource.open(video)
    project = Project.create(tmp_path / "clip.litlora", video, source)
    info = project.store.add_object("cat")
    project.store.set_mask(0, info.id, np.ones((source.height, source.width), bool), "user")
    project.save()
    before = (tmp_path / "clip.litlora" / "project.json").read_bytes()
    assert main(["track", str(video), "--out", str(tmp_path), "--overwrite", *FAST]) == 1
    assert "the project the first masks are read from" in capsys.readouterr().err
    assert (tmp_path / "clip.litlora" / "project.json").read_bytes() == before


def test_overwrite_replaces_a_project_whole(videos, tracked, tmp_path):
    """No adapters of the old project survive to be mistaken for the new one's."""
    root, names, first = videos
    out = tmp_path / "o"
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--out", str(out), *FAST]
    assert main(argv) == 0
    old = out / f"{names[0]}.litlora"
    (old / "adapters").mkdir(exist_ok=True)
    (old / "adapters" / "litlora.json").write_text("{}")
    assert main([*argv, "--overwrite"]) == 0
    assert not (old / "adapters" / "litlora.json").exists()
    assert Project.open(old).store.mask_count() == _store(tracked[0] / f"{names[0]}.litlora").mask_count()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_tracking_writes_nothing_the_driver_writes(videos, tmp_path):
    """On a cluster the worker tracks and the driver writes, so the outputs land where the command ran."""
    from litlora_desktop.batch.track import TrackJob, save_tracked, track_video

    root, names, first = videos
    job = TrackJob(root / "JPEGImages" / names[0], tmp_path / "p.litlora", masks=first / names[0])
    tracked = track_video(job, load_any_model("demo", "cpu", None))
    assert tracked.report.error is None and tracked.store is not None
    assert list(tmp_path.iterdir()) == []
    assert save_tracked(job, tracked).error is None
    assert Project.open(tmp_path / "p.litlora").store.mask_count() == 20


def test_one_annotation_file_for_several_videos_is_refused(videos, tmp_path, capsys):
    root, names, first = videos
    coco = tmp_path / "one.json"
    coco.write_text("{}")
    argv = ["track", *(str(root / "JPEGImages" / n) for n in names[:2]), "--masks", str(coco)]
    assert main([*argv, "--out", str(tmp_path / "o"), *FAST]) == 2
    assert "is one annotation, and there are several videos" in capsys.readouterr().err


def test_an_existing_export_is_refused_before_tracking(videos, tmp_path, capsys):
    root, names, first = videos
    (tmp_path / f"{names[0]}.coco.json").write_text("mine")
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--format", "coco"]
    assert main([*argv, "--out", str(tmp_path), *FAST]) == 1
    assert "exists: pass --overwrite" in capsys.readouterr().err
    assert not (tmp_path / f"{names[0]}.litlora").exists()
    assert (tmp_path / f"{names[0]}.coco.json").read_text() == "mine"


def test_the_videos_own_adapters_keep_their_counts_and_samples_as_this_videos(adapters_project, tmp_path):
    """Tracking a video with its own project's adapters (auto-applied) is not reusing another video's:
    the new project keeps the correction count, and its samples stay this video's, so a correction
    of the same frame later replaces the old sample instead of piling up beside it."""
    import json

    folder, oid = adapters_project
    video = Project.open(folder).resolve_video_path()
    out = tmp_path / "out"
    argv = ["track", str(video), "--project", str(folder), "--out", str(out), "--auto-apply", "0.5"]
    assert main([*argv, *FAST]) == 0
    before = json.loads((folder / "adapters" / "litlora.json").read_text())
    after = json.loads((output_folder(out, video) / "adapters" / "litlora.json").read_text())
    assert before["objects"][str(oid)]["corrections"] == 1
    assert after["objects"][str(oid)]["corrections"] == 1
    origins = [s.get("origin", "") for s in after["objects"][str(oid)]["samples"]]
    assert origins == [""]


def test_the_videos_own_adapters_go_to_their_own_objects_even_with_one_name(adapters_project, tmp_path):
    """Two objects both named "car": by name, both saved objects matched the same object here, which
    got the other's adapter and counts while its twin lost its own. From the video's own project the
    ids are the same on both sides, so they are matched by id."""
    import json

    folder = tmp_path / "twins.litlora"
    shutil.copytree(adapters_project[0], folder)
    oid = adapters_project[1]
    project = Project.open(folder)
    assert len(project.store.objects) >= 2
    for info in project.store.objects:
        project.store.update_object(info.id, name="car")
    project.save()
    video = project.resolve_video_path()
    out = tmp_path / "out"
    argv = ["track", str(video), "--project", str(folder), "--out", str(out), "--auto-apply", "0.5"]
    assert main([*argv, *FAST]) == 0
    after = json.loads((output_folder(out, video) / "adapters" / "litlora.json").read_text())
    with_adapters = {k for k, v in after["objects"].items() if v["adapters"]}
    assert with_adapters == {str(oid)}
    assert after["objects"][str(oid)]["corrections"] == 1


@pytest.mark.parametrize("since", ["saved", "autosaved", "made in the app", "open in the app"])
def test_overwrite_never_replaces_work_done_since_tracking(videos, tmp_path, capsys, since):
    """--overwrite is for re-running a batch: a project the annotator has since corrected and saved,
    or has unsaved (autosaved) work in, or that the app made, is refused whole, not wiped."""
    root, names, first = videos
    video = root / "JPEGImages" / names[0]
    out = tmp_path / "o"
    argv = ["track", str(video), "--masks", str(first), "--out", str(out), *FAST]
    folder = out / f"{names[0]}.litlora"
    if since == "open in the app":  # untouched, but open: replacing it would pull it from under the annotator
        import json
        import os
        import socket

        from litlora_desktop.core.annotations.open_marker import MARKER

        assert main(argv) == 0
        (folder / MARKER).write_text(
            json.dumps({"host": socket.gethostname(), "pid": os.getppid(), "since": "x"})
        )
    elif since == "made in the app":
        source = VideoSource.open(video)
        project = Project.create(folder, video, source)
        project.store.set_mask(3, project.store.add_object("cat").id, np.ones((96, 128), bool), "user")
        project.save()
    else:
        assert main(argv) == 0
        project = Project.open(folder)
        oid = project.store.objects[0].id
        project.store.set_mask(5, oid, np.ones((96, 128), bool), "user")  # a correction by hand
        if since == "saved":
            project.save()
        else:
            project.write_autosave(force=True)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main([*argv, "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "since it was tracked" in err or "not one track wrote" in err or "is open in the app" in err, err
    assert "Traceback" not in err
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before


def test_a_project_that_cannot_be_written_is_one_line_and_the_other_videos_go_on(
    videos, tmp_path, capsys, monkeypatch
):
    """A full disk or a read-only folder while writing one video's project: that video fails in one
    line, its half-written folder is removed, and the next videos are still tracked and written."""
    from litlora_desktop.core.annotations.manifest import ProjectError

    root, names, first = videos
    real_save = Project.save

    def save(self, *a, **k):
        if names[0] in str(self.path):
            raise ProjectError(f"{self.path}: writing its data folder failed (No space left on device)")
        return real_save(self, *a, **k)

    monkeypatch.setattr(Project, "save", save)
    out = tmp_path / "o"
    paths = [str(root / "JPEGImages" / n) for n in names]
    assert main(["track", *paths, "--masks", str(first), "--out", str(out), *FAST]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.litlora" for n in names[1:])


def test_a_device_that_is_not_one_is_one_sentence(videos, tmp_path, capsys):
    root, names, first = videos
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--out", str(tmp_path / "o")]
    assert main([*argv, "--model", "demo", "--device", "tpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--device" in err and "tpu" in err and "Traceback" not in err


def test_a_gpu_asked_for_and_missing_stops_the_batch_instead_of_crawling_on_the_cpu(
    videos, tmp_path, capsys, monkeypatch
):
    """The app falls back to the CPU with a notice; a batch over hundreds of videos on a GPU node
    whose CUDA is broken would run for days on the CPU without anyone seeing that notice."""
    from litlora_desktop.core.sam2 import models

    monkeypatch.setattr(models, "_cuda_works", lambda: (False, "no CUDA device is visible"))
    root, names, first = videos
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--out", str(tmp_path / "o")]
    assert main([*argv, "--model", "demo", "--device", "cuda", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device is visible" in err and "--device cpu" in err
    assert not (tmp_path / "o" / f"{names[0]}.litlora").exists()


def test_an_output_folder_that_cannot_be_written_is_refused_before_tracking(
    videos, tmp_path, capsys, monkeypatch
):
    root, names, first = videos
    out = tmp_path / "o"
    real_mkdir = type(out).mkdir

    def mkdir(self, *a, **k):
        if self == out:
            raise OSError(30, "Read-only file system", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(type(out), "mkdir", mkdir)
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--out", str(out), *FAST]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "Traceback" not in err


def _batch_tracked_in_a_new_session(videos):
    """The engine of an app session on the first video, LIT-LoRA on, its first masks in a store (as
    a project `track` wrote holds them), nothing tracked yet in this session."""
    root, names, first = videos
    source = VideoSource.open(root / "JPEGImages" / names[0])
    store = AnnotationStore()
    store.height, store.width, store.num_frames = source.height, source.width, source.num_frames
    import_annotations(store, first / names[0])
    state = EngineState()
    state.set_model(load_any_model("demo", "cpu", None))
    state.set_source(source)
    state.set_lora_enabled(True)
    return state, store, store.objects[0].id


def test_a_correction_on_a_frame_this_session_never_tracked_still_teaches(videos):
    """A batch-tracked project reopened in the app: its frames hold masks, but SAM2 has not tracked
    them in this session. A correction there used to teach LIT-LoRA nothing (there was no pass of
    SAM2 before it to learn from); the engine now runs that pass first."""
    from litlora_desktop.core.sam2.prompts import Click

    state, store, oid = _batch_tracked_in_a_new_session(videos)
    state.add_object(oid)
    state.prompt(oid, 0, Prompt(mask=store.get_mask(0, oid)), learn=False)
    click = Prompt(clicks=(Click(40.0, 30.0, True),))
    # a click on a cell with no tracked mask (a first click there) is no correction
    assert state.prompt(oid, 7, click, learn=True, tracked=False).unlearned
    assert state.lora.num_samples(oid) == 0
    # a correction of a mask tracked before this session: SAM2's pass is made now, and it teaches
    upd = state.prompt(oid, 5, click, learn=True, tracked=True)
    assert upd.unlearned == ""
    assert state.lora.num_samples(oid) == 1
    # and the frame's mask is the correction's, as without LIT-LoRA
    assert upd.mask.kind == "prompted" and upd.mask.mask[30, 40]
    state.close()


def test_a_correction_that_cannot_teach_says_why(videos):
    """Where no pass of SAM2's can be made, the update says why (the status bar shows it)."""
    from litlora_desktop.core.sam2.prompts import Click

    state, store, oid = _batch_tracked_in_a_new_session(videos)
    click = Prompt(clicks=(Click(40.0, 30.0, True),))
    from litlora_desktop.workers.engine_state import UNLEARNED_FAILED, UNLEARNED_NO_PROMPT, UNLEARNED_PROMPTED

    # the object's prompts have not reached the tracker yet
    assert state.prompt(oid, 5, click, learn=True, tracked=True).unlearned == UNLEARNED_NO_PROMPT
    # a frame whose mask the tracker holds as a prompt (an accepted candidate of an earlier session)
    state.prompt(oid, 0, Prompt(mask=store.get_mask(0, oid)), learn=False)
    state.prompt(oid, 3, Prompt(mask=store.get_mask(0, oid)), learn=False)
    assert state.prompt(oid, 3, click, learn=True, tracked=True).unlearned == UNLEARNED_PROMPTED

    # SAM2's pass for LIT-LoRA fails (out of memory, say): the correction itself still lands
    def fail(*a):
        raise RuntimeError("out of memory")

    state.tracker.observe = fail
    upd = state.prompt(oid, 7, click, learn=True, tracked=True)
    assert upd.unlearned == UNLEARNED_FAILED
    assert upd.mask.kind == "prompted" and 7 in state.tracker.prompts(oid)
    state.close()


def test_adapters_that_are_none_are_one_sentence_before_the_model_loads(
    videos, tmp_path, capsys, monkeypatch
):
    """A folder without saved adapters named the errno of a missing litlora.json, once per video,
    after the model had loaded."""
    import litlora_desktop.batch.cli as batch_cli

    root, names, first = videos
    monkeypatch.setattr(batch_cli, "load_track_model", lambda *a: pytest.fail("the model was loaded"))
    empty = tmp_path / "empty.litlora"
    empty.mkdir()
    out = tmp_path / "o"
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--out", str(out)]
    assert main([*argv, "--adapters", str(empty), *FAST]) == 2
    err = capsys.readouterr().err
    assert "holds no LIT-LoRA adapters" in err and "Errno" not in err and err.count("\n") == 1
    assert not out.exists()


def test_an_output_folder_made_for_a_run_where_nothing_was_written_is_removed(videos, tmp_path, capsys):
    root, names, first = videos
    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"just some text\n" * 20)
    out = tmp_path / "new" / "o"
    assert main(["track", str(bad), "--masks", str(first / names[0]), "--out", str(out), *FAST]) == 1
    err = capsys.readouterr().err
    assert "notes.mp4: FAILED" in err and "moov" not in err
    assert not (tmp_path / "new").exists()
    # a folder that was there before stays, empty or not
    out.mkdir(parents=True)
    assert main(["track", str(bad), "--masks", str(first / names[0]), "--out", str(out), *FAST]) == 1
    assert out.is_dir()


def test_a_failed_export_is_not_a_failed_video(videos, tmp_path, capsys, monkeypatch):
    """Only the export failed: the project is written and the video was tracked, and the summary said
    "0 of 1 videos tracked"."""
    import litlora_desktop.batch.track as batch_track

    root, names, first = videos

    def export(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch_track, "export", export)
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--format", "coco"]
    assert main([*argv, "--out", str(tmp_path), *FAST[:-1]]) == 1
    err = capsys.readouterr().err
    assert f"[1/1] {names[0]}: 10 frames" in err
    assert "Loading the model demo" in err  # what the wait is for, in our words
    assert "export to" in err and "failed: No space left on device" in err and "Errno" not in err
    assert "1 of 1 videos tracked" in err and "1 export failed" in err
    assert (tmp_path / f"{names[0]}.litlora" / "project.json").is_file()


def test_adapters_no_video_could_use_are_a_failure(videos, adapters_project, tmp_path, capsys):
    """Adapters matched by name to no object of any video: the run tracked without them, and said so
    only in per-video warnings, exiting 0 as if they had been used."""
    root, names, first = videos
    folder, oid = adapters_project
    other = tmp_path / "renamed.litlora"
    shutil.copytree(folder, other)
    project = Project.open(other)
    for o in project.store.objects:
        project.store.rename_object(o.id, f"zebra {o.id}")
    project.save()
    argv = ["track", str(root / "JPEGImages" / names[1]), "--masks", str(first), "--out", str(tmp_path / "o")]
    assert main([*argv, "--adapters", str(other), "--auto-apply", "0.5", *FAST[:-1]]) == 1
    err = capsys.readouterr().err
    assert "no object of" in err  # the video's warning
    assert "no video has an object named as one of" in err
    assert (tmp_path / "o" / f"{names[1]}.litlora" / "project.json").is_file()  # tracked all the same


def test_a_device_name_in_capitals_is_the_device(videos, tmp_path, monkeypatch):
    """`--device CPU` passed the check, but the raw name went on, where "cpu" and "auto" are compared
    as they are (a Ray task given a GPU would have used it)."""
    import litlora_desktop.batch.cli as batch_cli

    root, names, first = videos
    seen = []
    monkeypatch.setattr(batch_cli, "run_local", lambda jobs, model, device, *a, **k: seen.append(device))
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--out", str(tmp_path / "o")]
    for name, device in ((" CPU", "cpu"), ("AUTO", None), ("Cuda:1", "cuda:1")):
        main([*argv, "--model", "demo", "--device", name, "--quiet"])
        assert seen.pop() == device


def test_a_masks_folder_for_other_videos_names_the_missing_one(videos, tmp_path, capsys):
    """One video and a --masks folder holding other videos' masks: it said the folder held no .png
    files, not that this video's masks were missing from it (found by the user test)."""
    root, names, first = videos
    lonely = tmp_path / "clipX"
    shutil.copytree(root / "JPEGImages" / names[0], lonely)
    assert main(["track", str(lonely), "--masks", str(first), "--out", str(tmp_path / "o"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "holds no annotation named after the video (clipX/" in err and ".png files" not in err


def test_an_out_that_is_a_file_is_one_sentence(videos, tmp_path, capsys):
    root, names, first = videos
    afile = tmp_path / "afile"
    afile.write_text("x")
    argv = ["track", str(root / "JPEGImages" / names[0]), "--masks", str(first), "--out", str(afile)]
    assert main([*argv, *FAST]) == 2
    err = capsys.readouterr().err
    assert "is a file: give a folder" in err and "File exists" not in err
