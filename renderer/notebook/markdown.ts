/** A small, safe Markdown subset (headings, paragraphs, lists, `code`, **bold**, *italic*) built as DOM nodes. */
import { h } from '../dom.js';

function inline(text: string): Node[] {
  const out: Node[] = [];
  const re = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*]+\*)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > last) out.push(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    if (t.startsWith('`')) out.push(h('code', {}, t.slice(1, -1)));
    else if (t.startsWith('**')) out.push(h('strong', {}, t.slice(2, -2)));
    else out.push(h('em', {}, t.slice(1, -1)));
    last = m.index! + t.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

export function renderMarkdown(source: string): DocumentFragment {
  const frag = document.createDocumentFragment();
  const blocks = source.replace(/\r\n/g, '\n').split(/\n{2,}/);
  for (const block of blocks) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    if (!lines.length) continue;
    const head = /^(#{1,4})\s+(.*)$/.exec(lines[0]);
    if (head && lines.length === 1) {
      const level = Math.min(4, head[1].length + 1) as 2 | 3 | 4 | 5;
      const el = document.createElement(`h${level}`);
      el.append(...inline(head[2]));
      frag.append(el);
    } else if (lines.every((l) => /^\s*[-*]\s+/.test(l))) {
      const ul = h('ul');
      for (const l of lines) {
        const li = h('li');
        li.append(...inline(l.replace(/^\s*[-*]\s+/, '')));
        ul.append(li);
      }
      frag.append(ul);
    } else {
      const p = h('p');
      p.append(...inline(lines.join(' ')));
      frag.append(p);
    }
  }
  return frag;
}
