"""Loading a tracker model (SAM2, SAM2.1, the SAM 3 tracker, EdgeTAM) and choosing where it runs.

Three sources are accepted: a model-hub id of a known family (``facebook/sam2.1-hiera-tiny``,
``facebook/sam3`` ...; ``core.model_ids.FAMILIES``), a local folder written by ``save_pretrained``
(its config.json names the family), or one of Meta's SAM2 ``.pt`` checkpoints (converted on load).
No machine this project is developed on reaches the hub, so the hub path is written to fail with a
message that says what to do, and tests exercise the folder path with tiny random models.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedConfig, PreTrainedModel, Sam2VideoConfig

from litlora_desktop.core import model_ids
from litlora_desktop.core.resources import demo_model_dir
from litlora_desktop.core.sam2.families import family_for_config, family_of_type, sam2_tiny_config

# the names live in model_ids, where the GUI reads them without importing torch
DEFAULT_MODEL_ID = model_ids.DEFAULT_MODEL_ID
DEMO_MODEL = model_ids.DEMO_MODEL
TINY_RANDOM = model_ids.TINY_RANDOM
DEMO_LABEL = model_ids.DEMO_LABEL
ModelLoadError = model_ids.ModelLoadError
MODEL_CHOICES = model_ids.MODEL_CHOICES

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while a model downloads; may raise to cancel."""


class ModelNotAvailable(ModelLoadError):
    """A hub model is neither in the local cache nor downloadable now (offline): the app may fall back
    to the demo model instead of leaving the user with nothing."""


class DownloadCancelled(ModelLoadError):
    """The user cancelled a model download."""


@dataclass(frozen=True)
class DeviceChoice:
    """Where the model runs and how: the device, an autocast dtype (None = plain float32), and why."""

    device: torch.device
    autocast_dtype: torch.dtype | None
    message: str
    fell_back: bool = False
    reason: str = ""  # with fell_back: why the requested device was not used, on its own

    @property
    def label(self) -> str:
        """Short text for a status bar, e.g. ``cuda:0 bf16``."""
        precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.autocast_dtype, "fp32")
        return f"{self.device} {precision}"


def _cuda_works() -> tuple[bool, str]:
    if not torch.cuda.is_available():
        return False, "no CUDA device is visible to PyTorch"
    try:
        x = torch.ones(8, 8, device="cuda")
        float((x @ x).sum().item())
    except Exception as exc:  # a driver/toolkit mismatch shows up only when a kernel runs
        return False, f"CUDA is present but a test computation failed ({exc.__class__.__name__}: {exc})"
    return True, ""


def _mps_works() -> tuple[bool, str]:
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        return False, "Apple MPS is not available"
    try:
        x = torch.ones(8, 8, device="mps")
        float((x @ x).sum().item())
    except Exception as exc:
        return False, f"MPS is present but a test computation failed ({exc})"
    return True, ""


def choose_device(requested: str | None = None) -> DeviceChoice:
    """Pick the device by policy (CUDA bf16 > MPS fp32 > CPU fp32), honouring an explicit request.

    The device is exercised with a real computation, and a fallback is reported in ``message`` so the
    app can tell the user instead of silently running on the CPU.
    """
    problem = model_ids.device_problem(requested)
    if problem:
        raise ValueError(problem)
    req = (requested or "auto").strip().lower()
    notes: list[str] = []
    if req == "auto" or req.startswith("cuda"):
        ok, why = _cuda_works()
        if ok:
            device = torch.device(req if req.startswith("cuda:") else "cuda")
            if torch.cuda.is_bf16_supported():
                return DeviceChoice(
                    device, torch.bfloat16, f"Using {torch.cuda.get_device_name(device)} (bf16)"
                )
            return DeviceChoice(
                device, None, f"Using {torch.cuda.get_device_name(device)} (fp32: no bf16 support)"
            )
        if req.startswith("cuda"):
            notes.append(f"CUDA was requested but {why}")
    if req in {"auto", "mps"}:
        ok, why = _mps_works()
        if ok:
            return DeviceChoice(
                torch.device("mps"),
                None,
                "Using Apple MPS (fp32)",
                fell_back=bool(notes),
                reason="; ".join(notes),
            )
        if req == "mps":
            notes.append(f"MPS was requested but {why}")
    if notes:
        why = "; ".join(notes)
        return DeviceChoice(torch.device("cpu"), None, why + ": running on the CPU (slow)", True, why)
    return DeviceChoice(torch.device("cpu"), None, "Running on the CPU (no GPU found)")


