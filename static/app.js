// The editor page. It speaks only the public REST API (see /docs); no framework, no build step.
// Everything model-specific (attribute names, image size, kind) comes from GET /api/attributes.

import { api, blobOf, form } from './api.js';
import { $, $$, busy, el, guard, show } from './dom.js';

const STEPS = 9;      // interpolation frames
const STYLES = 6;     // styles per "new style" request
const GENERATE = 4;   // images per "generate"
const EDIT_DEBOUNCE_MS = 120;

const state = {
  info: null,          // GET /api/attributes
  source: null,        // Blob: the image being edited
  sourceB: null,       // Blob: the second face for swaps
  predicted: {},       // name -> bool, as predicted for the source
  recon: null,         // Blob: the reconstruction
  result: null,        // Blob: what the result panel shows (and Download saves)
  frames: [],          // Blobs: interpolation frames for the chosen attribute
  faceSeed: 0,
  styleSeed: 1,
  stylesAttr: null,
  stylesSeed: null,    // the seed of the styles on screen (the style-strength slider redraws with it)
  editTimer: 0,
  token: 0,            // bumps whenever the source changes: late answers for an old source are dropped
  editToken: 0,
};

// ----------------------------------------------------------------------------------------- helpers
const pretty = (name) => name.replaceAll('_', ' ');
const isMulticlass = () => state.info?.kind === 'multiclass';
// The slider's value once the user has moved it; until then none is sent and the model's own defaults
// apply (per attribute when calibrated, see /api/attributes).
const strength = () => (state.strengthTouched ? Number($('#strength').value) || 1 : undefined);
const styleStrength = () => (state.styleStrengthTouched ? Number($('#style-strength').value) || 1 : undefined);
// Only for models that blend their edits (/api/attributes edit_blend > 0); the server pastes by default.
const paste = () => ($('#paste-field').hidden ? undefined : $('#paste').checked);
const seed = () => Math.max(0, Math.min(4294967295, parseInt($('#seed').value, 10) || 0));

// ------------------------------------------------------------------------------------- attributes
function buildAttributes(info) {
  const list = $('#attr-list');
  list.replaceChildren();
  const multi = info.kind === 'multiclass';
  info.attributes.forEach((name, index) => {
    const id = `attr-${index}`;
    const input = el('input', {
      type: multi ? 'radio' : 'checkbox', id, name: multi ? 'vcn-class' : null,
      role: multi ? null : 'switch', class: 'toggle-input', 'data-attr-toggle': name,
    });
    input.addEventListener('change', onToggle);
    const label = el('label', { class: 'toggle', for: id }, [
      input,
      el('span', { class: multi ? 'track radio' : 'track', 'aria-hidden': 'true' }),
      el('span', { class: 'attr-name', text: pretty(name) }),
      el('span', { class: 'visually-hidden changed-note', text: '' }),
    ]);
    const score = el('span', { class: 'score', title: 'predicted score' }, [
      el('span', { class: 'bar', 'aria-hidden': 'true' }, [el('span', { class: 'fill' })]),
      el('span', { class: 'score-num', text: '–' }),
    ]);
    const styleButton = el('button', {
      type: 'button', class: 'icon-btn style-btn', 'data-style': name,
      'aria-label': `New styles for ${pretty(name)}`, title: 'New styles',
    });
    styleButton.textContent = '↻';
    styleButton.addEventListener('click', guard(() => showStyles(name)));
    list.append(el('li', { class: 'attr', 'data-attr': name }, [label, score, styleButton]));
  });

  for (const select of [$('#interp-attr'), $('#swap-attrs')]) {
    select.replaceChildren(...info.attributes.map((name) => el('option', { value: name, text: pretty(name) })));
  }
  const preferred = info.attributes.find((n) => /smil|eyeglass/i.test(n)) ?? info.attributes[0];
  $('#interp-attr').value = preferred;
}

function applyPrediction(rows) {
  state.predicted = {};
  for (const row of rows) {
    state.predicted[row.name] = row.present;
    const item = $(`li[data-attr="${CSS.escape(row.name)}"]`);
    if (!item) continue;
    $('input', item).checked = row.present;
    item.dataset.present = String(row.present);
    item.dataset.score = row.score.toFixed(3);
    $('.fill', item).style.width = `${(row.score * 100).toFixed(1)}%`;
    $('.score-num', item).textContent = row.score.toFixed(2);
    $('.score', item).title = `predicted ${row.present ? 'present' : 'absent'}, score ${row.score.toFixed(3)}`;
  }
  markChanges();
}

