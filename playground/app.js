// The groundinggpt playground (docs/SERVE.md "Playground"): plain JavaScript, no framework, no
// build step, nothing fetched from elsewhere. The conversation goes to the server's own
// OpenAI-compatible endpoint (POST /v1/chat/completions, stream: true); each answer's `grounding`
// is drawn: boxes on the image (fractions of its size, so they follow the displayed size), spans
// on a timeline under the video. Runs under the server's Content-Security-Policy: no inline
// script or style, so styles are set through the CSSOM only.
'use strict';

const $ = (id) => document.getElementById(id);
const COLOURS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#0fa3b1', '#f032e6', '#9a6324'];
const NAMES = { image: 'image', video: 'video', audio: 'sound' };

const state = {
  /** The OpenAI messages of the conversation so far. */
  messages: [],
  /** kind -> { name, url (object URL of the file) } of the conversation's media. */
  media: {},
  /** Media parts not sent yet (they go with the next question). */
  pending: [],
  /** The AbortController of the answer being streamed. */
  controller: null,
  /** Counts new conversations: an answer stopped by one must not write into the next. */
  conversation: 0,
};

// ---- media ----

function kindOf(file) {
  const type = file.type.split('/')[0];
  if (type === 'image' || type === 'video' || type === 'audio') return type;
  const ext = file.name.toLowerCase().split('.').pop();
  if (['jpg', 'jpeg', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif', 'heic', 'heif'].includes(ext)) return 'image';
  if (['mp4', 'webm', 'mkv', 'mov', 'avi', 'm4v'].includes(ext)) return 'video';
  if (['wav', 'mp3'].includes(ext)) return 'audio';
  return null;
}

/** The `format` of an input_audio part: the API takes WAV and MP3. */
function audioFormat(file) {
  if (/mpeg|mp3/.test(file.type) || /\.mp3$/i.test(file.name)) return 'mp3';
  if (/wav/.test(file.type) || /\.wav$/i.test(file.name)) return 'wav';
  return null;
}

function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** Adds files to the conversation; one that cannot join its media (a second image, a video with an image) starts a new one. */
async function attach(files) {
  for (const file of files) {
    const kind = kindOf(file);
    if (!kind) {
      note(`${file.name}: not an image, a video or a sound`, 'error');
      continue;
    }
    const format = kind === 'audio' ? audioFormat(file) : null;
    if (kind === 'audio' && !format) {
      note(`${file.name}: sounds are sent as WAV or MP3`, 'error');
      continue;
    }
    const kinds = Object.keys(state.media);
    const fits = !state.media[kind] && (kind === 'video' ? kinds.length === 0 : !state.media.video);
    if (!fits) reset();
    const url = await readDataUrl(file);
    if (kind === 'image') state.pending.push({ type: 'image_url', image_url: { url } });
    else if (kind === 'video') state.pending.push({ type: 'video_url', video_url: { url } });
    else state.pending.push({ type: 'input_audio', input_audio: { data: url.slice(url.indexOf(',') + 1), format } });
    state.media[kind] = { name: file.name, url: URL.createObjectURL(file) };
    showMedia();
  }
}

function showMedia() {
  const { image, video, audio } = state.media;
  $('stage').hidden = !image && !video && !audio;
  $('drop').classList.toggle('compact', !$('stage').hidden);
  for (const [kind, el] of [
    ['image', $('image')],
    ['video', $('video')],
    ['audio', $('audio')],
  ]) {
    const m = state.media[kind];
    $(`${kind}-wrap`).hidden = !m;
    if (m && el.getAttribute('src') !== m.url) el.src = m.url;
    if (!m && el.getAttribute('src')) el.removeAttribute('src');
  }
  $('media-names').textContent = Object.entries(state.media)
    .map(([kind, m]) => `${NAMES[kind]}: ${m.name}`)
    .join(' · ');
}

// ---- the conversation ----

function reset() {
  state.conversation++;
  state.controller?.abort();
  for (const m of Object.values(state.media)) URL.revokeObjectURL(m.url);
  state.messages = [];
  state.media = {};
  state.pending = [];
  $('log').replaceChildren();
  drawGrounding({ boxes: [], spans: [] });
  showMedia();
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function scrollLog() {
  const log = $('log');
  log.scrollTop = log.scrollHeight;
}

/** A line of the log that is not a turn (a file that cannot be sent). */
function note(text, className) {
  $('log').append(el('li', `note ${className}`, text));
  scrollLog();
}

function busy(on) {
  $('send').disabled = on;
  $('stop').disabled = !on;
  document.body.classList.toggle('busy', on);
}

function headers() {
  const h = { 'Content-Type': 'application/json' };
  const key = $('api-key').value.trim();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

/** The API's error object as an Error (docs/SERVE.md "Errors"). */
function apiError(error, status) {
  const e = new Error(error?.message ?? `HTTP ${status}`);
  e.code = error?.code ?? null;
  e.param = error?.param ?? null;
  e.status = status;
  return e;
}

/** The data: payloads of a server-sent event stream, parsed ('[DONE]' as the string). */
async function* events(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      // comments (keep-alive) carry no data
      if (data) yield data === '[DONE]' ? data : JSON.parse(data);
    }
  }
}

async function ask(text) {
  const parts = state.pending;
  const user = { role: 'user', content: parts.length ? [...parts, { type: 'text', text }] : text };
  const turn = el('li', 'turn user');
  turn.append(el('div', 'text', text));
  if (parts.length)
    turn.append(
      el(
        'div',
        'attached',
        `with the ${Object.keys(state.media)
          .map((k) => NAMES[k])
          .join(' and ')}`,
      ),
    );
  const answer = el('li', 'turn assistant');
  const body = el('div', 'text');
  answer.append(body);
  answer.dataset.state = 'streaming';
  $('log').append(turn, answer);
  scrollLog();

  const controller = new AbortController();
  const conversation = state.conversation;
  state.controller = controller;
  busy(true);
  let content = '';
  let grounding = null;
  try {
    const request = { messages: [...state.messages, user], stream: true };
    const maxTokens = Number($('max-tokens').value);
    if (maxTokens > 0) request.max_tokens = maxTokens;
    const temperature = Number($('temperature').value);
    if ($('temperature').value !== '' && temperature >= 0) request.temperature = temperature;
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(request), signal: controller.signal });
    if (!res.ok) {
      const json = await res.json().catch(() => null);
      throw apiError(json?.error, res.status);
    }
    for await (const event of events(res)) {
      if (event === '[DONE]') break;
      if (event.error) throw apiError(event.error, res.status);
      const delta = event.choices?.[0]?.delta;
      if (delta?.content) {
        content += delta.content;
        body.textContent = content;
        scrollLog();
      }
      if (delta?.grounding) grounding = delta.grounding;
    }
    if (!grounding) throw new Error('The answer stream ended before the answer was complete');
    state.pending = [];
    state.messages.push(user, { role: 'assistant', content });
    showAnswer(answer, body, content, grounding);
    answer.dataset.state = 'done';
  } catch (err) {
    if (conversation !== state.conversation) return;
    if (controller.signal.aborted) {
      // a stopped answer stays in the conversation as far as it went
      if (content) {
        state.pending = [];
        state.messages.push(user, { role: 'assistant', content });
      }
      answer.append(el('div', 'stopped', 'stopped'));
      answer.dataset.state = 'stopped';
    } else {
      // a failed question is not part of the conversation: it can be asked again
      const where = [err.status, err.code, err.param].filter((x) => x !== null && x !== undefined).join(' · ');
      answer.append(el('div', 'error', where ? `${err.message} (${where})` : err.message));
      answer.dataset.state = 'error';
    }
  } finally {
    if (state.controller === controller) state.controller = null;
    busy(false);
    scrollLog();
  }
}

