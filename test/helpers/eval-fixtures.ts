// Benchmark fixtures in the standard layouts (docs/EVAL.md "Datasets"), made by the tests: a refer
// toolkit data/ folder (refs(unc).p pickled as cPickle writes it, instances.json, COCO-named
// images), a Charades-STA txt with synthesised videos, a VGG-SS json with frames, sounds and a
// clip. Media: the golden dog picture and sound, the rest made with sharp and ffmpeg.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { mediaDir, tempDir } from './golden';
import { makeMedia } from './media';
import { type Plain, PyUnicode, pickleDump } from './pickle-writer';

export const dogImage = path.join(mediaDir, 'dog_image.jpg'); // 640 x 848: padded to 848, offset (104, 0)
export const dogAudio = path.join(mediaDir, 'dog_audio.wav');

/**
 * The rigged answer every fixture is scored against: one box and one span, so the same model
 * serves the three tasks. Box [0.25, 0.25, 0.75, 0.75] of the padded square; span 20 %-60 %.
 */
export const RIGGED_PIECES = [' The', ' dog', ' [0.25, 0.25, 0.75, 0.75]', ' barks', ' {0.20, 0.60}', '.'];

async function square(file: string, side: number): Promise<void> {
  await sharp({ create: { width: side, height: side, channels: 3, background: { r: 40, g: 120, b: 200 } } })
    .jpeg()
    .toFile(file);
}

const cocoName = (id: number) => `COCO_train2014_${String(id).padStart(12, '0')}.jpg`;

/** A ref of the refer toolkit, as its pickles hold them. */
function ref(refId: number, annId: number, imageId: number, split: string, sents: [number, string][]): Plain {
  return {
    sent_ids: sents.map(([id]) => id),
    file_name: `COCO_train2014_${String(imageId).padStart(12, '0')}_${annId}.jpg`,
    ann_id: annId,
    ref_id: refId,
    image_id: imageId,
    split,
    sentences: sents.map(([id, sent]) => ({ tokens: sent.split(' '), raw: new PyUnicode(sent.toUpperCase()), sent_id: id, sent })),
    category_id: 18,
  };
}

/**
 * data/refcoco/{refs(unc).p, instances.json} and data/images/mscoco/images/train2014/. Image 1
 * is 200 x 200 (the rigged box is [50, 50, 150, 150]); image 2 the dog (box [108, 212, 532, 636]).
 * val: 2 sentences hit (IoU 1), 1 misses; testA: 1 hit (IoU 412/424); testB: 1 miss; train: ignored.
 */
export async function makeRefcoco(protocol: 0 | 2 = 2): Promise<{ data: string; refsFile: string }> {
  const data = path.join(tempDir('ggpt-eval-refer-'), 'data');
  const dir = path.join(data, 'refcoco');
  const images = path.join(data, 'images', 'mscoco', 'images', 'train2014');
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(images, { recursive: true });
  await square(path.join(images, cocoName(1)), 200);
  fs.copyFileSync(dogImage, path.join(images, cocoName(2)));
  const refs: Plain = [
    ref(10, 101, 1, 'val', [
      [1000, 'the blue square middle'],
      [1001, 'middle one'],
    ]),
    ref(11, 102, 1, 'val', [[1002, "top left 'corner'"]]),
    ref(12, 103, 2, 'testA', [[1003, 'the dog']]),
    ref(13, 104, 2, 'testB', [[1004, 'the grass on the left']]),
    ref(14, 101, 1, 'train', [[1005, 'not evaluated']]),
  ];
  const refsFile = path.join(dir, 'refs(unc).p');
  fs.writeFileSync(refsFile, pickleDump(refs, protocol));
  const ann = (id: number, imageId: number, bbox: number[]) => ({
    id,
    image_id: imageId,
    bbox,
    category_id: 18,
    iscrowd: 0,
    area: bbox[2] * bbox[3],
    segmentation: [[]],
  });
  fs.writeFileSync(
    path.join(dir, 'instances.json'),
    JSON.stringify({
      images: [
        { id: 1, file_name: cocoName(1), width: 200, height: 200 },
        { id: 2, file_name: cocoName(2), width: 640, height: 848 },
      ],
      annotations: [ann(101, 1, [50, 50, 100, 100]), ann(102, 1, [0, 0, 50, 50]), ann(103, 2, [120, 212, 412, 424]), ann(104, 2, [0, 0, 100, 848])],
      categories: [{ id: 18, name: 'dog', supercategory: 'animal' }],
    }),
  );
  return { data, refsFile };
}

/**
 * charades_sta_test.txt and Charades_v1_480/{vidA,vidB}.mp4 (10 s each): the rigged span is
 * [2, 6] s; GT [2, 6] (IoU 1), [3, 7] (IoU 0.6), [6, 9] (IoU 0).
 */
export function makeCharades(): { file: string } {
  const dir = tempDir('ggpt-eval-charades-');
  const videos = path.join(dir, 'Charades_v1_480');
  fs.mkdirSync(videos);
  for (const v of ['vidA', 'vidB']) makeMedia(videos, `${v}.mp4`, ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=10', '-pix_fmt', 'yuv420p']);
  const file = path.join(dir, 'charades_sta_test.txt');
  fs.writeFileSync(file, 'vidA 2.0 6.0##person opens the door.\nvidA 3.0 7.0##person sits on a chair.\nvidB 6.0 9.0##person leaves the room.\n');
  return { file };
}

/**
 * vggss.json with three clips: `dog` (frames/dog.jpg = the dog picture, audio/dog.wav; GT = the
 * rigged box: cIoU 1), `clip` (video/clip.mp4 only, 320 x 240: its middle frame and audio track;
 * GT far away: cIoU 0), `sq` (a 200 x 200 frame, a sine wav; GT a quarter of the rigged box: cIoU 0.25).
 */
export async function makeVggss(): Promise<{ file: string }> {
  const dir = tempDir('ggpt-eval-vggss-');
  for (const d of ['frames', 'audio', 'video']) fs.mkdirSync(path.join(dir, d));
  fs.copyFileSync(dogImage, path.join(dir, 'frames', 'dog.jpg'));
  fs.copyFileSync(dogAudio, path.join(dir, 'audio', 'dog.wav'));
  await square(path.join(dir, 'frames', 'sq.jpg'), 200);
  makeMedia(path.join(dir, 'audio'), 'sq.wav', ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000:duration=2']);
  makeMedia(path.join(dir, 'video'), 'clip.mp4', [
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x240:rate=10:duration=2',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=300:sample_rate=16000:duration=2',
    '-pix_fmt',
    'yuv420p',
    '-shortest',
  ]);
  const file = path.join(dir, 'vggss.json');
  fs.writeFileSync(
    file,
    JSON.stringify([
      { file: 'dog', class: 'dog barking', bbox: [[108 / 640, 0.25, 532 / 640, 0.75]] },
      { file: 'clip', class: 'beep', bbox: [[0, 0, 0.2, 0.2]] },
      { file: 'sq', class: 'tone', bbox: [[0.25, 0.25, 0.5, 0.5]] },
    ]),
  );
  return { file };
}
