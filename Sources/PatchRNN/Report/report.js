// report.html's script: reads what patchrnn embedded in the page (the JSON block
// #report-data), draws the results, and runs the model itself for the live panel. Nothing is
// fetched from anywhere.
//
// PatchRNNModel below is a second implementation of PatchRNN's generation
// (Sources/PatchRNN/Generation/GenerationWorkspace.swift and the LSTM / GRU kernels): the
// checkpoint's weights in PyTorch's names and layouts, computed in float64.
// Tests/PatchRNNTests/ReportBrowserTests.swift opens the page in headless chromium with
// #selftest, which runs selfTest() at the end of this file, and compares what it writes
// with the Swift generation.
'use strict';

(function () {
  const data = JSON.parse(document.getElementById('report-data').textContent);

  // ---------------------------------------------------------------------------------------
  // Geometry (Sources/PatchRNN/Data/Patches.swift): a 28x28 image is 16 patches of 7x7,
  // row-major over the 4x4 patch grid, each patch row-major. Patches 0-7 (image rows 0-13)
  // are the top half, patches 8-15 (rows 14-27) the bottom half.
  const SIDE = 28, PATCH_SIDE = 7, GRID = 4, PATCH_SIZE = 49, PATCHES = 16, HALF_PATCHES = 8;
  const HALF = SIDE * SIDE / 2;   // pixels in a half image, floats in half a sequence: 392

  /** A half image (14 rows x 28, row-major) as its 8 patches in sequence order. */
  function halfToPatches(half) {
    const seq = new Float64Array(HALF);
    for (let k = 0; k < HALF_PATCHES; k++) {
      const r0 = PATCH_SIDE * Math.floor(k / GRID), c0 = PATCH_SIDE * (k % GRID);
      for (let r = 0; r < PATCH_SIDE; r++) {
        for (let c = 0; c < PATCH_SIDE; c++) seq[k * PATCH_SIZE + r * PATCH_SIDE + c] = half[(r0 + r) * SIDE + c0 + c];
      }
    }
    return seq;
  }

  /** 8 patches in sequence order as a half image (14 rows x 28). */
  function patchesToHalf(seq) {
    const half = new Float64Array(HALF);
    for (let k = 0; k < HALF_PATCHES; k++) {
      const r0 = PATCH_SIDE * Math.floor(k / GRID), c0 = PATCH_SIDE * (k % GRID);
      for (let r = 0; r < PATCH_SIDE; r++) {
        for (let c = 0; c < PATCH_SIDE; c++) half[(r0 + r) * SIDE + c0 + c] = seq[k * PATCH_SIZE + r * PATCH_SIDE + c];
      }
    }
    return half;
  }

  /** Base64 to bytes: natively where the browser can (Uint8Array.fromBase64, 2025), else
   *  through atob. */
  function base64Bytes(text) {
    if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(text);
    const binary = atob(text), bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // ---------------------------------------------------------------------------------------
  // The model: stacked LSTM or GRU layers as PyTorch's nn.LSTM / nn.GRU compute them, then
  // nn.Linear on the last layer's h_t. Generation feeds the 8 true top-half patches, then each
  // prediction, clipped to [0, 1], back in; the output after patch t is patch t+1.

  const sigmoid = (x) => 1 / (1 + Math.exp(-x));

  /** out[r] = bias[r] + sum over c of weight[r][c] x[c]; weight [rows x cols] row-major, as PyTorch stores it. */
  function affine(out, weight, bias, x, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += weight[base + c] * x[c];
      out[r] = s + bias[r];
    }
  }

  class PatchRNNModel {
    /** spec: data.model (cell, hidden, layers, inputSize, outputSize, tensors [{name, shape}],
     *  weights: every tensor in that order, little-endian float32, base64). */
    constructor(spec) {
      if (spec.cell !== 'lstm' && spec.cell !== 'gru') throw new Error(`this page cannot run a ${spec.cell} cell`);
      const bytes = base64Bytes(spec.weights);
      // Little-endian float32, as the file holds them; read directly where the machine is
      // little-endian too (every browser's), else one by one.
      const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
      const view = new DataView(bytes.buffer), floats = littleEndian ? new Float32Array(bytes.buffer) : null;
      const tensors = {};
      let offset = 0;
      for (const t of spec.tensors) {
        const count = t.shape.reduce((a, b) => a * b, 1);
        tensors[t.name] = floats ? Float64Array.from(floats.subarray(offset, offset + count))
          : Float64Array.from({ length: count }, (_, i) => view.getFloat32(4 * (offset + i), true));
        offset += count;
      }
      if (4 * offset !== bytes.length) throw new Error('the embedded weights do not match their tensor list');
      const need = (name) => {
        if (!tensors[name]) throw new Error(`the embedded weights lack ${name}`);
        return tensors[name];
      };
      this.cell = spec.cell;
      this.hidden = spec.hidden;
      this.gates = spec.cell === 'lstm' ? 4 : 3;   // i, f, g, o  or  r, z, n
      this.outputSize = spec.outputSize;
      this.layers = [];
      for (let l = 0; l < spec.layers; l++) {
        this.layers.push({
          inputSize: l === 0 ? spec.inputSize : spec.hidden,
          weightIH: need(`${spec.cell}.weight_ih_l${l}`), weightHH: need(`${spec.cell}.weight_hh_l${l}`),
          biasIH: need(`${spec.cell}.bias_ih_l${l}`), biasHH: need(`${spec.cell}.bias_hh_l${l}`),
        });
      }
      this.denseWeight = need('linear.weight');
      this.denseBias = need('linear.bias');
    }

    /** A layer's state at the start of a sequence: zeros, and scratch for the projections. */
    freshState() {
      const H = this.hidden, G = this.gates * H;
      return { h: new Float64Array(H), c: new Float64Array(H), input: new Float64Array(G), recurrent: new Float64Array(G) };
    }

    /** One step of an nn.LSTM layer: gates i, f, g, o;  c = f c + i g;  h = o tanh(c). */
    lstmStep(layer, s, x) {
      const H = this.hidden, a = s.input, b = s.recurrent;
      affine(a, layer.weightIH, layer.biasIH, x, 4 * H, layer.inputSize);
      affine(b, layer.weightHH, layer.biasHH, s.h, 4 * H, H);
      // Both projections are done: c and h can be overwritten in place.
      for (let j = 0; j < H; j++) {
        const i = sigmoid(a[j] + b[j]);
        const f = sigmoid(a[H + j] + b[H + j]);
        const g = Math.tanh(a[2 * H + j] + b[2 * H + j]);
        const o = sigmoid(a[3 * H + j] + b[3 * H + j]);
        s.c[j] = f * s.c[j] + i * g;
        s.h[j] = o * Math.tanh(s.c[j]);
      }
    }

    /** One step of an nn.GRU layer: gates r, z, n;  n = tanh(W_in x + b_in + r (W_hn h + b_hn));
     *  h = (1 - z) n + z h. */
    gruStep(layer, s, x) {
      const H = this.hidden, a = s.input, b = s.recurrent;
      affine(a, layer.weightIH, layer.biasIH, x, 3 * H, layer.inputSize);
      affine(b, layer.weightHH, layer.biasHH, s.h, 3 * H, H);
      // Both projections are done: h can be overwritten in place.
      for (let j = 0; j < H; j++) {
        const r = sigmoid(a[j] + b[j]);
        const z = sigmoid(a[H + j] + b[H + j]);
        const n = Math.tanh(a[2 * H + j] + r * b[2 * H + j]);
        s.h[j] = n + z * (s.h[j] - n);
      }
    }

    /** The 8 bottom-half patches (392 floats, sequence order) completing `top`, the 8 top-half
     *  patches (392 floats in [0, 1], sequence order). */
    completeBottom(top) {
      const states = this.layers.map(() => this.freshState());
      const bottom = new Float64Array(HALF), y = new Float64Array(this.outputSize);
      const step = this.cell === 'lstm' ? this.lstmStep : this.gruStep;
      for (let t = 0; t < PATCHES - 1; t++) {
        // The input: the true patch t, or the previous (clipped) prediction.
        let x = t < HALF_PATCHES ? top.subarray(t * PATCH_SIZE, (t + 1) * PATCH_SIZE) : y;
        for (let l = 0; l < this.layers.length; l++) {
          step.call(this, this.layers[l], states[l], x);
          x = states[l].h;
        }
        // The outputs before the last true patch are not used.
        if (t >= HALF_PATCHES - 1) {
          affine(y, this.denseWeight, this.denseBias, x, this.outputSize, this.hidden);
          // A pixel outside [0, 1] cannot be right: clipped in the output and in what is fed back.
          for (let j = 0; j < y.length; j++) y[j] = Math.min(1, Math.max(0, y[j]));
          bottom.set(y, (t - (HALF_PATCHES - 1)) * PATCH_SIZE);
        }
      }
      return bottom;
    }
  }

  // ---------------------------------------------------------------------------------------
  // The embedded test images.
  const images = {
    pixels: base64Bytes(data.images.pixels),             // 784 bytes per image
    generated: base64Bytes(data.images.generatedBottom), // 392 bytes per image
    realTop: (i) => images.pixels.subarray(i * 784, i * 784 + HALF),
    realBottom: (i) => images.pixels.subarray(i * 784 + HALF, (i + 1) * 784),
    generatedBottom: (i) => images.generated.subarray(i * HALF, (i + 1) * HALF),
    /** The top half as the model reads it: byte / 255 (what PatchRNN's data loader does). */
    topPatches: (i) => halfToPatches(Array.from(images.realTop(i), (b) => b / 255)),
  };
  const className = (c) => data.classes[c].name;
  const describe = (i) => `class ${className(data.images.label[i])} \u00b7 test image #${data.images.testIndex[i]}`;
  /** A number with `digits` decimals; '–' for what JSON could not hold as a number ("nan"). */
  const decimals = (v, digits) => (typeof v === 'number' ? v.toFixed(digits) : '\u2013');
  const mse = (v) => decimals(v, 5);
  /** 65905 as "65,905" (without Intl, whose first use costs tens of milliseconds). */
  const thousands = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

  // ---------------------------------------------------------------------------------------
  // Drawing digits: every image pixel becomes a square of `scale` device pixels, so that the
  // digits stay crisp at any size. Real pixels are white, generated ones amber.
  const WHITE = [255, 255, 255], AMBER = [255, 183, 77], GAP_COLOR = [52, 58, 66];
  const dpr = () => window.devicePixelRatio || 1;

  /** Every embedded image drawn once, one device pixel per image pixel, for the tiles to be
   *  copied from: row 0 as it is, row 1 with the generated bottom half (in amber). */
  const sprite = (() => {
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, data.images.count * SIDE);
    canvas.height = 2 * SIDE;
    const ctx = canvas.getContext('2d'), picture = ctx.createImageData(canvas.width, canvas.height), px = picture.data;
    for (let i = 0; i < data.images.count; i++) {
      for (const generated of [false, true]) {
        for (let y = 0; y < SIDE; y++) {
          const bottom = y >= SIDE / 2, row = (y % (SIDE / 2)) * SIDE;
          const source = !bottom ? images.realTop(i) : generated ? images.generatedBottom(i) : images.realBottom(i);
          const color = bottom && generated ? AMBER : WHITE;
          let o = 4 * (((generated ? SIDE : 0) + y) * canvas.width + i * SIDE);
          for (let x = 0; x < SIDE; x++, o += 4) {
            const v = source[row + x] / 255;
            px[o] = color[0] * v; px[o + 1] = color[1] * v; px[o + 2] = color[2] * v; px[o + 3] = 255;
          }
        }
      }
    }
    ctx.putImageData(picture, 0, 0);
    return canvas;
  })();

  /** A tile: an embedded image, as it is or with its generated bottom half. */
  const realTile = (i) => ({ image: i, generated: false });
  const generatedTile = (i) => ({ image: i, generated: true });

  /** Draws `tiles` (null: an empty place) in rows of `columns`, `gap` image pixels apart, each
   *  image pixel a square of `scale` device pixels; returns where they are, in device pixels.
   *  The canvas is shown at its natural size, or narrower where its box is. */
  function drawTiles(canvas, tiles, columns, scale, gap = 1) {
    const rows = Math.ceil(tiles.length / columns), cell = (SIDE + gap) * scale;
    canvas.width = columns * cell + gap * scale;
    canvas.height = rows * cell + gap * scale;
    canvas.style.width = `${canvas.width / dpr()}px`;
    canvas.style.maxWidth = '100%';
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = `rgb(${GAP_COLOR.join(',')})`;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = false;   // every image pixel a sharp square
    tiles.forEach((tile, n) => {
      if (!tile) return;
      ctx.drawImage(sprite, tile.image * SIDE, tile.generated ? SIDE : 0, SIDE, SIDE,
        gap * scale + (n % columns) * cell, gap * scale + Math.floor(n / columns) * cell, SIDE * scale, SIDE * scale);
    });
    return { columns, count: tiles.length, width: canvas.width, cell, gap: gap * scale, side: SIDE * scale };
  }

  /** Device pixels per CSS pixel of a canvas as it is shown. */
  const shownScale = (canvas, layout) => layout.width / (canvas.clientWidth || layout.width);

  /** The tile under an event's position, or -1. */
  function tileAt(canvas, layout, event) {
    const f = shownScale(canvas, layout);
    const col = Math.floor((event.offsetX * f - layout.gap / 2) / layout.cell);
    const row = Math.floor((event.offsetY * f - layout.gap / 2) / layout.cell);
    if (col < 0 || col >= layout.columns || row < 0) return -1;
    const n = row * layout.columns + col;
    return n < layout.count ? n : -1;
  }

  /** The whole scale at which `columns` tiles (1 image pixel apart) fill `cssWidth`, rounded up:
   *  the browser shrinks the canvas to its box smoothly, which looks better than enlarging it. */
  function scaleToFill(cssWidth, columns) {
    return Math.max(1, Math.ceil((cssWidth * dpr()) / (columns * (SIDE + 1) + 1)));
  }

  /** The scale at which a tile is about `cssSize` CSS pixels wide. */
  const scaleForSize = (cssSize) => Math.max(1, Math.round((cssSize * dpr()) / SIDE));

  // ---------------------------------------------------------------------------------------
  // The tooltip and the hover highlight.
  const tooltip = document.getElementById('tooltip');
  function showTooltip(event, text) {
    tooltip.textContent = text;
    tooltip.hidden = false;
    const x = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
    const y = event.clientY + 18 + tooltip.offsetHeight > window.innerHeight ? event.clientY - tooltip.offsetHeight - 10 : event.clientY + 18;
    tooltip.style.left = `${Math.max(8, x)}px`;
    tooltip.style.top = `${y}px`;
  }
  const hideTooltip = () => { tooltip.hidden = true; };

  /** Makes a canvas of tiles answer the mouse: tooltip, optional highlight, click to draw on it. */
  function makeInteractive(canvas, getLayout, imageOf, onHover) {
    canvas.addEventListener('mousemove', (e) => {
      const n = tileAt(canvas, getLayout(), e), i = n < 0 ? null : imageOf(n);
      if (i === null || i === undefined) { hideTooltip(); onHover && onHover(-1); return; }
      showTooltip(e, `${describe(i)}\nbottom-half MSE ${mse(data.images.bottomMSE[i])}\nclick to draw on it`);
      onHover && onHover(n);
    });
    canvas.addEventListener('mouseleave', () => { hideTooltip(); onHover && onHover(-1); });
    canvas.addEventListener('click', (e) => {
      const n = tileAt(canvas, getLayout(), e), i = n < 0 ? null : imageOf(n);
      if (i === null || i === undefined) return;
      hideTooltip();
      live.load(i);
      document.getElementById('live').scrollIntoView({ behavior: 'smooth', block: 'start' });
    });
  }

  // ---------------------------------------------------------------------------------------
  // Headline, settings, the table of epochs.
  function element(tag, attributes = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attributes)) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  function renderHeadline() {
    const h = data.headline, cards = document.getElementById('headline');
    const card = (label, value, note, extra = '') =>
      cards.append(element('div', { class: `card ${extra}` }, element('div', { class: 'label' }, label),
        element('div', { class: 'value' }, value), element('div', { class: 'note' }, note)));
    card('Bottom-half MSE, free-running', mse(h.freeRunningMSE),
      `bottom halves drawn from the top halves of ${thousands(h.testImages)} test images`, 'main');
    card('Teacher-forced MSE', mse(h.teacherForcedMSE), 'each patch from the true patches before it (all 15 steps)');
    const ratio = (b) => (typeof b === 'number' && b > 0 ? `the model's error is ${Math.round((100 * h.freeRunningMSE) / b)}% of this` : '');
    if (typeof h.baselineMeanMSE === 'number') {
      card('Baseline: the mean bottom half', mse(h.baselineMeanMSE), `of ${thousands(h.baselineTrainingImages)} training images; ${ratio(h.baselineMeanMSE)}`);
      card('Baseline: nearest top half', mse(h.baselineNearestMSE), `the bottom of the training image whose top is nearest; ${ratio(h.baselineNearestMSE)}`);
    } else {
      card('Baselines', 'not measured', 'patchrnn report --checkpoint FILE --baselines adds the two of evaluate --baselines', 'absent');
    }
  }

  function renderSettings() {
    const table = document.getElementById('settings-table');
    for (const [label, value] of data.settings) table.append(element('tr', {}, element('th', {}, label), element('td', {}, value)));
  }

  function renderEpochs() {
    const details = document.getElementById('epochs-details');
    if (!data.epochs.length) {
      details.remove();
      document.getElementById('curves').append(element('p', { class: 'none' },
        'No training log (train-log.jsonl) was found beside the checkpoint, so there are no curves.'));
      return;
    }
    const table = document.getElementById('epochs');
    const columns = [['epoch', (r) => r.epoch], ['train loss', (r) => mse(r.train_loss)], ['val loss', (r) => mse(r.val_loss)],
      ['val bottom MSE', (r) => mse(r.val_bottom_mse)], ['learning rate', (r) => String(r.learning_rate)],
      ['sampling p', (r) => decimals(r.sampling_probability, 3)],
      ['seconds', (r) => decimals(r.seconds, 1)], ['samples/s', (r) => decimals(r.samples_per_s, 0)]];
    table.append(element('tr', {}, ...columns.map(([name]) => element('th', {}, name))));
    for (const r of data.epochs) {
      table.append(element('tr', r.epoch === data.keptEpoch ? { class: 'kept', title: 'the kept epoch' } : {},
        ...columns.map(([, value]) => element('td', {}, String(value(r))))));
    }
  }

  // ---------------------------------------------------------------------------------------
  // The 10x10 grids, generated beside true: the same places in both, hovered together.
  const grids = { layout: null, tiles: [], imageAt: [] };

  function renderGrids() {
    const generated = document.getElementById('grid-generated'), truth = document.getElementById('grid-true');
    const columns = Math.max(1, ...data.grid.map((row) => row.length));
    grids.imageAt = [];
    data.grid.forEach((row) => { for (let j = 0; j < columns; j++) grids.imageAt.push(j < row.length ? row[j] : null); });
    const scale = scaleToFill(generated.closest('figure').clientWidth, columns);
    const boxes = [generated, truth].map((canvas) => {
      let box = canvas.parentElement;
      if (!box.classList.contains('canvas-box')) {
        box = element('div', { class: 'canvas-box' });
        canvas.replaceWith(box);
        box.append(canvas, element('div', { class: 'highlight', hidden: '' }));
      }
      return box;
    });
    grids.layout = drawTiles(generated, grids.imageAt.map((i) => (i === null ? null : generatedTile(i))), columns, scale);
    drawTiles(truth, grids.imageAt.map((i) => (i === null ? null : realTile(i))), columns, scale);
    grids.highlight = (n) => boxes.forEach((box) => {
      const mark = box.querySelector('.highlight'), l = grids.layout, f = shownScale(generated, l);
      if (n < 0) { mark.hidden = true; return; }
      mark.hidden = false;
      mark.style.left = `${(l.gap + (n % l.columns) * l.cell) / f - 2}px`;
      mark.style.top = `${(l.gap + Math.floor(n / l.columns) * l.cell) / f - 2}px`;
      mark.style.width = mark.style.height = `${l.side / f + 4}px`;
    });
  }

  function wireGrids() {
    for (const canvas of [document.getElementById('grid-generated'), document.getElementById('grid-true')]) {
      makeInteractive(canvas, () => grids.layout, (n) => grids.imageAt[n], (n) => grids.highlight(n));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Per class, one row each: the class's bottom-half MSE (with a bar, the mark at all classes'),
  // then its best and its worst completions, each as generated | true with its MSE.
  function renderClasses() {
    const container = document.getElementById('class-rows');
    container.textContent = '';
    const overall = data.headline.freeRunningMSE;
    const values = data.classes.map((c) => c.bottomMSE).filter((v) => typeof v === 'number');
    const largest = Math.max(overall, ...values) || 1;
    const summary = (name, value, count, isAll = false) => {
      const track = element('div', { class: 'bar-track' });
      if (typeof value === 'number') track.append(element('div', { class: `bar-fill${isAll ? ' all' : ''}`, style: `width:${(100 * value) / largest}%` }));
      track.append(element('div', { class: 'bar-mark', style: `left:${(100 * overall) / largest}%`, title: `all classes: ${mse(overall)}` }));
      return element('div', { class: 'class-summary' },
        element('div', { class: 'class-name' }, name), element('div', { class: 'class-mse' }, mse(value)),
        track, element('div', { class: 'class-count' }, `${thousands(count)} images`));
    };
    const scale = scaleForSize(56);
    const pair = (i) => {
      const canvas = element('canvas');
      const layout = drawTiles(canvas, [generatedTile(i), realTile(i)], 2, scale);
      makeInteractive(canvas, () => layout, () => i);
      return element('div', { class: 'pair' }, canvas, element('div', { class: 'mse' }, decimals(data.images.bottomMSE[i], 4)));
    };
    container.append(element('div', { class: 'class-head' }, element('div', {}, 'class: bottom-half MSE'),
      element('div', { class: 'best' }, 'best completions'), element('div', { class: 'worst' }, 'worst completions')));
    data.classes.forEach((c, k) => {
      container.append(element('div', { class: 'class-row' }, summary(c.name, c.bottomMSE, c.images),
        element('div', { class: 'pairs best' }, ...data.best[k].map(pair)),
        element('div', { class: 'pairs worst' }, ...data.worst[k].map(pair))));
    });
    container.append(element('div', { class: 'class-row all' }, summary('all', overall, data.headline.testImages, true)));
  }

  // ---------------------------------------------------------------------------------------
  // The live panel: a 28x28 board whose top half is drawn by hand (or copied from a test
  // image) and whose bottom half the model completes, once per frame while drawing.
  const board = document.getElementById('live-canvas');
  let model = null;

  const live = {
    top: new Float64Array(HALF),       // rows 0-13, what the model reads
    bottom: new Float64Array(HALF),    // rows 14-27, as the model drew them
    bottomPatches: new Float64Array(HALF),
    source: null,                      // the image the top half came from (null: drawn from nothing)
    edited: false,
    tool: 'pen',
    pending: false,
    milliseconds: 0,
    picture: null,                     // a 28x28 canvas the board is scaled up from

    load(i) {
      this.top = Float64Array.from(images.realTop(i), (b) => b / 255);
      this.source = i;
      this.edited = false;
      this.complete();
    },

    clear() {
      this.top = new Float64Array(HALF);
      this.source = null;
      this.edited = false;
      this.complete();
    },

    /** Runs the model on the top half now and redraws. */
    complete() {
      this.pending = false;
      if (model) {
        const start = performance.now();
        this.bottomPatches = model.completeBottom(halfToPatches(this.top));
        this.milliseconds = performance.now() - start;
        this.bottom = patchesToHalf(this.bottomPatches);
      }
      this.draw();
      this.describe();
    },

    /** While drawing, the model runs at most once per frame. */
    scheduleCompletion() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => this.complete());
    },

    draw() {
      const size = Math.round(board.clientWidth * dpr()) || 336;
      if (board.width !== size) { board.width = size; board.height = size; }
      // The 28x28 picture, then scaled up without smoothing: every pixel a sharp square.
      if (!this.picture) {
        this.picture = document.createElement('canvas');
        this.picture.width = this.picture.height = SIDE;
      }
      const small = this.picture.getContext('2d'), picture = small.createImageData(SIDE, SIDE);
      for (let p = 0; p < SIDE * SIDE; p++) {
        const top = p < HALF, v = top ? this.top[p] : this.bottom[p - HALF], color = top ? WHITE : AMBER;
        picture.data.set([color[0] * v, color[1] * v, color[2] * v, 255], 4 * p);
      }
      small.putImageData(picture, 0, 0);
      const ctx = board.getContext('2d'), p = size / SIDE;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.picture, 0, 0, size, size);
      // The boundary: draw above it.
      ctx.strokeStyle = 'rgba(214, 69, 69, 0.9)';
      ctx.lineWidth = Math.max(1, Math.round(dpr()));
      ctx.setLineDash([6 * dpr(), 4 * dpr()]);
      ctx.beginPath();
      ctx.moveTo(0, Math.round((SIDE / 2) * p) + 0.5);
      ctx.lineTo(size, Math.round((SIDE / 2) * p) + 0.5);
      ctx.stroke();
      ctx.setLineDash([]);
    },

    describe() {
      const truth = document.getElementById('live-truth'), text = document.getElementById('live-source-text');
      const detail = document.getElementById('live-source-mse');
      document.querySelectorAll('#live-picks canvas').forEach((c) => c.classList.toggle('selected', Number(c.dataset.image) === this.source));
      if (this.source === null) {
        truth.classList.add('empty');
        text.textContent = this.edited ? 'Your drawing' : 'An empty top half: draw a digit\u2019s top half';
        detail.textContent = '';
      } else {
        truth.classList.remove('empty');
        drawTiles(truth, [realTile(this.source)], 1, scaleForSize(92), 0);
        text.textContent = `${describe(this.source)}${this.edited ? ', top half edited' : ''}`;
        if (this.edited) {
          detail.textContent = 'beside: the test image as it is';
        } else {
          const real = images.realBottom(this.source);
          let sum = 0;
          for (let j = 0; j < HALF; j++) sum += (this.bottom[j] - real[j] / 255) ** 2;
          detail.textContent = `bottom-half MSE ${mse(sum / HALF)} against the real image beside`;
        }
      }
      document.getElementById('live-timing').textContent = model
        ? `Completed in ${this.milliseconds.toFixed(1)} ms by the ${data.model.title} in this page (${thousands(data.model.parameters)} weights, float64 JavaScript).`
        : '';
    },

    /** Paints a stroke from a to b ({x, y} in image pixels) into the top half: full within
     *  `core` pixels of the line, fading to nothing over one more pixel. */
    stroke(a, b) {
      const eraser = this.tool === 'eraser', core = eraser ? 1.6 : 0.7, reach = core + 1;
      const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x) - reach)), x1 = Math.min(SIDE - 1, Math.ceil(Math.max(a.x, b.x) + reach));
      const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y) - reach)), y1 = Math.min(SIDE / 2 - 1, Math.ceil(Math.max(a.y, b.y) + reach));
      const dx = b.x - a.x, dy = b.y - a.y, length2 = dx * dx + dy * dy;
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const cx = x + 0.5, cy = y + 0.5;
          const t = length2 > 0 ? Math.max(0, Math.min(1, ((cx - a.x) * dx + (cy - a.y) * dy) / length2)) : 0;
          const d = Math.hypot(cx - (a.x + t * dx), cy - (a.y + t * dy));
          const ink = Math.max(0, Math.min(1, reach - d));
          if (ink <= 0) continue;
          const p = y * SIDE + x;
          this.top[p] = eraser ? Math.min(this.top[p], 1 - ink) : Math.max(this.top[p], ink);
        }
      }
      this.edited = true;
      this.draw();
      this.scheduleCompletion();
    },
  };

  function wireLivePanel() {
    let last = null;
    const position = (e) => {
      const r = board.getBoundingClientRect();
      return { x: ((e.clientX - r.left) / r.width) * SIDE, y: ((e.clientY - r.top) / r.height) * SIDE };
    };
    board.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      last = position(e);
      try { board.setPointerCapture(e.pointerId); } catch (_) { /* a synthetic pointer cannot be captured */ }
      live.stroke(last, last);
    });
    board.addEventListener('pointermove', (e) => {
      if (!last) return;
      const p = position(e);
      live.stroke(last, p);
      last = p;
    });
    const end = () => { last = null; };
    board.addEventListener('pointerup', end);
    board.addEventListener('pointercancel', end);

    const tools = { pen: document.getElementById('tool-pen'), eraser: document.getElementById('tool-eraser') };
    for (const [name, button] of Object.entries(tools)) {
      button.addEventListener('click', () => {
        live.tool = name;
        for (const [other, b] of Object.entries(tools)) {
          b.classList.toggle('active', other === name);
          b.setAttribute('aria-pressed', String(other === name));
        }
      });
    }
    document.getElementById('tool-clear').addEventListener('click', () => live.clear());

    // One test digit per class to start from (the first of each grid row).
    const picks = document.getElementById('live-picks');
    data.grid.forEach((row) => {
      if (!row.length) return;
      const canvas = element('canvas', { 'data-image': String(row[0]), title: describe(row[0]) });
      drawTiles(canvas, [realTile(row[0])], 1, scaleForSize(56), 0);
      canvas.addEventListener('click', () => live.load(row[0]));
      picks.append(canvas);
    });
  }

  // ---------------------------------------------------------------------------------------
  // #selftest: what Tests/PatchRNNTests/ReportBrowserTests.swift reads from the page (through
  // chromium --dump-dom): the model's completion of every embedded image, and a stroke drawn
  // through the same pointer events a mouse sends, with the output before and after it.
  const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

  async function selfTest() {
    const result = { images: data.images.count, generated: [], stroke: null, error: null };
    try {
      for (let i = 0; i < data.images.count; i++) result.generated.push(Array.from(model.completeBottom(images.topPatches(i))));
      live.load(data.grid.find((row) => row.length)[0]);
      const before = Array.from(live.bottomPatches);
      const r = board.getBoundingClientRect();
      const at = (x, y) => ({ clientX: r.left + (x / SIDE) * r.width, clientY: r.top + (y / SIDE) * r.height });
      const send = (type, p) => board.dispatchEvent(new PointerEvent(type, { ...p, pointerId: 1, pointerType: 'mouse', isPrimary: true,
        buttons: type === 'pointerup' ? 0 : 1, bubbles: true, cancelable: true }));
      // A stroke across the top half, from upper left to the middle right.
      send('pointerdown', at(5, 3));
      for (let k = 1; k <= 12; k++) send('pointermove', at(5 + k * 1.5, 3 + k * 0.8));
      send('pointerup', at(23, 12.6));
      await nextFrame();
      await nextFrame();
      result.stroke = { before, after: Array.from(live.bottomPatches), top: Array.from(halfToPatches(live.top)), pending: live.pending };
    } catch (e) {
      result.error = String(e && e.stack || e);
    }
    result.resources = performance.getEntriesByType('resource').map((e) => e.name);
    const out = document.getElementById('selftest-result');
    out.textContent = JSON.stringify(result);
    out.dataset.done = 'true';
  }

  // ---------------------------------------------------------------------------------------
  function start() {
    document.getElementById('subtitle').textContent = data.subtitle;
    renderHeadline();
    try {
      model = new PatchRNNModel(data.model);
    } catch (e) {
      document.getElementById('live-timing').append(element('span', { class: 'error' }, `The model cannot run here: ${e.message}`));
    }
    wireLivePanel();
    renderGrids();
    wireGrids();
    const first = data.grid.find((row) => row.length);
    if (first) live.load(first[0]); else live.clear();
    // What lies below the first screen is drawn once the browser has shown the rest (the
    // timeout runs after the frame that the animation-frame callback precedes).
    requestAnimationFrame(() => setTimeout(() => {
      renderClasses();
      renderEpochs();
      renderSettings();
      document.getElementById('footer').textContent =
        `Everything on this page, including the model's ${thousands(data.model.parameters)} weights, is inside this one file: ` +
        'it fetches nothing and works offline. Written by patchrnn.';
      // How long the page took to have everything drawn (scripts/report-timing.sh reads it).
      const root = document.documentElement.dataset;
      root.readyMs = performance.now().toFixed(1);
      if (location.hash === '#selftest') selfTest();
      if (location.hash === '#timing' && model) {
        // For scripts/report-timing.sh: what one completion costs once the code is warm.
        const top = halfToPatches(live.top), start = performance.now();
        for (let k = 0; k < 50; k++) model.completeBottom(top);
        root.millisecondsPerCompletion = ((performance.now() - start) / 50).toFixed(2);
      }
    }, 0));

    let resizing = null;
    let width = window.innerWidth;
    window.addEventListener('resize', () => {
      if (window.innerWidth === width) return;   // a phone's toolbar showing or hiding
      width = window.innerWidth;
      clearTimeout(resizing);
      resizing = setTimeout(() => { renderGrids(); renderClasses(); live.draw(); }, 150);
    });
  }

  start();
})();
