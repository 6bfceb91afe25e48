// docs/COMPUTATION.md §5: the prompt text, its token ids (upstream's slow LLaMA tokenizer) and the span plan,
// against the golden prompts of all five full/* cases and the manifest's tokenizer_cases.
import t from 'tap';
import { manifest, readExpected } from './helpers/golden';
import { tinyConverted } from './helpers/converted';
import { loadModel, type Model } from '../src/index';
import { SEPARATOR, planSpans, promptText, type MediaKind } from '../src/prompt';
import { InvalidInputError } from '../src/errors';

interface FullCase {
  id: string;
  user_text: string;
  prompt: string;
  prompt_token_ids: number[];
  media: { image: string | null; video: string | null; audio: string | null };
}

const m = manifest();
const fullCases: FullCase[] = m.cases.filter((c: { id: string }) => c.id.startsWith('full/'));
const rows = { image: m.tiny_model.mm.image_token_len, video: m.tiny_model.mm.video_token_len, audio: m.tiny_model.mm.sound_token_len };
const special = m.special_tokens as Record<string, number>;

function mediaOf(c: FullCase): MediaKind[] {
  const out: MediaKind[] = [];
  // deliberately not in block order: promptText lays them out sound, video, image
  if (c.media.image) out.push('image');
  if (c.media.video) out.push('video');
  if (c.media.audio) out.push('audio');
  return out;
}

t.test('prompt text equals the golden prompt of every full/* case', async (t) => {
  t.equal(fullCases.length, 5);
  for (const c of fullCases) {
    t.equal(promptText({ user: c.user_text, media: mediaOf(c), mediaRows: rows }), c.prompt, c.id);
  }
});

t.test('later turns follow conversation.py SINGLE style', async (t) => {
  const text = promptText({
    system: 'S',
    history: [{ user: 'q1', assistant: 'a1' }],
    user: 'q2',
    media: ['image'],
    mediaRows: { image: 2, video: 1, audio: 1 },
  });
  t.equal(text, `S${SEPARATOR}Human: <im_start><im_patch><im_patch><im_end>\nq1###Assistant: a1###Human: q2###Assistant:`);
  t.throws(() => promptText({ user: 'x', media: ['image', 'image'] }), InvalidInputError);
});

t.test('with the tiny model', async (t) => {
  const got = await tinyConverted();
  const model: Model = await loadModel({ model: { llm: got.llm }, contextSize: 1024 });
  t.teardown(() => model.dispose());

  t.test('media token ids come from the GGUF', async (t) => {
    const media = model.info.media;
    t.same(media.image.tokens, { start: special['<im_start>'], patch: special['<im_patch>'], end: special['<im_end>'] });
    t.same(media.video.tokens, { start: special['<vi_start>'], patch: special['<vi_patch>'], end: special['<vi_end>'] });
    t.same(media.audio.tokens, { start: special['<so_start>'], patch: special['<so_patch>'], end: special['<so_end>'] });
    t.same([media.image.rows, media.video.rows, media.audio.rows], [rows.image, rows.video, rows.audio]);
  });

  t.test('every golden prompt tokenises to prompt_token_ids', async (t) => {
    for (const c of fullCases) {
      const text = promptText({ user: c.user_text, media: mediaOf(c), mediaRows: rows });
      const ids = model.tokenize(text);
      t.same(ids, c.prompt_token_ids, c.id);
      const npy = readExpected(`full_${c.id.slice(5)}_prompt_ids.npy`);
      t.same(ids, Array.from(npy.data as BigInt64Array, Number), `${c.id} (.npy)`);
    }
  });

  t.test('the span plan puts one placeholder per media block, with its rows', async (t) => {
    const patch = { image: special['<im_patch>'], video: special['<vi_patch>'], audio: special['<so_patch>'] };
    for (const c of fullCases) {
      const ids = model.tokenize(promptText({ user: c.user_text, media: mediaOf(c), mediaRows: rows }));
      const spans = planSpans(ids, patch);
      const placeholders = spans.filter((s): s is { media: MediaKind; rows: number } => 'media' in s);
      t.same(
        placeholders,
        (['audio', 'video', 'image'] as MediaKind[]).filter((k) => mediaOf(c).includes(k)).map((k) => ({ media: k, rows: rows[k] })),
        c.id,
      );
      // re-expanding the placeholders gives the ids back
      const back: number[] = [];
      for (const s of spans) {
        if ('media' in s) back.push(...new Array<number>(s.rows).fill(patch[s.media]));
        else back.push(...s.tokens);
      }
      t.same(back, ids, `${c.id} round trip`);
    }
  });

  t.test('tokenizer_cases all match', async (t) => {
    for (const tc of m.tokenizer_cases as { text: string; ids: number[] }[]) {
      t.same(model.tokenize(tc.text), tc.ids, JSON.stringify(tc.text));
    }
  });

  t.test('tokenizer edge cases follow SentencePiece', async (t) => {
    t.same(model.tokenize(''), [1], 'empty text: BOS only (no lone dummy-prefix piece)');
    t.same(model.tokenize('', { bos: false }), []);
    t.same(model.tokenize('<im_end>  \n\t', { bos: false }), [special['<im_end>']], 'whitespace-only chunk after a media token vanishes');
    t.same(model.tokenize(' \u3000<im_start>', { bos: false }), [special['<im_start>']], 'unicode whitespace is stripped (str.isspace)');
    t.same(
      model.tokenize('a<s>b', { bos: false }),
      [...model.tokenize('a', { bos: false }), 1, ...model.tokenize('b', { bos: false })],
      '<s> is an added token upstream (no strip)',
    );
    t.same(model.tokenize('<im_start>', { bos: false, special: false }).includes(special['<im_start>']), false, 'special: false never yields media tokens');
  });

  t.test('detokenize inverts tokenize for ordinary text', async (t) => {
    for (const tc of m.tokenizer_cases as { text: string; ids: number[] }[]) {
      if (/<\w\w_\w+>/.test(tc.text)) continue;
      t.equal(model.detokenize(tc.ids), tc.text, JSON.stringify(tc.text));
    }
    t.equal(model.detokenize([special['<im_start>'], special['<im_patch>'], 2]), '', 'media and control tokens decode to nothing');
    t.throws(() => model.detokenize([1e6]), {
      name: 'InvalidInputError',
      message: /Expected an integer between 0 and 1008 for tokens\[0\] but received 1000000 of type number/,
    });
  });
});
