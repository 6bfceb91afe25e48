// Attack cases (e): API misuse. Wrong types and values for every option of loadModel, generate,
// generateStream, groundImage/Video/Audio, createChat/send and embed*; calls after dispose;
// concurrent calls with aborts and disposes. Each must give a typed error or succeed (README,
// "Errors": the process never crashes and the model stays usable).
// (Over 500 lines: one table of cases per public call, kept together so a new option gets its cases.)
import fs from 'node:fs';
import { loadModel } from '../../src/index';
import type { Model } from '../../src/model';
import type { AttackCase, AttackEnv, CaseContext } from './case';
import { CheckFailed } from './cases-convert';

/** Bad values for an option, by what it is. */
const NUMBER_BAD: unknown[] = ['2', NaN, -1, 1.5, 1e12, Infinity, -Infinity, null, {}, [], true, 5n, -0.5];
const STRING_BAD: unknown[] = ['', 'F16', 5, null, {}, ['f16'], true];
const FUNCTION_BAD: unknown[] = [5, 'f', {}, null, []];
const SIGNAL_BAD: unknown[] = [{}, 5, 'abort', null, { aborted: 'no', addEventListener() {} }, { aborted: false }];

const label = (v: unknown): string => {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'function';
  if (typeof v === 'number') return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

const rawImg = () => ({ data: new Uint8Array(16 * 16 * 3).fill(90), width: 16, height: 16, channels: 3 as const });
const rawAudio = () => ({ samples: new Float32Array(4000).fill(0.05), sampleRate: 16000 });
const rawVideo = () => ({ frames: [rawImg(), rawImg()] });

/** Loads a private tiny model for cases that dispose it or need it fresh. */
function ownModel(ctx: CaseContext): Promise<Model> {
  return loadModel({ model: ctx.modelDir, threads: 1, contextSize: 256 });
}

async function settleAll<T>(ps: Promise<T>[]): Promise<PromiseSettledResult<T>[]> {
  return Promise.allSettled(ps);
}

/** Rethrows the first rejection of typed kind, checks there is no untyped one. */
function firstTypedError(results: PromiseSettledResult<unknown>[]): void {
  for (const r of results) {
    if (r.status === 'rejected') {
      const e = r.reason as { code?: unknown };
      if (typeof e?.code !== 'string') throw r.reason;
    }
  }
  const bad = results.find((r) => r.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;
}

function loadModelCases(): AttackCase[] {
  const cases: AttackCase[] = [];
  const opts: [string, unknown[]][] = [
    ['threads', NUMBER_BAD],
    ['gpuLayers', NUMBER_BAD],
    ['contextSize', [...NUMBER_BAD, 7, 1 << 21]],
    ['batchSize', [...NUMBER_BAD, 0, 8193]],
    ['featureCacheBytes', NUMBER_BAD],
    ['kvType', STRING_BAD],
    ['flashAttn', STRING_BAD],
    ['towerMatmul', STRING_BAD],
    ['loadEncoders', ['true', 1, null, {}]],
    ['onProgress', FUNCTION_BAD],
    ['logger', FUNCTION_BAD],
    ['signal', SIGNAL_BAD],
  ];
  for (const [key, values] of opts) {
    for (const v of values) {
      cases.push({
        id: `api/loadModel/${key}=${label(v)}`,
        category: 'api',
        expect: 'any',
        run: async (ctx) => {
          const m = await loadModel({ model: ctx.modelDir, threads: 1, contextSize: 256, [key]: v } as never);
          await m.generate('hi', { maxTokens: 2 });
          await m.dispose();
        },
      });
    }
  }
  const models: [string, (ctx: CaseContext) => unknown][] = [
    ['null', () => null],
    ['number', () => 5],
    ['empty-string', () => ''],
    ['empty-object', () => ({})],
    ['llm-number', () => ({ llm: 5 })],
    ['llm-missing', (c) => ({ llm: c.file('missing.gguf') })],
    ['array', () => []],
    ['etc-passwd', () => '/etc/passwd'],
    ['root-dir', () => '/'],
    ['encoders-as-llm', (c) => ({ llm: c.encoders })],
    ['llm-as-encoders', (c) => ({ llm: c.llm, encoders: c.llm })],
    ['encoders-empty-string', (c) => ({ llm: c.llm, encoders: '' })],
    ['dev-null', () => '/dev/null'],
    ['directory-as-llm', (c) => ({ llm: c.modelDir })],
  ];
  for (const [name, make] of models) {
    cases.push({
      id: `api/loadModel/model-${name}`,
      category: 'api',
      expect: 'error',
      run: async (ctx) => {
        const m = await loadModel({ model: make(ctx), threads: 1, contextSize: 256 } as never);
        await m.dispose();
      },
    });
  }
  const combos: [string, Record<string, unknown>][] = [
    ['q8_0-kv-flash-off', { kvType: 'q8_0', flashAttn: 'off' }],
    ['q8_0-kv-flash-on', { kvType: 'q8_0', flashAttn: 'on' }],
    ['context-8', { contextSize: 8 }],
    ['context-max', { contextSize: 1 << 20 }],
    ['batch-1', { batchSize: 1 }],
    ['gpu-layers-huge', { gpuLayers: 100000 }],
    ['f32-kv-flash-on', { kvType: 'f32', flashAttn: 'on' }],
    ['int8-towers', { towerMatmul: 'int8' }],
    ['no-encoders', { loadEncoders: false }],
    ['threads-64', { threads: 64 }],
  ];
  for (const [name, o] of combos) {
    cases.push({
      id: `api/loadModel/combo-${name}`,
      category: 'api',
      expect: 'any',
      run: async (ctx) => {
        const m = await loadModel({ model: ctx.modelDir, threads: 1, contextSize: 256, ...o } as never);
        try {
          await m.generate('Hello there', { maxTokens: 3 });
          if (m.info.media.image.available) await m.groundImage(rawImg(), 'Where?', { maxTokens: 2 });
        } finally {
          await m.dispose();
        }
      },
    });
  }
  for (const v of [undefined, null, 'model', 5]) {
    cases.push({ id: `api/loadModel/options-${label(v)}`, category: 'api', expect: 'error', run: () => loadModel(v as never) });
  }
  cases.push({
    id: 'api/loadModel/abort-immediately',
    category: 'api',
    expect: 'error',
    codes: ['ABORTED'],
    run: async (ctx) => {
      const ac = new AbortController();
      const p = loadModel({ model: ctx.modelDir, threads: 1, contextSize: 256, signal: ac.signal });
      ac.abort();
      const m = await p;
      await m.dispose();
    },
  });
  cases.push({
    id: 'api/loadModel/onProgress-throws',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const m = await loadModel({
        model: ctx.modelDir,
        threads: 1,
        contextSize: 256,
        onProgress: () => {
          throw new Error('progress hook failed');
        },
      }).catch((e: Error) => {
        if (e.message === 'progress hook failed') return undefined; // the caller's own error back
        throw e;
      });
      await m?.dispose();
    },
  });
  return cases;
}

function generateCases(): AttackCase[] {
  const cases: AttackCase[] = [];
  const opts: [string, unknown[]][] = [
    ['maxTokens', NUMBER_BAD],
    ['temperature', NUMBER_BAD],
    ['topK', NUMBER_BAD],
    ['topP', [...NUMBER_BAD, 1.0001]],
    ['minP', NUMBER_BAD],
    ['repeatPenalty', [...NUMBER_BAD, 0, 11]],
    ['repeatLastN', [...NUMBER_BAD, -2]],
    ['seed', [...NUMBER_BAD, 0xffffffff]],
    ['stop', ['###', [''], [5], new Array(17).fill('x'), [null], {}, null, ['a'.repeat(100000)]]],
    ['system', [5, null, {}, '\u0000', 'x'.repeat(200000)]],
    [
      'history',
      [
        'x',
        [{}],
        [{ user: 5, assistant: 'a' }],
        [null],
        [{ user: 'a', assistant: 'b', extra: 1 }],
        new Array(1000).fill({ user: 'hello', assistant: 'there' }),
      ],
    ],
    ['onToken', FUNCTION_BAD],
    ['onPromptProgress', FUNCTION_BAD],
    ['signal', SIGNAL_BAD],
  ];
  for (const [key, values] of opts) {
    for (const v of values) {
      cases.push({
        id: `api/generate/${key}=${label(v).slice(0, 40)}`,
        category: 'api',
        expect: 'any',
        run: async (ctx) => (await ctx.model()).generate('Hello', { maxTokens: 3, [key]: v } as never),
      });
    }
  }
  for (const [name, text] of [
    ['number', 5],
    ['null', null],
    ['empty', ''],
    ['nul', '\u0000'],
    ['lone-surrogate', '\ud800'],
    ['huge', 'word '.repeat(40000)],
    ['media-token', 'look <im_patch>'],
    ['object', {}],
  ] as const) {
    cases.push({
      id: `api/generate/text-${name}`,
      category: 'api',
      expect: 'any',
      run: async (ctx) => (await ctx.model()).generate(text as never, { maxTokens: 2 }),
    });
  }
  for (const v of ['x', 5, [], null]) {
    cases.push({
      id: `api/generate/options-${label(v)}`,
      category: 'api',
      expect: 'error',
      run: async (ctx) => (await ctx.model()).generate('hi', v as never),
    });
  }
  cases.push({
    id: 'api/generateStream/bad-option',
    category: 'api',
    expect: 'error',
    run: async (ctx) => (await ctx.model()).generateStream('hi', { topK: -5 }).result,
  });
  cases.push({
    id: 'api/generateStream/break-early',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const s = (await ctx.model()).generateStream('Hello', { maxTokens: 50, stop: [] });
      for await (const _ of s) break;
      const r = await s.result;
      if (r.stopReason !== 'aborted' && r.stopReason !== 'max_tokens' && r.stopReason !== 'eos') throw new CheckFailed(`stopReason ${r.stopReason}`);
    },
  });
  cases.push({
    id: 'api/generate/onToken-throws',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const err = await (await ctx.model())
        .generate('Hello', {
          maxTokens: 10,
          stop: [],
          onToken: () => {
            throw new Error('mine');
          },
        })
        .catch((e: Error) => e);
      if (!(err instanceof Error) || err.message !== 'mine') throw new CheckFailed(`expected the callback's own error, got ${String(err)}`);
    },
  });
  cases.push({
    id: 'api/generate/onToken-async-rejects',
    category: 'api',
    expect: 'any',
    known: 'rejecting async onToken',
    run: async (ctx) => {
      await (await ctx.model())
        .generate('Hello', {
          maxTokens: 4,
          stop: [],
          onToken: async () => {
            throw new Error('async callback failed');
          },
        })
        .catch((e: Error) => {
          if (e.message !== 'async callback failed') throw e;
        });
      await new Promise((r) => setTimeout(r, 20));
    },
  });
  cases.push({
    id: 'api/generate/onPromptProgress-throws',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      await (await ctx.model())
        .generate('Hello', {
          maxTokens: 4,
          onPromptProgress: () => {
            throw new Error('mine');
          },
        })
        .catch((e: Error) => {
          if (e.message !== 'mine') throw e;
        });
    },
  });
  return cases;
}

