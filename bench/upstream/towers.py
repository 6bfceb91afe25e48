#!/usr/bin/python3
"""Times upstream GroundingGPT's own PyTorch tower code (random weights, float32, CPU) for
bench/video.mjs and bench/audio.mjs. Hand-run benchmark helper, never part of the product.

  /usr/bin/python3 bench/upstream/towers.py --upstream <GroundingGPT checkout> --tower video|audio
      [--threads 2] [--reps 3] [--frames 64] [--warmup-frames 4]

The upstream tree is imported from --upstream (never copied): video_llama/models/eva_vit.py,
Qformer.py and the vendored ImageBind run as they are; the constructors Blip2Base.init_Qformer /
init_vision_encoder / LayerNorm (video_llama/models/blip2.py) and LEGOLlamaModel.init_video_Qformer /
encode_videoQformer_visual / encode_audioQformer (lego/LEGO.py) are taken from upstream's source
with `ast` and executed, because importing those two files whole drags in the LLM, the datasets and
training stack (transformers' LLaMA, omegaconf, iopath, pandas, ...). The module wiring below
mirrors LEGOLlamaModel.__init__ (lego/LEGO.py lines 32-61). timm / transformers / einops / ftfy /
iopath come from bench/upstream/shims (not installable here).

Prints one JSON object on stdout: per-stage and total seconds per timed run, peak RSS.

--serve (for pairing with our runs): after the build and the warm-up prints {"ready": true} and
then, for each line "run" on stdin, runs the tower once and prints that run's JSON line; at "quit"
or end of input, the final JSON object as above.
"""
import argparse
import ast
import importlib
import json
import os
import resource
import sys
import tempfile
import time
import types

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True, help="checkout of lzw-lzw/GroundingGPT")
ap.add_argument("--tower", choices=["video", "audio"], required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--frames", type=int, default=64)
ap.add_argument("--warmup-frames", type=int, default=4, help="frames of the untimed warm-up run (video)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--serve", action="store_true", help="one run per 'run' line on stdin (see above)")
args = ap.parse_args()

# Debian's OpenBLAS 0.3.21 does not recognise this Xeon under KVM and falls back to its generic
# "Prescott" SSE3 kernels (~4x slower sgemm); name the AVX-512 kernels so upstream gets a fair BLAS
# (PyPI's torch would bring MKL). An explicit OPENBLAS_CORETYPE in the environment wins.
os.environ.setdefault("OPENBLAS_CORETYPE", "Cooperlake")
sys.path.insert(0, os.path.join(HERE, "shims"))
sys.path.insert(1, os.path.abspath(args.upstream))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)


def package(name, *parts):
    """Registers an upstream package without running its __init__ (they import the world)."""
    m = types.ModuleType(name)
    m.__path__ = [os.path.join(os.path.abspath(args.upstream), *parts)]
    sys.modules[name] = m
    return m


package("video_llama", "video_llama")
package("video_llama.common", "video_llama", "common")
package("video_llama.models", "video_llama", "models")
package("video_llama.models.ImageBind", "video_llama", "models", "ImageBind")
package("video_llama.models.ImageBind.models", "video_llama", "models", "ImageBind", "models")


def upstream_defs(relpath, names, ns):
    """Executes the upstream definitions `names` ('func', 'Class', 'Class.method') of one file into
    `ns`; decorators (classmethod) are dropped, so methods are called with an explicit first argument."""
    path = os.path.join(os.path.abspath(args.upstream), relpath)
    tree = ast.parse(open(path).read(), path)
    for q in names:
        cls, _, name = q.rpartition(".")
        body = tree.body
        if cls:
            body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
        node = next(n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name)
        node.decorator_list = []
        exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), ns)
    return ns


eva_vit = importlib.import_module("video_llama.models.eva_vit")
Qformer = importlib.import_module("video_llama.models.Qformer")
# create_eva_vit_g downloads the BLIP-2 EVA checkpoint; give it an empty state dict instead
# (load_state_dict(strict=False) of {} keeps the random init: weights do not change the timing)
_empty = os.path.join(tempfile.gettempdir(), "ggpt-bench-empty-state-dict.pth")
torch.save({}, _empty)
eva_vit.download_cached_file = lambda url, check_hash=False, progress=False: _empty

imagebind_model = importlib.import_module("video_llama.models.ImageBind.models.imagebind_model")
ModalityType = imagebind_model.ModalityType
ns = {"torch": torch, "nn": nn, "ModalityType": ModalityType, "BertConfig": Qformer.BertConfig, "BertLMHeadModel": Qformer.BertLMHeadModel,
      "create_eva_vit_g": eva_vit.create_eva_vit_g, "einops": importlib.import_module("einops")}
upstream_defs("video_llama/models/blip2.py", ["LayerNorm", "Blip2Base.init_Qformer", "Blip2Base.init_vision_encoder"], ns)
upstream_defs("lego/LEGO.py", ["LEGOLlamaModel.init_video_Qformer", "LEGOLlamaModel.encode_videoQformer_visual",
                               "LEGOLlamaModel.encode_audioQformer"], ns)


