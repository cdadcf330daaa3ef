import { describe, expect, it } from 'vitest';
import { markdownToHtml, parseMarkdown } from '../../core/notebook/markdown.js';

describe('markdown cells without a DOM', () => {
  it('parses headings (one level down), lists and paragraphs with inline code, bold and italic', () => {
    expect(parseMarkdown('# Title\n\n- a `x`\n* **b**\n\nOne\nparagraph *here*.')).toEqual([
      { kind: 'heading', level: 2, spans: [{ kind: 'text', text: 'Title' }] },
      { kind: 'list', items: [[{ kind: 'text', text: 'a ' }, { kind: 'code', text: 'x' }], [{ kind: 'strong', text: 'b' }]] },
      { kind: 'paragraph', spans: [{ kind: 'text', text: 'One paragraph ' }, { kind: 'em', text: 'here' }, { kind: 'text', text: '.' }] },
    ]);
  });

  it('renders HTML with every text escaped', () => {
    expect(markdownToHtml('## <b>hi</b> & `<script>`\n\ntext "q"')).toBe('<h3>&lt;b&gt;hi&lt;/b&gt; &amp; <code>&lt;script&gt;</code></h3>\n<p>text &quot;q&quot;</p>');
  });
});
