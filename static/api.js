// The REST API as the page calls it: form bodies, errors in the API's shape ({"detail": ...}) turned into
// readable Errors, 429 retried after Retry-After. Nothing here knows about the page.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function form(fields) {
  const data = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    if (value instanceof Blob) data.append(key, value, `${key}.png`);
    else data.append(key, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return data;
}

// fetch with the API's error shape ({"detail": ...}) turned into a readable Error; 429 is retried.
export async function api(path, { body, method = body ? 'POST' : 'GET' } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(path, { method, body });
    if (response.ok) return response;
    if (response.status === 429 && attempt < 3) {
      await sleep(1000 * (Number(response.headers.get('Retry-After')) || 1));
      continue;
    }
    let detail = response.statusText;
    try {
      const payload = await response.json();
      detail = typeof payload.detail === 'string'
        ? payload.detail
        : payload.detail.map((e) => `${e.loc.at(-1)}: ${e.msg}`).join('; ');
    } catch { /* not JSON: keep the status text */ }
    throw new Error(`${detail} (HTTP ${response.status})`);
  }
}

export const blobOf = async (dataUrl) => (await fetch(dataUrl)).blob();
