// Small DOM helpers for the editor page: query, build elements, show images, busy and error states.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children);
  return node;
}

const urls = new WeakMap();
export function show(img, blob) {
  const old = urls.get(img);
  if (old) URL.revokeObjectURL(old);
  const url = URL.createObjectURL(blob);
  urls.set(img, url);
  img.src = url;
  img.closest('.panel, .thumb')?.classList.add('filled');
}

export function busy(selector, on) {
  const node = $(selector);
  node.classList.toggle('loading', on);
  node.setAttribute('aria-busy', String(on));
}

let toastTimer = 0;
export function toast(message, kind = 'error') {
  const node = $('#toast');
  node.textContent = message;
  node.dataset.kind = kind;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 6000);
}

export function guard(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (error) {
      toast(error.message);
      document.body.dataset.state = 'ready';
    }
  };
}