function changes() {
  const out = {};
  for (const input of $$('#attr-list input')) {
    const name = input.dataset.attrToggle;
    if (input.checked !== Boolean(state.predicted[name])) {
      if (isMulticlass()) { if (input.checked) out[name] = true; } else out[name] = input.checked;
    }
  }
  return out;
}

function markChanges() {
  const changed = changes();
  for (const item of $$('#attr-list li')) {
    const name = item.dataset.attr;
    const on = name in changed || (isMulticlass() && $('input', item).checked !== Boolean(state.predicted[name]));
    item.classList.toggle('changed', on);
    $('.changed-note', item).textContent = on ? ' (changed)' : '';
  }
  $('#reset').disabled = Object.keys(changed).length === 0;
  return changed;
}

// Pairs the model never saw together (GET /api/attributes "exclusive"): switching one on switches the
// other off here too, so the toggles show what the server will draw (it applies the same rule).
function partnersOf(name) {
  return (state.info?.exclusive ?? []).flatMap(([a, b]) => (a === name ? [b] : b === name ? [a] : []));
}

function onToggle(event) {
  const input = event?.target;
  if (input?.checked && !isMulticlass()) {
    for (const partner of partnersOf(input.dataset.attrToggle)) {
      const other = $(`input[data-attr-toggle="${CSS.escape(partner)}"]`);
      if (other) other.checked = false;
    }
  }
  markChanges();
  clearTimeout(state.editTimer);
  state.editTimer = setTimeout(guard(runEdit), EDIT_DEBOUNCE_MS);
}

async function runEdit() {
  if (!state.source) return;
  const changed = markChanges();
  const token = ++state.editToken;
  if (Object.keys(changed).length === 0) {
    setResult(state.recon, 'Result');
    return;
  }
  busy('#panel-result', true);
  try {
    const body = form({ image: state.source, set: changed, seed: seed(), strength: strength(), paste: paste() });
    const response = await api('/api/edit', { body });
    const blob = await response.blob();
    if (token === state.editToken) {
      const words = Object.entries(changed).map(([n, on]) => `${on ? '+' : '−'}${pretty(n)}`);
      setResult(blob, `Edited: ${words.join(', ')}`, readerNote(response.headers));
    }
  } finally {
    if (token === state.editToken) busy('#panel-result', false);
  }
}

// A verified edit or swap says how sure the model's own reader is that it took (X-Edit-Confidence).
function readerNote(headers, what = 'edit', retry = 'another seed') {
  const sure = headers.get('X-Edit-Confidence');
  if (sure === null) return '';
  const percent = `${(100 * Number(sure)).toFixed(1)} %`;
  return headers.get('X-Edit-Verified') === 'true'
    ? `Verified: the model's reader is ${percent} sure the ${what} took.`
    : `Not verified: the model's reader is only ${percent} sure; ${retry} may take.`;
}

function setResult(blob, label, note = '') {
  if (!blob) return;
  state.result = blob;
  $('#result-note').textContent = note;
  const img = $('#img-result');
  show(img, blob);
  img.dataset.rev = String(Number(img.dataset.rev) + 1);
  $('#result-label').textContent = label;
  const link = $('#download');
  link.href = img.src;
  link.removeAttribute('aria-disabled');
}

// ----------------------------------------------------------------------------------------- source
async function setSource(blob) {
  const token = ++state.token;
  state.source = blob;
  document.body.dataset.state = 'busy';
  show($('#img-original'), blob);
  $('#styles-card').hidden = true;
  for (const panel of ['#panel-recon', '#panel-result']) busy(panel, true);
  try {
    const [predicted, recon] = await Promise.all([
      api('/api/predict', { body: form({ image: blob }) }).then((r) => r.json()),
      api('/api/reconstruct', { body: form({ image: blob }) }).then((r) => r.blob()),
    ]);
    if (token !== state.token) return;
    applyPrediction(predicted.attributes);
    state.recon = recon;
    show($('#img-recon'), recon);
    setResult(recon, 'Result');
    const note = { true: 'Face found and framed.', false: 'No face found: used the centre of the image.' };
    $('#face-note').textContent = note[predicted.face_found] ?? '';
  } finally {
    if (token === state.token) {
      for (const panel of ['#panel-recon', '#panel-result']) busy(panel, false);
      document.body.dataset.state = 'ready';
    }
  }
  await loadFrames();
}

