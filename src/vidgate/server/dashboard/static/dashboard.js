// vidgate dashboard: small progressive enhancements over server-rendered pages.
// Every page works without it; with it, lists and jobs update live, videos play HLS,
// and destructive forms ask first. No build step, no dependencies (hls.js is loaded on demand).

const csrf = document.body.dataset.csrf || '';

/** fetch() from this origin with the session cookie and the CSRF token. */
export async function call(url, options = {}) {
  const headers = new Headers(options.headers || {});
  if (csrf) headers.set('X-CSRF-Token', csrf);
  return fetch(url, { credentials: 'same-origin', ...options, headers });
}

function confirmForms() {
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

/** Re-fetch a fragment into `target` whenever the stream at `target.dataset.live` says so. */
function live(target, fragmentUrl, { onDone } = {}) {
  const source = new EventSource(target.dataset.live);
  let pending = false;
  const refresh = async () => {
    if (pending) return;
    pending = true;
    try {
      const response = await fetch(fragmentUrl, { credentials: 'same-origin' });
      if (response.ok) target.innerHTML = await response.text();
    } finally {
      pending = false;
    }
  };
  source.addEventListener('changed', refresh);
  source.addEventListener('done', () => { source.close(); (onDone || refresh)(); });
  source.addEventListener('signed-out', () => { source.close(); window.location.reload(); });
  window.addEventListener('pagehide', () => source.close());
}

function liveList() {
  const rows = document.querySelector('#job-rows[data-live]');
  if (rows) live(rows, rows.dataset.rows);
  const panel = document.querySelector('#job-panel[data-live]');
  if (panel) live(panel, panel.dataset.panel, { onDone: () => window.location.reload() });
}

function player() {
  const video = document.getElementById('player');
  if (!video) return;
  const note = document.getElementById('player-source');
  const { hls, mp4, hlsjs } = video.dataset;
  const say = (text) => { if (note) note.textContent = text; };
  const plain = () => { video.src = mp4; say('MP4'); };
  const viaScript = new URLSearchParams(window.location.search).get('hls') === 'js';
  if (hls && !viaScript && video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = hls; say('HLS, played by the browser');
  } else if (hls && hlsjs) {
    const script = document.createElement('script');
    script.src = hlsjs;
    script.onload = () => {
      if (window.Hls && window.Hls.isSupported()) {
        const engine = new window.Hls();
        engine.on(window.Hls.Events.ERROR, (_, data) => { if (data.fatal) { engine.destroy(); plain(); } });
        engine.loadSource(hls);
        engine.attachMedia(video);
        say('HLS, played with hls.js');
      } else plain();
    };
    script.onerror = plain;
    document.head.appendChild(script);
  } else if (mp4) plain();
}

function parseVtt(text, base) {
  const cues = [];
  const stamp = (s) => s.split(':').reduce((total, part) => total * 60 + parseFloat(part), 0);
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.trim().split(/\r?\n/);
    const timing = lines.findIndex((l) => l.includes('-->'));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [from, to] = lines[timing].split('-->').map((s) => stamp(s.trim().split(' ')[0]));
    const match = /#xywh=(\d+),(\d+),(\d+),(\d+)/.exec(lines[timing + 1]);
    if (match) cues.push({ from, to, x: +match[1], y: +match[2], w: +match[3], h: +match[4] });
  }
  return cues;
}

async function scrubbing() {
  const box = document.querySelector('.scrub[data-vtt]');
  const video = document.getElementById('player');
  if (!box || !video) return;
  const response = await fetch(box.dataset.vtt);
  if (!response.ok) return;
  const cues = parseVtt(await response.text());
  if (!cues.length) return;
  const range = box.querySelector('input');
  const tile = box.querySelector('.scrub-tile');
  const length = () => video.duration || cues[cues.length - 1].to;
  const show = () => {
    const at = (range.value / 1000) * length();
    const cue = cues.find((c) => at >= c.from && at < c.to) || cues[cues.length - 1];
    tile.style.width = `${cue.w}px`;
    tile.style.height = `${cue.h}px`;
    tile.style.backgroundImage = `url("${box.dataset.sprite}")`;
    tile.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    const room = box.clientWidth - cue.w;
    tile.style.left = `${Math.max(0, Math.min(room, (range.value / 1000) * box.clientWidth - cue.w / 2))}px`;
    box.classList.add('showing');
    return at;
  };
  range.addEventListener('input', () => { video.currentTime = show(); });
  range.addEventListener('pointermove', show);
  range.addEventListener('focus', show);
  for (const name of ['pointerleave', 'blur', 'change']) range.addEventListener(name, () => box.classList.remove('showing'));
  video.addEventListener('timeupdate', () => {
    if (!box.classList.contains('showing') && length()) range.value = Math.round((video.currentTime / length()) * 1000);
  });
}

function createForm() {
  const form = document.getElementById('create-form');
  if (!form) return;
  const picker = form.querySelector('#template');
  const showVariables = () => {
    for (const set of form.querySelectorAll('.template-vars')) set.hidden = set.dataset.template !== picker.value;
  };
  picker.addEventListener('change', showVariables);
  showVariables();
  const target = document.getElementById('estimate');
  let timer = null;
  let latest = 0;
  const estimate = async () => {
    const ticket = ++latest;
    const body = new FormData(form);
    const response = await call(form.dataset.estimate, { method: 'POST', body });
    if (ticket === latest && response.ok) target.innerHTML = await response.text();
  };
  const soon = () => { clearTimeout(timer); timer = setTimeout(estimate, 400); };
  form.addEventListener('input', soon);
  form.addEventListener('change', soon);
  if (new FormData(form).get('prompt') || picker.value) estimate();
}

confirmForms();
createForm();
liveList();
player();
scrubbing();
