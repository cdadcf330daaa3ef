/**
 * The small, safe Markdown subset of markdown cells (headings, paragraphs, lists, `code`, **bold**, *italic*),
 * parsed into blocks without a DOM: the renderer builds DOM nodes from them, reports build escaped HTML.
 */

export interface MdSpan {
  kind: 'text' | 'code' | 'strong' | 'em';
  text: string;
}

export type MdBlock =
  | { kind: 'heading'; level: 2 | 3 | 4 | 5; spans: MdSpan[] }
  | { kind: 'list'; items: MdSpan[][] }
  | { kind: 'paragraph'; spans: MdSpan[] };

export function parseInline(text: string): MdSpan[] {
  const out: MdSpan[] = [];
  const re = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*]+\*)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > last) out.push({ kind: 'text', text: text.slice(last, m.index) });
    const t = m[0];
    if (t.startsWith('`')) out.push({ kind: 'code', text: t.slice(1, -1) });
    else if (t.startsWith('**')) out.push({ kind: 'strong', text: t.slice(2, -2) });
    else out.push({ kind: 'em', text: t.slice(1, -1) });
    last = m.index! + t.length;
  }
  if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
  return out;
}

/** Blocks are separated by blank lines; a `#` heading sits one level below the notebook's own title. */
export function parseMarkdown(source: string): MdBlock[] {
  const out: MdBlock[] = [];
  for (const block of source.replace(/\r\n/g, '\n').split(/\n{2,}/)) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    if (!lines.length) continue;
    const head = /^(#{1,4})\s+(.*)$/.exec(lines[0]);
    if (head && lines.length === 1) {
      out.push({ kind: 'heading', level: Math.min(4, head[1].length + 1) as 2 | 3 | 4 | 5, spans: parseInline(head[2]) });
    } else if (lines.every((l) => /^\s*[-*]\s+/.test(l))) {
      out.push({ kind: 'list', items: lines.map((l) => parseInline(l.replace(/^\s*[-*]\s+/, ''))) });
    } else {
      out.push({ kind: 'paragraph', spans: parseInline(lines.join(' ')) });
    }
  }
  return out;
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function spansHtml(spans: MdSpan[]): string {
  return spans.map((s) => (s.kind === 'text' ? escapeHtml(s.text) : `<${s.kind}>${escapeHtml(s.text)}</${s.kind}>`)).join('');
}

/** The HTML of a markdown cell, every text escaped. */
export function markdownToHtml(source: string): string {
  return parseMarkdown(source)
    .map((b) => {
      if (b.kind === 'heading') return `<h${b.level}>${spansHtml(b.spans)}</h${b.level}>`;
      if (b.kind === 'list') return `<ul>${b.items.map((i) => `<li>${spansHtml(i)}</li>`).join('')}</ul>`;
      return `<p>${spansHtml(b.spans)}</p>`;
    })
    .join('\n');
}
