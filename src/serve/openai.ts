/**
 * The request and response shapes of the server (docs/SERVE.md): `POST /v1/chat/completions` as
 * OpenAI defines it (validated field by field: an unknown field or a value this model cannot
 * honour is a 400 naming the field, never silently ignored), `POST /v1/ground` in the library's
 * own shapes, and the completion, chunk, usage and `grounding` objects of the answers.
 */
import type { MediaKind } from '../prompt';
import type { ChatTurn } from '../prompt';
import type { Box, GroundedBox } from '../parse/boxes';
import type { GenerateResult, GroundResult, StopReason, Timings } from '../types';
import { SEPARATOR } from '../prompt';
import { HttpError, badRequest } from './errors';
import type { MediaRef } from './media';

/** Generation settings of a request, in the library's option names. */
export interface GenerationParams {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  seed?: number;
  stop?: string[];
}

/** A validated request of either route: one library call. */
export interface ModelJob {
  system?: string;
  history: ChatTurn[];
  /** The user turn the model answers. */
  user: string;
  /** At most one per kind: they sit in the first user turn of the prompt (docs/COMPUTATION.md §5). */
  media: MediaRef[];
  gen: GenerationParams;
  /** Frames sampled from a video (library default 64). */
  maxFrames?: number;
}

/** A validated `POST /v1/chat/completions`. */
export interface ChatJob extends ModelJob {
  stream: boolean;
  /** `stream_options.include_usage`: a last chunk with `usage` and no choices. */
  includeUsage: boolean;
}

/** The `grounding` field of an assistant message: boxes in pixels and spans in seconds of the media sent. */
export interface Grounding {
  /** `box` in pixels of the image sent, `normalized` as fractions of its width and height (the library's {@link GroundedBox}). */
  boxes: { phrase: string; box: Box; normalized: Box }[];
  /** `start`/`end` in seconds of the video sent, `normalized` as fractions of its duration. */
  spans: { phrase: string; start: number; end: number; normalized: { start: number; end: number } }[];
}

/** The `usage` object of a completion. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

// ---------------------------------------------------------------------------------------------
// validation helpers: each names the field at fault (`param`) as OpenAI's errors do

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: unknown, param: string): Obj {
  if (!isObject(v)) throw badRequest(`${param} must be an object`, param, 'invalid_type');
  return v;
}

function str(v: unknown, param: string): string {
  if (typeof v !== 'string') throw badRequest(`${param} must be a string`, param, 'invalid_type');
  return v;
}

function numberIn(v: unknown, param: string, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
    throw badRequest(`${param} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}`, param, 'invalid_value');
  }
  return v;
}

/** Unknown fields are refused: a misspelt option must not be silently dropped. */
function onlyKnown(o: Obj, known: ReadonlySet<string>, prefix: string): void {
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new HttpError(400, `Unrecognized request argument supplied: ${prefix}${k}`, { param: `${prefix}${k}`, code: 'unknown_field' });
  }
}

function unsupported(param: string, what: string): HttpError {
  return new HttpError(400, `${param}: ${what} is not supported by this server`, { param, code: 'unsupported_value' });
}

// ---------------------------------------------------------------------------------------------
// POST /v1/chat/completions

const CHAT_FIELDS = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'seed',
  'stop',
  'n',
  'user',
  'metadata',
  'store',
  'service_tier',
  // accepted with their neutral values only
  'frequency_penalty',
  'presence_penalty',
  'logprobs',
  'top_logprobs',
  'logit_bias',
  'response_format',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  // llama-server's extensions
  'top_k',
  'min_p',
  'repeat_penalty',
]);

/** The most stop strings a request may add to the template's separator (OpenAI's limit). */
const MAX_STOP = 4;

function stopList(v: unknown, param: string, max: number): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length > max) throw badRequest(`${param} must be a string or an array of at most ${max} strings`, param, 'invalid_value');
  return list.map((s, i) => {
    if (typeof s !== 'string' || s.length === 0) throw badRequest(`${param}[${i}] must be a non-empty string`, `${param}[${i}]`, 'invalid_value');
    return s;
  });
}

/** The text of a message's content: a string, or text parts joined by newlines. */
function textContent(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw badRequest(`${param} must be a string or an array of text parts`, param, 'invalid_type');
  return content
    .map((p, i) => {
      const part = object(p, `${param}[${i}]`);
      if (part.type !== 'text') throw badRequest(`${param}[${i}].type must be "text" in this message`, `${param}[${i}].type`, 'invalid_value');
      onlyKnown(part, new Set(['type', 'text']), `${param}[${i}].`);
      return str(part.text, `${param}[${i}].text`);
    })
    .join('\n');
}

