import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countLiveCharts, renderChart, type ChartJsMajor } from '../../src/index.js';
import { countDrawnPixels, decodeImage, differingFraction, type DecodedImage } from '../helpers/images.js';

/**
 * Glyph checks: a character with no glyph in any font draws as a .notdef "tofu"
 * box (or nothing). U+E000 (Private Use Area) has a glyph in no font chartd can
 * use, so it is the reference for "this text was not really rendered": a real
 * glyph must look different from it, and different real glyphs from each other.
 */
const NO_GLYPH = '\uE000';
const CJK_CHARS = ['统', '计', '日', 'あ'];
const LATIN_CHARS = ['A', 'g'];
const WIDTH = 300;
const HEIGHT = 150;
/** Title at 48 px with Chart.js' 10 px padding above and below: the top 70 rows. */
const TITLE_ROWS = 70;

interface TitleOptions {
  family?: string;
  version?: ChartJsMajor;
  format?: 'png' | 'svg';
  width?: number;
}

function titledChart(text: string, { family, version = 4 }: TitleOptions): Record<string, unknown> {
  const data = { labels: ['a'], datasets: [{ data: [1] }] };
  if (version === 2) {
    return {
      type: 'bar',
      data,
      options: { legend: { display: false }, title: { display: true, text, fontSize: 48, ...(family ? { fontFamily: family } : {}) } },
    };
  }
  return {
    type: 'bar',
    data,
    options: {
      plugins: { legend: { display: false }, title: { display: true, text, font: { size: 48, ...(family ? { family } : {}) } } },
    },
  };
}

/** The title band of a chart titled `text`, rendered at devicePixelRatio 1. */
async function renderTitle(text: string, options: TitleOptions = {}): Promise<DecodedImage> {
  const width = options.width ?? WIDTH;
  const { body } = await renderChart({
    chart: titledChart(text, options),
    version: options.version ?? 4,
    format: options.format ?? 'png',
    width,
    height: HEIGHT,
    devicePixelRatio: 1,
  });
  assert.equal(countLiveCharts(), 0);
  const image = await decodeImage(body);
  assert.deepEqual([image.width, image.height], [width, HEIGHT]);
  return { ...image, height: TITLE_ROWS, pixels: image.pixels.subarray(0, width * TITLE_ROWS * 4) };
}

function assertDiffer(a: DecodedImage, b: DecodedImage, what: string, min = 0.02): void {
  const fraction = differingFraction(a, b);
  assert.ok(fraction > min, `${what}: ${(fraction * 100).toFixed(2)} % of the title band differs, expected > ${min * 100} %`);
}

async function renderAll(chars: string[], options: TitleOptions = {}): Promise<Map<string, DecodedImage>> {
  const images = new Map<string, DecodedImage>();
  for (const char of chars) images.set(char, await renderTitle(char, options));
  return images;
}

/** Every real character has ink, differs from the no-glyph box and from every other character. */
function assertRealGlyphs(images: Map<string, DecodedImage>, chars: string[], label: string): void {
  const noGlyph = images.get(NO_GLYPH)!;
  const boxInk = countDrawnPixels(noGlyph);
  for (const [i, char] of chars.entries()) {
    const image = images.get(char)!;
    const ink = countDrawnPixels(image);
    assert.ok(ink > 400, `${label} "${char}" has ${ink} drawn pixels (the no-glyph box has ${boxInk})`);
    assertDiffer(image, noGlyph, `${label} "${char}" vs U+E000`);
    for (const other of chars.slice(i + 1)) assertDiffer(image, images.get(other)!, `${label} "${char}" vs "${other}"`);
  }
}

describe('CJK text', () => {
  test('Hanzi and kana titles draw real glyphs, not tofu', async () => {
    const images = await renderAll([...CJK_CHARS, NO_GLYPH]);
    assertRealGlyphs(images, CJK_CHARS, 'default font');
  });

  test('the reference itself draws little: U+E000 is a box or nothing', async () => {
    const blank = await renderTitle(' ');
    const noGlyph = await renderTitle(NO_GLYPH);
    const hanzi = await renderTitle('统');
    // The box has less ink than a dense Hanzi, so "differs from U+E000" means "is a glyph".
    assert.ok(countDrawnPixels(noGlyph) < countDrawnPixels(hanzi) / 2);
    assert.ok(countDrawnPixels(blank) < 50, 'an empty title draws nothing in the band');
  });

  for (const version of [2, 4] as const) {
    test(`Chart.js ${version}: the title "统计折线图" is drawn in glyphs`, async () => {
      const options = { version, width: 500 };
      const title = await renderTitle('统计折线图', options);
      const boxes = await renderTitle(NO_GLYPH.repeat(5), options);
      assertDiffer(title, boxes, 'title vs five U+E000', 0.05);
      assert.ok(countDrawnPixels(title) > 2 * countDrawnPixels(boxes), 'five dense Hanzi carry more ink than five boxes');
    });
  }

  for (const family of ['Arial', 'Roboto', 'chartd-no-such-font']) {
    test(`a config naming "${family}" (not installed) still draws CJK glyphs`, async () => {
      const images = await renderAll([...CJK_CHARS.slice(0, 2), NO_GLYPH], { family });
      assertRealGlyphs(images, CJK_CHARS.slice(0, 2), family);
    });
  }

  test('Chart.js 2 fontFamily naming a missing font still draws CJK glyphs', async () => {
    const images = await renderAll(['统', '日', NO_GLYPH], { version: 2, family: 'Arial' });
    assertRealGlyphs(images, ['统', '日'], 'Chart.js 2 Arial');
  });

  test('SVG output converts CJK text to glyph outlines, whatever family the config names', async () => {
    const title = await renderTitle('统计折线图', { format: 'svg', width: 500, family: 'Arial' });
    const boxes = await renderTitle(NO_GLYPH.repeat(5), { format: 'svg', width: 500, family: 'Arial' });
    assertDiffer(title, boxes, 'svg title vs five U+E000', 0.05);
  });

  test('PDF output embeds the CJK font for a CJK title', async () => {
    const { body } = await renderChart({ chart: titledChart('统计折线图', { family: 'Arial' }), version: 4, format: 'pdf' });
    assert.match(body.toString('latin1'), /\/FontName\s*\/[A-Z]{6}\+NotoSansSC/);
    const latin = await renderChart({ chart: titledChart('Revenue', {}), version: 4, format: 'pdf' });
    assert.doesNotMatch(latin.body.toString('latin1'), /NotoSansSC/, 'the CJK font is embedded only when used');
  });
});

describe('Latin text', () => {
  test('Latin titles draw real glyphs', async () => {
    const images = await renderAll([...LATIN_CHARS, NO_GLYPH]);
    assertRealGlyphs(images, LATIN_CHARS, 'Latin');
  });

  test('a word differs from the same length of another word', async () => {
    assertDiffer(await renderTitle('Revenue'), await renderTitle('Wxmwxmw'), '"Revenue" vs "Wxmwxmw"');
  });
});
