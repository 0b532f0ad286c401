// The labeling widget of alwidget as one anywidget view: the toolbar (screens, strategy, k,
// target, auto-retrain, retrain and cancel), the progress bar and status line, the error and
// message lines, the card grid with its batch bar, key help and recent labels, and the export
// row. It runs wherever anywidget does: JupyterLab, Notebook 7, Voila, marimo.
//
// It renders the state Python keeps (traits `cards`, `images`, `recent`, `status`, ...) and
// forwards what the person does as messages (`model.send`): a pick, a skip, an accept, a key,
// a relabel or an undo in the recent list, a button, a changed field (`set`). Python decides;
// this file only draws. A field the person changes is sent as `set`; at Python's ack the field
// shows Python's value again: the new one if applied, the old one if refused.
//
// A pick is shown at once (the card is marked `alw-pending`) and confirmed by Python's
// `ack` message; a refused pick is undone on the card and its reason is shown.
//
// Keys act while the grid has the keyboard focus: it takes the focus on a click or Tab and
// keeps it until Escape or a click elsewhere, wherever the pointer goes. The grid carries
// `data-lm-suppress-shortcuts`, so JupyterLab's shortcuts do not fire meanwhile.
//
// Every name that comes from the person's data (item ids, class names, sources) is set as
// text (`textContent`, attributes), never as HTML. Only `instructions`, `notes`, `status` and
// `message`, which Python writes with every dynamic part escaped, are HTML.

const BAND_COLOURS = { easy: "#2e7d32", medium: "#ef6c00", hard: "#c62828" };
const MOVES = { ArrowLeft: -1, ArrowRight: 1, Left: -1, Right: 1 };
const ROW_MOVES = { ArrowUp: -1, ArrowDown: 1, Up: -1, Down: 1 };
const FORWARDED = new Set(["Enter", "Backspace", "r", "o", "A"]);
let boards = 0;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function percent(x) {
  return x === null || x === undefined || Number.isNaN(x) ? "–" : `${Math.round(100 * x)}%`;
}

function html(node, text) { // HTML written by Python (every dynamic part escaped); only when it changed
  if (node.dataset.html === text) return;
  node.dataset.html = text;
  node.innerHTML = text;
}

function setField(input, value) { // Python's value into a field (it changes only when Python says so)
  if (input.type === "checkbox") input.checked = !!value;
  else input.value = value;
}

// The toolbar, progress row, error and message lines: {node, redraw: {trait: function}}.
function toolbar(model, send) {
  const tabs = el("div", { className: "alw-tabs", role: "tablist", "aria-label": "screens" });
  const strategy = el("select", { className: "alw-strategy", title: "the query strategy", "aria-label": "strategy" });
  strategy.addEventListener("change", () => send({ kind: "set", name: "strategy", value: strategy.value }));
  const k = el("input", { className: "alw-k", type: "number", min: "1", max: "200", step: "1", title: "cards per batch", "aria-label": "cards per batch" });
  k.addEventListener("change", () => send({ kind: "set", name: "k", value: Number(k.value) }));
  const target = el("input", {
    className: "alw-target", type: "number", min: "0.1", max: "100", step: "1",
    title: "forecast the labels needed for this validation accuracy", "aria-label": "target validation accuracy, percent",
  });
  target.addEventListener("change", () => send({ kind: "set", name: "target", value: Number(target.value) / 100 }));
  const auto = el("input", { className: "alw-auto", type: "checkbox" });
  auto.addEventListener("change", () => send({ kind: "set", name: "auto_retrain", value: auto.checked }));
  const action = (name, text, tip, cls) => el("button", {
    type: "button", className: `alw-button ${cls || ""}`, title: tip, "aria-label": tip, text, "data-action": name,
    onclick: () => send({ kind: "action", name }),
  });
  const retrain = action("retrain", "↻ Retrain now", "train on all labels now, in the background (key r)", "alw-primary");
  const cancel = action("cancel", "■ Cancel", "stop the running cycle");
  const bar = el("div", { className: "alw-toolbar", role: "toolbar", "aria-label": "labeling" }, tabs,
    el("label", { className: "alw-field" }, "strategy ", strategy),
    el("label", { className: "alw-field" }, "k ", k),
    el("label", { className: "alw-field" }, "target % ", target),
    el("label", { className: "alw-field" }, auto, " auto-retrain after each batch"),
    retrain, cancel);
  const progress = el("progress", { className: "alw-progress", max: "1", value: "0", "aria-label": "cycle progress" });
  const step = el("span", { className: "alw-step", role: "status" });
  const status = el("span", { className: "alw-status" });
  const row = el("div", { className: "alw-progress-row" }, progress, step, status);
  const error = el("span", { className: "alw-error", role: "alert" });
  const dismiss = action("dismiss", "dismiss", "hide this error");
  const errorRow = el("div", { className: "alw-error-row", hidden: true }, error, dismiss);
  const message = el("div", { className: "alw-message", role: "status", "aria-live": "polite" });

  const drawTabs = () => {
    const mode = model.get("mode");
    const screens = model.get("screens") || [];
    if (tabs.childElementCount !== screens.length) {
      tabs.replaceChildren(...screens.map(([name, title, tip]) => el("button", {
        type: "button", className: "alw-tab", role: "tab", title: tip, text: title, "data-mode": name,
        onclick: () => send({ kind: "set", name: "mode", value: name }),
      })));
    }
    for (const tab of tabs.children) {
      const on = tab.dataset.mode === mode;
      tab.classList.toggle("alw-chosen", on);
      tab.setAttribute("aria-selected", on ? "true" : "false");
    }
  };
  const drawStrategy = () => {
    const names = model.get("strategies") || [];
    if ([...strategy.options].map((o) => o.value).join("\n") !== names.join("\n")) {
      strategy.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
    }
    strategy.value = model.get("strategy");
  };
  const drawProgress = () => {
    progress.value = Math.min(Math.max(Number(model.get("progress")) || 0, 0), 1);
    progress.dataset.style = model.get("progress_style") || "info";
    step.textContent = model.get("step") || "";
  };
  const drawError = () => {
    const text = model.get("error") || "";
    error.textContent = text ? `⚠ ${text}` : "";
    errorRow.hidden = !text;
  };
  return {
    node: el("div", { className: "alw-top" }, bar, row, errorRow, message),
    redraw: {
      mode: drawTabs, screens: drawTabs, strategies: drawStrategy, strategy: drawStrategy,
      k: () => setField(k, model.get("k")),
      target: () => setField(target, Math.round(10000 * model.get("target")) / 100),
      auto_retrain: () => setField(auto, model.get("auto_retrain")),
      running: () => { cancel.disabled = !model.get("running"); },
      progress: drawProgress, progress_style: drawProgress, step: drawProgress,
      status: () => html(status, model.get("status") || ""),
      message: () => html(message, model.get("message") || ""),
      error: drawError,
    },
  };
}

