// Multi-turn conversations (docs/COMPUTATION.md §5) and the grounding calls' behaviour on bad input, abort and
// dispose.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { goldenCase, manifest, mediaDir, tempDir } from './helpers/golden';
import { riggedModel } from './helpers/rigged';
import { AbortError, DisposedError, InvalidInputError, loadModel } from '../src/index';
import { promptText } from '../src/prompt';

const dogImage = path.join(mediaDir, 'dog_image.jpg');
const imageDog = goldenCase('full/image_dog');

// token ids of the golden tokenizer for pieces the second turn is made of
// ("###Human: hi###Assistant:" is one of the manifest's tokenizer cases)
const hiCase = manifest().tokenizer_cases.find((c: { text: string }) => c.text === '###Human: hi###Assistant:');
const HUMAN: number[] = hiCase.ids.slice(2, 8); // # # # H um an :  -> after the leading '▁#'
const SEP_HUMAN = [960, ...HUMAN]; // '#' '#' '#' 'H' 'um' 'an' ':'
const HI: number[] = hiCase.ids.slice(8, 10); // '▁h' 'i'
const SEP_ASSISTANT: number[] = hiCase.ids.slice(10); // '#' '#' '#' 'A' 'ss' 'i' 'stan' 't' ':'

t.test('the golden tokenizer pieces used to build expectations', async (t) => {
  t.same(hiCase.tokens.slice(2, 8), ['#', '#', 'H', 'um', 'an', ':']);
  t.same(SEP_HUMAN.length, 7);
  t.same(hiCase.tokens.slice(8, 10), ['\u2581h', 'i']);
  t.same(hiCase.tokens.slice(10), ['#', '#', '#', 'A', 'ss', 'i', 'stan', 't', ':']);
});

t.test('chat', async (t) => {
  const dir = await riggedModel([' h', 'i']); // the model always answers "hi"
  const model = await loadModel({ model: dir, kvType: 'f32', threads: 2, contextSize: 2048 });
  t.teardown(() => model.dispose());

  t.test('a second turn, token for token (docs/COMPUTATION.md §5: media only in the first user turn)', async (t) => {
    const text = promptText({ user: 'hi', history: [{ user: imageDog.user_text, assistant: 'hi' }], media: ['image'] });
    const ids = model.tokenize(text);
    // first turn exactly as the golden prompt, then " hi###Human: hi###Assistant:"
    t.same(ids, [...imageDog.prompt_token_ids, ...HI, ...SEP_HUMAN, ...HI, ...SEP_ASSISTANT]);
  });

  t.test('Chat.send keeps the history and reuses the cache', async (t) => {
    const chat = model.createChat({ image: dogImage });
    const a = await chat.send(imageDog.user_text);
    t.equal(a.text, 'hi');
    t.same(a.image, { width: 640, height: 848, side: 848, offsetX: 104, offsetY: 0 });
    const b = await chat.send('hi');
    t.equal(b.text, 'hi');
    t.equal(b.timings.cachedMedia, 1, 'the image is encoded once');
    // everything up to the first answer's last token is still in the KV cache
    t.ok(b.timings.reusedTokens >= imageDog.prompt_token_ids.length, `reused ${b.timings.reusedTokens}`);
    t.equal(b.timings.promptTokens + b.timings.reusedTokens, imageDog.prompt_token_ids.length + 2 + 7 + 2 + 9);
    t.same(chat.history, [
      { user: imageDog.user_text, assistant: 'hi' },
      { user: 'hi', assistant: 'hi' },
    ]);

    // resuming with that history gives the same turn
    const resumed = model.createChat({ image: dogImage, history: chat.history.slice(0, 1) });
    const b2 = await resumed.send('hi');
    t.same(b2.tokens, b.tokens);
  });

  t.test('turns of one chat run in order even when sent together', async (t) => {
    const chat = model.createChat({ image: dogImage });
    const [x, y, z] = await Promise.all([chat.send('one'), chat.send('two'), chat.send('three')]);
    t.same([x.text, y.text, z.text], ['hi', 'hi', 'hi']);
    t.same(
      chat.history.map((h) => h.user),
      ['one', 'two', 'three'],
    );
  });

  t.test('a failed turn does not join the history; the chat goes on', async (t) => {
    const chat = model.createChat({ image: dogImage });
    await t.rejects(chat.send('bad <im_patch> text'), InvalidInputError);
    const ac = new AbortController();
    ac.abort();
    await t.rejects(chat.send('aborted', { signal: ac.signal }), AbortError);
    t.same(chat.history, []);
    t.equal((await chat.send('fine')).text, 'hi');
  });

  t.test('bad images give InvalidInputError and the model stays usable', async (t) => {
    const dirBad = tempDir();
    const truncated = path.join(dirBad, 'cut.jpg');
    fs.writeFileSync(truncated, fs.readFileSync(dogImage).subarray(0, 5000));
    const notImage = path.join(dirBad, 'text.png');
    fs.writeFileSync(notImage, 'not an image');
    const bad: [unknown, RegExp][] = [
      [truncated, /./],
      [notImage, /./],
      [path.join(dirBad, 'missing.jpg'), /./],
      [{ data: new Uint8Array(0), width: 0, height: 0, channels: 3 }, /width/],
      [{ data: new Uint8Array(12), width: 2, height: 2, channels: 5 }, /channels/],
      [{ data: new Uint8Array(11), width: 2, height: 2, channels: 3 }, /12/],
      [Buffer.from('garbage bytes'), /./],
    ];
    for (const [input, message] of bad) {
      await t.rejects(
        model.groundImage(input as never, 'Where?'),
        { name: 'InvalidInputError', message },
        `rejects ${typeof input === 'string' ? path.basename(input) : 'raw input'}`,
      );
    }
    await t.rejects(model.groundImage(dogImage, 'Where?', { limitInputPixels: 1000 }), { name: 'InvalidInputError', message: /pixel/i });
    await t.rejects(model.groundImage(dogImage, 'Where?', { maxTokens: -1 }), InvalidInputError);
    const ok = await model.groundImage(dogImage, 'Where?');
    t.equal(ok.text, 'hi', 'still answers');
  });

  t.test('abort while the tower runs, dispose while a turn runs', async (t) => {
    const ac = new AbortController();
    const frames = Array.from({ length: 64 }, (_, i) => ({ data: new Uint8Array(224 * 224 * 3).fill(i * 3), width: 224, height: 224, channels: 3 as const }));
    const p = model.groundVideo({ frames, fps: 8 }, 'When?', {
      onProgress: (e) => {
        if (e.stage === 'encode') ac.abort();
      },
      signal: ac.signal,
    });
    await t.rejects(p, AbortError);
    t.equal((await model.groundVideo({ frames, fps: 8 }, 'When?')).text, 'hi', 'usable after the abort');

    const other = await loadModel({ model: dir, threads: 2 });
    const running = other.groundImage(dogImage, 'Where?');
    const disposing = other.dispose();
    await t.rejects(running, DisposedError);
    await disposing;
    await t.rejects(other.groundImage(dogImage, 'Where?'), DisposedError);
    t.throws(() => other.createChat({ image: dogImage }), DisposedError);
  });

  t.test('a model without encoders refuses media with a clear message', async (t) => {
    const textOnly = await loadModel({ model: dir, loadEncoders: false });
    t.teardown(() => textOnly.dispose());
    await t.rejects(textOnly.groundImage(dogImage, 'Where?'), { name: 'InvalidInputError', message: /without encoders\.gguf/ });
    t.throws(() => textOnly.createChat({ audio: 'x.wav' }), InvalidInputError);
  });
});
