// Writers for upstream checkpoint formats (safetensors, torch.save zip+pickle) and a random
// GroundingGPT checkpoint in the upstream layout with configurable sizes, for converter tests.
// (Over 500 lines: the writers and the layout they serve change together.)
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as N from '../../src/convert/names';
import { tinyDir } from './golden';

export type TestDType = 'F32' | 'F16' | 'BF16' | 'I64';
export interface TestTensor {
  dtype: TestDType;
  shape: number[];
  /** values in C order (converted to dtype when written) */
  data: Float32Array | BigInt64Array;
}

const ELSIZE: Record<TestDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8 };

function f16bits(x: number): number {
  const f = new Float32Array([x]);
  const b = new Uint32Array(f.buffer)[0];
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  const m = b & 0x7fffff;
  if (e <= 0 || e >= 31) return sign; // test data stays in the normal range
  let h = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Raw little-endian bytes of a test tensor. */
export function tensorBytes(t: TestTensor): Buffer {
  const n = t.data.length;
  const out = Buffer.alloc(n * ELSIZE[t.dtype]);
  for (let i = 0; i < n; i++) {
    switch (t.dtype) {
      case 'F32':
        out.writeFloatLE(t.data[i] as number, i * 4);
        break;
      case 'F16':
        out.writeUInt16LE(f16bits(t.data[i] as number), i * 2);
        break;
      case 'BF16': {
        const f = new Float32Array([t.data[i] as number]);
        out.writeUInt16LE(new Uint32Array(f.buffer)[0] >>> 16, i * 2); // truncation: exact for the test's values
        break;
      }
      case 'I64':
        out.writeBigInt64LE(t.data[i] as bigint, i * 8);
        break;
    }
  }
  return out;
}

/** Float values a tensor holds after the dtype rounding of tensorBytes (what a reader must return). */
export function storedValues(t: TestTensor): Float32Array {
  const b = tensorBytes(t);
  const n = t.data.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (t.dtype === 'F32') out[i] = b.readFloatLE(i * 4);
    else if (t.dtype === 'BF16') out[i] = new Float32Array(new Uint32Array([b.readUInt16LE(i * 2) << 16]).buffer)[0];
    else if (t.dtype === 'I64') out[i] = Number(b.readBigInt64LE(i * 8));
    else {
      const h = b.readUInt16LE(i * 2);
      const e = (h >>> 10) & 0x1f;
      out[i] = (h & 0x8000 ? -1 : 1) * (e === 0 ? (h & 0x3ff) * 2 ** -24 : (1 + (h & 0x3ff) / 1024) * 2 ** (e - 15));
    }
  }
  return out;
}

export function writeSafetensors(file: string, tensors: Map<string, TestTensor>): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const blobs: Buffer[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    const b = tensorBytes(t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + b.length] };
    blobs.push(b);
    off += b.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, ...blobs]));
}

// ---- pickle (protocol 2, the opcodes torch.save writes) ---------------------------------------
class Pickler {
  parts: Buffer[] = [];
  op(...bytes: number[]) {
    this.parts.push(Buffer.from(bytes));
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58; // BINUNICODE
    h.writeUInt32LE(b.length, 1);
    this.parts.push(h, b);
  }
  global(module: string, name: string) {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
  }
  int(v: number) {
    if (v >= 0 && v < 256)
      this.op(0x4b, v); // BININT1
    else if (v >= 0 && v < 65536)
      this.op(0x4d, v & 0xff, v >> 8); // BININT2
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(v, 1);
      this.parts.push(b);
    }
  }
  tuple(items: number[]) {
    this.op(0x28);
    for (const x of items) this.int(x);
    this.op(0x74);
  }
  bytes() {
    return Buffer.concat(this.parts);
  }
}

export interface TorchView {
  /** storage key shared by views of the same storage */
  storage: string;
  dtype: TestDType;
  offset: number;
  shape: number[];
  stride: number[];
}