// ---- grounding ----

const BOX_LITERAL = /\[\s*-?[\d.]+\s*,\s*-?[\d.]+\s*,\s*-?[\d.]+\s*,\s*-?[\d.]+\s*\]/g;
const SPAN_LITERAL = /\{\s*-?[\d.]+\s*,\s*-?[\d.]+\s*\}/g;
const pct = (v) => `${(v * 100).toFixed(4)}%`;
const colour = (i) => COLOURS[i % COLOURS.length];

/** Writes the answer with its literals in their box's or span's colour, lists them, and draws them. */
function showAnswer(answer, body, content, grounding) {
  const marks = [];
  for (const [re, list] of [
    [BOX_LITERAL, grounding.boxes],
    [SPAN_LITERAL, grounding.spans],
  ]) {
    const found = [...content.matchAll(re)];
    // colours only when each literal became one box or span (the library drops malformed ones)
    if (found.length !== list.length) continue;
    found.forEach((m, i) => {
      marks.push({ at: m.index, end: m.index + m[0].length, i });
    });
  }
  marks.sort((a, b) => a.at - b.at);
  body.replaceChildren();
  let at = 0;
  for (const m of marks) {
    body.append(content.slice(at, m.at));
    const span = el('span', 'literal', content.slice(m.at, m.end));
    span.style.color = colour(m.i);
    body.append(span);
    at = m.end;
  }
  body.append(content.slice(at));

  if (grounding.boxes.length || grounding.spans.length) {
    const list = el('ul', 'grounding');
    grounding.boxes.forEach((b, i) => {
      const item = el('li', '', `${b.phrase || '(no phrase)'}: [${b.box.x1}, ${b.box.y1}, ${b.box.x2}, ${b.box.y2}] px`);
      item.prepend(swatch(i));
      list.append(item);
    });
    grounding.spans.forEach((s, i) => {
      const item = el('li', '', `${s.phrase || '(no phrase)'}: ${s.start.toFixed(2)}–${s.end.toFixed(2)} s`);
      item.prepend(swatch(i));
      list.append(item);
    });
    answer.append(list);
    answer.classList.add('grounded');
    answer.title = 'click to draw this answer again';
    answer.addEventListener('click', () => drawGrounding(grounding));
  }
  drawGrounding(grounding);
}

