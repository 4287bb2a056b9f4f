"""The prompt embedder on ONNX Runtime, int8: exported here, from the shipped weights, once.

Why: plain PyTorch embeds ~45 prompts/s on one core and takes ~17 ms for one query; the same
all-MiniLM-L6-v2 exported to ONNX and dynamically quantised to int8 (weights per channel,
``MatMul`` only) does ~140 prompts/s and ~2 ms on one core (bench/README.md), and the web process
then needs neither torch nor sentence-transformers to embed a query.

Why not sentence-transformers' own ``backend="onnx"``: it needs ``optimum-onnx``, whose only
release pins ``transformers<4.58`` (we run 5.x). So this module does the same three steps by
hand, with the packages the project already has plus ``onnx`` and ``onnxruntime``:

1. export the Transformer module with ``torch.onnx.export`` (TorchScript exporter, opset 17,
   dynamic batch and sequence axes) from the local weights: never a download;
2. quantise it with ``onnxruntime.quantization.quantize_dynamic`` (QInt8, per channel);
3. at run time: the model's own ``tokenizer.json`` (``tokenizers``), ONNX Runtime on one text
   at a time (mean pooling over the attention mask, no padding) and L2 normalisation:
   sentence-transformers' pipeline for this model (Transformer, mean Pooling, Normalize),
   which the float32 export reproduces to cosine 1.0000.

The export lands in ``EMBEDDING_ONNX_DIR/<key>/`` where the key hashes the weights, the export
recipe and the quantisation settings: the same weights always give the same folder, a change of
weights or recipe a new one. It is written to a temporary folder and renamed into place, so two
processes exporting at once both end with a complete model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

# Bump when the export or quantisation recipe changes: it is part of the cache key.
RECIPE = "minilm-onnx-v1 opset17 quantize_dynamic QInt8 per_channel MatMul"
MODEL_FILE = "model_int8.onnx"


class UnsupportedModel(ValueError):
    """The model is not a Transformer + mean pooling sentence-transformers folder."""


def _model_layout(model_path: Path) -> int:
    """Check the folder is Transformer -> mean Pooling (-> Normalize); return max tokens."""
    modules = json.loads((model_path / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise UnsupportedModel(f"modules {kinds} are not Transformer, Pooling[, Normalize]")
    pooling = json.loads(
        (model_path / modules[1]["path"] / "config.json").read_text(encoding="utf-8")
    )
    if not pooling.get("pooling_mode_mean_tokens") or any(
        v
        for k, v in pooling.items()
        if k.startswith("pooling_mode_")
        and k.endswith("_tokens")
        and k != "pooling_mode_mean_tokens"
    ):
        raise UnsupportedModel(f"pooling {pooling} is not mean pooling alone")
    config = json.loads((model_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
    return int(config.get("max_seq_length", 256))


def onnx_cache_key(model_path: Path) -> str:
    """A short hash of the weights, the tokenizer and the recipe: the export's folder name."""
    digest = hashlib.sha256(RECIPE.encode())
    for name in ("config.json", "tokenizer.json", "model.safetensors", "pytorch_model.bin"):
        path = model_path / name
        if path.exists():
            digest.update(name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def _export(model_path: Path, target: Path) -> None:
    """Export and quantise into ``target`` (a fresh folder). Imports torch: seconds, once."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    class _Encoder(torch.nn.Module):
        """Keyword call of the Hugging Face model (its positional order changed in 5.x)."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()
    example = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    float_file = target / "model_fp32.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Encoder(model),
            (example, (example > 0).long(), torch.zeros_like(example)),
            str(float_file),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    logging.getLogger("root").disabled = True  # quantize_dynamic's "consider pre-processing"
    try:
        quantize_dynamic(
            str(float_file),
            str(target / MODEL_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        logging.getLogger("root").disabled = False
    float_file.unlink()
    shutil.copy(model_path / "tokenizer.json", target / "tokenizer.json")
    (target / "recipe.txt").write_text(RECIPE + "\n", encoding="utf-8")


def onnx_model_ensure(*, model_path: Path, cache_dir: Path) -> Path:
    """The folder of the int8 export of ``model_path``, exporting it the first time."""
    _model_layout(model_path)
    folder = cache_dir / onnx_cache_key(model_path)
    if (folder / MODEL_FILE).exists():
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=cache_dir))
    try:
        logger.info("exporting %s to ONNX int8 in %s", model_path, folder)
        _export(model_path, staging)
        try:
            staging.rename(folder)
        except OSError:
            if not (folder / MODEL_FILE).exists():  # not another process's finished export
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


class OnnxEmbedder:
    """``encode`` like SentenceTransformer's (unit vectors), on ONNX Runtime."""

    def __init__(self, *, model_path: Path, cache_dir: Path, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.max_tokens = _model_layout(model_path)
        folder = onnx_model_ensure(model_path=model_path, cache_dir=cache_dir)
        self.folder = folder
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        # tokenizer.json may carry its own padding (this model's: fixed length 128): off, so a
        # text is its own tokens only.
        self.tokenizer.no_padding()

    def encode(self, texts: Sequence[str], *, batch_size: int = 1) -> np.ndarray:
        """Unit float32 vectors, one text per model call whatever ``batch_size`` says.

        Dynamic quantisation scales each activation tensor by its own range, so in a batch a
        text's vector would depend on its batch mates and on their padding (cosine down to
        0.968 against the same text alone). One at a time, a text always gets the same vector,
        nothing is padded, and it is faster here: 288 prompts/s against 164/s at batch 64.
        """
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for row, text in enumerate(texts):
            encoded = self.tokenizer.encode(text)
            feeds = {
                "input_ids": np.array([encoded.ids], dtype=np.int64),
                "attention_mask": np.array([encoded.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoded.type_ids], dtype=np.int64),
            }
            mask = feeds["attention_mask"][0][:, None]
            vector = (self.session.run(None, feeds)[0][0] * mask).sum(axis=0) / mask.sum()
            if not out.shape[1]:
                out = np.zeros((len(texts), len(vector)), dtype=np.float32)
            out[row] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return out


@functools.cache
def onnx_available() -> bool:
    """Whether onnxruntime and onnx are installed (checked without importing them)."""
    from importlib.util import find_spec

    try:
        return all(find_spec(name) is not None for name in ("onnxruntime", "onnx"))
    except (ImportError, ValueError):  # a package half removed, or blocked in sys.modules
        return False
