// Selection, probe point and hidden digits per user key, for as long as the page lives.
const STORE = new Map();
const IMAGES = new Map();   // atlas data URL -> HTMLImageElement (decoded once per page)
// linked scatters: link group -> the plots in it (a box on one selects the same ids in the others at once)
const LINKS = (window.__dlScatterLinks = window.__dlScatterLinks || new Map());
const PAD = { l: 56, r: 14, t: 10, b: 42 };
const CELL = 8;             // hover grid cell, CSS px

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}
function fmtTick(v, step) {
  const d = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  const s = v.toFixed(d);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s.replace('-', '\u2212');
}
function fmtNum(v) { return v.toLocaleString('en-US'); }
function fmtCoord(v) { return (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3)).replace('-', '\u2212'); }

function starPath(ctx, x, y, R, r) {
  ctx.beginPath();
  for (let k = 0; k < 10; k++) {
    const a = -Math.PI / 2 + k * Math.PI / 5, rad = k % 2 ? r : R;
    const px = x + rad * Math.cos(a), py = y + rad * Math.sin(a);
    k ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
  }
  ctx.closePath();
}

function createPlot(root) {
  const plotEl = root.querySelector('.dl-sc-plot');
  const base = root.querySelector('.dl-sc-base'), over = root.querySelector('.dl-sc-over');
  const bctx = base.getContext('2d'), octx = over.getContext('2d');
  const tip = root.querySelector('.dl-sc-tip'), thumb = tip.querySelector('canvas');
  const tipText = tip.querySelector('.dl-sc-tiptext');
  const statusEl = root.querySelector('.dl-sc-status'), legendEl = root.querySelector('.dl-sc-legend');
  const tctx = thumb.getContext('2d');
  const S = {
    key: null, entry: null, sig: null, n: 0, x: new Float64Array(0), y: new Float64Array(0),
    lab: new Uint8Array(0), ids: null, colors: [], drag: 'select', axis: ['x', 'y'], square: null,
    marker: null, markerLabel: '', height: 460, size: 3, atlasUrl: null, atlas: null, atlasCols: 0,
    W: 0, H: 0, dpr: 1, view: null, sx: new Float32Array(0), sy: new Float32Array(0),
    gridStart: null, gridItems: null, gw: 0, gh: 0, sprites: [], faded: [],
    hover: -1, box: null, probing: false, pointerId: null, setState: null, sent: 0,
    lastSend: -1e9, timer: null, lastPoint: null, legendSig: null, link: null, idPos: null,
  };

  // ---------------------------------------------------------------- geometry
  function plotRect() { return { l: PAD.l, t: PAD.t, r: S.W - PAD.r, b: S.H - PAD.b }; }
  function toX(v) { const p = plotRect(); return p.l + (v - S.view.x0) / (S.view.x1 - S.view.x0) * (p.r - p.l); }
  function toY(v) { const p = plotRect(); return p.b - (v - S.view.y0) / (S.view.y1 - S.view.y0) * (p.b - p.t); }
  function fromX(px) { const p = plotRect(); return S.view.x0 + (px - p.l) / (p.r - p.l) * (S.view.x1 - S.view.x0); }
  function fromY(py) { const p = plotRect(); return S.view.y0 + (p.b - py) / (p.b - p.t) * (S.view.y1 - S.view.y0); }
  function clampToPlot(mx, my) {
    const p = plotRect();
    return [Math.min(p.r, Math.max(p.l, mx)), Math.min(p.b, Math.max(p.t, my))];
  }
  function computeView() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < S.n; i++) {
      const a = S.x[i], b = S.y[i];
      if (a < x0) x0 = a; if (a > x1) x1 = a; if (b < y0) y0 = b; if (b > y1) y1 = b;
    }
    const extra = [];
    if (S.marker) extra.push(S.marker);
    if (S.square) extra.push([-S.square, -S.square], [S.square, S.square]);
    for (const [a, b] of extra) { x0 = Math.min(x0, a); x1 = Math.max(x1, a); y0 = Math.min(y0, b); y1 = Math.max(y1, b); }
    if (!isFinite(x0)) { x0 = -1; x1 = 1; y0 = -1; y1 = 1; }
    if (x1 - x0 < 1e-9) { x0 -= 0.5; x1 += 0.5; }
    if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
    const px = (x1 - x0) * 0.04, py = (y1 - y0) * 0.04;
    S.view = { x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py };
    if (S.equal && S.W) {  // one data unit is as long across as up: widen the narrower range
      const p = plotRect(), pw = p.r - p.l, ph = p.b - p.t;
      const unit = Math.max((S.view.x1 - S.view.x0) / pw, (S.view.y1 - S.view.y0) / ph);
      const cx = (S.view.x0 + S.view.x1) / 2, cy = (S.view.y0 + S.view.y1) / 2;
      S.view = { x0: cx - unit * pw / 2, x1: cx + unit * pw / 2, y0: cy - unit * ph / 2, y1: cy + unit * ph / 2 };
    }
  }
  function layout() {
    const W = Math.floor(plotEl.clientWidth);
    const H = S.height;
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    plotEl.style.height = H + 'px';
    if (W < 40) { S.W = 0; return false; }
    if (W !== S.W || H !== S.H || dpr !== S.dpr) {
      S.W = W; S.H = H; S.dpr = dpr;
      for (const c of [base, over]) {
        c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
        c.style.width = W + 'px'; c.style.height = H + 'px';
      }
    }
    computeView();
    const n = S.n;
    if (S.sx.length !== n) { S.sx = new Float32Array(n); S.sy = new Float32Array(n); }
    for (let i = 0; i < n; i++) { S.sx[i] = toX(S.x[i]); S.sy[i] = toY(S.y[i]); }
    // grid index of the points in screen space (counting sort into cells)
    const gw = Math.ceil(W / CELL) + 1, gh = Math.ceil(H / CELL) + 1;
    const start = new Int32Array(gw * gh + 1), items = new Int32Array(n), cellOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const cx = Math.min(gw - 1, Math.max(0, Math.floor(S.sx[i] / CELL)));
      const cy = Math.min(gh - 1, Math.max(0, Math.floor(S.sy[i] / CELL)));
      cellOf[i] = cy * gw + cx; start[cellOf[i] + 1]++;
    }
    for (let c = 0; c < gw * gh; c++) start[c + 1] += start[c];
    const fill = start.slice(0, gw * gh);
    for (let i = 0; i < n; i++) items[fill[cellOf[i]]++] = i;
    S.gridStart = start; S.gridItems = items; S.gw = gw; S.gh = gh;
    const p = plotRect();
    over.dataset.plot = [p.l, p.t, p.r, p.b].join(',');
    over.dataset.view = [S.view.x0, S.view.x1, S.view.y0, S.view.y1].join(',');
    makeSprites();
    return true;
  }
  function nearest(mx, my) {
    if (!S.gridStart) return -1;
    const R = Math.max(6, S.size / 2 + 3), hidden = S.entry.hidden;
    let best = -1, bestD = R * R;
    const cx0 = Math.max(0, Math.floor((mx - R) / CELL)), cx1 = Math.min(S.gw - 1, Math.floor((mx + R) / CELL));
    const cy0 = Math.max(0, Math.floor((my - R) / CELL)), cy1 = Math.min(S.gh - 1, Math.floor((my + R) / CELL));
    for (let cy = cy0; cy <= cy1; cy++) for (let cx = cx0; cx <= cx1; cx++) {
      const c = cy * S.gw + cx;
      for (let k = S.gridStart[c]; k < S.gridStart[c + 1]; k++) {
        const i = S.gridItems[k];
        if (hidden.has(S.lab[i])) continue;
        const dx = S.sx[i] - mx, dy = S.sy[i] - my, d = dx * dx + dy * dy;
        if (d <= bestD) { bestD = d; best = i; }
      }
    }
    return best;
  }

  // ---------------------------------------------------------------- drawing
  function theme() {
    const cs = getComputedStyle(root);
    const v = (name, dflt) => (cs.getPropertyValue(name) || '').trim() || dflt;
    return { bg: v('--st-background-color', '#ffffff'), fg: v('--st-text-color', '#31333f'),
             grid: v('--st-border-color-light', v('--st-border-color', '#e6e9ef')),
             font: v('--st-font', 'sans-serif') };
  }
  function sprite(color, alpha) {
    const d = Math.max(1, S.size) * S.dpr, sz = Math.ceil(d) + 2;
    const c = document.createElement('canvas'); c.width = sz; c.height = sz;
    const g = c.getContext('2d');
    g.globalAlpha = alpha; g.fillStyle = color;
    g.beginPath(); g.arc(sz / 2, sz / 2, d / 2, 0, 2 * Math.PI); g.fill();
    return c;
  }
  function makeSprites() {
    S.sprites = S.colors.map((c) => sprite(c, 0.85));
    S.faded = S.colors.map((c) => sprite(c, 0.15));
  }
  function renderBase() {
    if (!S.W) return;
    const T = S.theme = theme(), p = plotRect(), ctx = bctx, dpr = S.dpr;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, base.width, base.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = T.bg; ctx.fillRect(0, 0, S.W, S.H);
    // grid, ticks and labels
    ctx.font = '11px ' + T.font; ctx.lineWidth = 1;
    const xs = niceStep(S.view.x1 - S.view.x0, (p.r - p.l) / 90), ys = niceStep(S.view.y1 - S.view.y0, (p.b - p.t) / 60);
    ctx.strokeStyle = T.grid; ctx.fillStyle = T.fg; ctx.globalAlpha = 1;
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    for (let v = Math.ceil(S.view.x0 / xs) * xs; v <= S.view.x1 + 1e-9 * xs; v += xs) {
      const X = Math.round(toX(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(X, p.t); ctx.lineTo(X, p.b + 4); ctx.stroke();
      ctx.fillText(fmtTick(v, xs), X, p.b + 6);
    }
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    for (let v = Math.ceil(S.view.y0 / ys) * ys; v <= S.view.y1 + 1e-9 * ys; v += ys) {
      const Y = Math.round(toY(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(p.l - 4, Y); ctx.lineTo(p.r, Y); ctx.stroke();
      ctx.fillText(fmtTick(v, ys), p.l - 6, Y);
    }
    ctx.strokeStyle = T.fg; ctx.globalAlpha = 0.55;
    ctx.strokeRect(p.l + 0.5, p.t + 0.5, p.r - p.l - 1, p.b - p.t - 1);
    ctx.globalAlpha = 1;
    ctx.font = '12px ' + T.font; ctx.textAlign = 'center'; ctx.textBaseline = 'bottom';
    ctx.fillText(S.axis[0], (p.l + p.r) / 2, S.H - 2);
    ctx.save(); ctx.translate(12, (p.t + p.b) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle'; ctx.fillText(S.axis[1], 0, 0); ctx.restore();
    // the decoded grid's square
    if (S.square) {
      ctx.setLineDash([3, 3]); ctx.strokeStyle = T.fg; ctx.lineWidth = 1.2;
      const a = toX(-S.square), b = toX(S.square), c = toY(S.square), d = toY(-S.square);
      ctx.strokeRect(a, c, b - a, d - c); ctx.setLineDash([]);
    }
    // points, in index order (fair overdraw), through one sprite per digit
    ctx.save(); ctx.beginPath(); ctx.rect(p.l, p.t, p.r - p.l, p.b - p.t); ctx.clip();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const hidden = S.entry.hidden, sel = S.entry.mask;
    const half = (S.sprites[0] ? S.sprites[0].width : 0) / 2;
    let shown = 0;
    for (let pass = sel ? 0 : 1; pass < 2; pass++) {
      for (let i = 0; i < S.n; i++) {
        const l = S.lab[i];
        if (hidden.has(l)) continue;
        if (sel && (pass === 0) === (sel[i] === 1)) continue;
        ctx.drawImage(pass === 0 ? S.faded[l] : S.sprites[l], S.sx[i] * dpr - half, S.sy[i] * dpr - half);
      }
    }
    for (let i = 0; i < S.n; i++) if (!hidden.has(S.lab[i])) shown++;
    ctx.restore();
    // the user's point
    if (S.marker) {
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      const X = toX(S.marker[0]), Y = toY(S.marker[1]);
      starPath(ctx, X, Y, 10, 4.2);
      ctx.fillStyle = '#ffd400'; ctx.fill();
      ctx.lineWidth = 1.6; ctx.strokeStyle = '#000'; ctx.stroke();
      if (S.markerLabel) {
        ctx.font = 'bold 12px ' + T.font; ctx.textBaseline = 'middle';
        const right = X + 14 + ctx.measureText(S.markerLabel).width < p.r;
        ctx.textAlign = right ? 'left' : 'right';
        const tx = right ? X + 13 : X - 13;
        ctx.lineWidth = 3; ctx.strokeStyle = T.bg; ctx.strokeText(S.markerLabel, tx, Y);
        ctx.fillStyle = T.fg; ctx.fillText(S.markerLabel, tx, Y);
      }
    }
    S.shown = shown;
    root.dataset.shown = String(shown);
  }
  function renderOver() {
    const ctx = octx, dpr = S.dpr;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, over.width, over.height);
    if (!S.W) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const T = S.theme || theme(), p = plotRect();
    if (S.hover >= 0) {
      ctx.beginPath(); ctx.arc(S.sx[S.hover], S.sy[S.hover], Math.max(4, S.size / 2 + 3), 0, 2 * Math.PI);
      ctx.lineWidth = 2; ctx.strokeStyle = T.fg; ctx.stroke();
    }
    if (S.box) {
      const b = S.box, x = Math.min(b.x0, b.x1), y = Math.min(b.y0, b.y1);
      ctx.fillStyle = 'rgba(78, 121, 167, 0.12)'; ctx.fillRect(x, y, Math.abs(b.x1 - b.x0), Math.abs(b.y1 - b.y0));
      ctx.setLineDash([4, 3]); ctx.lineWidth = 1; ctx.strokeStyle = T.fg;
      ctx.strokeRect(x + 0.5, y + 0.5, Math.abs(b.x1 - b.x0), Math.abs(b.y1 - b.y0)); ctx.setLineDash([]);
    }
    const pt = S.drag === 'probe' ? S.entry.point : null;
    if (pt) {
      const X = toX(pt[0]), Y = toY(pt[1]);
      ctx.save(); ctx.beginPath(); ctx.rect(p.l, p.t, p.r - p.l, p.b - p.t); ctx.clip();
      ctx.lineWidth = 1; ctx.strokeStyle = '#d62728'; ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(p.l, Y); ctx.lineTo(p.r, Y); ctx.moveTo(X, p.t); ctx.lineTo(X, p.b); ctx.stroke();
      ctx.setLineDash([]); ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(X, Y, 6, 0, 2 * Math.PI); ctx.stroke();
      ctx.restore();
    }
  }
  function renderLegend() {
    const sig = S.colors.join() + '|' + (S.marker ? S.markerLabel : '') + '|' + S.counts.join();
    if (sig !== S.legendSig) {
      S.legendSig = sig;
      legendEl.textContent = '';
      for (let d = 0; d < S.colors.length; d++) {
        if (!S.counts[d]) continue;
        const b = document.createElement('button');
        b.type = 'button'; b.className = 'dl-sc-item'; b.dataset.digit = String(d);
        b.setAttribute('data-testid', 'scatter-legend-' + d);
        b.title = 'Hide or show digit ' + d + ' (' + fmtNum(S.counts[d]) + ' points)';
        const sw = document.createElement('span'); sw.className = 'dl-sc-sw'; sw.style.background = S.colors[d];
        b.append(sw, document.createTextNode(String(d)));
        b.addEventListener('click', () => {
          const h = S.entry.hidden;
          h.has(d) ? h.delete(d) : h.add(d);
          S.hover = -1; hideTip();
          renderBase(); renderOver(); renderLegend(); renderStatus();
        });
        legendEl.append(b);
      }
      if (S.marker) {
        const m = document.createElement('span'); m.className = 'dl-sc-item static';
        const st = document.createElement('span'); st.className = 'dl-sc-star'; st.textContent = '\u2605';
        m.append(st, document.createTextNode(S.markerLabel));
        legendEl.append(m);
      }
    }
    for (const b of legendEl.querySelectorAll('button.dl-sc-item')) {
      b.classList.toggle('off', S.entry.hidden.has(Number(b.dataset.digit)));
    }
  }
  function renderStatus() {
    const n = S.n, shown = S.shown ?? n;
    let text = shown === n ? fmtNum(n) + ' points shown' : fmtNum(shown) + ' of ' + fmtNum(n) + ' points shown';
    const sel = S.entry.selection;
    if (S.drag === 'select') {
      if (sel && sel.length) text = fmtNum(sel.length) + ' of ' + fmtNum(n) + ' points selected \u00b7 ' + text + ' \u00b7 double-click to clear';
      else text += ' \u00b7 drag a box to select points';
    } else {
      const pt = S.entry.point;
      text += pt ? ' \u00b7 probe at (' + fmtCoord(pt[0]) + ', ' + fmtCoord(pt[1]) + ')' : ' \u00b7 click or drag on the plane to probe it';
    }
    statusEl.textContent = text;
    root.dataset.selected = String(sel ? sel.length : 0);
  }

  // ---------------------------------------------------------------- tooltip
  function hideTip() { tip.hidden = true; tip.dataset.index = ''; }
  function showTip(i, mx, my) {
    const id = S.ids ? S.ids[i] : i;
    tipText.textContent = 'digit ' + S.lab[i] + ' \u00b7 #' + id;
    tip.dataset.index = String(i);
    const img = S.atlas;
    if (img && img.complete && img.naturalWidth && S.atlasCols) {
      thumb.hidden = false;
      const col = i % S.atlasCols, row = Math.floor(i / S.atlasCols);
      tctx.imageSmoothingEnabled = false;
      tctx.clearRect(0, 0, 84, 84);
      tctx.drawImage(img, col * 28, row * 28, 28, 28, 0, 0, 84, 84);
      tip.dataset.image = '1';
    } else {
      thumb.hidden = true;
      tip.dataset.image = '0';
    }
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let left = mx + 14, top = my + 14;
    if (left + w > S.W) left = mx - 14 - w;
    if (top + h > S.H) top = my - 14 - h;
    tip.style.left = Math.max(0, left) + 'px'; tip.style.top = Math.max(0, top) + 'px';
  }

  // ---------------------------------------------------------------- sending
  function send(name, value) {
    S.sent += 1; root.dataset.sent = String(S.sent);
    if (name === 'selection') S.entry.held = value.join(',');  // what Python holds from this scatter
    if (S.setState) S.setState(name, value);
  }
  function setSelection(list) {
    const e = S.entry;
    e.selection = list;
    if (list && list.length) { e.mask = new Uint8Array(S.n); for (const i of list) e.mask[i] = 1; }
    else { e.selection = null; e.mask = null; }
  }
  // ---------------------------------------------------------------- linked scatters
  function shareSelection(list) {
    const group = S.link && LINKS.get(S.link);
    if (!group || !S.ids) return;
    const ids = list ? list.map((i) => S.ids[i]) : [];
    for (const other of group) if (other !== S) other.takeIds(ids);
  }
  function joinLink(name) {
    if (name === S.link) return;
    if (S.link && LINKS.has(S.link)) LINKS.get(S.link).delete(S);
    S.link = name;
    if (name) { if (!LINKS.has(name)) LINKS.set(name, new Set()); LINKS.get(name).add(S); }
  }
  // another scatter of the group selected these ids: show the same points here (Python hears of it
  // through the page, which passes the shared selection back as `selected`)
  S.takeIds = (ids) => {
    if (!S.entry || !S.ids) return;
    if (!S.idPos) { S.idPos = new Map(); S.ids.forEach((id, i) => S.idPos.set(id, i)); }
    const list = [];
    for (const id of ids) { const i = S.idPos.get(id); if (i !== undefined) list.push(i); }
    list.sort((a, b) => a - b);
    setSelection(list.length ? list : null);
    S.hover = -1; hideTip();
    renderBase(); renderOver(); renderStatus();
  };
  function sendPoint() {
    if (S.timer !== null) { clearTimeout(S.timer); S.timer = null; }
    const pt = S.entry.point;
    if (!pt || (S.lastPoint && S.lastPoint[0] === pt[0] && S.lastPoint[1] === pt[1])) return;
    S.lastPoint = pt; S.lastSend = performance.now();
    send('point', [pt[0], pt[1]]);
  }
  function sendPointSoon() {
    if (S.timer !== null) return;
    const wait = Math.max(0, S.lastSend + 60 - performance.now());
    S.timer = setTimeout(() => { S.timer = null; sendPoint(); }, wait);
  }

  // ---------------------------------------------------------------- events
  function local(e) { const r = over.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
  function inPlot(mx, my) { const p = plotRect(); return mx >= p.l && mx <= p.r && my >= p.t && my <= p.b; }
  function probeAt(mx, my) {
    const [cx, cy] = clampToPlot(mx, my);
    S.entry.point = [fromX(cx), fromY(cy)];
    renderOver(); renderStatus();
  }
  function onDown(e) {
    if (!S.W || (e.pointerType === 'mouse' && e.button !== 0)) return;
    const [mx, my] = local(e);
    if (!inPlot(mx, my)) return;
    e.preventDefault();
    try { over.setPointerCapture(e.pointerId); } catch (err) { /* synthetic pointer */ }
    S.pointerId = e.pointerId;
    S.hover = -1; hideTip();
    if (S.drag === 'probe') { S.probing = true; probeAt(mx, my); sendPointSoon(); }
    else { S.box = { x0: mx, y0: my, x1: mx, y1: my }; renderOver(); }
  }
  function onMove(e) {
    if (!S.W) return;
    const [mx, my] = local(e);
    if (S.pointerId !== null && e.pointerId === S.pointerId) {
      if (S.probing) { probeAt(mx, my); sendPointSoon(); }
      else if (S.box) { const [cx, cy] = clampToPlot(mx, my); S.box.x1 = cx; S.box.y1 = cy; renderOver(); }
      return;
    }
    const i = inPlot(mx, my) ? nearest(mx, my) : -1;
    if (i !== S.hover) { S.hover = i; renderOver(); }
    if (i >= 0) showTip(i, mx, my); else hideTip();
  }
  function onUp(e) {
    if (S.pointerId === null || e.pointerId !== S.pointerId) return;
    S.pointerId = null;
    if (S.probing) {
      S.probing = false;
      const [mx, my] = local(e);
      if (e.type === 'pointerup') probeAt(mx, my);
      sendPoint();
      return;
    }
    const b = S.box; S.box = null;
    if (b && (Math.abs(b.x1 - b.x0) > 3 || Math.abs(b.y1 - b.y0) > 3)) {
      const x0 = Math.min(b.x0, b.x1), x1 = Math.max(b.x0, b.x1), y0 = Math.min(b.y0, b.y1), y1 = Math.max(b.y0, b.y1);
      const hidden = S.entry.hidden, list = [];
      for (let i = 0; i < S.n; i++) {
        if (S.sx[i] >= x0 && S.sx[i] <= x1 && S.sy[i] >= y0 && S.sy[i] <= y1 && !hidden.has(S.lab[i])) list.push(i);
      }
      setSelection(list);
      renderBase(); renderStatus();
      send('selection', list);
      shareSelection(list);
    }
    renderOver();
  }
  function onDbl(e) {
    if (S.drag !== 'select' || !S.entry.selection) return;
    e.preventDefault();
    setSelection(null);
    renderBase(); renderOver(); renderStatus();
    send('selection', []);
    shareSelection(null);
  }
  function onLeave() { if (S.hover >= 0) { S.hover = -1; renderOver(); } hideTip(); }
  over.addEventListener('pointerdown', onDown);
  over.addEventListener('pointermove', onMove);
  over.addEventListener('pointerup', onUp);
  over.addEventListener('pointercancel', onUp);
  over.addEventListener('pointerleave', onLeave);
  over.addEventListener('dblclick', onDbl);
  const ro = new ResizeObserver(() => {
    if (Math.floor(plotEl.clientWidth) !== S.W) redraw();
  });
  ro.observe(plotEl);

  function redraw() {
    if (!S.entry) return;
    S.hover = -1; hideTip();
    if (layout()) { renderBase(); renderOver(); }
    renderLegend(); renderStatus();
  }

  // ---------------------------------------------------------------- data from Python
  S.update = (data, setStateValue) => {
    S.setState = setStateValue;
    const fresh = S.key === null;
    const key = String(data.key);
    if (key !== S.key) {
      if (!STORE.has(key)) STORE.set(key, { sig: null, selection: null, mask: null, point: null, hidden: new Set(), controlled: null, held: '' });
      S.entry = STORE.get(key); S.key = key; S.sig = null;
    }
    const e = S.entry;
    let resend = fresh;
    if (data.sig !== S.sig) {
      // xy: "x0,y0,x1,y1,..." (or a list); labels: one character '0'-'9' per point (or a list)
      const xy = typeof data.xy === 'string' ? (data.xy ? data.xy.split(',') : []) : (data.xy || []);
      const lab = data.labels || [];
      const n = Math.min(Math.floor(xy.length / 2), lab.length);
      const digit = typeof lab === 'string' ? (i) => lab.charCodeAt(i) - 48 : (i) => lab[i];
      S.n = n; S.x = new Float64Array(n); S.y = new Float64Array(n); S.lab = new Uint8Array(n);
      for (let i = 0; i < n; i++) { S.x[i] = +xy[2 * i]; S.y[i] = +xy[2 * i + 1]; S.lab[i] = Math.min(9, Math.max(0, digit(i))); }
      S.counts = new Array(10).fill(0);
      for (let i = 0; i < n; i++) S.counts[S.lab[i]]++;
      S.ids = Array.isArray(data.ids) && data.ids.length === n ? data.ids : null;
      S.idPos = null;
      S.sig = data.sig;
      if (e.sig !== null && e.sig !== data.sig && e.selection) {
        // other points under the same key: the selection's indices no longer mean anything
        setSelection(null);
        send('selection', []);
        resend = false;
      } else if (e.selection) {
        setSelection(e.selection.filter((i) => i < n));
      }
      e.sig = data.sig;
    }
    // a selection set by the page (linked views): taken over whenever that value changes, and sent
    // back unless Python holds it already, so that Python's value is what is drawn (else a double
    // click on a selection that came from another scatter would send the [] Python holds: no change)
    if (Array.isArray(data.selected) && data.drag !== 'probe') {
      const list = data.selected.filter((i) => Number.isInteger(i) && i >= 0 && i < S.n);
      const text = list.join(',');
      if (text !== e.controlled) {
        e.controlled = text;
        if (text !== (e.selection ? e.selection.join(',') : '')) setSelection(list.length ? list : null);
        if (text !== e.held) { send('selection', list); resend = false; }
      }
    }
    S.colors = Array.isArray(data.colors) && data.colors.length ? data.colors : ['#4e79a7'];
    S.drag = data.drag === 'probe' ? 'probe' : 'select';
    S.axis = Array.isArray(data.axis_labels) ? data.axis_labels.map(String) : ['x', 'y'];
    S.square = data.square ? Number(data.square) : null;
    S.equal = !!data.equal_aspect;
    S.marker = Array.isArray(data.marker) ? [Number(data.marker[0]), Number(data.marker[1])] : null;
    S.markerLabel = String(data.marker_label ?? '');
    S.height = Math.max(120, Number(data.height) || 460);
    S.size = Math.max(1, Number(data.point_size) || 3);
    S.atlasCols = Number(data.atlas_cols) || 0;
    if (data.atlas !== S.atlasUrl) {
      S.atlasUrl = data.atlas || null;
      S.atlas = null;
      if (S.atlasUrl) {
        let img = IMAGES.get(S.atlasUrl);
        if (!img) {
          img = new Image(); img.decoding = 'async'; img.src = S.atlasUrl;
          IMAGES.set(S.atlasUrl, img);
          while (IMAGES.size > 4) IMAGES.delete(IMAGES.keys().next().value);
        }
        S.atlas = img;
      }
    }
    joinLink(S.drag === 'select' && typeof data.link === 'string' && data.link ? data.link : null);
    root.dataset.key = key; root.dataset.drag = S.drag;
    S.legendSig = null;
    redraw();
    // A remount (same key, new DOM): Python may have dropped the value while the component was
    // off the page, so send it again once.
    if (resend) {
      if (S.drag === 'select' && e.selection) send('selection', e.selection.slice());
      if (S.drag === 'probe' && e.point) { S.lastPoint = null; sendPoint(); }
    }
  };
  S.destroy = () => {
    ro.disconnect();
    joinLink(null);
    if (S.timer !== null) clearTimeout(S.timer);
    S.setState = null;
  };
  return S;
}

export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const root = parentElement.querySelector('.dl-scatter');
  if (!root) return;
  // Streamlit calls this again with the same DOM whenever `data` changes: create once, then update.
  if (!root.__dlPlot) root.__dlPlot = createPlot(root);
  const plot = root.__dlPlot;
  plot.update(data || {}, setStateValue);
  return () => plot.destroy();
}