const PART_FIELD: Record<string, string> = { text: 'text', image_url: 'image_url', input_audio: 'input_audio', video_url: 'video_url' };

/** A user message's content: its text and its media parts. */
function userContent(content: unknown, param: string, media: MediaRef[]): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw badRequest(`${param} must be a string or an array of content parts`, param, 'invalid_type');
  const texts: string[] = [];
  content.forEach((p, i) => {
    const at = `${param}[${i}]`;
    const part = object(p, at);
    const type = part.type;
    if (typeof type !== 'string' || !(type in PART_FIELD)) {
      throw badRequest(`${at}.type must be one of "text", "image_url", "input_audio", "video_url"`, `${at}.type`, 'invalid_value');
    }
    onlyKnown(part, new Set(['type', PART_FIELD[type]]), `${at}.`);
    if (type === 'text') {
      texts.push(str(part.text, `${at}.text`));
      return;
    }
    const inner = object(part[type], `${at}.${type}`);
    if (type === 'input_audio') {
      onlyKnown(inner, new Set(['data', 'format']), `${at}.input_audio.`);
      const format = inner.format;
      if (format !== 'wav' && format !== 'mp3')
        throw badRequest(`${at}.input_audio.format must be "wav" or "mp3"`, `${at}.input_audio.format`, 'invalid_value');
      media.push({ kind: 'audio', param: `${at}.input_audio.data`, base64: str(inner.data, `${at}.input_audio.data`), format });
      return;
    }
    const kind: MediaKind = type === 'image_url' ? 'image' : 'video';
    onlyKnown(inner, new Set(kind === 'image' ? ['url', 'detail'] : ['url']), `${at}.${type}.`);
    if (inner.detail !== undefined && !['auto', 'low', 'high'].includes(inner.detail as string)) {
      throw badRequest(`${at}.image_url.detail must be "auto", "low" or "high"`, `${at}.image_url.detail`, 'invalid_value');
    }
    media.push({ kind, param: `${at}.${type}.url`, url: str(inner.url, `${at}.${type}.url`) });
  });
  return texts.join('\n');
}

const MESSAGE_FIELDS: Record<string, ReadonlySet<string>> = {
  system: new Set(['role', 'content', 'name']),
  developer: new Set(['role', 'content', 'name']),
  user: new Set(['role', 'content', 'name']),
  // an assistant message sent back as it came (the openai client keeps the extra field) is fine
  assistant: new Set(['role', 'content', 'name', 'refusal', 'grounding']),
};

/** The conversation of `messages`: system text, earlier turns, the last user turn, the media. */
function conversation(messages: unknown): Pick<ModelJob, 'system' | 'history' | 'user' | 'media'> {
  if (!Array.isArray(messages) || messages.length === 0) throw badRequest('messages must be a non-empty array', 'messages', 'invalid_value');
  const system: string[] = [];
  const media: MediaRef[] = [];
  // consecutive messages of one role are merged (their texts joined by a newline)
  const turns: { role: 'user' | 'assistant'; text: string }[] = [];
  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    const msg = object(m, at);
    const role = msg.role;
    if (typeof role !== 'string' || !(role in MESSAGE_FIELDS)) {
      throw badRequest(`${at}.role must be "system", "developer", "user" or "assistant" (tools are not supported)`, `${at}.role`, 'invalid_value');
    }
    onlyKnown(msg, MESSAGE_FIELDS[role], `${at}.`);
    if (msg.name !== undefined) str(msg.name, `${at}.name`);
    if (role === 'system' || role === 'developer') {
      system.push(textContent(msg.content, `${at}.content`));
      return;
    }
    const text = role === 'user' ? userContent(msg.content, `${at}.content`, media) : textContent(msg.content, `${at}.content`);
    const last = turns[turns.length - 1];
    if (last && last.role === role) last.text += `\n${text}`;
    else turns.push({ role: role as 'user' | 'assistant', text });
  });
  if (turns.length === 0 || turns[0].role !== 'user')
    throw badRequest('messages must hold a user message before any assistant message', 'messages', 'invalid_value');
  if (turns[turns.length - 1].role !== 'user') throw badRequest('the last message (after system messages) must be a user message', 'messages', 'invalid_value');
  const seen = new Set<MediaKind>();
  for (const r of media) {
    if (seen.has(r.kind)) {
      throw badRequest(
        `${r.param}: a conversation holds at most one image, one video and one sound (they belong to its first user turn); this is a second ${r.kind}`,
        r.param,
        'too_many_media',
      );
    }
    seen.add(r.kind);
  }
  const history: ChatTurn[] = [];
  for (let i = 0; i + 1 < turns.length; i += 2) history.push({ user: turns[i].text, assistant: turns[i + 1].text });
  return { ...(system.length > 0 ? { system: system.join('\n') } : {}), history, user: turns[turns.length - 1].text, media };
}

