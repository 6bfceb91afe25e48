// Bad inputs get typed errors and the process lives on: missing, truncated and mistyped model
// files, and option values outside their ranges (one message shape).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './helpers/golden';
import { GGUF_TYPE, renameKey, retypeKey, setU32, truncateCopy } from './helpers/gguf_patch';
import { tinyConverted } from './helpers/converted';
import { readGGUF, readGGUFTensor } from '../src/gguf/reader';
import { GGUFValueType } from '../src/gguf/types';
import { writeGGUF, type GGUFValue } from '../src/gguf/writer';
import { InvalidInputError, ModelLoadError, loadModel } from '../src/index';

t.test('option validation (no model needed)', async (t) => {
  await t.rejects(loadModel(undefined as never), {
    name: 'InvalidInputError',
    message: 'Expected an options object for options but received undefined of type undefined',
  });
  await t.rejects(loadModel({ model: 42 as never }), {
    name: 'InvalidInputError',
    message: 'Expected a model directory or { llm, encoders? } for model but received 42 of type number',
  });
  await t.rejects(loadModel({ model: '/x', threads: 0 }), {
    name: 'InvalidInputError',
    message: 'Expected an integer between 1 and 512 for options.threads but received 0 of type number',
  });
  await t.rejects(loadModel({ model: '/x', kvType: 'f8' as never }), {
    name: 'InvalidInputError',
    message: 'Expected one of "f16", "f32", "q8_0" for options.kvType but received "f8" of type string',
  });
  await t.rejects(loadModel({ model: '/x', towerMatmul: 'fp8' as never }), {
    name: 'InvalidInputError',
    message: 'Expected one of "auto", "ggml", "int8" for options.towerMatmul but received "fp8" of type string',
  });
  await t.rejects(loadModel({ model: '/x', contextSize: 4.5 }), {
    name: 'InvalidInputError',
    message: 'Expected an integer between 8 and 1048576 for options.contextSize but received 4.5 of type number',
  });
  await t.rejects(loadModel({ model: '/x', signal: {} as never }), {
    name: 'InvalidInputError',
    message: 'Expected an AbortSignal for options.signal but received an Object of type object',
  });
});

t.test('missing files', async (t) => {
  const dir = tempDir('ggpt-missing-');
  await t.rejects(loadModel({ model: path.join(dir, 'nope') }), { name: 'ModelLoadError', file: path.join(dir, 'nope') });
  await t.rejects(loadModel({ model: dir }), { name: 'ModelLoadError', file: path.join(dir, 'llm.gguf'), message: /has no llm\.gguf/ });
  await t.rejects(loadModel({ model: { llm: path.join(dir, 'a.gguf') } }), { name: 'ModelLoadError', file: path.join(dir, 'a.gguf') });
  const junk = path.join(dir, 'junk.gguf');
  fs.writeFileSync(junk, 'this is not a gguf file at all, just text');
  await t.rejects(loadModel({ model: { llm: junk } }), { name: 'ModelLoadError', file: junk, message: /junk\.gguf: not a valid GGUF file/ });
});

