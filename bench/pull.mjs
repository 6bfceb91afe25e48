#!/usr/bin/env node
// Pull benchmark (by hand, never in CI; docs/PULL.md "Benchmark"): a random-weight checkpoint with
// GroundingGPT-7B's layout and sizes, written the way zwli/GroundingGPT ships it (torch zip+pickle
// shards pytorch_model-0000k-of-0000n.bin of at most 10 GB, as transformers 4.34's save_pretrained
// cuts them, + pytorch_model.bin.index.json; every ImageBind modality included) and a CLIP
// ViT-L/14-336 folder (model.safetensors, f32, text tower included), served by the tests' mock Hub
// (test/helpers/mock-hub.ts, in its own process) with a bandwidth cap. Measured, each in a child
// process: the download alone (the same downloader, no conversion), then pull() with
// keepSource: false: wall time, peak RSS of the pulling process, peak disk of the HF cache + the
// model home (allocated blocks, sampled every 250 ms).
//
//   node bench/pull.mjs [--data /work/bench-data] [--rate-mb 200] [--type q4_k_m] [--layers 32]
//                       [--shard-gb 10] [--steps gen,download,pull] [--clean]
// --verify also runs convert() on the served folders and compares its files with the pull's
// (sha256). --clean removes the generated checkpoint and every download at the end (they are tens of GB).
// Needs a built lib/ (npm run compile:ts) and the addon.
// (Over 500 lines: the checkpoint writer (tensor list, torch zip, safetensors) and the measurement
// are one by-hand tool.)
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fail, load1, lscpuSummary, memory, parseArgs, root, writeResult } from './common.mjs';

const USAGE = 'node bench/pull.mjs [--data dir] [--rate-mb 200] [--type q4_k_m] [--layers 32] [--shard-gb 10] [--steps gen,download,pull] [--verify] [--clean]';
const MODEL_REPO = 'zwli/GroundingGPT';
const CLIP_REPO = 'openai/clip-vit-large-patch14-336';
const tinyDir = path.resolve(root, '..', 'shared', 'golden', 'tiny');