const STORAGE: Record<TestDType, string> = { F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', I64: 'LongStorage' };

/** A data.pkl for a state dict of views over storages (name -> view). `extra` opcodes go before STOP. */
export function torchPickle(views: Map<string, TorchView>, storageNumel: Map<string, number>, extra: number[] = []): Buffer {
  const p = new Pickler();
  p.op(0x80, 2); // PROTO 2
  p.global('collections', 'OrderedDict');
  p.op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
  p.op(0x28); // MARK
  for (const [name, v] of views) {
    p.str(name);
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.op(0x28); // MARK (args)
    p.op(0x28); // MARK (persistent id)
    p.str('storage');
    p.global('torch', STORAGE[v.dtype]);
    p.str(v.storage);
    p.str('cpu');
    p.int(storageNumel.get(v.storage) as number);
    p.op(0x74, 0x51); // TUPLE, BINPERSID
    p.int(v.offset);
    p.tuple(v.shape);
    p.tuple(v.stride);
    p.op(0x89); // NEWFALSE
    p.global('collections', 'OrderedDict');
    p.op(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE, REDUCE, TUPLE, REDUCE
  }
  p.op(0x75); // SETITEMS
  p.op(...extra);
  p.op(0x2e); // STOP
  return p.bytes();
}

/** A stored (uncompressed) zip; `zip64` forces ZIP64 records and extra fields everywhere. */
export function writeZip(file: string, entries: [string, Buffer][], zip64 = false): void {
  const crc = (b: Buffer) => ((zlib as unknown as { crc32?: (b: Buffer) => number }).crc32?.(b) ?? 0) >>> 0;
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let off = 0;
  for (const [name, data] of entries) {
    const nameB = Buffer.from(name, 'utf8');
    const loc = Buffer.alloc(30);
    loc.writeUInt32LE(0x04034b50, 0);
    loc.writeUInt16LE(zip64 ? 45 : 20, 4);
    loc.writeUInt32LE(crc(data), 14);
    loc.writeUInt32LE(zip64 ? 0xffffffff : data.length, 18);
    loc.writeUInt32LE(zip64 ? 0xffffffff : data.length, 22);
    loc.writeUInt16LE(nameB.length, 26);
    const locExtra = zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
    if (zip64) {
      locExtra.writeUInt16LE(1, 0);
      locExtra.writeUInt16LE(16, 2);
      locExtra.writeBigUInt64LE(BigInt(data.length), 4);
      locExtra.writeBigUInt64LE(BigInt(data.length), 12);
    }
    loc.writeUInt16LE(locExtra.length, 28);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(0x02014b50, 0);
    cen.writeUInt16LE(zip64 ? 45 : 20, 4);
    cen.writeUInt16LE(zip64 ? 45 : 20, 6);
    cen.writeUInt32LE(crc(data), 16);
    cen.writeUInt32LE(zip64 ? 0xffffffff : data.length, 20);
    cen.writeUInt32LE(zip64 ? 0xffffffff : data.length, 24);
    cen.writeUInt16LE(nameB.length, 28);
    const cenExtra = zip64 ? Buffer.alloc(28) : Buffer.alloc(0);
    if (zip64) {
      cenExtra.writeUInt16LE(1, 0);
      cenExtra.writeUInt16LE(24, 2);
      cenExtra.writeBigUInt64LE(BigInt(data.length), 4);
      cenExtra.writeBigUInt64LE(BigInt(data.length), 12);
      cenExtra.writeBigUInt64LE(BigInt(off), 20);
    }
    cen.writeUInt16LE(cenExtra.length, 30);
    cen.writeUInt32LE(zip64 ? 0xffffffff : off, 42);
    parts.push(loc, nameB, locExtra, data);
    central.push(cen, nameB, cenExtra);
    off += loc.length + nameB.length + locExtra.length + data.length;
  }
  const cd = Buffer.concat(central);
  const tail: Buffer[] = [];
  if (zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(off), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(off + cd.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(rec, locator);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : off, 16);
  fs.writeFileSync(file, Buffer.concat([...parts, cd, ...tail, eocd]));
}

/** torch.save-style checkpoint of contiguous tensors (one storage each). */
export function writeTorchCheckpoint(file: string, tensors: Map<string, TestTensor>, options: { zip64?: boolean; extraOps?: number[] } = {}): void {
  const archive = path.basename(file).replace(/\.[^.]*$/, '');
  const views = new Map<string, TorchView>();
  const numels = new Map<string, number>();
  const entries: [string, Buffer][] = [];
  let k = 0;
  for (const [name, t] of tensors) {
    const key = String(k++);
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    views.set(name, { storage: key, dtype: t.dtype, offset: 0, shape: t.shape, stride });
    numels.set(key, t.data.length);
    entries.push([`${archive}/data/${key}`, tensorBytes(t)]);
  }
  entries.unshift([`${archive}/data.pkl`, torchPickle(views, numels, options.extraOps)]);
  entries.push([`${archive}/byteorder`, Buffer.from('little')], [`${archive}/version`, Buffer.from('3\n')]);
  writeZip(file, entries, options.zip64);
}

// ---- deterministic random tensors --------------------------------------------------------------
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

export function randomTensor(shape: number[], rand: () => number, dtype: TestDType = 'F32', scale = 0.1): TestTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  // multiples of 1/1024 in [-scale, scale]: exact in f32, f16 and bf16 for |x| <= 0.25
  for (let i = 0; i < n; i++) data[i] = Math.round((rand() * 2 - 1) * scale * 1024) / 1024;
  return { dtype, shape, data };
}

// ---- a whole random GroundingGPT + CLIP in the upstream layout ----------------------------------
export interface UpstreamSizes {
  llm: { n_embd: number; n_ff: number; n_layer: number; n_head: number; n_head_kv: number };
  clip: { n_embd: number; n_ff: number; n_layer: number; n_head: number };
  eva: { n_embd: number; n_ff: number; n_layer: number };
  qformer: { n_embd: number; n_ff: number; n_layer: number; cross_freq: number };
  vqformer: { n_layer: number; n_query: number };
  aqformer: { n_layer: number; n_query: number };
  imagebind: { n_embd: number; n_ff: number; n_layer: number; out_dim: number };
  max_frames: number;
  sound_token_len: number;
  /** dtype of the LLM's 2D weights */
  llmDtype?: TestDType;
}

export const OTHER_SIZES: UpstreamSizes = {
  llm: { n_embd: 96, n_ff: 200, n_layer: 3, n_head: 6, n_head_kv: 2 },
  clip: { n_embd: 48, n_ff: 96, n_layer: 4, n_head: 3 },
  eva: { n_embd: 88, n_ff: 160, n_layer: 3 },
  qformer: { n_embd: 64, n_ff: 96, n_layer: 3, cross_freq: 2 },
  vqformer: { n_layer: 1, n_query: 16 },
  aqformer: { n_layer: 2, n_query: 4 },
  imagebind: { n_embd: 64, n_ff: 128, n_layer: 1, out_dim: 40 },
  max_frames: 8,
  sound_token_len: 4,
  llmDtype: 'BF16',
};

/**
 * The upstream state dicts of a GroundingGPT model and its CLIP (names as upstream saves them,
 * with the (1, N, D) parameter shapes), random values.
 */
export function upstreamTensors(s: UpstreamSizes, seed = 1): { model: Map<string, TestTensor>; clip: Map<string, TestTensor> } {
  const rand = rng(seed);
  const model = new Map<string, TestTensor>();
  const clip = new Map<string, TestTensor>();
  const nVocab = 1009;
  const L = s.llm;
  const hd = L.n_embd / L.n_head;
  const llmD = s.llmDtype ?? 'F32';
  const put = (m: Map<string, TestTensor>, name: string, shape: number[], dtype: TestDType = 'F32') => m.set(name, randomTensor(shape, rand, dtype));
  put(model, 'model.embed_tokens.weight', [nVocab, L.n_embd], llmD);
  for (let i = 0; i < L.n_layer; i++) {
    const p = `model.layers.${i}`;
    put(model, `${p}.input_layernorm.weight`, [L.n_embd], llmD);
    put(model, `${p}.self_attn.q_proj.weight`, [L.n_embd, L.n_embd], llmD);
    put(model, `${p}.self_attn.k_proj.weight`, [L.n_head_kv * hd, L.n_embd], llmD);
    put(model, `${p}.self_attn.v_proj.weight`, [L.n_head_kv * hd, L.n_embd], llmD);
    put(model, `${p}.self_attn.o_proj.weight`, [L.n_embd, L.n_embd], llmD);
    put(model, `${p}.post_attention_layernorm.weight`, [L.n_embd], llmD);
    put(model, `${p}.mlp.gate_proj.weight`, [L.n_ff, L.n_embd], llmD);
    put(model, `${p}.mlp.up_proj.weight`, [L.n_ff, L.n_embd], llmD);
    put(model, `${p}.mlp.down_proj.weight`, [L.n_embd, L.n_ff], llmD);
  }
  put(model, 'model.norm.weight', [L.n_embd], llmD);
  put(model, 'lm_head.weight', [nVocab, L.n_embd], llmD);

  // CLIP (full CLIPModel: vision tower + a token of the text side that must be ignored)
  const C = s.clip;
  put(clip, 'vision_model.embeddings.class_embedding', [C.n_embd]);
  put(clip, 'vision_model.embeddings.patch_embedding.weight', [C.n_embd, 3, 14, 14]);
  put(clip, 'vision_model.embeddings.position_embedding.weight', [577, C.n_embd]);
  put(clip, 'vision_model.pre_layrnorm.weight', [C.n_embd]);
  put(clip, 'vision_model.pre_layrnorm.bias', [C.n_embd]);
  for (let i = 0; i < C.n_layer; i++) {
    const p = `vision_model.encoder.layers.${i}`;
    for (const n of ['layer_norm1', 'layer_norm2']) {
      put(clip, `${p}.${n}.weight`, [C.n_embd]);
      put(clip, `${p}.${n}.bias`, [C.n_embd]);
    }
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      put(clip, `${p}.self_attn.${n}.weight`, [C.n_embd, C.n_embd]);
      put(clip, `${p}.self_attn.${n}.bias`, [C.n_embd]);
    }
    put(clip, `${p}.mlp.fc1.weight`, [C.n_ff, C.n_embd]);
    put(clip, `${p}.mlp.fc1.bias`, [C.n_ff]);
    put(clip, `${p}.mlp.fc2.weight`, [C.n_embd, C.n_ff]);
    put(clip, `${p}.mlp.fc2.bias`, [C.n_embd]);
  }
  put(clip, 'vision_model.post_layernorm.weight', [C.n_embd]);
  put(clip, 'vision_model.post_layernorm.bias', [C.n_embd]);
  put(clip, 'text_model.embeddings.token_embedding.weight', [16, 8]);
  put(clip, 'logit_scale', [1]);

  put(model, 'model.mm_vision_projector.0.weight', [L.n_embd, C.n_embd]);
  put(model, 'model.mm_vision_projector.0.bias', [L.n_embd]);
  put(model, 'model.mm_vision_projector.2.weight', [L.n_embd, L.n_embd]);
  put(model, 'model.mm_vision_projector.2.bias', [L.n_embd]);

  // EVA
  const E = s.eva;
  const ve = 'model.visual_encoder';
  put(model, `${ve}.cls_token`, [1, 1, E.n_embd]);
  put(model, `${ve}.pos_embed`, [1, 257, E.n_embd]);
  put(model, `${ve}.patch_embed.proj.weight`, [E.n_embd, 3, 14, 14]);
  put(model, `${ve}.patch_embed.proj.bias`, [E.n_embd]);
  for (let i = 0; i < E.n_layer; i++) {
    const p = `${ve}.blocks.${i}`;
    for (const n of ['norm1', 'norm2']) {
      put(model, `${p}.${n}.weight`, [E.n_embd]);
      put(model, `${p}.${n}.bias`, [E.n_embd]);
    }
    put(model, `${p}.attn.qkv.weight`, [3 * E.n_embd, E.n_embd]);
    put(model, `${p}.attn.q_bias`, [E.n_embd]);
    put(model, `${p}.attn.v_bias`, [E.n_embd]);
    put(model, `${p}.attn.proj.weight`, [E.n_embd, E.n_embd]);
    put(model, `${p}.attn.proj.bias`, [E.n_embd]);
    put(model, `${p}.mlp.fc1.weight`, [E.n_ff, E.n_embd]);
    put(model, `${p}.mlp.fc1.bias`, [E.n_ff]);
    put(model, `${p}.mlp.fc2.weight`, [E.n_embd, E.n_ff]);
    put(model, `${p}.mlp.fc2.bias`, [E.n_embd]);
  }
  put(model, 'model.ln_vision.weight', [E.n_embd]);
  put(model, 'model.ln_vision.bias', [E.n_embd]);

  // ImageBind audio (+ one tensor of another modality, which must be ignored)
  const I = s.imagebind;
  const ib = 'model.audio_encoder';
  put(model, `${ib}.modality_preprocessors.audio.cls_token`, [1, 1, I.n_embd]);
  put(model, `${ib}.modality_preprocessors.audio.pos_embedding_helper.pos_embed`, [1, 229, I.n_embd]);
  put(model, `${ib}.modality_preprocessors.audio.rgbt_stem.proj.weight`, [I.n_embd, 1, 16, 16]);
  put(model, `${ib}.modality_preprocessors.audio.rgbt_stem.norm_layer.weight`, [I.n_embd]);
  put(model, `${ib}.modality_preprocessors.audio.rgbt_stem.norm_layer.bias`, [I.n_embd]);
  for (let i = 0; i < I.n_layer; i++) {
    const p = `${ib}.modality_trunks.audio.blocks.${i}`;
    for (const n of ['norm_1', 'norm_2']) {
      put(model, `${p}.${n}.weight`, [I.n_embd]);
      put(model, `${p}.${n}.bias`, [I.n_embd]);
    }
    put(model, `${p}.attn.in_proj_weight`, [3 * I.n_embd, I.n_embd]);
    put(model, `${p}.attn.in_proj_bias`, [3 * I.n_embd]);
    put(model, `${p}.attn.bias_k`, [1, 1, I.n_embd]);
    put(model, `${p}.attn.bias_v`, [1, 1, I.n_embd]);
    put(model, `${p}.attn.out_proj.weight`, [I.n_embd, I.n_embd]);
    put(model, `${p}.attn.out_proj.bias`, [I.n_embd]);
    put(model, `${p}.mlp.fc1.weight`, [I.n_ff, I.n_embd]);
    put(model, `${p}.mlp.fc1.bias`, [I.n_ff]);
    put(model, `${p}.mlp.fc2.weight`, [I.n_embd, I.n_ff]);
    put(model, `${p}.mlp.fc2.bias`, [I.n_embd]);
  }
  put(model, `${ib}.modality_heads.audio.0.weight`, [I.n_embd]);
  put(model, `${ib}.modality_heads.audio.0.bias`, [I.n_embd]);
  put(model, `${ib}.modality_heads.audio.2.weight`, [I.out_dim, I.n_embd]);
  model.set(N.IB_LOG_LOGIT_SCALE_FROM, { dtype: 'F32', shape: [], data: new Float32Array([Math.log(20)]) });
  put(model, `${ib}.modality_trunks.vision.blocks.0.norm_1.weight`, [16]);

  // Q-Formers
  const Q = s.qformer;
  const qfs: [N.QFormerPrefix, number, number, number, number][] = [
    ['qformer', Q.n_layer, Q.cross_freq, 32, E.n_embd],
    ['vqformer', s.vqformer.n_layer, 1, s.vqformer.n_query, Q.n_embd],
    ['aqformer', s.aqformer.n_layer, 1, s.aqformer.n_query, I.out_dim],
  ];
  for (const [qf, nLayer, freq, nQuery, kv] of qfs) {
    const { bert, query } = N.QF_UPSTREAM[qf];
    put(model, query, [1, nQuery, Q.n_embd]);
    put(model, `${bert}.embeddings.LayerNorm.weight`, [Q.n_embd]);
    put(model, `${bert}.embeddings.LayerNorm.bias`, [Q.n_embd]);
    model.set(`${bert}.embeddings.position_ids`, { dtype: 'I64', shape: [1, 8], data: BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]) });
    for (let i = 0; i < nLayer; i++) {
      const p = `${bert}.encoder.layer.${i}`;
      const attn = (a: string, kvw: number) => {
        put(model, `${p}.${a}.self.query.weight`, [Q.n_embd, Q.n_embd]);
        put(model, `${p}.${a}.self.query.bias`, [Q.n_embd]);
        put(model, `${p}.${a}.self.key.weight`, [Q.n_embd, kvw]);
        put(model, `${p}.${a}.self.key.bias`, [Q.n_embd]);
        put(model, `${p}.${a}.self.value.weight`, [Q.n_embd, kvw]);
        put(model, `${p}.${a}.self.value.bias`, [Q.n_embd]);
        put(model, `${p}.${a}.output.dense.weight`, [Q.n_embd, Q.n_embd]);
        put(model, `${p}.${a}.output.dense.bias`, [Q.n_embd]);
        put(model, `${p}.${a}.output.LayerNorm.weight`, [Q.n_embd]);
        put(model, `${p}.${a}.output.LayerNorm.bias`, [Q.n_embd]);
      };
      attn('attention', Q.n_embd);
      if (i % freq === 0) attn('crossattention', kv);
      put(model, `${p}.intermediate_query.dense.weight`, [Q.n_ff, Q.n_embd]);
      put(model, `${p}.intermediate_query.dense.bias`, [Q.n_ff]);
      put(model, `${p}.output_query.dense.weight`, [Q.n_embd, Q.n_ff]);
      put(model, `${p}.output_query.dense.bias`, [Q.n_embd]);
      put(model, `${p}.output_query.LayerNorm.weight`, [Q.n_embd]);
      put(model, `${p}.output_query.LayerNorm.bias`, [Q.n_embd]);
    }
  }
  put(model, 'model.video_frame_position_embedding.weight', [s.max_frames, Q.n_embd]);
  put(model, 'model.llama_proj.weight', [L.n_embd, Q.n_embd]);
  put(model, 'model.llama_proj.bias', [L.n_embd]);
  put(model, 'model.audio_position_embedding.weight', [s.sound_token_len, I.out_dim]);
  put(model, 'model.audio_llama_proj.weight', [L.n_embd, Q.n_embd]);
  put(model, 'model.audio_llama_proj.bias', [L.n_embd]);
  return { model, clip };
}

