// A "rigged" tiny model whose greedy answer is a chosen sentence, for end-to-end tests of what
// happens after generation (box/span parsing, pixel mapping, drawing, the CLI) — a random model
// never writes a box.
//
// How: in a copy of the converted tiny LLM, every block's output projections (attn_output,
// ffn_down) are zeroed, so the residual stream at each position is that token's own embedding;
// output_norm becomes 1, and output.weight row b is a scaled copy of the embedding of the token
// that must precede b. Greedy decoding then follows a fixed chain: ':' (the end of
// "###Assistant:") -> piece 1 -> ... -> piece n -> EOS, whatever the media. The chain's pieces
// are written into unused vocabulary entries (ids no golden prompt uses), with the lowest score
// so they never take part in tokenising a prompt.
import fs from 'node:fs';
import path from 'node:path';
import { readGGUF, readGGUFTensor, type GGUFKV } from '../../src/gguf/reader';
import { GGUFValueType } from '../../src/gguf/types';
import { writeGGUF, type GGUFTensorPlan, type GGUFValue } from '../../src/gguf/writer';
import { manifest, tempDir } from './golden';
import { tinyConverted } from './converted';

function toValue(kv: GGUFKV): GGUFValue {
  if (kv.type === GGUFValueType.ARRAY) return { type: GGUFValueType.ARRAY, itemType: kv.itemType as GGUFValueType, value: kv.value as (number | string)[] };
  return { type: kv.type, value: kv.value } as GGUFValue;
}

/** Ids the golden prompts and tokenizer cases use (they must keep their pieces). */
function usedIds(): Set<number> {
  const used = new Set<number>();
  const m = manifest();
  for (const c of m.cases) for (const id of c.prompt_token_ids ?? []) used.add(id);
  for (const c of m.tokenizer_cases) for (const id of c.ids) used.add(id);
  return used;
}

/**
 * Writes a model directory (llm.gguf rigged, encoders.gguf of the f32 tiny model) whose greedy
 * answer to any prompt is `pieces.join('')` (each piece one token; a leading space is written
 * as SentencePiece's '▁'); with `loop` the pieces repeat until maxTokens.
 */
export async function riggedModel(pieces: string[], options: { loop?: boolean } = {}): Promise<string> {
  const files = await tinyConverted('f32');
  const g = await readGGUF(files.llm);
  const tokens = [...((g.kv.get('tokenizer.ggml.tokens')?.value ?? []) as string[])];
  const scores = [...((g.kv.get('tokenizer.ggml.scores')?.value ?? []) as number[])];
  const types = [...((g.kv.get('tokenizer.ggml.token_type')?.value ?? []) as number[])];
  const nVocab = tokens.length;
  const colon = tokens.indexOf(':');
  const eos = Number(g.kv.get('tokenizer.ggml.eos_token_id')?.value);
  if (colon < 0) throw new Error('no ":" piece in the vocabulary');

  // unused normal pieces, from the top of the base vocabulary down
  const used = usedIds();
  const free: number[] = [];
  for (let id = nVocab - 1; id > 0 && free.length < pieces.length; id--) {
    if (types[id] === 1 && !used.has(id) && !tokens[id].startsWith('<')) free.push(id);
  }
  if (free.length < pieces.length) throw new Error('not enough unused pieces');
  const chain = [colon];
  for (const p of pieces) {
    const text = p.replace(/ /g, '\u2581');
    // a piece the vocabulary already has is used as it is (pieces must stay unique)
    let id = tokens.indexOf(text);
    if (id < 0) {
      id = free.shift() as number;
      tokens[id] = text;
      scores[id] = -1e9;
    }
    if (chain.includes(id)) throw new Error(`piece ${JSON.stringify(p)} appears twice in the chain`);
    chain.push(id);
  }

  const info = (name: string) => {
    const t = g.tensors.find((x) => x.name === name);
    if (!t) throw new Error(`no tensor ${name}`);
    return t;
  };
  const f32 = async (name: string) => {
    const b = await readGGUFTensor(g, name);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const embd = await f32('token_embd.weight');
  const nEmbd = info('token_embd.weight').ne[0];
  const output = new Float32Array(nVocab * nEmbd);
  const link = (from: number, to: number) => {
    const row = embd.subarray(from * nEmbd, (from + 1) * nEmbd);
    const norm = Math.hypot(...row);
    for (let j = 0; j < nEmbd; j++) output[to * nEmbd + j] = (50 * row[j]) / norm;
  };
  for (let i = 0; i + 1 < chain.length; i++) link(chain[i], chain[i + 1]);
  // the last piece leads to EOS, or with `loop` back to the first piece: an answer that goes on
  // until maxTokens (for tests that interrupt one)
  link(chain[chain.length - 1], options.loop ? chain[1] : eos);

  const replaced = new Map<string, Float32Array>([['output.weight', output]]);
  for (const t of g.tensors) {
    if (/attn_output\.weight$|ffn_down\.weight$/.test(t.name)) replaced.set(t.name, new Float32Array(t.ne.reduce((a, b) => a * b, 1)));
    if (t.name === 'output_norm.weight') replaced.set(t.name, new Float32Array(t.ne[0]).fill(1));
  }
  const kv: [string, GGUFValue][] = [];
  for (const [key, value] of g.kv) {
    if (key === 'general.alignment') continue;
    if (key === 'tokenizer.ggml.tokens') kv.push([key, { type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value: tokens }]);
    else if (key === 'tokenizer.ggml.scores') kv.push([key, { type: GGUFValueType.ARRAY, itemType: GGUFValueType.FLOAT32, value: scores }]);
    else kv.push([key, toValue(value)]);
  }
  const plans: GGUFTensorPlan[] = g.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    type: t.type,
    data: async () => {
      const r = replaced.get(t.name);
      return r ? new Uint8Array(r.buffer, r.byteOffset, r.byteLength) : new Uint8Array(await readGGUFTensor(g, t.name));
    },
  }));
  const dir = tempDir('ggpt-rigged-');
  await writeGGUF(path.join(dir, 'llm.gguf'), kv, plans, { alignment: g.alignment });
  fs.copyFileSync(files.encoders, path.join(dir, 'encoders.gguf'));
  return dir;
}