// ---- the mock Hub, transpiled from the tests' TypeScript -------------------------------------------
async function loadMockHub() {
  const ts = (await import('typescript')).default;
  const src = fs.readFileSync(path.join(root, 'test', 'helpers', 'mock-hub.ts'), 'utf8');
  const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = path.join(os.tmpdir(), `ggpt-mock-hub-${process.pid}.mjs`);
  fs.writeFileSync(file, out);
  try {
    return await import(file);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

// ---- the checkpoint ----------------------------------------------------------------------------------
/** State-dict order of LEGO's save_pretrained: LlamaModel (embed, layers, norm), the towers, lm_head last. */
function modelTensors(nLayer) {
  const L = { n_vocab: 32009, n_embd: 4096, n_ff: 11008, n_layer: nLayer };
  const t = [];
  const put = (name, shape) => t.push({ name, shape, dtype: 'F16' });
  put('model.embed_tokens.weight', [L.n_vocab, L.n_embd]);
  for (let i = 0; i < L.n_layer; i++) {
    const p = `model.layers.${i}`;
    put(`${p}.self_attn.q_proj.weight`, [L.n_embd, L.n_embd]);
    put(`${p}.self_attn.k_proj.weight`, [L.n_embd, L.n_embd]);
    put(`${p}.self_attn.v_proj.weight`, [L.n_embd, L.n_embd]);
    put(`${p}.self_attn.o_proj.weight`, [L.n_embd, L.n_embd]);
    put(`${p}.mlp.gate_proj.weight`, [L.n_ff, L.n_embd]);
    put(`${p}.mlp.up_proj.weight`, [L.n_ff, L.n_embd]);
    put(`${p}.mlp.down_proj.weight`, [L.n_embd, L.n_ff]);
    put(`${p}.input_layernorm.weight`, [L.n_embd]);
    put(`${p}.post_attention_layernorm.weight`, [L.n_embd]);
  }
  put('model.norm.weight', [L.n_embd]);
  put('model.mm_vision_projector.0.weight', [L.n_embd, 1024]);
  put('model.mm_vision_projector.0.bias', [L.n_embd]);
  put('model.mm_vision_projector.2.weight', [L.n_embd, L.n_embd]);
  put('model.mm_vision_projector.2.bias', [L.n_embd]);
  // EVA ViT-g (39 blocks), ln_vision
  const E = { n_embd: 1408, n_ff: 6144, n_layer: 39 };
  const ve = 'model.visual_encoder';
  put(`${ve}.cls_token`, [1, 1, E.n_embd]);
  put(`${ve}.pos_embed`, [1, 257, E.n_embd]);
  put(`${ve}.patch_embed.proj.weight`, [E.n_embd, 3, 14, 14]);
  put(`${ve}.patch_embed.proj.bias`, [E.n_embd]);
  for (let i = 0; i < E.n_layer; i++) {
    const p = `${ve}.blocks.${i}`;
    for (const n of ['norm1', 'norm2']) {
      put(`${p}.${n}.weight`, [E.n_embd]);
      put(`${p}.${n}.bias`, [E.n_embd]);
    }
    put(`${p}.attn.qkv.weight`, [3 * E.n_embd, E.n_embd]);
    put(`${p}.attn.q_bias`, [E.n_embd]);
    put(`${p}.attn.v_bias`, [E.n_embd]);
    put(`${p}.attn.proj.weight`, [E.n_embd, E.n_embd]);
    put(`${p}.attn.proj.bias`, [E.n_embd]);
    put(`${p}.mlp.fc1.weight`, [E.n_ff, E.n_embd]);
    put(`${p}.mlp.fc1.bias`, [E.n_ff]);
    put(`${p}.mlp.fc2.weight`, [E.n_embd, E.n_ff]);
    put(`${p}.mlp.fc2.bias`, [E.n_embd]);
  }
  put('model.ln_vision.weight', [E.n_embd]);
  put('model.ln_vision.bias', [E.n_embd]);
  // Q-Formers (BLIP-2 12 layers with cross-attention every 2nd; video and audio ones 2 layers)
  const Q = { n_embd: 768, n_ff: 3072 };
  const qfs = [
    ['model.Qformer.bert', 'model.query_tokens', 12, 2, 32, E.n_embd],
    ['model.video_Qformer.bert', 'model.video_query_tokens', 2, 1, 64, Q.n_embd],
    ['model.audio_Qformer.bert', 'model.audio_query_tokens', 2, 1, 8, 1024],
  ];
  for (const [bert, query, nLayer, freq, nQuery, kv] of qfs) {
    put(query, [1, nQuery, Q.n_embd]);
    put(`${bert}.embeddings.LayerNorm.weight`, [Q.n_embd]);
    put(`${bert}.embeddings.LayerNorm.bias`, [Q.n_embd]);
    t.push({ name: `${bert}.embeddings.position_ids`, shape: [1, 512], dtype: 'I64' });
    for (let i = 0; i < nLayer; i++) {
      const p = `${bert}.encoder.layer.${i}`;
      const attn = (a, kvw) => {
        put(`${p}.${a}.self.query.weight`, [Q.n_embd, Q.n_embd]);
        put(`${p}.${a}.self.query.bias`, [Q.n_embd]);
        put(`${p}.${a}.self.key.weight`, [Q.n_embd, kvw]);
        put(`${p}.${a}.self.key.bias`, [Q.n_embd]);
        put(`${p}.${a}.self.value.weight`, [Q.n_embd, kvw]);
        put(`${p}.${a}.self.value.bias`, [Q.n_embd]);
        put(`${p}.${a}.output.dense.weight`, [Q.n_embd, Q.n_embd]);
        put(`${p}.${a}.output.dense.bias`, [Q.n_embd]);
        put(`${p}.${a}.output.LayerNorm.weight`, [Q.n_embd]);
        put(`${p}.${a}.output.LayerNorm.bias`, [Q.n_embd]);
      };
      attn('attention', Q.n_embd);
      if (i % freq === 0) attn('crossattention', kv);
      put(`${p}.intermediate_query.dense.weight`, [Q.n_ff, Q.n_embd]);
      put(`${p}.intermediate_query.dense.bias`, [Q.n_ff]);
      put(`${p}.output_query.dense.weight`, [Q.n_embd, Q.n_ff]);
      put(`${p}.output_query.dense.bias`, [Q.n_embd]);
      put(`${p}.output_query.LayerNorm.weight`, [Q.n_embd]);
      put(`${p}.output_query.LayerNorm.bias`, [Q.n_embd]);
    }
  }
  put('model.video_frame_position_embedding.weight', [64, Q.n_embd]);
  put('model.llama_proj.weight', [L.n_embd, Q.n_embd]);
  put('model.llama_proj.bias', [L.n_embd]);
  // ImageBind-Huge, every modality (only audio is converted)
  const ib = 'model.audio_encoder';
  const trunk = (mod, d, ff, n) => {
    for (let i = 0; i < n; i++) {
      const p = `${ib}.modality_trunks.${mod}.blocks.${i}`;
      for (const x of ['norm_1', 'norm_2']) {
        put(`${p}.${x}.weight`, [d]);
        put(`${p}.${x}.bias`, [d]);
      }
      put(`${p}.attn.in_proj_weight`, [3 * d, d]);
      put(`${p}.attn.in_proj_bias`, [3 * d]);
      if (mod !== 'vision' && mod !== 'text') {
        put(`${p}.attn.bias_k`, [1, 1, d]);
        put(`${p}.attn.bias_v`, [1, 1, d]);
      }
      put(`${p}.attn.out_proj.weight`, [d, d]);
      put(`${p}.attn.out_proj.bias`, [d]);
      put(`${p}.mlp.fc1.weight`, [ff, d]);
      put(`${p}.mlp.fc1.bias`, [ff]);
      put(`${p}.mlp.fc2.weight`, [d, ff]);
      put(`${p}.mlp.fc2.bias`, [d]);
    }
  };
  put(`${ib}.modality_preprocessors.vision.cls_token`, [1, 1, 1280]);
  put(`${ib}.modality_preprocessors.vision.rgbt_stem.proj.1.weight`, [1280, 3, 2, 14, 14]);
  put(`${ib}.modality_preprocessors.vision.pos_embedding_helper.pos_embed`, [1, 257, 1280]);
  put(`${ib}.modality_preprocessors.text.token_embedding.weight`, [49408, 1024]);
  put(`${ib}.modality_preprocessors.text.pos_embed`, [1, 77, 1024]);
  put(`${ib}.modality_preprocessors.audio.cls_token`, [1, 1, 768]);
  put(`${ib}.modality_preprocessors.audio.pos_embedding_helper.pos_embed`, [1, 229, 768]);
  put(`${ib}.modality_preprocessors.audio.rgbt_stem.proj.weight`, [768, 1, 16, 16]);
  put(`${ib}.modality_preprocessors.audio.rgbt_stem.norm_layer.weight`, [768]);
  put(`${ib}.modality_preprocessors.audio.rgbt_stem.norm_layer.bias`, [768]);
  put(`${ib}.modality_preprocessors.depth.cls_token`, [1, 1, 384]);
  put(`${ib}.modality_preprocessors.depth.depth_stem.proj.weight`, [384, 1, 16, 16]);
  put(`${ib}.modality_preprocessors.thermal.cls_token`, [1, 1, 768]);
  put(`${ib}.modality_preprocessors.thermal.rgbt_stem.proj.weight`, [768, 1, 16, 16]);
  put(`${ib}.modality_preprocessors.imu.cls_token`, [1, 1, 512]);
  put(`${ib}.modality_preprocessors.imu.imu_stem.proj.weight`, [512, 48]);
  trunk('vision', 1280, 5120, 32);
  trunk('text', 1024, 4096, 24);
  trunk('audio', 768, 3072, 12);
  trunk('depth', 384, 1536, 12);
  trunk('thermal', 768, 3072, 12);
  trunk('imu', 512, 2048, 6);
  for (const [mod, d] of [
    ['vision', 1280],
    ['text', 1024],
    ['audio', 768],
    ['depth', 384],
    ['thermal', 768],
    ['imu', 512],
  ]) {
    put(`${ib}.modality_heads.${mod}.0.weight`, [d]);
    put(`${ib}.modality_heads.${mod}.0.bias`, [d]);
    put(`${ib}.modality_heads.${mod}.2.weight`, [1024, d]);
  }
  t.push({ name: `${ib}.modality_postprocessors.audio.1.log_logit_scale`, shape: [], dtype: 'F32', value: Math.log(20) });
  put('model.audio_position_embedding.weight', [8, 1024]);
  put('model.audio_llama_proj.weight', [L.n_embd, Q.n_embd]);
  put('model.audio_llama_proj.bias', [L.n_embd]);
  put('lm_head.weight', [L.n_vocab, L.n_embd]);
  return t;
}

function clipTensors() {
  const t = [];
  const put = (name, shape) => t.push({ name, shape, dtype: 'F32' });
  const tower = (pre, d, ff, n) => {
    for (let i = 0; i < n; i++) {
      const p = `${pre}.encoder.layers.${i}`;
      for (const x of ['layer_norm1', 'layer_norm2']) {
        put(`${p}.${x}.weight`, [d]);
        put(`${p}.${x}.bias`, [d]);
      }
      for (const x of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
        put(`${p}.self_attn.${x}.weight`, [d, d]);
        put(`${p}.self_attn.${x}.bias`, [d]);
      }
      put(`${p}.mlp.fc1.weight`, [ff, d]);
      put(`${p}.mlp.fc1.bias`, [ff]);
      put(`${p}.mlp.fc2.weight`, [d, ff]);
      put(`${p}.mlp.fc2.bias`, [d]);
    }
  };
  put('logit_scale', []);
  put('text_model.embeddings.token_embedding.weight', [49408, 768]);
  put('text_model.embeddings.position_embedding.weight', [77, 768]);
  tower('text_model', 768, 3072, 12);
  put('text_model.final_layer_norm.weight', [768]);
  put('text_model.final_layer_norm.bias', [768]);
  put('text_projection.weight', [768, 768]);
  put('vision_model.embeddings.class_embedding', [1024]);
  put('vision_model.embeddings.patch_embedding.weight', [1024, 3, 14, 14]);
  put('vision_model.embeddings.position_embedding.weight', [577, 1024]);
  put('vision_model.pre_layrnorm.weight', [1024]);
  put('vision_model.pre_layrnorm.bias', [1024]);
  tower('vision_model', 1024, 4096, 24);
  put('vision_model.post_layernorm.weight', [1024]);
  put('vision_model.post_layernorm.bias', [1024]);
  put('visual_projection.weight', [768, 1024]);
  return t;
}

const EL = { F16: 2, F32: 4, I64: 8 };
const numel = (shape) => shape.reduce((a, b) => a * b, 1);

/** 64 MiB of small finite values per dtype; a tensor's bytes are a window into it (fast to write). */
function pools() {
  const n = 16 << 20;
  const f32 = new Float32Array(n);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    f32[i] = ((s >>> 0) / 4294967296 - 0.5) * 0.04;
  }
  const f16 = new Uint16Array(2 * n);
  for (let i = 0; i < 2 * n; i++) {
    // f16 of uniform(-0.02, 0.02): exponent 2^-12..2^-6, random mantissa
    const v = f32[i % n];
    const e = 9 + (i % 5);
    f16[i] = (v < 0 ? 0x8000 : 0) | (e << 10) | (Math.floor(Math.abs(v) * 1e6) & 0x3ff);
  }
  return { F32: Buffer.from(f32.buffer), F16: Buffer.from(f16.buffer) };
}

/** Writes `bytes` bytes of a tensor's data to fd (windows of the pool from an offset derived from its name). */
function writeData(fd, pool, t, pos) {
  if (t.dtype === 'I64') {
    const b = Buffer.alloc(numel(t.shape) * 8);
    for (let i = 0; i < numel(t.shape); i++) b.writeBigInt64LE(BigInt(i), i * 8);
    fs.writeSync(fd, b, 0, b.length, pos);
    return b.length;
  }
  if (t.value !== undefined) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(t.value, 0);
    fs.writeSync(fd, b, 0, 4, pos);
    return 4;
  }
  const p = pool[t.dtype];
  const total = numel(t.shape) * EL[t.dtype];
  let off = (crypto.createHash('md5').update(t.name).digest().readUInt32LE(0) % (p.length / 2)) & ~7;
  let done = 0;
  while (done < total) {
    const n = Math.min(total - done, p.length - off);
    fs.writeSync(fd, p, off, n, pos + done);
    done += n;
    off = 0;
  }
  return total;
}

