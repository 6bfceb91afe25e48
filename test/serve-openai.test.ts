// The server (docs/SERVE.md) through a client nobody here wrote: the official `openai` npm package
// pointed at createServer() on 127.0.0.1. The model is the rigged tiny model (test/helpers/rigged.ts),
// whose greedy answer is a fixed sentence with a box and a span, so the grounding field can be
// checked against the library's own calls on the same media.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { mediaDir, tempDir } from './helpers/golden';
import { riggedModel } from './helpers/rigged';
import { dataUrl, startServer } from './helpers/serve';
import { loadModel, promptText } from '../src/index';

const image = path.join(mediaDir, 'test-1.jpeg'); // 640 x 488
const sound = path.join(mediaDir, 'dog_audio.wav');
const KEY = 'sk-test-0123456789';

t.test('the openai client against the server', async (t) => {
  const dir = await riggedModel([' The dog', ' [0.25, 0.25, 0.75, 0.75]', ' barks', ' {0.20, 0.60}', '.']);
  const model = await loadModel({ model: dir, threads: 2, kvType: 'f32' });
  t.teardown(() => model.dispose());
  const { url } = await startServer(t, model, { apiKey: KEY, modelId: 'tiny-rigged' });
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
  const rows = { image: model.info.media.image.rows, video: model.info.media.video.rows, audio: model.info.media.audio.rows };

  const plain = await model.generate('Hello!');
  t.equal(plain.text, 'The dog [0.25, 0.25, 0.75, 0.75] barks {0.20, 0.60}.', 'the rigged answer');

  t.test('models.list', async (t) => {
    const list = await client.models.list();
    t.same(
      list.data.map((m) => m.id),
      ['tiny-rigged'],
    );
    t.equal((await client.models.retrieve('tiny-rigged')).id, 'tiny-rigged');
  });

  t.test('non-streaming: the library answer, token counts, empty grounding without media', async (t) => {
    const r = await client.chat.completions.create({ model: 'tiny-rigged', messages: [{ role: 'user', content: 'Hello!' }] });
    t.equal(r.object, 'chat.completion');
    t.match(r.id, /^chatcmpl-/);
    t.equal(r.choices.length, 1);
    t.equal(r.choices[0].message.role, 'assistant');
    t.equal(r.choices[0].message.content, plain.text);
    t.equal(r.choices[0].finish_reason, 'stop', 'the rigged answer ends with EOS');
    t.same((r.choices[0].message as unknown as { grounding: unknown }).grounding, { boxes: [], spans: [] });
    // every prompt position counts: the template around the question, BOS included
    t.equal(r.usage?.prompt_tokens, model.tokenize(promptText({ user: 'Hello!' })).length);
    t.equal(r.usage?.completion_tokens, plain.tokens.length);
    t.equal(r.usage?.total_tokens, (r.usage?.prompt_tokens ?? 0) + (r.usage?.completion_tokens ?? 0));
  });

  t.test('max_tokens cuts the answer: finish_reason length', async (t) => {
    const r = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 2 });
    t.equal(r.choices[0].finish_reason, 'length');
    t.equal(r.usage?.completion_tokens, 2);
    t.equal(r.choices[0].message.content, 'The dog [0.25, 0.25, 0.75, 0.75]');
  });

  t.test('a stop string of the request', async (t) => {
    const r = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hello!' }], stop: ['barks'] });
    t.equal(r.choices[0].message.content, 'The dog [0.25, 0.25, 0.75, 0.75]');
    t.equal(r.choices[0].finish_reason, 'stop');
  });

  t.test('streaming: chunks add up to the non-streamed answer; grounding in the last chunk; usage chunk', async (t) => {
    const stream = await client.chat.completions.create({
      model: 'x',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Where is the dog?' },
            { type: 'image_url', image_url: { url: dataUrl(image, 'image/jpeg') } },
          ],
        },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) {
      chunks.push(c);
      text += c.choices[0]?.delta?.content ?? '';
    }
    t.equal(chunks[0].choices[0].delta.role, 'assistant');
    t.ok(chunks.length >= 5, `${chunks.length} chunks`);
    t.equal(text, plain.text);
    const last = chunks[chunks.length - 2];
    t.equal(last.choices[0].finish_reason, 'stop');
    const expected = await model.groundImage(fs.readFileSync(image), 'Where is the dog?');
    t.same((last.choices[0].delta as unknown as { grounding: unknown }).grounding, {
      boxes: expected.boxes.map((b) => ({ phrase: b.phrase, box: b.box, normalized: b.normalized })),
      spans: [],
    });
    const usage = chunks[chunks.length - 1];
    t.same(usage.choices, []);
    t.equal(usage.usage?.completion_tokens, expected.tokens.length);
    t.equal(usage.usage?.prompt_tokens, expected.timings.promptTokens + expected.timings.reusedTokens);
  });

  t.test("the client's stream helper puts the grounding on its final message", async (t) => {
    const stream = client.chat.completions.stream({
      model: 'x',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: dataUrl(image, 'image/jpeg') } },
            { type: 'text', text: 'Where is the dog?' },
          ],
        },
      ],
    });
    const final = await stream.finalChatCompletion();
    t.equal(final.choices[0].message.content, plain.text);
    const g = (final.choices[0].message as unknown as { grounding: { boxes: { phrase: string }[]; spans: unknown[] } }).grounding;
    t.same(
      g.boxes.map((b) => b.phrase),
      ['The dog'],
    );
    t.same(g.spans, []);
  });

  t.test('an image part: boxes in pixels of the image sent', async (t) => {
    const r = await client.chat.completions.create({
      model: 'x',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: dataUrl(image, 'image/jpeg'), detail: 'high' } },
            { type: 'text', text: 'Where is the dog?' },
          ],
        },
      ],
    });
    const g = (
      r.choices[0].message as unknown as {
        grounding: { boxes: { phrase: string; box: { x1: number; y1: number; x2: number; y2: number } }[]; spans: unknown[] };
      }
    ).grounding;
    t.equal(g.boxes.length, 1);
    t.equal(g.boxes[0].phrase, 'The dog');
    // [0.25, 0.25, 0.75, 0.75] of the 640 x 640 padded square; the image sits 76 px down in it
    t.same(g.boxes[0].box, { x1: 160, y1: 160 - 76, x2: 480, y2: 480 - 76 });
    t.same(g.spans, [], 'a span literal without a video grounds nothing');
    t.equal(
      r.usage?.prompt_tokens,
      model.tokenize(promptText({ user: 'Where is the dog?', media: ['image'], mediaRows: rows })).length,
      'the image block is in the prompt',
    );
  });

  t.test('an audio part (wav and mp3)', async (t) => {
    const mp3 = path.join(tempDir(), 'dog.mp3');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', sound, mp3]);
    const expectedPrompt = model.tokenize(promptText({ user: 'What do you hear?', media: ['audio'], mediaRows: rows })).length;
    for (const [file, format] of [
      [sound, 'wav'],
      [mp3, 'mp3'],
    ] as const) {
      const r = await client.chat.completions.create({
        model: 'x',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'input_audio', input_audio: { data: fs.readFileSync(file).toString('base64'), format } },
              { type: 'text', text: 'What do you hear?' },
            ],
          },
        ],
      });
      t.equal(r.choices[0].message.content, plain.text, format);
      t.equal(r.usage?.prompt_tokens, expectedPrompt, `${format}: the sound block is in the prompt`);
    }
  });

  t.test("errors come back as the client's typed errors", async (t) => {
    const e = (await client.chat.completions
      .create({ model: 'x', messages: [{ role: 'user', content: 'hi' }], n: 2 })
      .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.BadRequestError>;
    t.ok(e instanceof OpenAI.BadRequestError, 'n = 2');
    t.equal(e.status, 400);
    t.equal(e.param, 'n');
    t.equal(e.code, 'unsupported_value');
    t.equal(e.type, 'invalid_request_error');
    const media = (await client.chat.completions
      .create({ model: 'x', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgoAAAAA' } }] }] })
      .catch((x: unknown) => x)) as InstanceType<typeof OpenAI.BadRequestError>;
    t.ok(media instanceof OpenAI.BadRequestError, 'a corrupt image');
    t.equal(media.param, 'messages[0].content[0].image_url.url');
    t.equal(media.code, 'invalid_input');
    const wrongKey = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    const auth = await wrongKey.models.list().catch((x: unknown) => x);
    t.ok(auth instanceof OpenAI.AuthenticationError, 'a wrong API key: 401');
    // the model still answers after the failures
    const r = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hello!' }] });
    t.equal(r.choices[0].message.content, plain.text);
  });
});