function swatch(i) {
  const s = el('span', 'swatch');
  s.style.background = colour(i);
  return s;
}

/** Boxes over the image and spans on the video's timeline, in fractions of their size. */
function drawGrounding(grounding) {
  const boxes = $('boxes');
  boxes.replaceChildren();
  grounding.boxes.forEach((b, i) => {
    const n = b.normalized;
    const div = el('div', 'box');
    div.style.left = pct(n.x1);
    div.style.top = pct(n.y1);
    div.style.width = pct(n.x2 - n.x1);
    div.style.height = pct(n.y2 - n.y1);
    div.style.borderColor = colour(i);
    div.dataset.box = `${b.box.x1},${b.box.y1},${b.box.x2},${b.box.y2}`;
    const label = el('span', 'label', b.phrase || `box ${i + 1}`);
    label.style.background = colour(i);
    div.append(label);
    boxes.append(div);
  });
  const timeline = $('timeline');
  for (const s of timeline.querySelectorAll('.span')) s.remove();
  grounding.spans.forEach((s, i) => {
    const div = el('div', 'span');
    div.style.left = pct(s.normalized.start);
    div.style.width = pct(s.normalized.end - s.normalized.start);
    div.style.background = colour(i);
    div.title = `${s.phrase}: ${s.start.toFixed(2)}–${s.end.toFixed(2)} s (click to play from there)`;
    div.dataset.span = `${s.start},${s.end}`;
    div.append(el('span', 'label', s.phrase || `span ${i + 1}`));
    div.addEventListener('click', () => {
      $('video').currentTime = s.start;
      $('video')
        .play()
        .catch(() => undefined);
    });
    timeline.append(div);
  });
}

// ---- the server's state ----

async function health() {
  try {
    const res = await fetch('/health');
    const h = await res.json();
    if (h.status === 'ok') {
      $('status').textContent = `${h.model} · ready`;
      $('status').className = 'status ok';
      return;
    }
    $('status').textContent = h.status === 'loading' ? 'model loading…' : `${h.status}${h.error ? `: ${h.error}` : ''}`;
    $('status').className = `status ${h.status === 'loading' ? '' : 'bad'}`;
    if (h.status === 'loading') setTimeout(health, 1000);
  } catch {
    $('status').textContent = 'server unreachable';
    $('status').className = 'status bad';
  }
}

// ---- wiring ----

function init() {
  const attachAll = (files) => attach(files).catch((err) => note(`Could not read the file: ${err?.message ?? err}`, 'error'));
  $('file').addEventListener('change', (e) => {
    attachAll([...e.target.files]);
    e.target.value = '';
  });
  const drop = $('media-pane');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    attachAll([...e.dataTransfer.files]);
  });
  $('ask').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('prompt').value.trim();
    if (!text || state.controller) return;
    $('prompt').value = '';
    ask(text);
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      $('ask').requestSubmit();
    }
  });
  $('stop').addEventListener('click', () => state.controller?.abort());
  $('reset').addEventListener('click', reset);
  const video = $('video');
  const cursor = el('div', 'cursor');
  $('timeline').append(cursor);
  video.addEventListener('timeupdate', () => {
    if (video.duration > 0) cursor.style.left = pct(video.currentTime / video.duration);
  });
  health();
}

init();
