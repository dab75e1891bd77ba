/**
 * Text widths for laying out charts without a canvas. Vega measures text with a canvas when one is
 * installed and otherwise guesses 0.8 em per character, which is about 40% too wide for a sans-serif
 * font: titles, legends and axis titles then reserve large empty margins. Vega supports replacing its
 * measure (`textMetrics.width`); this one sums the advance widths of Helvetica, which Arial and
 * Liberation Sans (the report's first font) share metric for metric.
 */

/** Advance widths in 1/1000 em of Helvetica for the printable ASCII characters 32..126. */
const ASCII_WIDTHS = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space ! " # $ % & ' ( ) * + , - . /
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0-9
  278, 278, 584, 584, 584, 556, 1015, // : ; < = > ? @
  667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // A-Z
  278, 278, 278, 469, 556, 333, // [ \ ] ^ _ `
  556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // a-z
  334, 260, 334, 584, // { | } ~
];

/** A few non-ASCII characters the report writes. */
const OTHER_WIDTHS: Record<string, number> = { '–': 556, '—': 1000, '·': 278, '×': 584, '≠': 549, '…': 1000, 'µ': 556, '±': 584 };

/** Bold Helvetica is about 6% wider on average text. */
const BOLD_FACTOR = 1.06;

/** Width in pixels of `text` at `fontSize`, in Helvetica-compatible metrics. */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let units = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    units += code >= 32 && code <= 126 ? ASCII_WIDTHS[code - 32]! : (OTHER_WIDTHS[ch] ?? 600);
  }
  return (units / 1000) * fontSize * (bold ? BOLD_FACTOR : 1);
}

/** The text item fields vega passes to its width function. */
interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
}

/**
 * Vega's measure: the item's font size and weight. It ignores the item's `limit` on purpose: vega's own
 * truncation calls this function to find where to cut, so it must return the uncut width.
 */
export function vegaTextWidth(item: TextItem, text: unknown): number {
  const line = text == null ? '' : String(text).trim();
  const fontSize = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
  const bold = item.fontWeight === 'bold' || item.fontWeight === 'bolder' || Number(item.fontWeight) >= 600;
  return textWidth(line, fontSize, bold);
}
