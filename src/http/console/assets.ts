/**
 * The console's stylesheet and script, served from the gateway (no CDN, works offline). Colours
 * meet WCAG AA contrast on white; focus is always visible.
 */

export const css = `
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; --accent: #0a5bd3; --ok: #116329; --warn: #7d4e00; --bad: #a40e26; --info: #0a3069; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 2; }
.top { display: flex; align-items: center; gap: 24px; padding: 8px 24px; background: #0d1b2a; color: #fff; flex-wrap: wrap; }
.top a { color: #fff; text-decoration: none; padding: 6px 8px; border-radius: 4px; }
.top a[aria-current="page"] { background: #24415e; text-decoration: underline; }
.top ul { display: flex; gap: 4px; list-style: none; margin: 0; padding: 0; flex-wrap: wrap; }
.brand { font-weight: 700; letter-spacing: .02em; }
.signout { margin-left: auto; display: flex; gap: 8px; align-items: center; }
.signout .link { color: #fff; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.6rem; margin: 8px 0 16px; } h2 { font-size: 1.2rem; margin-top: 32px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: .95rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--bg); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.strong { font-weight: 700; color: var(--bad); }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: .85rem; font-weight: 600; border: 1px solid currentColor; }
.badge.ok { color: var(--ok); } .badge.warn { color: var(--warn); } .badge.bad { color: var(--bad); } .badge.info { color: var(--info); } .badge.muted { color: var(--muted); }
.notice { padding: 8px 12px; border-left: 4px solid; background: var(--bg); }
.notice.ok { border-color: var(--ok); } .notice.bad { border-color: var(--bad); color: var(--bad); } .notice.info { border-color: var(--info); }
.banner { margin: 0; padding: 8px 24px; background: #fff8c5; color: #4d2d00; }
form.stack { display: grid; gap: 12px; max-width: 640px; }
label { font-weight: 600; display: block; }
.hint { font-weight: 400; color: var(--muted); font-size: .9rem; display: block; }
input[type=text], input[type=password], input[type=number], input[type=search], select, textarea { width: 100%; padding: 6px 8px; border: 1px solid #8c959f; border-radius: 4px; font: inherit; }
textarea { min-height: 5em; font-family: ui-monospace, monospace; font-size: .9rem; }
button, .button { display: inline-block; padding: 6px 14px; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; font: inherit; cursor: pointer; text-decoration: none; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
button.link { background: none; border: none; padding: 0; text-decoration: underline; }
.actions { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
.actions form { display: inline; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .n { font-size: 1.5rem; font-weight: 700; }
.drop { border: 2px dashed #8c959f; border-radius: 8px; padding: 24px; text-align: center; background: var(--bg); }
.drop.over { border-color: var(--accent); background: #ddf4ff; }
.secret { font-family: ui-monospace, monospace; background: #fff8c5; padding: 8px; word-break: break-all; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
svg.chart { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.filters { display: flex; gap: 12px; align-items: end; flex-wrap: wrap; margin-bottom: 12px; }
.filters label { font-weight: 600; }
`;

export const js = `
'use strict';
// Drag and drop onto the upload zone puts the file in the form's file input.
document.querySelectorAll('[data-drop]').forEach((zone) => {
  const input = zone.querySelector('input[type=file]');
  const label = zone.querySelector('[data-drop-name]');
  const show = () => { if (label) label.textContent = input.files.length ? input.files[0].name : ''; };
  input.addEventListener('change', show);
  ['dragenter', 'dragover'].forEach((e) => zone.addEventListener(e, (ev) => { ev.preventDefault(); zone.classList.add('over'); }));
  ['dragleave', 'drop'].forEach((e) => zone.addEventListener(e, () => zone.classList.remove('over')));
  zone.addEventListener('drop', (ev) => { ev.preventDefault(); if (ev.dataTransfer.files.length) { input.files = ev.dataTransfer.files; show(); } });
});
// Buttons that change or discard data ask first.
document.querySelectorAll('[data-confirm]').forEach((el) => el.closest('form').addEventListener('submit', (ev) => { if (!confirm(el.dataset.confirm)) ev.preventDefault(); }));
// Schedule preview: the next runs of the cron expression being typed, in the chosen time zone.
document.querySelectorAll('[data-schedule-preview]').forEach((out) => {
  const form = out.closest('form');
  const cron = form.querySelector('[name=schedule]');
  const tz = form.querySelector('[name=timezone]');
  let timer;
  const update = () => { clearTimeout(timer); timer = setTimeout(async () => {
    const q = new URLSearchParams({ cron: cron.value, tz: tz.value });
    const res = await fetch('/console/schedule-preview?' + q, { credentials: 'same-origin' });
    out.innerHTML = await res.text();
  }, 250); };
  cron.addEventListener('input', update); tz.addEventListener('input', update);
});
// Times in the viewer's own zone, the UTC time kept as a tooltip.
document.querySelectorAll('time[datetime]').forEach((t) => { const d = new Date(t.getAttribute('datetime')); if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); } });
`;
