// The DOM helpers every feature module shares. User data only ever goes in as text (never as
// HTML), which with the page's strict CSP keeps injected markup from running.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** createElement with text and attributes: user data only ever goes in as text. */
export function el(tag, { cls, text, attrs, on } = {}, children = []) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const [type, handler] of Object.entries(on || {})) node.addEventListener(type, handler);
  for (const child of children) if (child) node.append(child);
  return node;
}