function mediaCallCases(env: AttackEnv): AttackCase[] {
  const cases: AttackCase[] = [];
  type Call = (m: Model, o: Record<string, unknown>) => Promise<unknown>;
  const calls: [string, Call][] = [
    ['groundImage', (m, o) => m.groundImage(rawImg(), 'Where?', { maxTokens: 2, ...o })],
    ['groundVideo', (m, o) => m.groundVideo(rawVideo(), 'When?', { maxTokens: 2, ...o })],
    ['groundAudio', (m, o) => m.groundAudio(rawAudio(), 'What?', { maxTokens: 2, ...o })],
    ['embedImage', (m, o) => m.embedImage(rawImg(), o)],
    ['embedVideo', (m, o) => m.embedVideo(rawVideo(), o)],
    ['embedAudio', (m, o) => m.embedAudio(rawAudio(), o)],
    ['createChat', (m, o) => m.createChat({ image: rawImg(), ...o }).send('Where?', { maxTokens: 2 })],
  ];
  const opts: [string, unknown[]][] = [
    ['limitInputPixels', [-1, NaN, 'x', true, 0, 1.5, 10]],
    ['maxFrames', [0, 65, NaN, '2']],
    ['ffmpegPath', ['', 5, '/etc/passwd', '/bin/true']],
    ['ffprobePath', ['', 5, '/etc/passwd']],
    ['onProgress', [5, 'x']],
    ['signal', [{}, 5]],
  ];
  for (const [name, call] of calls) {
    for (const [key, values] of opts) {
      for (const v of values) {
        cases.push({
          id: `api/${name}/${key}=${label(v)}`,
          category: 'api',
          expect: 'any',
          run: async (ctx) => call(await ctx.model(), { [key]: v }),
        });
      }
    }
    for (const v of [null, 5, 'x']) {
      cases.push({ id: `api/${name}/options-${label(v)}`, category: 'api', expect: 'any', run: async (ctx) => call(await ctx.model(), v as never) });
    }
  }
  for (const [name, input] of [
    ['null', null],
    ['number', 5],
    ['object', {}],
    ['array', []],
    ['boolean', true],
    ['undefined', undefined],
    ['symbol', Symbol('x')],
  ] as const) {
    const known = name === 'undefined' ? 'media args undefined/holes/string width' : undefined;
    cases.push({
      id: `api/groundImage/image-${name}`,
      category: 'api',
      expect: 'error',
      ...(known ? { known } : {}),
      run: async (ctx) => (await ctx.model()).groundImage(input as never, 'x', { maxTokens: 2 }),
    });
    cases.push({
      id: `api/groundVideo/video-${name}`,
      category: 'api',
      expect: 'error',
      ...(known ? { known } : {}),
      run: async (ctx) => (await ctx.model()).groundVideo(input as never, 'x', { maxTokens: 2 }),
    });
    cases.push({
      id: `api/groundAudio/audio-${name}`,
      category: 'api',
      expect: 'error',
      ...(known ? { known } : {}),
      run: async (ctx) => (await ctx.model()).groundAudio(input as never, 'x', { maxTokens: 2 }),
    });
  }
  for (const [name, prompt] of [
    ['number', 5],
    ['null', null],
    ['media-token', '<im_patch>'],
  ] as const) {
    cases.push({
      id: `api/groundImage/prompt-${name}`,
      category: 'api',
      expect: 'error',
      run: async (ctx) => (await ctx.model()).groundImage(rawImg(), prompt as never, { maxTokens: 2 }),
    });
  }
  const chatOpts: [string, unknown][] = [
    ['image-number', { image: 5 }],
    ['video-null', { video: null }],
    ['history-string', { history: 'x' }],
    ['history-bad-turn', { history: [{ user: 5 }] }],
    ['system-number', { system: 5 }],
    ['options-string', 'x'],
    ['audio-corrupt', { audio: Buffer.from('nope') }],
  ];
  for (const [name, o] of chatOpts) {
    cases.push({
      id: `api/createChat/${name}`,
      category: 'api',
      expect: 'error',
      run: async (ctx) => (await ctx.model()).createChat(o as never).send('hi', { maxTokens: 2 }),
    });
  }
  for (const [name, text] of [
    ['number', 5],
    ['null', null],
  ] as const) {
    cases.push({
      id: `api/chat.send/text-${name}`,
      category: 'api',
      expect: 'error',
      run: async (ctx) => (await ctx.model()).createChat({}).send(text as never),
    });
  }
  cases.push({
    id: 'api/ffmpegPath/nonexistent',
    category: 'api',
    expect: 'error',
    codes: ['FFMPEG_NOT_FOUND'],
    known: 'nonexistent explicit ffmpegPath',
    run: async (ctx) => (await ctx.model()).groundVideo(env.media.mp4, 'x', { maxTokens: 2, ffmpegPath: ctx.file('no-ffmpeg') }),
  });
  cases.push({
    id: 'api/ffmpegPath/nonexistent-audio',
    category: 'api',
    expect: 'error',
    codes: ['FFMPEG_NOT_FOUND'],
    known: 'nonexistent explicit ffmpegPath',
    run: async (ctx) => (await ctx.model()).embedAudio(env.media.wav, { ffmpegPath: '/nonexistent/dir/ffmpeg' }),
  });
  for (const [name, tokens] of [
    ['negative', [-1]],
    ['huge', [1e9]],
    ['NaN', [NaN]],
    ['fraction', [1.5]],
    ['string', 'abc'],
    ['null', null],
    ['holes', [1, , 2]],
    ['objects', [{}]],
  ] as const) {
    cases.push({ id: `api/detokenize/${name}`, category: 'api', expect: 'error', run: async (ctx) => (await ctx.model()).detokenize(tokens as never) });
  }
  for (const [name, text, o] of [
    ['number', 5, undefined],
    ['bos-string', 'hi', { bos: 'yes' }],
    ['huge', 'abc '.repeat(250000), undefined],
  ] as const) {
    cases.push({
      id: `api/tokenize/${name}`,
      category: 'api',
      expect: name === 'huge' ? 'any' : 'error',
      run: async (ctx) => (await ctx.model()).tokenize(text as never, o as never),
    });
  }
  return cases;
}

