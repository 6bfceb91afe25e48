/**
 * SentencePiece `tokenizer.model` (a serialized sentencepiece.ModelProto, protobuf wire format)
 * parsed without a protobuf library. Only what a llama-style GGUF vocabulary needs is kept.
 * Field numbers: sentencepiece_model.proto (ModelProto.pieces = 1, trainer_spec = 2,
 * normalizer_spec = 3; SentencePiece.piece = 1, score = 2, type = 3; TrainerSpec.model_type = 3,
 * vocab_size = 4, byte_fallback = 35, unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43;
 * NormalizerSpec.name = 1, add_dummy_prefix = 3, remove_extra_whitespaces = 4).
 */
import fs from 'node:fs';
import { ConversionError } from '../errors';

/** SentencePiece.Type (same numbering as llama.cpp's token types). */
export enum PieceType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

export interface SentencePieceModel {
  pieces: { piece: string; score: number; type: PieceType }[];
  /** 1 unigram, 2 BPE, 3 word, 4 char */
  modelType: number;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  normalizerName: string;
}

class Wire {
  p = 0;
  constructor(
    readonly b: Buffer,
    readonly end: number,
    readonly file: string,
  ) {}
  fail(): ConversionError {
    return new ConversionError(`${this.file}: corrupt SentencePiece model (protobuf)`, { file: this.file });
  }
  /** A varint as [low 32 bits, high bits as a number]; enough for int32 (negative ids use 10 bytes). */
  varint(): number {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (this.p >= this.end) throw this.fail();
      const c = this.b[this.p++];
      if (shift < 28) lo |= (c & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (c & 0x0f) << 28;
        hi |= (c & 0x7f) >>> 4;
      } else if (shift < 64) hi |= (c & 0x7f) << (shift - 32);
      if (c < 0x80) break;
      shift += 7;
      if (shift > 63) throw this.fail();
    }
    return hi === 0 ? lo >>> 0 : lo | 0; // int32 semantics for the negative ids (-1)
  }
  bytes(): Buffer {
    const n = this.varint();
    if (this.p + n > this.end) throw this.fail();
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.p += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.p += 4;
    else throw this.fail();
    if (this.p > this.end) throw this.fail();
  }
  f32(): number {
    if (this.p + 4 > this.end) throw this.fail();
    const v = this.b.readFloatLE(this.p);
    this.p += 4;
    return v;
  }
  *fields(): Generator<[number, number]> {
    while (this.p < this.end) {
      const key = this.varint();
      yield [key >>> 3, key & 7];
    }
  }
}

export function parseSentencePiece(data: Buffer, file = 'tokenizer.model'): SentencePieceModel {
  const m: SentencePieceModel = {
    pieces: [],
    modelType: 1,
    byteFallback: false,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    normalizerName: 'nmt_nfkc',
  };
  const top = new Wire(data, data.length, file);
  for (const [field, wire] of top.fields()) {
    if (wire !== 2) {
      top.skip(wire);
      continue;
    }
    const sub = top.bytes();
    const w = new Wire(sub, sub.length, file);
    if (field === 1) {
      let piece = '';
      let score = 0;
      let type = PieceType.NORMAL;
      for (const [f, wt] of w.fields()) {
        if (f === 1 && wt === 2) piece = w.bytes().toString('utf8');
        else if (f === 2 && wt === 5) score = w.f32();
        else if (f === 3 && wt === 0) type = w.varint() as PieceType;
        else w.skip(wt);
      }
      m.pieces.push({ piece, score, type });
    } else if (field === 2) {
      for (const [f, wt] of w.fields()) {
        if (wt !== 0) {
          w.skip(wt);
          continue;
        }
        const v = w.varint();
        if (f === 3) m.modelType = v;
        else if (f === 35) m.byteFallback = v !== 0;
        else if (f === 40) m.unkId = v;
        else if (f === 41) m.bosId = v;
        else if (f === 42) m.eosId = v;
        else if (f === 43) m.padId = v;
      }
    } else if (field === 3) {
      for (const [f, wt] of w.fields()) {
        if (f === 1 && wt === 2) m.normalizerName = w.bytes().toString('utf8');
        else if (f === 3 && wt === 0) m.addDummyPrefix = w.varint() !== 0;
        else if (f === 4 && wt === 0) m.removeExtraWhitespaces = w.varint() !== 0;
        else w.skip(wt);
      }
    }
  }
  if (m.pieces.length === 0) throw new ConversionError(`${file}: SentencePiece model has no pieces`, { file });
  return m;
}

export function readSentencePiece(file: string): SentencePieceModel {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new ConversionError(`${file}: cannot read tokenizer model (${(err as Error).message})`, { file, cause: err });
  }
  return parseSentencePiece(data, file);
}