@dataclass
class LoadedModel:
    """A model ready to track, with where it came from and where it runs."""

    model: PreTrainedModel
    """A ``Sam2VideoModel``, ``Sam3TrackerVideoModel`` or ``EdgeTamVideoModel`` (``families``)."""
    source: str
    device: DeviceChoice

    fallback_note: str | None = None  # set when this model stands in for one that could not be had

    @property
    def name(self) -> str:
        """What the status bar shows."""
        if self.source == DEMO_MODEL:
            return "Demo SAM2 (synthetic shapes)"
        return Path(self.source).name if os.path.exists(self.source) else self.source


def default_config() -> Sam2VideoConfig:
    """The SAM2.1-hiera-tiny architecture (transformers' defaults), e.g. for timing with random weights."""
    return Sam2VideoConfig()


def tiny_config(image_size: int = 64, init_std: float = 0.02) -> Sam2VideoConfig:
    """A very small SAM2.1 video config that runs in milliseconds per frame on a CPU, for tests
    (``families.sam2_tiny_config``; ``families.tiny_config`` has one for every family)."""
    return sam2_tiny_config(image_size, init_std)


def demo_config() -> Sam2VideoConfig:
    """The demo model's architecture: SAM2.1's design at 256 x 256 input and narrow widths.

    Small enough to train on a 2-core CPU in about two hours and to track a frame in well under
    150 ms there (``litlora-train``; README, "The demo model"), large enough to segment and track
    textured shapes. Memory, pointers and the decoder keep SAM2.1's settings (7 memories, 16 object
    pointers, multimask tracking), so the tracker and LIT-LoRA treat it like a hub model.
    """
    s, widths, blocks, hidden = 256, [16, 32, 64, 128], [1, 2, 4, 1], 128
    return Sam2VideoConfig(
        vision_config=dict(
            model_type="sam2_vision_model",
            backbone_config=dict(
                model_type="sam2_hiera_det_model",
                hidden_size=widths[0],
                image_size=[s, s],
                blocks_per_stage=blocks,
                embed_dim_per_stage=widths,
                num_attention_heads_per_stage=[1, 1, 2, 4],
                window_size_per_stage=[8, 4, 8, 4],
                global_attention_blocks=[5, 6],
                window_positional_embedding_background_size=[s // 32, s // 32],
            ),
            backbone_channel_list=widths[::-1],
            backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
            fpn_hidden_size=hidden,
        ),
        prompt_encoder_config=dict(hidden_size=hidden, image_size=s, patch_size=16, mask_input_channels=16),
        mask_decoder_config=dict(
            hidden_size=hidden, mlp_dim=512, num_attention_heads=4, iou_head_hidden_dim=128
        ),
        image_size=s,
        memory_attention_hidden_size=hidden,
        memory_attention_num_layers=2,
        memory_attention_feed_forward_hidden_size=2 * hidden,
        memory_attention_rope_feat_sizes=[s // 16, s // 16],
        memory_encoder_hidden_size=hidden,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=hidden,
        memory_fuser_embed_dim=hidden,
        memory_fuser_intermediate_dim=4 * hidden,
    )


def tie_positional_encodings(model: PreTrainedModel) -> PreTrainedModel:
    """Give the prompt encoder the image's random Fourier positional encoding.

    In SAM2 one random matrix places both the image tokens and the clicks; transformers keeps two
    copies (identical in every converted checkpoint), but initialises them independently. Untied,
    a click's position is written in another basis than the image's, and since both are fixed buffers
    no training can line them up: a model trained from scratch then finds objects but not the one
    that was clicked.
    """
    with torch.no_grad():
        model.prompt_encoder.shared_embedding.positional_embedding.copy_(
            model.shared_image_embedding.positional_embedding
        )
    return model


def random_model(config: PreTrainedConfig, seed: int = 0) -> PreTrainedModel:
    """A randomly initialised model of the config's family in eval mode (deterministic for a seed),
    positional encodings tied as in SAM2."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = family_for_config(config).build(config)
    finally:
        torch.random.set_rng_state(gen_state)
    return tie_positional_encodings(model).eval()


def _hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


# What ``from_pretrained`` reads. Model repos often hold Meta's own ``.pt`` checkpoint beside the
# converted weights (hundreds of MB to GBs): a whole-repo snapshot would download both.
HUB_FILES = ["*.json", "*.safetensors", "*.txt"]


def _download(repo_id: str, progress: ProgressCallback | None) -> str:
    """Fetch a hub snapshot of the files a model needs (or find them in the cache); its local folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    from tqdm.auto import tqdm

    try:
        return snapshot_download(repo_id, local_files_only=True, allow_patterns=HUB_FILES)
    except LocalEntryNotFoundError:
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    hint = (
        f"The model '{repo_id}' is not in the local model cache ({_hf_cache_dir()}) and "
        + ("HF_HUB_OFFLINE is set" if offline else "the model hub cannot be reached")
        + ". Connect this machine to the internet once and reopen the model, or copy the model folder "
        "onto it (see the README, 'Offline workstations'), or pick a local model folder or a Meta .pt "
        "checkpoint in Settings > Model."
    )
    if offline:
        raise ModelNotAvailable(hint)

    class _ProgressTqdm(tqdm):  # forwards byte counts to the caller's callback
        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            if progress is not None and self.unit == "B":
                progress(int(self.n), int(self.total or 0))
            return out

    try:
        return snapshot_download(repo_id, tqdm_class=_ProgressTqdm, allow_patterns=HUB_FILES)
    except DownloadCancelled:
        raise
    except Exception as exc:
        if type(exc).__name__ == "GatedRepoError":  # the weights exist, this account may not have them
            family = model_ids.family_of_hub_id(repo_id)
            how = family.access if family is not None and family.access else "Request access on its hub page."
            raise ModelLoadError(f"'{repo_id}' is gated on the model hub. {how}") from exc
        raise ModelNotAvailable(f"{hint}\n\nDetails: {exc.__class__.__name__}: {exc}") from exc


def fallback_to_demo(requested: str, why: ModelNotAvailable, device: str | None = None) -> LoadedModel:
    """The demo model, standing in for ``requested`` which cannot be had now (offline, not cached).

    The note says what happened and how to get the real SAM2.1 for real footage; it is meant for a
    non-blocking notice, since the app is usable meanwhile.
    """
    loaded = load_model(DEMO_MODEL, device=device)
    loaded.fallback_note = (
        f"Using the demo SAM2: '{requested}' is not on this machine and cannot be downloaded now. The demo "
        "model was trained on synthetic shapes only, so expect poor masks on real footage. For real work, "
        "connect once to download SAM2.1 or copy a model folder onto this machine (README, 'Offline "
        "workstations'), then pick it in Settings > Model."
    )
    return loaded


def load_model(
    source: str | os.PathLike[str] = DEFAULT_MODEL_ID,
    device: str | None = None,
    progress: ProgressCallback | None = None,
) -> LoadedModel:
    """Load SAM2 from a hub id, a ``save_pretrained`` folder or a Meta ``.pt`` file, onto a device.

    Raises ``ModelLoadError`` with a user-facing message for anything that goes wrong.
    """
    choice = choose_device(device)
    src = os.fspath(source)
    path = Path(src).expanduser()
    if src == DEMO_MODEL:
        path = demo_model_dir()
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"The demo model is missing from this installation ({path}): reinstall the app, or pick "
                "another model in Settings > Model."
            )
    try:
        if path.is_file():
            if path.suffix.lower() not in {".pt", ".pth"}:
                raise ModelLoadError(f"{path} is a file but not a Meta SAM2 checkpoint (.pt).")
            from litlora_desktop.core.sam2.meta_checkpoint import load_meta_checkpoint

            model = load_meta_checkpoint(path)
        elif path.is_dir():
            if not (path / "config.json").exists():
                raise ModelLoadError(
                    f"{path} is not a SAM2 model folder: it has no config.json (expected a folder written by "
                    "save_pretrained, e.g. a copy of facebook/sam2.1-hiera-tiny)."
                )
            model = _from_folder(path)
        elif not _HUB_ID.fullmatch(src) or model_ids.family_of_hub_id(src) is None:
            # an "a/b" that is not a known model id is a mistyped path: never download it
            known = ", ".join(v for v in MODEL_CHOICES.values() if "/" in v)
            raise ModelLoadError(
                f"Model not found: no such file or folder as {src} exists, and it is not a known SAM2 "
                f"model id ({known})."
            )
        else:
            model = _from_folder(Path(_download(src, progress)))
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"Could not load the SAM2 model from {src}: {exc.__class__.__name__}: {exc}"
        ) from exc
    model = model.to(choice.device).eval()
    return LoadedModel(model=model, source=src, device=choice)


_TYPE_ALIASES = {"sam3_video": "sam3_tracker_video", "sam3": "sam3_tracker_video"}
"""A full SAM 3 folder (hub ``facebook/sam3``) holds the tracker too; it loads as the tracker."""


def _from_folder(path: Path) -> PreTrainedModel:
    """Load a ``save_pretrained`` folder with the class its config.json's ``model_type`` names."""
    import json

    try:
        model_type = str(json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type"))
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{path}/config.json cannot be read: {exc}") from exc
    try:
        family = family_of_type(_TYPE_ALIASES.get(model_type, model_type))
    except ValueError as exc:
        raise ModelLoadError(
            f"{path} holds a '{model_type}' model, which this app cannot track with: {exc}."
        ) from exc
    return family.from_pretrained(str(path))