// The export row: a folder and three buttons ({node, redraw}).
function exportRow(model, send) {
  const folder = el("input", { className: "alw-export-dir", type: "text", spellcheck: "false", "aria-label": "export to folder" });
  folder.addEventListener("change", () => send({ kind: "set", name: "export_dir", value: folder.value }));
  const button = (what, text, tip) => el("button", {
    type: "button", className: "alw-button", title: tip, "aria-label": tip, text, "data-export": what,
    onclick: () => send({ kind: "action", name: "export", what, folder: folder.value }),
  });
  const node = el("div", { className: "alw-export" }, el("label", { className: "alw-field" }, "export to ", folder),
    button("csv", "⤓ Labels CSV", "write labels.csv"), button("json", "⤓ Labels JSON", "write labels.json"),
    button("model", "⤓ Model", "write model.pt (timm-compatible) and model.json"));
  return { node, redraw: { export_dir: () => setField(folder, model.get("export_dir") || "") } };
}

// -- the Map screen: the pool as points, coloured by label, prediction or uncertainty --------
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
  "#31a354", "#756bb1"];

const MAP_POINTS = 100000; // drawn one by one; past that, a sample over the density of all

function typed(view, Type) { // a binary trait (DataView) as a typed array, or null
  if (!view || !view.byteLength) return null;
  const buf = view instanceof DataView ? view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) : view.buffer || view;
  return new Type(buf);
}

function uncertaintyColour(u) { // 0 → blue, 1 → red
  if (!(u >= 0)) return "#bdbdbd";
  const r = Math.round(40 + 200 * u), b = Math.round(220 - 190 * u);
  return `rgb(${r},70,${b})`;
}

