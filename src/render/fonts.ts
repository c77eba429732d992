import { createRequire } from 'node:module';
import { GlobalFonts } from '@napi-rs/canvas';

const require = createRequire(import.meta.url);

/** Families bundled through npm, so text renders the same on any machine, system fonts or none. */
export const LATIN_FAMILY = 'Noto Sans';
export const CJK_FAMILY = 'Noto Sans SC';

/**
 * Appended to every font a chart sets. Skia falls back only along the family list
 * it is given (registered fonts are not a fallback for `sans-serif`), so without
 * this a config naming "Arial" draws Chinese and Japanese as tofu boxes.
 * Noto Sans SC covers Hanzi, Kanji and both kana.
 */
export const FALLBACK_FAMILIES = `'${LATIN_FAMILY}', '${CJK_FAMILY}'`;

/** Chart.js' default family list, made deterministic: the bundled fonts first. */
export const DEFAULT_FONT_FAMILY = `${FALLBACK_FAMILIES}, sans-serif`;

const FONT_FILES: ReadonlyArray<readonly [family: string, file: string]> = [
  [LATIN_FAMILY, '@expo-google-fonts/noto-sans/400Regular/NotoSans_400Regular.ttf'],
  [LATIN_FAMILY, '@expo-google-fonts/noto-sans/700Bold/NotoSans_700Bold.ttf'],
  [LATIN_FAMILY, '@expo-google-fonts/noto-sans/400Regular_Italic/NotoSans_400Regular_Italic.ttf'],
  [CJK_FAMILY, '@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf'],
  [CJK_FAMILY, '@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf'],
];

let registered = false;

/** Registers the bundled fonts once per process (GlobalFonts is shared by all threads). */
export function registerBundledFonts(): void {
  if (registered) return;
  registered = true;
  if (GlobalFonts.has(LATIN_FAMILY) && GlobalFonts.has(CJK_FAMILY)) return;
  for (const [family, file] of FONT_FILES) {
    const key = GlobalFonts.registerFromPath(require.resolve(file), family);
    if (key === null) throw new Error(`could not register bundled font ${file}`);
  }
}

/** `font` shorthand with the bundled families appended as the last fallbacks. */
export function withFallbackFamilies(font: string): string {
  return font.includes(CJK_FAMILY) ? font : `${font}, ${FALLBACK_FAMILIES}`;
}