/**
 * Writes a GroundingGPT directory (config.json, tokenizer files copied from the tiny fixture,
 * weights) and a CLIP directory under `root`. Returns both paths.
 */
export function writeUpstreamModel(
  root: string,
  s: UpstreamSizes,
  options: { seed?: number; format?: 'safetensors' | 'pytorch'; edit?: (t: { model: Map<string, TestTensor>; clip: Map<string, TestTensor> }) => void } = {},
): { model: string; clip: string; tensors: { model: Map<string, TestTensor>; clip: Map<string, TestTensor> } } {
  const modelDir = path.join(root, 'groundinggpt');
  const clipDir = path.join(root, 'clip');
  fs.mkdirSync(modelDir, { recursive: true });
  fs.mkdirSync(clipDir, { recursive: true });
  const src = path.join(tinyDir, 'groundinggpt');
  for (const f of ['tokenizer.model', 'tokenizer_config.json', 'added_tokens.json', 'special_tokens_map.json']) {
    fs.copyFileSync(path.join(src, f), path.join(modelDir, f));
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(cfg, {
    hidden_size: s.llm.n_embd,
    intermediate_size: s.llm.n_ff,
    num_hidden_layers: s.llm.n_layer,
    num_attention_heads: s.llm.n_head,
    num_key_value_heads: s.llm.n_head_kv,
    max_frame: s.max_frames,
    video_token_len: s.vqformer.n_query,
    sound_token_len: s.sound_token_len,
    mm_vision_hidden_size: s.clip.n_embd,
    torch_dtype: s.llmDtype === 'BF16' ? 'bfloat16' : 'float32',
  });
  fs.writeFileSync(path.join(modelDir, 'config.json'), JSON.stringify(cfg, null, 2));
  const clipCfg = JSON.parse(fs.readFileSync(path.join(tinyDir, 'clip', 'config.json'), 'utf8')) as { vision_config: Record<string, unknown> };
  Object.assign(clipCfg.vision_config, {
    hidden_size: s.clip.n_embd,
    intermediate_size: s.clip.n_ff,
    num_hidden_layers: s.clip.n_layer,
    num_attention_heads: s.clip.n_head,
  });
  fs.writeFileSync(path.join(clipDir, 'config.json'), JSON.stringify(clipCfg, null, 2));
  fs.copyFileSync(path.join(tinyDir, 'clip', 'preprocessor_config.json'), path.join(clipDir, 'preprocessor_config.json'));
  const tensors = upstreamTensors(s, options.seed);
  options.edit?.(tensors);
  if (options.format === 'pytorch') {
    writeTorchCheckpoint(path.join(modelDir, 'pytorch_model.bin'), tensors.model);
    writeTorchCheckpoint(path.join(clipDir, 'pytorch_model.bin'), tensors.clip);
  } else {
    writeSafetensors(path.join(modelDir, 'model.safetensors'), tensors.model);
    writeSafetensors(path.join(clipDir, 'model.safetensors'), tensors.clip);
  }
  return { model: modelDir, clip: clipDir, tensors };
}