/** Validates a chat completion request (null stands for an absent optional field). */
export function parseChatRequest(body: unknown): ChatJob {
  const raw = object(body, 'body');
  onlyKnown(raw, CHAT_FIELDS, '');
  const o: Obj = {};
  for (const [k, v] of Object.entries(raw)) if (v !== null) o[k] = v;

  if (o.model !== undefined) str(o.model, 'model');
  if (o.user !== undefined) str(o.user, 'user');
  if (o.metadata !== undefined) object(o.metadata, 'metadata');
  if (o.service_tier !== undefined) str(o.service_tier, 'service_tier');
  if (o.store !== undefined && o.store !== false) throw unsupported('store', 'storing completions');
  if (o.n !== undefined && o.n !== 1) throw unsupported('n', 'more than one choice (n must be 1)');
  for (const k of ['frequency_penalty', 'presence_penalty'] as const)
    if (o[k] !== undefined && o[k] !== 0) throw unsupported(k, `a ${k} other than 0 (repeat_penalty is)`);
  if (o.logprobs !== undefined && o.logprobs !== false) throw unsupported('logprobs', 'returning log probabilities');
  if (o.top_logprobs !== undefined && o.top_logprobs !== 0) throw unsupported('top_logprobs', 'returning log probabilities');
  if (o.logit_bias !== undefined && (!isObject(o.logit_bias) || Object.keys(o.logit_bias).length > 0)) throw unsupported('logit_bias', 'a logit bias');
  if (o.response_format !== undefined && !(isObject(o.response_format) && o.response_format.type === 'text' && Object.keys(o.response_format).length === 1)) {
    throw unsupported('response_format', 'a response format other than { "type": "text" }');
  }
  if (o.tools !== undefined && !(Array.isArray(o.tools) && o.tools.length === 0)) throw unsupported('tools', 'tool calling');
  if (o.tool_choice !== undefined && o.tool_choice !== 'none') throw unsupported('tool_choice', 'tool calling');
  if (o.parallel_tool_calls !== undefined && typeof o.parallel_tool_calls !== 'boolean')
    throw badRequest('parallel_tool_calls must be a boolean', 'parallel_tool_calls');

  const stream = o.stream === undefined ? false : o.stream;
  if (typeof stream !== 'boolean') throw badRequest('stream must be a boolean', 'stream', 'invalid_type');
  let includeUsage = false;
  if (o.stream_options !== undefined) {
    const so = object(o.stream_options, 'stream_options');
    onlyKnown(so, new Set(['include_usage', 'include_obfuscation']), 'stream_options.');
    if (so.include_usage !== undefined && so.include_usage !== null) {
      if (typeof so.include_usage !== 'boolean')
        throw badRequest('stream_options.include_usage must be a boolean', 'stream_options.include_usage', 'invalid_type');
      includeUsage = so.include_usage;
    }
  }

  const gen: GenerationParams = {};
  const a = o.max_completion_tokens;
  const b = o.max_tokens;
  if (a !== undefined && b !== undefined && a !== b)
    throw badRequest('max_tokens and max_completion_tokens differ; send one of them', 'max_tokens', 'invalid_value');
  if (a !== undefined) gen.maxTokens = numberIn(a, 'max_completion_tokens', 1, 1_000_000, true);
  else if (b !== undefined) gen.maxTokens = numberIn(b, 'max_tokens', 1, 1_000_000, true);
  if (o.temperature !== undefined) gen.temperature = numberIn(o.temperature, 'temperature', 0, 2);
  if (o.top_p !== undefined) gen.topP = numberIn(o.top_p, 'top_p', 0, 1);
  if (o.top_k !== undefined) gen.topK = numberIn(o.top_k, 'top_k', 0, 1_000_000, true);
  if (o.min_p !== undefined) gen.minP = numberIn(o.min_p, 'min_p', 0, 1);
  if (o.repeat_penalty !== undefined) {
    gen.repeatPenalty = numberIn(o.repeat_penalty, 'repeat_penalty', 0, 10);
    if (gen.repeatPenalty === 0) throw badRequest('repeat_penalty must be greater than 0', 'repeat_penalty', 'invalid_value');
  }
  if (o.seed !== undefined) gen.seed = numberIn(o.seed, 'seed', 0, 0xfffffffe, true);
  // the template's separator always stops the answer (it starts the next turn); `stop` adds to it
  gen.stop = [SEPARATOR, ...(o.stop === undefined ? [] : stopList(o.stop, 'stop', MAX_STOP))];

  return { ...conversation(o.messages), gen, stream, includeUsage };
}

