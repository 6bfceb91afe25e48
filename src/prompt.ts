/**
 * GroundingGPT's prompt (docs/COMPUTATION.md §5), as data: the conversation text in upstream's template
 * (lego/conversation.py, `conv_vicuna_v0`, SeparatorStyle.SINGLE) and its token plan, where the
 * patch tokens of each media block become placeholders for feature rows.
 *
 * ```
 * {system}###Human: {media blocks}{question}###Assistant: {answer}###Human: {question}###Assistant:
 * ```
 * A media block is `<x_start>` + rows × `<x_patch>` + `<x_end>` + "\n", in the order sound,
 * video, image, all in the first user turn.
 */
import { invalid } from './util/validate';

/** Upstream's system prompt (conv_vicuna_v0). */
export const SYSTEM_PROMPT =
  "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";

/** Upstream's turn separator; also the default stop string. */
export const SEPARATOR = '###';

/** The roles of the template. */
export const ROLES = { user: 'Human', assistant: 'Assistant' } as const;

/** A media kind that can be placed in the first user turn. */
export type MediaKind = 'image' | 'video' | 'audio';

/** Block order in the first user turn (sound, then video, then image). */
export const MEDIA_ORDER: readonly MediaKind[] = ['audio', 'video', 'image'];

/** The texts of the nine media tokens, per media kind. */
export const MEDIA_TOKEN_TEXT: Record<MediaKind, { start: string; patch: string; end: string }> = {
  image: { start: '<im_start>', patch: '<im_patch>', end: '<im_end>' },
  video: { start: '<vi_start>', patch: '<vi_patch>', end: '<vi_end>' },
  audio: { start: '<so_start>', patch: '<so_patch>', end: '<so_end>' },
};

/** A finished exchange of an earlier turn. */
export interface ChatTurn {
  /** What the user asked. */
  user: string;
  /** What the assistant answered (upstream keeps the decoded answer, stripped, without the stop string). */
  assistant: string;
}

/** Everything the prompt is made of. */
export interface PromptInput {
  /** System text. Default: {@link SYSTEM_PROMPT}. */
  system?: string;
  /** Earlier turns, oldest first. The media belong to the first user turn. */
  history?: readonly ChatTurn[];
  /** The question of the current turn. */
  user: string;
  /** Media of the first user turn, each at most once (any order: blocks are laid out sound, video, image). */
  media?: readonly MediaKind[];
  /** Feature rows per media item (placeholder tokens per block): the model's `info.media.*.rows`. */
  mediaRows?: Readonly<Record<MediaKind, number>>;
}

/** Feature rows of the released model: 576 (image), 64 (video), 8 (audio). */
export const DEFAULT_MEDIA_ROWS: Readonly<Record<MediaKind, number>> = { image: 576, video: 64, audio: 8 };

/** Text the user supplies must not contain media tokens: they would be taken for placeholders. */
export function checkUserText(text: unknown, name: string): string {
  if (typeof text !== 'string') throw invalid('a string', name, text);
  for (const kind of MEDIA_ORDER) {
    for (const t of Object.values(MEDIA_TOKEN_TEXT[kind])) {
      if (text.includes(t)) throw invalid(`a string without the media token ${t}`, name, text);
    }
  }
  return text;
}

function sortedMedia(media: readonly MediaKind[] | undefined): MediaKind[] {
  const list = media ?? [];
  for (const m of list) {
    if (!MEDIA_ORDER.includes(m)) throw invalid(`one of ${MEDIA_ORDER.map((x) => JSON.stringify(x)).join(', ')}`, 'media[]', m);
  }
  if (new Set(list).size !== list.length) throw invalid('each media kind at most once', 'media', list);
  return MEDIA_ORDER.filter((m) => list.includes(m));
}

/** The media blocks that open the first user message. */
export function mediaBlocks(media: readonly MediaKind[] | undefined, rows: Readonly<Record<MediaKind, number>> = DEFAULT_MEDIA_ROWS): string {
  let s = '';
  for (const m of sortedMedia(media)) {
    const t = MEDIA_TOKEN_TEXT[m];
    s += t.start + t.patch.repeat(rows[m]) + t.end + '\n';
  }
  return s;
}

/** The whole prompt text as upstream builds it (conv.get_prompt()). */
export function promptText(input: PromptInput): string {
  const system = input.system ?? SYSTEM_PROMPT;
  const history = input.history ?? [];
  const blocks = mediaBlocks(input.media, input.mediaRows ?? DEFAULT_MEDIA_ROWS);
  let s = system + SEPARATOR;
  history.forEach((turn, i) => {
    s += `${ROLES.user}: ${i === 0 ? blocks : ''}${turn.user}${SEPARATOR}`;
    s += `${ROLES.assistant}: ${turn.assistant}${SEPARATOR}`;
  });
  s += `${ROLES.user}: ${history.length === 0 ? blocks : ''}${input.user}${SEPARATOR}`;
  s += `${ROLES.assistant}:`;
  return s;
}

/** A planned prompt span: token ids, or the place of one media item's feature rows. */
export type PlannedSpan = { tokens: Int32Array } | { media: MediaKind; rows: number };

/** Token ids of the patch tokens, per media kind (the model's `mediaTokens`). */
export type PatchTokenIds = Readonly<Record<MediaKind, number>>;

/**
 * Splits the token ids of a prompt (BOS included) at its runs of patch tokens: every run becomes
 * a placeholder for that many feature rows; the start/end tokens stay in the token spans (they
 * keep their own embeddings).
 */
export function planSpans(ids: ArrayLike<number>, patch: PatchTokenIds): PlannedSpan[] {
  const kindOf = new Map<number, MediaKind>();
  for (const m of MEDIA_ORDER) kindOf.set(patch[m], m);
  const spans: PlannedSpan[] = [];
  let start = 0;
  let i = 0;
  while (i < ids.length) {
    const kind = kindOf.get(ids[i]);
    if (kind === undefined) {
      i++;
      continue;
    }
    if (i > start) spans.push({ tokens: Int32Array.from(Array.prototype.slice.call(ids, start, i) as number[]) });
    let j = i;
    while (j < ids.length && ids[j] === ids[i]) j++;
    spans.push({ media: kind, rows: j - i });
    i = j;
    start = j;
  }
  if (ids.length > start) spans.push({ tokens: Int32Array.from(Array.prototype.slice.call(ids, start) as number[]) });
  return spans;
}