def strip_text_parts(qf):
    # LEGO.py: the Q-Formers' text parts are deleted (only the query path exists in the checkpoint)
    qf.cls = None
    qf.bert.embeddings.word_embeddings = None
    qf.bert.embeddings.position_embeddings = None
    for layer in qf.bert.encoder.layer:
        layer.output = None
        layer.intermediate = None


class Stages:
    """Wall time of named modules through forward pre/post hooks (first entry to last exit)."""

    def __init__(self):
        self.t = {}

    def watch(self, name, module):
        def pre(m, inp):
            self.t.setdefault(name, [time.perf_counter(), None])

        def post(m, inp, out):
            self.t[name][1] = time.perf_counter()

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def take(self):
        out = {k: v[1] - v[0] for k, v in self.t.items() if v[1] is not None}
        self.t = {}
        return out


H = 4096  # LLaMA-7B hidden size (llama_proj output)
holder = nn.Module()
stages = Stages()
t_build = time.perf_counter()
if args.tower == "video":
    # lego/LEGO.py lines 32-46
    holder.visual_encoder, holder.ln_vision = ns["init_vision_encoder"](
        None, model_name="eva_clip_g", img_size=224, drop_path_rate=0, use_grad_checkpoint=False, precision="bf16")
    holder.Qformer, holder.query_tokens = ns["init_Qformer"](None, 32, holder.visual_encoder.num_features)
    strip_text_parts(holder.Qformer)
    holder.llama_proj = nn.Linear(holder.Qformer.config.hidden_size, H)
    holder.video_frame_position_embedding = nn.Embedding(64, holder.Qformer.config.hidden_size)
    holder.video_Qformer, holder.video_query_tokens = ns["init_video_Qformer"](
        None, num_query_token=64, vision_width=768, num_hidden_layers=2)
    strip_text_parts(holder.video_Qformer)
    stages.watch("eva", holder.visual_encoder)
    stages.watch("ln_vision", holder.ln_vision)
    stages.watch("qformer", holder.Qformer.bert)
    stages.watch("video_qformer", holder.video_Qformer.bert)
    stages.watch("llama_proj", holder.llama_proj)
    forward = ns["encode_videoQformer_visual"]

    def make_input(frames):
        # [b, c, t, h, w] normalised pixels (content does not change the work)
        return torch.randn(1, 3, frames, 224, 224)
else:
    # lego/LEGO.py lines 50-61 (the checkpoint load is skipped: random weights)
    holder.audio_encoder, holder.audio_hidden_size = imagebind_model.imagebind_huge()
    # the other modalities are built as upstream does, then dropped: they never run on this path
    for d in (holder.audio_encoder.modality_preprocessors, holder.audio_encoder.modality_trunks,
              holder.audio_encoder.modality_heads, holder.audio_encoder.modality_postprocessors):
        for k in list(d.keys()):
            if k != "audio":
                del d[k]
    holder.audio_Qformer, holder.audio_query_tokens = ns["init_video_Qformer"](
        None, num_query_token=8, vision_width=1024, num_hidden_layers=2)
    strip_text_parts(holder.audio_Qformer)
    holder.audio_llama_proj = nn.Linear(holder.audio_Qformer.config.hidden_size, H)
    holder.audio_position_embedding = nn.Embedding(8, 1024)
    enc = holder.audio_encoder
    stages.watch("preprocessor", enc.modality_preprocessors["audio"])
    stages.watch("trunk", enc.modality_trunks["audio"])
    for m in enc.modality_heads["audio"]:  # get_audio_feature calls slices of this Sequential
        stages.watch("head", m)
    stages.watch("postprocessor", enc.modality_postprocessors["audio"])
    stages.watch("audio_qformer", holder.audio_Qformer.bert)
    stages.watch("audio_llama_proj", holder.audio_llama_proj)

    def forward(h, audio):
        return ns["encode_audioQformer"](h, audio, modality_type=ModalityType.AUDIO)

    def make_input(frames):
        # [B, S=3 clips, 1, 128 mels, 204 frames] normalised fbank
        return torch.randn(1, 3, 1, 128, 204)
holder.eval()
build_s = time.perf_counter() - t_build
n_params = sum(p.numel() for p in holder.parameters())

runs = []
with torch.no_grad():
    warm = make_input(args.warmup_frames if args.tower == "video" else 0)
    t0 = time.perf_counter()
    out, _ = forward(holder, warm)
    warm_s = time.perf_counter() - t0
    stages.take()
    x = make_input(args.frames)

    def timed_run():
        t0 = time.perf_counter()
        o, _ = forward(holder, x)
        runs.append({"total_s": time.perf_counter() - t0, "stages_s": stages.take()})
        return o

    if args.serve:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            out = timed_run()
            print(json.dumps(runs[-1]), flush=True)
    else:
        for r in range(args.reps):
            out = timed_run()
            print(f"[upstream {args.tower}] run {r + 1}/{args.reps}: {runs[-1]['total_s']:.2f} s", file=sys.stderr, flush=True)

print(json.dumps({
    "tower": args.tower,
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    "blas_libs": sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l}),
    "params": n_params,
    "build_s": build_s,
    "warmup": {"frames": args.warmup_frames if args.tower == "video" else None, "s": warm_s},
    "input_shape": list(x.shape),
    "output_shape": list(out.shape),
    "runs": runs,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
