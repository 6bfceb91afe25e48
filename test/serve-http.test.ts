// The server (docs/SERVE.md) over raw HTTP: the grounding field, /v1/ground, multi-turn media,
// loading state, bad requests, limits, the API key and the metrics. Faults under load (queue,
// disconnects, timeouts, concurrency) are in serve-load.test.ts; the CLI's SIGTERM drain in
// serve-cli.test.ts.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { mediaDir, tempDir } from './helpers/golden';
import { riggedModel } from './helpers/rigged';
import { dataUrl, events, get, metric, post, startServer } from './helpers/serve';
import { ModelLoadError, loadModel, parseSpans, probeVideo, type Model } from '../src/index';

const image = path.join(mediaDir, 'test-1.jpeg'); // 640 x 488 = 312,320 pixels
const video = path.join(mediaDir, 'test-3.mp4'); // 10 s, 720 x 358 = 257,760 pixels

/** A 2 s video of 16 small frames (the video tower encodes each sampled frame: 64 of test-3.mp4 take seconds). */
function shortVideo(): string {
  const out = path.join(tempDir(), 'short.mp4');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=2:size=160x120:rate=8', '-pix_fmt', 'yuv420p', out]);
  return out;
}
const sound = path.join(mediaDir, 'dog_audio.wav'); // 2.6 s
const ANSWER = 'The dog [0.25, 0.25, 0.75, 0.75] barks {0.20, 0.60}.';

const user = (content: unknown) => ({ messages: [{ role: 'user', content }] });
const imagePart = (url = dataUrl(image, 'image/jpeg')) => ({ type: 'image_url', image_url: { url } });
const textPart = (text: string) => ({ type: 'text', text });

const rigged = riggedModel([' The dog', ' [0.25, 0.25, 0.75, 0.75]', ' barks', ' {0.20, 0.60}', '.']);