async function randomImage(seedValue) {
  return (await api(`/api/random-face?seed=${seedValue}`)).blob();
}

// ----------------------------------------------------------------------------------------- styles
async function showStyles(name, styleSeed = state.styleSeed++) {
  if (!state.source) return;
  state.stylesAttr = name;
  state.stylesSeed = styleSeed;
  const card = $('#styles-card');
  card.hidden = false;
  $('#styles-attr').textContent = pretty(name);
  const strip = $('#styles');
  strip.replaceChildren(...Array.from({ length: STYLES }, () => el('div', { class: 'pick skeleton' })));
  busy('#styles-card', true);
  // Styles of what is on screen: the edited image if anything is toggled, else the source.
  const base = Object.keys(changes()).length && state.result ? state.result : state.source;
  try {
    const response = await api('/api/resample', {
      body: form({
        image: base, attribute: name, n: STYLES, seed: styleSeed, style_strength: styleStrength(), paste: paste(),
      }),
    });
    const { images } = await response.json();
    strip.replaceChildren(...images.map((url, i) => {
      const button = el('button', {
        type: 'button', class: 'pick', role: 'listitem', 'aria-pressed': 'false',
        'aria-label': `Use ${pretty(name)} style ${i + 1}`,
      }, [el('img', { src: url, alt: '', class: 'pixel' })]);
      button.addEventListener('click', guard(async () => {
        $$('#styles .pick').forEach((b) => b.setAttribute('aria-pressed', String(b === button)));
        setResult(await blobOf(url), `${pretty(name)}: style ${i + 1}`);
      }));
      return button;
    }));
    card.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  } finally {
    busy('#styles-card', false);
  }
}

// ----------------------------------------------------------------------------------- interpolation
async function loadFrames() {
  const slider = $('#interp-slider');
  const name = $('#interp-attr').value;
  if (!state.source || !name) return;
  slider.disabled = true;
  const token = state.token;
  busy('#interp-card', true);
  try {
    const response = await api('/api/interpolate', {
      body: form({ image: state.source, attribute: name, steps: STEPS, seed: seed(), paste: paste() }),
    });
    const { images } = await response.json();
    const frames = await Promise.all(images.map(blobOf));
    if (token !== state.token || name !== $('#interp-attr').value) return;
    state.frames = frames;
    slider.max = String(frames.length - 1);
    slider.value = '0';
    slider.disabled = false;
    updateSliderLabel();
  } finally {
    busy('#interp-card', false);
  }
}

function updateSliderLabel() {
  const slider = $('#interp-slider');
  const name = $('#interp-attr').value;
  const pct = Math.round((Number(slider.value) / Number(slider.max || 1)) * 100);
  $('#interp-value').textContent = `${pct}%`;
  const now = state.predicted[name];
  const direction = isMulticlass() ? `towards ${pretty(name)}` : `${pretty(name)} ${now ? 'on → off' : 'off → on'}`;
  slider.setAttribute('aria-valuetext', `${pct}%, ${direction}`);
  return direction;
}

function onSlide() {
  const slider = $('#interp-slider');
  const frame = state.frames[Number(slider.value)];
  const direction = updateSliderLabel();
  if (frame) setResult(frame, `Interpolated: ${direction}, ${$('#interp-value').textContent}`);
}

// ------------------------------------------------------------------------------------------ swap
function updateSwapButton() {
  $('#swap-btn').disabled = !(state.source && state.sourceB && $('#swap-attrs').selectedOptions.length);
}

async function setSourceB(blob) {
  state.sourceB = blob;
  show($('#img-b'), blob);
  updateSwapButton();
}

async function runSwap() {
  const names = [...$('#swap-attrs').selectedOptions].map((o) => o.value);
  busy('#panel-result', true);
  try {
    const response = await api('/api/swap', {
      body: form({ image: state.source, image_b: state.sourceB, attributes: names, paste: paste() }),
    });
    setResult(await response.blob(), `Swapped: ${names.map(pretty).join(', ')}`,
      readerNote(response.headers, 'swap', 'another face to take it from'));
  } finally {
    busy('#panel-result', false);
  }
}

