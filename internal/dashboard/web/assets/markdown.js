// hermes dashboard: Markdown for transcripts, built as DOM nodes whose
// text is only ever set with textContent, so that nothing in a message
// (a <script>, an <img onerror>, a javascript: link) can become live
// markup. Fenced code blocks keep their text exactly; links are kept only
// for http:, https: and mailto: targets, and open without the opener.
import { el } from "./api.js";

const safeScheme = /^(https?:|mailto:)/i;

// inline renders `code`, **bold**, *em* / _em_ and [text](url) in one line.
function inline(text, parent) {
  const re = /(`+)([^`]+?)\1|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
    if (m[2] !== undefined) parent.appendChild(el("code", null, m[2]));
    else if (m[3] !== undefined) parent.appendChild(el("strong", null, m[3]));
    else if (m[4] !== undefined || m[5] !== undefined) parent.appendChild(el("em", null, m[4] || m[5]));
    else {
      const href = m[7];
      let ok = false;
      try { ok = safeScheme.test(new URL(href).protocol); } catch (e) { ok = false; }
      if (ok) parent.appendChild(el("a", { href: href, rel: "noopener noreferrer nofollow", target: "_blank" }, m[6]));
      else parent.appendChild(document.createTextNode(m[0])); // shown as it was written, never a link
    }
    last = re.lastIndex;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  return parent;
}

// render turns Markdown text into a fragment: fenced code blocks,
// headings, lists, quotes and paragraphs.
export function render(text) {
  const out = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  let para = [];
  function flush() {
    if (para.length) { out.appendChild(inline(para.join(" "), el("p"))); para = []; }
  }
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^\s*(```+|~~~+)\s*([\w+.-]*)\s*$/.exec(line);
    if (fence) {
      flush();
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++; // the closing fence
      const code = el("code", fence[2] ? { class: "language-" + fence[2], "data-lang": fence[2] } : null, body.join("\n"));
      out.appendChild(el("pre", { class: "code" }, code));
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) { flush(); out.appendChild(inline(h[2], el("h" + Math.min(6, h[1].length + 2), { class: "md-h" }))); i++; continue; }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      flush();
      const ordered = /^\s*\d/.test(line);
      const list = el(ordered ? "ol" : "ul");
      while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) {
        list.appendChild(inline(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, ""), el("li")));
        i++;
      }
      out.appendChild(list);
      continue;
    }
    if (/^>\s?/.test(line)) {
      flush();
      const q = [];
      while (i < lines.length && /^>\s?/.test(lines[i])) q.push(lines[i++].replace(/^>\s?/, ""));
      out.appendChild(inline(q.join(" "), el("blockquote")));
      continue;
    }
    if (line.trim() === "") { flush(); i++; continue; }
    para.push(line);
    i++;
  }
  flush();
  return out;
}