// ---------------------------------------------------------------------------------------------
// POST /v1/ground

const GROUND_FIELDS = new Set([
  'model',
  'prompt',
  'image',
  'video',
  'audio',
  'history',
  'system',
  'maxTokens',
  'temperature',
  'topK',
  'topP',
  'minP',
  'repeatPenalty',
  'repeatLastN',
  'seed',
  'stop',
  'maxFrames',
]);

/**
 * Validates a `POST /v1/ground` body: the library's option names and meanings (`stop` replaces
 * the default `['###']`, as in the library); the values themselves are checked by the library.
 */
export function parseGroundRequest(body: unknown): ModelJob {
  const o = object(body, 'body');
  onlyKnown(o, GROUND_FIELDS, '');
  if (o.model !== undefined) str(o.model, 'model');
  const user = str(o.prompt, 'prompt');
  const media: MediaRef[] = [];
  for (const kind of ['image', 'video', 'audio'] as const) if (o[kind] !== undefined) media.push({ kind, param: kind, url: str(o[kind], kind) });
  if (media.length === 0)
    throw badRequest('send at least one of image, video, audio (text-only questions go to /v1/chat/completions)', 'image', 'missing_media');
  let system: string | undefined;
  if (o.system !== undefined) system = str(o.system, 'system');
  const history: ChatTurn[] = [];
  if (o.history !== undefined) {
    if (!Array.isArray(o.history)) throw badRequest('history must be an array of { user, assistant }', 'history', 'invalid_type');
    o.history.forEach((t, i) => {
      const turn = object(t, `history[${i}]`);
      onlyKnown(turn, new Set(['user', 'assistant']), `history[${i}].`);
      history.push({ user: str(turn.user, `history[${i}].user`), assistant: str(turn.assistant, `history[${i}].assistant`) });
    });
  }
  const gen: GenerationParams = {};
  for (const k of ['maxTokens', 'temperature', 'topK', 'topP', 'minP', 'repeatPenalty', 'repeatLastN', 'seed'] as const) {
    if (o[k] !== undefined) gen[k] = o[k] as number;
  }
  if (o.stop !== undefined) {
    if (!Array.isArray(o.stop)) throw badRequest('stop must be an array of strings', 'stop', 'invalid_type');
    gen.stop = o.stop as string[];
  }
  return { ...(system !== undefined ? { system } : {}), history, user, media, gen, ...(o.maxFrames !== undefined ? { maxFrames: o.maxFrames as number } : {}) };
}

// ---------------------------------------------------------------------------------------------
// answers

/** The grounding of an answer (empty arrays for a text-only call or nothing grounded). */
export function groundingOf(result: GenerateResult | GroundResult): Grounding {
  const g = result as Partial<GroundResult>;
  return {
    boxes: (g.boxes ?? []).map((b) => ({ phrase: b.phrase, box: { ...b.box }, normalized: { ...b.normalized } })),
    spans: (g.segments ?? []).map((s) => ({ phrase: s.phrase, start: s.start, end: s.end, normalized: { ...s.normalized } })),
  };
}

/** OpenAI's finish_reason for the library's stop reason. */
export function finishReason(r: StopReason): 'stop' | 'length' {
  return r === 'max_tokens' || r === 'context_full' ? 'length' : 'stop';
}

/** Token counts: every prompt position (media rows included; those reused from the KV cache are `cached_tokens`). */
export function usageOf(t: Timings): Usage {
  const prompt = t.promptTokens + t.reusedTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: t.generatedTokens,
    total_tokens: prompt + t.generatedTokens,
    prompt_tokens_details: { cached_tokens: t.reusedTokens },
  };
}

/** Identity of one completion: its id, creation time and model id. */
export interface CompletionHead {
  id: string;
  created: number;
  model: string;
}

/** A non-streamed `chat.completion`. */
export function completion(head: CompletionHead, result: GenerateResult | GroundResult) {
  return {
    id: head.id,
    object: 'chat.completion' as const,
    created: head.created,
    model: head.model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: result.text, refusal: null, grounding: groundingOf(result) },
        logprobs: null,
        finish_reason: finishReason(result.stopReason),
      },
    ],
    usage: usageOf(result.timings),
  };
}

/** A `chat.completion.chunk` with one choice (or none: the usage chunk). */
export function chunk(head: CompletionHead, delta: Obj | undefined, finish: 'stop' | 'length' | null, usage?: Usage) {
  return {
    id: head.id,
    object: 'chat.completion.chunk' as const,
    created: head.created,
    model: head.model,
    system_fingerprint: null,
    choices: delta === undefined ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(usage !== undefined ? { usage } : {}),
  };
}