t.test('server over the rigged model', async (t) => {
  const dir = await rigged;
  const model = await loadModel({ model: dir, threads: 2, kvType: 'f32' });
  t.teardown(() => model.dispose());
  const { url } = await startServer(t, model);
  const chat = (body: string | object) => post(`${url}/v1/chat/completions`, body);

  t.test('the grounding field: boxes in pixels of the image, spans in seconds of the video', async (t) => {
    const a = await chat(user([textPart('Where is the dog?'), imagePart()]));
    t.equal(a.status, 200);
    const expected = await model.groundImage(fs.readFileSync(image), 'Where is the dog?');
    const msg = a.json.choices[0].message;
    t.equal(msg.content, ANSWER);
    t.same(Object.keys(msg.grounding).sort(), ['boxes', 'spans']);
    t.equal(msg.grounding.boxes.length, 1);
    t.same(Object.keys(msg.grounding.boxes[0]).sort(), ['box', 'normalized', 'phrase']);
    t.same(msg.grounding.boxes[0], { phrase: expected.boxes[0].phrase, box: expected.boxes[0].box, normalized: expected.boxes[0].normalized });
    t.same(msg.grounding.spans, []);

    const clip = shortVideo();
    const v = await chat(user([{ type: 'video_url', video_url: { url: dataUrl(clip, 'video/mp4') } }, textPart('When does it bark?')]));
    t.equal(v.status, 200, v.text);
    // the library's mapping of the answer's spans to this video's duration (decoding it twice is slow)
    const { segments } = parseSpans(ANSWER, (await probeVideo(clip)).duration);
    t.equal(segments.length, 1);
    t.same(v.json.choices[0].message.grounding, {
      boxes: [],
      spans: segments.map((s) => ({ phrase: s.phrase, start: s.start, end: s.end, normalized: s.normalized })),
    });
    // {0.20, 0.60} of a 2 s video
    t.same([v.json.choices[0].message.grounding.spans[0].start, v.json.choices[0].message.grounding.spans[0].end], [0.4, 1.2], 'seconds of the video sent');
  });

  t.test('streaming: the grounding is in the last chunk before [DONE]', async (t) => {
    const r = await chat({ ...user([imagePart(), textPart('Where is the dog?')]), stream: true });
    t.equal(r.status, 200);
    t.match(r.headers['content-type'], /^text\/event-stream/);
    // biome-ignore lint/suspicious/noExplicitAny: chunks are read as they come
    const ev = events(r.text) as any[];
    t.equal(ev[ev.length - 1], '[DONE]');
    const last = ev[ev.length - 2];
    t.equal(last.choices[0].finish_reason, 'stop');
    t.equal(last.choices[0].delta.grounding.boxes[0].phrase, 'The dog');
    t.equal(
      ev
        .slice(0, -1)
        .map((e) => e.choices[0].delta.content ?? '')
        .join(''),
      ANSWER,
    );
  });

  t.test('a multi-turn history with the image in an earlier turn works as createChat', async (t) => {
    const bytes = fs.readFileSync(image);
    const messages = [
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: [imagePart(), textPart('Where is the dog?')] },
      { role: 'assistant', content: ANSWER, grounding: { boxes: [], spans: [] } },
      { role: 'user', content: 'And the cat?' },
    ];
    const r = await chat({ messages });
    t.equal(r.status, 200, r.text);
    const expected = await model
      .createChat({ image: bytes, system: 'Answer briefly.', history: [{ user: 'Where is the dog?', assistant: ANSWER }] })
      .send('And the cat?');
    t.equal(r.json.choices[0].message.content, expected.text);
    t.equal(r.json.usage.prompt_tokens, expected.timings.promptTokens + expected.timings.reusedTokens, 'the same prompt, image block included');
    t.same(
      r.json.choices[0].message.grounding.boxes.map((b: { box: unknown }) => b.box),
      expected.boxes.map((b) => b.box),
    );
  });

  t.test('POST /v1/ground answers in the library shapes', async (t) => {
    const r = await post(`${url}/v1/ground`, { prompt: 'Where is the dog?', image: dataUrl(image, 'image/jpeg'), maxTokens: 64 });
    t.equal(r.status, 200, r.text);
    const expected = await model.groundImage(fs.readFileSync(image), 'Where is the dog?', { maxTokens: 64 });
    const { timings: _a, ...got } = r.json;
    const { timings: _b, ...want } = JSON.parse(JSON.stringify(expected));
    t.same(got, want);
    t.same(Object.keys(r.json.timings).sort(), Object.keys(expected.timings).sort());

    const bad = await post(`${url}/v1/ground`, { prompt: 'x', image: dataUrl(image, 'image/jpeg'), maxTokens: -1 });
    t.equal(bad.status, 400);
    t.equal(bad.json.error.param, 'maxTokens', 'the library names the option');
    const none = await post(`${url}/v1/ground`, { prompt: 'x' });
    t.equal(none.json.error.code, 'missing_media');
    const unknown = await post(`${url}/v1/ground`, { prompt: 'x', image: dataUrl(image, 'image/jpeg'), max_tokens: 3 });
    t.equal(unknown.json.error.code, 'unknown_field');
  });

  t.test('bad requests: 400 with an OpenAI error object naming the field; the server goes on', async (t) => {
    const wav = fs.readFileSync(sound).toString('base64');
    const cases: [string, string | object, string, string | null][] = [
      ['bad JSON', '{"messages": [', 'invalid_json', null],
      ['not an object', '[1, 2]', 'invalid_type', 'body'],
      ['unknown field', { ...user('hi'), temprature: 0.5 }, 'unknown_field', 'temprature'],
      ['no messages', { messages: [] }, 'invalid_value', 'messages'],
      ['unknown message field', { messages: [{ role: 'user', content: 'hi', extra: 1 }] }, 'unknown_field', 'messages[0].extra'],
      ['tool role', { messages: [{ role: 'tool', content: 'hi' }] }, 'invalid_value', 'messages[0].role'],
      ['unknown part type', user([{ type: 'file', file: {} }]), 'invalid_value', 'messages[0].content[0].type'],
      ['two images', user([imagePart(), imagePart()]), 'too_many_media', 'messages[0].content[1].image_url.url'],
      ['bad base64', user([imagePart('data:image/png;base64,@@@@')]), 'invalid_base64', 'messages[0].content[0].image_url.url'],
      ['wrong media type', user([imagePart('data:text/plain;base64,aGVsbG8=')]), 'invalid_media_type', 'messages[0].content[0].image_url.url'],
      ['http URL without --allow-remote-media', user([imagePart('http://127.0.0.1:9/x.png')]), 'remote_media_disabled', 'messages[0].content[0].image_url.url'],
      ['ftp URL', user([imagePart('ftp://example.com/x.png')]), 'invalid_url', 'messages[0].content[0].image_url.url'],
      ['corrupt image', user([imagePart('data:image/png;base64,iVBORw0KGgoAAAAA')]), 'invalid_input', 'messages[0].content[0].image_url.url'],
      [
        'audio format',
        user([{ type: 'input_audio', input_audio: { data: wav, format: 'ogg' } }]),
        'invalid_value',
        'messages[0].content[0].input_audio.format',
      ],
      [
        'WAV sent as mp3',
        user([{ type: 'input_audio', input_audio: { data: wav, format: 'mp3' } }]),
        'invalid_audio',
        'messages[0].content[0].input_audio.data',
      ],
      ['temperature', { ...user('hi'), temperature: 3 }, 'invalid_value', 'temperature'],
      ['max_tokens 0', { ...user('hi'), max_tokens: 0 }, 'invalid_value', 'max_tokens'],
      ['stream not boolean', { ...user('hi'), stream: 'yes' }, 'invalid_type', 'stream'],
      ['last message from the assistant', { messages: [...user('hi').messages, { role: 'assistant', content: 'x' }] }, 'invalid_value', 'messages'],
      ['tools', { ...user('hi'), tools: [{ type: 'function', function: { name: 'f' } }] }, 'unsupported_value', 'tools'],
      ['n = 2', { ...user('hi'), n: 2 }, 'unsupported_value', 'n'],
      ['media token in the text', user('look: <im_patch>'), 'invalid_input', null],
    ];
    for (const [name, body, code, param] of cases) {
      const r = await chat(body);
      t.equal(r.status, 400, `${name}: status`);
      t.same(Object.keys(r.json?.error ?? {}).sort(), ['code', 'message', 'param', 'type'], `${name}: error object`);
      t.equal(r.json?.error?.type, 'invalid_request_error', `${name}: type`);
      t.equal(r.json?.error?.code, code, `${name}: code (${r.json?.error?.message})`);
      t.equal(r.json?.error?.param, param, `${name}: param`);
    }
    const notFound = await get(`${url}/v1/completions`);
    t.equal(notFound.status, 404);
    const method = await get(`${url}/v1/chat/completions`);
    t.equal(method.status, 405);
    t.equal(method.headers.allow, 'POST');
    // null fields are absent fields (clients send them)
    const ok = await chat({ ...user('hi'), stop: null, n: 1, seed: null, user: 'u1' });
    t.equal(ok.status, 200);
    t.equal(ok.json.choices[0].message.content, ANSWER);
  });

  t.test('media limits: pixels, sound and video durations', async (t) => {
    const { url: u } = await startServer(t, model, { limitInputPixels: 300_000, maxAudioSeconds: 2, maxVideoSeconds: 5 });
    const big = await post(`${u}/v1/chat/completions`, user([imagePart()]));
    t.equal(big.status, 400);
    t.equal(big.json.error.param, 'messages[0].content[0].image_url.url');
    t.match(big.json.error.message, /limit/);
    const small = await sharp(image).resize(200).jpeg().toBuffer();
    const fine = await post(`${u}/v1/chat/completions`, user([imagePart(`data:image/jpeg;base64,${small.toString('base64')}`)]));
    t.equal(fine.status, 200, 'a 200 x 153 image is under the limit');
    const long = await post(
      `${u}/v1/chat/completions`,
      user([{ type: 'input_audio', input_audio: { data: fs.readFileSync(sound).toString('base64'), format: 'wav' } }]),
    );
    t.equal(long.status, 400);
    t.equal(long.json.error.param, 'messages[0].content[0].input_audio.data');
    const vid = await post(`${u}/v1/chat/completions`, user([{ type: 'video_url', video_url: { url: dataUrl(video, 'video/mp4') } }]));
    t.equal(vid.status, 400);
    t.equal(vid.json.error.code, 'media_too_long');
  });

  t.test('request body limit: 413', async (t) => {
    const { url: u } = await startServer(t, model, { maxBodyBytes: 2048 });
    const body = JSON.stringify(user('x'.repeat(4096)));
    const r = await post(`${u}/v1/chat/completions`, body);
    t.equal(r.status, 413);
    t.equal(r.json.error.code, 'request_too_large');
    // the same without a Content-Length (chunked): counted while reading
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${u}/v1/chat/completions`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(body.slice(0, 1500));
      setTimeout(() => req.end(body.slice(1500)), 50);
    });
    t.equal(chunked, 413);
    t.equal((await post(`${u}/v1/chat/completions`, user('hi'))).status, 200, 'a small body passes');
  });

  t.test('--api-key: Authorization: Bearer', async (t) => {
    const { url: u } = await startServer(t, model, { apiKey: 'secret-key' });
    const none = await post(`${u}/v1/chat/completions`, user('hi'));
    t.equal(none.status, 401);
    t.equal(none.json.error.code, 'invalid_api_key');
    t.equal(none.headers['www-authenticate'], 'Bearer');
    t.equal((await post(`${u}/v1/chat/completions`, user('hi'), { Authorization: 'Bearer secret-kez' })).status, 401);
    t.equal((await get(`${u}/metrics`)).status, 401);
    t.equal((await get(`${u}/health`)).status, 200, '/health needs no key');
    t.equal((await post(`${u}/v1/chat/completions`, user('hi'), { Authorization: 'Bearer secret-key' })).status, 200);
  });

  t.test('remote media (--allow-remote-media): fetched with a size and a time limit', async (t) => {
    const bytes = fs.readFileSync(image);
    const files = http.createServer((req, res) => {
      if (req.url === '/dog.jpg') res.end(bytes);
      else if (req.url === '/slow.jpg')
        res.writeHead(200, { 'Content-Type': 'image/jpeg' }).write(bytes.subarray(0, 100)); // never ends
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      files.closeAllConnections();
      files.close();
    });
    const base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    const { url: u } = await startServer(t, model, { allowRemoteMedia: true, remoteMediaMaxBytes: bytes.length, remoteMediaTimeoutMs: 500 });
    const ok = await post(`${u}/v1/chat/completions`, user([imagePart(`${base}/dog.jpg`), textPart('Where is the dog?')]));
    t.equal(ok.status, 200, ok.text);
    t.equal(ok.json.choices[0].message.grounding.boxes[0].box.x1, 160);
    const { url: small } = await startServer(t, model, { allowRemoteMedia: true, remoteMediaMaxBytes: 1000 });
    const big = await post(`${small}/v1/chat/completions`, user([imagePart(`${base}/dog.jpg`)]));
    t.equal(big.json.error.code, 'media_fetch_failed');
    t.match(big.json.error.message, /limit of 1000/);
    const t0 = Date.now();
    const slow = await post(`${u}/v1/chat/completions`, user([imagePart(`${base}/slow.jpg`)]));
    t.equal(slow.json.error.code, 'media_fetch_failed');
    t.match(slow.json.error.message, /within 500 ms/);
    t.ok(Date.now() - t0 < 5000, `gave up after ${Date.now() - t0} ms`);
    const missing = await post(`${u}/v1/chat/completions`, user([imagePart(`${base}/nope.jpg`)]));
    t.match(missing.json.error.message, /HTTP 404/);
  });

  t.test('metrics: counts match the answers', async (t) => {
    const { url: u } = await startServer(t, model);
    // an image the feature cache has not seen: its tower runs
    const fresh = await sharp(image).flip().jpeg().toBuffer();
    const a = await post(`${u}/v1/chat/completions`, user('hi'));
    const b = await post(`${u}/v1/chat/completions`, user([imagePart(`data:image/jpeg;base64,${fresh.toString('base64')}`), textPart('Where?')]));
    await post(`${u}/v1/chat/completions`, '{');
    const m = await get(`${u}/metrics`);
    t.equal(m.status, 200);
    t.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const text = m.text;
    t.equal(metric(text, 'groundinggpt_requests_total{route="/v1/chat/completions",status="200"}'), 2);
    t.equal(metric(text, 'groundinggpt_requests_total{route="/v1/chat/completions",status="400"}'), 1);
    t.equal(metric(text, 'groundinggpt_generated_tokens_total'), a.json.usage.completion_tokens + b.json.usage.completion_tokens);
    t.equal(
      (metric(text, 'groundinggpt_prompt_tokens_total') ?? 0) + (metric(text, 'groundinggpt_prompt_tokens_reused_total') ?? 0),
      a.json.usage.prompt_tokens + b.json.usage.prompt_tokens,
    );
    t.equal(
      metric(text, 'groundinggpt_prompt_tokens_reused_total'),
      a.json.usage.prompt_tokens_details.cached_tokens + b.json.usage.prompt_tokens_details.cached_tokens,
    );
    t.equal(metric(text, 'groundinggpt_prefill_seconds_count'), 2);
    t.equal(metric(text, 'groundinggpt_decode_seconds_count'), 2);
    t.equal(metric(text, 'groundinggpt_encode_seconds_count'), 1, 'the tower ran once');
    t.equal(metric(text, 'groundinggpt_media_decode_seconds_count'), 1);
    t.equal(metric(text, 'groundinggpt_time_to_first_token_seconds_count'), 2);
    t.equal(metric(text, 'groundinggpt_request_duration_seconds_count'), 3);
    t.equal(metric(text, 'groundinggpt_queue_depth'), 0);
    t.equal(metric(text, 'groundinggpt_active_sequences'), 0);
    t.equal(metric(text, 'groundinggpt_model_loaded'), 1);
    t.equal(metric(text, 'groundinggpt_request_duration_seconds_bucket{le="+Inf"}'), 3);
  });
});

t.test('/health is 503 until the model is loaded, and after a failed load', async (t) => {
  const dir = await rigged;
  let resolve: (m: Model) => void = () => undefined;
  const pending = new Promise<Model>((r) => (resolve = r));
  const { url } = await startServer(t, pending);
  const h = await get(`${url}/health`);
  t.equal(h.status, 503);
  t.same(h.json, { status: 'loading' });
  t.equal(h.headers['retry-after'], '1');
  const early = await post(`${url}/v1/chat/completions`, user('hi'));
  t.equal(early.status, 503);
  t.equal(early.json.error.code, 'model_loading');
  t.equal((await get(`${url}/v1/models`)).status, 200, 'the model list needs no model');
  t.equal(metric((await get(`${url}/metrics`)).text, 'groundinggpt_model_loaded'), 0);
  const model = await loadModel({ model: dir, threads: 2 });
  t.teardown(() => model.dispose());
  resolve(model);
  await pending;
  const ready = await get(`${url}/health`);
  t.equal(ready.status, 200);
  t.equal(ready.json.status, 'ok');
  t.equal((await post(`${url}/v1/chat/completions`, user('hi'))).json.choices[0].message.content, ANSWER);

  const failing = Promise.reject(new ModelLoadError('no such file', { file: '/nope/llm.gguf' }));
  const { url: u } = await startServer(t, failing);
  await failing.catch(() => undefined);
  const f = await get(`${u}/health`);
  t.equal(f.status, 503);
  t.equal(f.json.status, 'error');
  const r = await post(`${u}/v1/chat/completions`, user('hi'));
  t.equal(r.status, 503);
  t.equal(r.json.error.code, 'model_load_failed');
});