// {node, redraw: {trait: function}, show(on)}: the map panel; `send` forwards what the person does.
function mapView(model, send) {
  let colourBy = "label";
  let view = { scale: 1, dx: 0, dy: 0 }; // screen = base(x) * scale + d
  let pts = null; // screen coordinates, Float32Array [2N]
  let selected = new Set();
  let lasso = null;
  let hoverRow = -1, hoverAt = 0;
  let image = null; // the canvas's pixels, reused between frames
  const switches = el("div", { className: "alw-map-switch", role: "radiogroup", "aria-label": "colour the map by" });
  for (const [name, text] of [["label", "label"], ["pred", "prediction"], ["unc", "uncertainty"]]) {
    switches.append(el("button", {
      type: "button", className: "alw-button alw-map-colour", "data-colour": name, text: `colour: ${text}`,
      onclick: () => { colourBy = name; draw(); },
    }));
  }
  const state = el("span", { className: "alw-map-state", role: "status" });
  const canvas = el("canvas", { className: "alw-map-canvas", tabindex: "-1", "aria-label": "map of the pool: drag around a region to select it" });
  const tip = el("div", { className: "alw-map-tip", hidden: true });
  const legend = el("div", { className: "alw-map-legend" });
  const info = el("div", { className: "alw-map-selection", role: "region", "aria-label": "selection" });
  const node = el("div", { className: "alw-map", hidden: true },
    el("div", { className: "alw-map-top" }, switches, state), el("div", { className: "alw-map-stage" }, canvas, tip), legend, info);

  const data = () => ({
    xy: typed(model.get("map_xy"), Float32Array), label: typed(model.get("map_label"), Int16Array),
    pred: typed(model.get("map_pred"), Int16Array), unc: typed(model.get("map_unc"), Float32Array),
    flags: typed(model.get("map_flags"), Uint8Array),
  });
  let cache = null;
  const fresh = () => { cache = null; };
  const get = () => (cache = cache || data());

  function size() {
    const w = Math.max(200, node.clientWidth || 600), h = Math.min(520, Math.max(260, Math.round(w * 0.6)));
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
      canvas.style.width = `${w}px`; canvas.style.height = `${h}px`;
    }
    return { w, h, ratio };
  }

  function draw() {
    for (const b of switches.children) b.classList.toggle("alw-chosen", b.dataset.colour === colourBy);
    const st = model.get("map_state") || {};
    state.textContent = st.status === "ready" ? `${(st.n || 0).toLocaleString()} images` +
      ((st.n || 0) > MAP_POINTS ? ` (every ${Math.ceil(st.n / MAP_POINTS)}th as a dot, all of them as the grey density)` : "")
      : (st.message || "");
    const d = get();
    if (node.hidden || !d.xy) return;
    const { w, h, ratio } = size();
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const n = d.xy.length / 2;
    if (!d.bounds) { // once per map: its extent
      let a = Infinity, b = -Infinity, c = Infinity, e = -Infinity;
      for (let i = 0; i < n; i++) {
        const x = d.xy[2 * i], y = d.xy[2 * i + 1];
        if (x < a) a = x; if (x > b) b = x; if (y < c) c = y; if (y > e) e = y;
      }
      d.bounds = [a, b, c, e];
    }
    const [x0, x1, y0, y1] = d.bounds;
    const pad = 12, sx = (w - 2 * pad) / Math.max(x1 - x0, 1e-9), sy = (h - 2 * pad) / Math.max(y1 - y0, 1e-9);
    const s0 = Math.min(sx, sy);
    const ox = pad + (w - 2 * pad - (x1 - x0) * s0) / 2, oy = pad + (h - 2 * pad - (y1 - y0) * s0) / 2; // centred
    pts = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      pts[2 * i] = (ox + (d.xy[2 * i] - x0) * s0) * view.scale + view.dx;
      pts[2 * i + 1] = (h - oy - (d.xy[2 * i + 1] - y0) * s0) * view.scale + view.dy;
    }
    const classes = model.get("classes") || [];
    const colourOf = (i) => {
      if (colourBy === "unc") return uncertaintyColour(d.unc ? d.unc[i] : NaN);
      const c = colourBy === "label" ? (d.label ? d.label[i] : -1) : (d.pred ? d.pred[i] : -1);
      return c >= 0 ? PALETTE[c % PALETTE.length] : "#cfcfcf";
    };
    // the many small points go straight into the canvas's pixels (one typed-array write each, no
    // path or fill call): 100,000 points in a few milliseconds; the few marked points are drawn after
    const W = canvas.width, H = canvas.height;
    if (!image || image.width !== W || image.height !== H) image = ctx.createImageData(W, H);
    const px = new Uint32Array(image.data.buffer);
    px.fill(0xffffffff);
    const rgba = (hex) => 0xff000000 | (parseInt(hex.slice(5, 7), 16) << 16) | (parseInt(hex.slice(3, 5), 16) << 8) | parseInt(hex.slice(1, 3), 16);
    if (!d.colours || d.colours.by !== colourBy) { // each point's colour, once per map and colouring
      const classRGBA = PALETTE.map(rgba), grey = rgba("#cfcfcf"), out = new Uint32Array(n);
      const ramp = [...Array(32).keys()].map((k) => { const u = k / 31; return (0xff000000 | (Math.round(220 - 190 * u) << 16) | (70 << 8) | Math.round(40 + 200 * u)) >>> 0; });
      for (let i = 0; i < n; i++) {
        if (colourBy === "unc") { const u = d.unc ? d.unc[i] : NaN; out[i] = u >= 0 ? ramp[Math.min(31, Math.floor(u * 32))] : grey; } else {
          const k = colourBy === "label" ? (d.label ? d.label[i] : -1) : (d.pred ? d.pred[i] : -1);
          out[i] = k >= 0 ? classRGBA[k % classRGBA.length] : grey;
        }
      }
      d.colours = { by: colourBy, rgba: out };
    }
    if (!d.marks || d.marks.selected !== selected) { // labelled, flagged or selected: drawn as paths, on top
      const marked = new Uint8Array(n), big = [];
      for (let i = 0; i < n; i++) {
        if ((d.label && d.label[i] >= 0) || (d.flags && d.flags[i]) || selected.has(i)) { marked[i] = 1; big.push(i); }
      }
      d.marks = { selected, marked, big };
    }
    const colours = d.colours.rgba, marked = d.marks.marked, big = d.marks.big;
    const dot = Math.max(1, Math.round((n > 20000 ? 2 : 3) * ratio)), half = dot >> 1;
    let stride = 1;
    if (n > MAP_POINTS) { // past 100,000 points: the density of all of them in grey, a sample of them as dots
      stride = Math.ceil(n / MAP_POINTS);
      const cell = Math.max(2, Math.round(4 * ratio)), cw = Math.ceil(W / cell), ch = Math.ceil(H / cell);
      const counts = new Uint32Array(cw * ch);
      let top = 1;
      for (let i = 0; i < n; i++) {
        const cx = Math.floor((pts[2 * i] * ratio) / cell), cy = Math.floor((pts[2 * i + 1] * ratio) / cell);
        if (cx >= 0 && cy >= 0 && cx < cw && cy < ch) top = Math.max(top, ++counts[cy * cw + cx]);
      }
      const logTop = Math.log1p(top);
      for (let cy = 0; cy < ch; cy++) for (let cx = 0; cx < cw; cx++) {
        const c = counts[cy * cw + cx];
        if (!c) continue;
        const g = Math.round(245 - 110 * (Math.log1p(c) / logTop));
        const v = (0xff000000 | (g << 16) | (g << 8) | g) >>> 0;
        for (let yy = cy * cell; yy < Math.min(H, (cy + 1) * cell); yy++) px.fill(v, yy * W + cx * cell, yy * W + Math.min(W, (cx + 1) * cell));
      }
    }
    for (let i = 0; i < n; i += stride) {
      if (marked[i]) continue;
      const x = ((pts[2 * i] * ratio + 0.5) | 0) - half, y = ((pts[2 * i + 1] * ratio + 0.5) | 0) - half;
      if (x < 0 || y < 0 || x + dot > W || y + dot > H) continue;
      const c = colours[i];
      let o = y * W + x;
      if (dot === 2) { px[o] = c; px[o + 1] = c; o += W; px[o] = c; px[o + 1] = c; } else {
        for (let yy = 0; yy < dot; yy++, o += W) for (let xx = 0; xx < dot; xx++) px[o + xx] = c;
      }
    }
    ctx.putImageData(image, 0, 0);
    for (const i of big) { // labelled points larger, the grid's batch and the selection ringed, validation hollow
      const x = pts[2 * i], y = pts[2 * i + 1], f = d.flags ? d.flags[i] : 0;
      ctx.beginPath(); ctx.arc(x, y, 3, 0, 2 * Math.PI);
      if (f & 1) { ctx.strokeStyle = colourOf(i); ctx.lineWidth = 1.2; ctx.stroke(); } else { ctx.fillStyle = colourOf(i); ctx.fill(); }
      if (f & 2 || selected.has(i)) { ctx.strokeStyle = f & 2 ? "#000" : "#1565c0"; ctx.lineWidth = f & 2 ? 1.5 : 1; ctx.stroke(); }
    }
    if (lasso && lasso.length > 1) {
      ctx.beginPath(); ctx.moveTo(lasso[0][0], lasso[0][1]);
      for (const [x, y] of lasso) ctx.lineTo(x, y);
      ctx.strokeStyle = "#1565c0"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1.5; ctx.stroke(); ctx.setLineDash([]);
    }
    legend.replaceChildren(...(colourBy === "unc"
      ? [el("span", { text: "uncertainty: " }), el("span", { style: "color:rgb(40,70,220)", text: "■ sure " }), el("span", { style: "color:rgb(240,70,30)", text: "■ unsure" })]
      : classes.slice(0, 40).map((c, j) => el("span", { className: "alw-map-key" }, el("span", { style: `color:${PALETTE[j % PALETTE.length]}`, text: "■ " }), c))));
    performance.mark("alw:map-drawn");
  }

  function inside(poly, x, y) { // even-odd rule
    let hit = false;
    for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
      const [xi, yi] = poly[i], [xj, yj] = poly[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }
  const at = (ev) => { const b = canvas.getBoundingClientRect(); return [ev.clientX - b.left, ev.clientY - b.top]; };
  let pan = null; // Shift+drag (or the middle button) moves the map
  canvas.addEventListener("mousedown", (ev) => {
    ev.preventDefault();
    tip.hidden = true;
    if (ev.shiftKey || ev.button === 1) pan = { at: at(ev), dx: view.dx, dy: view.dy };
    else lasso = [at(ev)];
  });
  canvas.addEventListener("mousemove", (ev) => {
    const [x, y] = at(ev);
    if (pan) { view = { scale: view.scale, dx: pan.dx + x - pan.at[0], dy: pan.dy + y - pan.at[1] }; draw(); return; }
    if (lasso) { lasso.push([x, y]); draw(); return; }
    if (!pts) return;
    let best = -1, bestD = 36; // within 6 px
    for (let i = 0; i < pts.length / 2; i++) {
      const dx = pts[2 * i] - x, dy = pts[2 * i + 1] - y, dd = dx * dx + dy * dy;
      if (dd < bestD) { bestD = dd; best = i; }
    }
    if (best < 0) { tip.hidden = true; hoverRow = -1; return; }
    tip.style.left = `${Math.min(x + 12, canvas.clientWidth - 180)}px`; tip.style.top = `${y + 12}px`;
    if (best !== hoverRow && performance.now() - hoverAt > 60) {
      hoverRow = best; hoverAt = performance.now();
      send({ kind: "map_hover", row: best });
    }
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; hoverRow = -1; });
  const onUp = () => { // on the window: a drag may end outside the canvas
    pan = null;
    if (!lasso) return;
    const poly = lasso; lasso = null;
    if (poly.length < 3 || !pts) { draw(); return; }
    const rows = [];
    for (let i = 0; i < pts.length / 2; i++) if (inside(poly, pts[2 * i], pts[2 * i + 1])) rows.push(i);
    selected = new Set(rows);
    draw();
    send({ kind: "map_select", rows });
  };
  window.addEventListener("mouseup", onUp);
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [x, y] = at(ev), f = ev.deltaY < 0 ? 1.25 : 0.8;
    view = { scale: view.scale * f, dx: x - (x - view.dx) * f, dy: y - (y - view.dy) * f };
    draw();
  }, { passive: false });
  canvas.addEventListener("dblclick", () => { view = { scale: 1, dx: 0, dy: 0 }; draw(); });

  function drawHover() {
    const hv = model.get("map_hover") || {};
    if (hv.row !== hoverRow) return;
    const parts = [el("code", { text: hv.id || "" })];
    if (hv.label) parts.push(el("div", {}, el("b", { text: `✔ ${hv.label}` }), hv.split === "validation" ? el("i", { text: " (validation)" }) : ""));
    if (hv.suggestion) parts.push(el("div", { text: `model: ${hv.suggestion} ${percent(hv.confidence)}` }));
    const png = hv.png;
    if (png && png.byteLength) {
      const bytes = png instanceof DataView ? new Uint8Array(png.buffer, png.byteOffset, png.byteLength) : png;
      const img = el("img", { className: "alw-map-thumb" });
      img.src = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
      img.onload = () => URL.revokeObjectURL(img.src);
      parts.unshift(img);
    }
    tip.replaceChildren(...parts);
    tip.hidden = false;
  }

  function drawSelection() {
    const sel = model.get("map_selection") || {};
    if (!sel.count) { info.replaceChildren(el("div", { className: "alw-muted", text: "Drag around a region of the map to select it." })); return; }
    const thumbs = model.get("map_thumbs") || {};
    const pics = (sel.sample || []).map((id) => {
      const v = thumbs[id];
      if (!v) return null;
      const bytes = v instanceof DataView ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v;
      const img = el("img", { className: "alw-map-thumb", alt: id, title: id });
      img.src = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
      img.onload = () => URL.revokeObjectURL(img.src);
      return img;
    });
    const mix = (sel.mix || []).map(([c, k]) => `${c} ${Math.round((100 * k) / sel.count)}%`).join(", ");
    const buttons = (model.get("classes") || []).map((c) => el("button", {
      type: "button", className: "alw-button alw-map-label", "data-class": c, text: c,
      title: `label the ${sel.count - sel.validation} selected images ${c}`,
      onclick: () => send({ kind: "action", name: "label_map_selection", label: c }),
    }));
    info.replaceChildren(
      el("div", {}, el("b", { text: `${sel.count.toLocaleString()} selected` }),
        ` (${sel.labelled} labelled, ${sel.validation} validation: left out)`, mix ? ` · model says: ${mix}` : ""),
      el("div", { className: "alw-map-thumbs" }, ...pics),
      el("div", { className: "alw-map-actions" }, el("span", { text: "label all as: " }), ...buttons,
        el("button", { type: "button", className: "alw-button alw-primary", "data-action": "query_here", text: "Query here",
          title: "the next batch from inside the selection", onclick: () => send({ kind: "action", name: "query_here" }) }),
        el("button", { type: "button", className: "alw-button", text: "Clear", onclick: () => { selected = new Set(); draw(); send({ kind: "map_select", rows: [] }); } })));
  }

  const data_changed = () => { fresh(); draw(); };
  return {
    node,
    dispose() { window.removeEventListener("mouseup", onUp); },
    show(on) { const was = node.hidden; node.hidden = !on; if (on && was) { fresh(); draw(); drawSelection(); } },
    redraw: {
      map_xy: data_changed, map_label: data_changed, map_pred: data_changed, map_unc: data_changed,
      map_flags: data_changed, map_state: draw, map_hover: drawHover, map_selection: drawSelection, map_thumbs: drawSelection,
    },
  };
}

