// The web playground (docs/SERVE.md "Playground") in a real browser: Debian's headless Chromium
// driven by playwright-core (no bundled browser) against a server on 127.0.0.1 over the rigged
// tiny model, whose answer holds a known box and span. An image is picked, a question asked, and
// the drawn box must sit where the answer's box is on the displayed image; then a video and its
// span on the timeline, a follow-up question (multi-turn), an API error shown as sent, and the
// stop button. The
// page must make no request beyond the server and cause no Content-Security-Policy violation.
// Screenshots go to build/test-output/ (docs/playground.png is one of them).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { mediaDir, tempDir } from './helpers/golden';
import { riggedModel } from './helpers/rigged';
import { get, request, startServer } from './helpers/serve';
import { PLAYGROUND_CSP } from '../src/serve/static';
import { loadModel, parseBoxes, parseSpans, probeVideo } from '../src/index';

const CHROMIUM = process.env.GROUNDINGGPT_CHROMIUM ?? '/usr/bin/chromium';
const OUT = path.join(__dirname, '..', 'build', 'test-output');
const image = path.join(mediaDir, 'test-1.jpeg'); // 640 x 488
const ANSWER = 'The dog [0.25, 0.25, 0.75, 0.75] barks {0.20, 0.60}.';
const rigged = riggedModel([' The dog', ' [0.25, 0.25, 0.75, 0.75]', ' barks', ' {0.20, 0.60}', '.']);
// an answer that goes on until max_tokens, to stop
const looping = riggedModel([' The dog', ' runs', ' and', ' runs on'], { loop: true });

/** A 2 s WebM of 16 small frames (WebM: Chromium builds without H.264 still play it). */
function shortVideo(): string {
  const out = path.join(tempDir(), 'short.webm');
  execFileSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=duration=2:size=160x120:rate=8',
    '-c:v',
    'libvpx',
    '-b:v',
    '200k',
    out,
  ]);
  return out;
}

/** What the page functions below use of the page's globals (the tests are compiled without the DOM's types). */
interface Page {
  document: { querySelectorAll(selector: string): { length: number }; querySelector(selector: string): { textContent: string | null } | null };
  violations: string[];
}

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

t.test('the package ships the page, and the built server finds it', async (t) => {
  const root = path.join(__dirname, '..');
  const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
  const files = (pack.files as { path: string }[]).map((f) => f.path);
  for (const f of ['playground/index.html', 'playground/app.js', 'playground/style.css', 'playground/icon.svg', 'lib/serve/static.js'])
    t.ok(files.includes(f), `packed: ${f}`);
  // lib/ (what the package runs) finds playground/ as src/ does
  const lib = require(path.join(root, 'lib', 'index.js')) as typeof import('../src/index');
  const server = lib.createServer(new Promise(() => undefined));
  const { url } = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close({ timeoutMs: 0 }));
  const page = await get(`${url}/`);
  t.equal(page.status, 200, 'lib/ serves the page');
  t.equal(page.text, fs.readFileSync(path.join(root, 'playground', 'index.html'), 'utf8'));
  t.equal((await get(`${url}/health`)).status, 503, 'while the model is loading');
});

