/**
 * Cedar syntax highlighting: Prism grammars for Cedar policies and Cedar schemas,
 * rendered to DOM nodes from Prism's tokens (no HTML strings).
 */
import Prism from 'prismjs';
import { h } from './dom.ts';

const common = {
  comment: { pattern: /\/\/.*/, greedy: true },
  string: { pattern: /"(?:\\.|[^"\\\n])*"/, greedy: true },
};

export const cedarGrammar: Prism.Grammar = {
  ...common,
  annotation: { pattern: /@[A-Za-z_]\w*/, alias: 'atrule' },
  keyword: /\b(?:permit|forbid|when|unless|if|then|else|in|is|has|like)\b/,
  variable: /\b(?:principal|action|resource|context)\b/,
  boolean: /\b(?:true|false)\b/,
  entity: { pattern: /\b[A-Z]\w*(?:::[A-Z]\w*)*(?=::")/, alias: 'class-name' },
  function: /\b[a-zA-Z]\w*(?=\s*\()/,
  number: /\b\d+\b/,
  operator: /==|!=|<=|>=|&&|\|\||[<>!+\-*]/,
  punctuation: /[{}[\];(),.:]/,
};

export const schemaGrammar: Prism.Grammar = {
  ...common,
  annotation: { pattern: /@[A-Za-z_]\w*/, alias: 'atrule' },
  keyword: /\b(?:namespace|entity|action|type|appliesTo|principal|resource|context|in|tags|enum)\b/,
  builtin: /\b(?:Set|Long|String|Bool|Boolean|Record|Entity|Extension|ipaddr|decimal|datetime|duration)\b/,
  'class-name': /\b[A-Z]\w*\b/,
  punctuation: /[{}[\];(),.:<>?=]/,
};

export const jsonGrammar: Prism.Grammar = {
  property: { pattern: /"(?:\\.|[^"\\\n])*"(?=\s*:)/, greedy: true },
  string: { pattern: /"(?:\\.|[^"\\\n])*"/, greedy: true },
  number: /-?\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/i,
  boolean: /\b(?:true|false|null)\b/,
  punctuation: /[{}[\],:]/,
};

function toNodes(stream: (string | Prism.Token)[]): Node[] {
  return stream.map((t) => {
    if (typeof t === 'string') return document.createTextNode(t);
    const content = typeof t.content === 'string' ? [document.createTextNode(t.content)] : toNodes(Array.isArray(t.content) ? t.content : [t.content]);
    const alias = Array.isArray(t.alias) ? t.alias.join(' ') : (t.alias ?? '');
    return h('span', { class: `token ${t.type} ${alias}`.trim() }, content);
  });
}

/** A <pre><code> block with the text highlighted by `grammar`. */
export function highlighted(text: string, grammar: Prism.Grammar, lang: string): HTMLElement {
  return h('pre', { class: `code lang-${lang}` }, h('code', null, toNodes(Prism.tokenize(text, grammar))));
}

export function grammarFor(fileName: string): { grammar: Prism.Grammar; lang: string } {
  if (fileName.endsWith('.cedar')) return { grammar: cedarGrammar, lang: 'cedar' };
  if (fileName.endsWith('.cedarschema')) return { grammar: schemaGrammar, lang: 'cedarschema' };
  return { grammar: jsonGrammar, lang: 'json' };
}