// A minimal pickle writer (protocol 2) for torch's data.pkl of a flat state dict.
function torchPickle(tensors) {
  const parts = [];
  const op = (...b) => parts.push(Buffer.from(b));
  const str = (s) => {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58; // BINUNICODE
    h.writeUInt32LE(b.length, 1);
    parts.push(h, b);
  };
  const int = (v) => {
    if (v >= 0 && v < 256) op(0x4b, v);
    else if (v >= 0 && v < 65536) op(0x4d, v & 0xff, v >> 8);
    else if (v >= -(2 ** 31) && v < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(v, 1);
      parts.push(b);
    } else {
      const b = Buffer.alloc(10);
      b[0] = 0x8a; // LONG1
      b[1] = 8;
      b.writeBigInt64LE(BigInt(v), 2);
      parts.push(b);
    }
  };
  const global = (m, n) => parts.push(Buffer.from(`c${m}\n${n}\n`, 'latin1'));
  const tuple = (xs) => {
    op(0x28);
    for (const x of xs) int(x);
    op(0x74);
  };
  const STORAGE = { F16: 'HalfStorage', F32: 'FloatStorage', I64: 'LongStorage' };
  op(0x80, 2);
  global('collections', 'OrderedDict');
  op(0x29, 0x52, 0x28);
  tensors.forEach((t, k) => {
    str(t.name);
    global('torch._utils', '_rebuild_tensor_v2');
    op(0x28, 0x28);
    str('storage');
    global('torch', STORAGE[t.dtype]);
    str(String(k));
    str('cpu');
    int(numel(t.shape));
    op(0x74, 0x51);
    int(0);
    tuple(t.shape);
    tuple(t.shape.map((_, d) => numel(t.shape.slice(d + 1))));
    op(0x89);
    global('collections', 'OrderedDict');
    op(0x29, 0x52, 0x74, 0x52);
  });
  op(0x75, 0x2e);
  return Buffer.concat(parts);
}

