// Strokes per user key, for as long as the page lives: they survive a remount of the component.
const STORE = new Map();

function traceStroke(ctx, s) {
  const p = s.pts, n = p.length / 2;
  ctx.lineWidth = s.w;
  if (n === 1) {
    ctx.beginPath(); ctx.arc(p[0], p[1], s.w / 2, 0, 2 * Math.PI); ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(p[0], p[1]);
  if (n === 2) {
    ctx.lineTo(p[2], p[3]);
  } else {
    for (let i = 1; i < n - 1; i++) {
      ctx.quadraticCurveTo(p[2 * i], p[2 * i + 1], (p[2 * i] + p[2 * i + 2]) / 2, (p[2 * i + 1] + p[2 * i + 3]) / 2);
    }
    ctx.lineTo(p[2 * n - 2], p[2 * n - 1]);
  }
  ctx.stroke();
}

function paint(ctx, w, h, strokes) {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = '#fff'; ctx.fillStyle = '#fff';
  ctx.lineCap = 'round'; ctx.lineJoin = 'round';
  for (const s of strokes) traceStroke(ctx, s);
}

function createPad(root) {
  const canvas = root.querySelector('canvas');
  const undoBtn = root.querySelector('.dl-sk-undo');
  const clearBtn = root.querySelector('.dl-sk-clear');
  const ctx = canvas.getContext('2d');
  const layer = document.createElement('canvas');       // finished strokes, at device resolution
  const lctx = layer.getContext('2d');
  const out = document.createElement('canvas');         // what is sent: CSS-pixel resolution
  const octx = out.getContext('2d');
  const pad = {
    key: null, w: 0, h: 0, dpr: 1, brush: 20, liveMs: 150, setState: null,
    strokes: [], current: null, pointer: null, sent: 0, lastSend: -1e9, timer: null, frame: 0,
  };

  function resize(w, h) {
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    if (w === pad.w && h === pad.h && dpr === pad.dpr) return;
    pad.w = w; pad.h = h; pad.dpr = dpr;
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    canvas.style.width = w + 'px';
    canvas.style.aspectRatio = w + ' / ' + h;
    layer.width = canvas.width; layer.height = canvas.height;
    out.width = w; out.height = h;
    rebuild();
  }
  function rebuild() {
    lctx.setTransform(pad.dpr, 0, 0, pad.dpr, 0, 0);
    paint(lctx, pad.w, pad.h, pad.strokes);
    render();
  }
  function render() {
    pad.frame = 0;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(layer, 0, 0);
    if (pad.current) {
      ctx.setTransform(pad.dpr, 0, 0, pad.dpr, 0, 0);
      ctx.strokeStyle = '#fff'; ctx.fillStyle = '#fff';
      ctx.lineCap = 'round'; ctx.lineJoin = 'round';
      traceStroke(ctx, pad.current);
    }
    root.dataset.strokes = String(pad.strokes.length);
    undoBtn.disabled = pad.strokes.length === 0;
  }
  function requestRender() {
    if (!pad.frame) pad.frame = requestAnimationFrame(render);
  }
  function payload() {
    const all = pad.current ? pad.strokes.concat([pad.current]) : pad.strokes;
    if (all.length === 0) return null;
    octx.setTransform(1, 0, 0, 1, 0, 0);
    paint(octx, pad.w, pad.h, all);
    return out.toDataURL('image/png');
  }
  function send() {
    if (pad.timer !== null) { clearTimeout(pad.timer); pad.timer = null; }
    pad.lastSend = performance.now();
    pad.sent += 1;
    root.dataset.sent = String(pad.sent);
    if (pad.setState) pad.setState('drawing', payload());
  }
  function sendSoon() {  // throttled, trailing: at most once every liveMs while the pen is down
    if (pad.liveMs <= 0 || pad.timer !== null) return;
    const wait = Math.max(0, pad.lastSend + pad.liveMs - performance.now());
    pad.timer = setTimeout(() => { pad.timer = null; if (pad.current) send(); }, wait);
  }
  function at(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.w / (r.width || pad.w), (e.clientY - r.top) * pad.h / (r.height || pad.h)];
  }
  function onDown(e) {
    if (pad.current || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic pointer */ }
    pad.pointer = e.pointerId;
    pad.current = { w: pad.brush, pts: at(e) };
    requestRender();
    sendSoon();
  }
  function onMove(e) {
    if (!pad.current || e.pointerId !== pad.pointer) return;
    e.preventDefault();
    const events = (typeof e.getCoalescedEvents === 'function' && e.getCoalescedEvents().length) ? e.getCoalescedEvents() : [e];
    const p = pad.current.pts;
    let added = false;
    for (const ev of events) {
      const [x, y] = at(ev);
      const dx = x - p[p.length - 2], dy = y - p[p.length - 1];
      if (dx * dx + dy * dy >= 0.5) { p.push(x, y); added = true; }
    }
    if (added) { requestRender(); sendSoon(); }
  }
  function onUp(e) {
    if (!pad.current || e.pointerId !== pad.pointer) return;
    const s = pad.current;
    pad.current = null; pad.pointer = null;
    pad.strokes.push(s);
    lctx.setTransform(pad.dpr, 0, 0, pad.dpr, 0, 0);
    lctx.strokeStyle = '#fff'; lctx.fillStyle = '#fff'; lctx.lineCap = 'round'; lctx.lineJoin = 'round';
    traceStroke(lctx, s);
    render();
    send();   // always once at pen up
  }
  function onUndo() {
    if (pad.current || pad.strokes.length === 0) return;
    pad.strokes.pop();
    rebuild();
    send();
  }
  function onClear() {
    pad.current = null; pad.pointer = null;
    pad.strokes.length = 0;
    rebuild();
    send();
  }
  canvas.addEventListener('pointerdown', onDown);
  canvas.addEventListener('pointermove', onMove);
  canvas.addEventListener('pointerup', onUp);
  canvas.addEventListener('pointercancel', onUp);
  canvas.addEventListener('lostpointercapture', onUp);
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  undoBtn.addEventListener('click', onUndo);
  clearBtn.addEventListener('click', onClear);

  pad.update = (data, setStateValue) => {
    pad.setState = setStateValue;
    const fresh = pad.key === null;
    const key = String(data.key);
    if (key !== pad.key) {
      if (!STORE.has(key)) STORE.set(key, []);
      pad.strokes = STORE.get(key);
      pad.key = key;
      pad.w = 0;   // force a rebuild with the key's strokes
    }
    pad.brush = Math.max(1, Number(data.brush) || 20);
    pad.liveMs = Math.max(0, Number(data.live_ms) || 0);
    clearBtn.textContent = String(data.clear_label ?? 'Clear');
    root.dataset.key = key;
    resize(Math.max(1, Math.round(Number(data.width) || 280)), Math.max(1, Math.round(Number(data.height) || 280)));
    // A remount (same key, new DOM) after strokes were drawn: Python may have dropped the value
    // while the component was not on the page, so send the drawing again once.
    if (fresh && pad.strokes.length > 0) send();
  };
  pad.destroy = () => {
    if (pad.timer !== null) clearTimeout(pad.timer);
    if (pad.frame) cancelAnimationFrame(pad.frame);
    pad.setState = null;
  };
  return pad;
}

export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const root = parentElement.querySelector('.dl-sketchpad');
  if (!root) return;
  // Streamlit calls this function again with the same DOM whenever `data` changes (a new brush...):
  // the pad is created once per DOM and only updated afterwards.
  if (!root.__dlPad) root.__dlPad = createPad(root);
  const pad = root.__dlPad;
  pad.update(data || {}, setStateValue);
  return () => pad.destroy();
}