t.test(
  'the playground in headless Chromium',
  { skip: fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set GROUNDINGGPT_CHROMIUM)` },
  async (t) => {
    const { chromium } = await import('playwright-core');
    const model = await loadModel({ model: await rigged, threads: 2, kvType: 'f32' });
    t.teardown(() => model.dispose());
    const { url } = await startServer(t, model);

    t.test('the files: types, the policy, no key needed', async (t) => {
      for (const [p, type] of [
        ['/', /^text\/html/],
        ['/playground/app.js', /^text\/javascript/],
        ['/playground/style.css', /^text\/css/],
        ['/playground/icon.svg', /^image\/svg\+xml/],
      ] as const) {
        const r = await get(`${url}${p}`);
        t.equal(r.status, 200, p);
        t.match(r.headers['content-type'], type, `${p}: type`);
        t.equal(r.headers['content-security-policy'], PLAYGROUND_CSP, `${p}: policy`);
        t.equal(r.headers['x-content-type-options'], 'nosniff', `${p}: nosniff`);
        t.ok(Number(r.headers['content-length']) > 0 && r.text.length > 0, `${p}: body`);
      }
      t.match(PLAYGROUND_CSP, /default-src 'self'/);
      t.notMatch(PLAYGROUND_CSP, /unsafe/);
      const head = await request(`${url}/`, 'HEAD');
      t.equal(head.status, 200);
      t.equal(head.text, '');
      t.equal((await get(`${url}/playground/nothing.js`)).status, 404);
      t.equal((await get(`${url}/playground/../package.json`)).status, 404);
      t.equal((await request(`${url}/`, 'POST', {})).status, 405);
      const keyed = await startServer(t, model, { apiKey: 'k' });
      t.equal((await get(`${keyed.url}/`)).status, 200, 'the page needs no key');
      t.equal((await get(`${keyed.url}/v1/models`)).status, 401, 'the API still does');
    });

    t.test('image, question, box; video, span; follow-up; error', async (t) => {
      const browser = await chromium.launch({ executablePath: CHROMIUM });
      t.teardown(() => browser.close());
      const page = await browser.newPage({ viewport: { width: 1100, height: 620 }, deviceScaleFactor: 1 });
      const requests: string[] = [];
      const bodies: { messages: { role: string; content: unknown }[]; stream?: boolean }[] = [];
      const problems: string[] = [];
      page.on('request', (r) => {
        requests.push(r.url());
        if (r.method() === 'POST') bodies.push(r.postDataJSON());
      });
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      // the page's own report of policy violations (an init script is not subject to the policy)
      // (as text: waitForFunction alone evaluates text with eval, which the policy forbids)
      await page.addInitScript(
        "window.violations = []; document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));",
      );
      const violations = () => page.evaluate('window.violations') as Promise<string[]>;
      const rect = (selector: string) => page.$eval(selector, (e) => e.getBoundingClientRect().toJSON() as Rect);

      const maxTokens = async (n: number) => {
        await page.click('#settings summary');
        await page.fill('#max-tokens', String(n));
        await page.click('#settings summary');
      };

      await page.goto(`${url}/`);
      await page.waitForSelector('#status.ok');
      t.match(await page.textContent('#status'), /ready/);

      // an image and a question
      await page.setInputFiles('#file', image);
      await page.fill('#prompt', 'Where is the dog?');
      await page.click('#send');
      await page.waitForSelector('.turn.assistant[data-state="done"]', { timeout: 20_000 });
      t.equal(await page.textContent('.turn.assistant .text'), ANSWER, 'the answer as streamed');
      t.equal(bodies[0].stream, true, 'asked for a stream');
      const img = await page.$eval('#image', (e) => {
        const i = e as unknown as { naturalWidth: number; naturalHeight: number; getBoundingClientRect(): { toJSON(): unknown } };
        return { ...(i.getBoundingClientRect().toJSON() as Rect), naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight };
      });
      t.same([img.naturalWidth, img.naturalHeight], [640, 488]);
      t.ok(img.height < 488, `the image is displayed scaled (${img.width.toFixed(1)} x ${img.height.toFixed(1)}), so the mapping is tested`);
      // the box in pixels of the image, by the library's parser; then in the page's coordinates
      const { boxes } = parseBoxes(ANSWER, { width: 640, height: 488 });
      t.equal(boxes.length, 1);
      const b = boxes[0].box;
      const sx = img.width / 640;
      const sy = img.height / 488;
      const expected = { x: img.x + b.x1 * sx, y: img.y + b.y1 * sy, width: (b.x2 - b.x1) * sx, height: (b.y2 - b.y1) * sy };
      t.equal(await page.locator('.box').count(), 1, 'one box drawn');
      const drawn = await rect('.box');
      for (const k of ['x', 'y', 'width', 'height'] as const) {
        t.ok(Math.abs(drawn[k] - expected[k]) <= 1, `box ${k}: drawn ${drawn[k].toFixed(1)}, expected ${expected[k].toFixed(1)} (px on screen)`);
      }
      t.equal(await page.textContent('.box .label'), 'The dog');
      t.match(await page.textContent('.turn.assistant .grounding'), `The dog: [${b.x1}, ${b.y1}, ${b.x2}, ${b.y2}] px`);
      fs.mkdirSync(OUT, { recursive: true });
      const shot = path.join(OUT, 'playground.png');
      await page.screenshot({ path: shot });
      t.comment(`screenshot: ${shot}`);

      // a follow-up: the whole conversation is sent, the image in the first turn only
      await page.fill('#prompt', 'Is it big?');
      await page.press('#prompt', 'Enter');
      await page.waitForFunction(
        () => (globalThis as unknown as Page).document.querySelectorAll('.turn.assistant[data-state="done"]').length === 2,
        undefined,
        { timeout: 20_000 },
      );
      const follow = bodies[1].messages;
      t.same(
        follow.map((m) => m.role),
        ['user', 'assistant', 'user'],
      );
      t.equal(follow[1].content, ANSWER);
      t.equal(follow[2].content, 'Is it big?');
      t.ok(
        Array.isArray(follow[0].content) && (follow[0].content as { type: string }[]).some((p) => p.type === 'image_url'),
        'the image stays in the first turn',
      );

      // an API error is shown as sent (the prompt holds a media token: 400 invalid_input)
      await page.fill('#prompt', 'look: <im_patch>');
      await page.click('#send');
      await page.waitForSelector('.turn.assistant[data-state="error"]', { timeout: 20_000 });
      t.match(await page.textContent('.turn.assistant[data-state="error"] .error'), /\(400 · invalid_input/);
      t.equal(await page.locator('.box').count(), 1, 'the last answer box stays');

      // a video: a new conversation, the span on the timeline under it
      const clip = shortVideo();
      await page.setInputFiles('#file', clip);
      t.equal(await page.locator('.turn').count(), 0, 'a video starts a new conversation');
      await page.fill('#prompt', 'When does it bark?');
      await page.click('#send');
      await page.waitForSelector('.turn.assistant[data-state="done"]', { timeout: 30_000 });
      const { segments } = parseSpans(ANSWER, (await probeVideo(clip)).duration);
      t.equal(segments.length, 1);
      const tl = await rect('#timeline');
      const span = await rect('.timeline .span');
      const ex = tl.x + segments[0].normalized.start * tl.width;
      const ew = (segments[0].normalized.end - segments[0].normalized.start) * tl.width;
      t.ok(
        Math.abs(span.x - ex) <= 1 && Math.abs(span.width - ew) <= 1,
        `span: drawn at ${span.x.toFixed(1)} + ${span.width.toFixed(1)}, expected ${ex.toFixed(1)} + ${ew.toFixed(1)}`,
      );
      t.equal(await page.locator('.box').count(), 0, 'no box for a video');
      await page.screenshot({ path: path.join(OUT, 'playground-video.png') });

      // Stop (a server over the looping model): the request is aborted, the partial answer stays
      // in the conversation, the next question goes on from it. The tiny model writes its 2,000
      // tokens faster than a click from here arrives, so the page clicks Stop itself once 40
      // characters have streamed in (a click event all the same: the page's own handler runs).
      const loopModel = await loadModel({ model: await looping, threads: 2, kvType: 'f32' });
      t.teardown(() => loopModel.dispose());
      const loop = await startServer(t, loopModel);
      await page.goto(`${loop.url}/`);
      await page.waitForSelector('#status.ok');
      await maxTokens(2000);
      await page.fill('#prompt', 'Tell me a long story.');
      const clicked = page.evaluate(`new Promise((resolve) => {
        const observer = new MutationObserver(() => {
          if ((document.querySelector('.turn.assistant .text')?.textContent ?? '').length <= 40) return;
          observer.disconnect();
          document.getElementById('stop').click();
          resolve();
        });
        observer.observe(document.getElementById('log'), { subtree: true, childList: true, characterData: true });
      })`);
      await page.click('#send');
      await clicked;
      await page.waitForSelector('.turn.assistant:not([data-state="streaming"])', { timeout: 20_000 });
      t.equal(await page.getAttribute('.turn.assistant', 'data-state'), 'stopped', 'Stop stopped the answer');
      const partial = (await page.textContent('.turn.assistant .text')) ?? '';
      t.ok(partial.includes('The dog runs and runs on') && partial.length < 2000 * 3, `stopped after ${partial.length} characters`);
      await maxTokens(5);
      await page.fill('#prompt', 'Go on.');
      await page.click('#send');
      await page.waitForSelector('.turn.assistant[data-state="done"]', { timeout: 20_000 });
      const after = bodies[bodies.length - 1].messages;
      t.same(
        after.map((m) => m.role),
        ['user', 'assistant', 'user'],
      );
      t.equal(after[1].content, partial, 'the stopped answer, as far as it went');

      // Chromium logs the failed request of the error check; nothing else may be reported
      const failed = /Failed to load resource: the server responded with a status of 400/;
      t.equal(problems.filter((p) => failed.test(p)).length, 1, 'the 400 of the error check, logged by Chromium');
      t.same(
        problems.filter((p) => !failed.test(p)),
        [],
        'no other console error, page error or policy report',
      );
      t.same(await violations(), [], 'no Content-Security-Policy violation');
      const servers = [new URL(url).origin, new URL(loop.url).origin];
      const elsewhere = requests.filter((r) => !servers.some((o) => r.startsWith(`${o}/`)) && !r.startsWith('blob:') && !r.startsWith('data:'));
      t.same(elsewhere, [], `every request went to ${servers.join(' or ')}`);
      t.ok(
        requests.some((r) => r.endsWith('/playground/app.js')),
        'the script was loaded',
      );

      // the policy is enforced (the check above can fail): an inline style is refused and reported
      await page.evaluate("document.body.insertAdjacentHTML('beforeend', '<span style=\"color: red\">x</span>')");
      await page.waitForFunction(() => (globalThis as unknown as Page).violations.length > 0, undefined, { timeout: 5000 });
      t.match((await violations())[0], /^style-src/);
    });
  },
);
