"""The bank of LoRA adapters on SAM2's mask decoder: injected, switched on one at a time, run, scored.

LoRA adapters sit on the decoder's two-way transformer (q/k/v of every attention). All adapters of all
objects are named PEFT adapters injected into the one shared decoder (no copies). Tracking runs with
every adapter disabled, so SAM2's own masks are bit-identical to a model without adapters; an adapter
is enabled only inside ``AdapterBank.active``. Every model access takes the tracker's ``model_lock``.

Modes, stated plainly: SAM2.1 tracks with multimask output (best of three by predicted IoU); the
adapters are trained and used in single-mask mode (mask token 0) as in the paper, and SAM2's
"dynamic multimask via stability" fallback is switched off for these calls so that training and
candidates always see the same output.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from itertools import count

import torch
from peft import LoraConfig
from peft.functional import (
    delete_adapter,
    get_peft_model_state_dict,
    inject_adapter_in_model,
    set_adapter,
    set_peft_model_state_dict,
)
from peft.tuners.tuners_utils import BaseTunerLayer

from litlora_desktop.core.lora.decoder_run import DecoderRun, Groups, Prepared
from litlora_desktop.core.lora.errors import LitLoRAError
from litlora_desktop.core.lora.losses import gate, iou_scores
from litlora_desktop.core.lora.objects import AdapterRecord, ObjectLoRA
from litlora_desktop.core.lora.samples import CorrectionSample, stack_samples
from litlora_desktop.core.lora.settings import LoraSettings
from litlora_desktop.core.sam2.tracker import Tracker

__all__ = ["TARGET_MODULES", "AdapterBank"]

# q/k/v projections of both two-way blocks (self-attention and both cross-attentions) and of the final
# token-to-image attention: 7 attentions x 3 projections = 21 LoRA'd layers.
TARGET_MODULES = (
    r"transformer\.(layers\.\d+\.(self_attn|cross_attn_token_to_image|cross_attn_image_to_token)"
    r"|final_attn_token_to_image)\.(q_proj|k_proj|v_proj)"
)
_bank_ids = count(1)


class AdapterBank:
    """Every adapter in one tracker's decoder, and the decoder run alone on captured inputs.

    Adapter names carry the bank's own prefix, so two engines on one shared model never collide.
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.decoder = tracker.model.mask_decoder
        self.lock = tracker.model_lock
        self.prefix = f"b{next(_bank_ids)}"
        self.runner = DecoderRun(self.decoder)
        self.constants: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------------------ decoder constants
    def keep_constants(self) -> None:
        """Copy the decoder inputs every unprompted pass shares (once); the captures lack them."""
        if self.constants is None:
            k = self.tracker.decoder_constants
            if k is None:
                raise LitLoRAError("no tracked frame yet: nothing has been captured")
            self.constants = (
                k.image_positional_embeddings.clone(),
                k.sparse_prompt_embeddings.clone(),
                k.dense_prompt_embeddings.clone(),
            )

    def keep_constants_if_possible(self) -> None:
        """``keep_constants`` once the tracker has tracked a frame; nothing before that."""
        if self.constants is None and self.tracker.decoder_constants is not None:
            with torch.inference_mode(False):
                self.keep_constants()

    # ------------------------------------------------------------------------------ adapters
    def new_adapter(self, ob: ObjectLoRA, object_id: int, settings: LoraSettings) -> AdapterRecord:
        """Inject a fresh (untrained, disabled) adapter for an object, shaped by ``settings``."""
        label = ob.new_label()
        name = f"{self.prefix}_o{object_id}_{label}"
        config = LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,
            lora_dropout=settings.dropout,
            target_modules=TARGET_MODULES,
        )
        with warnings.catch_warnings():  # several named adapters in one decoder is the design
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            inject_adapter_in_model(config, self.decoder, adapter_name=name)
        self.enable(False)
        for m in self._dropouts(name):  # PEFT makes them in training mode; only ``active`` turns them on
            m.train(False)
        ad = AdapterRecord(name=name, label=label)
        ob.adapters[name] = ad
        return ad

    def delete(self, name: str) -> None:
        """Take an adapter's layers out of the decoder."""
        with warnings.catch_warnings():  # PEFT says which adapter it makes active instead: none is
            warnings.filterwarnings("ignore", message=".*was active which is now deleted")
            delete_adapter(self.decoder, name, prefix="lora_")
        self.enable(False)

    def enable(self, enabled: bool) -> None:
        """Switch every LoRA layer on or off (off: the decoder is SAM2's own)."""
        for layer in self._layers():
            layer.enable_adapters(enabled)

    def _layers(self) -> list[BaseTunerLayer]:
        return [m for m in self.decoder.modules() if isinstance(m, BaseTunerLayer)]

    def _dropouts(self, name: str) -> list[torch.nn.Module]:
        return [m for n, m in self.decoder.named_modules() if n.endswith(f"lora_dropout.{name}")]

    def params(self, name: str) -> list[torch.nn.Parameter]:
        """The trainable weights of one adapter."""
        return [p for n, p in self.decoder.named_parameters() if f".{name}." in n and "lora_" in n]

    def snapshot(self, name: str) -> dict[str, torch.Tensor]:
        """A copy of one adapter's weights, to go back to the best epoch."""
        return {n: p.detach().clone() for n, p in self.decoder.named_parameters() if f".{name}." in n}

    def restore(self, name: str, snap: dict[str, torch.Tensor]) -> None:
        """Put back weights taken by ``snapshot``."""
        params = dict(self.decoder.named_parameters())
        with torch.no_grad():
            for n, t in snap.items():
                params[n].copy_(t)

    def weights(self, name: str) -> dict[str, torch.Tensor]:
        """One adapter's weights as PEFT saves them (keys without the adapter name), on the CPU."""
        sd = get_peft_model_state_dict(self.decoder, adapter_name=name)
        return {k: v.detach().cpu().contiguous() for k, v in sd.items()}

    def load_weights(self, name: str, state: dict[str, torch.Tensor]) -> bool:
        """Load ``weights``-style tensors into an adapter; False when they name layers it lacks."""
        res = set_peft_model_state_dict(self.decoder, state, adapter_name=name)
        if getattr(res, "unexpected_keys", None):
            return False
        self.enable(False)
        return True

    def shapes(self, rank: int) -> dict[str, tuple[int, int]]:
        """The tensors an adapter of ``rank`` has on this decoder: name -> shape."""
        out = {}
        for name, mod in self.decoder.named_modules():
            if re.fullmatch(TARGET_MODULES, name):
                fin, fout = int(mod.in_features), int(mod.out_features)
                out[f"{name}.lora_A.weight"] = (rank, fin)
                out[f"{name}.lora_B.weight"] = (fout, rank)
        return out

    # ------------------------------------------------------------------------------ running
    @contextmanager
    def active(self, name: str, train: bool = False) -> Iterator[None]:
        """One adapter on, dropout only while training, single-mask output pinned to token 0."""
        set_adapter(self.decoder, name, inference_mode=not train)
        self.enable(True)
        dyn = self.decoder.dynamic_multimask_via_stability
        self.decoder.dynamic_multimask_via_stability = False
        drop = self._dropouts(name)
        for m in drop:
            m.train(train)
        try:
            yield
        finally:
            for m in drop:
                m.train(False)
            self.decoder.dynamic_multimask_via_stability = dyn
            self.enable(False)

    def _autocast(self) -> AbstractContextManager:
        dt = self.tracker.autocast_dtype
        return torch.autocast(self.tracker.device.type, dtype=dt) if dt is not None else nullcontext()

    def forward(
        self, embeddings: torch.Tensor, hires: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The reference path: the transformers decoder with the active adapter, single-mask, logits
        upsampled to S x S: (logits (B, S, S), predicted IoU (B,), object score (B,)).

        Training and candidates use ``prepare`` and ``run`` (the same maths, the frozen part done
        once); this stays as what they are tested and benchmarked against.
        """
        assert self.constants is not None
        pos, sparse, dense = self.constants
        b = embeddings.shape[0]
        with self._autocast():
            masks, iou, _, obj = self.decoder(
                image_embeddings=embeddings,
                image_positional_embeddings=pos.expand(b, -1, -1, -1),
                sparse_prompt_embeddings=sparse.expand(b, -1, -1, -1),
                dense_prompt_embeddings=dense.expand(b, -1, -1, -1),
                multimask_output=False,
                high_resolution_features=hires,
            )
        return self.to_input_size(masks[:, 0]), iou.float().reshape(b), obj.float().reshape(b)

    def to_input_size(self, low_res: torch.Tensor) -> torch.Tensor:
        """(B, h, w) low-resolution logits as float (B, S, S) logits at the model's input size."""
        s = self.tracker.image_size
        x = low_res.float()[:, None] if low_res.dim() == 3 else low_res.float()
        return torch.nn.functional.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)[:, 0]

    def prepare(self, embeddings: torch.Tensor, hires: list[torch.Tensor]) -> Prepared:
        """The part of a decoder pass on these captured inputs that no adapter changes (once per sample)."""
        assert self.constants is not None
        with self._autocast():
            return self.runner.prepare(embeddings, hires, self.constants)

    def run(self, prep: Prepared, groups: Groups) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The decoder on prepared inputs, each group of rows with its adapter (``DecoderRun.run``):
        (low-resolution logits (B, S/4, S/4), predicted IoU (B,), object score (B,)), as float."""
        with self._autocast():
            low, iou, obj = self.runner.run(prep, groups)
        return low.float(), iou.float(), obj.float()

    def ious(self, name: str, samples: list[CorrectionSample]) -> torch.Tensor:
        """How well one adapter already gives each sample's target (IoU per sample)."""
        emb, hires, tgt = stack_samples(samples)
        with self.lock, torch.no_grad():
            low, _, scores = self.run(self.prepare(emb, hires), [(name, len(samples))])
        return iou_scores(gate(self.to_input_size(low), scores), tgt)

    def ious_each(self, names: list[str], sample: CorrectionSample) -> torch.Tensor:
        """How well each of ``names`` already gives one sample's target, in one decoder call."""
        emb, hires, tgt = stack_samples([sample])
        k = len(names)
        with self.lock, torch.no_grad():
            low, _, scores = self.run(self.prepare(emb, hires).repeat(k), [(n, 1) for n in names])
        return iou_scores(gate(self.to_input_size(low), scores), tgt.expand(k, -1, -1))