t.test('corrupt model files', async (t) => {
  const got = await tinyConverted();
  const dir = tempDir('ggpt-corrupt-');
  const size = fs.statSync(got.llm).size;

  t.test('truncated in the tensor data', async (t) => {
    const f = path.join(dir, 'cut-data.gguf');
    truncateCopy(got.llm, f, Math.floor(size * 0.9));
    const err = await loadModel({ model: { llm: f } }).catch((e: unknown) => e);
    t.type(err, ModelLoadError);
    t.equal((err as ModelLoadError).file, f);
    t.match((err as Error).message, f);
    t.comment((err as Error).message);
  });

  t.test('truncated in the header', async (t) => {
    const f = path.join(dir, 'cut-header.gguf');
    truncateCopy(got.llm, f, 200);
    await t.rejects(loadModel({ model: { llm: f } }), { name: 'ModelLoadError', file: f, message: /not a valid GGUF file/ });
  });

  t.test('wrong type of one of our keys', async (t) => {
    const f = path.join(dir, 'bad-ggpt-key.gguf');
    retypeKey(got.llm, f, 'ggpt.token.im_patch', GGUF_TYPE.FLOAT32);
    await t.rejects(loadModel({ model: { llm: f } }), {
      name: 'ModelLoadError',
      file: f,
      message: `${f}: key 'ggpt.token.im_patch' has type f32, expected u32`,
    });
  });

  t.test('out-of-range values of our keys', async (t) => {
    const f = path.join(dir, 'bad-ggpt-value.gguf');
    setU32(got.llm, f, 'ggpt.token.vi_start', 5000);
    await t.rejects(loadModel({ model: { llm: f } }), {
      name: 'ModelLoadError',
      message: `${f}: key 'ggpt.token.vi_start' = 5000 is not a token id (n_vocab 1009)`,
    });
    const g = path.join(dir, 'bad-ggpt-rows.gguf');
    setU32(got.llm, g, 'ggpt.image_token_len', 0);
    await t.rejects(loadModel({ model: { llm: g } }), { name: 'ModelLoadError', message: /'ggpt.image_token_len' = 0 is outside \[1, 65536\]/ });
  });

  t.test('missing media-token keys fall back to the vocabulary', async (t) => {
    const f = path.join(dir, 'no-ggpt-key.gguf');
    renameKey(got.llm, f, 'ggpt.token.so_patch', 'xxxx.token.so_patch');
    const model = await loadModel({ model: { llm: f }, contextSize: 64 });
    t.teardown(() => model.dispose());
    t.equal(model.info.media.audio.tokens.patch, 1006, '<so_patch> found by its text');
  });

  t.test('wrong type of a libllama key', async (t) => {
    const f = path.join(dir, 'bad-llama-key.gguf');
    retypeKey(got.llm, f, 'llama.block_count', GGUF_TYPE.FLOAT32);
    const err = await loadModel({ model: { llm: f } }).catch((e: unknown) => e);
    t.type(err, ModelLoadError);
    t.match((err as Error).message, /block_count/);
    t.comment((err as Error).message);
  });

  t.test('a vocabulary with a repeated piece (libllama would abort the process)', async (t) => {
    const f = path.join(dir, 'dup-piece.gguf');
    const g = await readGGUF(got.llm);
    const kv: [string, GGUFValue][] = [];
    for (const [key, v] of g.kv) {
      if (key === 'general.alignment') continue;
      if (key === 'tokenizer.ggml.tokens') {
        const tokens = [...(v.value as string[])];
        tokens[600] = tokens[601];
        kv.push([key, { type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value: tokens }]);
      } else {
        kv.push([
          key,
          v.type === GGUFValueType.ARRAY
            ? { type: v.type, itemType: v.itemType as GGUFValueType, value: v.value as string[] }
            : ({ type: v.type, value: v.value } as GGUFValue),
        ]);
      }
    }
    await writeGGUF(
      f,
      kv,
      g.tensors.map((ti) => ({ name: ti.name, shape: ti.shape, type: ti.type, data: async () => new Uint8Array(await readGGUFTensor(g, ti.name)) })),
    );
    const err = await loadModel({ model: { llm: f } }).catch((e: unknown) => e);
    t.type(err, ModelLoadError);
    t.match((err as Error).message, /repeats the piece .* \(token 601\)/);
  });

  t.test('the process is fine and a good file still loads', async (t) => {
    const model = await loadModel({ model: { llm: got.llm }, contextSize: 64 });
    t.teardown(() => model.dispose());
    t.ok(model.info.contextSize >= 64, `libllama rounds the context up (${model.info.contextSize})`);

    await t.rejects(loadModel({ model: { llm: got.llm }, contextSize: 1 << 20 }), { name: 'InvalidInputError', message: /outside \[8, 2048\]/ });
    await t.rejects(loadModel({ model: { llm: got.llm }, kvType: 'q8_0' }), { name: 'InvalidInputError', message: /multiple of 32 \(this model's is 16\)/ });
    await t.rejects(loadModel({ model: { llm: got.llm }, kvType: 'f16', flashAttn: 'on', contextSize: 4096 }), { name: 'InvalidInputError' });
    await t.rejects(model.generate('word '.repeat(100)), { name: 'InvalidInputError', message: /the prompt has \d+ positions but the context holds \d+/ });
    const bad: [unknown, string][] = [
      [{ temperature: -1 }, 'Expected a number between 0 and 100 for options.temperature but received -1 of type number'],
      [{ maxTokens: 1.5 }, 'Expected an integer between 0 and 1000000 for options.maxTokens but received 1.5 of type number'],
      [{ stop: [''] }, 'Expected a non-empty string for options.stop[0] but received "" of type string'],
      [{ topP: 2 }, 'Expected a number between 0 and 1 for options.topP but received 2 of type number'],
      [{ seed: -1 }, 'Expected an integer between 0 and 4294967294 for options.seed but received -1 of type number'],
      [{ repeatPenalty: 0 }, 'Expected a number greater than 0 and at most 10 for options.repeatPenalty but received 0 of type number'],
      [{ onToken: 5 }, 'Expected a function for options.onToken but received 5 of type number'],
      [{ history: [{ user: 'a' }] }, 'Expected a string for options.history[0].assistant but received undefined of type undefined'],
      ['nope', 'Expected an object for options but received "nope" of type string'],
    ];
    for (const [opts, message] of bad) {
      await t.rejects(model.generate('hi', opts as never), { name: 'InvalidInputError', message }, message);
    }
    await t.rejects(model.generate(42 as never), { name: 'InvalidInputError', message: 'Expected a string for text but received 42 of type number' });
    await t.rejects(model.generate('see <im_patch>'), { name: 'InvalidInputError', message: /without the media token <im_patch>/ });
    t.throws(() => model.tokenize(null as never), InvalidInputError);
    t.equal((await model.generate('hi', { maxTokens: 3, stop: [] })).tokens.length, 3, 'usable after all that');
  });
});