function lifecycleCases(env: AttackEnv): AttackCase[] {
  const cases: AttackCase[] = [];
  const after: [string, (m: Model) => unknown][] = [
    ['generate', (m) => m.generate('hi')],
    ['generateStream', (m) => m.generateStream('hi').result],
    ['groundImage', (m) => m.groundImage(rawImg(), 'x')],
    ['groundVideo', (m) => m.groundVideo(rawVideo(), 'x')],
    ['groundAudio', (m) => m.groundAudio(rawAudio(), 'x')],
    ['embedImage', (m) => m.embedImage(rawImg())],
    ['embedVideo', (m) => m.embedVideo(rawVideo())],
    ['embedAudio', (m) => m.embedAudio(rawAudio())],
    ['createChat', (m) => m.createChat({})],
    ['tokenize', (m) => m.tokenize('hi')],
    ['detokenize', (m) => m.detokenize([1])],
    ['info', (m) => m.info],
    ['promptText', (m) => m.promptText('hi')],
    ['groundVideo-file', (m) => m.groundVideo(env.media.mp4, 'x')],
  ];
  for (const [name, call] of after) {
    cases.push({
      id: `api/after-dispose/${name}`,
      category: 'api',
      expect: 'error',
      codes: ['DISPOSED'],
      run: async (ctx) => {
        const m = await ownModel(ctx);
        await m.dispose();
        await m.dispose();
        await call(m);
      },
    });
  }
  cases.push({
    id: 'api/after-dispose/chat-send',
    category: 'api',
    expect: 'error',
    codes: ['DISPOSED'],
    run: async (ctx) => {
      const m = await ownModel(ctx);
      const chat = m.createChat({ image: rawImg() });
      await m.dispose();
      await chat.send('hi');
    },
  });
  cases.push({
    id: 'api/concurrent/dispose-while-queued',
    category: 'api',
    expect: 'error',
    codes: ['DISPOSED'],
    run: async (ctx) => {
      const m = await ownModel(ctx);
      const ps: Promise<unknown>[] = [
        m.generate('one', { maxTokens: 30, stop: [] }),
        m.groundImage(rawImg(), 'two', { maxTokens: 30 }),
        m.embedAudio(rawAudio()),
        m.generate('three'),
      ];
      const d = m.dispose();
      const rs = await settleAll(ps);
      await d;
      firstTypedError(rs);
    },
  });
  cases.push({
    id: 'api/concurrent/dispose-during-generate',
    category: 'api',
    expect: 'any',
    codes: ['DISPOSED'],
    run: async (ctx) => {
      const m = await ownModel(ctx);
      let n = 0;
      const p = m.generate('Hello', {
        maxTokens: 200,
        stop: [],
        onToken: () => {
          if (++n === 3) void m.dispose();
        },
      });
      await p.finally(() => m.dispose());
    },
  });
  cases.push({
    id: 'api/concurrent/dispose-during-ffmpeg',
    category: 'api',
    expect: 'any',
    codes: ['DISPOSED', 'ABORTED'],
    known: 'dispose during ffmpeg',
    run: async (ctx) => {
      const m = await ownModel(ctx);
      const p = m.groundVideo(env.media.mp4, 'When?', { maxTokens: 2 });
      await new Promise((r) => setTimeout(r, 15));
      const d = m.dispose();
      try {
        await p;
      } finally {
        await d;
      }
    },
  });
  cases.push({
    id: 'api/concurrent/dispose-during-audio-decode',
    category: 'api',
    expect: 'any',
    codes: ['DISPOSED', 'ABORTED'],
    known: 'dispose during ffmpeg',
    run: async (ctx) => {
      const m = await ownModel(ctx);
      const p = m.embedAudio(env.media.mp3);
      await new Promise((r) => setTimeout(r, 5));
      const d = m.dispose();
      try {
        await p;
      } finally {
        await d;
      }
    },
  });
  cases.push({
    id: 'api/concurrent/five-generates-agree',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const m = await ctx.model();
      const rs = await Promise.all([0, 1, 2, 3, 4].map(() => m.generate('Tell me', { maxTokens: 6, stop: [] })));
      const first = JSON.stringify(rs[0].tokens);
      if (rs.some((r) => JSON.stringify(r.tokens) !== first))
        throw new CheckFailed(`concurrent greedy generations differ: ${rs.map((r) => r.tokens.join(',')).join(' | ')}`);
    },
  });
  cases.push({
    id: 'api/concurrent/abort-queued',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const m = await ctx.model();
      const ac = new AbortController();
      const a = m.generate('first', { maxTokens: 20, stop: [] });
      const b = m.generate('second', { maxTokens: 20, signal: ac.signal });
      const c = m.groundImage(rawImg(), 'third', { maxTokens: 3, signal: ac.signal });
      ac.abort();
      const rs = await settleAll([a, b, c]);
      if (rs[0].status !== 'fulfilled') throw (rs[0] as PromiseRejectedResult).reason;
      for (const r of rs.slice(1)) if (r.status === 'rejected' && (r.reason as { code?: string }).code !== 'ABORTED') throw r.reason;
    },
  });
  cases.push({
    id: 'api/concurrent/abort-mid-generate',
    category: 'api',
    expect: 'error',
    codes: ['ABORTED'],
    run: async (ctx) => {
      const ac = new AbortController();
      let n = 0;
      await (await ctx.model()).generate('Hello', {
        maxTokens: 100,
        stop: [],
        signal: ac.signal,
        onToken: () => {
          if (++n === 2) ac.abort();
        },
      });
    },
  });
  cases.push({
    id: 'api/concurrent/abort-already-aborted',
    category: 'api',
    expect: 'error',
    codes: ['ABORTED'],
    run: async (ctx) => {
      const m = await ctx.model();
      const s = AbortSignal.abort();
      const rs = await settleAll<unknown>([
        m.generate('a', { signal: s }),
        m.groundImage(rawImg(), 'b', { signal: s }),
        m.embedAudio(rawAudio(), { signal: s }),
        m.embedVideo(env.media.mp4, { signal: s }),
      ]);
      firstTypedError(rs);
    },
  });
  cases.push({
    id: 'api/concurrent/abort-during-video-decode',
    category: 'api',
    expect: 'any',
    codes: ['ABORTED'],
    run: async (ctx) => {
      const ac = new AbortController();
      const p = (await ctx.model()).groundVideo(env.media.mp4, 'When?', { maxTokens: 2, signal: ac.signal });
      setTimeout(() => ac.abort(), 10);
      await p;
    },
  });
  cases.push({
    id: 'api/concurrent/abort-during-audio-decode',
    category: 'api',
    expect: 'any',
    codes: ['ABORTED'],
    run: async (ctx) => {
      const ac = new AbortController();
      const p = (await ctx.model()).embedAudio(env.media.mp3, { signal: ac.signal });
      setTimeout(() => ac.abort(), 3);
      await p;
    },
  });
  cases.push({
    id: 'api/concurrent/mixed-calls',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const m = await ctx.model();
      const rs = await settleAll<unknown>([
        m.generate('a', { maxTokens: 3 }),
        m.embedImage(rawImg()),
        m.groundAudio(rawAudio(), 'b', { maxTokens: 2 }),
        m.embedVideo(rawVideo()),
        m.createChat({ audio: rawAudio(), image: rawImg() }).send('c', { maxTokens: 2 }),
        m.generate('d', { maxTokens: 2, topK: -1 }),
      ]);
      for (const [i, r] of rs.entries()) if (r.status === 'rejected' && i !== 5) throw r.reason;
      if (rs[5].status !== 'rejected') throw new CheckFailed('topK -1 accepted');
    },
  });
  cases.push({
    id: 'api/concurrent/stream-and-dispose',
    category: 'api',
    expect: 'any',
    codes: ['DISPOSED'],
    run: async (ctx) => {
      const m = await ownModel(ctx);
      const s = m.generateStream('Hello', { maxTokens: 100, stop: [] });
      let n = 0;
      try {
        for await (const _ of s) if (++n === 2) void m.dispose();
        await s.result;
      } finally {
        await m.dispose();
      }
    },
  });
  cases.push({
    id: 'api/concurrent/two-models-dispose-one',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const a = await ownModel(ctx);
      const b = await ownModel(ctx);
      const p = a.generate('x', { maxTokens: 20, stop: [] });
      await b.dispose();
      await p;
      await a.dispose();
    },
  });
  cases.push({
    id: 'api/lifecycle/feature-cache-0-repeated',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const m = await loadModel({ model: ctx.modelDir, threads: 1, contextSize: 256, featureCacheBytes: 0 });
      try {
        for (let i = 0; i < 3; i++) await m.groundImage(rawImg(), 'x', { maxTokens: 2 });
      } finally {
        await m.dispose();
      }
    },
  });
  cases.push({
    id: 'api/lifecycle/context-overflow-history',
    category: 'api',
    expect: 'error',
    codes: ['INVALID_INPUT'],
    run: async (ctx) =>
      (await ctx.model()).generate('x', { history: Array.from({ length: 50 }, () => ({ user: 'hello there my friend', assistant: 'yes indeed it is' })) }),
  });
  cases.push({
    id: 'api/lifecycle/text-without-encoders',
    category: 'api',
    expect: 'error',
    codes: ['INVALID_INPUT'],
    run: async (ctx) => {
      const m = await loadModel({ model: ctx.modelDir, threads: 1, contextSize: 256, loadEncoders: false });
      try {
        await m.embedImage(rawImg());
      } finally {
        await m.dispose();
      }
    },
  });
  cases.push({
    id: 'api/lifecycle/model-file-deleted-after-load',
    category: 'api',
    expect: 'any',
    run: async (ctx) => {
      const dir = ctx.file('copy');
      fs.mkdirSync(dir);
      fs.copyFileSync(ctx.llm, `${dir}/llm.gguf`);
      fs.copyFileSync(ctx.encoders, `${dir}/encoders.gguf`);
      const m = await loadModel({ model: dir, threads: 1, contextSize: 256 });
      fs.rmSync(dir, { recursive: true });
      try {
        await m.groundImage(rawImg(), 'x', { maxTokens: 2 });
      } finally {
        await m.dispose();
      }
    },
  });
  return cases;
}

export function apiCases(env: AttackEnv): AttackCase[] {
  return [...loadModelCases(), ...generateCases(), ...mediaCallCases(env), ...lifecycleCases(env)];
}