function render({ model, el: host }) {
  const uid = `alw-${++boards}-${Math.random().toString(36).slice(2, 8)}`;
  const pending = new Map(); // item id -> {label, source, token}: shown, not yet confirmed
  const skippedHere = new Set(); // skips sent, not yet confirmed
  const urls = new Map(); // item id -> {view, url}
  const nodes = new Map(); // item id -> card parts
  let focus = 0;
  let focusSerial = -1;
  let typing = null; // item id whose type-ahead field is open
  let tokens = 0;
  let scheduled = false;
  const fields = new Map(); // token -> the toolbar field a "set" message changed (redrawn from Python's value at the ack)

  // -- the static frame ------------------------------------------------------------------
  const instructions = el("div", { className: "alw-instructions" });
  const notes = el("div", { className: "alw-notes" });
  const keyHint = el("div", { className: "alw-keyhint", "aria-hidden": "true" });
  const grid = el("div", {
    className: "alw-grid alw-keyboard", tabindex: "0", role: "group",
    "data-lm-suppress-shortcuts": "true",
    "aria-label": "labeling grid: click a class, or press its number key for the highlighted card; Enter submits; Escape leaves",
  });
  const live = el("div", { className: "alw-live", role: "status", "aria-live": "polite" });
  const datalist = el("datalist", { id: `${uid}-classes` });
  const bar = el("div", { className: "alw-bar", role: "toolbar", "aria-label": "batch" });
  const help = el("div", { className: "alw-help", hidden: true });
  const recentList = el("div", { className: "alw-recent-rows" });
  const recent = el("div", { className: "alw-recent", role: "region", "aria-label": "recent labels" },
    el("div", { className: "alw-recent-title" }, el("b", { text: "Recent labels" }),
      el("span", { className: "alw-muted", text: " (change or undo any)" })),
    recentList);
  const pool = mapView(model, send);
  const main = el("div", { className: "alw-main" }, instructions, notes, keyHint, grid, pool.node, live, bar, help, datalist);
  const root = el("div", { className: "alw-board" }, main, recent);
  const top = toolbar(model, send);
  const bottom = exportRow(model, send);
  host.append(el("div", { className: "alw-widget" }, top.node, root, bottom.node));

  const barButtons = {};
  const barSpec = [
    ["submit", "Submit batch", "done with these cards: next batch, and retrain (Enter)", "alw-primary"],
    ["skip", "Skip card", "skip the highlighted card (s)"],
    ["accept", "Accept suggestion", "label the highlighted card with the model's suggestion (a)"],
    ["confirm", "Label is right", "Check my labels: keep the highlighted card's label as it is (c)"],
    ["accept_all", "Accept all shown", "accept the suggestion of every unlabelled card shown (Shift+A)"],
    ["undo", "Undo last", "undo the latest label (Backspace)"],
    ["oracle", "Oracle answers batch", "simulation: label the unlabelled cards from the known truth (o)"],
    ["help", "Keys", "show the keyboard shortcuts (?)"],
  ];
  for (const [name, text, tip, cls] of barSpec) {
    const button = el("button", {
      type: "button", className: `alw-button ${cls || ""}`, title: tip, "aria-label": tip, text,
      "data-action": name,
      onclick: () => {
        if (name === "help") toggleHelp();
        else if (name === "skip") skip(focus);
        else if (name === "accept") accept(focus);
        else if (name === "confirm") confirm(focus);
        else send({ kind: "action", name, index: focus, id: idAt(focus) });
        grid.focus({ preventScroll: true }); // go on labelling with keys
      },
    });
    barButtons[name] = button;
    bar.append(button);
  }

  // -- state helpers -----------------------------------------------------------------------
  const cards = () => model.get("cards") || [];
  const idAt = (i) => (cards()[i] || {}).id;
  const labelOf = (card) => (pending.has(card.id) ? pending.get(card.id).label : card.label);
  const checking = () => model.get("mode") === "check";
  const isOpen = (card) => (checking() // checking labels: a card is done once its label is confirmed or changed
    ? !pending.has(card.id) && card.source !== "review"
    : labelOf(card) === null && !card.skipped && !skippedHere.has(card.id));

  function send(message) { // every message but a focus move carries a token, which Python's ack names
    if (message.kind !== "focus" && message.token === undefined) message.token = ++tokens;
    if (message.kind === "set") fields.set(message.token, message.name);
    performance.mark("alw:send"); // user-timing marks: what benchmarks read (they cost nothing)
    model.send(message);
  }

  function schedule() {
    if (scheduled) return;
    performance.mark("alw:state");
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      draw();
    });
  }

  function nextOpen(from) {
    const list = cards();
    for (let step = 1; step <= list.length; step++) {
      const i = (from + step) % list.length;
      if (isOpen(list[i])) return i;
    }
    return from;
  }

  function setFocus(i, tell = true) {
    const n = cards().length;
    const next = n ? Math.min(Math.max(i, 0), n - 1) : 0;
    if (typing !== null && idAt(next) !== typing) closeTyping();
    const changed = next !== focus;
    focus = next;
    if (changed && tell) send({ kind: "focus", index: focus, id: idAt(focus) });
    drawFocus();
  }

  function say(text) {
    live.textContent = text;
  }

  // -- what the person does ----------------------------------------------------------------
  function pick(index, label, source = "human") {
    const card = cards()[index];
    if (!card || label === null || label === undefined) return;
    const token = ++tokens;
    pending.set(card.id, { label, source, token });
    skippedHere.delete(card.id);
    const next = nextOpen(index);
    focus = next;
    draw();
    send({ kind: source === "suggestion" ? "accept" : "pick", id: card.id, label, token, focus: next });
  }

  function accept(index) {
    const card = cards()[index];
    if (!card) return;
    if (model.get("mode") === "validation" || !card.suggestion) {
      send({ kind: "accept", id: card.id, label: null, token: ++tokens, focus: index });
      return;
    }
    pick(index, card.suggestion.label, "suggestion");
  }

  function confirm(index) { // Check my labels: the label shown is right
    const card = cards()[index];
    if (!card || !checking() || card.label === null) {
      if (card) send({ kind: "confirm", id: card.id, token: ++tokens, focus: index });
      return;
    }
    const token = ++tokens;
    pending.set(card.id, { label: card.label, source: "review", token });
    const next = nextOpen(index);
    focus = next;
    draw();
    send({ kind: "confirm", id: card.id, token, focus: next });
  }

  function skip(index) {
    const card = cards()[index];
    if (!card) return;
    if (labelOf(card) === null) skippedHere.add(card.id);
    const next = nextOpen(index);
    focus = next;
    draw();
    send({ kind: "skip", id: card.id, focus: next });
  }

  function pickText(index, text) {
    const card = cards()[index];
    if (!card) return;
    const wanted = text.trim().toLowerCase();
    const exact = (model.get("classes") || []).find((c) => c.toLowerCase() === wanted);
    const token = ++tokens;
    let next = index;
    if (exact !== undefined) {
      pending.set(card.id, { label: exact, source: "human", token });
      next = nextOpen(index);
      focus = next;
    }
    closeTyping();
    draw();
    send({ kind: "pick_text", id: card.id, text, token, focus: next });
  }

  function toggleHelp(open) {
    const want = open === undefined ? !model.get("help_open") : open;
    model.set("help_open", want);
    model.save_changes();
    drawHelp();
  }

  function openTyping(index) {
    const card = cards()[index];
    if (!card) return;
    typing = card.id;
    draw();
    const parts = nodes.get(card.id);
    if (parts) parts.input.focus({ preventScroll: true });
  }

  function closeTyping() {
    if (typing === null) return;
    const parts = nodes.get(typing);
    typing = null;
    if (parts) parts.input.value = "";
  }

  grid.addEventListener("mousedown", (ev) => {
    const target = ev.target;
    if (target.tagName === "INPUT" || target.tagName === "SELECT") return;
    ev.preventDefault(); // keep the keyboard focus on the grid, not on the button pressed
    grid.focus({ preventScroll: true });
    const cardNode = target.closest(".alw-card");
    if (cardNode) {
      const i = cards().findIndex((c) => c.id === cardNode.dataset.id);
      if (i >= 0) setFocus(i);
    }
  });

  grid.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const key = ev.key;
    if (ev.target.tagName === "INPUT") { // a type-ahead field: it takes the text
      ev.stopPropagation();
      if (key === "Escape") {
        ev.preventDefault();
        closeTyping();
        draw();
        grid.focus({ preventScroll: true });
      } else if (key === "Enter") {
        ev.preventDefault();
        const i = cards().findIndex((c) => c.id === ev.target.dataset.id);
        if (i >= 0 && ev.target.value.trim()) {
          pickText(i, ev.target.value);
          grid.focus({ preventScroll: true });
        }
      }
      return;
    }
    const n = cards().length;
    const columns = Math.max(1, model.get("columns") || 1);
    const digits = model.get("key_map") || {};
    let handled = true;
    if (key in MOVES) setFocus(n ? (focus + MOVES[key] + n) % n : 0);
    else if (key === "Tab") setFocus(n ? (focus + (ev.shiftKey ? -1 : 1) + n) % n : 0);
    else if (key in ROW_MOVES) setFocus(focus + ROW_MOVES[key] * columns);
    else if (key in digits) pick(focus, digits[key]);
    else if (key === "/") openTyping(focus);
    else if (key === "a") accept(focus);
    else if (key === "s") skip(focus);
    else if (key === "c") confirm(focus);
    else if (key === "?") toggleHelp();
    else if (key === "Escape") {
      if (model.get("help_open")) toggleHelp(false);
      grid.blur();
    } else if (FORWARDED.has(key)) send({ kind: "key", type: "keydown", key, shiftKey: ev.shiftKey, index: focus, id: idAt(focus) });
    else handled = false;
    if (handled) {
      ev.preventDefault();
      ev.stopPropagation();
    }
  });
  grid.addEventListener("focus", () => drawKeyHint());
  grid.addEventListener("blur", () => drawKeyHint());
  grid.addEventListener("focusin", () => drawKeyHint());
  grid.addEventListener("focusout", () => queueMicrotask(drawKeyHint));

  model.on("msg:custom", (msg) => {
    if (!msg || msg.kind !== "ack") return;
    if (fields.has(msg.token)) { // a field the person changed: show the value Python kept (its own if refused)
      const redraw = { ...top.redraw, ...bottom.redraw }[fields.get(msg.token)];
      fields.delete(msg.token);
      if (redraw) redraw();
    }
    for (const [id, p] of pending) {
      if (p.token !== msg.token) continue;
      pending.delete(id);
      if (!msg.ok) {
        skippedHere.delete(id);
        const parts = nodes.get(id);
        if (parts) parts.error.textContent = msg.message || "not saved";
        say(msg.message || "label not saved");
      }
    }
    if (!msg.ok) {
      if (msg.message) say(msg.message);
      drawRecent(); // a change refused in the recent list: show the label kept
    }
    schedule();
  });

  // -- drawing ----------------------------------------------------------------------------
  function imageUrl(id) {
    const view = (model.get("images") || {})[id];
    if (!view) return null;
    const known = urls.get(id);
    if (known && known.view === view) return known.url;
    if (known) URL.revokeObjectURL(known.url);
    const bytes = view instanceof DataView ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : view;
    const url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
    urls.set(id, { view, url });
    return url;
  }

  function makeCard(card) {
    const classes = model.get("classes") || [];
    const digits = model.get("key_map") || {};
    const keyOf = {};
    for (const [k, name] of Object.entries(digits)) keyOf[name] = k;
    const size = model.get("thumb_size") || 112;
    let picture;
    if (card.unreadable) {
      picture = el("div", { className: "alw-unreadable", text: "unreadable", style: `width:${size}px;height:${size}px;line-height:${size}px` });
    } else {
      picture = el("img", {
        className: `alw-image${card.pixelated ? " alw-pixelated" : ""}`, alt: card.id,
        width: card.width, height: card.height, draggable: "false",
      });
    }
    const idText = el("code", { className: "alw-id", title: card.id, text: card.id });
    const meta = el("div", { className: "alw-meta" }, idText);
    const info = el("div", { className: "alw-meta alw-info" });
    const error = el("div", { className: "alw-card-error", role: "alert" });
    const input = el("input", {
      className: "alw-type", type: "text", list: datalist.id, placeholder: "type a class…", autocomplete: "off",
      "aria-label": `class of ${card.id}`, "data-id": card.id, spellcheck: "false",
    });
    input.addEventListener("change", () => { // a choice from the list
      const i = cards().findIndex((c) => c.id === card.id);
      if (i >= 0 && classes.includes(input.value)) pickText(i, input.value);
    });
    const buttons = new Map();
    const chooser = el("div", { className: "alw-chooser" });
    if (classes.length <= (model.get("max_buttons") || 10)) {
      for (const name of classes) {
        const key = keyOf[name];
        const text = key === undefined || key === name ? name : `${key}·${name}`;
        const tip = `label ${card.id} as ${name}${key !== undefined ? ` (key ${key})` : ""}`;
        const button = el("button", {
          type: "button", className: "alw-class", tabindex: "-1", title: tip, "aria-label": tip, text,
          "data-class": name,
          onclick: () => {
            const i = cards().findIndex((c) => c.id === card.id);
            if (i >= 0) pick(i, name);
          },
        });
        buttons.set(name, button);
        chooser.append(button);
      }
    }
    chooser.append(input);
    const node = el("div", { className: "alw-card", "data-id": card.id, role: "group", "aria-label": card.id },
      picture, meta, info, error, chooser);
    return { node, picture, info, error, input, buttons, state: null };
  }

  function infoParts(card, parts) {
    const out = [];
    const p = pending.get(card.id);
    const label = labelOf(card);
    if (label !== null) {
      const source = p ? p.source : card.source;
      const line = el("div", {}, el("b", { text: `✔ ${label}` }));
      if (source && source !== "human") line.append(" ", el("i", { text: `(${source})` }));
      out.push(line);
    } else if (card.skipped || skippedHere.has(card.id)) {
      out.push(el("div", {}, el("i", { text: "skipped" })));
    }
    const s = card.suggestion;
    if (card.show_suggestion) {
      if (s) {
        out.push(el("div", {}, "model: ", el("b", { text: s.label }), ` ${percent(s.confidence)} `,
          el("span", {
            className: "alw-badge", style: `background:${BAND_COLOURS[s.band] || "#616161"}`,
            title: `uncertainty ${Number(s.uncertainty).toFixed(2)}`, text: s.band,
          })));
      } else {
        out.push(el("div", { className: "alw-muted", text: "no model yet" }));
      }
    }
    const c = card.check;
    if (c) {
      const source = p ? p.source : card.source;
      const verdict = source === "review" ? "checked ✓" : (c.flagged ? "likely wrong" : "unsure");
      const line = el("div", { className: "alw-check", title: `suspicion ${Number(c.score).toFixed(2)}` },
        "unseen model: ", el("b", { text: c.suggestion }), ` ${percent(c.suggestion_probability)} · `,
        el("span", { className: `alw-verdict${c.flagged && source !== "review" ? " alw-flagged" : ""}`, text: verdict }));
      if (c.split === "validation") line.append(" · ", el("i", { text: "validation" }));
      out.push(line);
    }
    if (card.typeahead) {
      const line = el("div", {}, "type: ", el("code", { text: card.typeahead }));
      line.append(card.typeahead_match ? el("span", {}, " → ", el("b", { text: card.typeahead_match })) : el("i", { text: " (no match)" }));
      out.push(line);
    }
    parts.info.replaceChildren(...out);
  }

  function drawCard(card, parts) {
    const label = labelOf(card);
    const p = pending.get(card.id);
    const key = JSON.stringify([card, p ? [p.label, p.source] : null, skippedHere.has(card.id), typing === card.id]);
    if (parts.state !== key) {
      parts.state = key;
      infoParts(card, parts);
      if (p) parts.error.textContent = "";
      parts.node.classList.toggle("alw-labeled", label !== null);
      parts.node.classList.toggle("alw-pending", !!p);
      parts.node.classList.toggle("alw-skipped", label === null && (card.skipped || skippedHere.has(card.id)));
      for (const [name, button] of parts.buttons) {
        const on = name === label;
        button.classList.toggle("alw-chosen", on);
        button.setAttribute("aria-pressed", on ? "true" : "false");
      }
      const many = parts.buttons.size === 0;
      parts.input.hidden = !(many || typing === card.id);
    }
    if (parts.picture.tagName === "IMG") {
      const url = imageUrl(card.id);
      if (url && parts.picture.getAttribute("src") !== url) parts.picture.setAttribute("src", url);
    }
  }

  function drawFocus() {
    const list = cards();
    list.forEach((card, i) => {
      const parts = nodes.get(card.id);
      if (parts) {
        parts.node.classList.toggle("alw-focus", i === focus);
        if (i === focus) parts.node.setAttribute("aria-current", "true");
        else parts.node.removeAttribute("aria-current");
      }
    });
    const mode = model.get("mode");
    barButtons.accept.disabled = mode === "validation";
    barButtons.accept_all.disabled = mode === "validation" || mode === "check";
    barButtons.confirm.hidden = mode !== "check";
  }

  function drawKeyHint() {
    // the element with the keyboard focus, also inside a shadow root (marimo renders there)
    const active = grid.contains(grid.getRootNode().activeElement || document.activeElement);
    root.classList.toggle("alw-keys-active", active);
    keyHint.textContent = active
      ? "⌨ keys go to the grid (Esc to leave)"
      : "⌨ click a card or Tab here to label with keys";
  }

  function drawHelp() {
    const open = !!model.get("help_open");
    help.hidden = !open;
    barButtons.help.setAttribute("aria-pressed", open ? "true" : "false");
    const rows = (model.get("help") || []).map(([keys, what]) => el("tr", {}, el("td", {}, el("kbd", { text: keys })), el("td", { text: what })));
    help.replaceChildren(el("div", { className: "alw-muted", text: "Keys act while the grid has the keyboard focus (click a card, or Tab to it; Escape leaves)." }), el("table", {}, ...rows));
  }

  function drawRecent() {
    const classes = model.get("classes") || [];
    const rows = (model.get("recent") || []).map((event) => {
      const select = el("select", { className: "alw-relabel", title: "change this label", "aria-label": `change the label of ${event.id}` });
      for (const name of classes) {
        const option = el("option", { value: name, text: name });
        if (name === event.label) option.selected = true;
        select.append(option);
      }
      select.addEventListener("change", () => send({ kind: "relabel", seq: event.seq, id: event.id, label: select.value }));
      const undo = el("button", {
        type: "button", className: "alw-button alw-undo", text: "undo", title: `undo this label (${event.label})`,
        "aria-label": `undo the label ${event.label} of ${event.id}`,
        onclick: () => send({ kind: "undo", seq: event.seq, id: event.id }),
      });
      const where = `${event.source}${event.split === "validation" ? " · validation" : ""}`;
      return el("div", { className: "alw-recent-row", "data-seq": event.seq },
        el("span", { className: "alw-recent-text" }, el("code", { title: event.id, text: event.id }), " ",
          el("span", { className: "alw-muted", text: where })),
        select, undo);
    });
    recentList.replaceChildren(...rows);
  }

  function draw() {
    const list = cards();
    const classes = model.get("classes") || [];
    if (datalist.childElementCount !== classes.length) {
      datalist.replaceChildren(...classes.map((c) => el("option", { value: c })));
    }
    const serial = (model.get("focus") || [0, 0])[1];
    if (serial !== focusSerial) { // Python moved the focus (a new batch, a key from code)
      focusSerial = serial;
      focus = (model.get("focus") || [0, 0])[0];
    }
    const seen = new Set();
    const order = [];
    for (const card of list) {
      seen.add(card.id);
      let parts = nodes.get(card.id);
      if (!parts) {
        parts = makeCard(card);
        nodes.set(card.id, parts);
      }
      drawCard(card, parts);
      order.push(parts.node);
    }
    for (const [id, parts] of nodes) {
      if (!seen.has(id)) {
        nodes.delete(id);
        parts.node.remove();
        if (typing === id) typing = null;
      }
    }
    for (const [id, known] of urls) {
      if (!seen.has(id)) {
        URL.revokeObjectURL(known.url);
        urls.delete(id);
      }
    }
    for (const id of pending.keys()) if (!seen.has(id)) pending.delete(id);
    for (const id of skippedHere) if (!seen.has(id) || list.find((c) => c.id === id).skipped) skippedHere.delete(id);
    const same = grid.childElementCount === order.length && order.every((node, i) => grid.children[i] === node);
    if (!same) grid.replaceChildren(...order);
    grid.style.gridTemplateColumns = `repeat(${Math.max(1, model.get("columns") || 1)}, minmax(0, 1fr))`;
    if (focus >= list.length) focus = Math.max(0, list.length - 1);
    drawFocus();
    if (instructions.dataset.html !== model.get("instructions")) {
      instructions.dataset.html = model.get("instructions");
      instructions.innerHTML = model.get("instructions"); // written by Python, every dynamic part escaped
    }
    if (notes.dataset.html !== model.get("notes")) {
      notes.dataset.html = model.get("notes");
      notes.innerHTML = model.get("notes");
    }
    barButtons.oracle.hidden = !model.get("simulate");
    const onMap = model.get("mode") === "map"; // the map takes the grid's place
    grid.hidden = onMap;
    keyHint.hidden = onMap;
    pool.show(onMap);
    performance.mark("alw:drawn");
  }

  for (const name of ["cards", "images", "focus", "columns", "mode", "instructions", "notes", "simulate", "classes", "key_map"]) {
    model.on(`change:${name}`, schedule);
  }
  model.on("change:recent", drawRecent);
  for (const [name, redraw] of Object.entries({ ...top.redraw, ...bottom.redraw, ...pool.redraw })) model.on(`change:${name}`, redraw);
  model.on("change:help", drawHelp);
  model.on("change:help_open", drawHelp);
  draw();
  drawRecent();
  drawHelp();
  drawKeyHint();
  for (const redraw of new Set([...Object.values(top.redraw), ...Object.values(bottom.redraw)])) redraw();
  return () => {
    pool.dispose();
    for (const known of urls.values()) URL.revokeObjectURL(known.url);
    urls.clear();
  };
}

export default { render };