/**
 * A torch.save zip (torch 2.x): <archive>/data.pkl first, byteorder, the storages data/<key> in
 * torch's order (keys sorted as strings), version; entries stored, data aligned to 64 bytes with
 * an 'FB' padding extra field, ZIP64 records; written in one pass (local headers carry the sizes).
 */
function writeTorchZip(file, tensors, pool) {
  const archive = path.basename(file).replace(/\.[^.]*$/, '');
  const entries = [
    { name: `${archive}/data.pkl`, data: torchPickle(tensors) },
    { name: `${archive}/byteorder`, data: Buffer.from('little') },
    ...tensors
      .map((t, k) => ({ name: `${archive}/data/${k}`, key: String(k), t }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map(({ name, t }) => ({ name, t })),
    { name: `${archive}/version`, data: Buffer.from('3\n') },
  ];
  const fd = fs.openSync(file, 'w');
  const central = [];
  let pos = 0;
  for (const e of entries) {
    const size = e.data ? e.data.length : numel(e.t.shape) * EL[e.t.dtype];
    const nameB = Buffer.from(e.name, 'utf8');
    const z64 = Buffer.alloc(20);
    z64.writeUInt16LE(1, 0);
    z64.writeUInt16LE(16, 2);
    z64.writeBigUInt64LE(BigInt(size), 4);
    z64.writeBigUInt64LE(BigInt(size), 12);
    const base = pos + 30 + nameB.length + z64.length + 4;
    const padLen = (64 - (base % 64)) % 64;
    const pad = Buffer.alloc(4 + padLen);
    pad.writeUInt16LE(0x4246, 0); // 'FB'
    pad.writeUInt16LE(padLen, 2);
    const loc = Buffer.alloc(30);
    loc.writeUInt32LE(0x04034b50, 0);
    loc.writeUInt16LE(45, 4);
    loc.writeUInt32LE(0xffffffff, 18);
    loc.writeUInt32LE(0xffffffff, 22);
    loc.writeUInt16LE(nameB.length, 26);
    loc.writeUInt16LE(z64.length + pad.length, 28);
    const head = Buffer.concat([loc, nameB, z64, pad]);
    fs.writeSync(fd, head, 0, head.length, pos);
    const dataPos = pos + head.length;
    let crc = 0;
    if (e.data) {
      fs.writeSync(fd, e.data, 0, e.data.length, dataPos);
      crc = zlib.crc32 ? zlib.crc32(e.data) : 0;
    } else writeData(fd, pool, e.t, dataPos);
    // the CRC of the big entries is left 0 (nobody checks it: torch does not, nor do we)
    const crcB = Buffer.alloc(4);
    crcB.writeUInt32LE(crc >>> 0, 0);
    fs.writeSync(fd, crcB, 0, 4, pos + 14);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(0x02014b50, 0);
    cen.writeUInt16LE(45, 4);
    cen.writeUInt16LE(45, 6);
    cen.writeUInt32LE(crc >>> 0, 16);
    cen.writeUInt32LE(0xffffffff, 20);
    cen.writeUInt32LE(0xffffffff, 24);
    cen.writeUInt16LE(nameB.length, 28);
    const cz = Buffer.alloc(28);
    cz.writeUInt16LE(1, 0);
    cz.writeUInt16LE(24, 2);
    cz.writeBigUInt64LE(BigInt(size), 4);
    cz.writeBigUInt64LE(BigInt(size), 12);
    cz.writeBigUInt64LE(BigInt(pos), 20);
    cen.writeUInt16LE(cz.length, 30);
    cen.writeUInt32LE(0xffffffff, 42);
    central.push(cen, nameB, cz);
    pos = dataPos + size;
  }
  const cd = Buffer.concat(central);
  const rec = Buffer.alloc(56);
  rec.writeUInt32LE(0x06064b50, 0);
  rec.writeBigUInt64LE(44n, 4);
  rec.writeUInt16LE(45, 12);
  rec.writeUInt16LE(45, 14);
  rec.writeBigUInt64LE(BigInt(entries.length), 24);
  rec.writeBigUInt64LE(BigInt(entries.length), 32);
  rec.writeBigUInt64LE(BigInt(cd.length), 40);
  rec.writeBigUInt64LE(BigInt(pos), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(pos + cd.length), 8);
  locator.writeUInt32LE(1, 16);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  const tail = Buffer.concat([cd, rec, locator, eocd]);
  fs.writeSync(fd, tail, 0, tail.length, pos);
  fs.closeSync(fd);
}

function writeSafetensors(file, tensors, pool) {
  const header = {};
  let off = 0;
  for (const t of tensors) {
    const n = numel(t.shape) * EL[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const fd = fs.openSync(file, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeSync(fd, len, 0, 8, 0);
  fs.writeSync(fd, json, 0, json.length, 8);
  let pos = 8 + json.length;
  for (const t of tensors) pos += t.value !== undefined || t.name === 'logit_scale' ? writeScalar(fd, pos) : writeData(fd, pool, t, pos);
  fs.closeSync(fd);
}

function writeScalar(fd, pos) {
  const b = Buffer.alloc(4);
  b.writeFloatLE(Math.log(100), 0);
  fs.writeSync(fd, b, 0, 4, pos);
  return 4;
}

/** The two folders under <data>/src; a stamp file records what was generated. */
function generate(srcRoot, nLayer, shardGb) {
  const stamp = path.join(srcRoot, 'stamp.json');
  const want = { version: 1, nLayer, shardGb };
  try {
    if (JSON.stringify(JSON.parse(fs.readFileSync(stamp, 'utf8'))) === JSON.stringify(want)) {
      console.log(`checkpoint already in ${srcRoot}`);
      return;
    }
  } catch {
    // not generated yet
  }
  fs.rmSync(srcRoot, { recursive: true, force: true });
  const modelDir = path.join(srcRoot, 'groundinggpt');
  const clipDir = path.join(srcRoot, 'clip');
  fs.mkdirSync(modelDir, { recursive: true });
  fs.mkdirSync(clipDir, { recursive: true });
  const t0 = Date.now();
  const pool = pools();
  const tiny = path.join(tinyDir, 'groundinggpt');
  for (const f of ['tokenizer.model', 'tokenizer_config.json', 'added_tokens.json', 'special_tokens_map.json', 'generation_config.json']) {
    fs.copyFileSync(path.join(tiny, f), path.join(modelDir, f));
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(tiny, 'config.json'), 'utf8'));
  Object.assign(cfg, {
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: nLayer,
    num_attention_heads: 32,
    num_key_value_heads: 32,
    max_position_embeddings: 4096,
    mm_vision_hidden_size: 1024,
    vocab_size: 32009,
    torch_dtype: 'float16',
  });
  fs.writeFileSync(path.join(modelDir, 'config.json'), JSON.stringify(cfg, null, 2));
  // shards as transformers' shard_checkpoint cuts them: a new shard when the next tensor would pass 10 GB
  const tensors = modelTensors(nLayer);
  const shards = [[]];
  let size = 0;
  for (const t of tensors) {
    const n = numel(t.shape) * EL[t.dtype];
    if (size + n > shardGb * 1e9 && shards.at(-1).length) {
      shards.push([]);
      size = 0;
    }
    shards.at(-1).push(t);
    size += n;
  }
  const names = shards.map((_, i) => `pytorch_model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.bin`);
  const weightMap = {};
  shards.forEach((s, i) => {
    for (const t of s) weightMap[t.name] = names[i];
  });
  const total = tensors.reduce((a, t) => a + numel(t.shape) * EL[t.dtype], 0);
  fs.writeFileSync(path.join(modelDir, 'pytorch_model.bin.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  shards.forEach((s, i) => {
    console.log(`writing ${names[i]} (${s.length} tensors)`);
    writeTorchZip(path.join(modelDir, names[i]), s, pool);
  });
  const clipCfg = JSON.parse(fs.readFileSync(path.join(tinyDir, 'clip', 'config.json'), 'utf8'));
  Object.assign(clipCfg.vision_config, { hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16 });
  fs.writeFileSync(path.join(clipDir, 'config.json'), JSON.stringify(clipCfg, null, 2));
  fs.copyFileSync(path.join(tinyDir, 'clip', 'preprocessor_config.json'), path.join(clipDir, 'preprocessor_config.json'));
  console.log('writing clip/model.safetensors');
  writeSafetensors(path.join(clipDir, 'model.safetensors'), clipTensors(), pool);
  fs.writeFileSync(stamp, JSON.stringify(want));
  console.log(`generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

// ---- the Hub process ---------------------------------------------------------------------------------
async function serve(srcRoot, rateMB) {
  const { MockHub, hashFile } = await loadMockHub();
  const hub = new MockHub();
  hub.bytesPerSecond = rateMB * 1e6;
  const hashesFile = path.join(srcRoot, 'hashes.json');
  let hashes = {};
  try {
    hashes = JSON.parse(fs.readFileSync(hashesFile, 'utf8'));
  } catch {
    // first run
  }
  const add = (repo, dir) => {
    const known = {};
    for (const f of fs.readdirSync(dir)) {
      const key = path.join(dir, f);
      const st = fs.statSync(key);
      if (!hashes[key] || hashes[key].size !== st.size || hashes[key].mtimeMs !== st.mtimeMs) hashes[key] = { ...hashFile(key), mtimeMs: st.mtimeMs };
      known[f] = hashes[key];
    }
    hub.addRepo(repo, dir, { hashes: known });
  };
  add(MODEL_REPO, path.join(srcRoot, 'groundinggpt'));
  add(CLIP_REPO, path.join(srcRoot, 'clip'));
  fs.writeFileSync(hashesFile, JSON.stringify(hashes));
  const url = await hub.start();
  process.stdout.write(`${JSON.stringify({ url })}\n`);
  process.on('message', (m) => {
    if (m === 'bytes') process.send({ bytes: hub.bytesServed });
  });
}

// ---- the measured children -----------------------------------------------------------------------------
async function childDownload(endpoint) {
  const hub = await import(path.join(root, 'lib', 'pull', 'hub.js'));
  const { selectFiles } = await import(path.join(root, 'lib', 'pull', 'index.js'));
  const { getHFHubCachePath } = await import('@huggingface/hub');
  const client = { endpoint, retries: 5, retryBaseMs: 1000, stallTimeoutMs: 30_000 };
  const cache = getHFHubCachePath();
  const t0 = performance.now();
  let bytes = 0;
  for (const [repo, side] of [
    [MODEL_REPO, ['config.json', 'generation_config.json', 'tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json']],
    [CLIP_REPO, ['config.json', 'preprocessor_config.json']],
  ]) {
    const snap = await hub.remoteSnapshot(client, repo, 'main');
    const repoDir = hub.repoCacheDir(cache, repo);
    for (const f of selectFiles(snap.files, side)) {
      const etag = hub.etagOf(f);
      await hub.downloadBlob(client, repo, snap.commit, f, path.join(repoDir, 'blobs', etag), (n) => {
        bytes += n;
      });
      hub.linkSnapshot(repoDir, snap.commit, f.path, etag);
    }
  }
  return { seconds: (performance.now() - t0) / 1000, bytes, peakRssMiB: memory().hwmMiB };
}

async function childPull(endpoint, type) {
  const { pull } = await import(path.join(root, 'lib', 'pull', 'index.js'));
  const t0 = performance.now();
  const marks = {};
  let lastStage = '';
  const r = await pull({
    endpoint,
    type,
    keepSource: false,
    onProgress: (p) => {
      const stage = p.stage === 'convert' ? `convert:${p.convert?.stage}` : p.stage;
      if (stage !== lastStage) {
        lastStage = stage;
        marks[stage] ??= (performance.now() - t0) / 1000;
      }
      if (p.stage === 'download' && p.fileBytes === p.fileTotal) marks[`file:${p.file}`] = (performance.now() - t0) / 1000;
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const peakRssMiB = memory().hwmMiB;
  const bytes = Object.fromEntries(['llm.gguf', 'encoders.gguf'].map((f) => [f, fs.statSync(path.join(r.dir, f)).size]));
  let identical;
  if (process.env.GGPT_BENCH_VERIFY) {
    // --verify: convert() on the served folders must give the same bytes as the pull
    const { convert } = await import(path.join(root, 'lib', 'convert', 'index.js'));
    const ref = path.join(process.env.GGPT_BENCH_VERIFY, 'reference');
    const src = path.join(process.env.GGPT_BENCH_VERIFY, 'src');
    await convert({ model: path.join(src, 'groundinggpt'), clip: path.join(src, 'clip'), out: ref, type });
    const { hashFile } = await loadMockHub();
    const digest = (f) => hashFile(f).sha256;
    identical = ['llm.gguf', 'encoders.gguf', 'manifest.json'].every((f) => digest(path.join(r.dir, f)) === digest(path.join(ref, f)));
    fs.rmSync(ref, { recursive: true, force: true });
  }
  return { seconds, downloaded: r.downloaded, output: bytes, marks, peakRssMiB, identical };
}

/** Allocated bytes under the given folders (st.blocks: what the disk really holds). */
function diskUse(dirs) {
  let n = 0;
  const walk = (d) => {
    let es;
    try {
      es = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of es) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        try {
          n += fs.statSync(p).blocks * 512;
        } catch {
          // removed meanwhile
        }
      }
    }
  };
  for (const d of dirs) walk(d);
  return n;
}

function runChild(mode, env, dirs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bench', 'pull.mjs'), ...process.argv.slice(2), '--child', mode], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let peakDisk = 0;
    const loads = [];
    const timer = setInterval(() => {
      peakDisk = Math.max(peakDisk, diskUse(dirs));
      loads.push(load1());
    }, 250);
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`${mode} child exited with ${code}`));
      const res = JSON.parse(out.trim().split('\n').at(-1));
      resolve({ ...res, peakDiskBytes: peakDisk, load1Mean: loads.reduce((a, b) => a + b, 0) / Math.max(1, loads.length) });
    });
  });
}

async function main() {
  const childIdx = process.argv.indexOf('--child');
  const argv = childIdx >= 0 ? process.argv.slice(0, childIdx) : process.argv;
  process.argv = argv;
  const a = parseArgs(
    { data: '/work/bench-data', rateMb: 200, type: 'q4_k_m', layers: 32, shardGb: 10, steps: 'gen,download,pull', clean: false, verify: false },
    USAGE,
  );
  const srcRoot = path.join(a.data, 'src');
  if (childIdx >= 0) {
    const mode = process.env.GGPT_BENCH_CHILD;
    const endpoint = process.env.HF_ENDPOINT;
    const res = mode === 'serve' ? await serve(srcRoot, a.rateMb) : mode === 'download' ? await childDownload(endpoint) : await childPull(endpoint, a.type);
    if (res) process.stdout.write(`${JSON.stringify(res)}\n`);
    return;
  }
  const steps = new Set(a.steps.split(','));
  if (steps.has('gen')) generate(srcRoot, a.layers, a.shardGb);
  const srcBytes = diskUse([path.join(srcRoot, 'groundinggpt'), path.join(srcRoot, 'clip')]);
  const result = { machine: lscpuSummary(), cpus: os.cpus().length, rateMB: a.rateMb, type: a.type, layers: a.layers, sourceBytes: srcBytes };
  // the Hub in its own process (its CPU and memory are not the pull's)
  const hubProc = spawn(process.execPath, [path.join(root, 'bench', 'pull.mjs'), ...process.argv.slice(2), '--child', 'serve'], {
    env: { ...process.env, GGPT_BENCH_CHILD: 'serve' },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    hubProc.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line).url);
    });
    hubProc.on('exit', (c) => reject(new Error(`hub exited with ${c}`)));
  });
  console.log(`mock Hub at ${url}, ${a.rateMb} MB/s`);
  const work = path.join(a.data, 'work');
  try {
    for (const step of ['download', 'pull']) {
      if (!steps.has(step)) continue;
      fs.rmSync(work, { recursive: true, force: true });
      const env = {
        GGPT_BENCH_CHILD: step,
        HF_ENDPOINT: url,
        HF_HOME: path.join(work, 'hf'),
        GROUNDINGGPT_HOME: path.join(work, 'models'),
        HF_HUB_OFFLINE: '',
        GGPT_BENCH_VERIFY: a.verify ? a.data : '',
      };
      console.log(`${step}...`);
      const r = await runChild(step, env, [path.join(work, 'hf'), path.join(work, 'models')]);
      result[step] = r;
      console.log(JSON.stringify(r));
    }
  } finally {
    hubProc.kill();
    if (a.clean) fs.rmSync(a.data, { recursive: true, force: true });
    else fs.rmSync(work, { recursive: true, force: true });
  }
  if (result.download && result.pull) {
    const out = result.pull.output['llm.gguf'] + result.pull.output['encoders.gguf'];
    result.summary = {
      downloadSeconds: result.download.seconds,
      pullSeconds: result.pull.seconds,
      ratio: result.pull.seconds / result.download.seconds,
      pullPeakRssMiB: result.pull.peakRssMiB,
      peakDiskGB: result.pull.peakDiskBytes / 1e9,
      outputGB: out / 1e9,
      peakDiskOverOutput: result.pull.peakDiskBytes / out,
    };
    console.log(JSON.stringify(result.summary, null, 2));
  }
  writeResult('pull', result);
}

main().catch((err) => fail(err.stack ?? String(err)));
