/** Markdown cells as DOM nodes, from the blocks core/notebook parses (never innerHTML). */
import { parseMarkdown, type MdSpan } from '../../core/notebook/markdown.js';
import { h } from '../dom.js';

function inline(spans: MdSpan[]): Node[] {
  return spans.map((s) => (s.kind === 'text' ? document.createTextNode(s.text) : h(s.kind, {}, s.text)));
}

export function renderMarkdown(source: string): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const block of parseMarkdown(source)) {
    if (block.kind === 'heading') {
      const el = document.createElement(`h${block.level}`);
      el.append(...inline(block.spans));
      frag.append(el);
    } else if (block.kind === 'list') {
      const ul = h('ul');
      for (const item of block.items) {
        const li = h('li');
        li.append(...inline(item));
        ul.append(li);
      }
      frag.append(ul);
    } else {
      const p = h('p');
      p.append(...inline(block.spans));
      frag.append(p);
    }
  }
  return frag;
}