// -------------------------------------------------------------------------------------- generate
async function runGenerate() {
  const wanted = {};
  for (const input of $$('#attr-list input')) {
    if (isMulticlass()) { if (input.checked) wanted[input.dataset.attrToggle] = true; } else {
      wanted[input.dataset.attrToggle] = input.checked;
    }
  }
  busy('#generate-card', true);
  try {
    const response = await api('/api/sample', { body: form({ attributes: wanted, n: GENERATE, seed: seed() }) });
    const { images } = await response.json();
    $('#generated').replaceChildren(...images.map((url, i) => {
      const button = el('button', {
        type: 'button', class: 'pick', role: 'listitem', 'aria-label': `Edit generated image ${i + 1}`,
        title: 'Edit this one',
      }, [el('img', { src: url, alt: '', class: 'pixel' })]);
      button.addEventListener('click', guard(async () => setSource(await blobOf(url))));
      return button;
    }));
  } finally {
    busy('#generate-card', false);
  }
}

// ----------------------------------------------------------------------------------------- wiring
function wireDrop(zone, onFile) {
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', guard(async (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    const file = event.dataTransfer?.files?.[0];
    if (file) await onFile(file);
  }));
}

function wire() {
  $('#file').addEventListener('change', guard(async (event) => {
    const file = event.target.files?.[0];
    if (file) await setSource(file);
    event.target.value = '';
  }));
  $('#file-b').addEventListener('change', guard(async (event) => {
    const file = event.target.files?.[0];
    if (file) await setSourceB(file);
    event.target.value = '';
  }));
  wireDrop($('#drop'), setSource);
  wireDrop($('#panel-original'), setSource);
  wireDrop($('#swap-card .thumb'), setSourceB);
  $('#random-face').addEventListener('click', guard(async () => setSource(await randomImage(++state.faceSeed))));
  $('#random-b').addEventListener('click', guard(async () => setSourceB(await randomImage(1000 + ++state.faceSeed))));
  $('#styles-more').addEventListener('click', guard(() => showStyles(state.stylesAttr)));
  $('#style-strength').addEventListener('input', () => {
    $('#style-strength-value').textContent = $('#style-strength').value;
  });
  // The same draws again, pushed by the new strength (on release, not on every step of the drag).
  $('#style-strength').addEventListener('change', guard(() => {
    state.styleStrengthTouched = true;
    return showStyles(state.stylesAttr, state.stylesSeed);
  }));
  $('#interp-attr').addEventListener('change', guard(loadFrames));
  $('#interp-slider').addEventListener('input', onSlide);
  $('#swap-attrs').addEventListener('change', updateSwapButton);
  $('#swap-btn').addEventListener('click', guard(runSwap));
  $('#generate-btn').addEventListener('click', guard(runGenerate));
  $('#reset').addEventListener('click', () => {
    for (const input of $$('#attr-list input')) input.checked = Boolean(state.predicted[input.dataset.attrToggle]);
    onToggle();
  });
  $('#strength').addEventListener('input', () => {
    state.strengthTouched = true;
    $('#strength-value').textContent = $('#strength').value;
    onToggle();
  });
  // The edit and the interpolation frames again, with or without the photo's own pixels.
  $('#paste').addEventListener('change', () => {
    onToggle();
    guard(loadFrames)();
  });
  $('#attr-filter').addEventListener('input', (event) => {
    const needle = event.target.value.trim().toLowerCase().replaceAll(' ', '_');
    for (const item of $$('#attr-list li')) item.hidden = !item.dataset.attr.toLowerCase().includes(needle);
  });
}

async function main() {
  wire();
  const info = await (await api('/api/attributes')).json();
  state.info = info;
  $('#strength').value = String(info.edit_strength ?? 1);
  // Untouched, the server picks the strength: per face when it verifies edits, per attribute when calibrated.
  $('#strength-value').textContent = info.verify_strengths?.length ? 'verified'
    : info.attribute_strength ? 'auto' : $('#strength').value;
  $('#style-strength').value = String(info.style_strength ?? 1);
  $('#style-strength-value').textContent = String(info.style_strength ?? 1);
  $('#paste-field').hidden = !(info.edit_blend > 0);
  document.body.dataset.kind = info.kind;
  const what = info.kind === 'multiclass' ? 'classes' : 'attributes';
  $('#model-info').textContent =
    `${info.dataset} model · ${info.image_size}×${info.image_size} · ${info.attributes.length} ${what}`;
  document.documentElement.style.setProperty('--model-size', `${info.image_size}px`);
  if (info.kind === 'multiclass') {
    $('#random-face').textContent = 'Random sample';
    $('#attr-title').textContent = 'Classes';
  }
  buildAttributes(info);
  $('#swap-attrs').options[0].selected = true;
  await setSource(await randomImage(state.faceSeed));
}

guard(main)();
